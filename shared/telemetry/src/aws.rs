//! The AWS SDK for Rust, traced: every operation of a client built with
//! [`TracingInterceptor`] is a client span (X-Ray namespace `aws`, with the
//! operation, region and request id; OTel `rpc.*` attributes), and carries the
//! trace onward. Plus the SDK config this crate builds clients from.

use aws_config::SdkConfig;
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

use crate::outgoing::trace_headers;

pub use crate::secrets::sdk_config;

/// An SSM Parameter Store client whose calls are traced.
pub fn ssm_client(config: &SdkConfig) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::config::Builder::from(config)
        .interceptor(TracingInterceptor)
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

/// Reads a SecureString (decrypted) from SSM Parameter Store.
pub async fn read_parameter(client: &aws_sdk_ssm::Client, name: &str) -> Result<String, BoxError> {
    crate::secrets::read_parameter(client, name)
        .await
        .map_err(BoxError::from)
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
        let span = tracing::info_span!(
            "aws-call",
            otel.name = %format!("{service}.{operation}"),
            otel.kind = "client",
            rpc.system = "aws-api",
            rpc.service = %service,
            rpc.method = %operation,
            cloud.region = Empty,
            aws.request_id = Empty,
            server.address = Empty,
            http.request.method = Empty,
            http.response.status_code = Empty,
        );
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
            // Endpoints look like `ssm.us-east-1.amazonaws.com`: the region is the second label.
            if let Some(region) = host
                .split('.')
                .nth(1)
                .filter(|_| host.ends_with(".amazonaws.com"))
            {
                span.record("cloud.region", region);
            }
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
