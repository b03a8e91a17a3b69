//! Every service traces its work as one span (named for X-Ray, `otel.name` for Honeycomb,
//! `app.*` attributes) and one info event named after the service, and never traces the
//! text users write. With the memory store (which does no I/O and so traces no query) the
//! read spans are `mock-data`, as the seed traced them; with a database they are `db-data`,
//! and a store failure is the span's `app.error_code`.
//!
//! The recorder is installed as the global default before any service runs: scoped
//! subscribers (`with_default`) race with callsite interest caching when tests run in
//! parallel, and a callsite first seen with no subscriber would stay disabled.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use async_trait::async_trait;
use domain::store::{NewActivity, NewMessage, StoreResult};
use domain::*;
use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;
const GAREK_POST: &str = "248959df-3079-4947-b847-9e0892d1bab4";

fn store() -> MemoryStore {
    MemoryStore::seeded(NOW)
}

/// The signed-in caller of the services that act for one.
fn demo() -> Handle {
    Handle::parse("andrewbrown").unwrap()
}

/// The anonymous home feed: the seed app's front page.
fn front_page(handle: &Handle) -> Viewer<'_> {
    Viewer::Anonymous { front_page: handle }
}

#[test]
fn home_activities_as_the_seed_traced_it() {
    let (_, recorded) = record(home_activities(&store(), front_page(&demo()), NOW));
    let span = recorded.span();
    assert_eq!(span.name, "mock-data");
    assert_eq!(span.field("otel.name"), "home-activities-mock-data");
    assert_eq!(span.field("app.now"), NOW.to_string());
    assert_eq!(span.field("app.result_length"), "3");
    let event = recorded.event();
    assert_eq!(event.level, Level::INFO);
    assert_eq!(event.field("message"), "HomeActivities");
    assert_eq!(event.field("result_length"), "3");
}

#[test]
fn notifications_activities() {
    let (_, recorded) = record(domain::notifications_activities(&store(), &demo(), NOW));
    let span = recorded.span();
    assert_eq!(span.name, "mock-data");
    assert_eq!(span.field("otel.name"), "notifications-activities-mock-data");
    assert_eq!(span.field("app.result_length"), "1");
    let event = recorded.event();
    assert_eq!(event.level, Level::INFO);
    assert_eq!(event.field("message"), "NotificationsActivities");
    assert_eq!(event.field("result_length"), "1");
}

#[test]
fn user_activities() {
    let (_, recorded) = record(domain::user_activities(&store(), "@worf", NOW));
    let span = recorded.span();
    assert_eq!(span.name, "mock-data");
    assert_eq!(span.field("otel.name"), "user-activities-mock-data");
    assert_eq!(span.field("app.handle"), "@worf");
    assert_eq!(span.field("app.result_length"), "1");
    assert!(!span.fields.contains_key("app.error_code"));
    assert_eq!(recorded.event().field("message"), "UserActivities");
    assert_eq!(recorded.event().field("result_length"), "1");

    let (_, recorded) = record(domain::user_activities(&store(), "nobody", NOW));
    assert_eq!(recorded.span().field("app.error_code"), "user_not_found");
    assert!(!recorded.span().fields.contains_key("app.result_length"));
    assert_eq!(recorded.event().level, Level::INFO);
    assert_eq!(recorded.event().field("message"), "UserActivities");
    assert_eq!(recorded.event().field("error_code"), "user_not_found");
}

#[test]
fn search_activities() {
    let (_, recorded) = record(domain::search_activities(&store(), Some(" Cloud "), NOW));
    let span = recorded.span();
    assert_eq!(span.name, "mock-data");
    assert_eq!(span.field("otel.name"), "search-activities-mock-data");
    assert_eq!(span.field("app.term"), "Cloud");
    assert_eq!(span.field("app.result_length"), "1");
    let event = recorded.event();
    assert_eq!(event.field("message"), "SearchActivities");
    assert_eq!(event.field("result_length"), "1");

    let (_, recorded) = record(domain::search_activities(&store(), None, NOW));
    assert!(!recorded.span().fields.contains_key("app.term"));
    assert_eq!(recorded.span().field("app.error_code"), "search_term_blank");
    assert_eq!(recorded.event().field("error_code"), "search_term_blank");
}

