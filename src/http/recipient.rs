//! Who is asking, and what is known of them: the access check, the opener's
//! class and the state lookup shared by the image and click paths.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hyper::HeaderMap;
use hyper::header::USER_AGENT;

use super::query::QueryPairs;
use crate::access::AccessError;
use crate::app::App;
use crate::decide::Personalization;
use crate::events::{Event, EventKind};
use crate::expr::{Context, Opener, OpenerRequest, RequestFacts};
use crate::metrics::TimerGuard;
use crate::recipient::RecipientId;
use crate::store::{RecipientState, StateRequest};
use crate::template::{AccessMode, Template};

/// The profile fields opentime itself writes at a person's opens and
/// clicks (`docs/events.md`).
pub const OWN_PROFILE_FIELDS: [&str; 4] = ["last_open_at", "opens", "last_click_at", "clicks"];

/// What the router knows of a request before any handler runs.
pub struct RequestHead<'a> {
    pub path: &'a str,
    pub query: QueryPairs,
    pub headers: &'a HeaderMap,
    /// The client's address: the connection's peer, or what trusted
    /// proxies said in `X-Forwarded-For`.
    pub client_ip: Option<IpAddr>,
    pub is_head: bool,
}

impl RequestHead<'_> {
    pub fn user_agent(&self) -> Option<&str> {
        self.headers.get(USER_AGENT).and_then(|v| v.to_str().ok())
    }
}

/// The context of one request, ready for the rules.
pub struct Prepared {
    pub context: Context,
    pub personalization: Personalization,
    /// The verified recipient, whether or not they have state.
    pub recipient: Option<RecipientId>,
    /// The records the request asked for beyond the profile; empty without
    /// a recipient or when the store failed.
    pub records: RecipientState,
    /// Whether a person is behind the request (the opener rules'
    /// `person_openers`): only then may it lock content, draw a
    /// code, start a timer or count as engagement.
    pub person: bool,
}

impl Prepared {
    /// The recipient, when a person is behind the request and the store
    /// answered: the only case in which a first open may write a record.
    pub fn person_with_records(&self) -> Option<&RecipientId> {
        let store_answered = self.personalization != Personalization::StoreDown;
        self.recipient
            .as_ref()
            .filter(|_| self.person && store_answered)
    }

    /// This request as an event of `kind` about `template` and `variant`.
    pub fn event(&self, kind: EventKind, template: &str, variant: &str) -> Event {
        let context = &self.context;
        Event::new(
            kind,
            template,
            variant,
            self.recipient.clone(),
            context.now.zoned().timestamp(),
            context.opener,
            self.person,
            context.device,
        )
    }
}

/// Verifies the template's access mode, classifies the opener, then loads
/// the recipient's state and the records `wants` names, in one round trip.
/// `Err` means the request must be refused with 403: a token or signature
/// that is present but wrong never falls back to default content, so a
/// tampered URL cannot be mistaken for a working one.
pub async fn prepare(
    app: &App,
    template: &Template,
    head: &RequestHead<'_>,
    wants: &StateRequest<'_>,
    opener: Option<Opener>,
) -> Result<Prepared, AccessError> {
    let recipient = verify(app, template, head.path, &head.query)?;
    let (params, dropped) = head.query.declared(template);
    if dropped > 0 {
        app.metrics
            .params_dropped
            .with_label_values(&[&template.name])
            .inc_by(dropped as u64);
    }
    let (records, personalization) = match &recipient {
        Some(recipient) => load_state(app, recipient, wants).await,
        None => (RecipientState::default(), Personalization::Anonymous),
    };
    let opener = opener.unwrap_or_else(|| classify(app, head));
    let facts = Facts {
        now: app.clock.now(),
        query: params,
        user_agent: head.user_agent(),
        is_head: head.is_head,
        opener,
    };
    let person = app.openers.is_person(opener);
    Ok(assemble(
        app,
        wants,
        recipient,
        records,
        personalization,
        facts,
        person,
    ))
}

/// What a request says beside the recipient.
struct Facts<'a> {
    now: jiff::Timestamp,
    query: BTreeMap<String, String>,
    user_agent: Option<&'a str>,
    is_head: bool,
    opener: Opener,
}

fn assemble(
    app: &App,
    wants: &StateRequest<'_>,
    recipient: Option<RecipientId>,
    mut records: RecipientState,
    personalization: Personalization,
    facts: Facts<'_>,
    person: bool,
) -> Prepared {
    let mut context = Context::new(&RequestFacts {
        profile: records.profile.take(),
        query: facts.query,
        now: facts.now,
        user_agent: facts.user_agent.map(str::to_string),
        is_head: facts.is_head,
        opener: Some(facts.opener),
    });
    if wants.prefs {
        context = context.with("prefs", app.prefs.view(&records.prefs).to_value());
    }
    Prepared {
        context,
        personalization,
        recipient,
        records,
        person,
    }
}

