//! Cruddur's data store: the domain's [`Store`] in PostgreSQL, and the store a function
//! builds from its environment.
//!
//! A function builds its store once, in `main`, and hands it to every invocation:
//!
//! ```no_run
//! # async fn example() -> Result<(), store::ConfigError> {
//! let store = store::from_env()?; // Arc<dyn domain::Store>
//! let andrew = domain::Handle::parse("andrewbrown").unwrap();
//! let front_page = domain::Viewer::Anonymous { front_page: &andrew };
//! let feed = domain::home_activities(&*store, front_page, time::OffsetDateTime::now_utc()).await;
//! # Ok(())
//! # }
//! ```
//!
//! With no database configured ([`config`]: no `DATABASE_URL` nor `DATABASE_HOST`) that is
//! the domain's [`MemoryStore`], seeded with the mock data; otherwise a [`PostgresStore`],
//! which connects at its first query and traces each query as a client span. A database
//! that is down makes the services answer `database_unavailable` (503) quickly, never hang.
//!
//! The schema lives in `migrations/`; `cruddur-db migrate` applies it and `cruddur-db
//! seed` loads the seed data ([`migrate`]).
//!
//! # Layout
//!
//! - [`config`]: [`Config`], every setting, read from the environment in one place.
//! - [`postgres`]: [`PostgresStore`], its connection, timeouts and query spans.
//! - [`migrate`]: the migrations and the seed loader `cruddur-db` runs.
//! - `queries`: every SQL statement; `tls`: rustls for the connection; `secrets`: the
//!   password from AWS Secrets Manager (feature `secrets`).
//! - [`ConfigError`]: settings that cannot be used.
#![warn(missing_docs)]

pub mod config;
mod error;
pub mod migrate;
pub mod postgres;
mod queries;
mod secrets;
mod tls;

use std::sync::Arc;

use domain::{MemoryStore, Store};
use time::OffsetDateTime;

pub use config::{Config, Database};
pub use error::ConfigError;
pub use postgres::PostgresStore;

/// The store the environment configures ([`Config::from_env`]).
pub fn from_env() -> Result<Arc<dyn Store>, ConfigError> {
    from_config(Config::from_env()?)
}

/// The store `config` describes: PostgreSQL, or the seeded memory store.
pub fn from_config(config: Config) -> Result<Arc<dyn Store>, ConfigError> {
    Ok(match config.database {
        Some(database) => {
            let store = Arc::new(PostgresStore::new(database)?);
            store.connect_early();
            store
        }
        None => Arc::new(MemoryStore::seeded(OffsetDateTime::now_utc())),
    })
}

/// Opens a connection of its own to `database` (reading the password secret if needed),
/// for tools such as `cruddur-db`; stores open theirs lazily.
pub async fn open(database: &Database) -> Result<tokio_postgres::Client, domain::StoreError> {
    let tls = tls::connector(database.ca_bundle.as_deref())
        .map_err(|e| domain::StoreError::Unavailable(e.to_string()))?;
    let password = match (&database.password_secret, database.postgres.get_password()) {
        (Some(secret), None) => Some(secrets::read_password(secret).await?),
        _ => None,
    };
    postgres::connect(database, &tls, password.as_deref()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_database_is_the_seeded_memory_store() {
        let store = from_config(Config { database: None }).unwrap();
        assert!(store.in_memory());
    }

    #[test]
    fn a_database_is_postgres_and_opens_nothing_yet() {
        let config = Config::from_lookup(|name| {
            (name == config::DATABASE_URL).then(|| "postgresql://u:pw@127.0.0.1:1/db".to_owned())
        })
        .unwrap();
        let store = from_config(config).unwrap();
        assert!(!store.in_memory());
        assert!(!format!("{store:?}").contains("pw"));
    }
}
