//! The seed data: the mock users, activities and conversations of the Cruddur backend.
//!
//! [`MemoryStore`](crate::MemoryStore) starts from it, and the `store` crate's `cruddur-db
//! seed` loads the same data into PostgreSQL, so both stores tell the same story. Times are
//! relative to the `now` the caller passes.
//!
//! andrewbrown (the seed app's signed-in user, and the default front page) follows worf
//! and garek, so their posts and his own make his home feed (the seed app's three
//! activities, Worf's reply under Andrew's post); coco's post is in his notifications. Feeds list the newest stored first, so the
//! activities are stored in reverse feed order.

use time::{Duration, OffsetDateTime};
use uuid::{uuid, Uuid};

use crate::store::{NewActivity, NewMessage, User};

/// andrewbrown's id.
pub const ANDREW: Uuid = uuid!("5b6b9f5e-9b0c-4b57-9a39-4c5d0f0b8a01");
/// worf's id.
pub const WORF: Uuid = uuid!("5b6b9f5e-9b0c-4b57-9a39-4c5d0f0b8a02");
/// garek's id.
pub const GAREK: Uuid = uuid!("5b6b9f5e-9b0c-4b57-9a39-4c5d0f0b8a03");
/// coco's id.
pub const COCO: Uuid = uuid!("5b6b9f5e-9b0c-4b57-9a39-4c5d0f0b8a04");

/// Andrew Brown's "Cloud is fun!".
pub const ANDREW_POST: Uuid = uuid!("68f126b0-1ceb-4a33-88be-d90fa7109eee");
/// Worf's reply to it, "This post has no honor!".
pub const WORF_REPLY: Uuid = uuid!("26e12864-1c26-5c3a-9658-97a10f8fea67");
/// Worf's "I am out of prune juice".
pub const WORF_POST: Uuid = uuid!("66e12864-8c26-4c3a-9658-95a10f8fea67");
/// Garek's "My dear doctor, I am just simple tailor".
pub const GAREK_POST: Uuid = uuid!("248959df-3079-4947-b847-9e0892d1bab4");
/// Coco's "I am white unicorn".
pub const COCO_POST: Uuid = uuid!("c0c0a11e-6e1f-4b7a-9a3d-5e2f8c1d4b90");

/// The conversation andrewbrown keeps with himself.
pub const ANDREW_GROUP: Uuid = uuid!("24b95582-9e7b-4e0a-9ad1-639773ab7552");
/// The conversation of andrewbrown and worf.
pub const WORF_GROUP: Uuid = uuid!("417c360e-c4e6-4fce-873b-d2d71469b4ac");

/// Everything a fresh store holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    /// Every user.
    pub users: Vec<User>,
    /// Every activity, in the order to store them (replies after what they reply to).
    pub activities: Vec<SeedActivity>,
    /// Who follows whom.
    pub follows: Vec<Follow>,
    /// Which posts notify whom.
    pub notifications: Vec<Notification>,
    /// Every conversation.
    pub message_groups: Vec<SeedMessageGroup>,
    /// Every message, oldest first.
    pub messages: Vec<NewMessage>,
}

/// A seeded activity: a new activity that already has likes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedActivity {
    /// The activity.
    pub activity: NewActivity,
    /// Its likes.
    pub likes_count: u32,
}

/// `follower` sees `followee`'s posts in their home feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follow {
    /// Who follows.
    pub follower_uuid: Uuid,
    /// Who is followed.
    pub followee_uuid: Uuid,
}

/// A post in a user's notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notification {
    /// Who is notified.
    pub user_uuid: Uuid,
    /// The post.
    pub activity_uuid: Uuid,
}

/// A conversation of two users (the same one twice for notes to self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedMessageGroup {
    /// Its id.
    pub uuid: Uuid,
    /// Its two members.
    pub user_uuids: [Uuid; 2],
}

fn user(uuid: Uuid, handle: &str, display_name: &str) -> User {
    User {
        uuid,
        handle: handle.to_owned(),
        display_name: display_name.to_owned(),
    }
}

fn activity(
    uuid: Uuid,
    user_uuid: Uuid,
    message: &str,
    (created_at, expires_at): (OffsetDateTime, OffsetDateTime),
    likes_count: u32,
    reply_to_activity_uuid: Option<Uuid>,
) -> SeedActivity {
    SeedActivity {
        activity: NewActivity {
            uuid,
            user_uuid,
            message: message.to_owned(),
            created_at,
            expires_at,
            reply_to_activity_uuid,
        },
        likes_count,
    }
}

