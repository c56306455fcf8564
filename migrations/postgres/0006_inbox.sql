-- The inbox: a conversation is answered by the bot, waits for staff (with
-- why), or is held by a staff member; every change of hands is recorded;
-- staff messages name their author; each account has a waiting limit.

-- bot: the flow answers; waiting: escalated, in the staff queue; human: a
-- staff member holds it (taken_by), the bot is silent. Nobody could take a
-- conversation before: an escalated one waits.
ALTER TABLE conversations DROP CONSTRAINT conversations_mode_check;
UPDATE conversations SET mode = 'waiting' WHERE mode = 'human';
ALTER TABLE conversations ADD CONSTRAINT conversations_mode_check
    CHECK (mode IN ('bot', 'waiting', 'human'));
-- Why it waits (NULL for conversations escalated before this version).
ALTER TABLE conversations ADD COLUMN waiting_reason TEXT
    CHECK (waiting_reason IN ('requested', 'failed_answers', 'media', 'flagged'));
-- Who holds it, since when (mode human).
ALTER TABLE conversations ADD COLUMN taken_by BIGINT REFERENCES users (id);
ALTER TABLE conversations ADD COLUMN taken_at TIMESTAMPTZ;
-- When the person was told nobody is available (once per wait).
ALTER TABLE conversations ADD COLUMN unattended_notice_at TIMESTAMPTZ;
-- The staff queue (mode changes are rare next to messages).
CREATE INDEX conversations_waiting ON conversations (account_id, escalated_at) WHERE mode = 'waiting';
CREATE INDEX conversations_taken ON conversations (taken_by) WHERE mode = 'human';

-- Every change of hands, shown in the thread.
CREATE TABLE conversation_events (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    at TIMESTAMPTZ NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('bot', 'waiting', 'human')),
    -- escalated (requested, failed_answers, media, flagged), taken,
    -- handed_back (resume, start_again), restarted (by the person),
    -- nobody_available (the person was told).
    change TEXT NOT NULL CHECK (change IN ('escalated', 'taken', 'handed_back', 'restarted', 'nobody_available')),
    detail TEXT,
    -- The staff member; NULL when the person or the bot did it.
    user_id BIGINT REFERENCES users (id)
);
CREATE INDEX conversation_events_conversation ON conversation_events (conversation_id, id);

-- The staff member who wrote an outbound message (sender 'staff').
ALTER TABLE messages ADD COLUMN author_id BIGINT REFERENCES users (id);

-- How long a conversation may wait for staff before the person is told
-- that nobody is available (and how to get their code from the bot).
ALTER TABLE whatsapp_accounts ADD COLUMN waiting_limit_minutes INTEGER NOT NULL DEFAULT 240
    CHECK (waiting_limit_minutes BETWEEN 5 AND 10080);
