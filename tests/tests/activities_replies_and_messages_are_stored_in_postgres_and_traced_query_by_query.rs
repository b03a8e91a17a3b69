//! With `DATABASE_URL` set, the real binaries store the signed-in caller's activities,
//! replies and messages in PostgreSQL and read them back (create-activity then show-activity finds it; a reply
//! appears in its activity's replies; a message appears in the conversation), and every
//! query arrives as a client span: OTLP `db.*` attributes with the SQL text but never the
//! values, and an X-Ray `sql` subsegment (`sanitized_query`, `database_type`, `url`
//! without the password).

use anyhow::ensure;
use cruddur_tests::{
    all_subsegments, database,
    events::{rest_api_event, signed_in},
    eventually, Behaviour, ReceivedSpan, Stack, Traced,
};
use serde_json::{json, Value};

#[tokio::test]
async fn activities_replies_and_messages_are_stored_in_postgres_and_traced_query_by_query(
) -> anyhow::Result<()> {
    let Some(url) = database::test_database()? else {
        return Ok(());
    };
    let env = [("DATABASE_URL", url.as_str())];
    let marker = uuid::Uuid::new_v4().simple().to_string();

    // create-activity, then show-activity finds it.
    let text = format!("Stored in PostgreSQL {marker}");
    let create = Stack::start("create-activity", Behaviour::Healthy, &env).await?;
    let body = json!({"message": text, "ttl": "1-hour"}).to_string();
    let event = rest_api_event(
        "POST",
        "/api/activities",
        "/api/activities",
        None,
        None,
        Some(&body),
    );
    let trace = create.invoke(signed_in(event, ANDREW_SUB, "andrewbrown")).await?;
    let activity = trace.api_body(200)?;
    assert_eq!(activity["message"], text.as_str());
    assert_eq!(activity["handle"], "andrewbrown");
    let uuid = activity["uuid"].as_str().unwrap().to_owned();
    let queries = check_queries(
        &create,
        &trace,
        &url,
        &[&text],
        &["SELECT users", "INSERT activities"],
    )
    .await?;
    let insert = queries.iter().find(|s| s.name == "INSERT activities").unwrap();
    assert_eq!(insert.str_attr("db.operation.name"), Some("INSERT"));
    let service = span(&create, &trace, "create-activity-new-activity")?;
    assert_eq!(
        insert.parent_span_id_hex, service.span_id_hex,
        "the query is the service's child"
    );

    let show = Stack::start("show-activity", Behaviour::Healthy, &env).await?;
    let path = format!("/api/activities/{uuid}");
    let show_event = || {
        rest_api_event(
            "GET",
            &path,
            "/api/activities/{activity_uuid}",
            Some(json!({"activity_uuid": uuid})),
            None,
            None,
        )
    };
    let trace = show.invoke(show_event()).await?;
    let shown = trace.api_body(200)?;
    assert_eq!(shown["message"], text.as_str());
    assert_eq!(shown["replies"], json!([]));
    check_queries(
        &show,
        &trace,
        &url,
        &[],
        &["SELECT activities", "SELECT activities"],
    )
    .await?;
    let data = span(&show, &trace, "show-activity-db-data")?;
    assert_eq!(
        data.str_attr("app.activity_uuid"),
        Some(uuid.as_str()),
        "a database names the read span db-data"
    );

    // create-reply, then the activity shows it.
    let reply_text = format!("A reply in PostgreSQL {marker}");
    let reply = Stack::start("create-reply", Behaviour::Healthy, &env).await?;
    let body = json!({"message": reply_text}).to_string();
    let event = rest_api_event(
        "POST",
        &format!("/api/activities/{uuid}/reply"),
        "/api/activities/{activity_uuid}/reply",
        Some(json!({"activity_uuid": uuid})),
        None,
        Some(&body),
    );
    let trace = reply.invoke(signed_in(event, WORF_SUB, "worf")).await?;
    let created = trace.api_body(200)?;
    assert_eq!(created["handle"], "worf", "authored by the caller");
    assert_eq!(created["reply_to_activity_uuid"], uuid.as_str());
    check_queries(
        &reply,
        &trace,
        &url,
        &[&reply_text],
        &["SELECT users", "SELECT activities", "INSERT activities"],
    )
    .await?;
    let shown = show.invoke(show_event()).await?.api_body(200)?;
    assert_eq!(shown["replies_count"], 1);
    assert_eq!(shown["replies"][0]["message"], reply_text.as_str());
    assert_eq!(shown["replies"][0]["uuid"], created["uuid"]);

    // create-message, then the conversation lists it.
    let message_text = format!("A message in PostgreSQL {marker}");
    let send = Stack::start("create-message", Behaviour::Healthy, &env).await?;
    let body = json!({"message": message_text, "user_receiver_handle": "@garek"}).to_string();
    let event = rest_api_event("POST", "/api/messages", "/api/messages", None, None, Some(&body));
    let trace = send.invoke(signed_in(event, ANDREW_SUB, "andrewbrown")).await?;
    let sent = trace.api_body(200)?;
    assert_eq!(sent["message"], message_text.as_str());
    check_queries(
        &send,
        &trace,
        &url,
        &[&message_text],
        &["SELECT users", "SELECT users", "INSERT messages"],
    )
    .await?;
    let read = Stack::start("messages", Behaviour::Healthy, &env).await?;
    let event = rest_api_event(
        "GET",
        "/api/messages/@garek",
        "/api/messages/{handle}",
        Some(json!({"handle": "@garek"})),
        None,
        None,
    );
    let trace = read.invoke(signed_in(event, ANDREW_SUB, "andrewbrown")).await?;
    let conversation = trace.api_body(200)?;
    let texts: Vec<&str> = conversation
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&message_text.as_str()), "{texts:?}");
    check_queries(
        &read,
        &trace,
        &url,
        &[],
        &["SELECT users", "SELECT users", "SELECT messages"],
    )
    .await?;

    // Nothing was logged as a failure; every trace is whole, every X-Ray document valid.
    for stack in [&create, &show, &reply, &send, &read] {
        stack.check_traces()?;
        let errors: Vec<Value> = stack
            .function
            .json_logs()
            .into_iter()
            .filter(|l| l["level"] == "ERROR")
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", stack.function.name());
    }
    Ok(())
}

