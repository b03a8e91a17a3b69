//! Schema migrations and seed data, applied by `cruddur-db`.
//!
//! Migrations are the SQL files in the crate's `migrations/` folder, compiled in, applied
//! in order, each once: `schema_migrations` records the applied versions. One run applies
//! everything pending in a single transaction, under an advisory lock, so concurrent runs
//! wait for each other and a failing migration leaves nothing half done.
//!
//! Seeding upserts the domain's seed data ([`domain::seed`]) with times relative to now:
//! running it again refreshes the seeded rows' times and leaves everything else alone.

use domain::seed::{Seed, SeedActivity};
use time::OffsetDateTime;
use tokio_postgres::Client;

/// One schema migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its version: the file name without `.sql` (`0001_activities`); versions sort in order.
    pub version: &'static str,
    /// Its SQL.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: "0001_activities",
        sql: include_str!("../migrations/0001_activities.sql"),
    },
    Migration {
        version: "0002_messages",
        sql: include_str!("../migrations/0002_messages.sql"),
    },
];

/// The advisory lock key migrations hold (any constant: "cruddur" in ASCII).
const LOCK_KEY: i64 = 0x0063_7275_6464_7572;

/// Applies the pending migrations and returns their versions (empty when up to date).
pub async fn migrate(client: &mut Client) -> Result<Vec<&'static str>, tokio_postgres::Error> {
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
             version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
    let applied: Vec<String> = transaction
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut newly = Vec::new();
    for migration in MIGRATIONS {
        if applied.iter().any(|version| version == migration.version) {
            continue;
        }
        transaction.batch_execute(migration.sql).await?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&migration.version],
            )
            .await?;
        newly.push(migration.version);
    }
    transaction.commit().await?;
    Ok(newly)
}

/// The applied migration versions, in order.
pub async fn applied(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Loads the seed data as of `now` (upserting it) and returns how many rows it wrote.
pub async fn seed(client: &mut Client, now: OffsetDateTime) -> Result<u64, tokio_postgres::Error> {
    let Seed {
        users,
        activities,
        follows,
        notifications,
        message_groups,
        messages,
    } = domain::seed::seed(now);
    let transaction = client.transaction().await?;
    let mut rows = 0;
    for user in &users {
        rows += transaction
            .execute(
                "INSERT INTO users (uuid, handle, display_name) VALUES ($1, $2, $3) \
                 ON CONFLICT (uuid) DO UPDATE SET handle = EXCLUDED.handle, display_name = EXCLUDED.display_name",
                &[&user.uuid, &user.handle, &user.display_name],
            )
            .await?;
    }
    for SeedActivity {
        activity,
        likes_count,
    } in &activities
    {
        let likes = i32::try_from(*likes_count).unwrap_or(i32::MAX);
        rows += transaction
            .execute(
                "INSERT INTO activities \
                 (uuid, user_uuid, message, created_at, expires_at, reply_to_activity_uuid, likes_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (uuid) DO UPDATE SET message = EXCLUDED.message, \
                 created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, \
                 likes_count = EXCLUDED.likes_count",
                &[
                    &activity.uuid,
                    &activity.user_uuid,
                    &activity.message,
                    &activity.created_at,
                    &activity.expires_at,
                    &activity.reply_to_activity_uuid,
                    &likes,
                ],
            )
            .await?;
    }
    for follow in &follows {
        rows += transaction
            .execute(
                "INSERT INTO follows (follower_uuid, followee_uuid) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&follow.follower_uuid, &follow.followee_uuid],
            )
            .await?;
    }
    for notification in &notifications {
        rows += transaction
            .execute(
                "INSERT INTO notifications (user_uuid, activity_uuid) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&notification.user_uuid, &notification.activity_uuid],
            )
            .await?;
    }
    for group in &message_groups {
        let [a, b] = group.user_uuids;
        rows += transaction
            .execute(
                "INSERT INTO message_groups (uuid, user_a_uuid, user_b_uuid) \
                 VALUES ($1, LEAST($2::uuid, $3::uuid), GREATEST($2::uuid, $3::uuid)) \
                 ON CONFLICT DO NOTHING",
                &[&group.uuid, &a, &b],
            )
            .await?;
    }
    for message in &messages {
        rows += transaction
            .execute(
                "INSERT INTO messages (uuid, message_group_uuid, user_uuid, message, created_at) \
                 SELECT $1, g.uuid, $2, $4, $5 FROM message_groups g \
                 WHERE g.user_a_uuid = LEAST($2::uuid, $3::uuid) AND g.user_b_uuid = GREATEST($2::uuid, $3::uuid) \
                 ON CONFLICT (uuid) DO UPDATE SET message = EXCLUDED.message, created_at = EXCLUDED.created_at",
                &[
                    &message.uuid,
                    &message.sender_uuid,
                    &message.receiver_uuid,
                    &message.message,
                    &message.created_at,
                ],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_unique_and_in_order() {
        let versions: Vec<_> = MIGRATIONS.iter().map(|m| m.version).collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(versions, sorted);
    }

    #[test]
    fn every_migration_file_is_listed() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|name| name.strip_suffix(".sql").map(str::to_owned))
            .collect();
        files.sort();
        let listed: Vec<_> = MIGRATIONS.iter().map(|m| m.version.to_owned()).collect();
        assert_eq!(files, listed);
    }
}
