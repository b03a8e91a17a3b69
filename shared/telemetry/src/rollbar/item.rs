//! A fault as a Rollbar item (pure: no I/O), following Rollbar's item schema
//! (`POST /api/1/item/`, `{"data": {...}}`).

use serde_json::{json, Value};

use crate::{
    model::{Exception, RequestLine, TraceContext},
    panics::frames,
};

/// Most frames of one trace.
const MAX_FRAMES: usize = 50;
/// Most characters of a message.
const MAX_MESSAGE_CHARS: usize = 1_024;
/// What stands for a scrubbed value.
pub const SCRUBBED: &str = "[scrubbed]";
/// Words that name a secret: the value next to them is scrubbed (beside the configured
/// body fields).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "credential",
    "credentials",
    "session",
    "cookie",
    "signature",
];

/// What every item of the process says of itself.
#[derive(Clone, Debug)]
pub struct ItemContext {
    /// `ROLLBAR_ENVIRONMENT`.
    pub environment: String,
    /// The function's version (Rollbar's `code_version`).
    pub code_version: String,
    /// The function's name (Rollbar's `server.host`).
    pub function_name: String,
    /// Field names whose values are scrubbed from messages (beside [`SECRET_WORDS`]).
    pub secret_fields: Vec<String>,
}

/// One fault of one invocation.
pub struct Fault<'a> {
    /// Its errors, in the order they happened (may be empty: a bare 5xx answer).
    pub exceptions: &'a [Exception],
    /// Its request, when it was an HTTP request.
    pub request: Option<&'a RequestLine>,
    /// Its trace.
    pub trace: &'a TraceContext,
    /// API Gateway's request id.
    pub correlation_id: Option<&'a str>,
}

/// The item's JSON: `{"data": {...}}`. `uuid` is the item's id (Rollbar deduplicates on
/// it); `timestamp` is in seconds since the epoch.
pub fn encode(fault: &Fault<'_>, context: &ItemContext, uuid: &str, timestamp: u64) -> Vec<u8> {
    let scrub = |text: &str| scrub(text, &context.secret_fields);
    let traces: Vec<Value> = fault
        .exceptions
        .iter()
        .rev()
        .map(|exception| trace(exception, &scrub))
        .collect();
    let body = match traces.len() {
        0 => {
            let (class, message) = match fault.request {
                Some(request) => ("HttpServerError", format!("answered {}", request.status)),
                None => ("Fault", "the invocation faulted".to_owned()),
            };
            json!({ "trace": { "frames": [], "exception": { "class": class, "message": message } } })
        }
        1 => json!({ "trace": traces[0] }),
        _ => json!({ "trace_chain": traces }),
    };
    let panicked = fault.exceptions.iter().any(|e| e.class == "Panic");
    let trace = fault.trace;
    let mut data = json!({
        "environment": context.environment,
        "level": if panicked { "critical" } else { "error" },
        "timestamp": timestamp,
        "code_version": context.code_version,
        "platform": "lambda",
        "language": "rust",
        "uuid": uuid,
        "body": body,
        "server": { "host": context.function_name },
        "notifier": { "name": "cruddur-telemetry", "version": env!("CARGO_PKG_VERSION") },
        "custom": {
            "xray_trace_id": trace.xray_trace_id,
            "trace_id": trace.trace_hex,
            "requestId": trace.request_id,
            "correlation_id": fault.correlation_id,
        },
    });
    if let Some(request) = fault.request {
        // The route template, never the path: path values may be personal (a handle).
        data["request"] = json!({ "method": request.method, "url": request.route });
    }
    serde_json::to_vec(&json!({ "data": data })).unwrap_or_default()
}

fn trace(exception: &Exception, scrub: &impl Fn(&str) -> String) -> Value {
    // Rollbar lists frames oldest call first; a backtrace prints the newest first.
    let mut frames: Vec<Value> = exception
        .stacktrace
        .as_deref()
        .map(|stack| frames(stack, MAX_FRAMES))
        .unwrap_or_default()
        .into_iter()
        .map(|frame| {
            let mut value = json!({
                "filename": frame.path.unwrap_or_else(|| "<unknown>".into()),
                "method": frame.label,
            });
            if let Some(line) = frame.line {
                value["lineno"] = json!(line);
            }
            value
        })
        .collect();
    frames.reverse();
    json!({
        "frames": frames,
        "exception": {
            "class": exception.class,
            "message": scrub(&exception.message).chars().take(MAX_MESSAGE_CHARS).collect::<String>(),
        },
    })
}

/// A random (version 4) UUID: an item's id, which Rollbar deduplicates on.
pub fn uuid_v4() -> String {
    let high = fastrand::u64(..);
    let low = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0x0fff,
        ((low >> 48) & 0x3fff) | 0x8000,
        low & 0xffff_ffff_ffff
    )
}

/// A message with everything that looks secret or personal replaced by [`SCRUBBED`]:
/// the value after a secret's name (`password=x`, `token: x`, `password is x`), bearer
/// tokens, URL userinfo and query values, AWS access key ids, JWTs, e-mail addresses
/// and long token-like strings.
pub fn scrub(text: &str, secret_fields: &[String]) -> String {
    let is_secret_word = |word: &str| {
        let word = word
            .trim_matches(|c: char| !c.is_alphanumeric() && c != '_' && c != '-')
            .to_ascii_lowercase();
        !word.is_empty() && (SECRET_WORDS.iter().any(|s| word.ends_with(s)) || secret_fields.contains(&word))
    };
    let words: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| words[p]);
        let before_previous = i.checked_sub(2).map(|p| words[p]);
        let after_name = previous
            .is_some_and(|p| (p.ends_with(':') || p.ends_with('=')) && is_secret_word(p))
            || (previous.is_some_and(|p| matches!(p, "is" | "was" | "=" | ":"))
                && before_previous.is_some_and(is_secret_word))
            || previous.is_some_and(|p| p.eq_ignore_ascii_case("bearer") || p.eq_ignore_ascii_case("basic"));
        out.push(if after_name {
            SCRUBBED.to_owned()
        } else {
            scrub_word(word, &is_secret_word)
        });
    }
    out.join(" ")
}

