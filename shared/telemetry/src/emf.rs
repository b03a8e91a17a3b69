//! Encoding metrics as CloudWatch Embedded Metric Format lines (pure: no I/O).
//!
//! A [`MetricSet`] holds one invocation's metrics; [`MetricSet::take_lines`] renders
//! them as EMF documents for the log stream:
//!
//! - the built-in metrics (Requests, Latency, Errors, ClientErrors, dropped telemetry)
//!   in one document with one fixed dimension set, `{service, route}`: the one the
//!   template's dashboard searches, whatever the route code adds; `ColdStart` beside
//!   them by `{service, function_name}`;
//! - the route's own metrics in documents of their own, by `service`, the default
//!   dimensions and the dimensions the route added;
//! - each single metric (one metric with its own dimensions) in its own document.
//!
//! Metadata (keys that are neither metrics nor dimensions) rides on every document.
//! Names that would overwrite a key the documents need (`service`, `requestId`, …) are
//! refused. EMF's limits (100 metrics and 30 dimensions per directive, 100 values per
//! metric) are kept by splitting into more documents, never by losing data. The API
//! route code calls is in `metrics`.

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::Value;

use crate::{
    config::Config,
    json::{push_f64, push_int, push_separator, push_str, Object},
    model::TraceContext,
};

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

