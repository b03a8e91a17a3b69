//! `trace-console listen` as a developer runs it beside `cargo lambda watch`: the
//! real home-activities function sends it X-Ray datagrams and OTLP spans, and it
//! draws the trace as one waterfall with both sources joined and agreeing. Junk
//! on either port is reported and does not stop it.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context as _};
use cruddur_tests::{
    events::home_activities_event, eventually, function::binary_path, trace_header, FunctionProcess,
    RuntimeApi, DEFAULT_TIMEOUT,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// `trace-console listen` on free ports, its stdout collected line by line.
struct Console {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Console {
    fn start() -> anyhow::Result<Console> {
        let mut child = Command::new(binary_path("trace-console")?)
            .args([
                "listen",
                "--xray-port",
                "0",
                "--otlp-port",
                "0",
                "--quiet-ms",
                "300",
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning trace-console")?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stdout.take().expect("piped stdout");
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Ok(Console { child, stdout })
    }

    fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits for a line matching `predicate`; returns its index.
    async fn wait_for(&self, what: &str, predicate: impl Fn(&str) -> bool) -> anyhow::Result<usize> {
        eventually(what, || self.lines().iter().position(|l| predicate(l)))
            .await
            .map_err(|e| anyhow!("{e} from trace-console:\n{}", self.lines().join("\n")))
    }

    /// The addresses it prints: (AWS_XRAY_DAEMON_ADDRESS, OTEL_EXPORTER_OTLP_ENDPOINT).
    async fn addresses(&self) -> anyhow::Result<(String, String)> {
        let index = self
            .wait_for("address line", |l| l.contains("AWS_XRAY_DAEMON_ADDRESS="))
            .await?;
        let line = &self.lines()[index];
        let value = |key: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(key))
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("no {key} in {line:?}"))
        };
        Ok((
            value("AWS_XRAY_DAEMON_ADDRESS=")?,
            value("OTEL_EXPORTER_OTLP_ENDPOINT=")?,
        ))
    }

    /// The last complete waterfall of trace `root`: its header line through the
    /// line saying whether X-Ray and OTLP agree.
    async fn waterfall_of(&self, root: &str) -> anyhow::Result<Vec<String>> {
        let header = format!("── trace {root} ");
        self.wait_for("agreeing waterfall", |l| l.contains("X-Ray and OTLP agree"))
            .await?;
        let last_waterfall = || {
            let lines = self.lines();
            let start = lines.iter().rposition(|l| l.starts_with(&header))?;
            let len = lines[start..]
                .iter()
                .position(|l| l.contains("X-Ray and OTLP agree"))?;
            Some(lines[start..=start + len].to_vec())
        };
        eventually(&format!("agreeing waterfall of {root}"), last_waterfall)
            .await
            .map_err(|e| anyhow!("{e}:\n{}", self.lines().join("\n")))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("=== trace-console stdout ===\n{}", self.lines().join("\n"));
        }
    }
}

/// POSTs `body` to `endpoint` + `/v1/traces`; returns the answer's status code.
async fn post_traces(endpoint: &str, body: &[u8]) -> anyhow::Result<u16> {
    let address = endpoint.strip_prefix("http://").context("an http endpoint")?;
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut answer = String::new();
    tokio::time::timeout(DEFAULT_TIMEOUT, stream.read_to_string(&mut answer)).await??;
    answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("not an HTTP answer: {answer:?}"))
}

#[tokio::test]
async fn the_console_draws_what_our_functions_emit() -> anyhow::Result<()> {
    let console = Console::start()?;
    let (daemon, endpoint) = console.addresses().await?;
    let runtime = RuntimeApi::start().await;
    let function = FunctionProcess::spawn(
        "home-activities",
        &runtime,
        &[
            ("AWS_XRAY_DAEMON_ADDRESS", daemon.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            // As every Stack: a debug build's first export (client, connection) does not
            // fit Lambda's 1.5 ms budget on a busy machine, and the frozen process would
            // send it only at the next thaw, which this test never brings.
            (
                "CRUDDUR_TELEMETRY_FLUSH_BUDGET_MS",
                cruddur_tests::stack::TEST_FLUSH_BUDGET_MS,
            ),
        ],
    )?;
    let home = || home_activities_event();

    // One sampled request: one waterfall, both sources, agreeing.
    let (header, root, _) = trace_header(true);
    let invocation = runtime.invoke(home(), Some(&header)).await?;
    assert_eq!(invocation.json()["statusCode"], 200);
    let waterfall = console.waterfall_of(&root).await?;
    let text = waterfall.join("\n");
    assert!(
        waterfall[0].contains("· 2 spans ·") && waterfall[0].contains(" ms"),
        "{text}"
    );
    let row = |name: &str| {
        waterfall
            .iter()
            .find(|l| l.contains(name) && l.contains('|'))
            .cloned()
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
    };
    let (top, mock) = (
        row("home-activities "),
        row("mock-data / home-activities-mock-data"),
    );
    for row in [&top, &mock] {
        assert!(row.contains(" X O "), "seen in X-Ray and OTLP: {row}");
        assert!(
            row.contains(" ms  |") && row.contains('█'),
            "duration and bar: {row}"
        );
        assert!(!row.trim_start().starts_with('!'), "not an error: {row}");
    }
    let indent = |row: &str| row.find(|c: char| c.is_alphabetic()).unwrap_or(0);
    assert!(
        indent(&mock) > indent(&top),
        "mock-data is drawn under the invocation:\n{text}"
    );
    assert!(text.contains("ColdStart=true"), "{text}");
    assert!(text.contains("app.result_length=3"), "{text}");
    assert_eq!(waterfall.last().unwrap().trim(), "X-Ray and OTLP agree: 2 spans");

    // Junk on both ports: reported, counted, answered, and the console goes on.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    socket.send_to(b"this is not a segment document", &daemon).await?;
    console
        .wait_for("malformed datagram report", |l| {
            l.starts_with("! malformed X-Ray datagram from") && l.contains("(1 so far): no header line")
        })
        .await?;
    assert_eq!(post_traces(&endpoint, b"this is not protobuf").await?, 400);
    console
        .wait_for("malformed request report", |l| {
            l.starts_with("! malformed OTLP request (1 so far)")
                && l.contains("is not an ExportTraceServiceRequest")
        })
        .await?;

    let (header, second, _) = trace_header(true);
    runtime.invoke(home(), Some(&header)).await?;
    let waterfall = console.waterfall_of(&second).await?;
    assert!(
        waterfall.iter().any(|l| l.contains("ColdStart=false")),
        "{waterfall:#?}"
    );
    assert!(function.is_running());
    assert!(console
        .lines()
        .iter()
        .all(|l| !l.contains("disagree") && !l.contains("refused:")));
    Ok(())
}
