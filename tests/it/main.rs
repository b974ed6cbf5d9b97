//! The integration tests, as one test binary (it links the library once, not once per file).
//! One module per area; a new test goes in the module of the behaviour it checks.

/// Servers (Prometheus, Alertmanager, S3), the demo data, the shared folder: helpers of all.
mod common;

/// The approval path and `mttd registry approve` / `verify`.
mod approval;
/// The Argo packaging against Argo's schemas and the steps' own parsers.
mod argo;
/// `mttd backtest`: the loop over history as if it were live.
mod backtest;
/// Bad input: one clear line, a non-zero exit, nothing written.
mod bad_input;
/// The committed schemas, and documents refused with the file, field and problem.
mod contracts;
/// The whole loop, `mttd run --demo`, and the step programs one by one.
mod demo_loop;
/// Same inputs, same bytes.
mod determinism;
/// Many workloads' forecasts in one process.
mod fleet;
/// The forecast step: recommendations, fallbacks, what it writes.
mod forecast;
/// GitOps-safe assisted mode: the floor pushed, scraped and read by the shipped KEDA and
/// prometheus-adapter objects.
mod gitops;
/// The code's own shape: layering, the step layout against the templates.
mod layering;
/// One policy: the forecast step at each tick sets the floors the replay judged.
mod policy;
/// The Prometheus source against a real Prometheus.
mod prometheus;
/// The model's choices on workloads of known shape.
mod quality;
/// Live shadow canaries: a shadow version forecast beside the promoted one, then promoted or
/// rejected on live evidence.
mod shadow;
/// mttd-sidecar: a real app behind it, real clients, a real Prometheus scraping it.
mod sidecar;
/// The change log's signatures and witness.
mod signing;
/// The model store on file://, memory:// and a real S3 server.
mod store;
/// Real workload traces from ../shared.
mod traces;