/// The signed-in callers' Cognito ids.
const ANDREW_SUB: &str = "8b1f4c9e-2d7a-4e31-9c5b-6a0f3e2d1c4b";
const WORF_SUB: &str = "c4e2a7d1-5b3f-4a69-8e0c-1d2f3a4b5c6d";

/// The OTLP span named `name` of `trace`.
fn span(stack: &Stack, trace: &Traced, name: &str) -> anyhow::Result<ReceivedSpan> {
    stack
        .otlp
        .spans()
        .into_iter()
        .find(|s| s.trace_id_hex == trace.trace_hex && s.name == name)
        .ok_or_else(|| anyhow::anyhow!("no span {name}"))
}

/// Checks the trace's query spans (named `expected`, in order) in OTLP and X-Ray, and that
/// none of `secrets` (the user's texts, the password) appears in them; returns them.
async fn check_queries(
    stack: &Stack,
    trace: &Traced,
    url: &str,
    values: &[&str],
    expected: &[&str],
) -> anyhow::Result<Vec<ReceivedSpan>> {
    let connection_string = database::connection_string(url);
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(credentials, _)| credentials.to_owned())
        .unwrap_or_default();

    // OTLP: one client span per query, in order.
    let queries = eventually("the query spans", || {
        let mut spans: Vec<ReceivedSpan> = stack
            .otlp
            .spans()
            .into_iter()
            .filter(|s| s.trace_id_hex == trace.trace_hex && s.attr("db.system").is_some())
            .collect();
        spans.sort_by_key(|s| s.start_time_unix_nano);
        (spans.len() >= expected.len()).then_some(spans)
    })
    .await?;
    let names: Vec<&str> = queries.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, expected, "{}", stack.function.name());
    for query in &queries {
        let text = query.str_attr("db.query.text").unwrap_or_default();
        assert_eq!(query.kind, 3, "CLIENT: {query:#?}");
        assert_eq!(query.str_attr("db.system"), Some("postgresql"));
        assert_eq!(query.str_attr("db.namespace"), Some("cruddur"));
        assert_eq!(
            Some(query.name.split(' ').next().unwrap()),
            query.str_attr("db.operation.name")
        );
        assert!(text.contains("$1"), "placeholders: {text}");
        assert_eq!(
            query.str_attr("db.connection_string"),
            Some(connection_string.as_str())
        );
        assert_eq!(query.str_attr("server.address"), Some("127.0.0.1"));
        assert_eq!(query.str_attr("db.user"), Some("cruddur"));
        let attributes = format!("{:?}", query.attributes);
        for value in values.iter().chain([&password.as_str()]) {
            assert!(!attributes.contains(value), "{value:?} in {attributes}");
        }
    }

    // X-Ray: each query is an `sql` subsegment named for the database.
    let subsegments = eventually("the sql subsegments", || {
        let found: Vec<Value> = stack
            .xray
            .documents()
            .iter()
            .filter(|d| d["trace_id"] == trace.root.as_str())
            .flat_map(all_subsegments)
            .filter(|s| s.get("sql").is_some())
            .collect();
        (found.len() >= expected.len()).then_some(found)
    })
    .await?;
    ensure!(subsegments.len() == expected.len(), "{subsegments:#?}");
    for sub in &subsegments {
        let sql = &sub["sql"];
        assert_eq!(sub["name"], "cruddur", "{sub}");
        assert_eq!(sub["namespace"], "remote", "{sub}");
        assert_eq!(sql["database_type"], "postgresql", "{sub}");
        assert_eq!(sql["url"], connection_string.as_str(), "{sub}");
        assert_eq!(sql["user"], "cruddur", "{sub}");
        let query = sql["sanitized_query"].as_str().unwrap_or_default();
        assert!(
            queries.iter().any(|q| q.str_attr("db.query.text") == Some(query)),
            "{query}"
        );
        assert!(sub.get("fault").is_none(), "{sub}");
        let text = sub.to_string();
        for value in values.iter().chain([&password.as_str()]) {
            assert!(!text.contains(value), "{value:?} in {text}");
        }
    }
    Ok(queries)
}
