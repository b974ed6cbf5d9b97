//! mttd: Monitor service metrics, Train a workload forecast model, Test it against the model in
//! service, Deploy it only once it has proven itself. The library holds every step's logic; the
//! binaries in `steps/` and the `mttd` CLI only parse arguments and call it.

pub mod alert;
pub mod cli;
pub mod compare;
pub mod config;
pub mod contract;
pub mod dataset;
pub mod demo;
pub mod duration;
pub mod error;
pub mod evaluation;
pub mod features;
pub mod forecast;
pub mod http;
pub mod model;
pub mod policy;
pub mod replay;
pub mod report;
pub mod run;
pub mod source;
pub mod steps;
pub mod store;
pub mod train;
