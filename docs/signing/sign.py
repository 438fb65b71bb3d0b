"""opentime's recipient tokens, signed URLs and one-click unsubscribe
headers, made without the opentime binary (docs/signing.md).

Needs Python 3.8 or later and the `cryptography` package, 38 or later
(`pip install cryptography`, or Debian's python3-cryptography).

    OPENTIME_SIGNING_KEYS=... python3 sign.py --recipient cust-1042
    OPENTIME_SIGNING_KEYS=... python3 sign.py --url 'https://ot.example.com/i/sale.png?until=2026-12-01T00:00:00Z'
    OPENTIME_SIGNING_KEYS=... OPENTIME_PUBLIC_URL=https://ot.example.com \
        python3 sign.py --recipient cust-1042 --unsubscribe-headers --list offers

print what `opentime sign` prints for the same arguments.
"""
import argparse
import base64
import hashlib
import hmac
import os
import re
import unicodedata
from urllib.parse import parse_qsl, quote, quote_plus, unquote_to_bytes

from cryptography.hazmat.primitives.ciphers.aead import AESSIV


def recipient_token(key: bytes, recipient_id: str) -> str:
    """The token `t` of a recipient: "v2" and the id sealed with AES-SIV."""
    id_bytes = recipient_id.encode("utf-8")
    if not 1 <= len(id_bytes) <= 256 or any(
        unicodedata.category(c) == "Cc" for c in recipient_id
    ):
        raise ValueError("a recipient id is 1 to 256 bytes with no control characters")
    token_key = hmac.new(key, b"opentime/t/v2\n", hashlib.sha256).digest()
    sealed = AESSIV(token_key).encrypt(id_bytes, None)  # synthetic IV, then ciphertext
    return "v2" + base64url(sealed)


def sign_url(key: bytes, url: str) -> str:
    """The URL as written with `s=SIGNATURE` appended (an `s` already in it is
    replaced). `t` and the host are not signed: add `t` per recipient later."""
    url = url.strip()
    before_fragment, hash_mark, fragment = url.partition("#")
    base, _, query = before_fragment.partition("?")
    kept = "&".join(part for part in query.split("&") if not is_signature(part))
    signature = url_signature(key, path_of(base), parse_qsl(kept, keep_blank_values=True))
    return base + "?" + (kept + "&" if kept else "") + "s=" + signature + hash_mark + fragment


def url_signature(key: bytes, path: str, query: list) -> str:
    """The signature `s` of a path and its decoded query pairs."""
    pairs = sorted(
        (encode(name), encode(value)) for name, value in query if name not in ("s", "t")
    )
    canonical_query = "&".join(name + "=" + value for name, value in pairs)
    canonical_path = quote(unquote_to_bytes(path), safe="/")
    message = "opentime/s/v1\n" + canonical_path + "\n" + canonical_query
    return base64url(hmac.new(key, message.encode("ascii"), hashlib.sha256).digest()[:16])


def unsubscribe_headers(public_url: str, token: str, list_id: str = None) -> list:
    """The RFC 8058 one-click unsubscribe headers of an email to the token's
    recipient: leaving `list_id` (a topic), or all marketing without it."""
    url = public_url.rstrip("/") + "/u?t=" + form_encode(token)
    if list_id is not None:
        url += "&list=" + form_encode(list_id)
    return ["List-Unsubscribe: <" + url + ">", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"]


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode(text: str) -> str:
    """UTF-8, every byte but A-Z a-z 0-9 - . _ ~ as %XX."""
    return quote(text, safe="")


def form_encode(text: str) -> str:
    """As an HTML form writes a value: a space is +, * stays, ~ is %7E."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def is_signature(part: str) -> bool:
    pairs = parse_qsl(part, keep_blank_values=True)
    return bool(pairs) and pairs[0][0] == "s"


def path_of(base: str) -> str:
    """The path of a full URL, a scheme-relative URL (//host/...) or a path."""
    if "://" in base:
        scheme, rest = base.split("://", 1)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
            raise ValueError("the scheme before :// is malformed")
    elif base.startswith("//"):
        rest = base[2:]
    elif base.startswith("/"):
        return base
    else:
        raise ValueError("give a full URL (https://host/path?query) or a path starting with /")
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def signing_key() -> bytes:
    """The first of OPENTIME_SIGNING_KEYS, the key that signs."""
    keys = [k.strip() for k in re.split("[,\n]", os.environ.get("OPENTIME_SIGNING_KEYS", ""))]
    keys = [k for k in keys if k]
    if not keys:
        raise SystemExit("set OPENTIME_SIGNING_KEYS")
    return keys[0].encode("utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipient")
    parser.add_argument("--url")
    parser.add_argument("--unsubscribe-headers", action="store_true")
    parser.add_argument("--list")
    args = parser.parse_args()
    if args.recipient is not None:
        token = recipient_token(signing_key(), args.recipient)
        if args.unsubscribe_headers:
            print("\n".join(unsubscribe_headers(os.environ["OPENTIME_PUBLIC_URL"], token, args.list)))
        else:
            print(token)
    if args.url is not None:
        print(sign_url(signing_key(), args.url))
