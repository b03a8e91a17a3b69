//! The metrics API route code calls, and its one global handle.
//!
//! Arrows: over capture (to find the invocation of the current span) and the EMF
//! encoder's [`MetricSet`](crate::emf::MetricSet); the http face and route code call it.
//!
//! A metric belongs to the invocation whose span is current where it is added, so
//! invocations running at once never mix their metrics; outside any span it goes
//! where a parentless log line would (see `capture::Sink::orphan_owner`). The
//! invocation layer writes each invocation's metrics as EMF after its response.

use std::sync::{Arc, OnceLock};

use crate::{
    capture::{current_owner, Sink},
    emf::MetricSet,
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
    with_metrics(|m| m.add(name, unit, value, false));
}

/// Adds a value to a high-resolution (1 second) metric of the current invocation.
pub fn add_high_resolution_metric(name: &str, unit: Unit, value: f64) {
    with_metrics(|m| m.add(name, unit, value, true));
}

/// Adds a dimension to the current invocation's metrics (beside the default `service`).
pub fn add_dimension(name: &str, value: &str) {
    with_metrics(|m| m.add_dimension(name, value));
}

fn with_metrics(f: impl FnOnce(&mut MetricSet)) {
    if let Some(owner) = SINK.get().and_then(|sink| current_owner(sink.as_ref())) {
        owner.with_metrics(f);
    }
}
