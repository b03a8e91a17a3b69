//! The metrics API route code calls, and its one global handle.
//!
//! Arrows: over capture (to find the invocation of the current span) and the EMF
//! encoder's [`MetricSet`](crate::emf::MetricSet); the http face and route code call it.
//!
//! A metric belongs to the invocation whose span is current where it is added, so
//! invocations running at once never mix their metrics; outside any span it goes
//! where a parentless log line would (see `capture::Sink::orphan_owner`). The
//! invocation layer writes each invocation's metrics as EMF after its response. A
//! name the EMF documents reserve (`service`, `requestId`, …) or CloudWatch refuses is
//! not recorded: a WARN line says why.

use std::sync::{Arc, OnceLock};

use crate::{
    capture::{current_owner, Sink},
    emf::{MetricError, MetricSet},
};

pub use crate::emf::Unit;

/// The process's sink, set once by `init`: route code adds metrics from anywhere
/// without threading a handle through the domain.
static SINK: OnceLock<Arc<dyn Sink>> = OnceLock::new();

/// Installs the handle the metrics API uses; `false` if one was installed already.
pub(crate) fn install(sink: Arc<dyn Sink>) -> bool {
    SINK.set(sink).is_ok()
}

/// Adds a value to a metric of the current invocation (standard resolution).
pub fn add_metric(name: &str, unit: Unit, value: f64) {
    record(|m| m.add(name, unit, value, false));
}

/// Adds a value to a high-resolution (1 second) metric of the current invocation.
pub fn add_high_resolution_metric(name: &str, unit: Unit, value: f64) {
    record(|m| m.add(name, unit, value, true));
}

/// Adds a dimension to the current invocation's own metrics (beside `service` and the
/// default dimensions; the built-in metrics keep theirs).
pub fn add_dimension(name: &str, value: &str) {
    record(|m| m.add_dimension(name, value));
}

/// Adds a key to the current invocation's EMF documents that is neither a metric nor a
/// dimension: searchable in CloudWatch Logs, free of metric cost (Powertools' `add_metadata`).
pub fn add_metadata(key: &str, value: impl Into<serde_json::Value>) {
    let value = value.into();
    record(|m| m.add_metadata(key, value));
}

/// Emits one metric with its own dimensions (and `service`), in a document of its own,
/// apart from the invocation's other metrics (Powertools' `single_metric`).
pub fn single_metric(name: &str, unit: Unit, value: f64, dimensions: &[(&str, &str)]) {
    record(|m| m.add_single(name, unit, value, dimensions));
}

fn record(f: impl FnOnce(&mut MetricSet) -> Result<(), MetricError>) {
    if let Some(Err(error)) = with_metrics(f) {
        tracing::warn!(%error, "metric not recorded");
    }
}

fn with_metrics<R>(f: impl FnOnce(&mut MetricSet) -> R) -> Option<R> {
    let owner = SINK.get().and_then(|sink| current_owner(sink.as_ref()))?;
    Some(owner.with_metrics(f))
}
