//! The `promote-shadow` step as its own program (one per container image); see
//! `mttd::steps::promote_shadow`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::promote_shadow::Args>()
}
