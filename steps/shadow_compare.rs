//! The `shadow-compare` step as its own program (one per container image); see `mttd::steps::shadow_compare`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::shadow_compare::Args>()
}
