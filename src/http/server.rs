//! The hyper server: accepting connections within limits, serving them, and
//! shutting down gracefully.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::header::{CONNECTION, HeaderValue};
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

/// How long shutdown waits for webhook deliveries to stop and hand over
/// the batches they were retrying.
const WEBHOOKS_STOP: Duration = Duration::from_secs(3);

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
    // Behind trusted proxies every connection comes from a proxy, whose
    // address says nothing of the client: the limit applies only when the
    // peer is the client itself.
    let per_ip = PerAddress::new(if app.config.server.trusted_proxy_hops > 0 {
        0
    } else {
        app.config.server.max_connections_per_ip
    });
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
        let Some(held) = per_ip.admit(peer) else {
            // One address holds its share of the slots already: closing at
            // once keeps the others for everyone else.
            app.metrics
                .connections_refused
                .with_label_values(&["per_ip"])
                .inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let served = Arc::new(AtomicUsize::new(0));
        let max_requests = app.config.server.max_requests_per_connection;
        let service = service_fn(move |request| {
            let app = app.clone();
            let served = served.clone();
            async move {
                let mut response = router::route(&app, request, Some(peer)).await;
                // Past its share of requests a keep-alive connection is
                // closed after this answer, so one client cannot keep one
                // connection (and its place in the per-address count) for
                // ever; it reconnects like anyone else.
                let count = served.fetch_add(1, Ordering::Relaxed) + 1;
                if max_requests > 0 && count >= max_requests {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(held);
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
    app.webhooks.stop(WEBHOOKS_STOP).await;
    Ok(())
}

/// Connections the operations address serves at once: scrapers and
/// probes, a handful.
const OPS_CONNECTIONS: usize = 64;

/// Serves `/metrics`, `/healthz` and `/readyz` on the operations address
/// (`ops_listen`) until `shutdown` completes. It has its own few
/// connection slots, so a flood on the public address cannot keep a probe
/// or a scrape out.
pub async fn run_ops(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(OPS_CONNECTIONS));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.config.server.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "accept failed on the operations address");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let app = app.clone();
            async move {
                let answer = super::ops::route(&app, request.method(), request.uri().path()).await;
                Ok::<_, Infallible>(answer)
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(app.config.server.shutdown_grace) => {}
    }
    Ok(())
}

/// Connections held by each client address, bounded so that one host
/// cannot take every connection slot.
#[derive(Clone)]
struct PerAddress {
    limit: usize,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in its address's count; given back on drop.
struct Held {
    address: IpAddr,
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    /// `limit` connections per address; 0 is no limit.
    fn new(limit: usize) -> PerAddress {
        PerAddress {
            limit,
            held: Arc::default(),
        }
    }

    /// A place for a connection from `address`, unless it holds the limit.
    fn admit(&self, address: IpAddr) -> Option<Option<Held>> {
        if self.limit == 0 {
            return Some(None);
        }
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(address).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Some(Held {
            address,
            held: self.held.clone(),
        }))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
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
