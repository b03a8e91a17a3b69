//! Errors of building a store from its settings.

/// Why the store settings cannot be used. Never shows the password.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `DATABASE_URL` is not a PostgreSQL connection URL (its text is not repeated: it may
    /// hold a password).
    #[error(
        "DATABASE_URL is not a valid PostgreSQL connection URL (postgresql://user:password@host:port/db)"
    )]
    InvalidUrl,
    /// A variable has a value it cannot have.
    #[error("{name}={value:?} is not valid")]
    Invalid {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
    },
    /// The CA bundle cannot be read or holds no usable certificate.
    #[error("cannot use the CA bundle {path}: {reason}")]
    CaBundle {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS settings cannot be built.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}
