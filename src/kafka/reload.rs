//! Swapping in a retrained model while the consumer runs: on SIGHUP, or when `--watch-model`
//! sees `model.json` change. The swap happens between two messages, so none is dropped or
//! scored twice, and every score record names the model that produced it. A model that fails
//! to load is reported and the running one kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::model::{FraudModel, MODEL_FILE};
use crate::telemetry::ConsumerMetrics;

pub struct ModelReloader {
    dir: PathBuf,
    /// Set by SIGHUP.
    requested: Arc<AtomicBool>,
    /// How often to look at the file; None: only on SIGHUP.
    watch: Option<Duration>,
    last_check: Instant,
    loaded_mtime: Option<SystemTime>,
}

impl ModelReloader {
    pub fn new(dir: PathBuf, requested: Arc<AtomicBool>, watch: Option<Duration>) -> Self {
        let loaded_mtime = mtime(&dir);
        Self { dir, requested, watch, last_check: Instant::now(), loaded_mtime }
    }

    /// A newly loaded model, if one was asked for (or the file changed) and it loads.
    pub fn poll(&mut self, current: &FraudModel, metrics: &ConsumerMetrics) -> Option<FraudModel> {
        let signalled = self.requested.swap(false, Ordering::Relaxed);
        let changed = match self.watch {
            Some(every) if self.last_check.elapsed() >= every => {
                self.last_check = Instant::now();
                mtime(&self.dir) != self.loaded_mtime
            }
            _ => false,
        };
        if !signalled && !changed {
            return None;
        }
        self.loaded_mtime = mtime(&self.dir);
        match FraudModel::load(&self.dir) {
            Ok(model) if model.version() == current.version() => {
                tracing::info!(model = current.version(), "model reloaded; same version, nothing to swap");
                None
            }
            Ok(model) => {
                tracing::info!(from = current.version(), to = model.version(), "swapped in a new model");
                metrics.model_reloads.inc();
                Some(model)
            }
            Err(e) => {
                metrics.model_reload_errors.inc();
                tracing::error!(code = "model_reload_failed", error = %e, keeping = current.version(), "new model not loaded");
                None
            }
        }
    }
}

fn mtime(dir: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(dir.join(MODEL_FILE)).and_then(|m| m.modified()).ok()
}
