//! The benchmark's bare limit (`tools/bare-home`: lambda_http only) answers the home feed
//! exactly as home-activities does with the mock data: the same status, headers and JSON,
//! times aside (each process seeds its data relative to its own start). Otherwise the
//! benchmark's "against the bare limit" would compare different work.

use cruddur_tests::{events::home_activities_event, FunctionProcess, RuntimeApi, DEFAULT_TIMEOUT};
use serde_json::Value;

/// The API Gateway answer of `binary` to the home route's event.
async fn answer(binary: &str) -> anyhow::Result<Value> {
    let runtime = RuntimeApi::start().await;
    let _function = FunctionProcess::spawn(binary, &runtime, &[])?;
    let invocation = runtime
        .invoke_with_timeout(home_activities_event(), None, DEFAULT_TIMEOUT)
        .await?;
    Ok(invocation.json())
}

/// The feed with every time replaced by its offset from the first one (whole seconds).
fn times_relative(feed: &mut Value, origin: &mut Option<i64>) {
    match feed {
        Value::Array(items) => items.iter_mut().for_each(|i| times_relative(i, origin)),
        Value::Object(fields) => {
            for (name, value) in fields.iter_mut() {
                if name == "created_at" || name == "expires_at" {
                    let text = value.as_str().expect("a time is a string");
                    let at =
                        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                            .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
                            .unix_timestamp();
                    let origin = *origin.get_or_insert(at);
                    *value = Value::from(at - origin);
                } else {
                    times_relative(value, origin);
                }
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_bare_limit_answers_what_home_activities_answers() -> anyhow::Result<()> {
    let (bare, home) = (answer("bare-home").await?, answer("home-activities").await?);
    assert_eq!(bare["statusCode"], 200, "{bare}");
    assert_eq!(bare["statusCode"], home["statusCode"]);
    let headers = |answer: &Value| {
        let mut headers: Vec<(String, String)> = answer["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        headers.sort();
        headers
    };
    assert_eq!(headers(&bare), headers(&home));
    let body = |answer: &Value| -> Value {
        let mut feed = serde_json::from_str(answer["body"].as_str().expect("a text body")).expect("JSON");
        times_relative(&mut feed, &mut None);
        feed
    };
    let (bare_feed, home_feed) = (body(&bare), body(&home));
    assert_eq!(bare_feed.as_array().map(Vec::len), Some(3), "{bare_feed:#}");
    assert_eq!(bare_feed, home_feed);
    Ok(())
}
