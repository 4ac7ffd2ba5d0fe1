//! The fraud model, whatever its family: the versioned `model.json` (written atomically,
//! checked once when loaded), and scoring a row. Each family keeps its parameters, their
//! checks and its scorer in a file of its own: [`logistic`] (logistic regression) and
//! [`trees`] (gradient-boosted trees, ours or imported from LightGBM).
//!
//! Everything that can be wrong with a model file is checked once, in [`FraudModel::load`], so
//! scoring never has to check a shape.

pub mod interchange;
pub mod lightgbm;
pub mod logistic;
pub mod shap;
pub mod tree_eval;
pub mod trees;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::Array2;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::features::Spec;
use crate::metrics::Evaluation;
use crate::schema::{Schema, SchemaFile};

pub use logistic::{LogisticParams, OneHot, Scaler};
pub use trees::TreeParams;

/// The file inside a model directory.
pub const MODEL_FILE: &str = "model.json";

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model directory {0} does not exist (train one with `fraud train`)")]
    MissingDir(PathBuf),
    #[error("cannot read model file {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("model file {path} is not a valid model")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("model file {path} is a {found:?} file, expected one of {:?}", Family::FORMATS)]
    Format { path: PathBuf, found: String },
    #[error("model file {path} has format version {found} of {format}; this build of fraud reads version {expected}")]
    Version { path: PathBuf, format: String, found: u32, expected: u32 },
    #[error("model file {path}: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error("cannot write model to {path}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The model families, each with its own file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Logistic,
    Trees,
}

impl Family {
    pub const FORMATS: [&str; 2] = [logistic::FORMAT, trees::FORMAT];

    fn of_format(format: &str) -> Option<(Family, u32)> {
        match format {
            logistic::FORMAT => Some((Family::Logistic, logistic::FORMAT_VERSION)),
            trees::FORMAT => Some((Family::Trees, trees::FORMAT_VERSION)),
            _ => None,
        }
    }

    /// The name `fraud train --model` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Logistic => "logistic",
            Family::Trees => "gbdt",
        }
    }
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
    /// Logistic regression: the largest component of the mean gradient at the solution
    /// (converged when below tol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_max: Option<f64>,
    /// Metrics on the training rows (threshold chosen on them, out of fold); none for an
    /// imported model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_metrics: Option<Evaluation>,
}

/// The decision bands, chosen on training data: a row is approved below `review` (the model's
/// threshold), sent to review from it, and declined from `decline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bands {
    pub review: f64,
    /// None when no threshold reached the precision target.
    pub decline: Option<f64>,
    /// How `decline` was chosen and what it was worth on those rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_rule: Option<DeclineRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeclineRule {
    /// None when the threshold was given, not chosen.
    pub precision_target: Option<f64>,
    /// "out-of-fold predictions", "training predictions" or "given".
    pub chosen_on: String,
    /// Precision and recall of the decline band on those rows.
    pub precision: Option<f64>,
    pub recall: Option<f64>,
}

impl Bands {
    /// Review at `threshold`, no decline band.
    pub fn review_only(threshold: f64) -> Bands {
        Bands { review: threshold, decline: None, decline_rule: None }
    }
}

/// A model file's contents, exactly as stored: what every family has, around its own
/// parameters `P`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile<P> {
    pub format: String,
    pub format_version: u32,
    pub model_version: String,
    /// The feature names, and whatever else of the schema differs from the default.
    #[serde(flatten)]
    pub schema: SchemaFile,
    #[serde(flatten)]
    pub params: P,
    /// A row is flagged when its fraud probability is >= threshold (the review band's start).
    pub threshold: f64,
    /// Files written before decision bands have none: review at `threshold`, no decline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bands: Option<Bands>,
    /// How the features come from raw events and their entities' history, for a model trained
    /// with a feature spec ([`crate::features`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Spec>,
    pub provenance: Provenance,
}

/// A loaded, checked model, ready to score.
#[derive(Debug, Clone)]
pub struct FraudModel {
    kind: Kind,
    schema: Arc<Schema>,
    spec: Option<Arc<Spec>>,
}

