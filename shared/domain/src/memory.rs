//! [`MemoryStore`]: the [`Store`] kept in the process's memory, seeded with the mock data.
//!
//! It is the default when no database is configured (local runs, tests, the benchmark):
//! what a function writes lives until its process ends. It answers as the PostgreSQL
//! store does, query for query (with the same list limits), and emits no spans (it does
//! no I/O). It cannot grow without bound: it keeps at most [`MEMORY_CAPACITY`] activities
//! and as many messages, forgetting the oldest stored first (the users, and so the
//! conversations between them, are the seed's and do not grow).

use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::seed::{self, Follow, Notification, Seed, SeedActivity, SeedMessageGroup};
use crate::store::{
    NewActivity, NewMessage, Store, StoreError, StoreResult, User, FEED_LIMIT, MESSAGES_LIMIT,
    MESSAGE_GROUPS_LIMIT, REPLIES_LIMIT,
};

/// The most activities, and the most messages, a [`MemoryStore`] keeps: past it, each new
/// one makes it forget the oldest stored (with messages at most 1024 characters, a few MB).
pub const MEMORY_CAPACITY: usize = 1_000;
use crate::{Activity, Message, MessageGroup, Reply};

/// A [`Store`] in memory, behind a mutex held for no longer than one method.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

#[derive(Debug, Default)]
struct Data {
    users: Vec<User>,
    /// In the order stored.
    activities: Vec<SeedActivity>,
    follows: Vec<Follow>,
    notifications: Vec<Notification>,
    groups: Vec<SeedMessageGroup>,
    /// In the order stored, each with its conversation's id.
    messages: Vec<(Uuid, NewMessage)>,
}

impl MemoryStore {
    /// A store holding nothing.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store holding the seed data as of `now` ([`seed::seed`]).
    pub fn seeded(now: OffsetDateTime) -> MemoryStore {
        MemoryStore::from_seed(seed::seed(now))
    }