#[test]
fn create_activity_without_the_text() {
    let andrew = demo();
    let input = |message: &str, ttl: &str| CreateActivity {
        message: Some(message.into()),
        ttl: Some(ttl.into()),
    };
    let (activity, recorded) = record(domain::create_activity(
        &store(),
        input("Rust is fun!", "1-hour"),
        &andrew,
        NOW,
    ));
    let span = recorded.span();
    assert_eq!(span.name, "new-activity");
    assert_eq!(span.field("otel.name"), "create-activity-new-activity");
    assert_eq!(span.field("app.user_handle"), "andrewbrown");
    assert_eq!(span.field("app.message_length"), "12");
    assert_eq!(span.field("app.ttl"), "1-hour");
    let uuid = activity.unwrap().uuid.to_string();
    assert_eq!(span.field("app.activity_uuid"), uuid);
    let event = recorded.event();
    assert_eq!(event.field("message"), "CreateActivity");
    assert_eq!(event.field("activity_uuid"), uuid);
    assert!(!recorded.mentions("Rust"));

    let (_, recorded) = record(domain::create_activity(
        &store(),
        input("hi", "forever"),
        &andrew,
        NOW,
    ));
    assert_eq!(recorded.span().field("app.error_code"), "ttl_invalid");
    assert_eq!(recorded.event().field("error_code"), "ttl_invalid");
}

#[test]
fn show_activity() {
    let (_, recorded) = record(domain::show_activity(&store(), GAREK_POST));
    let span = recorded.span();
    assert_eq!(span.name, "mock-data");
    assert_eq!(span.field("otel.name"), "show-activity-mock-data");
    assert_eq!(span.field("app.activity_uuid"), GAREK_POST);
    assert_eq!(recorded.event().field("message"), "ShowActivity");
    assert_eq!(recorded.event().field("activity_uuid"), GAREK_POST);

    let (_, recorded) = record(domain::show_activity(&store(), "nope"));
    assert_eq!(recorded.span().field("app.error_code"), "uuid_invalid");
    assert_eq!(recorded.event().field("error_code"), "uuid_invalid");
}

#[test]
fn create_reply_without_the_text() {
    let worf = Handle::parse("@worf").unwrap();
    let input = |message: &str| CreateReply {
        message: Some(message.into()),
    };
    let (reply, recorded) = record(domain::create_reply(
        &store(),
        GAREK_POST,
        input("Tailor? Spy."),
        &worf,
        NOW,
    ));
    let span = recorded.span();
    assert_eq!(span.name, "new-reply");
    assert_eq!(span.field("otel.name"), "create-reply-new-reply");
    assert_eq!(span.field("app.activity_uuid"), GAREK_POST);
    assert_eq!(span.field("app.user_handle"), "worf");
    assert_eq!(span.field("app.message_length"), "12");
    let reply_uuid = reply.unwrap().activity.uuid.to_string();
    assert_eq!(span.field("app.reply_uuid"), reply_uuid);
    let event = recorded.event();
    assert_eq!(event.field("message"), "CreateReply");
    assert_eq!(event.field("reply_uuid"), reply_uuid);
    assert_eq!(event.field("activity_uuid"), GAREK_POST);
    assert!(!recorded.mentions("Spy"));

    let (_, recorded) = record(domain::create_reply(&store(), GAREK_POST, input(""), &worf, NOW));
    assert_eq!(recorded.span().field("app.error_code"), "message_blank");
    assert_eq!(recorded.event().field("error_code"), "message_blank");
}

#[test]
fn message_groups() {
    let (_, recorded) = record(domain::message_groups(&store(), &demo()));
    let span = recorded.span();
    assert_eq!(span.name, "mock-data");
    assert_eq!(span.field("otel.name"), "message-groups-mock-data");
    assert_eq!(span.field("app.result_length"), "2");
    let event = recorded.event();
    assert_eq!(event.field("message"), "MessageGroups");
    assert_eq!(event.field("result_length"), "2");
}

