//! The model commands' flags: `fraud train`, `evaluate`, `import`, `export` and `explain`.

use std::path::PathBuf;

use clap::Args;

use super::{BandArgs, ConfigError, ModelChoice, stderr_is_terminal};
use std::sync::Arc;

use crate::dataset::Selection;
use crate::features::Spec;
use crate::features::clock::Bound;
use crate::train::evaluate::EvaluateConfig;
use crate::train::gbdt::BoostOptions;
use crate::train::logistic::FitOptions;
use crate::train::pit::Range;
use crate::train::{TrainConfig, Trainer};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Labelled transactions: CSV (plain or gzip) or Parquet, one column per field, a header
    /// naming them. The features are every column but the label, the id, the time and the
    /// excluded ones, unless --features names them.
    #[arg(long = "data", visible_alias = "csv", env = "FRAUD_DATA", value_name = "FILE")]
    pub csv: PathBuf,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// A feature spec (TOML, see examples/handbook.toml): the file holds raw events, and the
    /// features come from each event and its entities' history, point in time. It replaces
    /// the column flags and is kept in the model.
    #[arg(long, value_name = "SPEC.toml", help_heading = "Raw events")]
    pub spec: Option<PathBuf>,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Where the model is written (model.json inside).
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Share of rows held out for testing, in [0, 1); 0 trains on every row.
    #[arg(long, default_value_t = 0.3)]
    pub test_size: f64,
    /// Seed of the split and the threshold folds.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The model family: a logistic regression (linfa) or gradient-boosted trees (our histogram trainer).
    #[arg(long, value_enum, default_value_t = ModelChoice::Logistic)]
    pub model: ModelChoice,
    /// How the threshold is chosen on the training rows: 0 uses the fitted model's own
    /// predictions on them (logistic only); K >= 2 uses K-fold out-of-fold predictions (K more
    /// fits), which for gbdt also choose the number of trees. [default: 0 for logistic, 3 for
    /// gbdt]
    #[arg(long)]
    pub threshold_folds: Option<usize>,
    /// The decline band starts where the training predictions (out of fold with
    /// --threshold-folds) reach this precision; if none does, the model has no decline band.
    #[arg(long, default_value_t = 0.95)]
    pub decline_precision: f64,
    /// Logistic: inverse regularisation strength, as scikit-learn's C.
    #[arg(long, default_value_t = 1.0, help_heading = "Logistic regression")]
    pub c: f64,
    /// Logistic: convergence tolerance on the mean gradient, as scikit-learn's tol.
    #[arg(long, default_value_t = 1e-4, help_heading = "Logistic regression")]
    pub tol: f64,
    /// Logistic: iteration cap of the L-BFGS solver.
    #[arg(long, default_value_t = 200, help_heading = "Logistic regression")]
    pub max_iterations: u64,
    /// Gbdt: the most trees; early stopping on the out-of-fold predictions may keep fewer.
    #[arg(long, default_value_t = BoostOptions::default().max_trees, help_heading = "Gradient-boosted trees")]
    pub trees: usize,
    /// Gbdt: learning rate (shrinkage of each tree).
    #[arg(long, default_value_t = BoostOptions::default().learning_rate, help_heading = "Gradient-boosted trees")]
    pub learning_rate: f64,
    /// Gbdt: depth of each tree.
    #[arg(long, default_value_t = BoostOptions::default().max_depth, help_heading = "Gradient-boosted trees")]
    pub max_depth: usize,
    /// Gbdt: smallest sum of hessians in a leaf (XGBoost's min_child_weight). Small values give
    /// leaves with huge values on rare positives.
    #[arg(long, default_value_t = BoostOptions::default().min_hessian, help_heading = "Gradient-boosted trees")]
    pub min_hessian: f64,
    /// Gbdt: L2 regularisation of the leaf values (XGBoost's lambda).
    #[arg(long, default_value_t = BoostOptions::default().l2, help_heading = "Gradient-boosted trees")]
    pub l2: f64,
    /// Gbdt: share of rows sampled for each tree, in (0, 1].
    #[arg(long, default_value_t = BoostOptions::default().subsample, help_heading = "Gradient-boosted trees")]
    pub subsample: f64,
    /// Gbdt: share of features sampled for each tree, in (0, 1].
    #[arg(long, default_value_t = BoostOptions::default().colsample, help_heading = "Gradient-boosted trees")]
    pub colsample: f64,
    /// Gbdt: histogram bins per feature, 2 to 256 (the missing values' bin included).
    #[arg(long, default_value_t = BoostOptions::default().bins, help_heading = "Gradient-boosted trees")]
    pub bins: u16,
    /// Gbdt: threads for the fit.
    #[arg(long, default_value_t = BoostOptions::default().threads, help_heading = "Gradient-boosted trees")]
    pub threads: usize,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write DIR/report.html for the held-out rows: precision-recall and ROC curves with
    /// the bands, scores by class, confusion matrices, feature importance (self-contained SVG).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

