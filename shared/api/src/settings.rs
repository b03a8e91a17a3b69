//! The edge's settings, read from the environment in one place ([`Settings::from_env`]).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `CRUDDUR_ALLOWED_ORIGIN` | the browser origin every answer names in `Access-Control-Allow-Origin` (`*` or `scheme://host[:port]`); the template sets it from its `AllowedOrigin` parameter | `*` |
//! | `CRUDDUR_LOCAL_USER` | local runs only: the handle of the user that requests without authorizer claims act as (`cargo lambda watch` has no authorizer); refused in a Lambda execution environment | none |
//! | `CRUDDUR_FRONT_PAGE_HANDLE` | the account whose home timeline anonymous visitors see | `andrewbrown` |
//!
//! # Why the local user cannot be switched on in the deployed stack
//!
//! Lambda sets `LAMBDA_TASK_ROOT` and `AWS_LAMBDA_INITIALIZATION_TYPE` in every execution
//! environment (and `AWS_EXECUTION_ENV` for managed runtimes). They are reserved: a
//! function's configuration cannot set or unset them. `cargo lambda watch` sets neither (it
//! sets `AWS_LAMBDA_FUNCTION_NAME`, `_VERSION`, `_MEMORY_SIZE`, `AWS_LAMBDA_RUNTIME_API`,
//! `AWS_LAMBDA_MAX_CONCURRENCY` and the variables you give it). So when any of the three is
//! present, `CRUDDUR_LOCAL_USER` is ignored (one WARN line says so) and callers come from
//! the authorizer alone. `sam local` runs the functions in Lambda's own images, which set
//! `LAMBDA_TASK_ROOT` too: there, use events that carry authorizer claims.

use std::sync::OnceLock;

use domain::Handle;

use crate::caller::Caller;

/// The allowed origin's variable.
pub const CRUDDUR_ALLOWED_ORIGIN: &str = "CRUDDUR_ALLOWED_ORIGIN";
/// The allowed origin when none is set: any.
pub const CRUDDUR_ALLOWED_ORIGIN_DEFAULT: &str = "*";
/// The local user's variable.
pub const CRUDDUR_LOCAL_USER: &str = "CRUDDUR_LOCAL_USER";
/// The front page account's variable.
pub const CRUDDUR_FRONT_PAGE_HANDLE: &str = "CRUDDUR_FRONT_PAGE_HANDLE";
/// The front page account when none is set: the seed app's home feed is Andrew Brown's.
pub const CRUDDUR_FRONT_PAGE_HANDLE_DEFAULT: &str = "andrewbrown";
/// The reserved variables Lambda sets in every execution environment (any one of them
/// marks one) and `cargo lambda watch` does not.
pub const LAMBDA_ENVIRONMENT_MARKERS: &[&str] = &[
    "LAMBDA_TASK_ROOT",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_EXECUTION_ENV",
];
/// The prefix of a local user's id (`enduser.id`): `local:<handle>`, never a Cognito `sub`.
pub const LOCAL_USER_ID_PREFIX: &str = "local:";

/// What the edge reads from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `Access-Control-Allow-Origin` of every answer.
    pub allowed_origin: String,
    /// Who requests without authorizer claims act as: a local run's user, never set in a
    /// Lambda execution environment.
    pub local_user: Option<Caller>,
    /// The account whose home timeline anonymous visitors see.
    pub front_page: Handle,
    /// What was wrong with the environment, logged once as WARN lines.
    pub problems: Vec<String>,
}

