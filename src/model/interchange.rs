//! `fraud import` and `fraud export`: models in LightGBM's text format, in and out. A data
//! scientist's `booster.save_model("model.txt")` becomes a model `fraud consume` and `fraud
//! serve` load; a model trained here can go to LightGBM's own tools.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::model::lightgbm::{self, ImportError};
use crate::model::{Bands, DeclineRule, FraudModel, ModelError, Provenance};

#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub lightgbm: PathBuf,
    pub model_dir: PathBuf,
    /// A row is flagged for review when its fraud probability is >= threshold.
    pub threshold: f64,
    /// Declined from this probability; none without it (no training data to choose it on).
    pub decline: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub model_dir: PathBuf,
    pub lightgbm: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum InterchangeError {
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },
    /// The file is not a model fraud can score: the user must bring another (exit 2).
    #[error("{path}")]
    Import { path: PathBuf, source: ImportError },
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{path} holds a {family} model; only gradient-boosted trees export to LightGBM")]
    NotTrees { path: PathBuf, family: &'static str },
}

/// Reads the LightGBM model, checks it as a loaded model is checked, saves it.
pub fn import(cfg: &ImportConfig) -> Result<FraudModel, InterchangeError> {
    let path = &cfg.lightgbm;
    let bytes = std::fs::read(path).map_err(|source| InterchangeError::Read { path: path.clone(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    let params = lightgbm::parse(&text).map_err(|source| InterchangeError::Import { path: path.clone(), source })?;
    params.check().map_err(|what| InterchangeError::Invalid { path: path.clone(), what })?;
    let provenance = Provenance {
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        input_file: path.display().to_string(),
        input_sha256: format!("{:x}", Sha256::digest(&bytes)),
        rows_train: 0,
        frauds_train: 0,
        seed: 0,
        test_size: 0.0,
        fit_seconds: 0.0,
        gradient_max: None,
        training_metrics: None,
    };
    let bands = Bands {
        review: cfg.threshold,
        decline: cfg.decline,
        decline_rule: cfg.decline.map(|_| DeclineRule {
            precision_target: None,
            chosen_on: "given".into(),
            precision: None,
            recall: None,
        }),
    };
    let model = FraudModel::trees(params, bands, provenance)?;
    model.save(&cfg.model_dir)?;
    Ok(model)
}

/// Writes a tree model as a LightGBM text model.
pub fn export(model: &FraudModel, model_dir: &std::path::Path, out: &std::path::Path) -> Result<(), InterchangeError> {
    let Some(params) = model.tree_params() else {
        return Err(InterchangeError::NotTrees { path: model_dir.to_path_buf(), family: model.family().as_str() });
    };
    std::fs::write(out, lightgbm::to_text(params))
        .map_err(|source| InterchangeError::Write { path: out.to_path_buf(), source })
}
