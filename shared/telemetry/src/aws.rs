//! The AWS SDK for Rust, traced: every operation of a client built with
//! [`TracingInterceptor`] is a client span (X-Ray namespace `aws`, with the
//! operation, region and request id; OTel `rpc.*` attributes), and carries the
//! trace onward. Plus the SDK config this crate builds clients from (and takes
//! credentials from, where the environment has none: `sigv4`).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{
            context::{
                BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
                FinalizerInterceptorContextRef,
            },
            Intercept,
        },
        orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use tracing::{field::Empty, Span};

use aws_runtime::retries::classifiers::THROTTLING_ERRORS;

use crate::outgoing::trace_headers;

/// Loads the AWS SDK config from the environment, with a rustls/ring HTTPS client
/// (the SDK's default would compile a second TLS stack into every function). In Lambda
/// the credentials are the environment's: no network call.
pub async fn sdk_config() -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await
}

/// An SSM Parameter Store client whose calls are traced.
pub fn ssm_client(config: &SdkConfig) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::config::Builder::from(config)
        .interceptor(TracingInterceptor)
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

/// SDK interceptor that makes each operation a client span.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingInterceptor;

/// The operation's span, kept in the operation's config bag between hooks.
#[derive(Debug, Clone)]
struct OperationSpan(Span);

impl Storable for OperationSpan {
    type Storer = StoreReplace<Self>;
}

impl Intercept for TracingInterceptor {
    fn name(&self) -> &'static str {
        "TracingInterceptor"
    }

    // Not `read_before_execution`: a client interceptor runs that before the operation's
    // config (its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_default();
        // The client's region, as its config says (an endpoint URL need not name it).
        let region = cfg.load::<aws_types::region::Region>().map(|r| r.to_string());
        let span = tracing::info_span!(
            "aws-call",
            otel.name = %format!("{service}.{operation}"),
            otel.kind = "client",
            rpc.system = "aws-api",
            rpc.service = %service,
            rpc.method = %operation,
            cloud.region = Empty,
            aws.request_id = Empty,
            aws.error.code = Empty,
            aws.throttled = Empty,
            server.address = Empty,
            http.request.method = Empty,
            http.response.status_code = Empty,
        );
        if let Some(region) = region {
            span.record("cloud.region", region.as_str());
        }
        cfg.interceptor_state().store_put(OperationSpan(span));
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(OperationSpan(span)) = cfg.load::<OperationSpan>() else {
            return Ok(());
        };
        let request = context.request_mut();
        if let Some(host) = lambda_http::http::Uri::try_from(request.uri())
            .ok()
            .and_then(|u| u.host().map(str::to_owned))
        {
            span.record("server.address", host.as_str());
        }
        span.record("http.request.method", request.method());
        for (name, value) in trace_headers(span) {
            if let Ok(value) = value.to_str() {
                request
                    .headers_mut()
                    .insert(name.as_str().to_owned(), value.to_owned());
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(OperationSpan(span)) = cfg.load::<OperationSpan>().cloned() else {
            return Ok(());
        };
        // The bag's handle goes now, so the span ends with the operation.
        cfg.interceptor_state().unset::<OperationSpan>();
        match context.response() {
            Some(response) => {
                let status = response.status().as_u16();
                span.record("http.response.status_code", status);
                let request_id = ["x-amzn-requestid", "x-amz-request-id"]
                    .iter()
                    .find_map(|h| response.headers().get(*h));
                if let Some(request_id) = request_id {
                    span.record("aws.request_id", request_id);
                }
                if let Some(code) = error_code(response) {
                    span.record("aws.error.code", code.as_str());
                    // X-Ray's `throttle`: the codes the SDK's own retry classifier calls throttling.
                    let throttled = status == 429 || THROTTLING_ERRORS.contains(&code.as_str());
                    span.record("aws.throttled", throttled);
                } else if status == 429 {
                    span.record("aws.throttled", true);
                }
                if status >= 500 {
                    span.in_scope(|| tracing::error!(exception.type = "AwsServiceError", "AWS call failed with {status}"));
                }
            }
            None => {
                if let Some(Err(error)) = context.output_or_error() {
                    span.in_scope(|| tracing::error!(exception.type = "AwsDispatchError", exception.message = %error, "AWS call failed"));
                }
            }
        }
        Ok(())
    }
}

/// The AWS error code of an error response: the `x-amzn-errortype` header (JSON
/// protocols), else `"__type"` (JSON) or `<Code>` (XML) in a body already in memory.
fn error_code(response: &aws_smithy_runtime_api::http::Response) -> Option<String> {
    if response.status().as_u16() < 400 {
        return None;
    }
    let clean = |code: &str| {
        // `ThrottlingException:http://internal.amazon.com/…` and `com.amazonaws#Throttling`.
        let code = code.split(':').next().unwrap_or(code);
        code.rsplit('#').next().unwrap_or(code).trim().to_owned()
    };
    if let Some(header) = response.headers().get("x-amzn-errortype") {
        return Some(clean(header));
    }
    let body = std::str::from_utf8(response.body().bytes()?).ok()?;
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        return json
            .get("__type")
            .or_else(|| json.get("code"))
            .and_then(|v| v.as_str())
            .map(clean);
    }
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(clean(&body[start..end]))
}
