//! [`PostgresStore`]: the [`Store`] in PostgreSQL, one traced statement per method.
//!
//! # Connection
//!
//! One connection, reused by every query of every warm invocation (a Lambda process
//! serves one invocation at a time, so a pool would hold one connection anyway). A store
//! made inside a tokio runtime starts opening it at once, in the background
//! ([`PostgresStore::connect_early`]): init does not wait for it, and the first query
//! finds it open or nearly; otherwise (or if that attempt failed) the first query opens
//! it. Opening it (TCP, TLS, login; reading the password from
//! Secrets Manager the first time) must finish within the connect timeout (2 s by
//! default); each statement within the statement timeout (5 s, enforced by the server,
//! plus a margin here). A connection that broke or timed out is dropped, and the next
//! query opens a new one; a connection found closed when a query starts (the server
//! dropped it while the process was frozen) is reopened at once, within the same query.
//! Statements are prepared once per connection.
//!
//! # Tracing
//!
//! Each query is a client span `query` with the OpenTelemetry database attributes
//! (`db.system`, `db.namespace`, `db.operation.name`, `db.query.text` with `$n`
//! placeholders and never a value, `db.connection_string` without credentials,
//! `server.address`, `server.port`, `db.user`); the telemetry crate makes it an X-Ray
//! `sql` subsegment. A failure is an ERROR event inside the span (`exception.type =
//! "DatabaseError"`, `query failed`), so X-Ray shows a fault and logs an ERROR line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use domain::store::{NewActivity, NewMessage, Store, StoreError, StoreResult, User};
use domain::{Activity, Message, MessageGroup, Reply};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::Instrument;
use uuid::Uuid;

use crate::config::Database;
use crate::error::ConfigError;
use crate::queries::{self, Query};
use crate::{secrets, tls};

/// How much longer than the server's statement timeout we wait for an answer.
const STATEMENT_TIMEOUT_MARGIN: Duration = Duration::from_secs(1);

/// A [`Store`] in a PostgreSQL database.
pub struct PostgresStore {
    database: Database,
    tls: MakeRustlsConnect,
    /// The open connection, if any.
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// The password read from the secret, kept until a login fails with it.
    password: tokio::sync::Mutex<Option<String>>,
    /// What every span says about the database.
    target: Target,
}

/// The span attributes that name the database.
#[derive(Debug)]
struct Target {
    namespace: String,
    connection_string: String,
    host: String,
    port: u16,
    user: String,
}

/// An open connection and the statements prepared on it.
struct Connection {
    client: Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
}

impl std::fmt::Debug for PostgresStore {
    /// Where the database is, never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.target.connection_string)
            .field("user", &self.target.user)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A store for `database`. Nothing is opened until the first query, or
    /// [`PostgresStore::connect_early`].
    pub fn new(database: Database) -> Result<PostgresStore, ConfigError> {
        let tls = tls::connector(database.ca_bundle.as_deref())?;
        let target = Target {
            namespace: database.name().to_owned(),
            connection_string: database.connection_string(),
            host: database.host(),
            port: database.port(),
            user: database.user().to_owned(),
        };
        Ok(PostgresStore {
            database,
            tls,
            connection: tokio::sync::Mutex::new(None),
            password: tokio::sync::Mutex::new(None),
            target,
        })
    }

