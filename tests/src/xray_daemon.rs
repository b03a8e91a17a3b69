//! A UDP socket on 127.0.0.1 standing in for the AWS X-Ray daemon, as strict as X-Ray.
//!
//! Every datagram must be `{"format": "json", "version": 1}` + `\n` + one segment (or
//! subsegment) document in JSON, and every document must follow the X-Ray segment document
//! rules ([`validate_document`]). A document that breaks one is kept with its reason, apart
//! from the valid ones: [`XrayDaemon::documents`] and [`XrayDaemon::wait_for_documents`]
//! fail loudly once one has arrived, so every test that reads X-Ray documents fails on an
//! invalid one.
//!
//! The rules, and where they come from:
//! - AWS X-Ray Developer Guide, "AWS X-Ray segment documents"
//!   (docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html): the
//!   required fields (`name`, `id`, `start_time`, `end_time` or `in_progress`, `trace_id`),
//!   `id`/`parent_id` in 16 hexadecimal digits, `trace_id` = `1-<8 hex>-<24 hex>`, a
//!   segment `name` of at most 200 characters of "Unicode letters, numbers, and whitespace,
//!   and the following symbols: _ . : / % & # = + \ - @", other strings at most 250
//!   characters; a subsegment sent on its own has `type: "subsegment"`, `trace_id` and
//!   `parent_id`; `namespace` is a subsegment field, "aws" for AWS SDK calls and "remote"
//!   for other downstream calls; annotation values are strings, numbers or booleans ("no
//!   objects or arrays"), keys "alphanumeric ... Underscore is allowed"; an exception object
//!   needs its `id`; a segment document "can be up to 64 kB".
//! - X-Ray SDK annotation requirements (e.g. "Add annotations and metadata to segments with
//!   the X-Ray SDK for .NET"): keys of up to 500 alphanumeric characters or `_`, values of
//!   up to 1,000 Unicode characters.
//! - Inside Lambda, Lambda itself sends the function's segment (the facade); code may only
//!   add subsegments under it. The X-Ray SDKs refuse to start a segment there
//!   (aws-xray-sdk-python `LambdaContext.put_segment`: "Cannot create segments inside
//!   Lambda function. Discarded."). A full segment sent from a function anyway is a node of
//!   its own on the service map, a phantom. So in Lambda mode (the default) only
//!   subsegments are valid at the top level.
//! - The daemon reads each datagram into a 64 KiB buffer (aws-xray-daemon: `Socket.BufferSizeKB`
//!   64), so a longer datagram is cut and its JSON lost. This stand-in reads with a larger
//!   buffer so that oversize is reported, not silently truncated.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde_json::{Map, Value};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::sync::Shared;

/// The largest datagram the real daemon reads whole (its 64 KiB receive buffer).
pub const MAX_DATAGRAM: usize = 65_536;

/// What this stand-in reads at once: more than [`MAX_DATAGRAM`], to see oversize.
const RECEIVE_BUFFER: usize = 4 * MAX_DATAGRAM;

/// The most characters of a segment's `name`.
pub const MAX_SEGMENT_NAME: usize = 200;
/// The most characters of a subsegment's `name` (X-Ray strings default to 250).
pub const MAX_SUBSEGMENT_NAME: usize = 250;
/// The most characters of an annotation key.
pub const MAX_ANNOTATION_KEY: usize = 500;
/// The most characters of an annotation's string value.
pub const MAX_ANNOTATION_VALUE: usize = 1_000;

/// Where the documents come from, which decides what may stand at the top level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inside Lambda: only subsegments (`type: "subsegment"`, `trace_id`, `parent_id`).
    Lambda,
    /// Anywhere else: full segments too.
    OutsideLambda,
}

/// One datagram as received.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// When it arrived.
    pub received_at: Instant,
    /// Its size in bytes.
    pub raw_len: usize,
    /// Its text (lossy UTF-8), for error messages.
    pub raw: String,
    /// True when the first line parsed as JSON with `format` "json" and `version` 1.
    pub header_ok: bool,
    /// The document after the newline, when it parsed as a JSON object.
    pub document: Option<Value>,
    /// Why it is invalid (every broken rule, `; `-separated), if it is.
    pub error: Option<String>,
}

impl Datagram {
    /// True when the header, the JSON and every segment document rule are right.
    pub fn is_valid(&self) -> bool {
        self.error.is_none() && self.header_ok && self.document.is_some()
    }

