//! A small builder of ONNX graphs: named nodes, constant tensors and typed inputs/outputs.

use super::proto::{
    AttributeProto, Dimension, DimensionValue, GraphProto, NodeProto, TensorProto,
    TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto, attribute_type, data_type,
};

/// Nodes and constants in the order they are added (which is a topological order, since a
/// node can only name values that already exist).
#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<NodeProto>,
    pub(crate) initializers: Vec<TensorProto>,
    next: usize,
}

impl Graph {
    /// Adds an `op` node (operator set `ai.onnx`) reading `inputs`, with a fresh output name
    /// (`prefix_N`), and returns that name.
    pub(crate) fn op(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
        prefix: &str,
    ) -> String {
        let out = format!("{prefix}_{}", self.next);
        self.next += 1;
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: format!("{op}_{}", self.next),
            op_type: op.to_string(),
            attribute: attrs,
            domain: String::new(),
        });
        out
    }

    /// Whether a constant named `name` exists (constants are shared by name).
    fn has(&self, name: &str) -> bool {
        self.initializers.iter().any(|t| t.name == name)
    }

    /// Adds an f32 constant of shape `dims` (row-major `data`) and returns its name; a name
    /// already given names the same constant (only the first data is kept).
    pub(crate) fn f32s(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        if self.has(name) {
            return name.to_string();
        }
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type::FLOAT,
            int64_data: Vec::new(),
            name: name.to_string(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name.to_string()
    }

    /// Adds an f32 scalar constant.
    pub(crate) fn scalar(&mut self, name: &str, v: f32) -> String {
        self.f32s(name, &[], &[v])
    }

    /// Adds an i64 constant of shape `dims` and returns its name (shared by name, as
    /// [`Graph::f32s`]).
    pub(crate) fn i64s(&mut self, name: &str, dims: &[usize], data: &[i64]) -> String {
        if self.has(name) {
            return name.to_string();
        }
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type::INT64,
            int64_data: data.to_vec(),
            name: name.to_string(),
            raw_data: Vec::new(),
        });
        name.to_string()
    }

    /// The graph with these inputs and outputs.
    pub(crate) fn finish(
        self,
        name: &str,
        inputs: Vec<ValueInfoProto>,
        outputs: Vec<ValueInfoProto>,
    ) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: name.to_string(),
            initializer: self.initializers,
            doc_string: String::new(),
            input: inputs,
            output: outputs,
        }
    }
}

/// An `INT` attribute.
pub(crate) fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: v,
        ..Default::default()
    }
}

/// An `INTS` attribute.
pub(crate) fn ints(name: &str, v: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: v,
        ..Default::default()
    }
}

/// A `STRING` attribute.
pub(crate) fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRING,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// A graph input or output: a tensor of `elem` (a [`data_type`]) whose dimensions are named
/// (`"batch"`) or fixed.
pub(crate) fn value_info(name: &str, elem: i32, dims: &[Dim], doc: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: elem,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Dim::Named(s) => DimensionValue::DimParam(s.to_string()),
                                Dim::Fixed(n) => DimensionValue::DimValue(*n as i64),
                            }),
                        })
                        .collect(),
                }),
            }),
        }),
        doc_string: doc.into(),
    }
}

/// A dimension of [`value_info`].
pub(crate) enum Dim {
    /// A symbolic size.
    Named(&'static str),
    /// A fixed size.
    Fixed(usize),
}
