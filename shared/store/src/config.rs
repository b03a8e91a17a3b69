//! Which store a function uses, read from the environment in one place.
//!
//! Precedence: `DATABASE_URL` (a full connection URL, for local runs and tests) >
//! `DATABASE_HOST` with `DATABASE_PORT`, `DATABASE_NAME`, `DATABASE_USER` and
//! `DATABASE_SSLMODE` (what the SAM template sets) > neither: the in-memory store seeded
//! with the mock data. Either database form takes its password from the URL or, when
//! `DATABASE_PASSWORD_SECRET` names an AWS Secrets Manager secret, from that secret at the
//! first connection. Empty values count as unset.

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};

use crate::error::ConfigError;

/// A full PostgreSQL connection URL (`postgresql://user:password@host:port/db?sslmode=...`).
pub const DATABASE_URL: &str = "DATABASE_URL";
/// The database server's host name, when there is no `DATABASE_URL`.
pub const DATABASE_HOST: &str = "DATABASE_HOST";
/// The database server's port.
pub const DATABASE_PORT: &str = "DATABASE_PORT";
/// Default of [`DATABASE_PORT`].
pub const DATABASE_PORT_DEFAULT: u16 = 5432;
/// The database's name.
pub const DATABASE_NAME: &str = "DATABASE_NAME";
/// Default of [`DATABASE_NAME`].
pub const DATABASE_NAME_DEFAULT: &str = "cruddur";
/// The role to log in as.
pub const DATABASE_USER: &str = "DATABASE_USER";
/// Default of [`DATABASE_USER`].
pub const DATABASE_USER_DEFAULT: &str = "cruddur";
/// TLS with the host form: `disable`, `prefer` or `require` (a URL says `sslmode=` itself).
pub const DATABASE_SSLMODE: &str = "DATABASE_SSLMODE";
/// Default of [`DATABASE_SSLMODE`]: the SAM template's databases are reached over TLS.
pub const DATABASE_SSLMODE_DEFAULT: &str = "require";
/// The id or ARN of the Secrets Manager secret holding the password (the plain string, or
/// JSON with a `password` field, as RDS-managed secrets are).
pub const DATABASE_PASSWORD_SECRET: &str = "DATABASE_PASSWORD_SECRET";
/// A PEM file of extra CA certificates to trust (e.g. the RDS CA bundle), besides the
/// public roots; server certificates are always verified.
pub const DATABASE_CA_BUNDLE: &str = "DATABASE_CA_BUNDLE";
/// How long opening a connection (TCP, TLS and login) may take, in milliseconds.
pub const DATABASE_CONNECT_TIMEOUT_MS: &str = "DATABASE_CONNECT_TIMEOUT_MS";
/// Default of [`DATABASE_CONNECT_TIMEOUT_MS`].
pub const DATABASE_CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);
/// How long one statement may run (the server's `statement_timeout`), in milliseconds.
pub const DATABASE_STATEMENT_TIMEOUT_MS: &str = "DATABASE_STATEMENT_TIMEOUT_MS";
/// Default of [`DATABASE_STATEMENT_TIMEOUT_MS`].
pub const DATABASE_STATEMENT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// Lambda's function name, used as the connection's `application_name`.
const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The store settings.
#[derive(Clone)]
pub struct Config {
    /// The database to use; `None` for the in-memory store.
    pub database: Option<Database>,
}

/// How to reach the PostgreSQL database.
#[derive(Clone)]
pub struct Database {
    /// Connection settings (with the password when the URL has one).
    pub postgres: tokio_postgres::Config,
    /// The Secrets Manager secret holding the password, when the settings have none.
    pub password_secret: Option<String>,
    /// Extra CA certificates to trust.
    pub ca_bundle: Option<PathBuf>,
    /// Limit on opening a connection.
    pub connect_timeout: Duration,
    /// Limit on one statement.
    pub statement_timeout: Duration,
}

impl Config {
    /// Reads the settings from the process's environment (see the module doc).
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings from `lookup` (a variable's value by name).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut postgres = if let Some(url) = var(DATABASE_URL) {
            url.parse::<tokio_postgres::Config>()
                .map_err(|_| ConfigError::InvalidUrl)?
        } else if let Some(host) = var(DATABASE_HOST) {
            let mut postgres = tokio_postgres::Config::new();
            let port = match var(DATABASE_PORT) {
                Some(port) => port.trim().parse().map_err(|_| invalid(DATABASE_PORT, &port))?,
                None => DATABASE_PORT_DEFAULT,
            };
            let sslmode = var(DATABASE_SSLMODE).unwrap_or_else(|| DATABASE_SSLMODE_DEFAULT.into());
            postgres
                .host(host.trim())
                .port(port)
                .dbname(var(DATABASE_NAME).as_deref().unwrap_or(DATABASE_NAME_DEFAULT))
                .user(var(DATABASE_USER).as_deref().unwrap_or(DATABASE_USER_DEFAULT))
                .ssl_mode(ssl_mode(&sslmode)?);
            postgres
        } else {
            return Ok(Config { database: None });
        };
        let millis = |name: &str, default: Duration| match var(name) {
            Some(value) => value
                .trim()
                .parse()
                .map(Duration::from_millis)
                .map_err(|_| invalid(name, &value)),
            None => Ok(default),
        };
        let connect_timeout = millis(DATABASE_CONNECT_TIMEOUT_MS, DATABASE_CONNECT_TIMEOUT_DEFAULT)?;
        let statement_timeout = millis(DATABASE_STATEMENT_TIMEOUT_MS, DATABASE_STATEMENT_TIMEOUT_DEFAULT)?;
        if postgres.get_user().is_none() {
            postgres.user(DATABASE_USER_DEFAULT);
        }
        if postgres.get_dbname().is_none() {
            postgres.dbname(DATABASE_NAME_DEFAULT);
        }
        if postgres.get_application_name().is_none() {
            postgres.application_name(var(AWS_LAMBDA_FUNCTION_NAME).as_deref().unwrap_or("cruddur"));
        }
        // The server ends a statement that runs too long; we add a margin on our side.
        let options = format!("-c statement_timeout={}", statement_timeout.as_millis());
        let options = match postgres.get_options() {
            Some(existing) => format!("{existing} {options}"),
            None => options,
        };
        // A server that stops acknowledging (gone without a reset) fails the connection
        // within the statement timeout instead of hanging it.
        postgres
            .options(&options)
            .connect_timeout(connect_timeout)
            .tcp_user_timeout(statement_timeout);
        Ok(Config {
            database: Some(Database {
                postgres,
                password_secret: var(DATABASE_PASSWORD_SECRET).map(|s| s.trim().to_owned()),
                ca_bundle: var(DATABASE_CA_BUNDLE).map(PathBuf::from),
                connect_timeout,
                statement_timeout,
            }),
        })
    }
}

