//! A link keeps the host its template fixes: what a template author wrote
//! between `https://` and the path decides where a click may go, whatever
//! the state or the query fill in. `https://{{ query.sub }}.example.com/`
//! may become `https://spring.example.com/`, never
//! `https://evil.com/.example.com/`.

/// Whether `url` (resolved) keeps the host that `source` (the link's text)
/// fixes. A text whose host is all expression (`{{ profile.portal }}`)
/// fixes none, and any host passes; its value comes from the customer's
/// own systems.
pub fn keeps_host(source: &str, url: &str) -> bool {
    let Some(pattern) = host_pattern(source) else {
        return true;
    };
    let Some(host) = host_of(url) else {
        return false;
    };
    matches(&pattern, host.as_bytes())
}

/// One piece of a host pattern: written out, or filled in at click time.
#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Filled,
}

/// The pieces of the host `source` writes, if it writes a scheme first.
fn host_pattern(source: &str) -> Option<Vec<Piece>> {
    let lower = source.trim_start().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        let opens = rest[index..].starts_with("{{") || rest[index..].starts_with("{%");
        if opens {
            let close = if rest[index..].starts_with("{{") {
                "}}"
            } else {
                "%}"
            };
            let end = rest[index + 2..]
                .find(close)
                .map_or(rest.len(), |at| index + 2 + at + 2);
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            if pieces.last() != Some(&Piece::Filled) {
                pieces.push(Piece::Filled);
            }
            while chars.peek().is_some_and(|(next, _)| *next < end) {
                chars.next();
            }
            continue;
        }
        if matches!(c, '/' | '?' | '#' | '\\') {
            break;
        }
        literal.push(c);
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    // A host that is all expression fixes nothing.
    let fixes = pieces.iter().any(|piece| match piece {
        Piece::Literal(text) => text.contains(|c: char| c.is_ascii_alphanumeric()),
        Piece::Filled => false,
    });
    fixes.then_some(pieces)
}

/// The host (and port) of an absolute URL, without its user info, in
/// lowercase, as a browser would read it.
fn host_of(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (!host.is_empty()).then(|| host.to_string())
}

/// Whether `host` is the pattern: its literals in order, and in between
/// what a filled-in piece may hold (letters, digits, `-`, `.`, `:`).
fn matches(pattern: &[Piece], host: &[u8]) -> bool {
    match pattern.split_first() {
        None => host.is_empty(),
        Some((Piece::Literal(text), rest)) => host
            .strip_prefix(text.as_bytes())
            .is_some_and(|after| matches(rest, after)),
        Some((Piece::Filled, rest)) => (0..=host.len()).any(|taken| {
            let (filled, after) = host.split_at(taken);
            filled
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'))
                && matches(rest, after)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_in_label_cannot_move_the_link_to_another_host() {
        let source = "https://{{ query.sub }}.example.com/offers?c={{ query.c }}";
        assert!(keeps_host(source, "https://spring.example.com/offers?c=x"));
        assert!(keeps_host(
            source,
            "https://a.b.example.com/offers?c=evil.com"
        ));
        for evil in [
            "https://evil.com/.example.com/offers",
            "https://evil.com?.example.com/offers",
            "https://evil.com#.example.com/offers",
            "https://evil.com\\.example.com/offers",
            "https://example.com.evil.com/offers",
            "javascript:alert(1)",
        ] {
            assert!(!keeps_host(source, evil), "{evil}");
        }
    }

    #[test]
    fn a_written_out_host_must_stay_exactly() {
        let source = "https://shop.example.com/cart/{{ profile.cart }}";
        assert!(keeps_host(source, "https://shop.example.com/cart/42"));
        assert!(keeps_host(source, "https://SHOP.example.com/cart/42"));
        assert!(!keeps_host(source, "https://shop.example.com.evil.com/"));
        assert!(!keeps_host(source, "https://user@evil.com/"));
        // The user-info trick keeps the real host visible to a browser.
        assert!(keeps_host(source, "https://x@shop.example.com/cart/1"));
    }

    #[test]
    fn a_host_that_is_all_expression_fixes_nothing() {
        assert!(keeps_host(
            "{{ profile.portal }}/renew",
            "https://anything.example/renew"
        ));
        assert!(keeps_host(
            "https://{{ profile.host }}/x",
            "https://anything.example/x"
        ));
    }
}