#[derive(Debug, Clone)]
enum Kind {
    Logistic { file: ModelFile<LogisticParams>, scorer: logistic::Logistic },
    Trees { file: ModelFile<TreeParams>, scorer: tree_eval::Compiled, shap: shap::TreeShap },
}

/// One row's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub probability: f64,
    pub fraud: bool,
}

/// The family-specific part of a model: what is stored, how it is checked and hashed.
pub trait Params: Serialize + DeserializeOwned + Clone {
    const FORMAT: &'static str;
    const FORMAT_VERSION: u32;
    fn check(&self, schema: &Schema) -> Result<(), String>;
    fn digest_input(&self) -> serde_json::Value;
}

impl Params for LogisticParams {
    const FORMAT: &'static str = logistic::FORMAT;
    const FORMAT_VERSION: u32 = logistic::FORMAT_VERSION;
    fn check(&self, schema: &Schema) -> Result<(), String> {
        LogisticParams::check(self, schema)
    }
    fn digest_input(&self) -> serde_json::Value {
        LogisticParams::digest_input(self)
    }
}

impl Params for TreeParams {
    const FORMAT: &'static str = trees::FORMAT;
    const FORMAT_VERSION: u32 = trees::FORMAT_VERSION;
    fn check(&self, schema: &Schema) -> Result<(), String> {
        TreeParams::check(self, schema)
    }
    fn digest_input(&self) -> serde_json::Value {
        TreeParams::digest_input(self)
    }
}

impl<P: Params> ModelFile<P> {
    fn new(schema: &Schema, params: P, bands: Bands, provenance: Provenance) -> Self {
        let mut file = ModelFile {
            format: P::FORMAT.to_string(),
            format_version: P::FORMAT_VERSION,
            model_version: String::new(),
            schema: SchemaFile::from(schema),
            params,
            threshold: bands.review,
            bands: Some(bands),
            spec: None,
            provenance,
        };
        file.model_version = file.digest();
        file
    }

    /// A short content hash of what determines the model's output, so two files with the
    /// same parameters share a version and any change of parameters changes it.
    fn digest(&self) -> String {
        let mut params = self.params.digest_input();
        if let Some(map) = params.as_object_mut() {
            map.insert("features".into(), serde_json::json!(self.schema.features));
            // Categories decide outputs too; a model without them keeps its version.
            if !self.schema.categories.is_empty() {
                map.insert("categories".into(), serde_json::json!(self.schema.categories));
            }
            map.insert("threshold".into(), serde_json::json!(self.threshold));
            // Bands decide outputs too; files from before them keep their version.
            if let Some(b) = &self.bands {
                map.insert("bands".into(), serde_json::json!({ "review": b.review, "decline": b.decline }));
            }
            if let Some(spec) = &self.spec {
                map.insert("spec".into(), serde_json::json!(spec));
            }
        }
        let mut h = Sha256::new();
        h.update(params.to_string().as_bytes());
        format!("{:x}", h.finalize())[..12].to_string()
    }

    /// The checks every family shares, then the family's own; the schema they describe.
    fn check(&self) -> Result<Schema, String> {
        let schema = Schema::try_from(&self.schema).map_err(|e| e.to_string())?;
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(format!("threshold {} is outside (0, 1]", self.threshold));
        }
        if let Some(b) = &self.bands {
            if b.review != self.threshold {
                return Err(format!("bands.review {} is not the threshold {}", b.review, self.threshold));
            }
            if b.decline.is_some_and(|d| !(d >= b.review && d <= 1.0)) {
                return Err(format!("bands.decline {:?} is outside [review, 1]", b.decline));
            }
        }
        self.params.check(&schema)?;
        if let Some(spec) = &self.spec {
            let names: Vec<&str> = spec.names().collect();
            if !names.iter().copied().eq(schema.names()) {
                return Err(format!("the feature spec's features {names:?} are not the model's"));
            }
        }
        Ok(schema)
    }
}

impl FraudModel {
    /// A logistic regression from fitted parameters, checked as a loaded file is.
    pub fn logistic(
        schema: &Schema,
        params: LogisticParams,
        bands: Bands,
        provenance: Provenance,
    ) -> Result<Self, ModelError> {
        Self::from_logistic(ModelFile::new(schema, params, bands, provenance), Path::new("<new model>"))
    }