impl Database {
    /// The server's host name (or socket folder), as traces show it.
    pub fn host(&self) -> String {
        match self.postgres.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            #[cfg(unix)]
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".into(),
        }
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.postgres
            .get_ports()
            .first()
            .copied()
            .unwrap_or(DATABASE_PORT_DEFAULT)
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        self.postgres.get_dbname().unwrap_or(DATABASE_NAME_DEFAULT)
    }

    /// The role it logs in as.
    pub fn user(&self) -> &str {
        self.postgres.get_user().unwrap_or(DATABASE_USER_DEFAULT)
    }

    /// `postgresql://host:port/db`: where the database is, without user or password.
    pub fn connection_string(&self) -> String {
        let host = self.host();
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        format!("postgresql://{host}:{}/{}", self.port(), self.name())
    }
}

impl std::fmt::Debug for Database {
    /// Where the database is, never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("connection_string", &self.connection_string())
            .field("user", &self.user())
            .field("password_secret", &self.password_secret)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database", &self.database)
            .finish()
    }
}

fn ssl_mode(value: &str) -> Result<SslMode, ConfigError> {
    match value.trim() {
        "disable" => Ok(SslMode::Disable),
        "prefer" => Ok(SslMode::Prefer),
        "require" => Ok(SslMode::Require),
        other => Err(invalid(DATABASE_SSLMODE, other)),
    }
}

fn invalid(name: &str, value: &str) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_set_is_the_memory_store() {
        assert!(config(&[]).unwrap().database.is_none());
        assert!(config(&[(DATABASE_URL, " "), (DATABASE_HOST, "")])
            .unwrap()
            .database
            .is_none());
    }

    #[test]
    fn url_wins_and_keeps_its_password_out_of_sight() {
        let config = config(&[
            (
                DATABASE_URL,
                "postgresql://app:s3cret@db.internal:6543/social?sslmode=disable",
            ),
            (DATABASE_HOST, "ignored"),
        ])
        .unwrap();
        let database = config.database.unwrap();
        assert_eq!(
            database.connection_string(),
            "postgresql://db.internal:6543/social"
        );
        assert_eq!(
            (database.host().as_str(), database.user()),
            ("db.internal", "app")
        );
        assert_eq!(database.postgres.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(database.postgres.get_ssl_mode(), SslMode::Disable);
        assert_eq!(database.postgres.get_options(), Some("-c statement_timeout=5000"));
        assert_eq!(database.connect_timeout, Duration::from_secs(2));
        assert!(!format!("{database:?}").contains("s3cret"));
    }

    #[test]
    fn host_form_with_defaults_and_a_secret() {
        let config = config(&[
            (DATABASE_HOST, "cruddur.abc.us-east-1.rds.amazonaws.com"),
            (
                DATABASE_PASSWORD_SECRET,
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
            ),
            (DATABASE_STATEMENT_TIMEOUT_MS, "1500"),
            (AWS_LAMBDA_FUNCTION_NAME, "cruddur-home-activities"),
        ])
        .unwrap();
        let database = config.database.unwrap();
        assert_eq!(
            database.connection_string(),
            "postgresql://cruddur.abc.us-east-1.rds.amazonaws.com:5432/cruddur"
        );
        assert_eq!(database.user(), "cruddur");
        assert_eq!(database.postgres.get_password(), None);
        assert_eq!(database.postgres.get_ssl_mode(), SslMode::Require);
        assert_eq!(database.postgres.get_options(), Some("-c statement_timeout=1500"));
        assert_eq!(
            database.postgres.get_application_name(),
            Some("cruddur-home-activities")
        );
        assert!(database.password_secret.unwrap().ends_with(":secret:db"));
    }

    #[test]
    fn bad_values_are_named_without_the_url() {
        let error = config(&[(DATABASE_URL, "postgresql://u:pw@h:notaport/db")]).unwrap_err();
        assert!(!error.to_string().contains("pw"), "{error}");
        let error = config(&[(DATABASE_HOST, "h"), (DATABASE_SSLMODE, "verify-full")]).unwrap_err();
        assert_eq!(error.to_string(), "DATABASE_SSLMODE=\"verify-full\" is not valid");
        assert!(config(&[(DATABASE_HOST, "h"), (DATABASE_CONNECT_TIMEOUT_MS, "soon")]).is_err());
    }
}
