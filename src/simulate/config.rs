//! What one simulation is asked for, checked, and why one can fail.

use std::path::PathBuf;

use chrono::{Days, NaiveDate};

/// One simulation: sizes, calendar, the reach of a customer, the seed and where the CSV goes.
#[derive(Debug, Clone)]
pub struct SimulateConfig {
    pub customers: usize,
    pub terminals: usize,
    pub days: u32,
    /// Day 0; TX_DATETIME is this date plus TX_TIME_SECONDS, with no time zone.
    pub start: NaiveDate,
    /// A customer uses the terminals at a distance strictly below this (the grid is 100 wide).
    pub radius: f64,
    pub seed: u64,
    /// CSV file, gzip if the name ends in `.gz`; `-` is stdout.
    pub out: PathBuf,
}

impl SimulateConfig {
    /// Why these settings cannot be simulated, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.customers == 0 || self.terminals == 0 || self.days == 0 {
            return Err("customers, terminals and days must be at least 1".into());
        }
        // Ids are stored as u32.
        if u32::try_from(self.customers).is_err() || u32::try_from(self.terminals).is_err() {
            return Err(format!("at most {} customers and terminals", u32::MAX));
        }
        if !(self.radius > 0.0 && self.radius.is_finite()) {
            return Err(format!("the radius must be positive and finite, not {}", self.radius));
        }
        if self.start.checked_add_days(Days::new(u64::from(self.days))).is_none() {
            return Err(format!("{} days from {} run past the calendar", self.days, self.start));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("invalid simulation settings: {0}")]
    Invalid(String),
    #[error("creating {path}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("writing simulated transactions to {path}")]
    Write { path: PathBuf, source: std::io::Error },
}
