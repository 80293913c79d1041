//! What is computed alike for every [`Architecture`] (the enum itself is generated from the
//! registry in `model/any.rs`).

use super::Architecture;

impl Architecture {
    /// Total number of parameters.
    pub fn num_params(&self) -> usize {
        self.param_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}
