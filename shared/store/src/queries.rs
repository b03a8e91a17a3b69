//! Every SQL statement the PostgreSQL store runs, one per [`Store`](domain::Store) method.
//!
//! Parameters are always `$n` placeholders: the text is what traces show
//! (`db.query.text`, X-Ray's `sql.sanitized_query`), so it never holds a value.

/// One statement and how traces name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Query {
    /// `<operation> <table>`, the span's `otel.name` (e.g. `SELECT activities`).
    pub(crate) name: &'static str,
    /// `SELECT` or `INSERT` (`db.operation.name`).
    pub(crate) operation: &'static str,
    /// The SQL, with `$n` placeholders (`db.query.text`).
    pub(crate) sql: &'static str,
}

macro_rules! query {
    ($operation:literal, $table:literal, $($sql:expr),+ $(,)?) => {
        Query {
            name: concat!($operation, " ", $table),
            operation: $operation,
            sql: concat!($($sql),+),
        }
    };
}

/// The most posts a feed or search lists (the domain's `FEED_LIMIT`).
macro_rules! feed_limit {
    () => {
        "100"
    };
}

/// The most replies listed under one activity (the domain's `REPLIES_LIMIT`).
macro_rules! replies_limit {
    () => {
        "20"
    };
}

/// The most conversations listed (the domain's `MESSAGE_GROUPS_LIMIT`).
macro_rules! message_groups_limit {
    () => {
        "100"
    };
}

/// The most messages a conversation lists (the domain's `MESSAGES_LIMIT`).
macro_rules! messages_limit {
    () => {
        "100"
    };
}

/// An activity's columns, in the order `PostgresStore` reads them.
macro_rules! activity_columns {
    () => {
        "a.uuid, u.handle, u.display_name, a.message, a.created_at, a.expires_at, a.likes_count, \
         (SELECT count(*) FROM activities r WHERE r.reply_to_activity_uuid = a.uuid)::integer \
         AS replies_count, \
         a.reposts_count"
    };
}

/// Activities `a` with their authors `u`.
macro_rules! activity_from {
    () => {
        " FROM activities a JOIN users u ON u.uuid = a.user_uuid"
    };
}

/// An activity's columns from `activities a` joined to its author `users u`.
macro_rules! activity_select {
    () => {
        concat!("SELECT ", activity_columns!(), activity_from!())
    };
}

/// The unexpired posts (`$2` is now), newest stored first, at most [`feed_limit`] of them.
macro_rules! posts_where {
    ($condition:literal) => {
        concat!(
            activity_select!(),
            " WHERE a.reply_to_activity_uuid IS NULL AND a.expires_at > $2 AND ",
            $condition,
            " ORDER BY a.seq DESC LIMIT ",
            feed_limit!()
        )
    };
}

/// The user by handle, ignoring case.
pub(crate) const USER_BY_HANDLE: Query = query!(
    "SELECT",
    "users",
    "SELECT uuid, handle, display_name FROM users WHERE lower(handle) = lower($1)"
);

/// `$1`'s home timeline: their posts and those of whom they follow.
pub(crate) const HOME_FEED: Query = query!(
    "SELECT",
    "activities",
    posts_where!(
        "(a.user_uuid = $1 OR a.user_uuid IN \
         (SELECT followee_uuid FROM follows WHERE follower_uuid = $1))"
    )
);

/// The posts that notify `$1`.
pub(crate) const NOTIFICATIONS_FEED: Query = query!(
    "SELECT",
    "activities",
    posts_where!("a.uuid IN (SELECT activity_uuid FROM notifications WHERE user_uuid = $1)")
);

/// `$1`'s posts.
pub(crate) const USER_POSTS: Query = query!("SELECT", "activities", posts_where!("a.user_uuid = $1"));

/// The posts whose message, author handle or display name contains `$1`, ignoring case
/// (`strpos`, not `LIKE`: `%` and `_` in the term are plain characters).
pub(crate) const SEARCH_POSTS: Query = query!(
    "SELECT",
    "activities",
    posts_where!(
        "(strpos(lower(a.message), lower($1)) > 0 \
         OR strpos(lower(u.handle), lower($1)) > 0 \
         OR strpos(lower(u.display_name), lower($1)) > 0)"
    )
);

/// The activity `$1`.
pub(crate) const ACTIVITY: Query = query!("SELECT", "activities", activity_select!(), " WHERE a.uuid = $1");

/// The direct replies to any of the activities `$1` (an array), oldest first, each
/// activity's first [`replies_limit`]; the last column is the replied-to activity.
pub(crate) const REPLIES: Query = query!(
    "SELECT",
    "activities",
    "SELECT ",
    activity_columns!(),
    ", a.reply_to_activity_uuid",
    activity_from!(),
    " WHERE a.seq IN (SELECT seq FROM (SELECT r.seq, row_number() OVER \
     (PARTITION BY r.reply_to_activity_uuid ORDER BY r.seq) AS n \
     FROM activities r WHERE r.reply_to_activity_uuid = ANY($1)) AS numbered WHERE n <= ",
    replies_limit!(),
    ") ORDER BY a.seq"
);