    /// Gradient-boosted trees from fitted or imported parameters, checked as a loaded file is.
    pub fn trees(
        schema: &Schema,
        params: TreeParams,
        bands: Bands,
        provenance: Provenance,
    ) -> Result<Self, ModelError> {
        Self::from_trees(ModelFile::new(schema, params, bands, provenance), Path::new("<new model>"))
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
        let header: Header =
            serde_json::from_slice(&text).map_err(|source| ModelError::Parse { path: path.clone(), source })?;
        let Some((family, expected)) = Family::of_format(&header.format) else {
            return Err(ModelError::Format { path, found: header.format });
        };
        if header.format_version != expected {
            return Err(ModelError::Version { path, format: header.format, found: header.format_version, expected });
        }
        let parse = |source| ModelError::Parse { path: path.clone(), source };
        match family {
            Family::Logistic => Self::from_logistic(serde_json::from_slice(&text).map_err(parse)?, &path),
            Family::Trees => Self::from_trees(serde_json::from_slice(&text).map_err(parse)?, &path),
        }
    }

    fn from_logistic(file: ModelFile<LogisticParams>, path: &Path) -> Result<Self, ModelError> {
        let schema = file.check().map_err(|what| ModelError::Invalid { path: path.to_path_buf(), what })?;
        let scorer = file.params.compile(&schema);
        let spec = file.spec.clone().map(Arc::new);
        Ok(Self { kind: Kind::Logistic { file, scorer }, schema: Arc::new(schema), spec })
    }

    fn from_trees(file: ModelFile<TreeParams>, path: &Path) -> Result<Self, ModelError> {
        let schema = file.check().map_err(|what| ModelError::Invalid { path: path.to_path_buf(), what })?;
        let scorer = tree_eval::Compiled::new(&file.params, schema.width());
        let shap = shap::TreeShap::new(&file.params);
        let spec = file.spec.clone().map(Arc::new);
        Ok(Self { kind: Kind::Trees { file, scorer, shap }, schema: Arc::new(schema), spec })
    }

    /// The feature spec of a model trained on raw events: the stream and the readers compute
    /// the features from it.
    pub fn spec(&self) -> Option<&Arc<Spec>> {
        self.spec.as_ref()
    }

    /// The same model, computing its features with `spec` (whose features must be the
    /// model's); the version changes with it.
    pub fn with_spec(self, spec: Spec) -> Result<Self, ModelError> {
        let path = Path::new("<new model>");
        match self.kind {
            Kind::Logistic { mut file, .. } => {
                file.spec = Some(spec);
                file.model_version = file.digest();
                Self::from_logistic(file, path)
            }
            Kind::Trees { mut file, .. } => {
                file.spec = Some(spec);
                file.model_version = file.digest();
                Self::from_trees(file, path)
            }
        }
    }

