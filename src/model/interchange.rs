//! `fraud import` and `fraud export`: models in LightGBM's text format, in and out. A data
//! scientist's `booster.save_model("model.txt")` becomes a model `fraud consume` and `fraud
//! serve` load; a model trained here can go to LightGBM's own tools.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::model::lightgbm::{self, ImportError};
use crate::model::{Bands, DeclineRule, FraudModel, ModelError, Provenance};
use crate::schema::Schema;

#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub lightgbm: PathBuf,
    pub model_dir: PathBuf,
    /// A row is flagged for review when its fraud probability is >= threshold.
    pub threshold: f64,
    /// Declined from this probability; none without it (no training data to choose it on).
    pub decline: Option<f64>,
    /// The columns a LightGBM model does not name: its label and id.
    pub columns: ImportColumns,
}

/// The label and id columns of an imported model's schema (LightGBM keeps neither).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportColumns {
    pub label: String,
    pub id: Option<String>,
}

impl ImportColumns {
    fn apply(&self, schema: Schema) -> Result<Schema, String> {
        Schema::new(schema.features().to_vec(), &self.label, self.id.clone(), None).map_err(|e| e.to_string())
    }
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
    let (schema, params) =
        lightgbm::parse(&text).map_err(|source| InterchangeError::Import { path: path.clone(), source })?;
    let schema = cfg.columns.apply(schema).map_err(|what| InterchangeError::Invalid { path: path.clone(), what })?;
    params.check(&schema).map_err(|what| InterchangeError::Invalid { path: path.clone(), what })?;
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
    let model = FraudModel::trees(&schema, params, bands, provenance)?;
    model.save(&cfg.model_dir)?;
    Ok(model)
}

/// Writes a tree model as a LightGBM text model.
pub fn export(model: &FraudModel, model_dir: &std::path::Path, out: &std::path::Path) -> Result<(), InterchangeError> {
    let Some(params) = model.tree_params() else {
        return Err(InterchangeError::NotTrees { path: model_dir.to_path_buf(), family: model.family().as_str() });
    };
    std::fs::write(out, lightgbm::to_text(params, model.schema()))
        .map_err(|source| InterchangeError::Write { path: out.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, label: &str, id: Option<&str>) -> ImportConfig {
        ImportConfig {
            lightgbm: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/categorical/lightgbm.txt"),
            model_dir: dir.to_path_buf(),
            threshold: 0.5,
            decline: Some(0.9),
            columns: ImportColumns { label: label.into(), id: id.map(String::from) },
        }
    }

    #[test]
    fn an_import_keeps_the_models_schema_with_the_given_label_and_id() {
        let dir = tempfile::tempdir().unwrap();
        let model = import(&config(dir.path(), "label", Some("tx_id"))).unwrap();
        let loaded = FraudModel::load(dir.path()).unwrap();
        assert_eq!(loaded, model);
        let schema = loaded.schema();
        assert_eq!((schema.label.as_str(), schema.id.as_deref()), ("label", Some("tx_id")));
        assert_eq!(
            schema.names().collect::<Vec<_>>(),
            ["amount", "merchant_category", "country", "channel", "is_night", "hour"]
        );
        assert_eq!(schema.features()[3].categories(), ["atm", "pos", "web"]);
        assert_eq!(loaded.bands().decline, Some(0.9));
        // The exported text is the model again.
        let txt = dir.path().join("model.txt");
        export(&loaded, dir.path(), &txt).unwrap();
        let (back, params) = lightgbm::parse(&std::fs::read_to_string(&txt).unwrap()).unwrap();
        assert_eq!(back.features(), schema.features());
        assert_eq!(&params.trees, &loaded.tree_params().unwrap().trees);
    }

    #[test]
    fn a_label_or_id_named_as_a_feature_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (label, id) in [("amount", None), ("label", Some("hour"))] {
            let e = import(&config(dir.path(), label, id)).unwrap_err();
            assert!(matches!(e, InterchangeError::Invalid { .. }), "{e}");
            assert!(e.to_string().contains("is a feature and also the label, id or time column"), "{e}");
        }
        assert!(!dir.path().join(crate::model::MODEL_FILE).exists(), "nothing saved");
    }
}
