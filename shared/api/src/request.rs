//! Reading a request: its JSON body and its query parameters.

use lambda_http::{aws_lambda_events::query_map::QueryMap, Request, RequestExt};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::ApiError;

/// The largest body a function reads, in bytes (64 KiB); Cruddur's bodies are a few
/// hundred bytes (a message is at most 1024 characters).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads the request's body as JSON into `T`.
///
/// Fails with 413 `body_too_large` over [`MAX_BODY_BYTES`], and with 400
/// `body_invalid_json` when the body is missing or blank, is not JSON, or is JSON of
/// another shape than `T` (e.g. a number where a string is expected); the message says
/// which, and where (serde_json's line and column).
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = request.body();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::body_too_large(bytes.len()));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::body_invalid_json(
            "request body is missing: expected a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|error| {
        let problem = match error.classify() {
            Category::Data => "request body is JSON but not the expected object",
            Category::Io | Category::Syntax | Category::Eof => "request body is not valid JSON",
        };
        ApiError::body_invalid_json(format!("{problem}: {error}"))
    })
}

/// The first value of the query parameter `name`, if the request has it (percent-decoded).
///
/// Reads the parameters API Gateway parsed, or else the URI's query string.
pub fn query(request: &Request, name: &str) -> Option<String> {
    if let Some(parameters) = request.query_string_parameters_ref() {
        return parameters.first(name).map(str::to_owned);
    }
    let parameters: QueryMap = request.uri().query()?.parse().ok()?;
    parameters.first(name).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use lambda_http::{
        http::{self, StatusCode},
        Body,
    };
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Input {
        message: Option<String>,
    }

    fn with_body(body: Body) -> Request {
        http::Request::post("/api/activities").body(body).unwrap()
    }

    fn invalid(body: Body) -> ApiError {
        let error = json_body::<Input>(&with_body(body)).unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (StatusCode::BAD_REQUEST, "body_invalid_json")
        );
        error
    }

    #[test]
    fn reads_a_json_object_from_text_or_binary() {
        let expected = Input {
            message: Some("hi".into()),
        };
        let text = Body::Text(r#"{"message": "hi", "extra": 1}"#.into());
        assert_eq!(json_body::<Input>(&with_body(text)).unwrap(), expected);
        let binary = Body::Binary(br#"{"message":"hi"}"#.to_vec());
        assert_eq!(json_body::<Input>(&with_body(binary)).unwrap(), expected);
        let empty = Body::Text("{}".into());
        assert_eq!(
            json_body::<Input>(&with_body(empty)).unwrap(),
            Input { message: None }
        );
    }

    #[test]
    fn missing_or_blank_body_is_invalid_json() {
        for body in [Body::Empty, Body::Text(String::new()), Body::Text(" \n".into())] {
            assert_eq!(
                invalid(body).message,
                "request body is missing: expected a JSON object"
            );
        }
    }

    #[test]
    fn not_json_is_invalid_json_saying_where() {
        let error = invalid(Body::Text("message=hi".into()));
        assert_eq!(
            error.message,
            "request body is not valid JSON: expected value at line 1 column 1"
        );
        let error = invalid(Body::Text(r#"{"message": "hi""#.into()));
        assert!(
            error.message.starts_with("request body is not valid JSON: EOF"),
            "{}",
            error.message
        );
        let error = invalid(Body::Binary(vec![0xff, 0xfe]));
        assert!(
            error.message.starts_with("request body is not valid JSON"),
            "{}",
            error.message
        );
    }

    #[test]
    fn json_of_another_shape_is_invalid_json_saying_what() {
        let error = invalid(Body::Text(r#"{"message": 5}"#.into()));
        assert!(
            error
                .message
                .starts_with("request body is JSON but not the expected object: invalid type: integer `5`"),
            "{}",
            error.message
        );
        assert_eq!(invalid(Body::Text("[]".into())).code, "body_invalid_json");
        assert_eq!(invalid(Body::Text("null".into())).code, "body_invalid_json");
    }

    #[test]
    fn body_over_64_kib_is_too_large() {
        let at_limit = format!(r#"{{"message": "{}"}}"#, "a".repeat(MAX_BODY_BYTES - 15));
        assert_eq!(at_limit.len(), MAX_BODY_BYTES);
        assert!(json_body::<Input>(&with_body(Body::Text(at_limit.clone()))).is_ok());
        let over = at_limit.replacen('a', "aa", 1);
        let error = json_body::<Input>(&with_body(Body::Text(over))).unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
        );
        assert_eq!(
            error.message,
            "request body has 65537 bytes, more than the 65536 allowed"
        );
        // Too large is decided before parsing.
        let junk = Body::Binary(vec![b'x'; MAX_BODY_BYTES + 1]);
        assert_eq!(
            json_body::<Input>(&with_body(junk)).unwrap_err().code,
            "body_too_large"
        );
    }

    #[test]
    fn query_reads_the_first_value() {
        let request = http::Request::get("/api/activities/search?term=cloud%20fun&term=x")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(query(&request, "term").as_deref(), Some("cloud fun"));
        assert_eq!(query(&request, "other"), None);
        let request = http::Request::get("/api/activities/search")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(query(&request, "term"), None);
        let parsed: QueryMap = "term=prune".parse().unwrap();
        let request = request.with_query_string_parameters(parsed);
        assert_eq!(query(&request, "term").as_deref(), Some("prune"));
    }
}
