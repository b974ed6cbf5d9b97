//! mttd: Monitor service metrics, Train a workload forecast model, Test it against the model in
//! service, Deploy it only once it has proven itself. The library holds every step's logic; the
//! programs in `steps/` and the `mttd` CLI only parse arguments and call it.
//!
//! The crate is layered; each layer imports only the layers below it (a test checks that the
//! import graph has no cycle and that `contract` imports nothing above it):
//!
//! 1. [`error`], [`time`], [`parallel`], [`memory`]: the error type; durations and timestamps;
//!    work spread over a few threads; the programs' allocator (large blocks in huge pages).
//! 2. [`contract`]: every type that appears in `schemas/` — the workload config and its parts,
//!    every document a step writes — the document machinery, and [`contract::layout`], the name
//!    of every file and store key a step uses. *A change to `schemas/` is made here.*
//! 3. The domain: computations that take and return contract types and know nothing of the
//!    command line or of step folders. [`source`] (Prometheus, files) → [`features`] →
//!    [`dataset`]; [`model`] and [`train`]; [`evaluate`]; [`replay`] (the HPA and the predictive
//!    policies) with [`policy`] (sizing and guardrails); [`compare`]; [`gate`]; [`forecast`];
//!    [`store`] (the model store and registry); [`floor_metric`] (assisted mode's pushed floor);
//!    [`report`], [`alert`], [`assess`] (should a workload be predicted), [`score`] (live
//!    forecasts against what happened) and [`shadow`] (a shadow version's live trial),
//!    [`backtest`] (the whole loop over history), [`demo`], [`http`].
//!    *A change to a number the pipeline computes is made here.*
//! 4. [`steps`]: one module per step program — its arguments, what it reads and writes, what it
//!    returns. *A change to a file a step reads or writes is made here or in `layout`.*
//! 5. [`cli`]: the `mttd` program — every step as a subcommand, `mttd run`, `mttd registry`.

pub mod error;
pub mod memory;
pub mod parallel;
pub mod time;

pub mod contract;

pub mod alert;
pub mod assess;
pub mod backtest;
pub mod compare;
pub mod dataset;
pub mod demo;
pub mod evaluate;
pub mod features;
pub mod floor_metric;
pub mod forecast;
pub mod gate;
pub mod http;
pub mod model;
pub mod policy;
pub mod replay;
pub mod report;
pub mod score;
pub mod shadow;
pub mod sidecar;
pub mod source;
pub mod store;
pub mod train;

pub mod steps;

pub mod cli;

/// Every program of the crate (the step programs, `mttd`, `mttd-sidecar`) and its tests.
#[global_allocator]
static ALLOCATOR: memory::HugePages = memory::HugePages;