fn scrub_word(word: &str, is_secret_word: &impl Fn(&str) -> bool) -> String {
    let bare = word.trim_matches(|c: char| matches!(c, '"' | '\'' | ',' | '.' | ';' | '(' | ')'));
    // `key=value` / `key:value` with a secret's name.
    for separator in ['=', ':'] {
        if let Some((key, value)) = bare.split_once(separator) {
            if !value.is_empty() && !value.starts_with("//") && is_secret_word(key) {
                return word.replace(value, SCRUBBED);
            }
        }
    }
    // URLs: userinfo and query values.
    if let Some(scheme_end) = bare.find("://") {
        let (scheme, rest) = bare.split_at(scheme_end + 3);
        let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let authority = match authority.rsplit_once('@') {
            Some((_, host)) => format!("{SCRUBBED}@{host}"),
            None => authority.to_owned(),
        };
        let tail = match tail.split_once('?') {
            Some((path, _)) => format!("{path}?{SCRUBBED}"),
            None => tail.to_owned(),
        };
        return word.replace(bare, &format!("{scheme}{authority}{tail}"));
    }
    let looks_like = |prefix: &str, len: usize| {
        bare.len() == len
            && bare.starts_with(prefix)
            && bare.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    let jwt = bare.starts_with("eyJ") && bare.matches('.').count() == 2;
    let email = bare.contains('@') && bare.rsplit('@').next().is_some_and(|domain| domain.contains('.'));
    let token_like = bare.len() >= 32
        && bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-'));
    if looks_like("AKIA", 20) || looks_like("ASIA", 20) || jwt || email || token_like {
        return word.replace(bare, SCRUBBED);
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::TraceId;

    fn fields() -> Vec<String> {
        vec!["password".into(), "pin".into()]
    }

    #[test]
    fn uuids_are_version_4() {
        let uuid = uuid_v4();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!("89ab".contains(&uuid[19..20]), "{uuid}");
        assert_ne!(uuid, uuid_v4());
    }

    #[test]
    fn secrets_and_personal_data_are_scrubbed_from_messages() {
        for (text, expected) in [
            ("database password is hunter2", "database password is [scrubbed]"),
            ("password=hunter2 user=andrew", "password=[scrubbed] user=andrew"),
            ("token: abc123 then", "token: [scrubbed] then"),
            (
                "Authorization: Bearer abc.def",
                "Authorization: [scrubbed] [scrubbed]",
            ),
            ("pin=1234", "pin=[scrubbed]"),
            (
                "calling https://u:pw@example.com/x?sig=abc failed",
                "calling https://[scrubbed]@example.com/x?[scrubbed] failed",
            ),
            ("key AKIAIOSFODNN7EXAMPLE leaked", "key [scrubbed] leaked"),
            ("mail andrew@example.com now", "mail [scrubbed] now"),
            ("jwt eyJhbGciOi.eyJzdWIi.c2ln here", "jwt [scrubbed] here"),
            ("id 0123456789abcdef0123456789abcdef01", "id [scrubbed]"),
            (
                "connection refused (os error 111)",
                "connection refused (os error 111)",
            ),
            (
                "index out of bounds: the len is 3 but the index is 7",
                "index out of bounds: the len is 3 but the index is 7",
            ),
        ] {
            assert_eq!(scrub(text, &fields()), expected, "{text}");
        }
    }

    #[test]
    fn an_item_follows_rollbars_schema_and_names_the_trace() {
        let mut trace = TraceContext::new(TraceId::generate(), true, None);
        trace.request_id = Some("req-1".into());
        let exceptions = [Exception {
            class: "Panic".into(),
            message: "secret=s3cret went wrong".into(),
            stacktrace: Some(
                "   0: my_fn::handler\n             at ./src/handler.rs:12:5\n   1: main\n".into(),
            ),
        }];
        let request = RequestLine {
            method: "GET".into(),
            route: "/api/activities/home".into(),
            status: 500,
        };
        let context = ItemContext {
            environment: "production".into(),
            code_version: "7".into(),
            function_name: "home".into(),
            secret_fields: fields(),
        };
        let fault = Fault {
            exceptions: &exceptions,
            request: Some(&request),
            trace: &trace,
            correlation_id: Some("c-1"),
        };
        let item: Value = serde_json::from_slice(&encode(&fault, &context, "u-1", 1_700_000_000)).unwrap();
        let data = &item["data"];
        assert_eq!(data["level"], "critical");
        assert_eq!(data["environment"], "production");
        assert_eq!(data["code_version"], "7");
        assert_eq!(data["body"]["trace"]["exception"]["class"], "Panic");
        assert_eq!(
            data["body"]["trace"]["exception"]["message"],
            "secret=[scrubbed] went wrong"
        );
        assert_eq!(data["body"]["trace"]["frames"][1]["method"], "my_fn::handler");
        assert_eq!(data["body"]["trace"]["frames"][1]["lineno"], 12);
        assert_eq!(
            data["request"],
            json!({"method": "GET", "url": "/api/activities/home"})
        );
        assert_eq!(data["custom"]["xray_trace_id"], trace.xray_trace_id);
        assert_eq!(data["custom"]["requestId"], "req-1");
        assert_eq!(data["custom"]["correlation_id"], "c-1");
    }
}
