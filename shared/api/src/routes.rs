//! The route table, written once: every API route's method, path, function binary and
//! who may call it ([`ROUTES`]), and the old paths that moved ([`MOVED`]).
//!
//! Each function checks requests against its own row; the tests derive their
//! expectations from it; a test holds `template.yaml` (and the REST API the SAM translator
//! makes of it) against it. Nothing else lists the routes.
//!
//! The paths are API Gateway's (REST API) path templates, so they obey its rules
//! ([`path_problems`]): a parameter is a whole path part, and siblings hold at most one
//! parameter. Cruddur's `/api/activities/@{handle}` and `/api/messages/@{handle}` broke
//! both; a `{handle}` value may still carry Cruddur's leading `@` (the domain strips it),
//! so `/api/messages/@bayko` works as it did, and `/api/activities/@bayko` answers where it
//! moved.

use lambda_http::http::Method;

use crate::route::{Access, Route};

/// `GET /api/activities/home`: the home feed.
pub const HOME_ACTIVITIES: Route = Route::new(
    Method::GET,
    "/api/activities/home",
    "home-activities",
    Access::Anyone,
);
/// `GET /api/activities/notifications`: the caller's notifications.
pub const NOTIFICATIONS_ACTIVITIES: Route = Route::new(
    Method::GET,
    "/api/activities/notifications",
    "notifications-activities",
    Access::SignedIn,
);
/// `GET /api/activities/search?term=`: activities matching a term.
pub const SEARCH_ACTIVITIES: Route = Route::new(
    Method::GET,
    "/api/activities/search",
    "search-activities",
    Access::Anyone,
);
/// `POST /api/activities`: the caller posts an activity.
pub const CREATE_ACTIVITY: Route = Route::new(
    Method::POST,
    "/api/activities",
    "create-activity",
    Access::SignedIn,
);
/// `GET /api/activities/{activity_uuid}`: one activity with its replies.
pub const SHOW_ACTIVITY: Route = Route::new(
    Method::GET,
    "/api/activities/{activity_uuid}",
    "show-activity",
    Access::Anyone,
);
/// `POST /api/activities/{activity_uuid}/reply`: the caller replies to an activity.
pub const CREATE_REPLY: Route = Route::new(
    Method::POST,
    "/api/activities/{activity_uuid}/reply",
    "create-reply",
    Access::SignedIn,
);
/// `GET /api/users/{handle}/activities`: one user's activities.
pub const USER_ACTIVITIES: Route = Route::new(
    Method::GET,
    "/api/users/{handle}/activities",
    "user-activities",
    Access::Anyone,
);
/// `GET /api/message_groups`: the caller's conversations.
pub const MESSAGE_GROUPS: Route = Route::new(
    Method::GET,
    "/api/message_groups",
    "message-groups",
    Access::SignedIn,
);
/// `GET /api/messages/{handle}`: the caller's conversation with one user.
pub const MESSAGES: Route = Route::new(
    Method::GET,
    "/api/messages/{handle}",
    "messages",
    Access::SignedIn,
);
/// `POST /api/messages`: the caller sends a direct message.
pub const CREATE_MESSAGE: Route =
    Route::new(Method::POST, "/api/messages", "create-message", Access::SignedIn);
/// `GET /api/health-check`: whether the service is up.
pub const HEALTH_CHECK: Route = Route::new(Method::GET, "/api/health-check", "health-check", Access::Anyone);

/// Every route, one function each, in DESIGN.md's order.
pub const ROUTES: &[Route] = &[
    HOME_ACTIVITIES,
    NOTIFICATIONS_ACTIVITIES,
    SEARCH_ACTIVITIES,
    CREATE_ACTIVITY,
    SHOW_ACTIVITY,
    CREATE_REPLY,
    USER_ACTIVITIES,
    MESSAGE_GROUPS,
    MESSAGES,
    CREATE_MESSAGE,
    HEALTH_CHECK,
];

/// An old path that moved: requests for it answer 404 `route_moved`, naming the new path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The method it moved for.
    pub method: Method,
    /// The old path template (Cruddur's, not deployable: e.g. `/api/activities/@{handle}`).
    pub from: &'static str,
    /// The route it moved to; its parameters take the old path's values.
    pub to: Route,
}

/// The paths that moved. (`/api/messages/@{handle}` did not: `/api/messages/{handle}`
/// takes the same URLs.)
pub const MOVED: &[Moved] = &[Moved {
    method: Method::GET,
    from: "/api/activities/@{handle}",
    to: USER_ACTIVITIES,
}];

/// The route served by the function `binary`.
pub fn by_binary(binary: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|route| route.binary() == binary)
}

