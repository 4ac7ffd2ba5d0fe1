//! A model directory as the commands use it: the model (`model.json`) and the policy it decides
//! with (its bands, under the directory's `policy.json`, under the flags), loaded and checked as
//! one. Every command that scores loads it here, and the consumer reloads it here.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::policy::{Overrides, POLICY_FILE, Policy, PolicyError};
use crate::model::{FraudModel, MODEL_FILE, ModelError};

#[derive(Debug, thiserror::Error)]
pub enum ModelDirError {
    #[error("loading the model from {dir}")]
    Model { dir: PathBuf, source: ModelError },
    #[error("the decision bands of {dir}")]
    Policy { dir: PathBuf, source: PolicyError },
    #[error(
        "the model in {dir} computes its features from raw events and each {entities}'s history (its feature spec): \
         `fraud {command}` keeps no per-entity state yet, so it cannot give this model what it was \
         trained on. Score files of raw events with `fraud explain` or `fraud evaluate`, or train on \
         features computed upstream (`fraud features` writes them)"
    )]
    Stateful { dir: PathBuf, command: &'static str, entities: String },
}

/// A model and the policy it decides with.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDir {
    pub model: FraudModel,
    pub policy: Policy,
}

impl ModelDir {
    /// The model of `dir` and its policy: the model's bands, under `policy.json` if the
    /// directory has one, under `flags`.
    pub fn load(dir: &Path, flags: Overrides) -> Result<ModelDir, ModelDirError> {
        let model = FraudModel::load(dir).map_err(|source| ModelDirError::Model { dir: dir.to_path_buf(), source })?;
        let policy = Overrides::from_dir(dir)
            .and_then(|file| Policy::new(&model, flags.or(file)))
            .map_err(|source| ModelDirError::Policy { dir: dir.to_path_buf(), source })?;
        Ok(ModelDir { model, policy })
    }

    /// Refuses a model whose features are computed from raw events ([`crate::features`]: from
    /// the event time or its entities' history) for a command that reads features as given.
    pub fn require_stateless(&self, dir: &Path, command: &'static str) -> Result<(), ModelDirError> {
        match self.model.spec() {
            Some(spec) if spec.features.iter().any(|f| !matches!(f, crate::features::spec::Feature::Raw { .. })) => {
                Err(ModelDirError::Stateful {
                    dir: dir.to_path_buf(),
                    command,
                    entities: spec.entities().join("'s and "),
                })
            }
            _ => Ok(()),
        }
    }

    /// When the directory's files last changed, for noticing a retrained model or a new policy.
    pub fn modified(dir: &Path) -> [Option<SystemTime>; 2] {
        [MODEL_FILE, POLICY_FILE].map(|f| std::fs::metadata(dir.join(f)).and_then(|m| m.modified()).ok())
    }
}
