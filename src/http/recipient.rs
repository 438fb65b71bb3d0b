//! Who is asking, and what is known of them: the access check and the state
//! lookup shared by the image and click paths.

use hyper::HeaderMap;
use hyper::header::USER_AGENT;

use super::query::QueryPairs;
use crate::access::AccessError;
use crate::app::App;
use crate::decide::Personalization;
use crate::expr::{Context, RequestFacts};
use crate::metrics::TimerGuard;
use crate::recipient::{Profile, RecipientId};
use crate::template::{AccessMode, Template};

/// The context of one request, ready for the rules.
pub struct Prepared {
    pub context: Context,
    pub personalization: Personalization,
    /// The verified recipient, whether or not they have state.
    pub recipient: Option<RecipientId>,
}

/// Verifies the template's access mode, then loads the recipient's state.
/// `Err` means the request must be refused with 403: a token or signature
/// that is present but wrong never falls back to default content, so a
/// tampered URL cannot be mistaken for a working one.
pub async fn prepare(
    app: &App,
    template: &Template,
    path: &str,
    query: &QueryPairs,
    headers: &HeaderMap,
    is_head: bool,
) -> Result<Prepared, AccessError> {
    let recipient = verify(app, template, path, query)?;
    let (params, dropped) = query.declared(template);
    if dropped > 0 {
        app.metrics
            .params_dropped
            .with_label_values(&[&template.name])
            .inc_by(dropped as u64);
    }
    let (profile, personalization) = match &recipient {
        Some(recipient) => load_profile(app, recipient).await,
        None => (None, Personalization::Anonymous),
    };
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let context = Context::new(&RequestFacts {
        profile,
        query: params,
        now: app.clock.now(),
        user_agent,
        is_head,
    });
    Ok(Prepared {
        context,
        personalization,
        recipient,
    })
}

/// The recipient a request names, if any, once its token (and, for
/// `signed_url` templates, the URL's signature) checks out.
fn verify(
    app: &App,
    template: &Template,
    path: &str,
    query: &QueryPairs,
) -> Result<Option<RecipientId>, AccessError> {
    match template.access {
        AccessMode::Public => return Ok(None),
        AccessMode::SignedUrl => app.keys.verify_url(path, &query.0)?,
        AccessMode::Token => {}
    }
    match query.get("t") {
        None | Some("") => Ok(None),
        Some(token) => app.keys.verify_token(token).map(Some),
    }
}

async fn load_profile(app: &App, recipient: &RecipientId) -> (Option<Profile>, Personalization) {
    let result = {
        let _timer = TimerGuard::new(app.metrics.store_seconds.clone());
        app.store.profile(recipient).await
    };
    match result {
        Ok(Some(profile)) => (Some(profile), Personalization::Personalized),
        Ok(None) => (None, Personalization::Anonymous),
        Err(error) => {
            app.metrics
                .store_errors
                .with_label_values(&[error.code()])
                .inc();
            tracing::debug!(recipient = %recipient, %error, "state lookup failed; serving the default variant");
            (None, Personalization::StoreDown)
        }
    }
}
