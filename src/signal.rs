//! Process signals: SIGINT/SIGTERM ask for a graceful shutdown, SIGHUP for a model reload.
//! `fraud serve` and `fraud consume` both listen through here.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("signal received, shutting down");
}

/// Sets `flag` on every SIGHUP, from a task on the current runtime. Fails only if the handler
/// cannot be installed.
pub fn on_hangup(flag: Arc<AtomicBool>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the model");
                flag.store(true, Ordering::Relaxed);
            }
        });
    }
    #[cfg(not(unix))]
    let _ = flag;
    Ok(())
}
