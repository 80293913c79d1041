//! Compute core: layers with hand-written forward and backward passes, and optimizers.
