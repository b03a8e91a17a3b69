//! `trace-console query` against X-Ray (moto's server standing in for AWS): the
//! segment documents home-activities really emits, put with PutTraceSegments, are
//! found in the window, drawn, and given a Logs Insights query; an empty window, a
//! filter matching nothing, missing credentials and an endpoint that never answers
//! each get a clear word and the right exit code.

use std::io::Read as _;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use cruddur_tests::{
    events::home_activities_event, function::binary_path, moto::MOTO_REGION, otel_trace_id_from_root,
    trace_header, Behaviour, MotoServer, Stack, DEFAULT_TIMEOUT,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What one run of the console printed.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn text(&self) -> String {
        format!(
            "exit {}, {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.took, self.stdout, self.stderr
        )
    }
}

/// Runs `trace-console <args>` with only PATH and `env` (no AWS profile of the
/// machine leaks in), killing it after `deadline`.
async fn console(args: &[&str], env: &[(String, String)], deadline: Duration) -> anyhow::Result<Run> {
    let mut command = Command::new(binary_path("trace-console")?);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws/credentials")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{args:?}");
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = command.spawn().context("spawning trace-console")?;
        let read = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = read(Box::new(child.stdout.take().expect("piped")));
        let stderr = read(Box::new(child.stderr.take().expect("piped")));
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("trace-console {shown} still running after {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Run {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
            took: started.elapsed(),
        })
    })
    .await?
}

/// An X-Ray client for moto, configured in code (not from the environment).
fn xray(moto: &MotoServer) -> aws_sdk_xray::Client {
    aws_sdk_xray::Client::new(&moto.sdk_config())
}

/// The X-Ray documents of one sampled home-activities request, as the function sent them.
async fn home_activities_documents() -> anyhow::Result<(String, Vec<Value>)> {
    let stack = Stack::start("home-activities", Behaviour::Healthy, &[]).await?;
    let (header, root, _) = trace_header(true);
    let event = home_activities_event();
    assert_eq!(
        stack.runtime.invoke(event, Some(&header)).await?.json()["statusCode"],
        200
    );
    let documents: Vec<Value> = stack
        .xray
        .wait_for_documents(1, DEFAULT_TIMEOUT)
        .await?
        .into_iter()
        .filter(|d| d["trace_id"] == root.as_str())
        .collect();
    assert!(!documents.is_empty());
    Ok((root, documents))
}

/// The same documents as a trace `hours` earlier (a new trace id of that time).
fn earlier(documents: &[Value], hours: u64) -> (String, Vec<Value>) {
    let shift = hours * 3600;
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - shift;
    let root = format!("1-{:08x}-{:024x}", seconds as u32, fastrand::u128(1..1u128 << 95));
    fn move_back(node: &mut Value, shift: f64) {
        for key in ["start_time", "end_time"] {
            if let Some(t) = node[key].as_f64() {
                node[key] = Value::from(t - shift);
            }
        }
        if let Some(children) = node.get_mut("subsegments").and_then(Value::as_array_mut) {
            children.iter_mut().for_each(|c| move_back(c, shift));
        }
    }
    let moved = documents
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d["trace_id"] = Value::from(root.as_str());
            move_back(&mut d, shift as f64);
            d
        })
        .collect();
    (root, moved)
}

