//! The `mttd` program: `mttd <step>` for every step (the same argument definitions the step
//! programs use), `mttd run` for the whole loop, `mttd registry` for the operators, `mttd assess`
//! (should a workload be predicted), `mttd schemas` to regenerate the schemas; and `step_main`,
//! the whole of each step program.

mod assess;
mod backtest;
mod registry;
mod run;
mod sidecar;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::steps::{self, Step};
pub use assess::AssessArgs;
pub use backtest::BacktestArgs;
pub use registry::RegistryArgs;
pub use run::{RunArgs, RunSummary};
pub use sidecar::SidecarArgs;

#[derive(Debug, Parser)]
#[command(
    name = "mttd",
    version,
    about = "Monitor, Train, Test, Deploy: predictive autoscaling as a safe operating loop"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole loop on one machine (demo workload or your own config).
    Run(RunArgs),
    /// Raw metrics → dataset.parquet + dataset.manifest.json.
    ExtractFeatures(steps::extract_features::Args),
    /// Dataset → model.json + model.manifest.json.
    Train(steps::train::Args),
    /// Model + dataset → validation.json, report.md, forecast.svg.
    Validate(steps::validate::Args),
    /// Candidate vs the model in service on the most recent window → comparison.json.
    ShadowCompare(steps::shadow_compare::Args),
    /// Validation + comparison + policy → decision.json and the decision word.
    Gate(steps::gate::Args),
    /// Everything → a new version in the model store.
    Publish(steps::publish::Args),
    /// The promoted model's forecast → a replica recommendation with guardrails and fallback.
    Forecast(steps::forecast::Args),
    /// Many workloads' forecasts in one process (a folder of configs) → <workload>/, fleet.json, configmaps.yaml.
    FleetForecast(steps::fleet_forecast::Args),
    /// The prediction log + what then happened → score.json (live MAE, coverage, floors raised).
    Score(steps::score::Args),
    /// The shadow versions' live trials → promoted or rejected on live evidence (gate.live_shadow).
    LiveVerdicts(steps::live_verdicts::Args),
    /// The model registry of a workload: list, show, approve, rollback, diff, gc, verify.
    Registry(RegistryArgs),
    /// Should this workload be predicted, scheduled, or left to its HPA? → assessment.json.
    Assess(AssessArgs),
    /// The whole loop over a stretch of history as if it were live → backtest.json, report.md, timeline.svg.
    Backtest(BacktestArgs),
    /// Writes the JSON Schema of every document kind into a folder.
    Schemas(SchemasArgs),
    /// Writes a new change-log signing key to a file and prints its public key.
    Keygen(KeygenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Where the signing key goes (readable by its owner only).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct SchemasArgs {
    #[arg(long, default_value = "schemas")]
    pub out: PathBuf,
}

/// Logs go to stderr: JSON lines when not on a terminal (Argo collects them), human otherwise.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MTTD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        let _ = builder.try_init();
    } else {
        let _ = builder.json().try_init();
    }
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `main` of the `mttd` program.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    finish(match cli.command {
        Command::Run(args) => args.execute().map(|summary| print!("{}", summary.render(&args.store))),
        Command::ExtractFeatures(a) => a.run().map(drop),
        Command::Train(a) => a.run().map(drop),
        Command::Validate(a) => a.run().map(drop),
        Command::ShadowCompare(a) => a.run().map(drop),
        Command::Gate(a) => a.run().map(drop),
        Command::Publish(a) => a.run().map(drop),
        Command::Forecast(a) => a.run().map(drop),
        Command::Score(a) => a.run().map(drop),
        Command::FleetForecast(a) => a.run().map(drop),
        Command::LiveVerdicts(a) => a.run().map(drop),
        Command::Registry(a) => a.run(),
        Command::Assess(a) => a.run().map(|assessment| print!("{}", assess::render(&assessment))),
        Command::Backtest(a) => a.run().map(|run| print!("{}", backtest::render(&run, &a.out))),
        Command::Schemas(a) => crate::contract::write_schemas(&a.out).map_err(Into::into),
        Command::Keygen(a) => crate::store::signing::keygen(&a.out)
            .map(|public| println!("{public}"))
            .map_err(Into::into),
    })
}

/// A step program's command line: exactly the step's arguments.
#[derive(Debug, Parser)]
pub struct StepCli<A: Args> {
    #[command(flatten)]
    pub args: A,
}

/// Parses a step's own command line (`mttd-<step> …`); the error names what was wrong.
pub fn parse_step<A: Step, I, T>(argv: I) -> Result<A, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    // clap names are `&'static str`; a step program builds its command once.
    let name: &'static str = Box::leak(format!("mttd-{}", A::NAME).into_boxed_str());
    let command = StepCli::<A>::command().name(name).bin_name(name);
    let matches = command.try_get_matches_from(argv)?;
    Ok(StepCli::<A>::from_arg_matches(&matches)?.args)
}

/// `main` of a step program.
pub fn step_main<A: Step>() -> ExitCode {
    let args = match parse_step::<A, _, _>(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    init_logging();
    finish(args.run().map(drop))
}

/// `main` of the `mttd-sidecar` program.
pub fn sidecar_main() -> ExitCode {
    let args = SidecarArgs::parse();
    init_logging();
    finish(
        args.config()
            .map_err(anyhow::Error::msg)
            .and_then(|config| crate::sidecar::run(config, sidecar::terminated()).map_err(Into::into)),
    )
}
