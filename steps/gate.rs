//! The `gate` step as its own program (one per container image); see `mttd::steps::gate`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::gate::Args>()
}
