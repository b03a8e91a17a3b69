//! The one mock data source every service reads: users, activities and conversations.
//!
//! Times are relative to the `now` the caller passes, so every call (and every test)
//! sees the same picture. Nothing here is mutable: services that "create" something
//! build it and hand it back without storing it, as the seed's mock services did.

use time::{Duration, OffsetDateTime};
use uuid::{uuid, Uuid};

use crate::{Activity, Message, MessageGroup};

/// A mock user.
pub(crate) struct User {
    /// Handle, without the `@`.
    pub(crate) handle: &'static str,
    /// Display name.
    pub(crate) display_name: &'static str,
}

const ANDREW: User = User {
    handle: "andrewbrown",
    display_name: "Andrew Brown",
};
const WORF: User = User {
    handle: "worf",
    display_name: "Worf",
};
const GAREK: User = User {
    handle: "garek",
    display_name: "Garek",
};
const COCO: User = User {
    handle: "coco",
    display_name: "Coco",
};

/// Every mock user.
static USERS: [User; 4] = [ANDREW, WORF, GAREK, COCO];

/// The user with this handle (without `@`), ignoring ASCII case.
pub(crate) fn user(handle: &str) -> Option<&'static User> {
    USERS.iter().find(|user| user.handle.eq_ignore_ascii_case(handle))
}

pub(crate) const ANDREW_POST: Uuid = uuid!("68f126b0-1ceb-4a33-88be-d90fa7109eee");
pub(crate) const WORF_REPLY: Uuid = uuid!("26e12864-1c26-5c3a-9658-97a10f8fea67");
pub(crate) const WORF_POST: Uuid = uuid!("66e12864-8c26-4c3a-9658-95a10f8fea67");
pub(crate) const GAREK_POST: Uuid = uuid!("248959df-3079-4947-b847-9e0892d1bab4");
pub(crate) const COCO_POST: Uuid = uuid!("c0c0a11e-6e1f-4b7a-9a3d-5e2f8c1d4b90");

