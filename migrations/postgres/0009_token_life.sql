-- A Meta number's access token over its life (issue 13), beside the number:
-- the token's kind and expiry as Meta's debug_token tells them, when it was
-- last checked, the smallest expiry warning already given, and the token it
-- replaced, kept (sealed) until the new one has sent a message so that a
-- rotation can be rolled back. The daily check claims each number for a day
-- (`checked_at`: several instances run it). And what Meta says of the
-- number, for its health strip.
CREATE TABLE token_life (
    account_id BIGINT PRIMARY KEY REFERENCES whatsapp_accounts (id) ON DELETE CASCADE,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    kind TEXT CHECK (kind IN ('temporary', 'long_lived', 'never')),
    expires_at TIMESTAMPTZ,
    validated_at TIMESTAMPTZ,
    warned_days INTEGER,
    -- False from a rotation until the new token has sent a message.
    confirmed BOOLEAN NOT NULL DEFAULT TRUE,
    previous_token TEXT,
    previous_token_fp TEXT,
    previous_kind TEXT CHECK (previous_kind IN ('temporary', 'long_lived', 'never')),
    previous_expires_at TIMESTAMPTZ,
    checked_at TIMESTAMPTZ,
    quality_rating TEXT,
    messaging_limit TEXT,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX token_life_tenant ON token_life (tenant_id);
