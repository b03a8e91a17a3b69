//! The PostgreSQL test database: its URL, and the schema and seed data loaded into it by
//! the real `cruddur-db` binary.
//!
//! The URL comes from `CRUDDUR_TEST_DATABASE_URL` (`scripts/test` sets it from
//! `scripts/start-postgres`). Without it, database tests skip with a message, except in
//! CI (`CI=true`), where a missing database is a failure.

use std::process::Command;

use anyhow::{bail, Context as _};

/// The variable naming the test database.
pub const TEST_DATABASE_URL: &str = "CRUDDUR_TEST_DATABASE_URL";

/// The test database's URL, migrated and seeded; `None` (after saying why on stderr) when
/// there is none and this is not CI.
pub fn test_database() -> anyhow::Result<Option<String>> {
    let url = std::env::var(TEST_DATABASE_URL)
        .ok()
        .filter(|u| !u.trim().is_empty());
    let Some(url) = url else {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            bail!("{TEST_DATABASE_URL} is not set in CI: scripts/test starts PostgreSQL and sets it");
        }
        eprintln!(
            "skipping: {TEST_DATABASE_URL} is not set (export {TEST_DATABASE_URL}=\"$(scripts/start-postgres)\" to run this test)"
        );
        return Ok(None);
    };
    setup(&url)?;
    Ok(Some(url))
}

/// Runs `cruddur-db setup` (migrate, then seed) against `url`.
pub fn setup(url: &str) -> anyhow::Result<()> {
    let binary = crate::function::binary_path("cruddur-db")?;
    let output = Command::new(&binary)
        .arg("setup")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "cruddur-db setup failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// `postgresql://host:port/db` of a URL: what traces may show of it (no user, no password).
pub fn connection_string(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let rest = rest.split('?').next().unwrap_or(rest);
    format!("postgresql://{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_string_drops_credentials_and_options() {
        assert_eq!(
            connection_string("postgresql://cruddur:pw@127.0.0.1:55432/cruddur?sslmode=disable"),
            "postgresql://127.0.0.1:55432/cruddur"
        );
    }
}