    /// The features the model scores, and the columns around them.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The schema, shared: the readers of inputs for this model hold it.
    pub fn schema_arc(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Writes `dir/model.json` atomically: a temporary file in the same directory, synced, then
    /// renamed over the old one. A failed run leaves the previous model (or none) in place.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ModelError> {
        let path = dir.join(MODEL_FILE);
        let write_err = |source| ModelError::Write { path: path.clone(), source };
        fs::create_dir_all(dir).map_err(write_err)?;
        let tmp = dir.join(format!(".{MODEL_FILE}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = std::io::BufWriter::new(fs::File::create(&tmp)?);
            match &self.kind {
                Kind::Logistic { file, .. } => serde_json::to_writer_pretty(&mut f, file),
                Kind::Trees { file, .. } => serde_json::to_writer_pretty(&mut f, file),
            }
            .map_err(std::io::Error::other)?;
            f.write_all(b"\n")?;
            let f = f.into_inner().map_err(|e| e.into_error())?;
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

    /// The log-odds of fraud (the raw score before the sigmoid) for one row of raw values, in
    /// the schema's order.
    #[inline]
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        match &self.kind {
            Kind::Logistic { scorer, .. } => scorer.log_odds(row),
            Kind::Trees { scorer, .. } => scorer.raw(row),
        }
    }

    /// The fraud probability and decision for one row of raw values.
    #[inline]
    pub fn score(&self, row: &[f64]) -> Score {
        let probability = match &self.kind {
            Kind::Logistic { scorer, .. } => sigmoid(scorer.log_odds(row)),
            Kind::Trees { scorer, .. } => scorer.probability(row),
        };
        Score { probability, fraud: probability >= self.threshold() }
    }

    /// Fraud probabilities of the rows of a matrix whose columns are the schema's features.
    pub fn probabilities(&self, x: &Array2<f64>) -> Vec<f64> {
        let mut row = Vec::with_capacity(x.ncols());
        x.rows()
            .into_iter()
            .map(|r| match r.as_slice() {
                Some(r) => self.score(r).probability,
                None => {
                    row.clear();
                    row.extend(r.iter());
                    self.score(&row).probability
                }
            })
            .collect()
    }

    /// Each feature's contribution to the log-odds of `row`, added into `phi`; returns the
    /// base they start from. Base plus contributions is the log-odds. Logistic regression: the
    /// weight times the standardised value (the base is the intercept). Trees: TreeSHAP, as
    /// LightGBM's `pred_contrib` (the base is the expected raw score).
    pub fn contributions(&self, row: &[f64], phi: &mut [f64]) -> f64 {
        match &self.kind {
            Kind::Logistic { scorer, .. } => scorer.contributions(row, phi),
            Kind::Trees { file, shap, .. } => shap.contributions(&file.params, row, phi),
        }
    }

    /// The decision bands the model was saved with.
    pub fn bands(&self) -> Bands {
        let (threshold, bands) = match &self.kind {
            Kind::Logistic { file, .. } => (file.threshold, &file.bands),
            Kind::Trees { file, .. } => (file.threshold, &file.bands),
        };
        bands.clone().unwrap_or_else(|| Bands::review_only(threshold))
    }

    pub fn family(&self) -> Family {
        match &self.kind {
            Kind::Logistic { .. } => Family::Logistic,
            Kind::Trees { .. } => Family::Trees,
        }
    }

    pub fn version(&self) -> &str {
        match &self.kind {
            Kind::Logistic { file, .. } => &file.model_version,
            Kind::Trees { file, .. } => &file.model_version,
        }
    }

    pub fn threshold(&self) -> f64 {
        match &self.kind {
            Kind::Logistic { file, .. } => file.threshold,
            Kind::Trees { file, .. } => file.threshold,
        }
    }

    pub fn provenance(&self) -> &Provenance {
        match &self.kind {
            Kind::Logistic { file, .. } => &file.provenance,
            Kind::Trees { file, .. } => &file.provenance,
        }
    }

    /// The trees, for a tree model.
    pub fn tree_params(&self) -> Option<&TreeParams> {
        match &self.kind {
            Kind::Trees { file, .. } => Some(&file.params),
            Kind::Logistic { .. } => None,
        }
    }
}

impl PartialEq for FraudModel {
    /// Same stored contents.
    fn eq(&self, other: &Self) -> bool {
        match (&self.kind, &other.kind) {
            (Kind::Logistic { file: a, .. }, Kind::Logistic { file: b, .. }) => a == b,
            (Kind::Trees { file: a, .. }, Kind::Trees { file: b, .. }) => a == b,
            _ => false,
        }
    }
}

#[inline]
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metrics::Evaluation;
    use crate::schema::N_FEATURES;

    pub(crate) fn example_provenance() -> Provenance {
        Provenance {
            crate_version: "test".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            input_file: "x.csv".into(),
            input_sha256: "00".into(),
            rows_train: 4,
            frauds_train: 2,
            seed: 1,
            test_size: 0.0,
            fit_seconds: 0.0,
            gradient_max: Some(0.0),
            training_metrics: Some(Evaluation::new(&[0.9, 0.1], &[true, false], 0.5)),
        }
    }

    pub(crate) fn example_model() -> FraudModel {
        let mut weights = vec![0.0; N_FEATURES];
        weights[13] = -1.5; // V14: lower is more fraudulent
        weights[3] = 0.8; // V4
        let scaler = Scaler { mean: vec![0.5; N_FEATURES], std: vec![2.0; N_FEATURES] };
        FraudModel::logistic(
            &Schema::kaggle(),
            LogisticParams { scaler, weights, intercept: -6.0, onehot: vec![] },
            Bands::review_only(0.3),
            example_provenance(),
        )
        .unwrap()
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
        assert_eq!(back, m);
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
        assert!(e.to_string().contains("format version 99 of fraud-logistic-regression"), "{e}");
    }

    #[test]
    fn load_rejects_wrong_feature_count() {
        let e = load_edited(|v| {
            v["weights"].as_array_mut().unwrap().pop();
        });
        assert!(e.to_string().contains("weights has 28 values, expected 29"), "{e}");
        // A feature more is a schema of 30 features, which 29 weights do not fit.
        let e = load_edited(|v| {
            v["features"].as_array_mut().unwrap().push("Time".into());
        });
        assert!(matches!(e, ModelError::Invalid { .. }), "{e}");
        assert!(e.to_string().contains("weights has 29 values, expected 30"), "{e}");
        let e = load_edited(|v| v["features"][3] = "V1".into());
        assert!(e.to_string().contains("two features are named \"V1\""), "{e}");
    }

    /// Trees on the Kaggle schema with V1 categorical (codes 0..=40): the first tree's root
    /// sends codes {1, 2, 3, 7} left (1.5), the rest right (-0.5).
    fn categorical_tree_model(schema: &Schema) -> FraudModel {
        let mut p = trees::tests::example_params();
        let t = &mut p.trees[0];
        t.split_feature[0] = 0;
        t.threshold[0] = 0.0;
        t.categorical = vec![true];
        t.cat_boundaries = vec![0, 1];
        t.cat_threshold = vec![142];
        FraudModel::trees(schema, p, Bands::review_only(0.5), example_provenance()).unwrap()
    }

    #[test]
    fn a_categorical_tree_model_keeps_its_categories() {
        let schema = trees::tests::with_categorical_v1();
        let m = categorical_tree_model(&schema);
        let dir = tempfile::tempdir().unwrap();
        m.save(dir.path()).unwrap();
        let back = FraudModel::load(dir.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.schema(), &schema);
        assert_eq!(back.version(), m.version());
        // The second tree's V4 (0 <= 1) goes left: -0.25; the base is -1.
        let mut row = [0.0; N_FEATURES];
        row[0] = back.schema().code(0, "7");
        assert_eq!(back.log_odds(&row), -1.0 + 1.5 - 0.25);
        for v in [back.schema().code(0, "4"), back.schema().code(0, "41"), f64::NAN] {
            row[0] = v;
            assert_eq!(back.log_odds(&row), -1.0 - 0.5 - 0.25, "{v} goes right");
        }
        // The categories decide the codes, so they are part of the version.
        let mut features = schema.features().to_vec();
        features[0] = crate::schema::Feature::categorical("V1", (0..=41).map(|c| c.to_string()).collect());
        let more = Schema::new(features, "Class", None, None).unwrap();
        assert_ne!(categorical_tree_model(&more).version(), m.version());
        // A file without them has a numeric V1, which a categorical split cannot be on.
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(dir.path().join(MODEL_FILE)).unwrap()).unwrap();
        assert!(v.as_object_mut().unwrap().remove("categories").is_some());
        fs::write(dir.path().join(MODEL_FILE), v.to_string()).unwrap();
        let e = FraudModel::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("categorical split on \"V1\", a numeric feature"), "{e}");
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

#[cfg(test)]
mod version_tests {
    use super::Kind;

    /// Regression guard: a logistic model file from before bands (and model families) existed
    /// keeps the content hash it had, so its `model_version` still names it; bands, which
    /// decide outputs too, enter the hash of files that have them.
    #[test]
    fn logistic_version_hash_is_unchanged() {
        let m = super::tests::example_model();
        let Kind::Logistic { file, .. } = &m.kind else { panic!("a logistic model") };
        let mut old = file.clone();
        old.bands = None;
        assert_eq!(old.digest(), "77faa63b0220");
        assert_eq!(m.version(), file.digest());
        assert_ne!(m.version(), "77faa63b0220", "the bands are part of the version");
    }
}
