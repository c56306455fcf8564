-- Privacy at rest: what the transcript keeps of a message typed to the bot,
-- tenant settings (profile names, retention), test data marked apart from
-- the real registry, and the simulator's own permission.
--
-- SQLite cannot change a CHECK or a UNIQUE constraint in place: `messages`
-- and `uic_registrations` are rebuilt. Foreign keys stay on (the pragma has
-- no effect inside the migration's transaction), so the rows that refer to
-- a rebuilt table (outbox, uic_registration_phones) are set aside while its
-- old copy is dropped, and put back once the new one holds every row.
CREATE TEMP TABLE outbox_kept AS SELECT * FROM outbox;
DELETE FROM outbox;
CREATE TEMP TABLE uic_registration_phones_kept AS SELECT * FROM uic_registration_phones;
DELETE FROM uic_registration_phones;

-- 'command': a recognised command, kept as its normalised word ("AIDE");
-- 'described': text typed to the bot that was neither an answer nor a
-- command, kept as its kind and length only (people greet and thank with
-- their names). 'redacted' is also what the retention job leaves.
CREATE TABLE messages_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    sender TEXT NOT NULL CHECK (sender IN ('contact', 'bot', 'staff')),
    provider_message_id TEXT,
    kind TEXT NOT NULL DEFAULT 'text',
    body_form TEXT NOT NULL DEFAULT 'verbatim'
        CHECK (body_form IN ('verbatim', 'shortened', 'redacted', 'command', 'described')),
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    media_ref TEXT,
    -- Length in characters of a 'described' message's text (its body is empty).
    text_chars INTEGER
);
INSERT INTO messages_new (id, tenant_id, account_id, conversation_id, direction, sender, provider_message_id, kind,
    body_form, body, status, error_code, error_message, created_at, updated_at, media_ref)
SELECT id, tenant_id, account_id, conversation_id, direction, sender, provider_message_id, kind,
    body_form, body, status, error_code, error_message, created_at, updated_at, media_ref
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE UNIQUE INDEX messages_provider_id ON messages (account_id, provider_message_id);
CREATE INDEX messages_conversation ON messages (conversation_id, id);
INSERT INTO outbox SELECT * FROM outbox_kept;
DROP TABLE outbox_kept;

-- What was typed to the bot before this version, in conversations never
-- handed to staff, is reduced to its length as new messages are.
UPDATE messages SET body_form = 'described', text_chars = length(body), body = ''
WHERE direction = 'in' AND body_form = 'verbatim'
  AND conversation_id IN (SELECT id FROM conversations WHERE escalated_at IS NULL);

-- Registrations made from a sandbox account (the simulator) are test data:
-- kept apart from the real registry (their own uniqueness, so never a
-- collision with a real person), left out of lists and figures, and never
-- to be sent to DHIS-2.
CREATE TABLE uic_registrations_new (
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
    collision_status TEXT NOT NULL DEFAULT 'none' CHECK (collision_status IN ('none', 'open', 'reviewed')),
    collision_flagged_at TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    test_data INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, test_data, uic)
);
INSERT INTO uic_registrations_new (id, tenant_id, uic, last_part, first_part, year_digit, city, gender,
    first_account_id, times_seen, collision_status, collision_flagged_at, first_seen_at, last_seen_at, test_data)
SELECT r.id, r.tenant_id, r.uic, r.last_part, r.first_part, r.year_digit, r.city, r.gender,
    r.first_account_id, r.times_seen, r.collision_status, r.collision_flagged_at, r.first_seen_at, r.last_seen_at,
    EXISTS (SELECT 1 FROM whatsapp_accounts a WHERE a.id = r.first_account_id AND a.provider = 'sandbox')
FROM uic_registrations r;
DROP TABLE uic_registrations;
ALTER TABLE uic_registrations_new RENAME TO uic_registrations;
CREATE INDEX uic_registrations_collisions ON uic_registrations (tenant_id, collision_status);
INSERT INTO uic_registration_phones SELECT * FROM uic_registration_phones_kept;
DROP TABLE uic_registration_phones_kept;

-- keep_profile_names: WhatsApp profile names are stored only when the tenant
-- turns this on. retention_days: verbatim message text older than this is
-- redacted by the daily maintenance job.
ALTER TABLE tenants ADD COLUMN keep_profile_names INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 180
    CHECK (retention_days BETWEEN 7 AND 3650);
-- Off by default: names stored by earlier versions go.
UPDATE contacts SET profile_name = NULL;

-- The simulator has its own permission; the built-in roles that get it in
-- the code (administrator, supervisor) get it in existing tenants too.
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'simulator.use' FROM roles WHERE builtin IN ('administrator', 'supervisor')
ON CONFLICT DO NOTHING;