impl Unit {
    /// The unit's name in EMF (`Count/Second`).
    pub fn as_str(self) -> &'static str {
        match self {
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
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Keys every document needs for itself: never a route's metric, dimension or metadata.
pub(crate) const RESERVED_KEYS: &[&str] = &[
    "_aws",
    "service",
    "route",
    "function_name",
    "requestId",
    "xray_trace_id",
    "trace_id",
    "correlation_id",
    "ColdStart",
];
/// Longest metric or dimension name CloudWatch takes.
const MAX_NAME_CHARS: usize = 255;
/// Longest dimension value CloudWatch takes.
const MAX_DIMENSION_VALUE_CHARS: usize = 1024;

/// Why a route's metric, dimension or metadata was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// The name is one the documents need for themselves.
    #[error("{0:?} is reserved by the EMF documents (service, route, requestId, ...)")]
    Reserved(String),
    /// Empty, or longer than CloudWatch takes.
    #[error("{0:?} is not a valid name: 1 to 255 characters")]
    InvalidName(String),
    /// A dimension value that is empty or longer than 1024 characters.
    #[error("the value of dimension {0:?} must be 1 to 1024 characters")]
    InvalidValue(String),
    /// Not a finite number.
    #[error("metric {0:?} has a value that is not a finite number")]
    NotFinite(String),
    /// Already 30 dimensions.
    #[error("dimension {0:?} is one too many: 30 at most")]
    TooManyDimensions(String),
}

struct Metric {
    name: String,
    unit: Unit,
    high_resolution: bool,
    values: Vec<f64>,
}

/// One metric with its own dimensions (Powertools' `single_metric`).
struct Single {
    metric: Metric,
    dimensions: Vec<(String, String)>,
}

/// The metrics of one invocation.
pub(crate) struct MetricSet {
    namespace: String,
    service: String,
    function_name: String,
    /// Dimensions of every route metric (`POWERTOOLS_METRICS_DEFAULT_DIMENSIONS`).
    default_dimensions: Vec<(String, String)>,
    /// The API route: the built-in metrics' second dimension.
    route: Option<String>,
    builtin: Vec<Metric>,
    /// Dimensions the route added.
    dimensions: Vec<(String, String)>,
    metrics: Vec<Metric>,
    singles: Vec<Single>,
    metadata: Vec<(String, Value)>,
    /// `POWERTOOLS_METRICS_DISABLED`: nothing is recorded, nothing refused.
    disabled: bool,
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
                .filter(|(name, value)| check_dimension(name, value).is_ok())
                .take(MAX_DIMENSIONS - 1)
                .cloned()
                .collect(),
            route: None,
            builtin: Vec::new(),
            dimensions: Vec::new(),
            metrics: Vec::new(),
            singles: Vec::new(),
            metadata: Vec::new(),
            disabled: config.metrics_disabled,
        }
    }

    /// Sets the API route of the request (the built-in metrics' `route`).
    pub fn set_route(&mut self, route: &str) {
        self.route = Some(route.to_owned());
    }

    /// Adds a value to a built-in metric (no name checks: ours).
    pub fn add_builtin(&mut self, name: &str, unit: Unit, value: f64) {
        add_value(&mut self.builtin, name, unit, value, false);
    }

    /// Adds a value to one of the route's metrics.
    pub fn add(
        &mut self,
        name: &str,
        unit: Unit,
        value: f64,
        high_resolution: bool,
    ) -> Result<(), MetricError> {
        if self.disabled {
            return Ok(());
        }
        check_name(name)?;
        if !value.is_finite() {
            return Err(MetricError::NotFinite(name.to_owned()));
        }
        add_value(&mut self.metrics, name, unit, value, high_resolution);
        Ok(())
    }

    /// Adds (or replaces) a dimension of the route's metrics.
    pub fn add_dimension(&mut self, name: &str, value: &str) -> Result<(), MetricError> {
        if self.disabled {
            return Ok(());
        }
        check_dimension(name, value)?;
        if let Some(slot) = self.dimensions.iter_mut().find(|(n, _)| n == name) {
            slot.1 = value.to_owned();
            return Ok(());
        }
        if self.default_dimensions.len() + self.dimensions.len() + 1 >= MAX_DIMENSIONS {
            return Err(MetricError::TooManyDimensions(name.to_owned()));
        }
        self.dimensions.push((name.to_owned(), value.to_owned()));
        Ok(())
    }

    /// Adds (or replaces) a metadata key: searchable in the documents, not a metric.
    pub fn add_metadata(&mut self, key: &str, value: Value) -> Result<(), MetricError> {
        if self.disabled {
            return Ok(());
        }
        check_name(key)?;
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key.to_owned(), value)),
        }
        Ok(())
    }

    /// Adds one metric with its own dimensions (only `service` besides), in its own document.
    pub fn add_single(
        &mut self,
        name: &str,
        unit: Unit,
        value: f64,
        dimensions: &[(&str, &str)],
    ) -> Result<(), MetricError> {
        if self.disabled {
            return Ok(());
        }
        check_name(name)?;
        if !value.is_finite() {
            return Err(MetricError::NotFinite(name.to_owned()));
        }
        if dimensions.len() + 1 > MAX_DIMENSIONS {
            return Err(MetricError::TooManyDimensions(name.to_owned()));
        }
        for (dimension, value) in dimensions {
            check_dimension(dimension, value)?;
        }
        self.singles.push(Single {
            metric: Metric {
                name: name.to_owned(),
                unit,
                high_resolution: false,
                values: vec![value],
            },
            dimensions: dimensions
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        });
        Ok(())
    }

    /// Moves `other`'s route metrics, dimensions and metadata into this set (init
    /// work's metrics join the first invocation's).
    pub fn absorb(&mut self, other: &mut MetricSet) {
        for metric in std::mem::take(&mut other.metrics) {
            for value in metric.values {
                add_value(
                    &mut self.metrics,
                    &metric.name,
                    metric.unit,
                    value,
                    metric.high_resolution,
                );
            }
        }
        for (name, value) in std::mem::take(&mut other.dimensions) {
            let _ = self.add_dimension(&name, &value);
        }
        self.singles.append(&mut other.singles);
        for (key, value) in std::mem::take(&mut other.metadata) {
            let _ = self.add_metadata(&key, value);
        }
    }

    /// The API route, once set.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// Renders the invocation's EMF documents (see the module doc) and resets. Without a
    /// trace (the process's own report at shutdown) they name no request.
    pub fn take_lines(&mut self, trace: Option<&TraceContext>) -> Vec<Vec<u8>> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let document = Document {
            namespace: &self.namespace,
            timestamp,
            trace,
            metadata: &self.metadata,
        };
        let mut lines = Vec::new();

        let cold_start = trace.is_some_and(|t| t.cold_start);
        let builtin = std::mem::take(&mut self.builtin);
        if !builtin.is_empty() || cold_start {
            let mut dimensions = vec![("service".to_owned(), self.service.clone())];
            if let Some(route) = &self.route {
                dimensions.push(("route".to_owned(), route.clone()));
            }
            let metrics: Vec<(&Metric, &[f64])> = builtin.iter().map(|m| (m, &m.values[..])).collect();
            let cold_start = cold_start.then_some(&self.function_name[..]);
            lines.push(document.render(&dimensions, &metrics, cold_start));
        }

        let metrics = std::mem::take(&mut self.metrics);
        let mut dimensions = vec![("service".to_owned(), self.service.clone())];
        for (name, value) in self
            .default_dimensions
            .iter()
            .chain(&std::mem::take(&mut self.dimensions))
        {
            match dimensions.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => dimensions.push((name.clone(), value.clone())),
            }
        }
        for chunk in chunks(&metrics) {
            lines.push(document.render(&dimensions, &chunk, None));
        }

        for single in std::mem::take(&mut self.singles) {
            let mut dimensions = vec![("service".to_owned(), self.service.clone())];
            dimensions.extend(single.dimensions.iter().cloned());
            let metric = [(&single.metric, &single.metric.values[..])];
            lines.push(document.render(&dimensions, &metric, None));
        }
        self.metadata.clear();
        self.route = None;
        lines
    }
}

