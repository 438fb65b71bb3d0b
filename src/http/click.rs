//! `GET /c/{template}`: the click-through, and `GET /c/{template}/hidden`,
//! the honeypot link. The pipeline decides where it goes
//! ([`crate::open::click`]); this maps its answer to a response.

use hyper::{Response, StatusCode};

use super::head::RequestHead;
use super::response::{self, Body};
use crate::app::App;
use crate::open::click::ClickBody;

pub async fn serve(
    app: &App,
    head: &RequestHead<'_>,
    name: &str,
    honeypot: bool,
) -> Response<Body> {
    let answer = app.pipeline.click(&head.visit, name, honeypot).await;
    super::count_request(app, "click", answer.counted());
    match answer.body {
        ClickBody::NotFound => response::text(StatusCode::NOT_FOUND, "unknown template"),
        ClickBody::Redirect(url) => response::redirect(&url),
        ClickBody::NoLink => response::text(StatusCode::NOT_FOUND, "this template has no link"),
    }
}
