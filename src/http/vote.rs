//! `GET /v/{poll}/{option}`: a vote in a live poll, then a 302 to the
//! poll's thank-you page. The pipeline counts it, or not
//! ([`crate::open::vote`]); this maps its answer to a response.

use hyper::{Response, StatusCode};

use super::head::RequestHead;
use super::response::{self, Body};
use crate::app::App;
use crate::open::vote::VoteBody;

pub async fn serve(
    app: &App,
    head: &RequestHead<'_>,
    poll_id: &str,
    option_id: &str,
) -> Response<Body> {
    let answer = app.pipeline.vote(&head.visit, poll_id, option_id).await;
    app.metrics
        .votes
        .with_label_values(&[&answer.poll, &answer.option, answer.result])
        .inc();
    match answer.body {
        VoteBody::NotFound(reason) => response::text(StatusCode::NOT_FOUND, reason),
        VoteBody::InvalidLink => super::prefs::invalid_link(app),
        VoteBody::Redirect(url) => response::redirect(&url),
        VoteBody::ThanksError => response::text(
            StatusCode::NOT_FOUND,
            "the poll's thank-you link did not resolve",
        ),
    }
}
