//! Recipient tokens and signed URLs: HMAC-SHA256, constant-time checks, key
//! rotation, and bulk signing of CSV files.
//!
//! Everything here is a contract with emails already sent: a token or a
//! signature in a delivered email must keep verifying for as long as its key
//! is configured. The formats below never change; a new format would get a
//! new version in its domain prefix (`v2`) and verify beside the old one.
//!
//! # Keys
//! A [`KeyRing`] holds the secrets of `OPENTIME_SIGNING_KEYS`, each at least
//! [`MIN_KEY_LEN`] bytes, used as raw bytes (the UTF-8 of the configured
//! text). The first key signs; every key verifies, so keys rotate by putting a
//! new key first and removing the old one once its emails no longer matter.
//!
//! # Recipient token `t`
//! ```text
//! t   = base64url(id) "." base64url(tag)
//! tag = first 16 bytes of HMAC-SHA256(key, "opentime/t/v1\n" || id)
//! ```
//! `id` is the recipient id as UTF-8 bytes, `\n` is the byte 0x0A, and
//! base64url is RFC 4648 §5 without `=` padding. One token per recipient
//! serves every URL, and signing is deterministic, so an email platform can
//! store the token once as a profile attribute and merge it into every URL.
//! The id is encoded, not encrypted: anyone holding the URL can read it, so
//! ids should be opaque (a CRM id or a hash), never an email address. A token
//! is refused ([`AccessError::BadToken`]) if it is longer than
//! [`MAX_TOKEN_LEN`], has no `.`, is not canonical base64url, has a tag of the
//! wrong length, names an id that [`RecipientId::new`] refuses, or was not
//! signed by any configured key.
//!
//! [`RecipientId::new`]: crate::recipient::RecipientId::new
//!
//! # Signed URL `s`
//! ```text
//! s       = base64url(first 16 bytes of HMAC-SHA256(key, message))
//! message = "opentime/s/v1\n" || canonical_path || "\n" || canonical_query
//! ```
//! - `canonical_path` is the URL's path without host or query
//!   (`/i/sale.gif`), percent-decoded and re-encoded so that only
//!   `A-Z a-z 0-9 - . _ ~ /` stay as they are; a plain path is unchanged.
//! - `canonical_query` takes every query pair except `s` and `t`, decoded
//!   as `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte),
//!   percent-encodes key and value as UTF-8 keeping only `A-Z a-z 0-9 - . _ ~`
//!   (every other byte becomes `%XX`, upper-case hex; a space is `%20`),
//!   sorts the pairs by encoded key then encoded value in byte order, writes
//!   each as `key=value` and joins them with `&`. No pairs give an empty
//!   string. `t` is left out on purpose: a marketer signs a campaign URL once
//!   (a countdown deadline, say) and the email platform then appends each
//!   recipient's `t`.
//!
//! The host is not signed. A request must carry exactly one `s`.
//! [`KeyRing::sign_url_string`] signs a pasted URL, as `opentime sign --url`.
//!
//! For `https://img.example.com/i/sale.gif?until=2026-12-01T00:00:00Z&campaign=bf`
//! the message is these bytes (with real newlines for `\n`):
//! ```text
//! opentime/s/v1\n/i/sale.gif\ncampaign=bf&until=2026-12-01T00%3A00%3A00Z
//! ```
//! and in Python, for instance, the same signature is:
//! ```python
//! from urllib.parse import quote, unquote_to_bytes
//! import base64, hashlib, hmac
//! enc = lambda x: quote(x, safe="")
//! pairs = sorted((enc(k), enc(v)) for k, v in query if k not in ("s", "t"))
//! canonical = "&".join(k + "=" + v for k, v in pairs)
//! message = ("opentime/s/v1\n" + quote(unquote_to_bytes(path), safe="/")
//!            + "\n" + canonical).encode()
//! tag = hmac.new(key, message, hashlib.sha256).digest()[:16]
//! s = base64.urlsafe_b64encode(tag).rstrip(b"=").decode()
//! ```
//! The test vectors in this module's tests pin both formats.
//!
//! # Bulk signing
//! [`KeyRing::sign_csv`] adds a token column to a CSV of recipients, row by
//! row in constant memory; an invalid id stops it with the line number.
//!
//! # Secrets
//! Secrets are turned into HMAC states when the ring is built and never
//! stored, printed, logged or put in an error. Errors never hold a token or a
//! recipient id either.

mod admin;
mod bulk_csv;
mod error;
mod form;
mod keyring;
mod signed_url;
mod token;

#[cfg(test)]
mod test_vectors;

pub use admin::{ADMIN_SCOPES, MIN_ADMIN_TOKEN_LEN, check_admin_token};
pub use error::AccessError;
pub use form::{FORM_KEY_LIFETIME_SECONDS, FormKeyError};
pub use keyring::{DEMO_KEY, KeyRing, MIN_KEY_LEN};
pub use signed_url::{MAX_SIGNED_URL_LEN, UNSIGNED_PARAMS, canonical_path, canonical_query};
pub use token::MAX_TOKEN_LEN;
