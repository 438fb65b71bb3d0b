//! `GET /i/{template}.{png,jpg,gif}`: the open-time image, or a countdown.
//! The pipeline decides and renders ([`crate::open::image`]); this maps its
//! answer to a response.

use hyper::{Response, StatusCode};

use super::head::RequestHead;
use super::response::{self, Body};
use crate::app::App;
use crate::open::image::ImageBody;

pub async fn serve(app: &App, head: &RequestHead<'_>, file: &str) -> Response<Body> {
    let answer = app.pipeline.image(&head.visit, file).await;
    super::count_request(app, "image", answer.counted());
    match answer.body {
        ImageBody::NotFound(reason) => response::text(StatusCode::NOT_FOUND, reason),
        ImageBody::NotModified { etag } => response::not_modified(&etag),
        ImageBody::Image {
            bytes,
            content_type,
            etag,
        } => response::image(bytes, content_type, &etag),
        ImageBody::NoFallback => {
            response::text(StatusCode::SERVICE_UNAVAILABLE, "no fallback image")
        }
    }
}