/// Everything of a document but its dimensions and metrics.
struct Document<'a> {
    namespace: &'a str,
    timestamp: u64,
    trace: Option<&'a TraceContext>,
    metadata: &'a [(String, Value)],
}

impl Document<'_> {
    /// One EMF line: a directive for `metrics` by `dimensions`, and the cold start's
    /// directive when `cold_start` names the function.
    ///
    /// Written directly (`json`). A key given twice (metadata named as a dimension, a
    /// metric named as one) is written once, with its last value: metadata first, then
    /// the document's own keys.
    fn render(
        &self,
        dimensions: &[(String, String)],
        metrics: &[(&Metric, &[f64])],
        cold_start: Option<&str>,
    ) -> Vec<u8> {
        let mut root = Object::default();
        for (key, value) in self.metadata {
            root.insert(key.as_str(), |out| {
                let _ = serde_json::to_writer(&mut *out, value);
            });
        }
        if let Some(function_name) = cold_start {
            root.insert("function_name", |out| push_str(out, function_name));
            root.insert("ColdStart", |out| push_int(out, 1));
        }
        root.insert("_aws", |out| {
            self.push_aws(out, dimensions, metrics, cold_start.is_some())
        });
        for (name, value) in dimensions {
            root.insert(name.as_str(), |out| push_str(out, value));
        }
        for (metric, values) in metrics {
            root.insert(metric.name.as_str(), |out| match values {
                [value] => push_f64(out, *value),
                _ => {
                    out.push(b'[');
                    for value in values.iter() {
                        push_separator(out);
                        push_f64(out, *value);
                    }
                    out.push(b']');
                }
            });
        }
        // Not dimensions: searchable properties that tie the metrics to the trace.
        if let Some(trace) = self.trace {
            if let Some(request_id) = &trace.request_id {
                root.insert("requestId", |out| push_str(out, request_id));
            }
            root.insert("xray_trace_id", |out| push_str(out, &trace.xray_trace_id));
        }
        let mut line = Vec::with_capacity(512);
        root.write_to(&mut line);
        line.push(b'\n');
        line
    }

    /// `{"Timestamp":…,"CloudWatchMetrics":[…]}`: the directives.
    fn push_aws(
        &self,
        out: &mut Vec<u8>,
        dimensions: &[(String, String)],
        metrics: &[(&Metric, &[f64])],
        cold_start: bool,
    ) {
        out.extend_from_slice(b"{\"Timestamp\":");
        push_int(out, self.timestamp);
        out.extend_from_slice(b",\"CloudWatchMetrics\":[");
        if !metrics.is_empty() {
            out.extend_from_slice(b"{\"Namespace\":");
            push_str(out, self.namespace);
            out.extend_from_slice(b",\"Dimensions\":[[");
            for (name, _) in dimensions {
                push_separator(out);
                push_str(out, name);
            }
            out.extend_from_slice(b"]],\"Metrics\":[");
            for (metric, _) in metrics {
                push_separator(out);
                out.extend_from_slice(b"{\"Name\":");
                push_str(out, &metric.name);
                out.extend_from_slice(b",\"Unit\":");
                push_str(out, metric.unit.as_str());
                if metric.high_resolution {
                    out.extend_from_slice(b",\"StorageResolution\":1");
                }
                out.push(b'}');
            }
            out.extend_from_slice(b"]}");
        }
        if cold_start {
            push_separator(out);
            out.extend_from_slice(b"{\"Namespace\":");
            push_str(out, self.namespace);
            out.extend_from_slice(
                b",\"Dimensions\":[[\"service\",\"function_name\"]],\"Metrics\":[{\"Name\":\"ColdStart\",\"Unit\":\"Count\"}]}",
            );
        }
        out.extend_from_slice(b"]}");
    }
}

