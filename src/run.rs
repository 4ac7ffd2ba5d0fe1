//! Dispatch of a parsed command line to the subcommand that does the work, and the exit code
//! each kind of failure gets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use crate::cli::{Cli, Command, ConfigError};
use crate::decision::{Overrides, Policy};
use crate::model::{FraudModel, ModelError};

/// Exit code for a configuration problem the user must fix (bad flags, missing/corrupt model).
pub const EXIT_CONFIG: u8 = 2;
/// Exit code for a failure while doing the work (bad input data, broker errors, …).
pub const EXIT_FAILURE: u8 = 1;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => {
            let cfg = args.config()?;
            let report = crate::train::train(&cfg)
                .with_context(|| format!("training on {}", cfg.csv.display()))?;
            print_report(&report, args.json)
        }
        Command::Evaluate(args) => {
            let cfg = args.config()?;
            // The model first: a bad model dir should not cost a read of a large file.
            let model = load_model(&cfg.model_dir)?;
            let report = crate::evaluate::evaluate(&cfg, &model).with_context(|| {
                format!("evaluating {} on {}", cfg.model_dir.display(), cfg.csv.display())
            })?;
            print_report(&report, args.json)
        }
        Command::Import(args) => {
            let cfg = args.config()?;
            let model = crate::interchange::import(&cfg)
                .with_context(|| format!("importing {} into {}", cfg.lightgbm.display(), cfg.model_dir.display()))?;
            let trees = model.tree_params().map_or(0, |p| p.trees.len());
            if args.json {
                println!("{}", serde_json::json!({"model_version": model.version(), "family": model.family().as_str(), "trees": trees, "model_dir": cfg.model_dir}));
            } else {
                println!("imported {trees} trees as model {} into {}", model.version(), cfg.model_dir.display());
            }
            Ok(())
        }
        Command::Explain(args) => {
            let (cfg, flags) = args.config()?;
            let (model, policy) = load_model_and_policy(&args.model_dir, flags)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            crate::explain::explain(&cfg, &model, &policy, &mut out).with_context(|| format!("explaining {}", cfg.csv.display()))?;
            Ok(())
        }
        Command::Export(args) => {
            let model = load_model(&args.model_dir)?;
            crate::interchange::export(&model, &args.model_dir, &args.lightgbm)
                .with_context(|| format!("exporting {} to {}", args.model_dir.display(), args.lightgbm.display()))
        }
        Command::Produce(args) => produce(&args),
        Command::Consume(args) => consume(&args),
        Command::Serve(args) => {
            let cfg = args.config()?;
            let (model, policy) = load_model_and_policy(&args.model_dir, cfg.overrides)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.workers)
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime
                .block_on(crate::serve::serve(&cfg, model, policy))
                .with_context(|| format!("serving on {}", cfg.addr))
        }
        Command::Read(args) => {
            let cfg = args.config()?;
            crate::kafka::read::read(&cfg).with_context(|| format!("reading {} at {}", cfg.topic, cfg.kafka.brokers))?;
            Ok(())
        }
    }
}

/// Loads the model for a command; its errors keep their type, so they exit 2.
pub fn load_model(dir: &std::path::Path) -> anyhow::Result<FraudModel> {
    FraudModel::load(dir).with_context(|| format!("loading the model from {}", dir.display()))
}

fn produce(args: &crate::cli::ProduceArgs) -> anyhow::Result<()> {
    let cfg = args.config()?;
    let outcome = crate::kafka::produce::produce(&cfg)
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

/// The model of a directory and the decision policy to use with it: the model's bands, under
/// the directory's policy.json, under the flags.
pub fn load_model_and_policy(dir: &std::path::Path, flags: Overrides) -> anyhow::Result<(FraudModel, Policy)> {
    let model = load_model(dir)?;
    let file = Overrides::from_dir(dir).map_err(|e| ConfigError(e.to_string()))?;
    let policy = Policy::new(&model, flags.or(file)).map_err(|e| ConfigError(format!("decision bands: {e}")))?;
    Ok((model, policy))
}

fn consume(args: &crate::cli::ConsumeArgs) -> anyhow::Result<()> {
    let cfg = args.config(tracing::enabled!(tracing::Level::INFO))?;
    let flags = args.overrides()?;
    let (model, policy) = load_model_and_policy(&args.model_dir, flags)?;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = crate::telemetry::ConsumerMetrics::register(&mut registry);
    let registry = Arc::new(registry);
    let shutdown = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    let reloader = crate::kafka::reload::ModelReloader::new(
        args.model_dir.clone(),
        Arc::clone(&reload),
        args.watch_model.then_some(std::time::Duration::from_secs(1)),
        flags,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = runtime.block_on(async {
        if let Some(addr) = args.metrics_addr {
            // Bind now, so a bad address is a configuration error at start (exit 2), not a
            // failure in the background.
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| ConfigError(format!("--metrics-addr {addr}: {e}")))?;
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                if let Err(e) = crate::serve::serve_metrics(listener, registry).await {
                    tracing::error!(error = %e, "metrics endpoint failed");
                }
            });
        }
        let flag = Arc::clone(&shutdown);
        tokio::spawn(async move {
            crate::signal::shutdown().await;
            flag.store(true, Ordering::Relaxed);
        });
        crate::signal::on_hangup(reload).context("installing the SIGHUP handler")?;
        let cfg = cfg.clone();
        let summary = tokio::task::spawn_blocking(move || crate::kafka::consume::consume(&cfg, model, policy, metrics, shutdown, reloader))
            .await
            .context("the consumer thread panicked")??;
        anyhow::Ok(summary)
    })?;
    if args.json {
        println!("{}", summary.to_json());
    } else {
        println!("{summary}");
    }
    Ok(())
}

fn print_report(report: &crate::report::Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(())
}

/// Configuration errors (including an unusable model) exit 2, everything else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    let config = err.chain().any(|e| {
        e.downcast_ref::<ConfigError>().is_some()
            || e.downcast_ref::<ModelError>().is_some()
            || e.downcast_ref::<crate::kafka::config::ConnectionRefused>().is_some()
            || matches!(e.downcast_ref::<crate::train::TrainError>(), Some(crate::train::TrainError::Unusable { .. }))
            || matches!(
                e.downcast_ref::<crate::interchange::InterchangeError>(),
                Some(
                    crate::interchange::InterchangeError::Import { .. }
                        | crate::interchange::InterchangeError::Invalid { .. }
                        | crate::interchange::InterchangeError::NotTrees { .. }
                )
            )
    });
    if config { EXIT_CONFIG } else { EXIT_FAILURE }
}