/// What an open by `recipient` would see, prepared without a request: for
/// cache warming. `person` is false, so nothing is written (no lock, code
/// or timer start), while the rules see `opener` as it is given.
pub async fn prepare_known(
    app: &App,
    recipient: RecipientId,
    wants: &StateRequest<'_>,
    query: BTreeMap<String, String>,
    user_agent: Option<&str>,
    opener: Opener,
) -> Prepared {
    let (records, personalization) = load_state(app, &recipient, wants).await;
    let facts = Facts {
        now: app.clock.now(),
        query,
        user_agent,
        is_head: false,
        opener,
    };
    assemble(
        app,
        wants,
        Some(recipient),
        records,
        personalization,
        facts,
        false,
    )
}

/// What an open with a state given by a template author would see, at
/// `now`: for the preview page. Nothing is read from the store or written.
pub fn prepare_given(
    app: &App,
    wants: &StateRequest<'_>,
    profile: Option<crate::recipient::Profile>,
    query: BTreeMap<String, String>,
    now: jiff::Timestamp,
    user_agent: Option<&str>,
    opener: Opener,
) -> Prepared {
    let personalization = if profile.is_some() {
        Personalization::Personalized
    } else {
        Personalization::Anonymous
    };
    let records = RecipientState {
        profile,
        ..RecipientState::default()
    };
    let facts = Facts {
        now,
        query,
        user_agent,
        is_head: false,
        opener,
    };
    assemble(app, wants, None, records, personalization, facts, false)
}

/// The opener's class by the configured rules.
pub fn classify(app: &App, head: &RequestHead<'_>) -> Opener {
    app.openers.classify(&OpenerRequest {
        user_agent: head.user_agent(),
        is_head: head.is_head,
        client_ip: head.client_ip,
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

/// The profile and the wanted records. A template that keeps no records
/// costs exactly one `HGETALL`, as before records existed.
async fn load_state(
    app: &App,
    recipient: &RecipientId,
    wants: &StateRequest<'_>,
) -> (RecipientState, Personalization) {
    let result = {
        let _timer = TimerGuard::new(app.metrics.store_seconds.clone());
        if wants.profile_only() {
            app.store
                .profile(recipient)
                .await
                .map(|profile| RecipientState {
                    profile,
                    ..RecipientState::default()
                })
        } else {
            app.store.state(recipient, wants).await
        }
    };
    match result {
        Ok(state) => {
            // The counters opentime writes itself are no state of the
            // customer's: a recipient known only by them is still one with
            // no state, who sees the default variant (SPEC "Outcomes").
            let has_state = state.profile.as_ref().is_some_and(|profile| {
                profile
                    .fields
                    .keys()
                    .any(|field| !OWN_PROFILE_FIELDS.contains(&field.as_str()))
            });
            let personalization = if has_state {
                Personalization::Personalized
            } else {
                Personalization::Anonymous
            };
            (state, personalization)
        }
        Err(error) => {
            app.metrics
                .store_errors
                .with_label_values(&[error.code()])
                .inc();
            tracing::debug!(recipient = %recipient, %error, "state lookup failed; serving the default variant");
            (RecipientState::default(), Personalization::StoreDown)
        }
    }
}

/// The client's address: with `hops` trusted proxies in front, the entry of
/// `X-Forwarded-For` the outermost one appended; else the peer's.
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    match forwarded.len().checked_sub(hops) {
        Some(index) => forwarded[index].parse().ok().or(peer),
        // Fewer entries than proxies: the request did not come through all
        // of them, so the header cannot be trusted.
        None => peer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_what_the_outermost_trusted_proxy_saw() {
        let peer: IpAddr = "10.0.0.2".parse().expect("valid address");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().expect("valid header"),
        );
        assert_eq!(client_ip(&headers, Some(peer), 0), Some(peer));
        assert_eq!(
            client_ip(&headers, Some(peer), 1),
            "198.51.100.7".parse().ok()
        );
        assert_eq!(
            client_ip(&headers, Some(peer), 2),
            "203.0.113.9".parse().ok()
        );
        assert_eq!(client_ip(&headers, Some(peer), 3), Some(peer));
        assert_eq!(client_ip(&HeaderMap::new(), Some(peer), 1), Some(peer));
    }
}
