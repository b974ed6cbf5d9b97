//! The `publish` step as its own program (one per container image); see `mttd::steps::publish`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::publish::Args>()
}
