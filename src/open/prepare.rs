//! The pipeline's first step, prepare: who is asking and what is known of
//! them. The access check (token, signature), the opener's class, and the
//! state lookup (the profile and the records an action reads, in one
//! round trip), turned into the [`Context`] the rules read.

use std::collections::BTreeMap;

use super::Pipeline;
use super::decide::Personalization;
use super::request::{QueryPairs, Visit};
use crate::access::AccessError;
use crate::events::{Event, EventKind};
use crate::expr::{Context, Opener, OpenerRequest, RequestFacts};
use crate::metrics::TimerGuard;
use crate::recipient::RecipientId;
use crate::store::{RecipientState, StateRequest};
use crate::template::{AccessMode, Template};

/// The profile fields opentime itself writes at a person's opens and
/// clicks (`docs/events.md`).
pub const OWN_PROFILE_FIELDS: [&str; 4] = ["last_open_at", "opens", "last_click_at", "clicks"];

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
    pipeline: &Pipeline,
    template: &Template,
    visit: &Visit<'_>,
    wants: &StateRequest<'_>,
    opener: Option<Opener>,
) -> Result<Prepared, AccessError> {
    let recipient = verify(pipeline, template, visit.path, &visit.query)?;
    let (params, dropped) = visit.query.declared(template);
    if dropped > 0 {
        pipeline
            .metrics
            .params_dropped
            .with_label_values(&[&template.name])
            .inc_by(dropped as u64);
    }
    let (records, personalization) = match &recipient {
        Some(recipient) => load_state(pipeline, recipient, wants).await,
        None => (RecipientState::default(), Personalization::Anonymous),
    };
    let opener = opener.unwrap_or_else(|| classify(pipeline, visit));
    let facts = Facts {
        now: pipeline.clock.now(),
        query: params,
        user_agent: visit.user_agent,
        is_head: visit.is_head,
        opener,
    };
    let person = pipeline.openers.is_person(opener);
    Ok(assemble(
        pipeline,
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
    pipeline: &Pipeline,
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
        context = context.with("prefs", pipeline.prefs.view(&records.prefs).to_value());
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
    pipeline: &Pipeline,
    recipient: RecipientId,
    wants: &StateRequest<'_>,
    query: BTreeMap<String, String>,
    user_agent: Option<&str>,
    opener: Opener,
) -> Prepared {
    let (records, personalization) = load_state(pipeline, &recipient, wants).await;
    let facts = Facts {
        now: pipeline.clock.now(),
        query,
        user_agent,
        is_head: false,
        opener,
    };
    assemble(
        pipeline,
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
    pipeline: &Pipeline,
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
    assemble(
        pipeline,
        wants,
        None,
        records,
        personalization,
        facts,
        false,
    )
}

/// The opener's class by the configured rules.
pub fn classify(pipeline: &Pipeline, visit: &Visit<'_>) -> Opener {
    pipeline.openers.classify(&OpenerRequest {
        user_agent: visit.user_agent,
        is_head: visit.is_head,
        client_ip: visit.client_ip,
    })
}

/// The recipient a request names, if any, once its token (and, for
/// `signed_url` templates, the URL's signature) checks out.
fn verify(
    pipeline: &Pipeline,
    template: &Template,
    path: &str,
    query: &QueryPairs,
) -> Result<Option<RecipientId>, AccessError> {
    match template.access {
        AccessMode::Public => return Ok(None),
        AccessMode::SignedUrl => pipeline.keys.verify_url(path, &query.0)?,
        AccessMode::Token => {}
    }
    match query.get("t") {
        None | Some("") => Ok(None),
        Some(token) => pipeline.keys.verify_token(token).map(Some),
    }
}

/// The profile and the wanted records. A template that keeps no records
/// costs exactly one `HGETALL`, as before records existed.
async fn load_state(
    pipeline: &Pipeline,
    recipient: &RecipientId,
    wants: &StateRequest<'_>,
) -> (RecipientState, Personalization) {
    let result = {
        let _timer = TimerGuard::new(pipeline.metrics.store_seconds.clone());
        if wants.profile_only() {
            pipeline
                .store
                .profile(recipient)
                .await
                .map(|profile| RecipientState {
                    profile,
                    ..RecipientState::default()
                })
        } else {
            pipeline.store.state(recipient, wants).await
        }
    };
    match result {
        Ok(state) => {
            // The counters opentime writes itself are no state of the
            // customer's: a recipient known only by them is still one with
            // no state, who sees the default variant (`docs/outcomes.md`).
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
            pipeline.count_store_error(&error);
            tracing::debug!(recipient = %recipient, %error, "state lookup failed; serving the default variant");
            (RecipientState::default(), Personalization::StoreDown)
        }
    }
}