const QUERY_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn query_finds_and_draws_traces_put_to_xray() -> anyhow::Result<()> {
    let moto = MotoServer::start().await?;
    let env = moto.env();

    // Nothing in X-Ray yet: said plainly, and not a failure.
    let empty = console(&["query", "--minutes", "10"], &env, QUERY_DEADLINE).await?;
    assert!(empty.status.success(), "{}", empty.text());
    assert_eq!(
        empty.stdout.trim(),
        "no traces in the last 10 minutes in us-east-1",
        "{}",
        empty.text()
    );

    // What home-activities really sent, now, and the same again two hours earlier.
    let (root, documents) = home_activities_documents().await?;
    let (old_root, old_documents) = earlier(&documents, 2);
    let put = xray(&moto)
        .put_trace_segments()
        .set_trace_segment_documents(Some(
            documents
                .iter()
                .chain(&old_documents)
                .map(Value::to_string)
                .collect(),
        ))
        .send()
        .await
        .with_context(|| moto.stderr_tail())?;
    assert!(put.unprocessed_trace_segments().is_empty(), "{put:?}");

    // The last 10 minutes: this request's trace, drawn, with its Logs Insights query.
    let recent = console(&["query", "--minutes", "10"], &env, QUERY_DEADLINE).await?;
    let text = recent.text();
    assert!(recent.status.success(), "{text}");
    assert!(
        recent
            .stdout
            .starts_with("1 trace in the last 10 minutes in us-east-1"),
        "{text}"
    );
    assert!(
        recent.stdout.contains(&format!("── trace {root} · 2 spans · ")),
        "{text}"
    );
    let row = |name: &str| {
        recent
            .stdout
            .lines()
            .any(|l| l.contains(name) && l.contains(" X - ") && l.contains(" ms  |"))
    };
    assert!(row("home-activities") && row("mock-data"), "{text}");
    assert!(recent.stdout.contains("app_result_length=3"), "{text}");
    assert!(
        recent.stdout.contains(&format!(
            "fields @timestamp, level, message, requestId | filter xray_trace_id = \"{root}\" | sort @timestamp asc"
        )),
        "{text}"
    );
    assert!(
        !recent.stdout.contains(&old_root),
        "the older trace is outside the window: {text}"
    );

    // A three-hour window holds both, the older drawn first.
    let wide = console(&["query", "--minutes", "180"], &env, QUERY_DEADLINE).await?;
    assert!(wide.status.success(), "{}", wide.text());
    let (old_at, new_at) = (
        wide.stdout.find(&old_root),
        wide.stdout.find(&format!("── trace {root}")),
    );
    assert!(
        old_at.is_some() && new_at.is_some() && old_at < new_at,
        "{}",
        wide.text()
    );

    // One trace by id, in OTLP's form as a log line carries it.
    let one = console(
        &["query", "--trace-id", &otel_trace_id_from_root(&root)],
        &env,
        QUERY_DEADLINE,
    )
    .await?;
    assert!(one.status.success(), "{}", one.text());
    assert!(
        one.stdout.contains(&format!("── trace {root} · 2 spans")),
        "{}",
        one.text()
    );
    assert!(!one.stdout.contains(&old_root), "{}", one.text());
    Ok(())
}

/// A stand-in X-Ray endpoint that answers every call with an empty page of
/// summaries and keeps the request bodies (moto answers any filter expression
/// with a 500 "Not implemented yet").
async fn empty_xray() -> anyhow::Result<(String, Arc<Mutex<Vec<String>>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                let body = loop {
                    let Ok(n) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            break body.to_owned();
                        }
                    }
                };
                kept.lock().unwrap().push(body);
                let answer = r#"{"TraceSummaries": [], "TracesProcessedCount": 0}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok((endpoint, bodies))
}

fn dummy_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", MOTO_REGION),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[tokio::test]
async fn a_filter_is_passed_through_and_no_match_is_said_plainly() -> anyhow::Result<()> {
    let (endpoint, bodies) = empty_xray().await?;
    let filter = "annotation.ColdStart = true AND service(\"home-activities\")";
    let run = console(
        &["query", "--minutes", "30", "--filter", filter],
        &dummy_env(&endpoint),
        QUERY_DEADLINE,
    )
    .await?;
    assert!(run.status.success(), "{}", run.text());
    assert_eq!(
        run.stdout.trim(),
        format!("no traces in the last 30 minutes in us-east-1 matching '{filter}'"),
        "{}",
        run.text()
    );
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let request: Value = serde_json::from_str(&bodies[0])?;
    assert_eq!(request["FilterExpression"], filter);
    let window = request["EndTime"].as_f64().unwrap() - request["StartTime"].as_f64().unwrap();
    assert_eq!(window, 30.0 * 60.0, "{request}");
    Ok(())
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_fails_clearly_within_the_timeout() -> anyhow::Result<()> {
    // Connections are accepted (by the kernel) and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")?;
    let endpoint = format!("http://{}", silent.local_addr()?);
    let run = console(
        &["query", "--timeout", "2"],
        &dummy_env(&endpoint),
        QUERY_DEADLINE,
    )
    .await?;
    assert!(!run.status.success(), "{}", run.text());
    assert!(run.took < Duration::from_secs(10), "{}", run.text());
    assert!(
        run.stderr.contains(&format!(
            "X-Ray at {endpoint} did not answer GetTraceSummaries within 2 s"
        )),
        "{}",
        run.text()
    );
    assert!(run.stdout.is_empty(), "{}", run.text());
    drop(silent);
    Ok(())
}

#[tokio::test]
async fn without_credentials_the_query_says_how_to_give_them() -> anyhow::Result<()> {
    let env: Vec<(String, String)> = dummy_env("http://127.0.0.1:9")
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"))
        .collect();
    let run = console(&["query"], &env, QUERY_DEADLINE).await?;
    assert!(!run.status.success(), "{}", run.text());
    assert!(
        run.stderr.starts_with("trace-console: no AWS credentials (") && run.stderr.contains("AWS_PROFILE"),
        "{}",
        run.text()
    );
    Ok(())
}