/// A fresh activity with no likes, replies or reposts.
pub(crate) fn activity(
    uuid: Uuid,
    user: &User,
    message: &str,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Activity {
    Activity {
        uuid,
        handle: user.handle.to_owned(),
        display_name: user.display_name.to_owned(),
        message: message.to_owned(),
        created_at,
        expires_at,
        likes_count: 0,
        replies_count: 0,
        reposts_count: 0,
        replies: Vec::new(),
    }
}

/// The home feed: the seed app's three activities.
pub(crate) fn home_activities(now: OffsetDateTime) -> Vec<Activity> {
    let reply = activity(
        WORF_REPLY,
        &WORF,
        "This post has no honor!",
        now - Duration::days(2),
        now + Duration::days(5),
    );
    vec![
        Activity {
            likes_count: 5,
            replies_count: 1,
            reposts_count: 0,
            replies: vec![reply],
            ..activity(
                ANDREW_POST,
                &ANDREW,
                "Cloud is fun!",
                now - Duration::days(2),
                now + Duration::days(5),
            )
        },
        activity(
            WORF_POST,
            &WORF,
            "I am out of prune juice",
            now - Duration::days(7),
            now + Duration::days(9),
        ),
        activity(
            GAREK_POST,
            &GAREK,
            "My dear doctor, I am just simple tailor",
            now - Duration::hours(1),
            now + Duration::hours(12),
        ),
    ]
}

/// The notifications feed: the Cruddur backend's activity by coco.
pub(crate) fn notifications_activities(now: OffsetDateTime) -> Vec<Activity> {
    vec![Activity {
        likes_count: 5,
        ..activity(
            COCO_POST,
            &COCO,
            "I am white unicorn",
            now - Duration::days(2),
            now + Duration::days(5),
        )
    }]
}

/// Every top-level activity (posts, not replies): the home feed, then notifications.
pub(crate) fn activities(now: OffsetDateTime) -> Vec<Activity> {
    let mut all = home_activities(now);
    all.extend(notifications_activities(now));
    all
}

/// The activity (post or reply, at any depth) with this id.
pub(crate) fn find_activity(uuid: Uuid, now: OffsetDateTime) -> Option<Activity> {
    fn find(activities: Vec<Activity>, uuid: Uuid) -> Option<Activity> {
        let mut pending = activities;
        while let Some(mut activity) = pending.pop() {
            if activity.uuid == uuid {
                return Some(activity);
            }
            pending.append(&mut activity.replies);
        }
        None
    }
    find(activities(now), uuid)
}

/// One of the signed-in user's conversations.
pub(crate) struct Conversation {
    /// Id of the message group.
    pub(crate) uuid: Uuid,
    /// The other party.
    pub(crate) with: &'static User,
    /// Its messages, oldest first (never empty).
    pub(crate) messages: Vec<Message>,
}

impl Conversation {
    /// The conversation as the inbox lists it: the other party and the latest message.
    pub(crate) fn group(&self) -> MessageGroup {
        let latest = self.messages.last().expect("a mock conversation has messages");
        MessageGroup {
            uuid: self.uuid,
            display_name: self.with.display_name.to_owned(),
            handle: self.with.handle.to_owned(),
            message: latest.message.clone(),
            created_at: latest.created_at,
        }
    }
}

/// A message by `user`.
pub(crate) fn message(uuid: Uuid, user: &User, message: &str, created_at: OffsetDateTime) -> Message {
    Message {
        uuid,
        display_name: user.display_name.to_owned(),
        handle: user.handle.to_owned(),
        message: message.to_owned(),
        created_at,
    }
}

/// The signed-in user's conversations, as the Cruddur backend's message groups list them.
pub(crate) fn conversations(now: OffsetDateTime) -> Vec<Conversation> {
    vec![
        Conversation {
            uuid: uuid!("24b95582-9e7b-4e0a-9ad1-639773ab7552"),
            with: &ANDREW,
            messages: vec![
                message(
                    uuid!("4e81c06a-db0f-4281-b4cc-98208537772a"),
                    &ANDREW,
                    "Cloud is fun!",
                    now - Duration::minutes(30),
                ),
                message(
                    uuid!("b1f3c0de-5a1e-4c2b-9d7e-3f0a6c8e2d41"),
                    &ANDREW,
                    "This platform is great!",
                    now - Duration::minutes(10),
                ),
            ],
        },
        Conversation {
            uuid: uuid!("417c360e-c4e6-4fce-873b-d2d71469b4ac"),
            with: &WORF,
            messages: vec![message(
                uuid!("9d6c4a2e-7b3f-4e1a-8c5d-0f2e6b4a8c17"),
                &WORF,
                "Cloud is fun!",
                now - Duration::hours(1),
            )],
        },
    ]
}

/// The signed-in user's conversation with this handle (without `@`), ignoring ASCII case.
pub(crate) fn conversation(handle: &str, now: OffsetDateTime) -> Option<Conversation> {
    conversations(now)
        .into_iter()
        .find(|conversation| conversation.with.handle.eq_ignore_ascii_case(handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut ids: Vec<Uuid> = activities(now)
            .iter()
            .flat_map(|a| std::iter::once(a.uuid).chain(a.replies.iter().map(|r| r.uuid)))
            .collect();
        for conversation in conversations(now) {
            ids.push(conversation.uuid);
            ids.extend(conversation.messages.iter().map(|m| m.uuid));
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count);
    }

    #[test]
    fn every_author_is_a_user() {
        let now = OffsetDateTime::UNIX_EPOCH;
        for activity in activities(now) {
            let user = user(&activity.handle).expect("author is a mock user");
            assert_eq!(user.display_name, activity.display_name);
        }
        for conversation in conversations(now) {
            assert!(user(conversation.with.handle).is_some());
            assert!(conversation.messages.iter().all(|m| user(&m.handle).is_some()));
        }
    }

    #[test]
    fn finds_posts_and_replies() {
        let now = OffsetDateTime::UNIX_EPOCH;
        for id in [ANDREW_POST, WORF_REPLY, WORF_POST, GAREK_POST, COCO_POST] {
            assert_eq!(find_activity(id, now).map(|a| a.uuid), Some(id));
        }
        assert_eq!(find_activity(Uuid::nil(), now), None);
    }

    #[test]
    fn users_and_conversations_ignore_case() {
        assert_eq!(user("AndrewBrown").map(|u| u.handle), Some("andrewbrown"));
        assert!(user("nobody").is_none());
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(conversation("WORF", now).map(|c| c.with.handle), Some("worf"));
        assert!(conversation("garek", now).is_none());
    }
}
