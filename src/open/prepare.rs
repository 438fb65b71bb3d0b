//! The pipeline's first step, prepare: who is asking and what is known of
//! them. The access check (token, signature), the opener's class, and the
//! state lookup (the profile and the records an action reads, in one
//! round trip), turned into the [`Context`] the rules read.

use std::collections::BTreeMap;
use std::time::Instant;

use minijinja::Value;

use super::Pipeline;
use super::decide::Personalization;
use super::request::{QueryPairs, Visit};
use crate::access::AccessError;
use crate::events::{Event, EventKind};
use crate::expr::{Context, Opener, OpenerRequest, RequestFacts};
use crate::geo::Location;
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
    /// A `signed_url` template's signature was missing or wrong: the
    /// request saw the parameters' defaults only.
    pub signature_refused: bool,
    /// Whether a person is behind the request (the opener rules'
    /// `person_openers`): only then may it lock content, draw a
    /// code, start a timer or count as engagement.
    pub person: bool,
    /// When the request came, to the millisecond, for its event (the
    /// rules see `now` to the second).
    pub at: jiff::Timestamp,
    /// The email of a sequence the URL named (`e`): the template's records
    /// are that email's.
    pub email: Option<String>,
    /// The recipient's arm in the template's experiment, if it has one.
    pub arm: Option<String>,
}

impl Prepared {
    /// How the request is counted: `bad_signature` or `bad_token` when a
    /// URL was tampered with, else how much of the recipient it used.
    pub fn outcome(&self) -> &'static str {
        if self.signature_refused {
            "bad_signature"
        } else {
            self.personalization.as_str()
        }
    }

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
            self.at,
            context.opener,
            self.person,
            context.device,
        )
        .for_email(self.email.as_deref())
    }

    /// The name the template's lock and open record go by for this
    /// request.
    pub fn record<'t>(&self, template: &'t str) -> std::borrow::Cow<'t, str> {
        crate::recipient::record_name(template, self.email.as_deref())
    }
}

/// Verifies the template's access mode, classifies the opener, then loads
/// the recipient's state and the records `wants` names, in one round trip.
///
/// A token that is present but wrong (tampered, signed by a retired key,
/// or a merge tag the email platform left unfilled, as its previews and
/// test sends do) is no recipient: the request goes on as one without a
/// token, so an email sent before a key rotation still shows its default
/// content, and is counted as `bad_token`. A `signed_url` template whose
/// signature is missing or wrong sees none of the URL's parameters (their
/// defaults only), counted as `bad_signature`; its token still counts.
pub async fn prepare(
    pipeline: &Pipeline,
    template: &Template,
    visit: &Visit<'_>,
    wants: &StateRequest<'_>,
    opener: Option<Opener>,
) -> Prepared {
    let signature_ok = signature_holds(pipeline, template, visit);
    let (recipient, token_refused) = match verify_token(pipeline, template, &visit.query) {
        Ok(recipient) => (recipient, false),
        Err(_) => (None, true),
    };
    let (params, dropped) = if signature_ok {
        visit.query.declared(template)
    } else {
        (template.default_query(), 0)
    };
    if dropped > 0 {
        pipeline
            .metrics
            .params_dropped
            .with_label_values(&[&template.name])
            .inc_by(dropped as u64);
    }
    let now = pipeline.clock.now();
    let deadline = Instant::now() + pipeline.sources.budget();
    let opener = opener.unwrap_or_else(|| classify(pipeline, visit));
    let geo = locate(pipeline, visit, opener);
    // The sources that read no profile are called beside the state lookup.
    let early = async {
        let early = template
            .sources
            .iter()
            .filter(|source| !source.reads_profile);
        if template.sources.iter().all(|source| source.reads_profile) {
            return Vec::new();
        }
        // No User-Agent: a source's URL has no use for the device, and
        // reading it would cost every open a second parse. The context is
        // built only when a source's answer is not found by the request.
        let make_context = || {
            Context::new(&RequestFacts {
                profile: None,
                query: params.clone(),
                now,
                user_agent: None,
                is_head: visit.is_head,
                opener: Some(opener),
                geo: geo.clone(),
            })
        };
        let answers = pipeline.sources.answers_for(
            template,
            early,
            make_context,
            Some(&params),
            recipient.as_ref(),
            deadline,
        );
        answers.await
    };
    let state = async {
        match (&recipient, token_refused) {
            (Some(recipient), _) => load_state(pipeline, recipient, wants).await,
            (None, true) => (RecipientState::default(), Personalization::BadToken),
            (None, false) => (RecipientState::default(), Personalization::Anonymous),
        }
    };
    // The record an alert is about is named by signed parameters alone, so
    // it is read beside the recipient's state, not after it.
    let ((records, personalization), subject, answers) = tokio::join!(
        state,
        subject_record(pipeline, template, &params, now),
        early
    );
    let facts = Facts {
        now,
        query: params,
        user_agent: visit.user_agent,
        is_head: visit.is_head,
        opener,
        geo,
    };
    let person = pipeline.openers.is_person(opener);
    let mut prepared = assemble(
        pipeline,
        wants,
        recipient,
        records,
        personalization,
        facts,
        person,
    );
    prepared.signature_refused = !signature_ok;
    prepared.arm = recipient_arm(pipeline, template, &prepared);
    if template.subject.is_some() {
        prepared.context = prepared
            .context
            .with("subject", crate::expr::profile_value(subject.as_ref()));
    }
    with_sources(pipeline, template, prepared, answers, deadline).await
}

