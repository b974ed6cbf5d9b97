//! The `train` step as its own program (one per container image); see `mttd::steps::train`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::train::Args>()
}
