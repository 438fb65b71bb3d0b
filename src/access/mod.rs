//! Recipient tokens, signed URLs and click ids: AES-SIV and HMAC-SHA256,
//! constant-time checks, key rotation, and bulk signing of CSV files.
//!
//! Everything here is a contract with emails already sent: a token or a
//! signature in a delivered email must keep verifying for as long as its key
//! is configured. The formats below never change; a new format gets a new
//! version in its prefix (`v2`, `v3`) and verifies beside the old one, as
//! opaque tokens verify beside the first, readable ones.
//!
//! # Keys
//! A [`KeyRing`] holds the secrets of `OPENTIME_SIGNING_KEYS`, each at least
//! [`MIN_KEY_LEN`] bytes, used as raw bytes (the UTF-8 of the configured
//! text). The first key signs; every key verifies, so keys rotate by putting a
//! new key first and removing the old one once its emails no longer matter.
//!
//! # Recipient token `t`
//! ```text
//! t      = "v2" base64url(sealed)
//! sealed = AES-SIV-CMAC-256(token_key, id), no associated data: SIV || C
//! token_key = HMAC-SHA256(key, "opentime/t/v2\n")
//! ```
//! `id` is the recipient id as UTF-8 bytes, `\n` is the byte 0x0A, and
//! base64url is RFC 4648 §5 without `=` padding. AES-SIV is RFC 5297's
//! deterministic authenticated encryption: its 32-byte key is `token_key`
//! (the first 16 bytes key S2V's CMAC, the last 16 AES-CTR), and `sealed` is
//! the 16-byte synthetic IV followed by the ciphertext, as long as the id,
//! so a token is 2 + ⌈4 × (16 + len(id)) / 3⌉ bytes: 30 for `alice`, 365 for
//! the longest id (256 bytes). `v2` (the bytes 0x76 0x32) marks the
//! version; everything after it is base64url.
//!
//! With the key `opentime-test-vector-key` and the id `alice`, the bytes are
//! (hex, then the token):
//! ```text
//! token_key = 7eccc5b910ddd3614901be8e5525f903027264e450eb985a43aa6934e5bdc4e3
//! id        = 616c696365
//! sealed    = cf2a6ab54007d0db5bf4e48899d251a1 e782983ceb   (SIV, then C)
//! t         = v2zypqtUAH0Ntb9OSImdJRoeeCmDzr
//! ```
//!
//! One token per recipient serves every URL, and sealing is deterministic,
//! so an email platform can store the token once as a profile attribute and
//! merge it into every URL. That is also all it gives away: two equal
//! tokens name the same recipient, and a token's length follows its id's.
//! Nothing else of the id shows, so no URL, proxy log or forwarded email
//! reveals who it names, and changing any of its characters makes it
//! refused.
//!
//! A token is refused ([`AccessError::BadToken`], always the same error) if
//! it is longer than [`MAX_TOKEN_LEN`] (checked before anything else), does
//! not start with `v2`, is not canonical base64url, seals fewer than 1 or
//! more than 256 bytes, was not sealed by any configured key, or seals an
//! id that [`RecipientId::new`] refuses.
//!
//! In Python, for instance, with the `cryptography` package:
//! ```python
//! from cryptography.hazmat.primitives.ciphers.aead import AESSIV
//! import base64, hashlib, hmac
//! token_key = hmac.new(key, b"opentime/t/v2\n", hashlib.sha256).digest()
//! sealed = AESSIV(token_key).encrypt(id.encode(), None)
//! t = "v2" + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
//! ```
//!
//! ## Legacy tokens
//! Tokens made before opaque ones carry the id readably:
//! ```text
//! t   = base64url(id) "." base64url(tag)
//! tag = first 16 bytes of HMAC-SHA256(key, "opentime/t/v1\n" || id)
//! ```
//! They are never made for mail any more, but they verify, under every
//! configured key, while `legacy_tokens` is true (the default), so emails
//! already sent keep working; [`KeyRing::with_legacy_tokens`] turns them
//! off. The two formats cannot be confused: a legacy token always holds a
//! `.`, which an opaque one never does, so [`KeyRing::verify_token`] tells
//! them apart by that byte alone. A legacy token is refused if it has no
//! `.`, is not canonical base64url, has a tag of the wrong length, names an
//! id that [`RecipientId::new`] refuses, or was not signed by any configured
//! key. [`KeyRing::sign_recipient_legacy`] still makes them, for tests and
//! tools that check tokens already sent.
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
//! # Click id
//! A template with `click_id` (say `"ot_click"`) has its click's redirect
//! add `ot_click=ID` to the destination URL; the customer's backend sends
//! the id back with a conversion (`POST /api/v1/conversions`), which is
//! then credited to that click. The id seals what the click was:
//! ```text
//! id        = "c1" base64url(sealed)
//! sealed    = AES-SIV-CMAC-256(click_key, text), no associated data: SIV || C
//! click_key = HMAC-SHA256(key, "opentime/c/v1\n")
//! text      = at " " template " " e " " variant " " experiment " " arm " " recipient
//! ```
//! `at` is the click's time in Unix seconds, in decimal; `template`,
//! `variant`, `experiment` and `arm` are identifiers, `e` the email of a
//! sequence the click's URL named, and `recipient` the recipient id, last,
//! since it may hold spaces. `e`, `experiment` and `arm` are empty when the
//! click had none (experiment and arm are both empty or both not). `c1`
//! marks the version, as `v2` does a token's.
//!
//! The click key is its own key, derived from the same secret under its own
//! label, so a click id never opens as a token nor a token as a click id.
//! Like a token, a click id shows nothing of what it seals, least of all
//! the recipient id, to the customer's site, its analytics or its logs;
//! unlike a token, only opentime opens it: nobody else needs to make or
//! read one. The first key seals, every key opens, so a click id stays
//! good through a key rotation for as long as its key is configured.
//!
//! A click id is refused ([`AccessError::BadClickId`], always the same
//! error) if it is longer than [`MAX_CLICK_ID_LEN`], does not start with
//! `c1`, is not canonical base64url, was not sealed by any configured key,
//! or seals text that is not a click as above (a recipient id that
//! [`RecipientId::new`] refuses, a part holding anything but ASCII
//! letters, digits, `.`, `_` and `-`).
//!
//! With the key `opentime-test-vector-key`, the click of `alice` on the
//! `offer` variant of `renewal` at 1795428000 is:
//! ```text
//! click_key = 69ce179d1cc6454d114d240bb73892452d6499abdd9aa1276188e484ae652f6f
//! text      = "1795428000 renewal  offer   alice"
//! id        = c1vs7F9oY5P8Rx68Ut3gYrat6elLCi0X9GGnUqJKyQ1BzzrH6lvk_4u56FYYioBf_mtw
//! ```
//!
//! The test vectors in this module's tests pin every format: opaque and
//! legacy tokens, signed URLs and click ids.
//!
//! # Bulk signing
//! [`KeyRing::sign_csv`] adds a token column to a CSV of recipients, row by
//! row in constant memory; an invalid id stops it with the line number.
//!
//! # Secrets
//! Secrets are turned into HMAC states and token keys when the ring is built
//! and never stored, printed, logged or put in an error. Errors never hold a token or a
//! recipient id either.

mod admin;
mod bulk_csv;
mod click_id;
mod error;
mod form;
mod keyring;
mod legacy_token;
mod signed_url;
mod token;

#[cfg(test)]
mod test_vectors;

pub use admin::{ADMIN_SCOPES, MIN_ADMIN_TOKEN_LEN, check_admin_token};
pub use click_id::{ClickId, MAX_CLICK_ID_LEN};
pub use error::AccessError;
pub use form::{FORM_KEY_LIFETIME_SECONDS, FormKeyError};
pub use keyring::{DEMO_KEY, KeyRing, MIN_KEY_LEN};
pub use signed_url::{MAX_SIGNED_URL_LEN, UNSIGNED_PARAMS, canonical_path, canonical_query};
pub use token::MAX_TOKEN_LEN;