/// The time range of the rows used, for a model with a feature spec.
#[derive(Debug, Args)]
#[command(next_help_heading = "Raw events")]
pub struct RangeArgs {
    /// Use the rows at or after this time (YYYY-MM-DD, YYYY-MM-DD HH:MM:SS in the spec's zone,
    /// or RFC 3339); earlier rows are history for the features.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Use the rows before this time.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// k of the card precision top-k (the cards are the spec's first entity).
    #[arg(long, value_name = "K", default_value_t = 100)]
    pub top_k: usize,
}

impl RangeArgs {
    pub fn range(&self) -> Result<Range, ConfigError> {
        let bound = |flag: &str, v: &Option<String>| {
            v.as_deref().map(Bound::parse).transpose().map_err(|e| ConfigError(format!("--{flag}: {e}")))
        };
        let (from, to) = (bound("from", &self.from)?, bound("to", &self.to)?);
        if let (Some(Bound::Local(f)), Some(Bound::Local(t))) = (from, to)
            && f >= t
        {
            return Err(ConfigError(format!("--from {f} is not before --to {t}")));
        }
        if self.top_k == 0 {
            return Err(ConfigError("--top-k must be at least 1".into()));
        }
        Ok(Range { from, to, top_k: self.top_k })
    }
}

/// Which columns of a training file are what.
#[derive(Debug, Args)]
#[command(next_help_heading = "Columns")]
pub struct ColumnArgs {
    /// The label column: 1 (or true) for fraud, 0 (or false) for not.
    #[arg(long, value_name = "COL", default_value = crate::schema::LABEL_NAME)]
    pub label: String,
    /// A column that identifies each transaction: never a feature; kept in the model, so score
    /// records, answers and `fraud explain` carry it.
    #[arg(long, value_name = "COL")]
    pub id: Option<String>,
    /// The event-time column: never a feature.
    #[arg(long, value_name = "COL")]
    pub time: Option<String>,
    /// The features, in this order [default: every other column but --exclude's].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', conflicts_with = "exclude")]
    pub features: Option<Vec<String>>,
    /// Columns that are not features.
    #[arg(long, value_name = "A,B,...", value_delimiter = ',', default_value = "Time")]
    pub exclude: Vec<String>,
    /// Features read as categories although their values are numbers (a merchant category
    /// code, a country code). Columns whose values are not numbers are categorical anyway.
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Logistic: one-hot columns per categorical feature; the least frequent categories beyond
    /// this share one "other" column.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_categories: usize,
}

