//! Command-line flags (clap) and their conversion into validated configs. Nothing outside this
//! module reads argv or the environment. The global flags and the command list are here; each
//! group of commands has its file: [`model`] (train, evaluate, import, export, explain),
//! [`kafka`] (produce, consume, read), [`serve`].

mod kafka;
mod model;
mod serve;
mod simulate;

use clap::{Parser, Subcommand};

use crate::decision::Overrides;

pub use kafka::{ConsumeArgs, KafkaArgs, ProduceArgs, ReadArgs};
pub use model::{EvaluateArgs, ExplainArgs, ExportArgs, FeaturesArgs, ImportArgs, TrainArgs};
pub use serve::ServeArgs;
pub use simulate::SimulateArgs;

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

    /// Colour in the log: `auto` colours only when stderr is a terminal and NO_COLOR is unset
    /// or empty.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

/// The decision bands given as flags, shared by consume, serve and explain.
#[derive(Debug, Clone, clap::Args)]
pub struct BandArgs {
    /// Decisions: review from this fraud probability, instead of the model's threshold (or the
    /// model directory's policy.json).
    #[arg(long)]
    pub review_threshold: Option<f64>,
    /// Decisions: decline from this fraud probability, instead of the model's decline band.
    #[arg(long)]
    pub decline_threshold: Option<f64>,
}

impl BandArgs {
    /// Checked here, applied over the model's bands.
    pub fn overrides(&self) -> Result<Overrides, ConfigError> {
        for (name, v) in
            [("--review-threshold", self.review_threshold), ("--decline-threshold", self.decline_threshold)]
        {
            if v.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
                return Err(ConfigError(format!("{name} must be in (0, 1]")));
            }
        }
        Ok(Overrides { review_threshold: self.review_threshold, decline_threshold: self.decline_threshold })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelChoice {
    /// Logistic regression (linfa), scikit-learn's model.
    Logistic,
    /// Gradient-boosted trees (our histogram trainer).
    Gbdt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl Cli {
    /// The log's filter and whether it is coloured: the one place that looks at the terminal
    /// and at NO_COLOR (https://no-color.org: set and not empty means no colour).
    pub fn logging(&self) -> crate::telemetry::LogConfig {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let colour = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && stderr_is_terminal(),
        };
        let filter = if self.quiet { "warn".to_string() } else { self.log.clone() };
        crate::telemetry::LogConfig { filter, colour }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit a model (logistic regression or gradient-boosted trees) on labelled transactions (CSV
    /// or Parquet, any columns) and save it to a model directory.
    Train(TrainArgs),
    /// Score a labelled file with a saved model and print its metrics.
    Evaluate(EvaluateArgs),
    /// Turn a LightGBM text model (booster.save_model) into a fraud model directory.
    Import(ImportArgs),
    /// Write a gradient-boosted trees model as a LightGBM text model.
    Export(ExportArgs),
    /// Each row's fraud probability, decision and reasons, for a file labelled or not.
    Explain(ExplainArgs),
    /// Compute a feature spec's features for every row of a file of raw events, point in
    /// time, and write them as CSV.
    Features(FeaturesArgs),
    /// Write simulated card transactions (customers, terminals, three fraud scenarios), as
    /// the Fraud Detection Handbook's generator does.
    Simulate(SimulateArgs),
    /// Send transactions from a file to a topic as JSON messages (MLflow split layout).
    Produce(ProduceArgs),
    /// Score every message of a topic in-process; results to an output topic, bad messages to a
    /// dead-letter topic; offsets committed only after the output is written.
    Consume(ConsumeArgs),
    /// Print a topic's records from the beginning (key TAB payload), as kcat -C does.
    Read(ReadArgs),
    /// Serve the model over HTTP, MLflow-compatible (POST /invocations), with /metrics.
    Serve(ServeArgs),
}

/// What the command line asks for, validated: the rest of the program sees only these.
#[derive(Debug)]
pub enum Task {
    Train { cfg: Box<crate::train::TrainConfig>, json: bool },
    Evaluate { cfg: crate::train::evaluate::EvaluateConfig, json: bool },
    Import { cfg: crate::model::interchange::ImportConfig, json: bool },
    Export(crate::model::interchange::ExportConfig),
    Explain(crate::train::explain::ExplainConfig),
    Features(crate::features::export::FeaturesConfig),
    Simulate { cfg: crate::simulate::SimulateConfig, json: bool },
    Produce(crate::stream::produce::ProduceConfig),
    Replay(crate::stream::replay::ReplayConfig),
    Consume { cfg: Box<crate::stream::consume::ConsumeConfig>, json: bool },
    Serve(crate::serve::ServeConfig),
    Read(crate::stream::read::ReadConfig),
}

impl Command {
    /// Checks the flags of the command. `log_messages`: whether the consumer logs every input,
    /// as the tutorial's worker did (at info level).
    pub fn task(&self, log_messages: bool) -> Result<Task, ConfigError> {
        Ok(match self {
            Command::Train(a) => Task::Train { cfg: Box::new(a.config()?), json: a.json },
            Command::Evaluate(a) => Task::Evaluate { cfg: a.config()?, json: a.json },
            Command::Import(a) => Task::Import { cfg: a.config()?, json: a.json },
            Command::Export(a) => Task::Export(a.config()),
            Command::Explain(a) => Task::Explain(a.config()?),
            Command::Features(a) => Task::Features(a.config()?),
            Command::Simulate(a) => Task::Simulate { cfg: a.config()?, json: a.json },
            Command::Produce(a) => a.task()?,
            Command::Consume(a) => Task::Consume { cfg: Box::new(a.config(log_messages)?), json: a.json },
            Command::Serve(a) => Task::Serve(a.config()?),
            Command::Read(a) => Task::Read(a.config()?),
        })
    }
}

pub(crate) fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
