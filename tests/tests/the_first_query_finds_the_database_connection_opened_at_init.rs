//! Cold start with a database (DESIGN.md, "Cold start"): the store starts opening its
//! PostgreSQL connection at init, in the background. Init does not wait for it (here the
//! database is 300 ms a message away behind a latency proxy, so a login takes seconds),
//! the connection is under way before the first event arrives, and the first request's
//! queries use it: no second connection.

use std::time::Duration;

use cruddur_tests::{
    database, events::home_activities_event, Behaviour, LatencyProxy, Stack, DEFAULT_TIMEOUT,
};

#[tokio::test]
async fn init_does_not_wait_for_the_connection_and_the_first_request_uses_it() -> anyhow::Result<()> {
    let Some(url) = database::test_database()? else {
        return Ok(());
    };
    // postgresql://user:password@127.0.0.1:PORT/db?… → the same through the proxy.
    let (credentials, rest) = url.rsplit_once('@').expect("a URL with credentials");
    let (address, path) = rest.split_once('/').expect("a URL with a database");
    let port: u16 = address.rsplit_once(':').expect("a port").1.parse()?;
    let delay = Duration::from_millis(300);
    let proxy = LatencyProxy::start(port, delay).await?;
    let proxied = format!("{credentials}@127.0.0.1:{}/{path}", proxy.port());
    let stack = Stack::start(
        "home-activities",
        Behaviour::Healthy,
        // A debug build's SCRAM login is slow on top of the delay: no timeout here.
        &[
            ("DATABASE_URL", &proxied),
            ("DATABASE_CONNECT_TIMEOUT_MS", "20000"),
        ],
    )
    .await?;

    // Init is over (the runtime asks for the first event) long before a login could be.
    stack.runtime.wait_for_next_poll(1, DEFAULT_TIMEOUT).await?;
    let init = stack.runtime.next_poll_times()[0].duration_since(stack.function.spawned_at());
    assert!(init < delay, "init waited for the database: {init:?}");
    // Yet the connection is under way with no event in sight.
    cruddur_tests::eventually("the connection opened at init", || {
        (proxy.connections() == 1).then_some(())
    })
    .await?;

    // Time for the login (startup, two SCRAM messages); then the first request.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let first = stack.invoke(home_activities_event()).await?;
    assert_eq!(first.json()["statusCode"], 200, "{}", first.json());
    let second = stack.invoke(home_activities_event()).await?;
    assert_eq!(second.json()["statusCode"], 200);
    assert_eq!(
        proxy.connections(),
        1,
        "the requests opened a connection of their own"
    );
    Ok(())
}