#[test]
fn messages() {
    let (_, recorded) = record(domain::messages(&store(), &demo(), "@andrewbrown"));
    let span = recorded.span();
    assert_eq!(span.name, "mock-data");
    assert_eq!(span.field("otel.name"), "messages-mock-data");
    assert_eq!(span.field("app.handle"), "@andrewbrown");
    assert_eq!(span.field("app.result_length"), "2");
    assert_eq!(recorded.event().field("message"), "Messages");
    assert!(!recorded.mentions("platform"));

    let (_, recorded) = record(domain::messages(&store(), &demo(), "@"));
    assert_eq!(recorded.span().field("app.error_code"), "handle_blank");
    assert_eq!(recorded.event().field("error_code"), "handle_blank");
}

#[test]
fn create_message_without_the_text() {
    let andrew = demo();
    let input = |message: &str, receiver: &str| CreateMessage {
        message: Some(message.into()),
        user_receiver_handle: Some(receiver.into()),
    };
    let (message, recorded) = record(domain::create_message(
        &store(),
        input("Qapla'!", "@worf"),
        &andrew,
        NOW,
    ));
    let span = recorded.span();
    assert_eq!(span.name, "new-message");
    assert_eq!(span.field("otel.name"), "create-message-new-message");
    assert_eq!(span.field("app.user_sender_handle"), "andrewbrown");
    assert_eq!(span.field("app.user_receiver_handle"), "@worf");
    assert_eq!(span.field("app.message_length"), "7");
    let uuid = message.unwrap().uuid.to_string();
    assert_eq!(span.field("app.message_uuid"), uuid);
    let event = recorded.event();
    assert_eq!(event.field("message"), "CreateMessage");
    assert_eq!(event.field("message_uuid"), uuid);
    assert!(!recorded.mentions("Qapla"));

    let (_, recorded) = record(domain::create_message(&store(), input("hi", ""), &andrew, NOW));
    assert_eq!(
        recorded.span().field("app.error_code"),
        "user_receiver_handle_blank"
    );
    assert_eq!(recorded.event().field("error_code"), "user_receiver_handle_blank");
}

#[test]
fn a_database_names_the_span_db_data_and_a_failure_its_error_code() {
    let (result, recorded) = record(home_activities(&Down, Viewer::Caller(&demo()), NOW));
    assert_eq!(result.unwrap_err(), Error::DatabaseUnavailable);
    let span = recorded.span();
    assert_eq!(span.name, "db-data");
    assert_eq!(span.field("otel.name"), "home-activities-db-data");
    assert_eq!(span.field("app.error_code"), "database_unavailable");
    assert_eq!(recorded.event().level, Level::INFO);
    assert_eq!(recorded.event().field("error_code"), "database_unavailable");

    let (result, recorded) = record(domain::messages(&Down, &demo(), "@worf"));
    assert_eq!(result.unwrap_err().status(), 503);
    assert_eq!(recorded.span().field("otel.name"), "messages-db-data");
    assert!(!recorded.mentions("connection refused"));
}

#[test]
fn health_check() {
    let (_, recorded) = record(async { domain::health_check() });
    let span = recorded.span();
    assert_eq!(span.name, "status");
    assert_eq!(span.field("otel.name"), "health-check-status");
    assert_eq!(span.field("app.success"), "true");
    assert_eq!(span.field("app.ver"), "1");
    assert_eq!(recorded.event().field("message"), "HealthCheck");
}

/* --- A DATABASE THAT IS DOWN --- */

/// A store that is not in memory and never answers.
#[derive(Debug)]
struct Down;

fn down<T>() -> StoreResult<T> {
    Err(StoreError::Unavailable("connection refused".into()))
}

