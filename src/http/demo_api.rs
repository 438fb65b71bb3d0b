//! The demo shop: a small JSON API and its product photos on
//! [`DEMO_API_ADDRESS`], which `opentime serve` starts in demo mode only,
//! so that a newcomer sees a template's sources (`docs/sources.md`) and a
//! product grid work with nothing to set up. Its answers are made up:
//! `GET /orders/{id}` gives the latest order of a demo recipient (as an
//! order system would), `GET /img/{name}.png` a product photo.

use std::convert::Infallible;
use std::io::Cursor;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Where the demo shop listens: loopback only, a fixed port, because the
/// demo templates write its host out as every source must (the origin is
/// [`crate::config::DEMO_API_ORIGIN`], which demo mode allows).
pub const DEMO_API_ADDRESS: &str = "127.0.0.1:8089";

/// Starts the demo shop in the background. A port already taken is a
/// warning, not a failure: the demo templates then show their default
/// variants, as they would for any API that is down.
pub async fn start() {
    let address: SocketAddr = DEMO_API_ADDRESS.parse().expect("a valid constant address");
    let listener = match TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%address, %error, "the demo shop API could not start; the demo's live-data templates show their default variants");
            return;
        }
    };
    tracing::info!(%address, "demo shop API (orders and product photos) for the demo templates");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service =
                    service_fn(|request| async move { Ok::<_, Infallible>(answer(&request)) });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn answer(request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if let Some(id) = path.strip_prefix("/orders/") {
        return match order(id) {
            Some(json) => respond(StatusCode::OK, "application/json", json.into_bytes()),
            None => respond(
                StatusCode::NOT_FOUND,
                "application/json",
                b"{\"error\": \"no orders\"}".to_vec(),
            ),
        };
    }
    if let Some(name) = path
        .strip_prefix("/img/")
        .and_then(|n| n.strip_suffix(".png"))
    {
        return match photo(name) {
            Some(png) => respond(StatusCode::OK, "image/png", png),
            None => respond(
                StatusCode::NOT_FOUND,
                "text/plain",
                b"no such photo".to_vec(),
            ),
        };
    }
    respond(StatusCode::NOT_FOUND, "text/plain", b"not found".to_vec())
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The latest order of a demo recipient (`order-status-*`).
fn order(id: &str) -> Option<String> {
    let (number, status, eta, items, total) = match id {
        "order-status-ada" => ("A-10481", "shipped", "Thursday", 3, "129.80"),
        "order-status-kenji" => ("A-10477", "delivered", "", 1, "49.90"),
        "order-status-lucia" => ("A-10490", "processing", "Monday", 2, "78.50"),
        _ => return None,
    };
    Some(format!(
        r#"{{"latest": {{"number": "{number}", "status": "{status}", "eta": "{eta}", "items": {items}, "total": {total}, "currency": "EUR"}}}}"#
    ))
}

/// A product photo: a soft two-tone picture in the product's color.
fn photo(name: &str) -> Option<Vec<u8>> {
    let [r, g, b] = match name {
        "trail-runner" => [0xd9, 0x4f, 0x3d],
        "merino-socks" => [0x3b, 0x6e, 0xc4],
        "storm-shell" => [0x2e, 0x7d, 0x5b],
        "summit-pack" => [0xe0, 0x8a, 0x2e],
        "camp-mug" => [0x2a, 0x9d, 0xb8],
        "down-vest" => [0x8e, 0x4f, 0xa8],
        _ => return None,
    };
    let (width, height) = (320u32, 220u32);
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        // A lighter backdrop above a band of the product's color, with a
        // round "product" in the middle: enough to tell items apart.
        let (dx, dy) = (x as f32 - 160.0, y as f32 - 105.0);
        let inside = dx * dx / (95.0 * 95.0) + dy * dy / (70.0 * 70.0) <= 1.0;
        let shade = |c: u8, by: f32| (c as f32 + (255.0 - c as f32) * by) as u8;
        if inside {
            image::Rgb([r, g, b])
        } else if y > 170 {
            image::Rgb([shade(r, 0.55), shade(g, 0.55), shade(b, 0.55)])
        } else {
            image::Rgb([shade(r, 0.85), shade(g, 0.85), shade(b, 0.85)])
        }
    });
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).ok()?;
    Some(bytes.into_inner())
}
