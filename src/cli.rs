//! The command line: `mttd <step>` for every step (the same argument definitions the step
//! binaries use), `mttd run` for the whole loop, `mttd schemas` to regenerate the schemas.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::run::RunArgs;
use crate::steps::*;

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
    ExtractFeatures(ExtractFeaturesArgs),
    /// Dataset → model.json + model.manifest.json.
    Train(TrainArgs),
    /// Model + dataset → validation.json, report.md, forecast.svg.
    Validate(ValidateArgs),
    /// Candidate vs the model in service on the most recent window → comparison.json.
    ShadowCompare(ShadowCompareArgs),
    /// Validation + comparison + policy → decision.json and the decision word.
    Gate(GateArgs),
    /// Everything → a new version in the model store.
    Publish(PublishArgs),
    /// The promoted model's forecast → a replica recommendation with guardrails and fallback.
    Forecast(ForecastArgs),
    /// The model registry of a workload: list, show, approve, rollback, diff, gc, verify.
    Registry(RegistryArgs),
    /// Writes the JSON Schema of every document kind into a folder.
    Schemas(SchemasArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    #[arg(long, default_value = "./mttd-store")]
    pub store: String,
    #[arg(long)]
    pub workload: String,
    #[command(subcommand)]
    pub action: RegistryAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RegistryAction {
    /// Every version: status, decision, when, who.
    List,
    /// One version's registry record (JSON).
    Show {
        /// `vN` or `N`.
        version: String,
    },
    /// Promote a version by hand (the approval path); recorded in the change log.
    #[command(alias = "promote")]
    Approve {
        version: String,
        #[arg(long)]
        approved_by: String,
        #[arg(long)]
        reason: String,
    },
    /// Move the promoted pointer back (to the previous promoted version, or --to vN).
    Rollback {
        #[arg(long)]
        to: Option<String>,
        /// Who rolls back, recorded in the change log.
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
    },
    /// What differs between two versions: data, features, config, metrics, decision.
    Diff { a: String, b: String },
    /// Delete version folders and datasets no change-log entry refers to.
    Gc {
        /// Leave anything younger alone (a publisher may still be writing it).
        #[arg(long, default_value = "1h")]
        min_age: String,
    },
    /// Check the change-log chain and every stored document's sha256; exit 1 on any mismatch.
    Verify,
}

fn parse_version(text: &str) -> anyhow::Result<u32> {
    text.trim_start_matches('v')
        .parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not a version (expected vN)"))
}

impl RegistryArgs {
    fn run(&self) -> anyhow::Result<()> {
        use crate::store::{registry, Store};
        let store = Store::open(&self.store)?;
        let w = &self.workload;
        match &self.action {
            RegistryAction::List => {
                let r = registry::registry(&store, w)?;
                println!(
                    "{:<8} {:<12} {:<15} {:<21} {:<16} reason",
                    "version", "status", "decision", "published", "by"
                );
                for v in &r.versions {
                    println!(
                        "{:<8} {:<12} {:<15} {:<21} {:<16} {}",
                        format!("v{}", v.version),
                        serde_json::to_value(v.status)?.as_str().unwrap_or_default(),
                        v.decision.word(),
                        v.published_at,
                        v.published_by,
                        v.reason
                    );
                }
            }
            RegistryAction::Show { version } => {
                let n = parse_version(version)?;
                let r = registry::registry(&store, w)?;
                let v = r
                    .versions
                    .iter()
                    .find(|v| v.version == n)
                    .ok_or_else(|| anyhow::anyhow!("{w} has no v{n}"))?;
                print!("{}", String::from_utf8_lossy(&crate::contract::canonical_json(v)));
            }
            RegistryAction::Approve {
                version,
                approved_by,
                reason,
            } => {
                let n = parse_version(version)?;
                let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
                registry::approve(&store, w, n, approved_by, reason, &now)?;
                println!("{w} v{n} promoted, approved by {approved_by}");
            }
            RegistryAction::Rollback { to, by, reason } => {
                let to = to.as_deref().map(parse_version).transpose()?;
                let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
                let r = registry::rollback(&store, w, to, by, reason, &now)?;
                println!("{w}: promoted is now v{}", r.promoted.unwrap_or_default());
            }
            RegistryAction::Diff { a, b } => {
                for line in registry::diff(&store, w, parse_version(a)?, parse_version(b)?)? {
                    println!("{line}");
                }
            }
            RegistryAction::Gc { min_age } => {
                let age =
                    crate::duration::HumanDuration::parse(min_age).map_err(|e| anyhow::anyhow!("--min-age: {e}"))?;
                let deleted = registry::gc(&store, w, age.seconds())?;
                for key in &deleted {
                    println!("deleted {key}");
                }
                println!("{w}: {} orphan object(s) deleted", deleted.len());
            }
            RegistryAction::Verify => {
                let problems = registry::verify(&store, w)?;
                if !problems.is_empty() {
                    for p in &problems {
                        eprintln!("mismatch: {p}");
                    }
                    anyhow::bail!("{} problem(s) in {w}", problems.len());
                }
                println!("{w}: change log and every document verified");
            }
        }
        Ok(())
    }
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
        Command::ExtractFeatures(a) => a.run(),
        Command::Train(a) => a.run(),
        Command::Validate(a) => a.run(),
        Command::ShadowCompare(a) => a.run(),
        Command::Gate(a) => a.run(),
        Command::Publish(a) => a.run(),
        Command::Forecast(a) => a.run(),
        Command::Registry(a) => a.run(),
        Command::Schemas(a) => crate::contract::write_schemas(&a.out).map_err(Into::into),
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
    finish(args.run())
}
