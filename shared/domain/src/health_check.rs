//! The health check (`GET /api/health-check`).

use serde::Serialize;

/// The health check's answer, as the Cruddur backend gives it: `{"success": true, "ver": 1}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// Whether the service is up; always `true` when it answers.
    pub success: bool,
    /// Version of this answer's shape.
    pub ver: u32,
}

/// Reports that the service is up.
///
/// Traced as a span `status` (Honeycomb: `health-check-status`) with `app.success` and
/// `app.ver`, and one `HealthCheck` event.
pub fn health_check() -> HealthCheck {
    let result = HealthCheck {
        success: true,
        ver: 1,
    };
    let span = tracing::info_span!(
        "status",
        otel.name = "health-check-status",
        app.success = result.success,
        app.ver = result.ver,
    );
    let _entered = span.enter();
    tracing::info!(success = result.success, ver = result.ver, "HealthCheck");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_success_and_version_one() {
        let json = serde_json::to_value(health_check()).unwrap();
        assert_eq!(json, serde_json::json!({"success": true, "ver": 1}));
    }
}
