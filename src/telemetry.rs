//! Logging setup: human-readable lines on stderr, filtered like RUST_LOG.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `quiet` keeps warnings and errors only.
pub fn init_logging(filter: &str, quiet: bool) {
    let filter = if quiet { "warn" } else { filter };
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