impl Settings {
    /// The settings from the process's environment.
    pub fn from_env() -> Settings {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from `lookup` (a variable's value by name).
    ///
    /// A value that cannot be used is replaced by its default and noted in
    /// [`Settings::problems`]; `CRUDDUR_LOCAL_USER` is refused (noted too) in a Lambda
    /// execution environment ([`LAMBDA_ENVIRONMENT_MARKERS`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Settings {
        let mut problems = Vec::new();
        let allowed_origin = match lookup(CRUDDUR_ALLOWED_ORIGIN).filter(|v| !v.trim().is_empty()) {
            Some(origin) if valid_origin(&origin) => origin,
            Some(origin) => {
                problems.push(format!(
                    "{CRUDDUR_ALLOWED_ORIGIN}={origin:?} is not `*` nor scheme://host[:port]: \
                     answering {CRUDDUR_ALLOWED_ORIGIN_DEFAULT:?}"
                ));
                CRUDDUR_ALLOWED_ORIGIN_DEFAULT.to_owned()
            }
            None => CRUDDUR_ALLOWED_ORIGIN_DEFAULT.to_owned(),
        };
        let front_page = match lookup(CRUDDUR_FRONT_PAGE_HANDLE).filter(|v| !v.trim().is_empty()) {
            Some(value) => Handle::parse(&value).unwrap_or_else(|_| {
                problems.push(format!(
                    "{CRUDDUR_FRONT_PAGE_HANDLE}={value:?} is not a handle: using \
                     {CRUDDUR_FRONT_PAGE_HANDLE_DEFAULT:?}"
                ));
                default_front_page()
            }),
            None => default_front_page(),
        };
        let local_user = lookup(CRUDDUR_LOCAL_USER)
            .filter(|v| !v.trim().is_empty())
            .and_then(|value| {
                if let Some(marker) = LAMBDA_ENVIRONMENT_MARKERS.iter().find(|m| lookup(m).is_some()) {
                    problems.push(format!(
                        "{CRUDDUR_LOCAL_USER} is ignored: this is a Lambda execution environment \
                         ({marker} is set), where callers come from the authorizer alone"
                    ));
                    return None;
                }
                match Handle::parse(&value) {
                    Ok(handle) => Some(Caller::new(format!("{LOCAL_USER_ID_PREFIX}{handle}"), handle)),
                    Err(_) => {
                        problems.push(format!("{CRUDDUR_LOCAL_USER}={value:?} is not a handle: ignored"));
                        None
                    }
                }
            });
        Settings {
            allowed_origin,
            local_user,
            front_page,
            problems,
        }
    }

    /// The process's settings: read from the environment at the first call (inside the
    /// first invocation, so that its problems are logged, once, in that story).
    pub fn global() -> &'static Settings {
        // Build-once values from the environment, as the telemetry's resource is: a
        // OnceLock, never written again.
        static SETTINGS: OnceLock<Settings> = OnceLock::new();
        SETTINGS.get_or_init(|| {
            let settings = Settings::from_env();
            for problem in &settings.problems {
                tracing::warn!(problem = %problem, "edge settings: {problem}");
            }
            settings
        })
    }
}

fn default_front_page() -> Handle {
    Handle::parse(CRUDDUR_FRONT_PAGE_HANDLE_DEFAULT).expect("the default front page is a handle")
}

/// `*`, or `http(s)://host[:port]` with no path (what a browser sends as `Origin`).
fn valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = rest.split_once(':').unwrap_or((rest, "1"));
    !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults() {
        let defaults = settings(&[]);
        assert_eq!(defaults.allowed_origin, "*");
        assert_eq!(defaults.local_user, None);
        assert_eq!(defaults.front_page.as_str(), "andrewbrown");
        assert!(defaults.problems.is_empty());
    }

    #[test]
    fn the_allowed_origin_is_any_or_one_origin() {
        for origin in ["*", "https://cruddur.example.com", "http://localhost:3000"] {
            let read = settings(&[(CRUDDUR_ALLOWED_ORIGIN, origin)]);
            assert_eq!((read.allowed_origin.as_str(), read.problems.len()), (origin, 0));
        }
        for origin in [
            "cruddur.example.com",
            "https://a.example/path",
            "https://a b",
            "http://x:",
        ] {
            let read = settings(&[(CRUDDUR_ALLOWED_ORIGIN, origin)]);
            assert_eq!(read.allowed_origin, "*", "{origin}");
            assert_eq!(read.problems.len(), 1, "{origin}");
        }
    }

    #[test]
    fn a_local_user_acts_outside_lambda_only() {
        let local = settings(&[(CRUDDUR_LOCAL_USER, "@worf"), ("AWS_LAMBDA_FUNCTION_NAME", "x")]);
        let user = local.local_user.unwrap();
        assert_eq!((user.id(), user.handle().as_str()), ("local:worf", "worf"));
        for marker in LAMBDA_ENVIRONMENT_MARKERS {
            let deployed = settings(&[(CRUDDUR_LOCAL_USER, "worf"), (marker, "x")]);
            assert_eq!(deployed.local_user, None, "{marker}");
            assert!(deployed.problems[0].contains(marker), "{:?}", deployed.problems);
        }
        let invalid = settings(&[(CRUDDUR_LOCAL_USER, "not a handle")]);
        assert_eq!(invalid.local_user, None);
        assert_eq!(invalid.problems.len(), 1);
    }

    #[test]
    fn the_front_page_is_a_handle() {
        assert_eq!(
            settings(&[(CRUDDUR_FRONT_PAGE_HANDLE, "@worf")])
                .front_page
                .as_str(),
            "worf"
        );
        let invalid = settings(&[(CRUDDUR_FRONT_PAGE_HANDLE, "a-b")]);
        assert_eq!(invalid.front_page.as_str(), "andrewbrown");
        assert_eq!(invalid.problems.len(), 1);
    }
}
