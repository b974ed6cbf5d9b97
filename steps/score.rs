//! The `score` step as its own program (one per container image); see `mttd::steps::score`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::score::Args>()
}
