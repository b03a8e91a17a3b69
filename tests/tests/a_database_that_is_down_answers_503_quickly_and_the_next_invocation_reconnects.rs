//! A database that is down is a clear 503 (`database_unavailable`), answered quickly, told
//! as a fault: the X-Ray invocation and its `sql` subsegment are faults with a
//! `DatabaseError` exception, and one ERROR log line says `query failed`. The process
//! goes on serving, and reconnects once the database is back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cruddur_tests::{
    all_subsegments, database, events::home_activities_event, Behaviour, Stack, DEFAULT_TIMEOUT,
};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The most a refused connection may take to become a 503 (above the 2 s connect timeout).
const QUICK: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_closed_port_is_a_503_a_fault_and_an_error_line_and_the_process_goes_on() -> anyhow::Result<()> {
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("postgresql://cruddur:not-the-password@127.0.0.1:{port}/cruddur?sslmode=disable");
    let stack = Stack::start("home-activities", Behaviour::Healthy, &[("DATABASE_URL", &url)]).await?;

    for attempt in 0..2 {
        let traced = stack.invoke(home_activities_event()).await?;
        let (invocation, response, root) = (&traced.invocation, traced.json(), &traced.root);
        assert!(
            invocation.handler_duration() < QUICK,
            "{:?}",
            invocation.handler_duration()
        );
        assert_eq!(response["statusCode"], 503, "{response}");
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap())?;
        assert_eq!(body["error"], "database_unavailable", "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert!(!body.to_string().contains("not-the-password"));

        // X-Ray: the invocation is a fault, and so is its query, with the cause.
        let docs = stack.xray_trace(root).await?;
        let all: Vec<Value> = docs.iter().flat_map(all_subsegments).collect();
        let invocation_doc = all.iter().find(|s| s["name"] == "home-activities").unwrap();
        assert_eq!(invocation_doc["fault"], true, "{invocation_doc}");
        assert_eq!(invocation_doc["http"]["response"]["status"], 503);
        let query = all
            .iter()
            .find(|s| s.get("sql").is_some())
            .expect("the failed query's sql subsegment");
        assert_eq!(query["fault"], true, "{query}");
        assert_eq!(
            query["sql"]["url"],
            format!("postgresql://127.0.0.1:{port}/cruddur")
        );
        assert_eq!(
            query["cause"]["exceptions"][0]["type"], "DatabaseError",
            "{query}"
        );
        assert!(!query.to_string().contains("not-the-password"));

        // Logs: one ERROR line, inside the query, for this request.
        let line = stack
            .function
            .wait_for_json_log(
                |l| l["level"] == "ERROR" && l["requestId"] == invocation.request_id.as_str(),
                DEFAULT_TIMEOUT,
            )
            .await?;
        assert_eq!(line["message"], "query failed", "{line}");
        assert_eq!(line["exception.type"], "DatabaseError", "{line}");
        assert_eq!(line["xray_trace_id"], root.as_str());
        let errors = stack
            .function
            .json_logs()
            .into_iter()
            .filter(|l| l["level"] == "ERROR")
            .count();
        assert_eq!(errors, attempt + 1, "one ERROR line per failed request");
        assert!(!stack.function.output_tail(200).contains("not-the-password"));
    }
    assert!(stack.function.is_running());
    stack.check_traces()?;
    Ok(())
}

#[tokio::test]
async fn the_next_invocation_reconnects_once_the_database_is_back() -> anyhow::Result<()> {
    let Some(url) = database::test_database()? else {
        return Ok(());
    };
    // The function reaches the database through a proxy we can cut.
    let target: SocketAddr = url
        .split_once('@')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or_default()
        .parse()?;
    let proxy = Proxy::start(target).await?;
    let proxied = url.replacen(&target.to_string(), &proxy.address.to_string(), 1);
    let stack = Stack::start(
        "home-activities",
        Behaviour::Healthy,
        &[("DATABASE_URL", &proxied)],
    )
    .await?;

    let response = stack.invoke(home_activities_event()).await?.json();
    assert_eq!(response["statusCode"], 200, "{response}");
    assert!(response["body"].as_str().unwrap().contains("Cloud is fun!"));

    proxy.cut();
    let traced = stack.invoke(home_activities_event()).await?;
    assert_eq!(traced.json()["statusCode"], 503, "{}", traced.json());
    assert!(traced.invocation.handler_duration() < QUICK);

    proxy.restore();
    let response = stack.invoke(home_activities_event()).await?.json();
    assert_eq!(response["statusCode"], 200, "reconnected: {response}");
    let response = stack.invoke(home_activities_event()).await?.json();
    assert_eq!(response["statusCode"], 200, "{response}");
    Ok(())
}

/// A TCP proxy to the database that can drop every connection and refuse new ones.
struct Proxy {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (up, connections) = (up.clone(), connections.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue; // Dropped: the connection closes at once.
                    }
                    let forward = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(forward);
                }
            }
        });
        Ok(Proxy {
            address,
            up,
            connections,
            accept,
        })
    }

    /// Drops every open connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// Accepts connections again.
    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
