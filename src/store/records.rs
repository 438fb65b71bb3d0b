//! What the store keeps per recipient beyond the profile, as both backends
//! share it: the open records, locks, coupon codes, clicks and daily
//! engagement counts, and the one-round-trip read of all a request needs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::events::{Event, EventKind};
use crate::expr::Opener;
use crate::recipient::{Profile, code_slot, record_name};

/// How long per-recipient records live after their last write: past any
/// campaign's life, so a late click still finds its open, and bounded, so
/// records of recipients who left do not pile up forever.
pub const RECORD_KEEP: Duration = Duration::from_secs(400 * 24 * 3600);

/// How long the previous click is kept: only bursts of seconds matter.
pub const LAST_CLICK_KEEP: Duration = Duration::from_secs(24 * 3600);

/// What one request reads besides the profile, all in the same round trip.
#[derive(Debug, Clone, Default)]
pub struct StateRequest<'a> {
    pub template: &'a str,
    /// An evergreen timer's start.
    pub timer: bool,
    /// The render locked at the first human open.
    pub lock: bool,
    /// The code drawn from this pool.
    pub coupon_pool: Option<&'a str>,
    /// What this template showed at the last open (for the click).
    pub shown: bool,
    /// Record this as the recipient's last click and read the previous one,
    /// atomically (`SET ... GET`), so two clicks a millisecond apart still
    /// see each other.
    pub click_mark: Option<String>,
    /// The recipient's vote in this poll.
    pub poll: Option<&'a str>,
    /// The recipient's email preferences.
    pub prefs: bool,
    /// The email of a sequence the request names (`e`): the lock, the open
    /// record and (with `coupon_per_email`) the code are that email's.
    pub email: Option<&'a str>,
    /// The template draws one code per email rather than one per
    /// recipient.
    pub coupon_per_email: bool,
    /// The recipient's arm in this experiment, kept at their first
    /// exposure.
    pub experiment: Option<&'a str>,
}

impl<'a> StateRequest<'a> {
    /// The same request for the email `email` of a sequence.
    pub fn for_email(self, email: Option<&'a str>) -> StateRequest<'a> {
        StateRequest { email, ..self }
    }

    /// The name the template's lock and open record go by.
    pub fn record(&self) -> Cow<'a, str> {
        record_name(self.template, self.email)
    }

    /// The name the recipient's code of `pool` goes by.
    pub fn code_slot(&self, pool: &'a str) -> Cow<'a, str> {
        code_slot(pool, self.email.filter(|_| self.coupon_per_email))
    }
}

impl StateRequest<'_> {
    /// True when nothing but the profile is asked for: most templates' opens.
    pub fn profile_only(&self) -> bool {
        !self.timer
            && !self.lock
            && self.coupon_pool.is_none()
            && !self.shown
            && self.click_mark.is_none()
            && self.poll.is_none()
            && !self.prefs
            && self.experiment.is_none()
    }
}

/// What the store knows of a recipient for one request.
#[derive(Debug, Clone, Default)]
pub struct RecipientState {
    pub profile: Option<Profile>,
    pub timer_start: Option<Timestamp>,
    pub lock: Option<String>,
    pub code: Option<String>,
    pub shown: Option<ShownRecord>,
    pub previous_click: Option<String>,
    /// The option the recipient chose in the requested poll.
    pub vote: Option<String>,
    /// The recipient's stored preferences, when asked for.
    pub prefs: BTreeMap<String, String>,
    /// The arm the recipient was exposed to in the requested experiment.
    pub arm: Option<String>,
}

/// The open records' field that keeps a recipient's arm in an experiment.
pub fn arm_field(experiment: &str) -> String {
    format!("arm:{experiment}")
}

/// What a template showed a recipient at an open: the open record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownRecord {
    pub variant: String,
    /// The render key, in hex.
    pub render: String,
    /// Unix seconds of the open.
    pub at: i64,
    /// The experiment and the recipient's arm in it, when the variant
    /// shown was an arm's, so that the click is credited to that arm.
    pub arm: Option<(String, String)>,
}

impl ShownRecord {
    /// The stored form: `variant render unix`, then `experiment/arm` for an
    /// experiment's arm. Variant ids, render keys, experiment ids and arms
    /// hold no spaces or `/`.
    pub fn encode(&self) -> String {
        match &self.arm {
            None => format!("{} {} {}", self.variant, self.render, self.at),
            Some((experiment, arm)) => format!(
                "{} {} {} {experiment}/{arm}",
                self.variant, self.render, self.at
            ),
        }
    }