    /// A store holding `seed`.
    pub fn from_seed(seed: Seed) -> MemoryStore {
        let Seed {
            users,
            activities,
            follows,
            notifications,
            message_groups,
            messages,
        } = seed;
        let mut data = Data {
            users,
            activities,
            follows,
            notifications,
            groups: message_groups,
            messages: Vec::new(),
        };
        for message in messages {
            let group = data.group_of(message.sender_uuid, message.receiver_uuid);
            data.messages.push((group, message));
        }
        MemoryStore {
            data: Mutex::new(data),
        }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic while locked cannot leave the data half-written: every write is one push.
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Data {
    fn user(&self, uuid: Uuid) -> Option<&User> {
        self.users.iter().find(|u| u.uuid == uuid)
    }

    /// The activity as the feeds show it, without replies.
    fn show(&self, stored: &SeedActivity) -> Activity {
        let activity = &stored.activity;
        let author = self.user(activity.user_uuid);
        let replies = self
            .activities
            .iter()
            .filter(|a| a.activity.reply_to_activity_uuid == Some(activity.uuid))
            .count();
        Activity {
            uuid: activity.uuid,
            handle: author.map(|u| u.handle.clone()).unwrap_or_default(),
            display_name: author.map(|u| u.display_name.clone()).unwrap_or_default(),
            message: activity.message.clone(),
            created_at: activity.created_at,
            expires_at: activity.expires_at,
            likes_count: stored.likes_count,
            replies_count: u32::try_from(replies).unwrap_or(u32::MAX),
            reposts_count: 0,
            replies: Vec::new(),
        }
    }

    /// Unexpired posts matching `keep`, newest stored first, at most [`FEED_LIMIT`].
    fn posts(&self, now: OffsetDateTime, keep: impl Fn(&NewActivity) -> bool) -> Vec<Activity> {
        self.activities
            .iter()
            .rev()
            .filter(|a| a.activity.reply_to_activity_uuid.is_none() && a.activity.expires_at > now)
            .filter(|a| keep(&a.activity))
            .take(FEED_LIMIT)
            .map(|a| self.show(a))
            .collect()
    }

    /// The conversation of `a` and `b`, made if they have none.
    fn group_of(&mut self, a: Uuid, b: Uuid) -> Uuid {
        let members = pair(a, b);
        if let Some(group) = self
            .groups
            .iter()
            .find(|g| pair(g.user_uuids[0], g.user_uuids[1]) == members)
        {
            return group.uuid;
        }
        let uuid = Uuid::new_v4();
        self.groups.push(SeedMessageGroup {
            uuid,
            user_uuids: [members.0, members.1],
        });
        uuid
    }

    fn message(&self, message: &NewMessage) -> Message {
        let sender = self.user(message.sender_uuid);
        Message {
            uuid: message.uuid,
            display_name: sender.map(|u| u.display_name.clone()).unwrap_or_default(),
            handle: sender.map(|u| u.handle.clone()).unwrap_or_default(),
            message: message.message.clone(),
            created_at: message.created_at,
        }
    }
}

/// A conversation's members in a canonical order.
fn pair(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    (a.min(b), a.max(b))
}

fn contains_ignoring_case(text: &str, lowercase_term: &str) -> bool {
    text.to_lowercase().contains(lowercase_term)
}

#[async_trait]
impl Store for MemoryStore {
    fn in_memory(&self) -> bool {
        true
    }

    async fn user(&self, handle: &str) -> StoreResult<Option<User>> {
        let data = self.data();
        Ok(data
            .users
            .iter()
            .find(|u| u.handle.eq_ignore_ascii_case(handle))
            .cloned())
    }

    async fn home_feed(&self, viewer: Uuid, now: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        let data = self.data();
        let followed = |author: Uuid| {
            author == viewer
                || data
                    .follows
                    .iter()
                    .any(|f| f.follower_uuid == viewer && f.followee_uuid == author)
        };
        Ok(data.posts(now, |a| followed(a.user_uuid)))
    }

    async fn notifications_feed(&self, viewer: Uuid, now: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        let data = self.data();
        let notifies = |activity: Uuid| {
            data.notifications
                .iter()
                .any(|n| n.user_uuid == viewer && n.activity_uuid == activity)
        };
        Ok(data.posts(now, |a| notifies(a.uuid)))
    }

    async fn user_posts(&self, author: Uuid, now: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        Ok(self.data().posts(now, |a| a.user_uuid == author))
    }

    async fn search_posts(&self, term: &str, now: OffsetDateTime) -> StoreResult<Vec<Activity>> {
        let data = self.data();
        let term = term.to_lowercase();
        Ok(data.posts(now, |a| {
            let author = data.user(a.user_uuid);
            contains_ignoring_case(&a.message, &term)
                || author.is_some_and(|u| {
                    contains_ignoring_case(&u.handle, &term) || contains_ignoring_case(&u.display_name, &term)
                })
        }))
    }

    async fn activity(&self, uuid: Uuid) -> StoreResult<Option<Activity>> {
        let data = self.data();
        Ok(data
            .activities
            .iter()
            .find(|a| a.activity.uuid == uuid)
            .map(|a| data.show(a)))
    }

    async fn replies(&self, activities: &[Uuid]) -> StoreResult<Vec<Reply>> {
        let data = self.data();
        let mut listed: Vec<(Uuid, usize)> = activities.iter().map(|uuid| (*uuid, 0)).collect();
        Ok(data
            .activities
            .iter()
            .filter_map(|a| {
                let parent = a.activity.reply_to_activity_uuid?;
                let (_, count) = listed.iter_mut().find(|(uuid, _)| *uuid == parent)?;
                *count += 1;
                (*count <= REPLIES_LIMIT).then(|| Reply {
                    activity: data.show(a),
                    reply_to_activity_uuid: parent,
                })
            })
            .collect())
    }

    async fn insert_activity(&self, activity: &NewActivity) -> StoreResult<Activity> {
        let mut data = self.data();
        if data.user(activity.user_uuid).is_none() {
            return Err(StoreError::Query("the author is not a user".into()));
        }
        let exists = |uuid: Uuid| data.activities.iter().any(|a| a.activity.uuid == uuid);
        if activity
            .reply_to_activity_uuid
            .is_some_and(|parent| !exists(parent))
        {
            return Err(StoreError::Query("the replied-to activity does not exist".into()));
        }
        if exists(activity.uuid) {
            return Err(StoreError::Query("an activity with this id exists".into()));
        }
        if data.activities.len() >= MEMORY_CAPACITY {
            data.activities.remove(0);
        }
        data.activities.push(SeedActivity {
            activity: activity.clone(),
            likes_count: 0,
        });
        let stored = data.activities.last().expect("just pushed");
        Ok(data.show(stored))
    }

    async fn message_groups(&self, viewer: Uuid) -> StoreResult<Vec<MessageGroup>> {
        let data = self.data();
        let mut groups: Vec<MessageGroup> = data
            .groups
            .iter()
            .filter(|g| g.user_uuids.contains(&viewer))
            .filter_map(|g| {
                let [a, b] = g.user_uuids;
                let other = data.user(if a == viewer { b } else { a })?;
                let latest = data.messages.iter().rev().find(|(group, _)| *group == g.uuid)?;
                Some(MessageGroup {
                    uuid: g.uuid,
                    display_name: other.display_name.clone(),
                    handle: other.handle.clone(),
                    message: latest.1.message.clone(),
                    created_at: latest.1.created_at,
                })
            })
            .collect();
        groups.sort_by_key(|group| std::cmp::Reverse(group.created_at));
        groups.truncate(MESSAGE_GROUPS_LIMIT);
        Ok(groups)
    }

    async fn messages(&self, viewer: Uuid, other: Uuid) -> StoreResult<Vec<Message>> {
        let data = self.data();
        let members = pair(viewer, other);
        let Some(group) = data
            .groups
            .iter()
            .find(|g| pair(g.user_uuids[0], g.user_uuids[1]) == members)
        else {
            return Ok(Vec::new());
        };
        let mut messages: Vec<&NewMessage> = data
            .messages
            .iter()
            .filter(|(g, _)| *g == group.uuid)
            .map(|(_, m)| m)
            .collect();
        messages.sort_by_key(|m| m.created_at);
        let latest = messages.len().saturating_sub(MESSAGES_LIMIT);
        Ok(messages[latest..].iter().map(|m| data.message(m)).collect())
    }

    async fn insert_message(&self, message: &NewMessage) -> StoreResult<Message> {
        let mut data = self.data();
        if data.user(message.sender_uuid).is_none() || data.user(message.receiver_uuid).is_none() {
            return Err(StoreError::Query("the sender or receiver is not a user".into()));
        }
        if data.messages.iter().any(|(_, m)| m.uuid == message.uuid) {
            return Err(StoreError::Query("a message with this id exists".into()));
        }
        let group = data.group_of(message.sender_uuid, message.receiver_uuid);
        if data.messages.len() >= MEMORY_CAPACITY {
            data.messages.remove(0);
        }
        data.messages.push((group, message.clone()));
        Ok(data.message(message))
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::block_on;
    use crate::seed::*;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn texts(activities: &[Activity]) -> Vec<&str> {
        activities.iter().map(|a| a.message.as_str()).collect()
    }

    #[test]
    fn feeds_are_the_seed_apps() {
        let store = MemoryStore::seeded(NOW);
        let home = block_on(store.home_feed(ANDREW, NOW)).unwrap();
        assert_eq!(
            texts(&home),
            [
                "Cloud is fun!",
                "I am out of prune juice",
                "My dear doctor, I am just simple tailor"
            ]
        );
        assert_eq!((home[0].likes_count, home[0].replies_count), (5, 1));
        let notifications = block_on(store.notifications_feed(ANDREW, NOW)).unwrap();
        assert_eq!(texts(&notifications), ["I am white unicorn"]);
        let replies = block_on(store.replies(&[ANDREW_POST, WORF_POST])).unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].reply_to_activity_uuid, ANDREW_POST);
        assert_eq!(replies[0].activity.handle, "worf");
    }

    #[test]
    fn expired_posts_leave_the_feeds() {
        let store = MemoryStore::seeded(NOW);
        let later = NOW + Duration::days(1);
        let home = block_on(store.home_feed(ANDREW, later)).unwrap();
        assert_eq!(texts(&home), ["Cloud is fun!", "I am out of prune juice"]);
        // Show still finds it.
        assert!(block_on(store.activity(GAREK_POST)).unwrap().is_some());
    }

    #[test]
    fn new_posts_come_first_and_replies_count() {
        let store = MemoryStore::seeded(NOW);
        let post = NewActivity {
            uuid: Uuid::new_v4(),
            user_uuid: ANDREW,
            message: "Rust is fun!".into(),
            created_at: NOW,
            expires_at: NOW + Duration::hours(1),
            reply_to_activity_uuid: None,
        };
        let stored = block_on(store.insert_activity(&post)).unwrap();
        assert_eq!((stored.handle.as_str(), stored.replies_count), ("andrewbrown", 0));
        let reply = NewActivity {
            uuid: Uuid::new_v4(),
            reply_to_activity_uuid: Some(post.uuid),
            user_uuid: WORF,
            ..post.clone()
        };
        block_on(store.insert_activity(&reply)).unwrap();
        let home = block_on(store.home_feed(ANDREW, NOW)).unwrap();
        assert_eq!((home[0].uuid, home[0].replies_count), (post.uuid, 1));
        assert_eq!(home.len(), 4);
        // Not twice, not to a missing parent, not by a stranger.
        assert!(block_on(store.insert_activity(&post)).is_err());
        let orphan = NewActivity {
            uuid: Uuid::new_v4(),
            reply_to_activity_uuid: Some(Uuid::nil()),
            ..post.clone()
        };
        assert!(block_on(store.insert_activity(&orphan)).is_err());
    }

    #[test]
    fn messages_make_their_conversation() {
        let store = MemoryStore::seeded(NOW);
        let groups = block_on(store.message_groups(ANDREW)).unwrap();
        let handles: Vec<_> = groups.iter().map(|g| g.handle.as_str()).collect();
        assert_eq!(handles, ["andrewbrown", "worf"]);
        assert!(block_on(store.messages(ANDREW, GAREK)).unwrap().is_empty());
        let message = NewMessage {
            uuid: Uuid::new_v4(),
            sender_uuid: ANDREW,
            receiver_uuid: GAREK,
            message: "Tailor?".into(),
            created_at: NOW,
        };
        let stored = block_on(store.insert_message(&message)).unwrap();
        assert_eq!(stored.handle, "andrewbrown");
        let conversation = block_on(store.messages(GAREK, ANDREW)).unwrap();
        assert_eq!(conversation, [stored]);
        let groups = block_on(store.message_groups(GAREK)).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(
            (groups[0].handle.as_str(), groups[0].message.as_str()),
            ("andrewbrown", "Tailor?")
        );
        assert_eq!(block_on(store.message_groups(ANDREW)).unwrap()[0].handle, "garek");
    }

    #[test]
    fn search_and_users_ignore_case() {
        let store = MemoryStore::seeded(NOW);
        let found = block_on(store.search_posts("ANDREW b", NOW)).unwrap();
        assert_eq!(texts(&found), ["Cloud is fun!"]);
        let user = block_on(store.user("AndrewBrown")).unwrap().unwrap();
        assert_eq!(user.uuid, ANDREW);
        assert!(block_on(store.user("nobody")).unwrap().is_none());
    }

    fn post(n: usize) -> NewActivity {
        NewActivity {
            uuid: Uuid::new_v4(),
            user_uuid: ANDREW,
            message: format!("post {n}"),
            created_at: NOW,
            expires_at: NOW + Duration::hours(1),
            reply_to_activity_uuid: None,
        }
    }

    fn message(n: usize, to: Uuid) -> NewMessage {
        NewMessage {
            uuid: Uuid::new_v4(),
            sender_uuid: ANDREW,
            receiver_uuid: to,
            message: format!("message {n}"),
            created_at: NOW + Duration::seconds(n as i64),
        }
    }

    #[test]
    fn lists_are_bounded_as_in_postgres() {
        let store = MemoryStore::seeded(NOW);
        for n in 0..FEED_LIMIT + 5 {
            block_on(store.insert_activity(&post(n))).unwrap();
        }
        let home = block_on(store.home_feed(ANDREW, NOW)).unwrap();
        assert_eq!(home.len(), FEED_LIMIT);
        assert_eq!(home[0].message, format!("post {}", FEED_LIMIT + 4));

        for n in 0..REPLIES_LIMIT + 3 {
            let reply = NewActivity {
                reply_to_activity_uuid: Some(GAREK_POST),
                ..post(n)
            };
            block_on(store.insert_activity(&reply)).unwrap();
        }
        let replies = block_on(store.replies(&[GAREK_POST, ANDREW_POST])).unwrap();
        let to_garek: Vec<_> = replies
            .iter()
            .filter(|r| r.reply_to_activity_uuid == GAREK_POST)
            .collect();
        assert_eq!(to_garek.len(), REPLIES_LIMIT);
        assert_eq!(to_garek[0].activity.message, "post 0", "the first replies");
        assert_eq!(
            replies.len(),
            REPLIES_LIMIT + 1,
            "Andrew's post keeps its one reply"
        );
        let shown = block_on(store.activity(GAREK_POST)).unwrap().unwrap();
        assert_eq!(shown.replies_count as usize, REPLIES_LIMIT + 3, "counted all");

        for n in 0..MESSAGES_LIMIT + 2 {
            block_on(store.insert_message(&message(n, GAREK))).unwrap();
        }
        let conversation = block_on(store.messages(GAREK, ANDREW)).unwrap();
        assert_eq!(conversation.len(), MESSAGES_LIMIT);
        assert_eq!(conversation[0].message, "message 2", "the latest, oldest first");
        assert_eq!(
            conversation.last().unwrap().message,
            format!("message {}", MESSAGES_LIMIT + 1)
        );
        assert!(block_on(store.message_groups(ANDREW)).unwrap().len() <= MESSAGE_GROUPS_LIMIT);
    }

    #[test]
    fn memory_is_bounded_forgetting_the_oldest() {
        let store = MemoryStore::seeded(NOW);
        for n in 0..MEMORY_CAPACITY + 10 {
            block_on(store.insert_activity(&post(n))).unwrap();
            block_on(store.insert_message(&message(n, WORF))).unwrap();
        }
        let data = store.data();
        assert_eq!(data.activities.len(), MEMORY_CAPACITY);
        assert_eq!(data.messages.len(), MEMORY_CAPACITY);
        assert_eq!(data.activities[0].activity.message, "post 10");
        assert_eq!(data.messages[0].1.message, "message 10");
        drop(data);
        // Still answering, the newest first.
        let home = block_on(store.home_feed(ANDREW, NOW)).unwrap();
        assert_eq!(home[0].message, format!("post {}", MEMORY_CAPACITY + 9));
    }
}
