//! The `forecast` step as its own program (one per container image); see `mttd::steps::forecast`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::forecast::Args>()
}
