-- Users, their activities (posts and replies), who follows whom, and notifications.

CREATE TABLE users (
    uuid         uuid PRIMARY KEY,
    handle       text NOT NULL CHECK (handle ~ '^[A-Za-z0-9_]{1,32}$'),
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- Handles are matched ignoring case.
CREATE UNIQUE INDEX users_handle_key ON users (lower(handle));

CREATE TABLE activities (
    uuid                   uuid PRIMARY KEY,
    -- The order activities were stored in: feeds list the newest stored first.
    seq                    bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    user_uuid              uuid NOT NULL REFERENCES users (uuid),
    message                text NOT NULL,
    likes_count            integer NOT NULL DEFAULT 0 CHECK (likes_count >= 0),
    reposts_count          integer NOT NULL DEFAULT 0 CHECK (reposts_count >= 0),
    -- Set for a reply: the activity (post or reply) it answers.
    reply_to_activity_uuid uuid REFERENCES activities (uuid),
    created_at             timestamptz NOT NULL,
    expires_at             timestamptz NOT NULL
);
CREATE INDEX activities_posts_by_user ON activities (user_uuid, seq DESC)
    WHERE reply_to_activity_uuid IS NULL;
CREATE INDEX activities_posts ON activities (seq DESC) WHERE reply_to_activity_uuid IS NULL;
CREATE INDEX activities_replies ON activities (reply_to_activity_uuid, seq)
    WHERE reply_to_activity_uuid IS NOT NULL;

CREATE TABLE follows (
    follower_uuid uuid NOT NULL REFERENCES users (uuid),
    followee_uuid uuid NOT NULL REFERENCES users (uuid),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_uuid, followee_uuid)
);

CREATE TABLE notifications (
    user_uuid     uuid NOT NULL REFERENCES users (uuid),
    activity_uuid uuid NOT NULL REFERENCES activities (uuid),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_uuid, activity_uuid)
);