/// The metrics in groups of at most 100, each metric's values in slices of at most 100
/// (one document per group).
fn chunks(metrics: &[Metric]) -> Vec<Vec<(&Metric, &[f64])>> {
    let mut chunks: Vec<Vec<(&Metric, &[f64])>> = Vec::new();
    for metric in metrics {
        for values in metric.values.chunks(MAX_VALUES_PER_METRIC) {
            let chunk = chunks
                .iter_mut()
                .find(|c| c.len() < MAX_METRICS_PER_LINE && !c.iter().any(|(m, _)| m.name == metric.name));
            match chunk {
                Some(chunk) => chunk.push((metric, values)),
                None => chunks.push(vec![(metric, values)]),
            }
        }
    }
    chunks
}

fn add_value(metrics: &mut Vec<Metric>, name: &str, unit: Unit, value: f64, high_resolution: bool) {
    match metrics.iter_mut().find(|m| m.name == name) {
        Some(metric) => metric.values.push(value),
        None => metrics.push(Metric {
            name: name.to_owned(),
            unit,
            high_resolution,
            values: vec![value],
        }),
    }
}

fn check_name(name: &str) -> Result<(), MetricError> {
    if RESERVED_KEYS.contains(&name) {
        return Err(MetricError::Reserved(name.to_owned()));
    }
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(MetricError::InvalidName(name.to_owned()));
    }
    Ok(())
}

