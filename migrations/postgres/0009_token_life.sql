-- A Meta number's access token over its life (issue 13): its kind and expiry
-- as Meta's debug_token tells them, when it was last checked, the expiry
-- warnings already given, and the token it replaced, kept (sealed) until the
-- new one has sent a message so that a rotation can be rolled back. The
-- daily check claims each number for a day (several instances run it).
-- Plus what Meta says of the number for its health strip.
ALTER TABLE whatsapp_accounts ADD COLUMN token_kind TEXT
    CHECK (token_kind IN ('temporary', 'long_lived', 'never'));
ALTER TABLE whatsapp_accounts ADD COLUMN token_expires_at TIMESTAMPTZ;
ALTER TABLE whatsapp_accounts ADD COLUMN token_validated_at TIMESTAMPTZ;
-- The smallest "days before expiry" warning given for the current token.
ALTER TABLE whatsapp_accounts ADD COLUMN token_warned_days INTEGER;
-- False from a rotation until the new token has sent a message.
ALTER TABLE whatsapp_accounts ADD COLUMN token_confirmed BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE whatsapp_accounts ADD COLUMN previous_token TEXT;
ALTER TABLE whatsapp_accounts ADD COLUMN previous_token_fp TEXT;
ALTER TABLE whatsapp_accounts ADD COLUMN previous_token_kind TEXT
    CHECK (previous_token_kind IN ('temporary', 'long_lived', 'never'));
ALTER TABLE whatsapp_accounts ADD COLUMN previous_token_expires_at TIMESTAMPTZ;
ALTER TABLE whatsapp_accounts ADD COLUMN token_checked_at TIMESTAMPTZ;
ALTER TABLE whatsapp_accounts ADD COLUMN quality_rating TEXT;
ALTER TABLE whatsapp_accounts ADD COLUMN messaging_limit TEXT;