    /// One line for an error message: the reason and the start of the datagram.
    pub fn describe(&self) -> String {
        let start: String = self.raw.chars().take(300).collect();
        format!(
            "{} ({} bytes: {start}{})",
            self.error.as_deref().unwrap_or("valid"),
            self.raw_len,
            if self.raw.chars().count() > 300 { "…" } else { "" }
        )
    }
}

/// Datagrams are kept as received and checked when a test reads them: the real daemon
/// does no more on receipt than buffer them, and checking here, on the harness's threads,
/// would take CPU from the function under test while it serves its next request (the
/// benchmark measured it as 25 us of the function's latency on this 2-core machine).
struct State {
    mode: Mode,
    /// Received, not checked yet: the bytes and when they arrived.
    unchecked: Vec<(Vec<u8>, Instant)>,
    datagrams: Vec<Datagram>,
}

impl State {
    /// Checks what arrived since the last look; then `datagrams` holds every datagram.
    fn check_arrivals(&mut self) -> &mut Self {
        for (bytes, received_at) in std::mem::take(&mut self.unchecked) {
            let mut datagram = parse_datagram(&bytes, self.mode);
            datagram.received_at = received_at;
            self.datagrams.push(datagram);
        }
        self
    }

    fn valid(&self) -> Vec<Value> {
        self.datagrams
            .iter()
            .filter(|d| d.is_valid())
            .filter_map(|d| d.document.clone())
            .collect()
    }

    fn invalid(&self) -> Vec<&Datagram> {
        self.datagrams.iter().filter(|d| !d.is_valid()).collect()
    }
}

/// The fake X-Ray daemon. Stops receiving when dropped.
pub struct XrayDaemon {
    shared: Arc<Shared<State>>,
    port: u16,
    mode: Mode,
    task: JoinHandle<()>,
}

impl Drop for XrayDaemon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl XrayDaemon {
    /// Binds a UDP socket on 127.0.0.1 and a free port and starts receiving, as the daemon
    /// beside a Lambda function: only subsegments are valid at the top level.
    ///
    /// Panics if no loopback port can be bound (a broken test machine).
    pub async fn start() -> XrayDaemon {
        Self::start_in(Mode::Lambda).await
    }

    /// The same for code that runs outside Lambda: full segments are valid too.
    pub async fn start_outside_lambda() -> XrayDaemon {
        Self::start_in(Mode::OutsideLambda).await
    }

