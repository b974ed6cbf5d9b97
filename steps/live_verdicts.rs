//! The `live-verdicts` step as its own program (one per container image); see
//! `mttd::steps::live_verdicts`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::live_verdicts::Args>()
}