/// The arm the recipient is shown in the template's experiment: from the
/// arm kept at their first exposure (read in the state lookup), the
/// decision this replica knows, and the hash (`experiments::arm_for`).
fn recipient_arm(pipeline: &Pipeline, template: &Template, prepared: &Prepared) -> Option<String> {
    let experiment = template.experiment.as_ref()?;
    let recipient = prepared.recipient.as_ref()?;
    let decision = pipeline.decisions.get(&experiment.id);
    crate::experiments::arm_for(
        experiment,
        recipient,
        prepared.records.arm.as_deref(),
        decision.as_ref(),
    )
    .map(str::to_string)
}

/// `prepared` with `source` in its context: the `early` answers (of the
/// sources that read no profile) and those of the sources that do, called
/// now that the profile is known, all before `deadline`.
async fn with_sources(
    pipeline: &Pipeline,
    template: &Template,
    mut prepared: Prepared,
    mut answers: Vec<(String, Value)>,
    deadline: Instant,
) -> Prepared {
    if template.sources.is_empty() {
        return prepared;
    }
    let late = template
        .sources
        .iter()
        .filter(|source| source.reads_profile);
    if template.sources.iter().any(|source| source.reads_profile) {
        let called = pipeline.sources.answers(
            template,
            late,
            &prepared.context,
            prepared.recipient.as_ref(),
            deadline,
        );
        answers.extend(called.await);
    }
    // A recipient the store knows nothing of, whom a source answered
    // about, has state: the customer's own API is their state.
    if prepared.personalization == Personalization::Anonymous
        && prepared.recipient.is_some()
        && !answers.is_empty()
    {
        prepared.personalization = Personalization::Personalized;
    }
    prepared.context = prepared.context.with("source", Value::from_pairs(answers));
    prepared
}

/// [`with_sources`] for every source of `template`, for the requests that
/// have no state lookup to run beside.
async fn with_all_sources(
    pipeline: &Pipeline,
    template: &Template,
    prepared: Prepared,
) -> Prepared {
    let deadline = Instant::now() + pipeline.sources.budget();
    let early = template
        .sources
        .iter()
        .filter(|source| !source.reads_profile);
    let answers = if template.sources.iter().all(|source| source.reads_profile) {
        Vec::new()
    } else {
        pipeline
            .sources
            .answers(
                template,
                early,
                &prepared.context,
                prepared.recipient.as_ref(),
                deadline,
            )
            .await
    };
    with_sources(pipeline, template, prepared, answers, deadline).await
}

/// The record a template is about (`subject`, an alert to a rep about an
/// account), read as `subject` by its rules: `None` when the template
/// names none, its text names no record that exists, or the store does not
/// answer. The text sees the request's parameters only, which a
/// `signed_url` template has signed. The request stays the recipient's:
/// their token, their opens.
async fn subject_record(
    pipeline: &Pipeline,
    template: &Template,
    params: &BTreeMap<String, String>,
    now: jiff::Timestamp,
) -> Option<crate::recipient::Profile> {
    let text = template.subject?;
    let context = Context::new(&RequestFacts {
        profile: None,
        query: params.clone(),
        now,
        user_agent: None,
        is_head: false,
        opener: None,
        geo: None,
    });
    let id = template.texts.render(text, &context).ok()?;
    let id = RecipientId::new(id.trim()).ok()?;
    match pipeline.store.profile(&id).await {
        Ok(profile) => profile,
        Err(error) => {
            tracing::debug!(template = %template.name, %error, "the subject record could not be read");
            None
        }
    }
}

