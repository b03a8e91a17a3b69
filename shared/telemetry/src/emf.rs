//! Encoding metrics as CloudWatch Embedded Metric Format lines (pure: no I/O).
//!
//! A [`MetricSet`] holds one invocation's metrics; [`MetricSet::take_lines`] renders
//! them as EMF lines for the log stream. EMF's limits (100 metrics and 30 dimensions
//! per directive, 100 values per metric) are kept by splitting into more lines,
//! never by losing data. The API route code calls is in `metrics`.

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Map, Value};

use crate::{config::Config, model::TraceContext};

const MAX_METRICS_PER_LINE: usize = 100;
const MAX_DIMENSIONS: usize = 30;
const MAX_VALUES_PER_METRIC: usize = 100;

/// CloudWatch metric units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Unit {
    Count,
    Milliseconds,
    Microseconds,
    Seconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Percent,
    CountPerSecond,
    None,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Microseconds => "Microseconds",
            Unit::Seconds => "Seconds",
            Unit::Bytes => "Bytes",
            Unit::Kilobytes => "Kilobytes",
            Unit::Megabytes => "Megabytes",
            Unit::Percent => "Percent",
            Unit::CountPerSecond => "Count/Second",
            Unit::None => "None",
        })
    }
}

struct Metric {
    name: String,
    unit: Unit,
    high_resolution: bool,
    values: Vec<f64>,
}

/// The metrics of one invocation.
pub(crate) struct MetricSet {
    namespace: String,
    service: String,
    function_name: String,
    /// Dimensions of every invocation (`POWERTOOLS_METRICS_DEFAULT_DIMENSIONS`).
    default_dimensions: Vec<(String, String)>,
    /// Dimensions of this invocation.
    dimensions: Vec<(String, String)>,
    metrics: Vec<Metric>,
}

impl MetricSet {
    pub fn new(config: &Config) -> Self {
        Self {
            namespace: config.metrics_namespace.clone(),
            service: config.service_name.clone(),
            function_name: config.function_name.clone(),
            default_dimensions: config
                .default_dimensions
                .iter()
                .take(MAX_DIMENSIONS - 1)
                .cloned()
                .collect(),
            dimensions: Vec::new(),
            metrics: Vec::new(),
        }
    }

    pub fn add(&mut self, name: &str, unit: Unit, value: f64, high_resolution: bool) {
        if !value.is_finite() || name.is_empty() {
            return;
        }
        match self.metrics.iter_mut().find(|m| m.name == name) {
            Some(metric) => metric.values.push(value),
            None => self.metrics.push(Metric {
                name: name.to_owned(),
                unit,
                high_resolution,
                values: vec![value],
            }),
        }
    }

