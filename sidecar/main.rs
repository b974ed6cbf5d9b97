//! `mttd-sidecar`, the metrics sidecar (not a step of the loop: it runs beside a service); see
//! `mttd::sidecar`.
fn main() -> std::process::ExitCode {
    mttd::cli::sidecar_main()
}
