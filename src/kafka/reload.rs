//! Swapping in a retrained model, or a new decision policy, while the consumer runs: on SIGHUP,
//! or when `--watch-model` sees `model.json` or `policy.json` change. The swap happens between
//! two messages (between two transactions, exactly once), so none is dropped or scored twice,
//! and every score record names the model that produced it. A model or policy that fails to
//! load is reported and the running one kept. A swap may change the model's family.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::decision::{Overrides, POLICY_FILE, Policy};
use crate::model::{FraudModel, MODEL_FILE};
use crate::telemetry::ConsumerMetrics;

pub struct ModelReloader {
    dir: PathBuf,
    /// Set by SIGHUP.
    requested: Arc<AtomicBool>,
    /// How often to look at the file; None: only on SIGHUP.
    watch: Option<Duration>,
    last_check: Instant,
    loaded_mtime: (Option<SystemTime>, Option<SystemTime>),
    /// The flags' overrides, which win over the policy file's.
    flags: Overrides,
}

impl ModelReloader {
    pub fn new(dir: PathBuf, requested: Arc<AtomicBool>, watch: Option<Duration>, flags: Overrides) -> Self {
        let loaded_mtime = mtimes(&dir);
        Self { dir, requested, watch, last_check: Instant::now(), loaded_mtime, flags }
    }

    /// The model and policy in the directory now, checked.
    pub fn load(&self) -> Result<(FraudModel, Policy), String> {
        let model = FraudModel::load(&self.dir).map_err(|e| e.to_string())?;
        let file = Overrides::from_dir(&self.dir).map_err(|e| e.to_string())?;
        let policy = Policy::new(&model, self.flags.or(file)).map_err(|e| e.to_string())?;
        Ok((model, policy))
    }

    /// A newly loaded model and policy, if asked for (or a file changed) and they load.
    pub fn poll(&mut self, current: &FraudModel, policy: &Policy, metrics: &ConsumerMetrics) -> Option<(FraudModel, Policy)> {
        let signalled = self.requested.swap(false, Ordering::Relaxed);
        let changed = match self.watch {
            Some(every) if self.last_check.elapsed() >= every => {
                self.last_check = Instant::now();
                mtimes(&self.dir) != self.loaded_mtime
            }
            _ => false,
        };
        if !signalled && !changed {
            return None;
        }
        self.loaded_mtime = mtimes(&self.dir);
        match self.load() {
            Ok((model, new_policy)) if model.version() == current.version() && new_policy == *policy => {
                tracing::info!(model = current.version(), "model reloaded; same version and policy, nothing to swap");
                None
            }
            Ok((model, new_policy)) => {
                tracing::info!(
                    from = current.version(),
                    to = model.version(),
                    family = model.family().as_str(),
                    review = new_policy.review,
                    decline = ?new_policy.decline,
                    "swapped in a new model and policy"
                );
                metrics.model_reloads.inc();
                Some((model, new_policy))
            }
            Err(e) => {
                metrics.model_reload_errors.inc();
                tracing::error!(code = "model_reload_failed", error = %e, keeping = current.version(), "new model not loaded");
                None
            }
        }
    }
}

fn mtimes(dir: &std::path::Path) -> (Option<SystemTime>, Option<SystemTime>) {
    let mtime = |f: &str| std::fs::metadata(dir.join(f)).and_then(|m| m.modified()).ok();
    (mtime(MODEL_FILE), mtime(POLICY_FILE))
}