    async fn start_in(mode: Mode) -> XrayDaemon {
        let socket = UdpSocket::bind(("127.0.0.1", 0))
            .await
            .expect("bind UDP 127.0.0.1:0 for the X-Ray daemon");
        let port = socket
            .local_addr()
            .expect("local address of the X-Ray socket")
            .port();
        let shared = Arc::new(Shared::new(State {
            mode,
            unchecked: Vec::new(),
            datagrams: Vec::new(),
        }));
        let receiver = shared.clone();
        let task = tokio::spawn(async move {
            let mut buffer = vec![0u8; RECEIVE_BUFFER];
            loop {
                match socket.recv_from(&mut buffer).await {
                    Ok((len, _)) => {
                        let datagram = (buffer[..len].to_vec(), Instant::now());
                        receiver.update(|s| s.unchecked.push(datagram));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        });
        XrayDaemon {
            shared,
            port,
            mode,
            task,
        }
    }

    /// "127.0.0.1:PORT", the `AWS_XRAY_DAEMON_ADDRESS` value.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Inside or outside Lambda.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Every datagram received, valid or not.
    pub fn datagrams(&self) -> Vec<Datagram> {
        self.shared.update(|s| s.check_arrivals().datagrams.clone())
    }

    /// The datagrams that broke a rule, each with its reason.
    pub fn invalid(&self) -> Vec<Datagram> {
        self.shared
            .update(|s| s.check_arrivals().invalid().into_iter().cloned().collect())
    }

    /// The one shared check: fails, naming every reason, once any invalid datagram arrived.
    pub fn ensure_valid(&self) -> anyhow::Result<()> {
        self.shared
            .update(|s| invalid_error(&s.check_arrivals().invalid()))
    }

    /// The valid documents, in arrival order.
    ///
    /// # Panics
    ///
    /// When an invalid datagram has arrived (see [`XrayDaemon::ensure_valid`]): X-Ray would
    /// have refused it, so the test must fail, whatever it looks for.
    pub fn documents(&self) -> Vec<Value> {
        self.shared.update(|s| {
            let s = s.check_arrivals();
            if let Err(error) = invalid_error(&s.invalid()) {
                panic!("{error}");
            }
            s.valid()
        })
    }

    /// Waits until at least `n` valid documents arrived; returns all of them. Fails at once
    /// when an invalid datagram arrives.
    pub async fn wait_for_documents(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Value>> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| {
                let s = s.check_arrivals();
                if let Err(error) = invalid_error(&s.invalid()) {
                    return Some(Err(error));
                }
                let documents = s.valid();
                (documents.len() >= n).then_some(Ok(documents))
            })
            .await;
        found.unwrap_or_else(|| {
            Err(anyhow!(
                "expected at least {n} X-Ray documents within {timeout:?}, but {} arrived ({} datagrams)",
                self.shared.update(|s| s.check_arrivals().valid().len()),
                self.shared.update(|s| s.check_arrivals().datagrams.len())
            ))
        })
    }

    /// Waits until a valid document of trace `root` (`1-…-…`) arrived; returns every valid
    /// document of that trace so far. Fails at once when an invalid datagram arrives.
    pub async fn wait_for_trace(&self, root: &str, timeout: Duration) -> anyhow::Result<Vec<Value>> {
        let found = self
            .shared
            .wait_for(Some(timeout), |s| {
                let s = s.check_arrivals();
                if let Err(error) = invalid_error(&s.invalid()) {
                    return Some(Err(error));
                }
                let documents: Vec<Value> = s.valid().into_iter().filter(|d| d["trace_id"] == root).collect();
                (!documents.is_empty()).then_some(Ok(documents))
            })
            .await;
        found.unwrap_or_else(|| {
            Err(anyhow!(
                "no X-Ray document of trace {root} within {timeout:?} ({} documents of other traces)",
                self.shared.update(|s| s.check_arrivals().valid().len())
            ))
        })
    }
}

fn invalid_error(invalid: &[&Datagram]) -> anyhow::Result<()> {
    if invalid.is_empty() {
        return Ok(());
    }
    let reasons: Vec<String> = invalid.iter().map(|d| format!("  - {}", d.describe())).collect();
    bail!(
        "{} X-Ray datagram(s) the real daemon or X-Ray would refuse or misdraw:\n{}",
        invalid.len(),
        reasons.join("\n")
    )
}

/// Parses one datagram the way the daemon would, and checks its document's rules.
pub fn parse_datagram(bytes: &[u8], mode: Mode) -> Datagram {
    let raw = String::from_utf8_lossy(bytes).into_owned();
    let mut datagram = Datagram {
        received_at: Instant::now(),
        raw_len: bytes.len(),
        raw,
        header_ok: false,
        document: None,
        error: None,
    };
    let mut problems = Vec::new();
    if bytes.len() > MAX_DATAGRAM {
        problems.push(format!(
            "datagram of {} bytes is over the daemon's {MAX_DATAGRAM}-byte buffer (segment \
             documents are at most 64 kB): the daemon would cut it",
            bytes.len()
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            problems.push(format!("datagram is not UTF-8: {e}"));
            datagram.error = Some(problems.join("; "));
            return datagram;
        }
    };
    let Some((header, body)) = text.split_once('\n') else {
        problems.push("no newline after the header line".to_owned());
        datagram.error = Some(problems.join("; "));
        return datagram;
    };
    match serde_json::from_str::<Value>(header) {
        Ok(h) => {
            datagram.header_ok = h.get("format").and_then(Value::as_str) == Some("json")
                && h.get("version").and_then(Value::as_i64) == Some(1);
            if !datagram.header_ok {
                problems.push(format!(
                    "header is not {{\"format\": \"json\", \"version\": 1}}: {header}"
                ));
            }
        }
        Err(e) => problems.push(format!("header is not JSON ({e}): {header}")),
    }
    match serde_json::from_str::<Value>(body) {
        Ok(document) if document.is_object() => {
            problems.extend(validate_document(&document, mode));
            datagram.document = Some(document);
        }
        Ok(_) => problems.push("document is not a JSON object".to_owned()),
        Err(e) => problems.push(format!("document is not JSON: {e}")),
    }
    if !problems.is_empty() {
        datagram.error = Some(problems.join("; "));
    }
    datagram
}

/// Every rule of the X-Ray segment document format that `document` (a top-level document,
/// as sent in one datagram) breaks; empty when it is valid. Nested subsegments are checked
/// too. See the module documentation for the rules and their sources.
pub fn validate_document(document: &Value, mode: Mode) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(object) = document.as_object() else {
        return vec!["document is not a JSON object".to_owned()];
    };
    let independent_subsegment = object.get("type").is_some();
    if let Some(kind) = object.get("type") {
        if kind != "subsegment" {
            problems.push(format!("`type` is {kind}, not \"subsegment\""));
        }
    }
    let what = describe_entity(object);
    if independent_subsegment {
        for field in ["trace_id", "parent_id"] {
            if !object.contains_key(field) {
                problems.push(format!("{what}: a subsegment sent on its own needs `{field}`"));
            }
        }
    } else {
        if mode == Mode::Lambda {
            problems.push(format!(
                "{what}: a full segment sent from inside Lambda (only subsegments under \
                 Lambda's own segment are valid there, with `type: \"subsegment\"`, \
                 `trace_id` and `parent_id`); X-Ray would draw it as a node of its own on \
                 the service map"
            ));
        }
        if !object.contains_key("trace_id") {
            problems.push(format!("{what}: a segment needs `trace_id`"));
        }
    }
    let is_segment = !independent_subsegment;
    check_entity(object, is_segment, &what, &mut problems);
    problems
}

/// "segment \"name\" (id)" or "subsegment …", for messages.
fn describe_entity(object: &Map<String, Value>) -> String {
    let kind = if object.contains_key("type") {
        "subsegment"
    } else {
        "segment"
    };
    format!(
        "{kind} {} ({})",
        object.get("name").unwrap_or(&Value::Null),
        object.get("id").and_then(Value::as_str).unwrap_or("no id")
    )
}

fn check_entity(object: &Map<String, Value>, is_segment: bool, what: &str, problems: &mut Vec<String>) {
    let mut problem = |text: String| problems.push(format!("{what}: {text}"));

    // name
    match object.get("name").and_then(Value::as_str) {
        None => problem("no `name` (a string)".into()),
        Some(name) => {
            let length = name.chars().count();
            if name.is_empty() {
                problem("empty `name`".into());
            }
            if is_segment {
                if length > MAX_SEGMENT_NAME {
                    problem(format!(
                        "segment `name` of {length} characters (at most {MAX_SEGMENT_NAME})"
                    ));
                }
                if let Some(bad) = name.chars().find(|c| !segment_name_char(*c)) {
                    problem(format!(
                        "segment `name` has {bad:?}: only Unicode letters, numbers, whitespace and \
                         _ . : / % & # = + \\ - @"
                    ));
                }
            } else if length > MAX_SUBSEGMENT_NAME {
                problem(format!(
                    "subsegment `name` of {length} characters (at most {MAX_SUBSEGMENT_NAME})"
                ));
            }
        }
    }

    // ids and times
    match object.get("id").and_then(Value::as_str) {
        None => problem("no `id` (16 hexadecimal digits)".into()),
        Some(id) if !is_hex_id(id) => problem(format!("`id` {id:?} is not 16 hexadecimal digits")),
        Some(_) => {}
    }
    if let Some(parent) = object.get("parent_id") {
        if !parent.as_str().is_some_and(is_hex_id) {
            problem(format!("`parent_id` {parent} is not 16 hexadecimal digits"));
        }
    }
    if let Some(trace_id) = object.get("trace_id") {
        if !trace_id.as_str().is_some_and(is_trace_id) {
            problem(format!(
                "`trace_id` {trace_id} is not 1-<8 hex digits>-<24 hex digits>"
            ));
        }
    }
    if !object.get("start_time").is_some_and(Value::is_number) {
        problem("no `start_time` (a number, epoch seconds)".into());
    }
    let in_progress = match object.get("in_progress") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problem(format!("`in_progress` {other} is not a boolean"));
            false
        }
    };
    match object.get("end_time") {
        Some(end) if !end.is_number() => problem(format!("`end_time` {end} is not a number")),
        None if !in_progress => problem("neither `end_time` nor `in_progress: true`".into()),
        _ => {}
    }

