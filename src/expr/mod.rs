//! The expression language of conditions, texts and links (minijinja), and
//! the request context it reads: `profile`, `query`, `now`, `device`,
//! `opener`, `geo`.
//!
//! A variant's `when` is a Jinja expression ([`Condition`]); its texts and
//! links are Jinja templates ([`TextSet`]). Both are compiled when a template
//! loads and evaluated against a [`Context`] built once per request from the
//! [`RequestFacts`].
//!
//! # What a template can read
//!
//! - `profile.<field>`: the recipient's Redis hash. Values arrive as strings
//!   and are typed when they read unambiguously as something else:
//!   - `"42"`, `"-3"` are integers and `"12.5"` a float, unless written with a
//!     leading zero (`"02134"`), a plus sign, an exponent or spaces, or beyond
//!     ±(2^53 − 1) or 15 significant digits: those stay strings, because they
//!     are identifiers (ZIP codes, phone and account numbers), not quantities;
//!   - `"true"` and `"false"` (exactly, lower case) are booleans;
//!   - everything else is a string. ISO-8601 dates stay strings: they compare
//!     correctly as such (`profile.renews_on < "2025-07-01"`), and the date
//!     helpers parse them.
//!
//!   A missing field is undefined (`profile.renewed_at is defined`); with no
//!   profile at all, `profile` is an empty map.
//! - `query.<name>`: the template's declared query parameters, as strings.
//! - `now`: the request time in the recipient's time zone (the IANA name in
//!   the profile field `time_zone`, e.g. `Europe/Paris`), else the zone the
//!   reader was located in (`geo.time_zone`), else UTC. `{{ now }}`
//!   prints `2025-03-14T09:30:00+01:00`; its attributes are `now.year`,
//!   `now.month`, `now.day`, `now.hour`, `now.minute`, `now.second`,
//!   `now.weekday` (1 = Monday … 7 = Sunday), `now.date` (`"2025-03-14"`),
//!   `now.iso` (as printed) and `now.unix` (seconds). Example:
//!   `now.hour < 12 and now.weekday <= 5`.
//! - `device.kind` (`mobile`, `tablet`, `desktop`, `unknown`), `device.os`
//!   (`ios`, `android`, `windows`, `macos`, `linux`, `unknown`) and
//!   `device.client` (`apple_mail`, `outlook`, `gmail`, `yahoo`,
//!   `thunderbird`, `samsung_email`, `unknown`), guessed from the User-Agent.
//!   Image proxies hide the device, so `unknown` is common. Example:
//!   `device.kind == "mobile"`.
//! - `opener`: `human`, `apple_proxy`, `gmail_proxy`, `yahoo_proxy` or
//!   `scanner`: who fetched the image, decided by the rules in
//!   `assets/openers.toml` (or the operator's own file) from the method, the
//!   User-Agent and the client's address, which Apple's relay ranges
//!   identify. `docs/openers.md` describes the rules. Example:
//!   `opener == "human"`.
//! - `geo`: where the reader is, from their address in the city database
//!   `geo_database` names (`crate::geo`): `geo.country` (`GB`),
//!   `geo.region` (`ENG`), `geo.region_name` (`England`), `geo.city`
//!   (`London`) and `geo.time_zone` (`Europe/London`), each undefined when
//!   the database does not know it. Only a `human` opener whose address is
//!   its own is located; for proxies, scanners, a request behind a
//!   forwarded header the server does not trust, or without a database,
//!   `geo` is an empty map. `docs/geo.md` says more. Example:
//!   `geo.country | default("US") == "US"`.
//!
//! # Helpers
//!
//! Dates given to the helpers may be `"YYYY-MM-DD"` (midnight in the
//! recipient's zone), an ISO-8601 / RFC 3339 timestamp with offset
//! (`2025-03-14T09:30:00Z`), a date and time without offset (taken in the
//! recipient's zone), Unix seconds, or `now`. An undefined date gives an
//! undefined result, so `| default(...)` applies; an unreadable one is an
//! error.
//!
//! - `days_until(date)`: calendar days from today to the date in the
//!   recipient's zone, whatever the hour: tomorrow is `1`, today `0`, past
//!   dates negative. `{{ days_until(profile.renews_on) }} days left`.
//! - `days_since(date)`: the same count the other way: `days_since(
//!   profile.last_order_on) > 90`.
//! - `hours_until(date)`, `hours_since(date)`: whole hours between now and
//!   the moment, truncated toward zero (59 minutes is 0):
//!   `hours_until(profile.sale_ends_at) < 24`.
//! - `number` filter: thousands grouping, `{{ profile.points | number }}` →
//!   `12,480`. Optional arguments: separator, decimals, decimal mark.
//!   `number(".")` → `12.480`, `number(" ", 2)` → `12 480,00` (the decimal
//!   mark is `,` when the separator is `.` or a space), `number(",", 1, ".")`.
//! - `date` filter: strftime-style formatting in the recipient's zone,
//!   `{{ profile.renews_on | date("%d %B %Y") }}` → `14 March 2025`; default
//!   format `%Y-%m-%d`. Month and day names are English.
//! - `feed.NAME`: the items of a configured product feed, a list of maps
//!   (`docs/feeds.md`); `feed_item('NAME', ID)`: the item whose key is ID,
//!   looked up, or undefined: `{{ feed_item('products', profile.last_sku).title }}`.
//! - minijinja's built-ins, among them `default`
//!   (`{{ profile.first_name | default("there") }}`), `upper`, `title`,
//!   `round`, `length`, `urlencode` for links
//!   (`https://example.com/?email={{ profile.email | urlencode }}`), and the
//!   tests `defined`, `none`, `number`, `string`.
//!
//! Any other filter, test or function is refused when the condition or text
//! is compiled, with where it is and the closest name the environment has
//! (`names.rs`), rather than failing at every open that reaches it.
//!
//! # Undefined values and limits
//!
//! An undefined value prints as an empty string, and attribute access on it
//! gives another undefined value (`profile.missing.deeper is defined` is
//! false, not an error). Texts are not HTML-escaped: they become pixels and
//! links. One evaluation may run [`FUEL`] instructions, nest
//! [`RECURSION_LIMIT`] deep and print [`MAX_TEXT_BYTES`]; beyond that it
//! fails with [`ExprError::Eval`].

mod condition;
mod context;
mod dates;
mod device;
mod environment;
mod error;
mod feed;
mod fields;
mod memo;
mod names;
mod now;
mod number;
mod opener;
mod profile;
mod secret;
mod text;
mod words;

#[cfg(test)]
mod tests;

pub use condition::Condition;
pub use context::{Context, RequestFacts};
pub use dates::DEFAULT_DATE_FORMAT;
pub use device::Device;
pub use environment::{FUEL, RECURSION_LIMIT};
pub use error::ExprError;
pub use feed::{FEED_ROOT, FeedItems, FeedSet};
pub use names::{FieldRead, SourceForm, fields_read, secrets_named};
pub use now::{Now, TIME_ZONE_FIELD};
pub use number::group_thousands;
pub use opener::{Opener, OpenerRequest, OpenerRules, OpenerRulesError, classify};
pub use profile::profile_value;
pub use secret::SECRETS_NAME;
pub use text::{MAX_TEXT_BYTES, TextId, TextSet};
