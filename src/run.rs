//! Dispatch of a parsed command line to the subcommand that does the work, and the exit code
//! each kind of failure gets.

use anyhow::Context;

use crate::cli::{Cli, Command, ConfigError};
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
    }
}

/// Loads the model for a command; its errors keep their type, so they exit 2.
pub fn load_model(dir: &std::path::Path) -> anyhow::Result<FraudModel> {
    FraudModel::load(dir).with_context(|| format!("loading the model from {}", dir.display()))
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
        e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<ModelError>().is_some()
    });
    if config { EXIT_CONFIG } else { EXIT_FAILURE }
}
