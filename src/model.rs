//! The fraud model: feature schema, standardisation, logistic-regression weights and decision
//! threshold; its versioned JSON file, written atomically; and scoring a row.
//!
//! Everything that can be wrong with a model file is checked once, in [`FraudModel::load`], so
//! scoring never has to check a shape.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::hex;
use crate::metrics::Evaluation;
use crate::schema::{FEATURE_NAMES, FeatureRow, N_FEATURES};

/// The file inside a model directory.
pub const MODEL_FILE: &str = "model.json";
/// Identifies the file kind.
pub const FORMAT: &str = "fraud-logistic-regression";
/// Bumped whenever a reader of the previous version would misread the file.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model directory {0} does not exist (train one with `fraud train`)")]
    MissingDir(PathBuf),
    #[error("cannot read model file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("model file {path} is not a valid model: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("model file {path} is a {found:?} file, expected {FORMAT:?}")]
    Format { path: PathBuf, found: String },
    #[error(
        "model file {path} has format version {found}; this build of fraud reads version {FORMAT_VERSION}"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("model file {path}: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error("cannot write model to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Mean and standard deviation of each feature on the training rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

/// How the model was made; informational, not used for scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub crate_version: String,
    pub created_at: String,
    pub input_file: String,
    pub input_sha256: String,
    pub rows_train: usize,
    pub frauds_train: usize,
    pub seed: u64,
    pub test_size: f64,
    pub fit_seconds: f64,
    /// Largest component of the mean gradient at the solution (converged when below tol).
    pub gradient_max: f64,
    /// Metrics on the training rows (threshold chosen on them, out of fold).
    pub training_metrics: Evaluation,
}

/// The model file's contents, exactly as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub format: String,
    pub format_version: u32,
    pub model_version: String,
    pub features: Vec<String>,
    pub scaler: Scaler,
    /// Weights on standardised features, for the fraud class.
    pub weights: Vec<f64>,
    pub intercept: f64,
    /// A row is flagged when its fraud probability is >= threshold.
    pub threshold: f64,
    pub provenance: Provenance,
}

/// A loaded, checked model, ready to score.
#[derive(Debug, Clone)]
pub struct FraudModel {
    file: ModelFile,
    /// Weights folded with the scaler: z = bias + Σ coef_j · x_j on raw features.
    coef: FeatureRow,
    bias: f64,
}

/// One row's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub probability: f64,
    pub fraud: bool,
}

impl FraudModel {
    /// Builds a model from fitted parameters, checking them as a loaded file is checked.
    pub fn new(
        scaler: Scaler,
        weights: Vec<f64>,
        intercept: f64,
        threshold: f64,
        provenance: Provenance,
    ) -> Result<Self, ModelError> {
        let mut file = ModelFile {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            model_version: String::new(),
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            scaler,
            weights,
            intercept,
            threshold,
            provenance,
        };
        file.model_version = parameters_digest(&file);
        Self::from_file(file, Path::new("<new model>"))
    }

