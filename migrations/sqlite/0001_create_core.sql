-- Core data model: tenants, WhatsApp accounts, contacts, conversations,
-- messages, outbox, UIC registry and application settings.

CREATE TABLE tenants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE whatsapp_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    provider TEXT NOT NULL CHECK (provider IN ('twilio', 'meta', 'sandbox')),
    -- E.164 number of the WhatsApp sender ("+14155238886"); Twilio routes by it.
    phone_number TEXT,
    meta_phone_number_id TEXT UNIQUE,
    twilio_account_sid TEXT,
    twilio_auth_token TEXT,
    flow_config TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX whatsapp_accounts_provider_phone ON whatsapp_accounts (provider, phone_number);
CREATE INDEX whatsapp_accounts_tenant ON whatsapp_accounts (tenant_id);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    account_id INTEGER NOT NULL REFERENCES whatsapp_accounts (id),
    -- Needed to reply; shown only to staff allowed to see phone numbers.
    phone TEXT NOT NULL,
    profile_name TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (account_id, phone)
);
CREATE INDEX contacts_tenant ON contacts (tenant_id);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    account_id INTEGER NOT NULL REFERENCES whatsapp_accounts (id),
    contact_id INTEGER NOT NULL UNIQUE REFERENCES contacts (id),
    mode TEXT NOT NULL DEFAULT 'bot' CHECK (mode IN ('bot', 'human')),
    escalated_at TEXT,
    flow_state TEXT NOT NULL,
    -- Bumped by every write: a writer that read an older version retries
    -- (optimistic concurrency, no lock held while the flow runs).
    version INTEGER NOT NULL DEFAULT 0,
    last_inbound_at TEXT,
    last_message_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- No index covers a column that changes with every message: the
-- per-message UPDATE then touches no index.
CREATE INDEX conversations_account ON conversations (account_id);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The conversation's tenant and account, copied for scoped queries. No
    -- foreign keys on these two: the conversation's own already hold, and on
    -- PostgreSQL each would lock the one tenant row shared by every message
    -- (FOR KEY SHARE), serialising busy programmes on it.
    tenant_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    sender TEXT NOT NULL CHECK (sender IN ('contact', 'bot', 'staff')),
    -- Provider's id (Twilio MessageSid, Meta wamid); unique per account so a
    -- retried webhook is stored once.
    provider_message_id TEXT,
    kind TEXT NOT NULL DEFAULT 'text',
    -- 'verbatim' as written, 'shortened' (only the letters/digit the code
    -- uses), 'redacted' (an unreadable answer, nothing of it kept).
    body_form TEXT NOT NULL DEFAULT 'verbatim' CHECK (body_form IN ('verbatim', 'shortened', 'redacted')),
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX messages_provider_id ON messages (account_id, provider_message_id);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    account_id INTEGER NOT NULL REFERENCES whatsapp_accounts (id),
    message_id INTEGER NOT NULL REFERENCES messages (id),
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'held')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE uic_registrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    uic TEXT NOT NULL,
    last_part TEXT NOT NULL,
    first_part TEXT NOT NULL,
    year_digit INTEGER NOT NULL,
    city TEXT NOT NULL,
    gender INTEGER NOT NULL,
    first_account_id INTEGER NOT NULL REFERENCES whatsapp_accounts (id),
    times_seen INTEGER NOT NULL DEFAULT 1,
    -- 'none', or 'open' when a second phone registered the same code
    -- (possibly two people), 'reviewed' once a supervisor looked at it.
    collision_status TEXT NOT NULL DEFAULT 'none' CHECK (collision_status IN ('none', 'open', 'reviewed')),
    collision_flagged_at TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    UNIQUE (tenant_id, uic)
);
CREATE INDEX uic_registrations_collisions ON uic_registrations (tenant_id, collision_status);

-- The phones that registered a code, as salted SHA-256 hashes only.
CREATE TABLE uic_registration_phones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    registration_id INTEGER NOT NULL REFERENCES uic_registrations (id),
    phone_hash TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES whatsapp_accounts (id),
    times_seen INTEGER NOT NULL DEFAULT 1,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    UNIQUE (registration_id, phone_hash)
);

CREATE TABLE app_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