    pub fn add_dimension(&mut self, name: &str, value: &str) {
        if name.is_empty() || value.is_empty() || name == "service" {
            return;
        }
        let room = self.default_dimensions.len() + self.dimensions.len() + 1 < MAX_DIMENSIONS;
        match self.dimensions.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None if room => self.dimensions.push((name.to_owned(), value.to_owned())),
            None => {}
        }
    }

    /// Moves `other`'s metrics and dimensions into this set (init work's metrics join
    /// the first invocation's).
    pub fn absorb(&mut self, other: &mut MetricSet) {
        for metric in std::mem::take(&mut other.metrics) {
            for value in metric.values {
                self.add(&metric.name, metric.unit, value, metric.high_resolution);
            }
        }
        for (name, value) in std::mem::take(&mut other.dimensions) {
            self.add_dimension(&name, &value);
        }
    }

    /// Renders the invocation's EMF lines (usually one) and resets for the next.
    pub fn take_lines(&mut self, trace: &TraceContext) -> Vec<Vec<u8>> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let metrics = std::mem::take(&mut self.metrics);
        let mut dimensions = self.default_dimensions.clone();
        for (name, value) in std::mem::take(&mut self.dimensions) {
            match dimensions.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => dimensions.push((name, value)),
            }
        }
        let mut lines = Vec::new();
        let mut first = true;
        // Each chunk of at most 100 metrics (and 100 values per metric) is one line.
        let mut chunks: Vec<Vec<(&Metric, &[f64])>> = vec![Vec::new()];
        for metric in &metrics {
            for values in metric.values.chunks(MAX_VALUES_PER_METRIC) {
                let chunk = chunks.iter_mut().find(|c| {
                    c.len() < MAX_METRICS_PER_LINE && !c.iter().any(|(m, _)| m.name == metric.name)
                });
                match chunk {
                    Some(chunk) => chunk.push((metric, values)),
                    None => chunks.push(vec![(metric, values)]),
                }
            }
        }
        for chunk in chunks {
            let cold_start = first && trace.cold_start;
            if chunk.is_empty() && !cold_start {
                continue;
            }
            let mut root = Map::new();
            let mut directives = Vec::new();
            let mut names: Vec<&str> = vec!["service"];
            names.extend(dimensions.iter().map(|(n, _)| n.as_str()));
            if !chunk.is_empty() {
                directives.push(json!({
                    "Namespace": self.namespace,
                    "Dimensions": [names],
                    "Metrics": chunk.iter().map(|(m, _)| {
                        let mut definition = json!({ "Name": m.name, "Unit": m.unit.to_string() });
                        if m.high_resolution {
                            definition["StorageResolution"] = json!(1);
                        }
                        definition
                    }).collect::<Vec<_>>(),
                }));
            }
            if cold_start {
                directives.push(json!({
                    "Namespace": self.namespace,
                    "Dimensions": [["service", "function_name"]],
                    "Metrics": [{ "Name": "ColdStart", "Unit": "Count" }],
                }));
                root.insert("function_name".into(), json!(self.function_name));
                root.insert("ColdStart".into(), json!(1));
            }
            root.insert(
                "_aws".into(),
                json!({ "Timestamp": timestamp, "CloudWatchMetrics": directives }),
            );
            root.insert("service".into(), json!(self.service));
            for (name, value) in &dimensions {
                root.insert(name.clone(), json!(value));
            }
            for (metric, values) in chunk {
                root.insert(
                    metric.name.clone(),
                    if values.len() == 1 {
                        json!(values[0])
                    } else {
                        json!(values)
                    },
                );
            }
            // Not dimensions: searchable properties that tie the metrics to the trace.
            if let Some(request_id) = &trace.request_id {
                root.insert("requestId".into(), json!(request_id));
            }
            root.insert("xray_trace_id".into(), json!(trace.xray_trace_id));
            let mut line = serde_json::to_vec(&Value::Object(root)).unwrap_or_default();
            line.push(b'\n');
            lines.push(line);
            first = false;
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::TraceId;

    fn set() -> MetricSet {
        MetricSet::new(&Config::from_lookup(|_| None))
    }

    fn parse(line: &[u8]) -> Value {
        serde_json::from_slice(line).unwrap()
    }

    #[test]
    fn one_line_with_dimensions_and_cold_start() {
        let mut metrics = set();
        let mut trace = TraceContext::new(TraceId::generate(), true, None);
        trace.cold_start = true;
        metrics.add("Requests", Unit::Count, 1.0, false);
        metrics.add("Latency", Unit::Milliseconds, 0.5, true);
        metrics.add("Latency", Unit::Milliseconds, 0.7, true);
        metrics.add_dimension("route", "/api/activities/home");
        let lines = metrics.take_lines(&trace);
        assert_eq!(lines.len(), 1);
        let doc = parse(&lines[0]);
        let directives = &doc["_aws"]["CloudWatchMetrics"];
        assert_eq!(directives[0]["Dimensions"], json!([["service", "route"]]));
        assert_eq!(directives[0]["Metrics"][1]["StorageResolution"], 1);
        assert_eq!(doc["Latency"], json!([0.5, 0.7]));
        assert_eq!(doc["ColdStart"], 1);
        assert_eq!(directives[1]["Dimensions"], json!([["service", "function_name"]]));
        assert!(metrics
            .take_lines(&TraceContext::new(TraceId::generate(), true, None))
            .is_empty());
    }

    #[test]
    fn more_than_a_hundred_metrics_split_into_lines() {
        let mut metrics = set();
        for i in 0..150 {
            metrics.add(&format!("m{i}"), Unit::Count, 1.0, false);
        }
        for _ in 0..30 {
            metrics.add_dimension(&format!("d{}", fastrand::u32(..)), "v");
        }
        let lines = metrics.take_lines(&TraceContext::new(TraceId::generate(), true, None));
        assert_eq!(lines.len(), 2);
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| {
                parse(l)["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(counts, [100, 50]);
        let dims = parse(&lines[0])["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(dims, MAX_DIMENSIONS);
    }
}
