//! Stopping on Ctrl-C or SIGTERM, for every subcommand that runs until
//! told to stop (record, replay, run and their cluster forms).

use anyhow::Result;
use tokio_util::sync::CancellationToken;

/// A token cancelled on Ctrl-C or SIGTERM.
///
/// The handlers are installed here, before the caller prints its
/// `listening on` line: a supervisor that sends SIGTERM as soon as it sees
/// that line must never find them missing (a signal that arrives before
/// tokio has a listener for it is lost, and the server would run on).
pub fn shutdown_on_signal() -> Result<CancellationToken> {
    let token = CancellationToken::new();
    let fire = token.clone();
    #[cfg(unix)]
    {
        use anyhow::Context;
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            fire.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        fire.cancel();
    });
    Ok(token)
}