impl ColumnArgs {
    fn selection(&self) -> Result<Selection, ConfigError> {
        let named = |flag: &str, names: &[String]| {
            if names.iter().any(|n| n.trim().is_empty()) {
                Err(ConfigError(format!("--{flag} names an empty column")))
            } else {
                Ok(())
            }
        };
        named("features", self.features.as_deref().unwrap_or_default())?;
        named("exclude", &self.exclude)?;
        named("categorical", &self.categorical)?;
        let single = [("label", Some(&self.label)), ("id", self.id.as_ref()), ("time", self.time.as_ref())];
        for (flag, name) in single {
            if name.is_some_and(|n| n.trim().is_empty()) {
                return Err(ConfigError(format!("--{flag} must name a column")));
            }
        }
        if self.max_categories < 2 {
            return Err(ConfigError("--max-categories must be at least 2 (one category and \"other\")".into()));
        }
        Ok(Selection {
            label: self.label.clone(),
            id: self.id.clone(),
            time: self.time.clone(),
            features: self.features.clone(),
            exclude: self.exclude.clone(),
            categorical: self.categorical.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The LightGBM text model: a binary classifier; its features are matched by name, its
    /// categorical ones keep their categories (from a model saved from a pandas DataFrame).
    #[arg(long, value_name = "MODEL.TXT")]
    pub lightgbm: PathBuf,
    /// The label column of the data the model is evaluated on.
    #[arg(long, value_name = "COL", default_value = crate::schema::LABEL_NAME)]
    pub label: String,
    /// A column that identifies each transaction, carried into score records and answers.
    #[arg(long, value_name = "COL")]
    pub id: Option<String>,
    /// Where the fraud model is written (model.json inside).
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// A transaction is sent to review when its fraud probability is at least this, in (0, 1].
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// A transaction is declined when its fraud probability is at least this; without it the
    /// model has no decline band (an import brings no training data to choose one on).
    #[arg(long)]
    pub decline_threshold: Option<f64>,
    /// Print the model's version and family as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl ImportArgs {
    pub fn config(&self) -> Result<crate::model::interchange::ImportConfig, ConfigError> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(ConfigError(format!("--threshold must be in (0, 1], got {}", self.threshold)));
        }
        if self.decline_threshold.is_some_and(|d| !(d >= self.threshold && d <= 1.0)) {
            return Err(ConfigError("--decline-threshold must be in [--threshold, 1]".into()));
        }
        Ok(crate::model::interchange::ImportConfig {
            lightgbm: self.lightgbm.clone(),
            model_dir: self.model_dir.clone(),
            threshold: self.threshold,
            decline: self.decline_threshold,
            columns: crate::model::interchange::ImportColumns { label: self.label.clone(), id: self.id.clone() },
        })
    }
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Model directory written by `fraud train` or `fraud import`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Transactions, CSV (plain or gzip) or Parquet, with the model's features by name; the
    /// label is shown when the file has it.
    #[arg(long = "data", visible_alias = "csv", env = "FRAUD_DATA", value_name = "FILE")]
    pub csv: PathBuf,
    /// The column that identifies a transaction, shown with each row [default: the model's].
    #[arg(long, value_name = "COL")]
    pub id: Option<String>,
    /// One JSON object per row instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only the rows sent to review or declined.
    #[arg(long)]
    pub flagged: bool,
    #[command(flatten)]
    pub bands: BandArgs,
    #[command(flatten)]
    pub range: RangeArgs,
}

impl ExplainArgs {
    pub fn config(&self) -> Result<crate::train::explain::ExplainConfig, ConfigError> {
        let cfg = crate::train::explain::ExplainConfig {
            csv: self.csv.clone(),
            model_dir: self.model_dir.clone(),
            overrides: self.bands.overrides()?,
            json: self.json,
            id: self.id.clone(),
            flagged_only: self.flagged,
            range: self.range.range()?,
        };
        Ok(cfg)
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Model directory written by `fraud train --model gbdt` or `fraud import`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Where the LightGBM text model is written.
    #[arg(long, value_name = "MODEL.TXT")]
    pub lightgbm: PathBuf,
}

impl ExportArgs {
    pub fn config(&self) -> crate::model::interchange::ExportConfig {
        crate::model::interchange::ExportConfig { model_dir: self.model_dir.clone(), lightgbm: self.lightgbm.clone() }
    }
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Labelled transactions to score, CSV (plain or gzip) or Parquet, with the model's
    /// features and label column by name.
    #[arg(long = "data", visible_alias = "csv", env = "FRAUD_DATA", value_name = "FILE")]
    pub csv: PathBuf,
    /// Model directory written by `fraud train`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write DIR/report.html (see `fraud train --report`).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub range: RangeArgs,
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
        if self.max_iterations == 0 {
            return Err(ConfigError("--max-iterations must be at least 1".into()));
        }
        let (threshold_folds, trainer) = match self.model {
            ModelChoice::Logistic => {
                let folds = self.threshold_folds.unwrap_or(0);
                if folds == 1 {
                    return Err(ConfigError("--threshold-folds must be 0 or at least 2".into()));
                }
                (folds, Trainer::Logistic(FitOptions { c: self.c, tol: self.tol, max_iterations: self.max_iterations }))
            }
            ModelChoice::Gbdt => {
                let folds = self.threshold_folds.unwrap_or(BoostOptions::default().folds);
                (folds, Trainer::Trees(self.boost_options(folds)?))
            }
        };
        if !(self.decline_precision > 0.0 && self.decline_precision <= 1.0) {
            return Err(ConfigError(format!("--decline-precision must be in (0, 1], got {}", self.decline_precision)));
        }
        let range = self.range.range()?;
        let point_in_time = match &self.spec {
            Some(path) => {
                let spec = Spec::read(path).map_err(|e| ConfigError(format!("{e:#}")))?;
                Some(range.point_in_time(Arc::new(spec)))
            }
            None if range.is_set() => {
                return Err(ConfigError("--from and --to need --spec, which names the time column".into()));
            }
            None => None,
        };
        Ok(TrainConfig {
            point_in_time,
            top_k: range.top_k,
            csv: self.csv.clone(),
            selection: self.columns.selection()?,
            max_categories: self.columns.max_categories,
            model_dir: self.model_dir.clone(),
            test_size: self.test_size,
            seed: self.seed,
            threshold_folds,
            decline_precision: self.decline_precision,
            trainer,
            progress: stderr_is_terminal(),
            report: self.report.clone(),
        })
    }

