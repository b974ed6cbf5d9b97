//! The `extract-features` step as its own program (one per container image); see `mttd::steps::extract_features`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::extract_features::Args>()
}
