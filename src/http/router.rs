//! Routing, in one place: one `match` on the method and the path segments.

use std::net::IpAddr;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use super::body::RequestBody;
use super::head::{RequestHead, client_ip};
use super::response::{self, Body};
use super::{admin, amp, click, image, ops, prefs, preview, vote};
use crate::app::App;
use crate::metrics::TimerGuard;
use crate::open::{QueryPairs, Visit};

pub async fn route(app: &App, request: Request<Incoming>, peer: Option<IpAddr>) -> Response<Body> {
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
        ["p"] | ["u"] => "preferences",
        ["api", ..] => "api",
        ["preview", ..] => "preview",
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
            is_head,
            if_none_match: parts
                .headers
                .get(hyper::header::IF_NONE_MATCH)
                .and_then(|value| value.to_str().ok()),
        },
        headers: &parts.headers,
    };
    let answer = match (reads, segments.as_slice()) {
        (true, ["i", file]) => image::serve(app, &head(), file).await,
        (true, ["c", name]) => click::serve(app, &head(), name, false).await,
        (true, ["c", name, "hidden"]) => click::serve(app, &head(), name, true).await,
        (true, ["v", poll, option]) => vote::serve(app, &head(), poll, option).await,
        (true, ["a", file]) => amp::serve(app, &head(), file).await,
        (_, ["p"]) if reads || method == Method::POST => {
            prefs::preferences(app, &method, &head(), body).await
        }
        (_, ["u"]) if reads || method == Method::POST => {
            prefs::unsubscribe(app, &method, &head(), body).await
        }
        (_, ["api", "v1", rest @ ..]) => {
            let query = QueryPairs::parse(parts.uri.query());
            admin::serve(app, &method, rest, &query, &parts.headers, body).await
        }
        (_, ["preview", rest @ ..]) => {
            let query = QueryPairs::parse(parts.uri.query());
            preview::serve(app, &method, rest, &query, &parts.headers, body).await
        }
        (true, ["healthz"]) => ops::healthz(),
        (true, ["readyz"]) => ops::readyz(app).await,
        (true, ["metrics"]) => ops::metrics(app).await,
        (false, ["i" | "c" | "v" | "a" | "healthz" | "readyz" | "metrics", ..]) => {
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
    tracing::debug!(
        %method,
        path = logged_path,
        status = answer.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    answer
}
