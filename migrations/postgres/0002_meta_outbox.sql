-- Meta Cloud API accounts, the outbox worker's columns, message statuses and
-- webhook dead letters.

ALTER TABLE whatsapp_accounts ADD COLUMN meta_waba_id TEXT;
ALTER TABLE whatsapp_accounts ADD COLUMN meta_app_id TEXT;
-- Checks X-Hub-Signature-256 of webhooks for this number.
ALTER TABLE whatsapp_accounts ADD COLUMN meta_app_secret TEXT;
-- Answers Meta's GET verification handshake.
ALTER TABLE whatsapp_accounts ADD COLUMN meta_verify_token TEXT;
ALTER TABLE whatsapp_accounts ADD COLUMN meta_access_token TEXT;
-- 'invalid' after Graph error 190 (or another token/permission error): the
-- account's outbox is held, nothing dropped, until the token is replaced.
ALTER TABLE whatsapp_accounts ADD COLUMN token_status TEXT NOT NULL DEFAULT 'ok' CHECK (token_status IN ('ok', 'invalid'));
ALTER TABLE whatsapp_accounts ADD COLUMN token_error TEXT;
ALTER TABLE whatsapp_accounts ADD COLUMN token_flagged_at TIMESTAMPTZ;
-- Sends per second the outbox worker allows itself for this number.
ALTER TABLE whatsapp_accounts ADD COLUMN send_rate_per_second INTEGER NOT NULL DEFAULT 20 CHECK (send_rate_per_second > 0);

-- The provider's media id of an inbound image, audio, document… (to show it
-- to staff later); never a file name chosen by the sender.
ALTER TABLE messages ADD COLUMN media_ref TEXT;

-- Nothing ever wrote to the first outbox (no worker existed): rebuilt with
-- the worker's columns.
DROP TABLE outbox;
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    -- No foreign keys on these two (as on messages): the conversation's
    -- hold, and on PostgreSQL each would lock the tenant's and the
    -- account's row for every reply, serialising a busy programme on them.
    tenant_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    -- Sends of one conversation go out one after the other, in id order.
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    message_id BIGINT NOT NULL REFERENCES messages (id),
    payload JSONB NOT NULL,
    -- pending: waiting (or held: the account's token is invalid);
    -- sending: claimed by a worker until claimed_until (after that, a crashed
    -- worker's claim is taken over); sent; failed: permanent, see error_code.
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMPTZ,
    error_code BIGINT,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ
);
-- The worker looks at each account's oldest due rows.
CREATE INDEX outbox_due ON outbox (account_id, next_attempt_at, id) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_conversation ON outbox (conversation_id, id) WHERE status IN ('pending', 'sending');

-- Webhook deliveries that could not be routed (a phone number id no account
-- has), kept with their raw body for an operator to look at.
CREATE TABLE webhook_dead_letters (
    id BIGSERIAL PRIMARY KEY,
    provider TEXT NOT NULL,
    reason TEXT NOT NULL,
    reference TEXT,
    body TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_dead_letters_received ON webhook_dead_letters (received_at);