    /// Starts opening the connection in the background, when called inside a tokio
    /// runtime (at init, so the first query finds it open, or waits only for the rest of
    /// the login); nothing else waits for it. If it fails (or timed out across a freeze of
    /// a pre-initialised environment), the first query opens one itself.
    pub fn connect_early(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            if let Err(error) = store.connection().await {
                tracing::warn!(%error, "the database connection opened at init failed: the first query tries again");
            }
        });
    }

    /// Runs `query` as a traced client span.
    async fn query(&self, query: Query, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let target = &self.target;
        let span = tracing::info_span!(
            "query",
            otel.name = query.name,
            otel.kind = "client",
            db.system = "postgresql",
            db.namespace = target.namespace.as_str(),
            db.operation.name = query.operation,
            db.query.text = query.sql,
            db.connection_string = target.connection_string.as_str(),
            server.address = target.host.as_str(),
            server.port = target.port,
            db.user = target.user.as_str(),
        );
        async {
            let limit =
                self.database.connect_timeout + self.database.statement_timeout + STATEMENT_TIMEOUT_MARGIN;
            let result = match tokio::time::timeout(limit, self.run(query, params)).await {
                Ok(result) => result,
                Err(_) => {
                    // The connection may be stuck mid-statement: never reuse it.
                    self.disconnect().await;
                    Err(StoreError::Unavailable(format!(
                        "no answer within {} ms",
                        limit.as_millis()
                    )))
                }
            };
            if let Err(error) = &result {
                tracing::error!(
                    exception.type = "DatabaseError",
                    exception.message = %error,
                    "query failed"
                );
            }
            result
        }
        .instrument(span)
        .await
    }

    /// Runs `query` on the open connection (opening it if needed), once more on a fresh
    /// connection when the open one turns out to be closed.
    async fn run(&self, query: Query, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let (mut connection, reused) = self.connection().await?;
        let mut result = connection.query(query, params).await;
        if reused && result.as_ref().is_err_and(tokio_postgres::Error::is_closed) {
            self.disconnect().await;
            tracing::warn!("the database connection was closed: reconnecting");
            connection = self.connection().await?.0;
            result = connection.query(query, params).await;
        }
        result.map_err(|error| {
            if connection.client.is_closed() {
                // Not reused: the next query opens a new one.
                self.forget(&connection);
            }
            classify(&error)
        })
    }

    /// Drops `connection` if it is still the open one.
    fn forget(&self, connection: &Arc<Connection>) {
        if let Ok(mut open) = self.connection.try_lock() {
            if open.as_ref().is_some_and(|c| Arc::ptr_eq(c, connection)) {
                open.take();
            }
        }
    }

    /// The open connection, or a new one; and whether it was already open.
    async fn connection(&self) -> StoreResult<(Arc<Connection>, bool)> {
        let mut open = self.connection.lock().await;
        if let Some(connection) = open.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok((connection.clone(), true));
        }
        open.take();
        let password = self.password().await?;
        let client = match connect(&self.database, &self.tls, password.as_deref()).await {
            Err(error)
                if password.is_some() && error.to_string().contains(SqlState::INVALID_PASSWORD.code()) =>
            {
                // The secret was rotated: read it again next time.
                self.password.lock().await.take();
                return Err(error);
            }
            result => result?,
        };
        let connection = Arc::new(Connection {
            client,
            statements: Mutex::new(HashMap::new()),
        });
        *open = Some(connection.clone());
        Ok((connection, false))
    }

    /// The password to log in with, when the settings have none: the secret's, read once.
    async fn password(&self) -> StoreResult<Option<String>> {
        let Some(secret) = self
            .database
            .password_secret
            .as_deref()
            .filter(|_| self.database.postgres.get_password().is_none())
        else {
            return Ok(None);
        };
        let mut cached = self.password.lock().await;
        if cached.is_none() {
            *cached = Some(secrets::read_password(secret).await?);
        }
        Ok(cached.clone())
    }

    async fn disconnect(&self) {
        self.connection.lock().await.take();
    }
}

impl Connection {
    /// Runs `query`, preparing it first on this connection if it never was.
    async fn query(
        &self,
        query: Query,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let prepared = self
            .statements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(query.sql)
            .cloned();
        let statement = match prepared {
            Some(statement) => statement,
            None => {
                let statement = self.client.prepare(query.sql).await?;
                self.statements
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(query.sql, statement.clone());
                statement
            }
        };
        self.client.query(&statement, params).await
    }
}

/// Opens a connection to `database` (with `password` when given), within its connect
/// timeout; the connection's I/O runs on a spawned task until the client is dropped.
pub(crate) async fn connect(
    database: &Database,
    tls: &MakeRustlsConnect,
    password: Option<&str>,
) -> StoreResult<Client> {
    let mut config = database.postgres.clone();
    if let Some(password) = password {
        config.password(password);
    }
    let connecting = config.connect(tls.clone());
    let (client, connection) = tokio::time::timeout(database.connect_timeout, connecting)
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "no connection within {} ms",
                database.connect_timeout.as_millis()
            ))
        })?
        .map_err(|error| match error.as_db_error() {
            // The server answered but refused: a failed login, a missing database.
            Some(_) => match classify(&error) {
                StoreError::Query(message) | StoreError::Unavailable(message) => {
                    StoreError::Unavailable(format!("connection refused by the server: {message}"))
                }
            },
            None => StoreError::Unavailable(error.to_string()),
        })?;
    tokio::spawn(async move {
        // Its error (the server went away) reaches the next query as a closed connection.
        let _ = connection.await;
    });
    Ok(client)
}

/// A store error saying what went wrong without values: the SQLSTATE and the server's
/// message (not its detail, which may quote values), or the client's own error.
fn classify(error: &tokio_postgres::Error) -> StoreError {
    let Some(db) = error.as_db_error() else {
        // I/O, TLS, a closed connection, a timeout: the database is out of reach.
        return StoreError::Unavailable(error.to_string());
    };
    let code = db.code().code();
    let message = format!("{code} {}", db.message());
    // Connection exceptions, insufficient resources, operator intervention (shutdown,
    // statement timeout), failed logins, a missing database: an outage, not a bug.
    let outage = ["08", "53", "57", "28"]
        .iter()
        .any(|class| code.starts_with(class))
        || *db.code() == SqlState::INVALID_CATALOG_NAME;
    if outage {
        StoreError::Unavailable(message)
    } else {
        StoreError::Query(message)
    }
}