    fn boost_options(&self, folds: usize) -> Result<BoostOptions, ConfigError> {
        let share = |name: &str, v: f64| {
            if v > 0.0 && v <= 1.0 { Ok(v) } else { Err(ConfigError(format!("--{name} must be in (0, 1], got {v}"))) }
        };
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(ConfigError(format!("--{name} must be a positive number, got {v}")))
            }
        };
        if folds < 2 {
            return Err(ConfigError(
                "--model gbdt chooses its trees and threshold out of fold: --threshold-folds must be at least 2".into(),
            ));
        }
        if self.trees == 0 || self.max_depth == 0 || self.threads == 0 || !(2..=256).contains(&self.bins) {
            return Err(ConfigError("--trees, --max-depth and --threads must be at least 1, --bins 2 to 256".into()));
        }
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !(non_negative(self.min_hessian) && non_negative(self.l2)) {
            return Err(ConfigError("--min-hessian and --l2 must be numbers >= 0".into()));
        }
        Ok(BoostOptions {
            max_trees: self.trees,
            learning_rate: positive("learning-rate", self.learning_rate)?,
            max_depth: self.max_depth,
            min_hessian: self.min_hessian,
            l2: self.l2,
            subsample: share("subsample", self.subsample)?,
            colsample: share("colsample", self.colsample)?,
            bins: self.bins,
            folds,
            threads: self.threads,
            ..BoostOptions::default()
        })
    }
}

impl EvaluateArgs {
    pub fn config(&self) -> Result<EvaluateConfig, ConfigError> {
        Ok(EvaluateConfig {
            csv: self.csv.clone(),
            model_dir: self.model_dir.clone(),
            progress: stderr_is_terminal(),
            report: self.report.clone(),
            range: self.range.range()?,
        })
    }
}

#[derive(Debug, Args)]
pub struct FeaturesArgs {
    /// Raw events: CSV (plain or gzip) with the columns the spec names.
    #[arg(long = "data", visible_alias = "csv", env = "FRAUD_DATA", value_name = "FILE")]
    pub data: PathBuf,
    /// The feature spec (TOML, see examples/handbook.toml).
    #[arg(long, value_name = "SPEC.toml")]
    pub spec: PathBuf,
    /// Where the features go, as CSV: the id, the spec's features, the label; `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub range: RangeArgs,
}

impl FeaturesArgs {
    pub fn config(&self) -> Result<crate::features::export::FeaturesConfig, ConfigError> {
        let spec = Arc::new(Spec::read(&self.spec).map_err(|e| ConfigError(format!("{e:#}")))?);
        let pit = self.range.range()?.point_in_time(spec);
        Ok(crate::features::export::FeaturesConfig {
            data: self.data.clone(),
            spec: pit.spec,
            out: self.out.clone(),
            from: pit.from,
            to: pit.to,
            progress: stderr_is_terminal(),
        })
    }
}
