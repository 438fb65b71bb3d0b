//! The admin API's routes, in one table: each path, its method, the scope
//! a token needs for it, and the call it makes. The dispatcher in
//! [`super`] and the scope check both read it, so a path is written once.

use hyper::Method;

pub use crate::access::ADMIN_SCOPES as SCOPES;

/// One call of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    RecipientEngagement,
    BulkEngagement,
    Import,
    RecipientGet,
    RecipientMerge,
    RecipientErase,
    RecipientPreferences,
    PreferencesExport,
    Tokens,
    WarmStart,
    WarmProgress,
    WarmCancel,
    TemplateList,
    TemplateGet,
    TemplatePut,
    TemplateDelete,
    TemplateEmbed,
    PoolSize,
    PoolAddCodes,
    FeedList,
    FeedRefresh,
    ExperimentStatus,
    ExperimentWinner,
    Conversions,
    Report,
}

/// A route: `path` segments after `/api/v1`, where `*` takes any one
/// segment (an id or a name), handed to the call in order.
pub struct Route {
    pub method: Method,
    pub path: &'static [&'static str],
    pub scope: &'static str,
    pub call: Call,
}

const fn route(
    method: Method,
    path: &'static [&'static str],
    scope: &'static str,
    call: Call,
) -> Route {
    Route {
        method,
        path,
        scope,
        call,
    }
}

/// Every route. Paths that share segments share a scope.
pub const ROUTES: &[Route] = &[
    route(
        Method::GET,
        &["recipients", "*", "engagement"],
        "engagement",
        Call::RecipientEngagement,
    ),
    route(
        Method::POST,
        &["engagement"],
        "engagement",
        Call::BulkEngagement,
    ),
    route(Method::POST, &["recipients"], "recipients", Call::Import),
    route(
        Method::GET,
        &["recipients", "*"],
        "recipients",
        Call::RecipientGet,
    ),
    route(
        Method::PATCH,
        &["recipients", "*"],
        "recipients",
        Call::RecipientMerge,
    ),
    route(
        Method::DELETE,
        &["recipients", "*"],
        "recipients",
        Call::RecipientErase,
    ),
    route(
        Method::GET,
        &["recipients", "*", "preferences"],
        "preferences",
        Call::RecipientPreferences,
    ),
    route(
        Method::GET,
        &["preferences", "export"],
        "preferences",
        Call::PreferencesExport,
    ),
    route(Method::POST, &["tokens"], "tokens", Call::Tokens),
    route(Method::POST, &["warm"], "warm", Call::WarmStart),
    route(Method::GET, &["warm", "*"], "warm", Call::WarmProgress),
    route(Method::DELETE, &["warm", "*"], "warm", Call::WarmCancel),
    route(Method::GET, &["templates"], "templates", Call::TemplateList),
    route(
        Method::GET,
        &["templates", "*"],
        "templates",
        Call::TemplateGet,
    ),
    route(
        Method::PUT,
        &["templates", "*"],
        "templates",
        Call::TemplatePut,
    ),
    route(
        Method::DELETE,
        &["templates", "*"],
        "templates",
        Call::TemplateDelete,
    ),
    route(
        Method::GET,
        &["templates", "*", "embed"],
        "templates",
        Call::TemplateEmbed,
    ),
    route(Method::GET, &["pools", "*"], "pools", Call::PoolSize),
    route(
        Method::POST,
        &["pools", "*", "codes"],
        "pools",
        Call::PoolAddCodes,
    ),
    route(
        Method::GET,
        &["experiments", "*"],
        "experiments",
        Call::ExperimentStatus,
    ),
    route(
        Method::POST,
        &["experiments", "*", "winner"],
        "experiments",
        Call::ExperimentWinner,
    ),
    route(Method::GET, &["feeds"], "feeds", Call::FeedList),
    route(
        Method::POST,
        &["feeds", "*", "refresh"],
        "feeds",
        Call::FeedRefresh,
    ),
    route(
        Method::POST,
        &["conversions"],
        "conversions",
        Call::Conversions,
    ),
    route(Method::GET, &["reports", "*"], "reports", Call::Report),
];

/// What the table says of a request's path.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'p> {
    /// No route has this path.
    NoPath,
    /// The path exists with other methods; `scope` guards it.
    NoMethod { scope: &'static str },
    /// The call, its scope, and the path's `*` segments in order.
    Call {
        call: Call,
        scope: &'static str,
        params: Vec<&'p str>,
    },
}

/// Looks a request up.
pub fn find<'p>(method: &Method, segments: &[&'p str]) -> Found<'p> {
    let mut found = Found::NoPath;
    for route in ROUTES {
        let Some(params) = matches(route.path, segments) else {
            continue;
        };
        if route.method == *method {
            return Found::Call {
                call: route.call,
                scope: route.scope,
                params,
            };
        }
        found = Found::NoMethod { scope: route.scope };
    }
    found
}

/// The `*` segments, if `segments` fits `path`.
fn matches<'p>(path: &[&str], segments: &[&'p str]) -> Option<Vec<&'p str>> {
    if path.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (pattern, segment) in path.iter().zip(segments) {
        if *pattern == "*" {
            params.push(*segment);
        } else if pattern != segment {
            return None;
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_names_a_known_scope_and_one_path_has_one_scope() {
        for route in ROUTES {
            assert!(SCOPES.contains(&route.scope), "{:?}", route.path);
            for other in ROUTES {
                if route.path == other.path {
                    assert_eq!(route.scope, other.scope, "{:?}", route.path);
                    assert!(
                        route.method != other.method || route.call == other.call,
                        "{:?} twice",
                        route.path
                    );
                }
            }
        }
    }

    #[test]
    fn paths_find_their_call_their_scope_or_nothing() {
        assert_eq!(
            find(&Method::GET, &["recipients", "alice", "engagement"]),
            Found::Call {
                call: Call::RecipientEngagement,
                scope: "engagement",
                params: vec!["alice"],
            }
        );
        assert_eq!(
            find(&Method::POST, &["recipients", "alice"]),
            Found::NoMethod {
                scope: "recipients"
            }
        );
        assert_eq!(find(&Method::GET, &["recipient"]), Found::NoPath);
        assert_eq!(find(&Method::GET, &[]), Found::NoPath);
    }
}
