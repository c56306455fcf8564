-- The inbox: a conversation is answered by the bot, waits for staff (with
-- why), or is held by a staff member; every change of hands is recorded;
-- staff messages name their author; each account has a waiting limit.
--
-- SQLite cannot change a CHECK constraint in place: `conversations` is
-- rebuilt. The rows that refer to it (messages, outbox) stay where they are:
-- foreign keys are deferred to the end of this migration's transaction, by
-- which time the new table holds every conversation again under the same id.
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE conversations_kept AS SELECT * FROM conversations;
DROP TABLE conversations;
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    account_id INTEGER NOT NULL REFERENCES whatsapp_accounts (id),
    contact_id INTEGER NOT NULL UNIQUE REFERENCES contacts (id),
    -- bot: the flow answers; waiting: escalated, in the staff queue;
    -- human: a staff member holds it (taken_by), the bot is silent.
    mode TEXT NOT NULL DEFAULT 'bot' CHECK (mode IN ('bot', 'waiting', 'human')),
    -- Why it waits (NULL for conversations escalated before this version).
    waiting_reason TEXT CHECK (waiting_reason IN ('requested', 'failed_answers', 'media', 'flagged')),
    -- When it last entered the queue.
    escalated_at TEXT,
    -- Who holds it, since when (mode human).
    taken_by INTEGER REFERENCES users (id),
    taken_at TEXT,
    -- When the person was told nobody is available (once per wait).
    unattended_notice_at TEXT,
    flow_state TEXT NOT NULL,
    -- Bumped by every write: a writer that read an older version retries
    -- (optimistic concurrency, no lock held while the flow runs). A takeover
    -- bumps it too, so that a bot reply computed before it is never written.
    version INTEGER NOT NULL DEFAULT 0,
    last_inbound_at TEXT,
    last_message_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO conversations (id, tenant_id, account_id, contact_id, mode, waiting_reason, escalated_at,
    flow_state, version, last_inbound_at, last_message_at, created_at, updated_at)
SELECT id, tenant_id, account_id, contact_id,
    -- Nobody could take a conversation before: an escalated one waits.
    CASE mode WHEN 'human' THEN 'waiting' ELSE mode END, NULL, escalated_at,
    flow_state, version, last_inbound_at, last_message_at, created_at, updated_at
FROM conversations_kept;
DROP TABLE conversations_kept;
-- No index covers a column that changes with every message: the
-- per-message UPDATE then touches no index.
CREATE INDEX conversations_account ON conversations (account_id);
-- The staff queue (mode changes are rare next to messages).
CREATE INDEX conversations_waiting ON conversations (account_id, escalated_at) WHERE mode = 'waiting';
CREATE INDEX conversations_taken ON conversations (taken_by) WHERE mode = 'human';

-- Every change of hands, shown in the thread.
CREATE TABLE conversation_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    at TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('bot', 'waiting', 'human')),
    -- escalated (requested, failed_answers, media, flagged), taken,
    -- handed_back (resume, start_again), restarted (by the person),
    -- nobody_available (the person was told).
    change TEXT NOT NULL CHECK (change IN ('escalated', 'taken', 'handed_back', 'restarted', 'nobody_available')),
    detail TEXT,
    -- The staff member; NULL when the person or the bot did it.
    user_id INTEGER REFERENCES users (id)
);
CREATE INDEX conversation_events_conversation ON conversation_events (conversation_id, id);

-- The staff member who wrote an outbound message (sender 'staff').
ALTER TABLE messages ADD COLUMN author_id INTEGER REFERENCES users (id);

-- How long a conversation may wait for staff before the person is told
-- that nobody is available (and how to get their code from the bot).
ALTER TABLE whatsapp_accounts ADD COLUMN waiting_limit_minutes INTEGER NOT NULL DEFAULT 240
    CHECK (waiting_limit_minutes BETWEEN 5 AND 10080);
