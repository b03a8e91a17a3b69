//! The tower layer around each Lambda invocation: it opens the invocation span
//! with Lambda's trace identity, and after the response is posted hands the
//! invocation's telemetry to delivery.
//!
//! It wraps `lambda_runtime`'s whole service stack, whose innermost part posts the
//! response to the Runtime API; so everything after `inner.await` here runs after
//! the response and before the runtime asks for the next event (the process cannot
//! be frozen in between). This is the shape of `lambda_runtime::layers::OpenTelemetryLayer`;
//! we write our own because that layer starts a new trace instead of continuing
//! Lambda's (`Lambda-Runtime-Trace-Id`) and its flush hook is a blocking `Fn()`.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll},
    time::Instant,
};

use lambda_runtime::{LambdaInvocation, Service};
use tracing::{field::Empty, Instrument};

use crate::{
    hub::Hub,
    ids::{TraceHeader, TraceId},
    span::{TraceContext, INVOCATION_TARGET},
};

/// Tower layer that tells each invocation's story; added by [`crate::run_http`].
#[derive(Clone)]
pub struct InvocationLayer {
    hub: Arc<Hub>,
}

impl InvocationLayer {
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl<S> lambda_runtime::tower::Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            hub: self.hub.clone(),
            cold_start: true,
        }
    }
}

/// Tower service built by [`InvocationLayer`].
pub struct InvocationService<S> {
    inner: S,
    hub: Arc<Hub>,
    cold_start: bool,
}

impl<S> Service<LambdaInvocation> for InvocationService<S>
where
    S: Service<LambdaInvocation, Response = ()>,
    S::Future: 'static,
{
    type Response = ();
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), S::Error>>>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let received = Instant::now();
        let header = invocation
            .context
            .xray_trace_id
            .as_deref()
            .map(TraceHeader::parse);
        let (trace_id, parent, sampled) = match header {
            Some(Ok(h)) => (h.trace_id, h.parent, h.sampled.unwrap_or(true)),
            Some(Err(_)) | None => (TraceId::generate(), None, true),
        };
        let mut trace = TraceContext::new(trace_id, sampled, parent);
        trace.request_id = Some(invocation.context.request_id.clone());
        trace.function_arn = Some(invocation.context.invoked_function_arn.clone());
        trace.cold_start = std::mem::replace(&mut self.cold_start, false);
        let sample_rate = self.hub.config.debug_sample_rate;
        trace.debug_sampled = sample_rate > 0.0 && fastrand::f64() < sample_rate;
        let trace = Arc::new(trace);
        self.hub.set_current_trace(Some(trace.clone()));

        let span = tracing::info_span!(
            target: INVOCATION_TARGET,
            "invocation",
            faas.invocation_id = %invocation.context.request_id,
            faas.coldstart = trace.cold_start,
            cloud.resource_id = %invocation.context.invoked_function_arn,
            http.request.method = Empty,
            http.route = Empty,
            url.path = Empty,
            http.response.status_code = Empty,
        );
        if let Some(Err(error)) = header {
            span.in_scope(
                || tracing::warn!(%error, "invalid X-Ray trace header: this request starts a new trace"),
            );
        }
        #[cfg(feature = "logs")]
        if self.hub.config.log_event {
            let event = crate::logs::redacted_event(&invocation.body, &self.hub.config.redacted_headers);
            span.in_scope(|| tracing::info!(event = %event, "Lambda invocation event"));
        }
        let inner = {
            let _entered = span.enter();
            self.inner.call(invocation)
        };
        let hub = self.hub.clone();
        Box::pin(async move {
            let result = inner.instrument(span).await;
            // The invocation span is closed now (its last handle went with `instrument`).
            hub.finish_invocation(&trace, received).await;
            result
        })
    }
}
