//! Record and replay as one steerable server: the listener, the first
//! mode, the control API when asked, and the exit status of the last mode.
//! A cluster has its own runner ([`super::cluster`]).

use std::process::ExitCode;

use anyhow::{Context, Result};
use tokio::net::TcpListener;

use resplay::config::Config;
use resplay::control::api::{admin_addr, serve_api};
use resplay::control::guard::check_exposure;
use resplay::control::{Finished, ModeSpec, SteerSettings, Steering};
use resplay::record::RecordConfig;
use resplay::replay::ReplayConfig;
use resplay::server::ServeOptions;

use super::args::Steer;
use super::report::{print_warnings, report_faults, warn_if_insecure};
use super::settings;
use super::signal::shutdown_on_signal;

/// Runs record or replay as a steerable server on `listen` until a
/// signal: binds, starts the `first` mode, serves the control API when
/// asked, and reports the last mode. `record` is None when there is no
/// upstream, so the server can never switch to recording.
pub async fn steered(
    record: Option<RecordConfig>,
    replay: ReplayConfig,
    first: ModeSpec,
    listen: &str,
    steer: &Steer,
    file: &Config,
    strict: bool,
) -> Result<ExitCode> {
    // Bound first: a recording's header names the address clients use.
    let listener = bind(listen).await?;
    let access = settings::admin_access(steer, file)?;
    let admin = match settings::admin(steer, file) {
        Some(text) => {
            let addr = admin_addr(text).map_err(anyhow::Error::msg)?;
            check_exposure(addr, access.token.as_deref()).map_err(anyhow::Error::msg)?;
            let admin = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot serve the control API on {addr}"))?;
            Some(admin)
        }
        None => None,
    };
    // One rule set for every mode the server may switch to.
    let mut record = record;
    if let Some(record) = &mut record {
        record.faults = replay.faults.clone();
    }
    let faults = replay.faults.clone();
    let redact = record.as_ref().and_then(|r| r.redact.clone());
    warn_if_insecure(record.as_ref().map(|r| &r.upstream));
    let mut serve = ServeOptions::default();
    serve.max_clients = record
        .as_ref()
        .map(|r| r.serve.max_clients)
        .unwrap_or(replay.serve.max_clients);
    serve.tls = replay.serve.tls.clone();
    let mut replay = replay;
    replay.journal = Some(resplay::journal::Journal::new(settings::journal_max(
        steer, file,
    )));
    let steer_settings = SteerSettings {
        record,
        replay,
        reset_connections_on_switch: settings::reset_connections(steer, file),
        serve,
        report_writer: Some(super::report::report_writer()),
    };
    let shutdown = shutdown_on_signal()?;
    let (steering, warnings) =
        Steering::start(steer_settings, first, listener.local_addr()?, shutdown).await?;
    print_warnings(&warnings);
    if let Some(admin) = admin {
        eprintln!("resplay: control API on http://{}", admin.local_addr()?);
        let api = steering.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_api(admin, api, access).await {
                tracing::error!("control API stopped: {e}");
            }
        });
    }
    announce(&listener)?;
    let finished = steering.serve(listener).await;
    report_faults(&faults);
    if let (Some(r), Some(Finished::Recorded(_))) = (&redact, &finished) {
        r.warn_unmatched();
    }
    let Some(finished) = finished else {
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!("resplay: {finished}");
    Ok(match &finished {
        Finished::Recorded(summary)
            if summary.writer.lost > 0 || summary.writer.error.is_some() =>
        {
            ExitCode::FAILURE
        }
        Finished::Replayed(report) if report.report_failed() => ExitCode::FAILURE,
        Finished::Replayed(report) if strict && report.is_strict_failure() => {
            eprintln!("resplay: --strict: failing because of missed or unused interactions");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    })
}

async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Prints the one line tools wait for: `resplay: listening on ADDR`.
fn announce(listener: &TcpListener) -> Result<()> {
    eprintln!("resplay: listening on {}", listener.local_addr()?);
    Ok(())
}