    /// Loads `dir/model.json`, checking kind, version, schema and every number.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        if !dir.is_dir() {
            return Err(ModelError::MissingDir(dir.to_path_buf()));
        }
        let path = dir.join(MODEL_FILE);
        let text = fs::read(&path).map_err(|source| ModelError::Read { path: path.clone(), source })?;
        // Kind and version first, so an incompatible file says so instead of "missing field".
        #[derive(Deserialize)]
        struct Header {
            format: String,
            format_version: u32,
        }
        let header: Header = serde_json::from_slice(&text)
            .map_err(|source| ModelError::Parse { path: path.clone(), source })?;
        if header.format != FORMAT {
            return Err(ModelError::Format { path, found: header.format });
        }
        if header.format_version != FORMAT_VERSION {
            return Err(ModelError::Version { path, found: header.format_version });
        }
        let file: ModelFile = serde_json::from_slice(&text)
            .map_err(|source| ModelError::Parse { path: path.clone(), source })?;
        Self::from_file(file, &path)
    }

    fn from_file(file: ModelFile, path: &Path) -> Result<Self, ModelError> {
        let invalid = |what: String| ModelError::Invalid { path: path.to_path_buf(), what };
        if file.features.len() != N_FEATURES
            || file.features.iter().zip(FEATURE_NAMES).any(|(a, b)| a != b)
        {
            return Err(invalid(format!(
                "features are [{}], this build scores [{}]",
                file.features.join(","),
                FEATURE_NAMES.join(",")
            )));
        }
        for (name, v) in [
            ("weights", &file.weights),
            ("scaler.mean", &file.scaler.mean),
            ("scaler.std", &file.scaler.std),
        ] {
            if v.len() != N_FEATURES {
                return Err(invalid(format!("{name} has {} values, expected {N_FEATURES}", v.len())));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(invalid(format!("{name} holds a non-finite value")));
            }
        }
        if file.scaler.std.iter().any(|s| *s <= 0.0) {
            return Err(invalid("scaler.std holds a value <= 0".into()));
        }
        if !file.intercept.is_finite() {
            return Err(invalid("intercept is not finite".into()));
        }
        if !(file.threshold > 0.0 && file.threshold <= 1.0) {
            return Err(invalid(format!("threshold {} is outside (0, 1]", file.threshold)));
        }
        let mut coef = [0.0; N_FEATURES];
        let mut bias = file.intercept;
        for j in 0..N_FEATURES {
            coef[j] = file.weights[j] / file.scaler.std[j];
            bias -= coef[j] * file.scaler.mean[j];
        }
        Ok(Self { file, coef, bias })
    }

    /// Writes `dir/model.json` atomically: a temporary file in the same directory, synced, then
    /// renamed over the old one. A failed run leaves the previous model (or none) in place.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ModelError> {
        let path = dir.join(MODEL_FILE);
        let write_err = |source| ModelError::Write { path: path.clone(), source };
        fs::create_dir_all(dir).map_err(write_err)?;
        let tmp = dir.join(format!(".{MODEL_FILE}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            serde_json::to_writer_pretty(&mut f, &self.file).map_err(std::io::Error::other)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            // Make the rename itself durable.
            fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(write_err)?;
        Ok(path)
    }

    /// The fraud probability and decision for one row of raw features.
    #[inline]
    pub fn score(&self, row: &FeatureRow) -> Score {
        let mut z = self.bias;
        for j in 0..N_FEATURES {
            z += self.coef[j] * row[j];
        }
        let probability = 1.0 / (1.0 + (-z).exp());
        Score { probability, fraud: probability >= self.file.threshold }
    }

    /// Fraud probabilities for the rows of a feature matrix (n × N_FEATURES).
    pub fn probabilities(&self, features: &ndarray::Array2<f64>) -> Vec<f64> {
        features
            .rows()
            .into_iter()
            .map(|r| {
                let mut row = [0.0; N_FEATURES];
                row.iter_mut().zip(r.iter()).for_each(|(d, s)| *d = *s);
                self.score(&row).probability
            })
            .collect()
    }

    pub fn version(&self) -> &str {
        &self.file.model_version
    }

    pub fn threshold(&self) -> f64 {
        self.file.threshold
    }

    pub fn file(&self) -> &ModelFile {
        &self.file
    }
}

