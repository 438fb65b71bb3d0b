// opentime's recipient tokens, signed URLs and one-click unsubscribe
// headers, made without the opentime binary (docs/signing.md).
//
// Needs Node.js 18 or later and @noble/ciphers 2 (npm install @noble/ciphers):
// node:crypto has HMAC-SHA256 but no AES-SIV.
//
//   OPENTIME_SIGNING_KEYS=... node sign.mjs --recipient cust-1042
//   OPENTIME_SIGNING_KEYS=... node sign.mjs --url 'https://ot.example.com/i/sale.png?until=2026-12-01T00:00:00Z'
//   OPENTIME_SIGNING_KEYS=... OPENTIME_PUBLIC_URL=https://ot.example.com \
//       node sign.mjs --recipient cust-1042 --unsubscribe-headers --list offers
//
// print what `opentime sign` prints for the same arguments.
import { createHmac } from "node:crypto";
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { aessiv } from "@noble/ciphers/aes.js";

/** The token `t` of a recipient: "v2" and the id sealed with AES-SIV. */
export function recipientToken(key, recipientId) {
  const id = Buffer.from(recipientId, "utf8");
  if (id.length < 1 || id.length > 256 || /\p{Cc}/u.test(recipientId)) {
    throw new Error("a recipient id is 1 to 256 bytes with no control characters");
  }
  const tokenKey = createHmac("sha256", key).update("opentime/t/v2\n").digest();
  const sealed = aessiv(tokenKey).encrypt(id); // synthetic IV, then ciphertext
  return "v2" + Buffer.from(sealed).toString("base64url");
}

/** The URL as written with `s=SIGNATURE` appended (an `s` already in it is
 * replaced). `t` and the host are not signed: add `t` per recipient later. */
export function signUrl(key, url) {
  url = url.trim();
  const hash = url.indexOf("#");
  const beforeFragment = hash < 0 ? url : url.slice(0, hash);
  const fragment = hash < 0 ? "" : url.slice(hash);
  const question = beforeFragment.indexOf("?");
  const base = question < 0 ? beforeFragment : beforeFragment.slice(0, question);
  const query = question < 0 ? "" : beforeFragment.slice(question + 1);
  const kept = query.split("&").filter((part) => !isSignature(part)).join("&");
  const signature = urlSignature(key, pathOf(base), parseQuery(kept));
  return base + "?" + (kept ? kept + "&" : "") + "s=" + signature + fragment;
}

/** The signature `s` of a path and its decoded query pairs. */
export function urlSignature(key, path, query) {
  const pairs = query
    .filter(([name]) => name !== "s" && name !== "t")
    .map(([name, value]) => [encode(utf8(name)), encode(utf8(value))])
    .sort((a, b) => compare(a[0], b[0]) || compare(a[1], b[1]));
  const canonicalQuery = pairs.map(([name, value]) => name + "=" + value).join("&");
  const canonicalPath = encode(percentDecode(path), "/");
  const message = "opentime/s/v1\n" + canonicalPath + "\n" + canonicalQuery;
  const tag = createHmac("sha256", key).update(message).digest().subarray(0, 16);
  return tag.toString("base64url");
}

/** The RFC 8058 one-click unsubscribe headers of an email to the token's
 * recipient: leaving `listId` (a topic), or all marketing without it. */
export function unsubscribeHeaders(publicUrl, token, listId) {
  let url = publicUrl.replace(/\/+$/, "") + "/u?t=" + formEncode(token);
  if (listId !== undefined) url += "&list=" + formEncode(listId);
  return ["List-Unsubscribe: <" + url + ">", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"];
}

const utf8 = (text) => Buffer.from(text, "utf8");
const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const hex = (byte) => "%" + byte.toString(16).toUpperCase().padStart(2, "0");

/** Every byte but A-Z a-z 0-9 - . _ ~ (and those in `keep`) as %XX. */
function encode(bytes, keep = "") {
  let out = "";
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(char) || keep.includes(char) ? char : hex(byte);
  }
  return out;
}

/** As an HTML form writes a value: a space is +, * stays, ~ is %7E. */
function formEncode(text) {
  let out = "";
  for (const byte of utf8(text)) {
    const char = String.fromCharCode(byte);
    out += char === " " ? "+" : /[A-Za-z0-9*\-._]/.test(char) ? char : hex(byte);
  }
  return out;
}

/** The bytes of `text` with every valid %XX decoded; anything else kept. */
function percentDecode(text) {
  const bytes = utf8(text);
  const out = [];
  for (let i = 0; i < bytes.length; i++) {
    const pair = String.fromCharCode(bytes[i + 1], bytes[i + 2]);
    if (bytes[i] === 0x25 && /^[0-9A-Fa-f]{2}$/.test(pair)) {
      out.push(parseInt(pair, 16));
      i += 2;
    } else {
      out.push(bytes[i]);
    }
  }
  return out;
}

/** Query pairs decoded as application/x-www-form-urlencoded. */
function parseQuery(query) {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const decode = (text) => decoder.decode(new Uint8Array(percentDecode(text.replaceAll("+", " "))));
  return query
    .split("&")
    .filter((part) => part !== "")
    .map((part) => {
      const equals = part.indexOf("=");
      return equals < 0 ? [decode(part), ""] : [decode(part.slice(0, equals)), decode(part.slice(equals + 1))];
    });
}

function isSignature(part) {
  const pairs = parseQuery(part);
  return pairs.length > 0 && pairs[0][0] === "s";
}

/** The path of a full URL, a scheme-relative URL (//host/...) or a path. */
function pathOf(base) {
  let rest;
  const scheme = base.indexOf("://");
  if (scheme >= 0) {
    if (!/^[A-Za-z][A-Za-z0-9+.-]*$/.test(base.slice(0, scheme))) {
      throw new Error("the scheme before :// is malformed");
    }
    rest = base.slice(scheme + 3);
  } else if (base.startsWith("//")) {
    rest = base.slice(2);
  } else if (base.startsWith("/")) {
    return base;
  } else {
    throw new Error("give a full URL (https://host/path?query) or a path starting with /");
  }
  const slash = rest.indexOf("/");
  return slash < 0 ? "/" : rest.slice(slash);
}

/** The first of OPENTIME_SIGNING_KEYS, the key that signs. */
function signingKey() {
  const keys = (process.env.OPENTIME_SIGNING_KEYS ?? "").split(/[,\n]/).map((k) => k.trim()).filter(Boolean);
  if (keys.length === 0) throw new Error("set OPENTIME_SIGNING_KEYS");
  return Buffer.from(keys[0], "utf8");
}

// Run as a program rather than imported by another module.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const { values } = parseArgs({
    options: {
      recipient: { type: "string" },
      url: { type: "string" },
      "unsubscribe-headers": { type: "boolean" },
      list: { type: "string" },
    },
  });
  if (values.recipient !== undefined) {
    const token = recipientToken(signingKey(), values.recipient);
    if (values["unsubscribe-headers"]) {
      console.log(unsubscribeHeaders(process.env.OPENTIME_PUBLIC_URL, token, values.list).join("\n"));
    } else {
      console.log(token);
    }
  }
  if (values.url !== undefined) console.log(signUrl(signingKey(), values.url));
}
