//! The open pipeline: what happens when an email is opened, clicked or
//! voted in, in one place, with no HTTP in it.
//!
//! Every action goes through the same steps, each a function with a plain
//! name and plain data between them:
//!
//! 1. **prepare** ([`prepare`]): verify the token or signature, classify
//!    the opener, load the recipient's state and records in one round
//!    trip, and build the [`crate::expr::Context`] the rules read;
//! 2. **records** ([`records`]): an evergreen timer's start, the coupon
//!    code, the poll's results;
//! 3. **decide** ([`decide`], [`shown`]): a lock, else the first variant
//!    whose rule holds, resolved into typed [`Content`] ([`content`]),
//!    and kept as the lock at a person's first open ([`lock`]);
//! 4. **resolve**: remote images, fetched from allowed origins
//!    ([`image`]), and the artwork to draw ([`artwork`]);
//! 5. **render or cache**: one render per key, through the cache.
//!
//! One entry per action: [`Pipeline::image`] (an open), [`Pipeline::click`],
//! [`Pipeline::vote`], [`Pipeline::amp`] (the AMP answer),
//! [`Pipeline::send_time`] (the decision an email platform fetches as it
//! sends),
//! [`Pipeline::preview`], [`Pipeline::warm_one`] (cache warming),
//! [`Pipeline::convert`] (a conversion the customer's backend reports,
//! credited to a click or an open), and, with
//! no store at all, [`offline::render`] (`opentime render` and
//! `opentime check`) and [`offline::prerender_fallbacks`] (the images an
//! open gets when all else fails). Each returns a typed answer that the
//! HTTP layer maps to a response and a metric; none of them fails with an
//! error a recipient could see.

pub mod amp;
pub mod artwork;
pub mod click;
pub mod content;
pub mod conversion;
pub mod decide;
pub mod host;
pub mod image;
pub mod lock;
pub mod offline;
pub mod prepare;
pub mod preview;
pub mod records;
pub mod request;
pub mod send;
pub mod shown;
pub mod vote;

use std::sync::Arc;

pub use artwork::{RemoteAssets, Target};
pub use content::{Content, LayerContent};
pub use decide::Personalization;
pub use prepare::{OWN_PROFILE_FIELDS, Prepared};
pub use request::{ImageTarget, MAX_EMAIL_ID_LEN, QueryPairs, Visit, etag_matches, is_email_id};
pub use shown::{Shown, ShownLink};

use crate::access::KeyRing;
use crate::cache::RenderCache;
use crate::clock::Clock;
use crate::events::EventLog;
use crate::expr::OpenerRules;
use crate::feeds::Feeds;
use crate::geo::GeoDatabase;
use crate::metrics::Metrics;
use crate::poll::TallyCache;
use crate::prefs::PrefsConfig;
use crate::remote::RemoteImages;
use crate::store::Store;
use crate::template::TemplateRegistry;

/// The parts an open goes through: cheap to clone (each is shared), and
/// handed to every connection inside [`crate::app::App`].
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub store: Store,
    /// The customer's APIs that templates call at open.
    pub sources: crate::sources::Sources,
    pub templates: Arc<TemplateRegistry>,
    pub cache: RenderCache,
    pub keys: KeyRing,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    /// Opens, clicks, votes and unsubscribes on their way to the store.
    pub events: EventLog,
    /// How requests are told apart: person, proxy or scanner.
    pub openers: Arc<OpenerRules>,
    /// Images from URLs in state, from allowed origins only.
    pub remote_images: RemoteImages,
    /// Poll tallies read recently, for results images.
    pub tallies: TallyCache,
    /// What the preference center offers, and in which words.
    pub prefs: Arc<PrefsConfig>,
    /// Where readers are, when `geo_database` names a city database.
    pub geo: Option<Arc<GeoDatabase>>,
    /// Product feeds' items, read by expressions as `feed.NAME`.
    pub feeds: Feeds,
    /// The experiments' winners this replica knows.
    pub decisions: crate::experiments::Decisions,
}

impl Pipeline {
    /// Counts a store call that failed or ran over its budget; the request
    /// goes on without what it would have read or written.
    pub fn count_store_error(&self, error: &crate::store::StoreError) {
        self.metrics
            .store_errors
            .with_label_values(&[error.code()])
            .inc();
    }
}

/// The labels an answer is counted under in the requests metric: the
/// template (or `-`), the variant shown (or `-`) and the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted<'a> {
    pub template: &'a str,
    pub variant: &'a str,
    pub outcome: &'static str,
}