    pub fn decode(text: &str) -> Option<ShownRecord> {
        let mut parts = text.split(' ');
        let variant = parts.next().filter(|variant| !variant.is_empty())?;
        let render = parts.next()?;
        let at = parts.next()?.parse().ok()?;
        let arm = parts
            .next()
            .and_then(|part| part.split_once('/'))
            .map(|(experiment, arm)| (experiment.to_string(), arm.to_string()));
        Some(ShownRecord {
            variant: variant.to_string(),
            render: render.to_string(),
            at,
            arm,
        })
    }
}

/// The engagement counter field an event increments:
/// `{yyyymmdd}:{open|click}:{person|machine}`.
pub fn engagement_field(day: &str, kind: &str, person: bool) -> String {
    let who = if person { "person" } else { "machine" };
    [day, ":", kind, ":", who].concat()
}

/// The engagement counter field an Apple Mail privacy open increments as
/// well as its `person` or `machine` one: `{yyyymmdd}:open:apple`. Such an
/// open says nothing about whether anyone read, and a reader whose only
/// opens are these is `privacy_protected`, not `unengaged`.
pub fn apple_open_field(day: &str) -> String {
    [day, ":open:apple"].concat()
}

/// A recipient's raw engagement record, as the engagement API reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngagementRecord {
    /// `(field, count)` pairs of [`engagement_field`]s.
    pub counts: Vec<(String, u64)>,
    /// The profile's `last_open_at` and `last_click_at`.
    pub last_open_at: Option<String>,
    pub last_click_at: Option<String>,
}

/// What an event writes besides its stream entry, for a recipient. Both
/// backends follow this list, so they cannot disagree about what an event
/// means.
pub(crate) enum RecordWrite<'a> {
    /// The open record: what the template showed. Scanners are left out,
    /// since nobody sees what they fetch; Apple's prefetch is kept, since
    /// Apple Mail shows the reader exactly the image it prefetched.
    Shown(ShownRecord),
    /// The first open a person made of the template, in Unix seconds.
    FirstPersonOpen(i64),
    /// A person's open or click: the time and the count in the profile,
    /// where rules read them (`profile.opens`).
    Profile {
        time_field: &'static str,
        count_field: &'static str,
        at: &'a str,
    },
    /// The daily engagement counter to increment.
    Count(String),
    /// The recipient's last person's open (`last:open`) or click
    /// (`last:click`) of any template, which a conversion reported by
    /// recipient is credited to ([`LastTouch`]).
    Last {
        field: &'static str,
        touch: LastTouch,
    },
    /// The arm of a person's exposure, kept for their later opens
    /// ([`arm_field`]).
    Arm { field: String, arm: String },
}

/// The field of the open records hash that holds the last person's open.
pub const LAST_OPEN: &str = "last:open";
/// The field that holds the last person's click.
pub const LAST_CLICK: &str = "last:click";

/// What a conversion reported by recipient is credited to: the template,
/// `e`, variant and arm of their last open or click, and when it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastTouch {
    pub at: i64,
    pub template: String,
    pub email: String,
    pub variant: String,
    /// The experiment and arm, when the variant was an arm's.
    pub arm: Option<(String, String)>,
}

impl LastTouch {
    /// `unix template e variant experiment/arm`, with `-` for an empty
    /// part: no part holds a space.
    pub fn encode(&self) -> String {
        let dash = |text: &str| {
            if text.is_empty() {
                "-".to_string()
            } else {
                text.to_string()
            }
        };
        let arm = self
            .arm
            .as_ref()
            .map_or("-".to_string(), |(experiment, arm)| {
                format!("{experiment}/{arm}")
            });
        format!(
            "{} {} {} {} {arm}",
            self.at,
            self.template,
            dash(&self.email),
            dash(&self.variant)
        )
    }

    pub fn decode(text: &str) -> Option<LastTouch> {
        let mut parts = text.split(' ');
        let at = parts.next()?.parse().ok()?;
        let template = parts.next().filter(|part| !part.is_empty())?.to_string();
        let undash = |part: &str| {
            if part == "-" {
                String::new()
            } else {
                part.to_string()
            }
        };
        let email = undash(parts.next()?);
        let variant = undash(parts.next()?);
        let arm = parts
            .next()?
            .split_once('/')
            .map(|(experiment, arm)| (experiment.to_string(), arm.to_string()));
        Some(LastTouch {
            at,
            template,
            email,
            variant,
            arm,
        })
    }

