//! `mttd backtest`: the whole loop over a stretch of the workload's history as if it were live
//! (`crate::backtest`) → `backtest.json`, `report.md` and `timeline.svg` in a folder.

use std::path::PathBuf;

use anyhow::Context;

use crate::backtest::{self, BacktestRun, Schedule};
use crate::contract::document::{write_atomic, Document};
use crate::contract::layout::{BACKTEST_FILE, BACKTEST_PLOT_FILE, BACKTEST_REPORT_FILE};
use crate::contract::workload::WorkloadConfig;
use crate::steps::parse_time;
use crate::time::{rfc3339, HumanDuration};
use crate::{report, source};

#[derive(Debug, Clone, clap::Args)]
pub struct BacktestArgs {
    /// Workload config: its source (read once, over all it holds), features, model, gate,
    /// capacity (required: the replay) and deploy.
    #[arg(long)]
    pub config: PathBuf,
    /// The stretch's start (RFC 3339 or Unix seconds); default the first sample + --history.
    #[arg(long, value_parser = parse_time)]
    pub from: Option<i64>,
    /// The stretch's end; default the last sample.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<i64>,
    /// History before the first retrain when --from is not given.
    #[arg(long, default_value = "7d", value_parser = HumanDuration::parse)]
    pub history: HumanDuration,
    /// How often the retrain runs (its CronWorkflow's period).
    #[arg(long, default_value = "1d", value_parser = HumanDuration::parse)]
    pub retrain_every: HumanDuration,
    /// Output folder.
    #[arg(long, default_value = "mttd-backtest")]
    pub out: PathBuf,
}

impl BacktestArgs {
    pub fn run(&self) -> anyhow::Result<BacktestRun> {
        let config = WorkloadConfig::load(&self.config)?;
        let (raw, source) = source::load(&config, self.to)?;
        let target = raw.series.get(&config.signals.target).map(Vec::as_slice).unwrap_or(&[]);
        let (first, last) = match (target.first(), target.last()) {
            (Some(f), Some(l)) => (f.0, l.0),
            _ => anyhow::bail!("{}: no samples of {}", raw.origin, config.signals.target),
        };
        let schedule = Schedule {
            from: self.from.unwrap_or(first + self.history.seconds()),
            to: self.to.unwrap_or(last),
            retrain_every: self.retrain_every.seconds(),
        };
        let run = backtest::backtest(&config, &raw, &source, schedule).with_context(|| {
            format!(
                "backtest of {} from {} to {}",
                config.workload,
                rfc3339(schedule.from),
                rfc3339(schedule.to)
            )
        })?;
        std::fs::create_dir_all(&self.out).with_context(|| format!("creating {}", self.out.display()))?;
        run.document.write(&self.out.join(BACKTEST_FILE))?;
        let unit = report::unit_of(&config.signals.target);
        let title = format!("{}: what mttd would have done", config.workload);
        write_atomic(
            &self.out.join(BACKTEST_PLOT_FILE),
            report::backtest_svg(&run, &title, &unit).as_bytes(),
        )?;
        write_atomic(
            &self.out.join(BACKTEST_REPORT_FILE),
            report::backtest_markdown(&run.document, BACKTEST_PLOT_FILE).as_bytes(),
        )?;
        Ok(run)
    }
}

/// What `mttd backtest` prints: the summary, and where the report is.
pub fn render(run: &BacktestRun, out: &std::path::Path) -> String {
    let d = &run.document;
    format!(
        "{}: {} to {}\n  {}\n  saturated minutes: mttd {:.1}, reactive {:.1}; replica-minutes: mttd {:.0}, reactive {:.0}\n  report: {}\n",
        d.workload,
        d.window.start,
        d.window.end,
        report::backtest_loop(&d.summary),
        d.replay.mttd.saturated_minutes,
        d.replay.reactive.saturated_minutes,
        d.replay.mttd.replica_minutes,
        d.replay.reactive.replica_minutes,
        out.join(BACKTEST_REPORT_FILE).display()
    )
}
