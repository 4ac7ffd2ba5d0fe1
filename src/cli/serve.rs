//! `fraud serve`'s flags.

use std::path::PathBuf;

use clap::Args;

use super::{BandArgs, ConfigError};
use crate::decision::ReasonsFor;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Model directory written by `fraud train`.
    #[arg(long, env = "FRAUD_MODEL_DIR", default_value = "fraud_model")]
    pub model_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "FRAUD_HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0 picks a free one; the log says which).
    #[arg(short, long, env = "FRAUD_PORT", default_value_t = 5000)]
    pub port: u16,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, default_value_t = 5 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Worker threads of the HTTP server.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// The bands of ?decisions=true.
    #[command(flatten)]
    pub bands: BandArgs,
    /// With ?decisions=true, which rows carry reasons.
    #[arg(long, value_enum, default_value_t = ReasonsFor::Flagged)]
    pub reasons: ReasonsFor,
    /// The input column whose values answers carry as "ids" [default: the model's id column].
    #[arg(long, value_name = "COL")]
    pub id: Option<String>,
}

impl ServeArgs {
    pub fn config(&self) -> Result<crate::serve::ServeConfig, ConfigError> {
        if self.max_body_bytes == 0 || self.workers == 0 {
            return Err(ConfigError("--max-body-bytes and --workers must be at least 1".into()));
        }
        Ok(crate::serve::ServeConfig {
            addr: std::net::SocketAddr::new(self.host, self.port),
            model_dir: self.model_dir.clone(),
            max_body_bytes: self.max_body_bytes,
            workers: self.workers,
            overrides: self.bands.overrides()?,
            reasons_for: self.reasons,
            id: self.id.clone(),
        })
    }
}
