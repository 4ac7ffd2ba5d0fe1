//! Swapping in a retrained model, or a new decision policy, while the consumer runs: on SIGHUP,
//! or when `--watch-model` sees `model.json` or `policy.json` change. The swap happens between
//! two messages (between two transactions, exactly once), so none is dropped or scored twice,
//! and every score record names the model that produced it. A model or policy that fails to
//! load is reported and the running one kept. A swap may change the model's family.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::decision::{ModelDir, Overrides};
use crate::telemetry::ConsumerMetrics;

pub struct ModelReloader {
    dir: PathBuf,
    /// Set by SIGHUP.
    requested: Arc<AtomicBool>,
    /// How often to look at the files; None: only on SIGHUP.
    watch: Option<Duration>,
    last_check: Instant,
    loaded: [Option<SystemTime>; 2],
    /// The flags' overrides, which win over the policy file's.
    flags: Overrides,
}

impl ModelReloader {
    pub fn new(dir: PathBuf, requested: Arc<AtomicBool>, watch: Option<Duration>, flags: Overrides) -> Self {
        let loaded = ModelDir::modified(&dir);
        Self { dir, requested, watch, last_check: Instant::now(), loaded, flags }
    }

    /// The directory's model and policy, if a reload was asked for (or a file changed), they
    /// load, and they differ from `current`.
    pub fn poll(&mut self, current: &ModelDir, metrics: &ConsumerMetrics) -> Option<ModelDir> {
        let signalled = self.requested.swap(false, Ordering::Relaxed);
        let changed = match self.watch {
            Some(every) if self.last_check.elapsed() >= every => {
                self.last_check = Instant::now();
                ModelDir::modified(&self.dir) != self.loaded
            }
            _ => false,
        };
        if !signalled && !changed {
            return None;
        }
        self.loaded = ModelDir::modified(&self.dir);
        let version = current.model.version();
        let loaded = ModelDir::load(&self.dir, self.flags).map_err(anyhow::Error::from).and_then(|new| {
            // The state the consumer keeps is the spec's: another spec needs a restart.
            if new.model.spec() != current.model.spec() {
                anyhow::bail!(
                    "the new model's feature spec differs from the running one's: restart the consumer to use it"
                );
            }
            Ok(new)
        });
        match loaded {
            Ok(new) if new.model.version() == version && new.policy == current.policy => {
                tracing::info!(model = version, "model reloaded; same version and policy, nothing to swap");
                None
            }
            Ok(new) => {
                tracing::info!(
                    from = version,
                    to = new.model.version(),
                    family = new.model.family().as_str(),
                    review = new.policy.review,
                    decline = ?new.policy.decline,
                    "swapped in a new model and policy"
                );
                metrics.model_reloads.inc();
                Some(new)
            }
            Err(e) => {
                metrics.model_reload_errors.inc();
                tracing::error!(code = "model_reload_failed", error = %format!("{e:#}"), keeping = version, "new model not loaded");
                None
            }
        }
    }
}
