//! The hyper server: accepting connections within limits, serving them, and
//! shutting down gracefully.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::router;
use crate::app::{App, sync_stored_templates};
use crate::template::ReloadReport;
use crate::template::registry::reload_on_signals;

/// hyper will not read a request head larger than its buffer, and refuses
/// buffers under 8 KiB.
const MIN_HEAD_BUFFER: usize = 8 * 1024;

/// How long shutdown waits for queued events to reach the store.
const EVENT_FLUSH: Duration = Duration::from_secs(2);

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish (up to the configured grace),
/// and returns. Also reloads templates on SIGHUP and file changes while it
/// runs.
pub async fn run(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let report_reload = {
        let metrics = app.metrics.clone();
        move |report: &ReloadReport| {
            for error in &report.errors {
                tracing::error!(%error, "template not reloaded; its previous version, if any, still serves");
            }
            let result = if report.errors.is_empty() {
                "ok"
            } else {
                "partial"
            };
            metrics.template_reloads.with_label_values(&[result]).inc();
            tracing::info!(loaded = report.loaded, failed = report.errors.len(), removed = ?report.removed, "templates reloaded");
        }
    };
    let reloads = reload_on_signals(
        app.templates.clone(),
        app.config.templates.watch,
        report_reload.clone(),
    );
    let template_sync = sync_stored_templates(&app, report_reload);

    // Connections are bounded: past the limit, new ones wait in the
    // kernel's listen backlog until a slot frees.
    let connection_slots = Arc::new(Semaphore::new(app.config.server.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.config.server.header_read_timeout)
        .max_buf_size(app.config.server.max_header_bytes.max(MIN_HEAD_BUFFER))
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            slot = connection_slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer.ip()),
                Err(error) => {
                    // Usually out of file descriptors: back off briefly
                    // rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = service_fn(move |request| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(router::route(&app, request, Some(peer)).await) }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }

    drop(listener);
    reloads.abort();
    template_sync.abort();
    tracing::info!("shutting down: waiting for requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(app.config.server.shutdown_grace) => {
            tracing::warn!("grace period over; closing the remaining connections");
        }
    }
    // The last requests' events are still queued: give the writer a moment
    // to store them before the process exits.
    if !crate::events::writer::flush(&app.events, EVENT_FLUSH).await {
        tracing::warn!(
            queued = app.events.len(),
            "events not written before shutdown"
        );
    }
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
