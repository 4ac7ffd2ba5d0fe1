//! `fraud simulate`'s flags.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Args;

use super::ConfigError;
use crate::simulate::SimulateConfig;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Customers simulated; those with no terminal in reach, or no transaction drawn, do not appear.
    #[arg(long, default_value_t = 5000)]
    pub customers: usize,
    /// Terminals, placed at random on the 100 x 100 grid.
    #[arg(long, default_value_t = 10_000)]
    pub terminals: usize,
    /// Days simulated, from --start.
    #[arg(long, default_value_t = 183)]
    pub days: u32,
    /// First day (YYYY-MM-DD); TX_DATETIME is local time with no zone.
    #[arg(long, value_name = "DATE", default_value = "2018-04-01")]
    pub start: NaiveDate,
    /// A customer pays at the terminals closer than this (the grid is 100 wide).
    #[arg(long, default_value_t = 5.0)]
    pub radius: f64,
    /// Seed of every random draw: the same seed and flags give the same file.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the CSV goes, gzip if the name ends in .gz; `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

impl SimulateArgs {
    pub fn config(&self) -> Result<SimulateConfig, ConfigError> {
        if self.customers == 0 || self.terminals == 0 || self.days == 0 {
            return Err(ConfigError("--customers, --terminals and --days must be at least 1".into()));
        }
        if !(self.radius > 0.0 && self.radius.is_finite()) {
            return Err(ConfigError(format!("--radius must be positive and finite, not {}", self.radius)));
        }
        let cfg = SimulateConfig {
            customers: self.customers,
            terminals: self.terminals,
            days: self.days,
            start: self.start,
            radius: self.radius,
            seed: self.seed,
            out: self.out.clone(),
        };
        // The rest: ids that fit in 32 bits, a last day inside the calendar.
        cfg.check().map_err(ConfigError)?;
        Ok(cfg)
    }
}
