-- Direct messages, in conversations (message groups) of two users.

CREATE TABLE message_groups (
    uuid        uuid PRIMARY KEY,
    -- The two members, smaller id first (the same one twice for notes to self).
    user_a_uuid uuid NOT NULL REFERENCES users (uuid),
    user_b_uuid uuid NOT NULL REFERENCES users (uuid),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (user_a_uuid <= user_b_uuid),
    UNIQUE (user_a_uuid, user_b_uuid)
);
CREATE INDEX message_groups_user_b ON message_groups (user_b_uuid);

CREATE TABLE messages (
    uuid               uuid PRIMARY KEY,
    seq                bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    message_group_uuid uuid NOT NULL REFERENCES message_groups (uuid),
    -- The sender.
    user_uuid          uuid NOT NULL REFERENCES users (uuid),
    message            text NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX messages_by_group ON messages (message_group_uuid, created_at, seq);
