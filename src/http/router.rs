//! Routing, in one place: one `match` on the method and the path segments,
//! with the request id and the access log line every request gets.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use tracing::Instrument as _;

use super::body::RequestBody;
use super::head::{RequestHead, client_ip, forwarded_untrusted};
use super::response::{self, Body};
use super::{admin, amp, click, front, image, ops, prefs, preview, reports, send, vote};
use crate::app::App;
use crate::metrics::TimerGuard;
use crate::open::{QueryPairs, Visit};

/// The header a request id arrives and leaves in.
const REQUEST_ID: &str = "x-request-id";

/// The longest request id taken from a client or proxy.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Serves one request under its request id: the id a proxy sent in
/// `X-Request-Id` when it is a plain token, or a new one. Every log line
/// written while serving it carries the id, and the answer returns it, so
/// a line in the logs and a report from a user can be matched.
pub async fn route(app: &App, request: Request<Incoming>, peer: Option<IpAddr>) -> Response<Body> {
    let id = request_id(request.headers());
    let span = tracing::info_span!("request", id = %id);
    let mut answer = route_in_span(app, request, peer).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        answer.headers_mut().insert(REQUEST_ID, value);
    }
    answer
}

/// The id of a request: the caller's if it is 1 to 64 letters, digits,
/// `-`, `_`, `.` or `:`, since anything else could forge log lines;
/// otherwise one made here, unique within this process and unlikely to
/// repeat across replicas.
fn request_id(headers: &HeaderMap) -> String {
    let given = headers
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        });
    if let Some(id) = given {
        return id.to_string();
    }
    static PROCESS: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let process = PROCESS.get_or_init(|| {
        // The start time's low bits and the pid: enough to tell replicas
        // apart in one log stream, and nothing secret is needed of an id.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        nanos ^ std::process::id().rotate_left(16)
    });
    format!("{process:08x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn route_in_span(
    app: &App,
    request: Request<Incoming>,
    peer: Option<IpAddr>,
) -> Response<Body> {
    let target_len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if target_len > app.config.server.max_url_bytes {
        return response::text(StatusCode::URI_TOO_LONG, "URL too long");
    }
    let (parts, body) = request.into_parts();
    let body = RequestBody::new(body, app.config.server.body_read_timeout);
    let method = parts.method;
    let is_head = method == Method::HEAD;
    // HEAD is served like GET; hyper sends the head without the body.
    let reads = method == Method::GET || is_head;
    let path = parts.uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let route_label = match segments.as_slice() {
        ["i", _] => "image",
        ["c", ..] => "click",
        ["v", ..] => "vote",
        ["a", ..] => "amp",
        ["s", ..] => "send",
        ["p"] | ["u"] => "preferences",
        ["api", ..] => "api",
        ["preview", ..] => "preview",
        ["reports", ..] => "reports",
        [""] => "front",
        _ => "other",
    };
    let _timer = TimerGuard::new(
        app.metrics
            .request_seconds
            .with_label_values(&[route_label]),
    );
    let started = std::time::Instant::now();
    let head = || RequestHead {
        visit: Visit {
            path,
            query: QueryPairs::parse(parts.uri.query()),
            user_agent: parts
                .headers
                .get(hyper::header::USER_AGENT)
                .and_then(|value| value.to_str().ok()),
            client_ip: client_ip(&parts.headers, peer, app.config.server.trusted_proxy_hops),
            forwarded_untrusted: forwarded_untrusted(
                &parts.headers,
                app.config.server.trusted_proxy_hops,
            ),
            is_head,
            if_none_match: parts
                .headers
                .get(hyper::header::IF_NONE_MATCH)
                .and_then(|value| value.to_str().ok()),
        },
        headers: &parts.headers,
    };
    // Each route's future is boxed: awaited in place, the largest of them
    // (the admin API's, the preview's) would size this future, and hyper
    // moves it (tens of kilobytes, copied) at every request of every route.
    let answer = match (reads, segments.as_slice()) {
        (true, ["i", file]) => Box::pin(image::serve(app, &head(), file)).await,
        (true, ["c", name]) => Box::pin(click::serve(app, &head(), name, false)).await,
        (true, ["c", name, "hidden"]) => Box::pin(click::serve(app, &head(), name, true)).await,
        (true, ["v", poll, option]) => Box::pin(vote::serve(app, &head(), poll, option)).await,
        (true, ["a", file]) => Box::pin(amp::serve(app, &head(), file)).await,
        (true, ["s", file]) => Box::pin(send::serve(app, &head(), file)).await,
        (_, ["p"]) if reads || method == Method::POST => {
            Box::pin(prefs::preferences(app, &method, &head(), body)).await
        }
        (_, ["u"]) if reads || method == Method::POST => {
            Box::pin(prefs::unsubscribe(app, &method, &head(), body)).await
        }
        (_, ["api", "v1", rest @ ..]) => {
            let query = QueryPairs::parse(parts.uri.query());
            Box::pin(admin::serve(
                app,
                &method,
                rest,
                &query,
                &parts.headers,
                body,
            ))
            .await
        }
        (_, ["preview", rest @ ..]) => {
            let query = QueryPairs::parse(parts.uri.query());
            Box::pin(preview::serve(
                app,
                &method,
                rest,
                &query,
                &parts.headers,
                body,
            ))
            .await
        }
        (_, ["reports", rest @ ..]) => {
            let query = QueryPairs::parse(parts.uri.query());
            Box::pin(reports::serve(app, &method, rest, &query, &parts.headers)).await
        }
        (true, [""]) => front::serve(
            app,
            parts
                .headers
                .get(hyper::header::HOST)
                .and_then(|value| value.to_str().ok()),
        ),
        (true, ["healthz"]) => ops::healthz(),
        (true, ["readyz"]) => Box::pin(ops::readyz(app)).await,
        // With an operations address of its own, the metrics are not
        // published on the public one.
        (true, ["metrics"]) if app.config.server.ops_listen.is_none() => {
            Box::pin(ops::metrics(app)).await
        }
        (
            false,
            [
                "i" | "c" | "v" | "a" | "s" | "healthz" | "readyz" | "metrics",
                ..,
            ],
        ) => {
            let mut refused = response::text(StatusCode::METHOD_NOT_ALLOWED, "use GET or HEAD");
            refused.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static("GET, HEAD"),
            );
            refused
        }
        _ => response::text(StatusCode::NOT_FOUND, "not found"),
    };
    // The path only (the query holds the recipient's token), and for the
    // admin API not even that: its paths name recipients.
    let logged_path = match route_label {
        "api" | "preview" => route_label,
        _ => path,
    };
    if app.config.server.access_log {
        tracing::info!(
            target: "opentime::access",
            %method,
            path = logged_path,
            status = answer.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
    }
    answer
}
