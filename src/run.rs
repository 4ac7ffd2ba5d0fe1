//! Dispatch of a checked command line ([`Task`]) to the code that does the work, what each
//! prints, and the exit code each kind of failure gets.

use anyhow::Context;

use crate::cli::{Cli, ConfigError, Task};
use crate::decision::{ModelDir, ModelDirError};
use crate::model::{FraudModel, ModelError};

/// Exit code for a configuration problem the user must fix (bad flags, missing/corrupt model).
pub const EXIT_CONFIG: u8 = 2;
/// Exit code for a failure while doing the work (bad input data, broker errors, …).
pub const EXIT_FAILURE: u8 = 1;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let task = cli.command.task(tracing::enabled!(tracing::Level::INFO))?;
    match task {
        Task::Train { cfg, json } => {
            let report = crate::train::train(&cfg).with_context(|| format!("training on {}", cfg.csv.display()))?;
            print(&report, json)
        }
        Task::Evaluate { cfg, json } => {
            // The model first: a bad model dir should not cost a read of a large file.
            let model = load_model(&cfg.model_dir)?;
            let report = crate::train::evaluate::evaluate(&cfg, &model)
                .with_context(|| format!("evaluating {} on {}", cfg.model_dir.display(), cfg.csv.display()))?;
            print(&report, json)
        }
        Task::Import { cfg, json } => {
            let model = crate::model::interchange::import(&cfg)
                .with_context(|| format!("importing {} into {}", cfg.lightgbm.display(), cfg.model_dir.display()))?;
            let trees = model.tree_params().map_or(0, |p| p.trees.len());
            if json {
                let dir = &cfg.model_dir;
                let family = model.family().as_str();
                println!(
                    "{}",
                    serde_json::json!({"model_version": model.version(), "family": family, "trees": trees, "model_dir": dir})
                );
            } else {
                println!("imported {trees} trees as model {} into {}", model.version(), cfg.model_dir.display());
            }
            Ok(())
        }
        Task::Export(cfg) => {
            let model = load_model(&cfg.model_dir)?;
            crate::model::interchange::export(&model, &cfg.model_dir, &cfg.lightgbm)
                .with_context(|| format!("exporting {} to {}", cfg.model_dir.display(), cfg.lightgbm.display()))
        }
        Task::Explain(cfg) => {
            let dir = ModelDir::load(&cfg.model_dir, cfg.overrides)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            crate::train::explain::explain(&cfg, &dir, &mut out)
                .with_context(|| format!("explaining {}", cfg.csv.display()))?;
            Ok(())
        }
        Task::Features(cfg) => {
            let rows = crate::features::export::export(&cfg)
                .with_context(|| format!("computing the features of {}", cfg.data.display()))?;
            tracing::info!(rows, "features written to {}", cfg.out.display());
            Ok(())
        }
        Task::Simulate { cfg, json } => {
            let summary = crate::simulate::simulate(&cfg).context("simulating transactions")?;
            // With the transactions on stdout, the summary goes to stderr.
            match (json, cfg.out == std::path::Path::new("-")) {
                (true, false) => println!("{}", summary.to_json()),
                (true, true) => eprintln!("{}", summary.to_json()),
                (false, _) => eprintln!("{summary}"),
            }
            Ok(())
        }
        Task::Replay(cfg) => {
            let outcome = crate::stream::replay::replay(&cfg).with_context(|| {
                format!("replaying {} to {} at {}", cfg.csv.display(), cfg.topic, cfg.kafka.brokers)
            })?;
            println!(
                "we've sent {} events and labels to {} and {} at {}",
                outcome.sent, cfg.topic, cfg.labels_topic, cfg.kafka.brokers
            );
            if outcome.failed > 0 {
                anyhow::bail!(
                    "{} messages were not delivered ({})",
                    outcome.failed,
                    outcome.first_error.as_deref().unwrap_or("no delivery report before the timeout")
                );
            }
            Ok(())
        }
        Task::Produce(cfg) => {
            let outcome = crate::stream::produce::produce(&cfg)
                .with_context(|| format!("producing to {} at {}", cfg.topic, cfg.kafka.brokers))?;
            println!("we've sent {} messages to {}", outcome.sent, cfg.kafka.brokers);
            if outcome.failed > 0 {
                anyhow::bail!(
                    "{} of {} messages were not delivered to {} ({})",
                    outcome.failed,
                    cfg.count,
                    cfg.topic,
                    outcome.first_error.as_deref().unwrap_or("no delivery report before the timeout")
                );
            }
            Ok(())
        }
        Task::Consume { cfg, json } => {
            let dir = ModelDir::load(&cfg.model_dir, cfg.overrides)?;
            let summary = crate::stream::service::run(&cfg, dir)?;
            if json {
                println!("{}", summary.to_json());
            } else {
                println!("{summary}");
            }
            Ok(())
        }
        Task::Serve(cfg) => {
            let dir = ModelDir::load(&cfg.model_dir, cfg.overrides)?;
            dir.require_stateless(&cfg.model_dir, "serve")?;
            crate::serve::run(&cfg, dir).with_context(|| format!("serving on {}", cfg.addr))
        }
        Task::Read(cfg) => {
            crate::stream::read::read(&cfg)
                .with_context(|| format!("reading {} at {}", cfg.topic, cfg.kafka.brokers))?;
            Ok(())
        }
    }
}

/// Loads the model of a command that needs no policy; its errors keep their type (exit 2).
fn load_model(dir: &std::path::Path) -> anyhow::Result<FraudModel> {
    FraudModel::load(dir).with_context(|| format!("loading the model from {}", dir.display()))
}

fn print(report: &crate::train::report::Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(())
}

/// Configuration errors (including an unusable model) exit 2, everything else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    use crate::model::interchange::InterchangeError;
    let config = err.chain().any(|e| {
        e.downcast_ref::<ConfigError>().is_some()
            || e.downcast_ref::<ModelError>().is_some()
            || e.downcast_ref::<ModelDirError>().is_some()
            || e.downcast_ref::<crate::stream::client::ConnectionRefused>().is_some()
            || e.downcast_ref::<crate::stream::service::MetricsAddrError>().is_some()
            || matches!(
                e.downcast_ref::<crate::stream::stateful::StateError>(),
                Some(
                    crate::stream::stateful::StateError::NoLabels { .. }
                        | crate::stream::stateful::StateError::Unsupported { .. }
                )
            )
            || matches!(e.downcast_ref::<crate::train::TrainError>(), Some(crate::train::TrainError::Unusable { .. }))
            || matches!(
                e.downcast_ref::<InterchangeError>(),
                Some(
                    InterchangeError::Import { .. }
                        | InterchangeError::Invalid { .. }
                        | InterchangeError::NotTrees { .. }
                )
            )
    });
    if config { EXIT_CONFIG } else { EXIT_FAILURE }
}
