//! Architectures built from config structs on top of the `nn` layers.
