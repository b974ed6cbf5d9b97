//! `mttd registry`: what an operator does with a workload's versions — list, show, approve,
//! roll back, diff, collect orphans, verify the change log.

use clap::{Args, Subcommand};

use crate::contract::document::canonical_json;
use crate::store::{registry, Store};
use crate::time::{now_rfc3339, HumanDuration};

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
        /// Approve a version the gate rejected (recorded as forced in the change log).
        #[arg(long)]
        force: bool,
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
    Verify {
        /// A recommendation.json (the forecast's ConfigMap carries one): the log must still
        /// have the entry it saw, so a deleted or rewritten tail shows.
        #[arg(long)]
        witness: Option<std::path::PathBuf>,
    },
}

fn parse_version(text: &str) -> anyhow::Result<u32> {
    text.trim_start_matches('v')
        .parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not a version (expected vN)"))
}

impl RegistryArgs {
    pub fn run(&self) -> anyhow::Result<()> {
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
                        v.status.as_str(),
                        v.decision.as_str(),
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
                print!("{}", String::from_utf8_lossy(&canonical_json(v)));
            }
            RegistryAction::Approve {
                version,
                approved_by,
                reason,
                force,
            } => {
                let n = parse_version(version)?;
                registry::approve(&store, w, n, approved_by, reason, &now_rfc3339(), *force)?;
                println!("{w} v{n} promoted, approved by {approved_by}");
            }
            RegistryAction::Rollback { to, by, reason } => {
                let to = to.as_deref().map(parse_version).transpose()?;
                let r = registry::rollback(&store, w, to, by, reason, &now_rfc3339())?;
                println!("{w}: promoted is now v{}", r.promoted.unwrap_or_default());
            }
            RegistryAction::Diff { a, b } => {
                for line in registry::diff(&store, w, parse_version(a)?, parse_version(b)?)? {
                    println!("{line}");
                }
            }
            RegistryAction::Gc { min_age } => {
                let age = HumanDuration::parse(min_age).map_err(|e| anyhow::anyhow!("--min-age: {e}"))?;
                let deleted = registry::gc(&store, w, age.seconds())?;
                for key in &deleted {
                    println!("deleted {key}");
                }
                println!("{w}: {} orphan object(s) deleted", deleted.len());
            }
            RegistryAction::Verify { witness } => {
                let mut problems = registry::verify(&store, w)?;
                if let Some(path) = witness {
                    let rec =
                        <crate::contract::deploy::Recommendation as crate::contract::document::Document>::read(path)?;
                    match rec.log_witness {
                        None => anyhow::bail!("{}: it carries no change-log witness", path.display()),
                        Some(seen) => {
                            if let Err(e) = registry::witnessed(&store, w, Some(&seen)) {
                                problems.push(e.to_string());
                            }
                        }
                    }
                }
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