/// What API Gateway (REST API) would refuse in a set of resource paths, one sentence each
/// (none: it accepts them):
///
/// - a path part is `[A-Za-z0-9._-]+`, or a whole-part variable `{name}` or greedy
///   `{name+}` ("Resource's path part only allow a-zA-Z0-9._- and curly braces at the
///   beginning and the end and an optional plus sign before the closing brace");
/// - among the children of one resource, at most one is a variable ("A sibling ({x}) of
///   this resource already has a variable path part -- only one is allowed").
///
/// ```
/// assert!(api::routes::path_problems(["/api/users/{handle}/activities"]).is_empty());
/// assert_eq!(api::routes::path_problems(["/api/activities/@{handle}"]).len(), 1);
/// assert_eq!(api::routes::path_problems(["/a/{x}", "/a/{y}/b"]).len(), 1);
/// ```
pub fn path_problems<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};

    let mut problems = Vec::new();
    // Each resource's variable children.
    let mut variables: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for path in paths {
        if !path.starts_with('/') {
            problems.push(format!("{path}: a resource path starts with /"));
            continue;
        }
        if path == "/" {
            continue;
        }
        let mut parent = String::new();
        for part in path.split('/').skip(1) {
            if !valid_path_part(part) {
                problems.push(format!(
                    "{path}: path part {part:?} is neither [A-Za-z0-9._-]+ nor a whole-part {{variable}}"
                ));
            }
            if part.starts_with('{') {
                variables.entry(parent.clone()).or_default().insert(part);
            }
            parent = format!("{parent}/{part}");
        }
    }
    for (parent, children) in variables {
        if children.len() > 1 {
            let parent = if parent.is_empty() { "/" } else { &parent };
            problems.push(format!(
                "{parent}: its children hold {} variables ({}); API Gateway allows one among siblings",
                children.len(),
                children.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    problems
}

/// API Gateway's rule for one path part.
fn valid_path_part(part: &str) -> bool {
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    match part.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) {
        Some(name) => {
            let name = name.strip_suffix('+').unwrap_or(name);
            !name.is_empty() && name.chars().all(name_char)
        }
        None => !part.is_empty() && part.chars().all(name_char),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_table_is_deployable_on_a_rest_api() {
        let problems = path_problems(ROUTES.iter().map(Route::template));
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn one_route_per_binary_and_per_method_and_path() {
        let binaries: BTreeSet<_> = ROUTES.iter().map(Route::binary).collect();
        assert_eq!(binaries.len(), ROUTES.len());
        let routes: BTreeSet<_> = ROUTES
            .iter()
            .map(|r| (r.method().as_str(), r.template()))
            .collect();
        assert_eq!(routes.len(), ROUTES.len());
        assert_eq!(by_binary("messages"), Some(&MESSAGES));
        assert_eq!(by_binary("nope"), None);
    }

    #[test]
    fn writes_and_the_callers_own_reads_are_signed_in() {
        let signed_in: BTreeSet<_> = ROUTES
            .iter()
            .filter(|r| r.access() == Access::SignedIn)
            .map(Route::binary)
            .collect();
        assert_eq!(
            signed_in,
            BTreeSet::from([
                "notifications-activities",
                "create-activity",
                "create-reply",
                "message-groups",
                "messages",
                "create-message",
            ])
        );
        assert!(ROUTES
            .iter()
            .filter(|r| r.method() == Method::POST)
            .all(|r| r.access() == Access::SignedIn));
    }

    #[test]
    fn the_old_forms_are_not_deployable_and_moved_to_routes_that_are() {
        for moved in MOVED {
            assert!(!path_problems([moved.from]).is_empty(), "{}", moved.from);
            assert!(ROUTES.contains(&moved.to));
        }
        assert_eq!(
            path_problems(["/api/messages/@{handle}"]),
            ["/api/messages/@{handle}: path part \"@{handle}\" is neither [A-Za-z0-9._-]+ nor a whole-part {variable}"]
        );
    }

    #[test]
    fn path_parts_follow_api_gateways_rule() {
        for ok in ["a", "A-z_0.9", "{x}", "{proxy+}", "{activity_uuid}"] {
            assert!(valid_path_part(ok), "{ok}");
        }
        for bad in ["", "@{handle}", "{a}b", "{}", "{+}", "a b", "a:b", "{a b}", "é"] {
            assert!(!valid_path_part(bad), "{bad}");
        }
    }

    #[test]
    fn one_variable_among_siblings() {
        let problems = path_problems(["/api/activities/{uuid}", "/api/activities/{handle}/x"]);
        assert_eq!(
            problems,
            ["/api/activities: its children hold 2 variables ({handle}, {uuid}); API Gateway allows one among siblings"]
        );
        assert!(path_problems(["/a/{x}", "/a/{x}/b", "/a/c", "/b/{y}"]).is_empty());
    }
}
