//! Command-line flags (clap) and their conversion into validated configs. Nothing outside this
//! file reads argv or the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::evaluate::EvaluateConfig;
use crate::fit::FitOptions;
use crate::train::TrainConfig;

/// A configuration the user has to fix: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

#[derive(Debug, Parser)]
#[command(name = "fraud", version, about = "Real-time credit-card fraud scoring on Kafka", long_about = None)]
pub struct Cli {
    /// Log filter, as RUST_LOG (e.g. `info`, `warn`, `fraud=debug,rdkafka=info`).
    #[arg(long, global = true, env = "FRAUD_LOG", default_value = "info")]
    pub log: String,

    /// Log warnings and errors only (overrides --log).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit a logistic regression on a labelled CSV and save it to a model directory.
    Train(TrainArgs),
    /// Score a labelled CSV with a saved model and print its metrics.
    Evaluate(EvaluateArgs),
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Labelled CSV in the ULB/Kaggle schema (Time, V1..V28, Amount, Class); .csv.gz works too.
    #[arg(long, env = "FRAUD_CSV")]
    pub csv: PathBuf,
    /// Where the model is written (model.json inside).
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Share of rows held out for testing, in [0, 1); 0 trains on every row.
    #[arg(long, default_value_t = 0.3)]
    pub test_size: f64,
    /// Seed of the split and the threshold folds.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How the threshold is chosen on the training rows: 0 uses the fitted model's own
    /// predictions on them; K >= 2 uses K-fold out-of-fold predictions (K more fits).
    #[arg(long, default_value_t = 0)]
    pub threshold_folds: usize,
    /// Inverse regularisation strength, as scikit-learn's C.
    #[arg(long, default_value_t = 1.0)]
    pub c: f64,
    /// Convergence tolerance on the mean gradient, as scikit-learn's tol.
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// Iteration cap of the L-BFGS solver.
    #[arg(long, default_value_t = 200)]
    pub max_iterations: u64,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Labelled CSV to score (same schema as train).
    #[arg(long, env = "FRAUD_CSV")]
    pub csv: PathBuf,
    /// Model directory written by `fraud train`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

impl TrainArgs {
    pub fn config(&self) -> Result<TrainConfig, ConfigError> {
        if !(0.0..1.0).contains(&self.test_size) {
            return Err(ConfigError(format!("--test-size must be in [0, 1), got {}", self.test_size)));
        }
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(ConfigError(format!("--c must be a positive number, got {}", self.c)));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(ConfigError(format!("--tol must be a positive number, got {}", self.tol)));
        }
        if self.threshold_folds == 1 {
            return Err(ConfigError("--threshold-folds must be 0 or at least 2".into()));
        }
        if self.max_iterations == 0 {
            return Err(ConfigError("--max-iterations must be at least 1".into()));
        }
        Ok(TrainConfig {
            csv: self.csv.clone(),
            model_dir: self.model_dir.clone(),
            test_size: self.test_size,
            seed: self.seed,
            threshold_folds: self.threshold_folds,
            fit: FitOptions { c: self.c, tol: self.tol, max_iterations: self.max_iterations },
            progress: stderr_is_terminal(),
        })
    }
}

impl EvaluateArgs {
    pub fn config(&self) -> Result<EvaluateConfig, ConfigError> {
        Ok(EvaluateConfig {
            csv: self.csv.clone(),
            model_dir: self.model_dir.clone(),
            progress: stderr_is_terminal(),
        })
    }
}