fn message(
    uuid: Uuid,
    (sender, receiver): (Uuid, Uuid),
    text: &str,
    created_at: OffsetDateTime,
) -> NewMessage {
    NewMessage {
        uuid,
        sender_uuid: sender,
        receiver_uuid: receiver,
        message: text.to_owned(),
        created_at,
    }
}

/// The seed data as of `now`.
pub fn seed(now: OffsetDateTime) -> Seed {
    let days = Duration::days;
    let hours = Duration::hours;
    let minutes = Duration::minutes;
    Seed {
        users: vec![
            user(ANDREW, "andrewbrown", "Andrew Brown"),
            user(WORF, "worf", "Worf"),
            user(GAREK, "garek", "Garek"),
            user(COCO, "coco", "Coco"),
        ],
        activities: vec![
            activity(
                COCO_POST,
                COCO,
                "I am white unicorn",
                (now - days(2), now + days(5)),
                5,
                None,
            ),
            activity(
                GAREK_POST,
                GAREK,
                "My dear doctor, I am just simple tailor",
                (now - hours(1), now + hours(12)),
                0,
                None,
            ),
            activity(
                WORF_POST,
                WORF,
                "I am out of prune juice",
                (now - days(7), now + days(9)),
                0,
                None,
            ),
            activity(
                ANDREW_POST,
                ANDREW,
                "Cloud is fun!",
                (now - days(2), now + days(5)),
                5,
                None,
            ),
            activity(
                WORF_REPLY,
                WORF,
                "This post has no honor!",
                (now - days(2), now + days(5)),
                0,
                Some(ANDREW_POST),
            ),
        ],
        follows: vec![
            Follow {
                follower_uuid: ANDREW,
                followee_uuid: WORF,
            },
            Follow {
                follower_uuid: ANDREW,
                followee_uuid: GAREK,
            },
        ],
        notifications: vec![Notification {
            user_uuid: ANDREW,
            activity_uuid: COCO_POST,
        }],
        message_groups: vec![
            SeedMessageGroup {
                uuid: ANDREW_GROUP,
                user_uuids: [ANDREW, ANDREW],
            },
            SeedMessageGroup {
                uuid: WORF_GROUP,
                user_uuids: [ANDREW, WORF],
            },
        ],
        messages: vec![
            message(
                uuid!("9d6c4a2e-7b3f-4e1a-8c5d-0f2e6b4a8c17"),
                (WORF, ANDREW),
                "Cloud is fun!",
                now - hours(1),
            ),
            message(
                uuid!("4e81c06a-db0f-4281-b4cc-98208537772a"),
                (ANDREW, ANDREW),
                "Cloud is fun!",
                now - minutes(30),
            ),
            message(
                uuid!("b1f3c0de-5a1e-4c2b-9d7e-3f0a6c8e2d41"),
                (ANDREW, ANDREW),
                "This platform is great!",
                now - minutes(10),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_are_unique() {
        let seed = seed(OffsetDateTime::UNIX_EPOCH);
        let ids: Vec<Uuid> = (seed.users.iter().map(|u| u.uuid))
            .chain(seed.activities.iter().map(|a| a.activity.uuid))
            .chain(seed.message_groups.iter().map(|g| g.uuid))
            .chain(seed.messages.iter().map(|m| m.uuid))
            .collect();
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    }

    #[test]
    fn references_point_at_seeded_rows() {
        let seed = seed(OffsetDateTime::UNIX_EPOCH);
        let users: BTreeSet<Uuid> = seed.users.iter().map(|u| u.uuid).collect();
        let mut stored = BTreeSet::new();
        for SeedActivity { activity, .. } in &seed.activities {
            assert!(users.contains(&activity.user_uuid));
            if let Some(parent) = activity.reply_to_activity_uuid {
                assert!(stored.contains(&parent), "a reply is stored after its parent");
            }
            stored.insert(activity.uuid);
        }
        for follow in &seed.follows {
            assert!(users.contains(&follow.follower_uuid) && users.contains(&follow.followee_uuid));
        }
        for notification in &seed.notifications {
            assert!(users.contains(&notification.user_uuid) && stored.contains(&notification.activity_uuid));
        }
        for message in &seed.messages {
            assert!(users.contains(&message.sender_uuid) && users.contains(&message.receiver_uuid));
            let pair = |[a, b]: [Uuid; 2]| (a.min(b), a.max(b));
            let members = pair([message.sender_uuid, message.receiver_uuid]);
            assert!(seed.message_groups.iter().any(|g| pair(g.user_uuids) == members));
        }
        assert!(seed
            .messages
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at));
    }
}
