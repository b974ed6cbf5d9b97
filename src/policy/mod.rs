//! Policies that decide what happens to a model: the promotion gate.

pub mod gate;