fn check_dimension(name: &str, value: &str) -> Result<(), MetricError> {
    check_name(name)?;
    if value.is_empty() || value.chars().count() > MAX_DIMENSION_VALUE_CHARS {
        return Err(MetricError::InvalidValue(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::TraceId;
    use serde_json::json;

    fn set() -> MetricSet {
        MetricSet::new(&Config::from_lookup(|name| {
            (name == crate::config::POWERTOOLS_METRICS_DEFAULT_DIMENSIONS).then(|| "environment=prod".into())
        }))
    }

    fn parse(line: &[u8]) -> Value {
        serde_json::from_slice(line).unwrap()
    }

    fn trace(cold_start: bool) -> TraceContext {
        let mut trace = TraceContext::new(TraceId::generate(), true, None);
        trace.cold_start = cold_start;
        trace
    }

    #[test]
    fn builtin_metrics_keep_the_dashboards_dimensions_and_route_metrics_their_own() {
        let mut metrics = set();
        metrics.set_route("/api/activities/home");
        metrics.add_builtin("Requests", Unit::Count, 1.0);
        metrics.add_builtin("Latency", Unit::Milliseconds, 0.5);
        metrics.add("Booked", Unit::Count, 2.0, true).unwrap();
        metrics.add("Booked", Unit::Count, 3.0, true).unwrap();
        metrics.add_dimension("tenant", "acme").unwrap();
        metrics.add_metadata("booking_id", json!("b-1")).unwrap();
        let lines = metrics.take_lines(Some(&trace(true)));
        assert_eq!(lines.len(), 2);
        let builtin = parse(&lines[0]);
        let directives = &builtin["_aws"]["CloudWatchMetrics"];
        assert_eq!(directives[0]["Dimensions"], json!([["service", "route"]]));
        assert_eq!(directives[1]["Dimensions"], json!([["service", "function_name"]]));
        assert_eq!(builtin["ColdStart"], 1);
        assert!(builtin.get("tenant").is_none() && builtin.get("environment").is_none());
        assert_eq!(builtin["booking_id"], "b-1");
        let own = parse(&lines[1]);
        let directive = &own["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Dimensions"],
            json!([["service", "environment", "tenant"]])
        );
        assert_eq!(directive["Metrics"][0]["StorageResolution"], 1);
        assert_eq!(own["Booked"], json!([2.0, 3.0]));
        assert!(own.get("route").is_none() && own.get("ColdStart").is_none());
        assert!(metrics.take_lines(Some(&trace(false))).is_empty());
    }

    #[test]
    fn reserved_and_invalid_names_are_refused() {
        let mut metrics = set();
        for key in ["service", "requestId", "_aws", "xray_trace_id", "route"] {
            assert_eq!(
                metrics.add(key, Unit::Count, 1.0, false),
                Err(MetricError::Reserved(key.into()))
            );
            assert_eq!(
                metrics.add_dimension(key, "x"),
                Err(MetricError::Reserved(key.into()))
            );
            assert_eq!(
                metrics.add_metadata(key, json!(1)),
                Err(MetricError::Reserved(key.into()))
            );
        }
        assert!(metrics.add("", Unit::Count, 1.0, false).is_err());
        assert!(metrics.add(&"m".repeat(256), Unit::Count, 1.0, false).is_err());
        assert!(metrics.add("nan", Unit::Count, f64::NAN, false).is_err());
        assert!(metrics.add_dimension("d", "").is_err());
        assert!(metrics.take_lines(Some(&trace(false))).is_empty());
    }

    #[test]
    fn a_single_metric_is_a_document_of_its_own() {
        let mut metrics = set();
        metrics.add("Shared", Unit::Count, 1.0, false).unwrap();
        metrics
            .add_single("Payment", Unit::Count, 1.0, &[("provider", "stripe")])
            .unwrap();
        let lines = metrics.take_lines(Some(&trace(false)));
        assert_eq!(lines.len(), 2);
        let single = parse(&lines[1]);
        assert_eq!(
            single["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["service", "provider"]])
        );
        assert_eq!(single["Payment"], 1.0);
        assert!(single.get("Shared").is_none() && single.get("environment").is_none());
    }

    #[test]
    fn a_key_given_twice_is_written_once_with_its_last_value() {
        let mut metrics = set();
        metrics.add_dimension("tenant", "acme").unwrap();
        metrics.add_metadata("tenant", json!("from metadata")).unwrap();
        metrics.add_metadata("Booked", json!("from metadata")).unwrap();
        metrics.add("Booked", Unit::Count, 2.0, true).unwrap();
        let lines = metrics.take_lines(Some(&trace(true)));
        let text = String::from_utf8(lines[1].clone()).unwrap();
        assert_eq!(text.matches("\"tenant\":").count(), 1, "{text}");
        assert_eq!(text.matches("\"Booked\":").count(), 1, "{text}");
        let own = parse(&lines[1]);
        assert_eq!(own["tenant"], "acme");
        assert_eq!(own["Booked"], 2.0);
        let directive = &own["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Metrics"],
            json!([{ "Name": "Booked", "Unit": "Count", "StorageResolution": 1 }])
        );
        // The cold start's document (no built-in metrics were added): its directive alone.
        let builtin = parse(&lines[0]);
        assert_eq!(builtin["ColdStart"], 1);
        assert_eq!(
            builtin["_aws"]["CloudWatchMetrics"],
            json!([{
                "Namespace": "Cruddur",
                "Dimensions": [["service", "function_name"]],
                "Metrics": [{ "Name": "ColdStart", "Unit": "Count" }],
            }])
        );
    }

    #[test]
    fn more_than_a_hundred_metrics_split_into_lines() {
        let mut metrics = set();
        for i in 0..150 {
            metrics.add(&format!("m{i}"), Unit::Count, 1.0, false).unwrap();
        }
        for i in 0..30 {
            let _ = metrics.add_dimension(&format!("d{i}"), "v");
        }
        let lines = metrics.take_lines(Some(&trace(false)));
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