    fn of(event: &Event) -> LastTouch {
        LastTouch {
            at: event.at.as_second(),
            template: event.template.clone(),
            email: event.email.clone(),
            variant: event.variant.clone(),
            arm: (!event.arm.is_empty()).then(|| (event.experiment.clone(), event.arm.clone())),
        }
    }
}

/// What `event` writes; `at` is its time as [`crate::events::format_at`]
/// spells it, formatted once per event by the caller.
pub(crate) fn record_writes<'a>(event: &Event, at: &'a str) -> Vec<RecordWrite<'a>> {
    let mut writes = Vec::new();
    let day = Event::day(at);
    match event.kind {
        EventKind::Open => {
            if event.opener != Opener::Scanner {
                writes.push(RecordWrite::Shown(ShownRecord {
                    variant: event.variant.clone(),
                    render: event.render.clone(),
                    at: event.at.as_second(),
                    arm: (!event.arm.is_empty())
                        .then(|| (event.experiment.clone(), event.arm.clone())),
                }));
            }
            if event.person {
                writes.push(RecordWrite::FirstPersonOpen(event.at.as_second()));
                writes.push(RecordWrite::Last {
                    field: LAST_OPEN,
                    touch: LastTouch::of(event),
                });
                if !event.arm.is_empty() {
                    writes.push(RecordWrite::Arm {
                        field: arm_field(&event.experiment),
                        arm: event.arm.clone(),
                    });
                }
                writes.push(RecordWrite::Profile {
                    time_field: "last_open_at",
                    count_field: "opens",
                    at,
                });
            }
            writes.push(RecordWrite::Count(engagement_field(
                &day,
                "open",
                event.person,
            )));
            if event.opener == Opener::AppleProxy {
                writes.push(RecordWrite::Count(apple_open_field(&day)));
            }
        }
        EventKind::Click => {
            if event.person {
                writes.push(RecordWrite::Last {
                    field: LAST_CLICK,
                    touch: LastTouch::of(event),
                });
                writes.push(RecordWrite::Profile {
                    time_field: "last_click_at",
                    count_field: "clicks",
                    at,
                });
            }
            writes.push(RecordWrite::Count(engagement_field(
                &day,
                "click",
                event.person,
            )));
        }
        EventKind::Vote
        | EventKind::Unsubscribe
        | EventKind::Preferences
        | EventKind::Conversion
        | EventKind::Experiment => {}
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_request_for_nothing_but_the_profile_is_profile_only() {
        assert!(StateRequest::default().profile_only());
        let lock = StateRequest {
            lock: true,
            ..StateRequest::default()
        };
        let click = StateRequest {
            click_mark: Some("x".into()),
            ..StateRequest::default()
        };
        assert!(!lock.profile_only());
        assert!(!click.profile_only());
        for other in [
            StateRequest {
                timer: true,
                ..StateRequest::default()
            },
            StateRequest {
                coupon_pool: Some("spring"),
                ..StateRequest::default()
            },
            StateRequest {
                shown: true,
                ..StateRequest::default()
            },
        ] {
            assert!(!other.profile_only(), "{other:?}");
        }
    }

    #[test]
    fn shown_records_round_trip_and_refuse_garbage() {
        let record = ShownRecord {
            variant: "renewed".into(),
            render: "00ff".into(),
            at: 1_764_000_000,
            arm: None,
        };
        assert_eq!(ShownRecord::decode(&record.encode()), Some(record));
        let armed = ShownRecord {
            variant: "copy-b".into(),
            render: "00ff".into(),
            at: 1_764_000_000,
            arm: Some(("renewal-copy".into(), "b".into())),
        };
        assert_eq!(armed.encode(), "copy-b 00ff 1764000000 renewal-copy/b");
        assert_eq!(ShownRecord::decode(&armed.encode()), Some(armed));
        let touch = LastTouch {
            at: 1_764_000_000,
            template: "renewal".into(),
            email: String::new(),
            variant: "copy-b".into(),
            arm: Some(("renewal-copy".into(), "b".into())),
        };
        assert_eq!(touch.encode(), "1764000000 renewal - copy-b renewal-copy/b");
        assert_eq!(LastTouch::decode(&touch.encode()), Some(touch));
        for garbage in ["", " x 1", "v k", "v k soon"] {
            assert_eq!(ShownRecord::decode(garbage), None, "{garbage:?}");
        }
    }
}