/// A short content hash of what determines the model's output, so two files with the same
/// parameters share a version and any change of parameters changes it.
fn parameters_digest(file: &ModelFile) -> String {
    let mut h = Sha256::new();
    let params = serde_json::json!({
        "features": file.features,
        "scaler": file.scaler,
        "weights": file.weights,
        "intercept": file.intercept,
        "threshold": file.threshold,
    });
    h.update(params.to_string().as_bytes());
    hex(&h.finalize())[..12].to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metrics::Evaluation;

    pub(crate) fn example_model() -> FraudModel {
        let mut weights = vec![0.0; N_FEATURES];
        weights[13] = -1.5; // V14: lower is more fraudulent
        weights[3] = 0.8; // V4
        let scaler = Scaler { mean: vec![0.5; N_FEATURES], std: vec![2.0; N_FEATURES] };
        let provenance = Provenance {
            crate_version: "test".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            input_file: "x.csv".into(),
            input_sha256: "00".into(),
            rows_train: 4,
            frauds_train: 2,
            seed: 1,
            test_size: 0.0,
            fit_seconds: 0.0,
            gradient_max: 0.0,
            training_metrics: Evaluation::new(&[0.9, 0.1], &[true, false], 0.5),
        };
        FraudModel::new(scaler, weights, -6.0, 0.3, provenance).unwrap()
    }

    #[test]
    fn score_equals_standardised_logistic() {
        let m = example_model();
        let mut row = [0.5; N_FEATURES];
        row[13] = -9.5; // standardised: -5
        row[3] = 2.5; // standardised: 1
        let z: f64 = -6.0 + (-1.5) * -5.0 + 0.8 * 1.0;
        let s = m.score(&row);
        assert!((s.probability - 1.0 / (1.0 + (-z).exp())).abs() < 1e-12);
        assert!(s.fraud);
        assert!(!m.score(&[0.5; N_FEATURES]).fraud);
    }

    #[test]
    fn round_trip_keeps_parameters_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let m = example_model();
        m.save(dir.path()).unwrap();
        let back = FraudModel::load(dir.path()).unwrap();
        assert_eq!(back.file(), m.file());
        assert_eq!(back.version(), m.version());
        assert_eq!(back.score(&[1.0; N_FEATURES]), m.score(&[1.0; N_FEATURES]));
        // Nothing but the model file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(MODEL_FILE)]);
    }

    fn saved_json() -> (tempfile::TempDir, serde_json::Value) {
        let dir = tempfile::tempdir().unwrap();
        example_model().save(dir.path()).unwrap();
        let v = serde_json::from_slice(&fs::read(dir.path().join(MODEL_FILE)).unwrap()).unwrap();
        (dir, v)
    }

    fn load_edited(edit: impl FnOnce(&mut serde_json::Value)) -> ModelError {
        let (dir, mut v) = saved_json();
        edit(&mut v);
        fs::write(dir.path().join(MODEL_FILE), v.to_string()).unwrap();
        FraudModel::load(dir.path()).unwrap_err()
    }

    #[test]
    fn load_rejects_missing_dir() {
        let err = FraudModel::load(Path::new("/nonexistent/fraud_model")).unwrap_err();
        assert!(matches!(err, ModelError::MissingDir(_)), "{err}");
    }

    #[test]
    fn load_rejects_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(FraudModel::load(dir.path()).unwrap_err(), ModelError::Read { .. }));
    }

    #[test]
    fn load_rejects_corrupt_json() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MODEL_FILE), b"{\"format\": \"fraud-log").unwrap();
        assert!(matches!(FraudModel::load(dir.path()).unwrap_err(), ModelError::Parse { .. }));
    }

    #[test]
    fn load_rejects_other_format_and_version() {
        let e = load_edited(|v| v["format"] = "sklearn".into());
        assert!(matches!(e, ModelError::Format { .. }), "{e}");
        let e = load_edited(|v| v["format_version"] = 99.into());
        assert!(matches!(e, ModelError::Version { found: 99, .. }), "{e}");
    }

    #[test]
    fn load_rejects_wrong_feature_count() {
        let e = load_edited(|v| {
            v["weights"].as_array_mut().unwrap().pop();
        });
        assert!(e.to_string().contains("weights has 28 values, expected 29"), "{e}");
        let e = load_edited(|v| {
            v["features"].as_array_mut().unwrap().push("Time".into());
        });
        assert!(matches!(e, ModelError::Invalid { .. }), "{e}");
    }

    #[test]
    fn load_rejects_bad_numbers() {
        let e = load_edited(|v| v["scaler"]["std"][0] = 0.0.into());
        assert!(e.to_string().contains("<= 0"), "{e}");
        let e = load_edited(|v| v["threshold"] = 1.5.into());
        assert!(e.to_string().contains("threshold"), "{e}");
        let e = load_edited(|v| v["weights"][2] = "x".into());
        assert!(matches!(e, ModelError::Parse { .. }), "{e}");
    }
}
