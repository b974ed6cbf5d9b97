//! The `validate` step as its own program (one per container image); see `mttd::steps::validate`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::validate::Args>()
}
