//! The `fleet-forecast` step as its own program (one per container image); see
//! `mttd::steps::fleet_forecast`.
fn main() -> std::process::ExitCode {
    mttd::cli::step_main::<mttd::steps::fleet_forecast::Args>()
}