/// What a request says beside the recipient.
struct Facts<'a> {
    now: jiff::Timestamp,
    query: BTreeMap<String, String>,
    user_agent: Option<&'a str>,
    is_head: bool,
    opener: Opener,
    geo: Option<Location>,
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
    let at = facts.now;
    let mut context = Context::new(&RequestFacts {
        profile: records.profile.take(),
        query: facts.query,
        now: facts.now,
        user_agent: facts.user_agent.map(str::to_string),
        is_head: facts.is_head,
        opener: Some(facts.opener),
        geo: facts.geo,
    });
    // The preferences a template reads, and the whole set of feeds,
    // shared (a reference count): added in one rebuild of the context.
    let mut more = Vec::new();
    if wants.prefs {
        more.push(("prefs", pipeline.prefs.view(&records.prefs).to_value()));
    }
    if let Some(feeds) = pipeline.feeds.value() {
        more.push((crate::expr::FEED_ROOT, feeds));
    }
    if !more.is_empty() {
        context = context.with_all(more);
    }
    Prepared {
        context,
        personalization,
        recipient,
        records,
        signature_refused: false,
        person,
        at,
        email: wants.email.map(str::to_string),
        arm: None,
    }
}

/// What an open by `recipient` would see, prepared without a request: for
/// cache warming. `person` is false, so nothing is written (no lock, code
/// or timer start), while the rules see `opener` as it is given.
pub async fn prepare_known(
    pipeline: &Pipeline,
    template: &Template,
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
        geo: None,
    };
    let prepared = assemble(
        pipeline,
        wants,
        Some(recipient),
        records,
        personalization,
        facts,
        false,
    );
    with_all_sources(pipeline, template, prepared).await
}

/// What an open with a state given by a template author would see, at
/// `now`: for the preview page. Nothing is read from the store or written;
/// the template's sources are called as an open of `recipient` would call
/// them.
#[allow(clippy::too_many_arguments)]
pub async fn prepare_given(
    pipeline: &Pipeline,
    template: &Template,
    wants: &StateRequest<'_>,
    recipient: Option<RecipientId>,
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
        geo: None,
    };
    let prepared = assemble(
        pipeline,
        wants,
        recipient,
        records,
        personalization,
        facts,
        false,
    );
    with_all_sources(pipeline, template, prepared).await
}

/// Where the reader is, for a request that comes straight from them: a
/// `human` opener (never a proxy, whose address is its own, nor a
/// scanner), whose address no forwarded header the server does not trust
/// puts in doubt, and a city database that knows the address. Counted by
/// outcome; the address itself is never logged.
fn locate(pipeline: &Pipeline, visit: &Visit<'_>, opener: Opener) -> Option<Location> {
    let database = pipeline.geo.as_ref()?;
    if opener != Opener::Human {
        return None;
    }
    let count = |outcome: &str| {
        pipeline
            .metrics
            .geo_lookups
            .with_label_values(&[outcome])
            .inc();
    };
    if visit.forwarded_untrusted {
        count("forwarded_untrusted");
        return None;
    }
    let address = visit.client_ip?;
    match database.locate(address) {
        Ok(Some(location)) => {
            count("located");
            Some(location)
        }
        Ok(None) => {
            count("not_found");
            None
        }
        Err(error) => {
            count("error");
            tracing::debug!(%error, "the geo database's record could not be read");
            None
        }
    }
}

/// The opener's class by the configured rules.
pub fn classify(pipeline: &Pipeline, visit: &Visit<'_>) -> Opener {
    pipeline.openers.classify(&OpenerRequest {
        user_agent: visit.user_agent,
        is_head: visit.is_head,
        client_ip: visit.client_ip,
    })
}

/// Whether a `signed_url` template's URL carries a valid signature (any
/// other template needs none).
fn signature_holds(pipeline: &Pipeline, template: &Template, visit: &Visit<'_>) -> bool {
    template.access != AccessMode::SignedUrl
        || pipeline.keys.verify_url(visit.path, &visit.query.0).is_ok()
}

/// The recipient a request's token names, if it has one that checks out.
/// `public` templates take no token.
fn verify_token(
    pipeline: &Pipeline,
    template: &Template,
    query: &QueryPairs,
) -> Result<Option<RecipientId>, AccessError> {
    if template.access == AccessMode::Public {
        return Ok(None);
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