/// Stores an activity (`$6` is the replied-to one, or null) and reads it back as feeds show it.
pub(crate) const INSERT_ACTIVITY: Query = query!(
    "INSERT",
    "activities",
    "WITH a AS (\
     INSERT INTO activities (uuid, user_uuid, message, created_at, expires_at, reply_to_activity_uuid) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     RETURNING uuid, user_uuid, message, created_at, expires_at, likes_count, reposts_count) \
     SELECT a.uuid, u.handle, u.display_name, a.message, a.created_at, a.expires_at, a.likes_count, \
     0 AS replies_count, a.reposts_count \
     FROM a JOIN users u ON u.uuid = a.user_uuid"
);

/// `$1`'s conversations: the other party and the latest message, latest first.
pub(crate) const MESSAGE_GROUPS: Query = query!(
    "SELECT",
    "message_groups",
    "SELECT g.uuid, u.display_name, u.handle, m.message, m.created_at \
     FROM message_groups g \
     JOIN users u ON u.uuid = CASE WHEN g.user_a_uuid = $1 THEN g.user_b_uuid ELSE g.user_a_uuid END \
     JOIN LATERAL (SELECT message, created_at FROM messages \
     WHERE message_group_uuid = g.uuid ORDER BY created_at DESC, seq DESC LIMIT 1) m ON true \
     WHERE g.user_a_uuid = $1 OR g.user_b_uuid = $1 \
     ORDER BY m.created_at DESC LIMIT ",
    message_groups_limit!()
);

/// The latest [`messages_limit`] messages between `$1` and `$2`, oldest first.
pub(crate) const MESSAGES: Query = query!(
    "SELECT",
    "messages",
    "SELECT uuid, display_name, handle, message, created_at FROM (\
     SELECT m.uuid, u.display_name, u.handle, m.message, m.created_at, m.seq \
     FROM messages m \
     JOIN message_groups g ON g.uuid = m.message_group_uuid \
     JOIN users u ON u.uuid = m.user_uuid \
     WHERE g.user_a_uuid = LEAST($1::uuid, $2::uuid) AND g.user_b_uuid = GREATEST($1::uuid, $2::uuid) \
     ORDER BY m.created_at DESC, m.seq DESC LIMIT ",
    messages_limit!(),
    ") latest ORDER BY created_at, seq"
);

/// Stores message `$1` from `$2` to `$3` (text `$4`, sent at `$5`) in their conversation,
/// made with id `$6` on the first message, and reads it back.
pub(crate) const INSERT_MESSAGE: Query = query!(
    "INSERT",
    "messages",
    "WITH g AS (\
     INSERT INTO message_groups (uuid, user_a_uuid, user_b_uuid) \
     VALUES ($6, LEAST($2::uuid, $3::uuid), GREATEST($2::uuid, $3::uuid)) \
     ON CONFLICT (user_a_uuid, user_b_uuid) DO UPDATE SET user_a_uuid = EXCLUDED.user_a_uuid \
     RETURNING uuid), \
     m AS (\
     INSERT INTO messages (uuid, message_group_uuid, user_uuid, message, created_at) \
     SELECT $1, g.uuid, $2, $4, $5 FROM g \
     RETURNING uuid, user_uuid, message, created_at) \
     SELECT m.uuid, u.display_name, u.handle, m.message, m.created_at \
     FROM m JOIN users u ON u.uuid = m.user_uuid"
);

/// Every statement the store runs, for tests.
#[cfg(test)]
pub(crate) const ALL: [Query; 11] = [
    USER_BY_HANDLE,
    HOME_FEED,
    NOTIFICATIONS_FEED,
    USER_POSTS,
    SEARCH_POSTS,
    ACTIVITY,
    REPLIES,
    INSERT_ACTIVITY,
    MESSAGE_GROUPS,
    MESSAGES,
    INSERT_MESSAGE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_operation_and_table() {
        for query in ALL {
            assert!(query.name.starts_with(query.operation), "{query:?}");
            assert!(
                query.sql.contains(query.name.split_once(' ').unwrap().1),
                "{query:?}"
            );
            assert!(query.sql.contains("$1"), "{query:?}");
        }
    }

    #[test]
    fn feeds_hold_the_domains_limit() {
        assert_eq!(feed_limit!(), domain::store::FEED_LIMIT.to_string());
        assert!(HOME_FEED.sql.ends_with("ORDER BY a.seq DESC LIMIT 100"));
    }

    #[test]
    fn every_list_holds_the_domains_limit() {
        use domain::store::{MESSAGES_LIMIT, MESSAGE_GROUPS_LIMIT, REPLIES_LIMIT};
        assert_eq!(replies_limit!(), REPLIES_LIMIT.to_string());
        assert_eq!(message_groups_limit!(), MESSAGE_GROUPS_LIMIT.to_string());
        assert_eq!(messages_limit!(), MESSAGES_LIMIT.to_string());
        assert!(REPLIES.sql.contains("numbered WHERE n <= 20)"), "{}", REPLIES.sql);
        assert!(
            MESSAGE_GROUPS.sql.ends_with("LIMIT 100"),
            "{}",
            MESSAGE_GROUPS.sql
        );
        assert!(MESSAGES.sql.contains("LIMIT 100) latest"), "{}", MESSAGES.sql);
        // Every list read is bounded (INSERTs read back one row; ACTIVITY and
        // USER_BY_HANDLE one row by key).
        for query in [
            HOME_FEED,
            NOTIFICATIONS_FEED,
            USER_POSTS,
            SEARCH_POSTS,
            REPLIES,
            MESSAGE_GROUPS,
            MESSAGES,
        ] {
            assert!(
                query.sql.contains("LIMIT ") || query.sql.contains("n <= "),
                "{query:?}"
            );
        }
    }
}