#[async_trait]
impl Store for Down {
    async fn user(&self, _: &str) -> StoreResult<Option<User>> {
        down()
    }
    async fn home_feed(&self, _: uuid::Uuid, _: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        down()
    }
    async fn notifications_feed(&self, _: uuid::Uuid, _: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        down()
    }
    async fn user_posts(&self, _: uuid::Uuid, _: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        down()
    }
    async fn search_posts(&self, _: &str, _: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        down()
    }
    async fn activity(&self, _: uuid::Uuid) -> StoreResult<Option<Activity>> {
        down()
    }
    async fn replies(&self, _: &[uuid::Uuid]) -> StoreResult<Vec<Reply>> {
        down()
    }
    async fn insert_activity(&self, _: &NewActivity) -> StoreResult<Activity> {
        down()
    }
    async fn message_groups(&self, _: uuid::Uuid) -> StoreResult<Vec<MessageGroup>> {
        down()
    }
    async fn messages(&self, _: uuid::Uuid, _: uuid::Uuid) -> StoreResult<Vec<Message>> {
        down()
    }
    async fn insert_message(&self, _: &NewMessage) -> StoreResult<Message> {
        down()
    }
}

/// Polls `future` once: the stores here never wait.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("these stores never wait"),
    }
}

/* --- RECORDER --- */

/// What a service emitted on this thread while recorded.
#[derive(Debug, Default)]
struct Recorded {
    spans: Vec<RecordedSpan>,
    events: Vec<RecordedEvent>,
    /// Span id -> index in `spans`.
    index: HashMap<u64, usize>,
}

#[derive(Debug)]
struct RecordedSpan {
    name: &'static str,
    fields: BTreeMap<String, String>,
}

#[derive(Debug)]
struct RecordedEvent {
    level: Level,
    fields: BTreeMap<String, String>,
}

impl Recorded {
    /// The only span; panics unless exactly one was created.
    fn span(&self) -> &RecordedSpan {
        assert_eq!(self.spans.len(), 1, "{:#?}", self.spans);
        &self.spans[0]
    }

    /// The only event; panics unless exactly one was emitted.
    fn event(&self) -> &RecordedEvent {
        assert_eq!(self.events.len(), 1, "{:#?}", self.events);
        &self.events[0]
    }

    /// Whether any span or event field contains `text`.
    fn mentions(&self, text: &str) -> bool {
        let span_values = self.spans.iter().flat_map(|s| s.fields.values());
        let event_values = self.events.iter().flat_map(|e| e.fields.values());
        span_values.chain(event_values).any(|value| value.contains(text))
    }
}

impl RecordedSpan {
    fn field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("no field {name} in {self:#?}"))
    }
}

impl RecordedEvent {
    fn field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("no field {name} in {self:#?}"))
    }
}

thread_local! {
    /// Set while `record` runs on this thread.
    static RECORDING: RefCell<Option<Recorded>> = const { RefCell::new(None) };
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Global subscriber that keeps what each thread emits while that thread is recording.
struct Recorder {
    next_id: AtomicU64,
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        RECORDING.with_borrow_mut(|recording| {
            if let Some(recorded) = recording {
                let mut fields = BTreeMap::new();
                attributes.record(&mut Fields(&mut fields));
                recorded.index.insert(id, recorded.spans.len());
                recorded.spans.push(RecordedSpan {
                    name: attributes.metadata().name(),
                    fields,
                });
            }
        });
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        RECORDING.with_borrow_mut(|recording| {
            if let Some(recorded) = recording {
                if let Some(&index) = recorded.index.get(&span.into_u64()) {
                    values.record(&mut Fields(&mut recorded.spans[index].fields));
                }
            }
        });
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        RECORDING.with_borrow_mut(|recording| {
            if let Some(recorded) = recording {
                let mut fields = BTreeMap::new();
                event.record(&mut Fields(&mut fields));
                recorded.events.push(RecordedEvent {
                    level: *event.metadata().level(),
                    fields,
                });
            }
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Runs `future` (which the memory store makes ready at once) and returns what it
/// emitted on this thread.
fn record<T>(future: impl std::future::Future<Output = T>) -> (T, Recorded) {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing::subscriber::set_global_default(Recorder {
            next_id: AtomicU64::new(1),
        })
        .expect("no other global subscriber in this test binary");
    });
    RECORDING.set(Some(Recorded::default()));
    let value = block_on(future);
    let recorded = RECORDING.take().expect("recording");
    (value, recorded)
}