    // subsegment-only and typed fields
    if let Some(namespace) = object.get("namespace") {
        if is_segment {
            problem(format!(
                "`namespace` {namespace} on a segment (a subsegment field)"
            ));
        } else if namespace != "aws" && namespace != "remote" {
            problem(format!(
                "`namespace` {namespace} is neither \"aws\" nor \"remote\""
            ));
        }
    }
    for flag in ["error", "fault", "throttle"] {
        if let Some(value) = object.get(flag) {
            if !value.is_boolean() {
                problem(format!("`{flag}` {value} is not a boolean"));
            }
        }
    }
    if let Some(metadata) = object.get("metadata") {
        if !metadata.is_object() {
            problem("`metadata` is not an object".into());
        }
    }
    if let Some(http) = object.get("http") {
        match http.as_object() {
            None => problem("`http` is not an object".into()),
            Some(http) => {
                if let Some(response) = http.get("response") {
                    for field in ["status", "content_length"] {
                        if let Some(value) = response.get(field) {
                            if !value.is_number() {
                                problem(format!("`http.response.{field}` {value} is not a number"));
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(ids) = object.get("precursor_ids") {
        let valid = ids
            .as_array()
            .is_some_and(|ids| ids.iter().all(|id| id.as_str().is_some_and(is_hex_id)));
        if !valid {
            problem(format!(
                "`precursor_ids` {ids} is not an array of 16-hex-digit ids"
            ));
        }
    }

    // annotations
    if let Some(annotations) = object.get("annotations") {
        match annotations.as_object() {
            None => problem("`annotations` is not an object".into()),
            Some(annotations) => {
                for (key, value) in annotations {
                    let key_length = key.chars().count();
                    if key.is_empty()
                        || key_length > MAX_ANNOTATION_KEY
                        || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        problem(format!(
                            "annotation key {key:?}: keys are 1 to {MAX_ANNOTATION_KEY} of A-Z a-z 0-9 _"
                        ));
                    }
                    match value {
                        Value::String(text) if text.chars().count() > MAX_ANNOTATION_VALUE => {
                            problem(format!(
                            "annotation {key:?}: a string of {} characters (at most {MAX_ANNOTATION_VALUE})",
                            text.chars().count()
                        ))
                        }
                        Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
                        other => problem(format!(
                            "annotation {key:?}: {other} is not a string, number or boolean"
                        )),
                    }
                }
            }
        }
    }

    // cause: an exception id, or an object whose exceptions each have an id
    match object.get("cause") {
        None => {}
        Some(Value::String(id)) if id.chars().count() == 16 => {}
        Some(Value::Object(cause)) => {
            if let Some(exceptions) = cause.get("exceptions") {
                match exceptions.as_array() {
                    None => problem("`cause.exceptions` is not an array".into()),
                    Some(exceptions) => {
                        for exception in exceptions {
                            if !exception["id"].as_str().is_some_and(is_hex_id) {
                                problem(format!(
                                    "exception without an `id` of 16 hexadecimal digits: {exception}"
                                ));
                            }
                        }
                    }
                }
            }
        }
        Some(other) => problem(format!(
            "`cause` {other} is neither a 16-character exception id nor an object"
        )),
    }

    // nested subsegments: the same rules, as subsegments
    if let Some(children) = object.get("subsegments") {
        match children.as_array() {
            None => problems.push(format!("{what}: `subsegments` is not an array")),
            Some(children) => {
                for child in children {
                    match child.as_object() {
                        None => problems.push(format!("{what}: a subsegment is not an object: {child}")),
                        Some(child) => {
                            let what = format!(
                                "subsegment {} ({}) in {what}",
                                child.get("name").unwrap_or(&Value::Null),
                                child.get("id").and_then(Value::as_str).unwrap_or("no id")
                            );
                            check_entity(child, false, &what, problems);
                        }
                    }
                }
            }
        }
    }
}

fn segment_name_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c)
}

/// 16 hexadecimal digits.
pub fn is_hex_id(id: &str) -> bool {
    id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// `1-<8 hex digits>-<24 hex digits>`.
pub fn is_trace_id(trace_id: &str) -> bool {
    let parts: Vec<&str> = trace_id.split('-').collect();
    matches!(parts.as_slice(), ["1", time, random]
        if time.len() == 8
            && random.len() == 24
            && time.chars().chain(random.chars()).all(|c| c.is_ascii_hexdigit()))
}

/// The document itself first, then every nested `subsegments` entry, depth first.
pub fn all_subsegments(document: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    walk(document, &mut out);
    out
}

fn walk(node: &Value, out: &mut Vec<Value>) {
    out.push(node.clone());
    if let Some(children) = node.get("subsegments").and_then(Value::as_array) {
        for child in children {
            walk(child, out);
        }
    }
}
