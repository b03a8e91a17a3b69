//! `cruddur-db`: applies the schema migrations and loads the seed data into the database
//! the environment names (`DATABASE_URL`, or `DATABASE_HOST` and friends; see the store
//! crate's `config` module).
//!
//!     cruddur-db migrate   apply the pending migrations
//!     cruddur-db seed      load (or refresh) the seed data
//!     cruddur-db setup     both
//!     cruddur-db status    list applied and pending migrations

use std::process::ExitCode;

use store::migrate;

const USAGE: &str = "usage: cruddur-db migrate|seed|setup|status (database from DATABASE_URL)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    match run(&command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cruddur-db {command}: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: &str) -> Result<(), Box<dyn std::error::Error>> {
    if !["migrate", "seed", "setup", "status"].contains(&command) {
        return Err(USAGE.into());
    }
    let database = store::Config::from_env()?
        .database
        .ok_or("no database configured: set DATABASE_URL (or DATABASE_HOST)")?;
    let mut client = store::open(&database).await?;
    let target = database.connection_string();
    if matches!(command, "migrate" | "setup") {
        let applied = migrate::migrate(&mut client).await?;
        println!("{target}: applied {applied:?}");
    }
    if matches!(command, "seed" | "setup") {
        let rows = migrate::seed(&mut client, time::OffsetDateTime::now_utc()).await?;
        println!("{target}: seeded ({rows} rows written)");
    }
    if command == "status" {
        let applied = migrate::applied(&client).await?;
        for migration in migrate::MIGRATIONS {
            let state = if applied.iter().any(|v| v == migration.version) {
                "applied"
            } else {
                "pending"
            };
            println!("{state} {}", migration.version);
        }
    }
    Ok(())
}