/* --- ROWS --- */

fn count(row: &Row, column: usize) -> StoreResult<u32> {
    let value: i32 = get(row, column)?;
    Ok(u32::try_from(value).unwrap_or(0))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, column: usize) -> StoreResult<T> {
    row.try_get(column)
        .map_err(|e| StoreError::Query(format!("column {column}: {e}")))
}

/// An activity from the first nine columns ([`queries`]' activity columns).
fn activity(row: &Row) -> StoreResult<Activity> {
    Ok(Activity {
        uuid: get(row, 0)?,
        handle: get(row, 1)?,
        display_name: get(row, 2)?,
        message: get(row, 3)?,
        created_at: get(row, 4)?,
        expires_at: get(row, 5)?,
        likes_count: count(row, 6)?,
        replies_count: count(row, 7)?,
        reposts_count: count(row, 8)?,
        replies: Vec::new(),
    })
}

fn activities(rows: Vec<Row>) -> StoreResult<Vec<Activity>> {
    rows.iter().map(activity).collect()
}

/// A message (or a message group: the same columns) from `uuid, display_name, handle,
/// message, created_at`.
fn message(row: &Row) -> StoreResult<Message> {
    Ok(Message {
        uuid: get(row, 0)?,
        display_name: get(row, 1)?,
        handle: get(row, 2)?,
        message: get(row, 3)?,
        created_at: get(row, 4)?,
    })
}

fn one<T>(rows: Vec<Row>, read: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<T> {
    match rows.first() {
        Some(row) => read(row),
        None => Err(StoreError::Query("the statement returned no row".into())),
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn user(&self, handle: &str) -> StoreResult<Option<User>> {
        let rows = self.query(queries::USER_BY_HANDLE, &[&handle]).await?;
        rows.first()
            .map(|row| {
                Ok(User {
                    uuid: get(row, 0)?,
                    handle: get(row, 1)?,
                    display_name: get(row, 2)?,
                })
            })
            .transpose()
    }

    async fn home_feed(&self, viewer: Uuid, now: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        activities(self.query(queries::HOME_FEED, &[&viewer, &now]).await?)
    }

    async fn notifications_feed(&self, viewer: Uuid, now: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        activities(self.query(queries::NOTIFICATIONS_FEED, &[&viewer, &now]).await?)
    }

    async fn user_posts(&self, author: Uuid, now: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        activities(self.query(queries::USER_POSTS, &[&author, &now]).await?)
    }

    async fn search_posts(&self, term: &str, now: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        activities(self.query(queries::SEARCH_POSTS, &[&term, &now]).await?)
    }

    async fn activity(&self, uuid: Uuid) -> StoreResult<Option<Activity>> {
        let rows = self.query(queries::ACTIVITY, &[&uuid]).await?;
        rows.first().map(activity).transpose()
    }

    async fn replies(&self, to: &[Uuid]) -> StoreResult<Vec<Reply>> {
        let rows = self.query(queries::REPLIES, &[&to]).await?;
        rows.iter()
            .map(|row| {
                Ok(Reply {
                    activity: activity(row)?,
                    reply_to_activity_uuid: get(row, 9)?,
                })
            })
            .collect()
    }

    async fn insert_activity(&self, new: &NewActivity) -> StoreResult<Activity> {
        let rows = self
            .query(
                queries::INSERT_ACTIVITY,
                &[
                    &new.uuid,
                    &new.user_uuid,
                    &new.message,
                    &new.created_at,
                    &new.expires_at,
                    &new.reply_to_activity_uuid,
                ],
            )
            .await?;
        one(rows, activity)
    }

    async fn message_groups(&self, viewer: Uuid) -> StoreResult<Vec<MessageGroup>> {
        let rows = self.query(queries::MESSAGE_GROUPS, &[&viewer]).await?;
        rows.iter()
            .map(|row| {
                let Message {
                    uuid,
                    display_name,
                    handle,
                    message,
                    created_at,
                } = message(row)?;
                Ok(MessageGroup {
                    uuid,
                    display_name,
                    handle,
                    message,
                    created_at,
                })
            })
            .collect()
    }

    async fn messages(&self, viewer: Uuid, other: Uuid) -> StoreResult<Vec<Message>> {
        let rows = self.query(queries::MESSAGES, &[&viewer, &other]).await?;
        rows.iter().map(message).collect()
    }

    async fn insert_message(&self, new: &NewMessage) -> StoreResult<Message> {
        let group = Uuid::new_v4();
        let rows = self
            .query(
                queries::INSERT_MESSAGE,
                &[
                    &new.uuid,
                    &new.sender_uuid,
                    &new.receiver_uuid,
                    &new.message,
                    &new.created_at,
                    &group,
                ],
            )
            .await?;
        one(rows, message)
    }
}
