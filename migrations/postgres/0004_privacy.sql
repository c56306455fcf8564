-- Privacy at rest: what the transcript keeps of a message typed to the bot,
-- tenant settings (profile names, retention), test data marked apart from
-- the real registry, and the simulator's own permission.

-- 'command': a recognised command, kept as its normalised word ("AIDE");
-- 'described': text typed to the bot that was neither an answer nor a
-- command, kept as its kind and length only (people greet and thank with
-- their names). 'redacted' is also what the retention job leaves.
ALTER TABLE messages DROP CONSTRAINT messages_body_form_check;
ALTER TABLE messages ADD CONSTRAINT messages_body_form_check
    CHECK (body_form IN ('verbatim', 'shortened', 'redacted', 'command', 'described'));
-- Length in characters of a 'described' message's text (its body is empty).
ALTER TABLE messages ADD COLUMN text_chars INTEGER;

-- What was typed to the bot before this version, in conversations never
-- handed to staff, is reduced to its length as new messages are.
UPDATE messages SET body_form = 'described', text_chars = length(body), body = ''
WHERE direction = 'in' AND body_form = 'verbatim'
  AND conversation_id IN (SELECT id FROM conversations WHERE escalated_at IS NULL);

-- Registrations made from a sandbox account (the simulator) are test data:
-- kept apart from the real registry (their own uniqueness, so never a
-- collision with a real person), left out of lists and figures, and never
-- to be sent to DHIS-2.
ALTER TABLE uic_registrations ADD COLUMN test_data BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE uic_registrations r SET test_data = TRUE
WHERE EXISTS (SELECT 1 FROM whatsapp_accounts a WHERE a.id = r.first_account_id AND a.provider = 'sandbox');
ALTER TABLE uic_registrations DROP CONSTRAINT uic_registrations_tenant_id_uic_key;
ALTER TABLE uic_registrations ADD CONSTRAINT uic_registrations_tenant_id_test_data_uic_key
    UNIQUE (tenant_id, test_data, uic);

-- keep_profile_names: WhatsApp profile names are stored only when the tenant
-- turns this on. retention_days: verbatim message text older than this is
-- redacted by the daily maintenance job.
ALTER TABLE tenants ADD COLUMN keep_profile_names BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tenants ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 180
    CHECK (retention_days BETWEEN 7 AND 3650);
-- Off by default: names stored by earlier versions go.
UPDATE contacts SET profile_name = NULL;

-- The simulator has its own permission; the built-in roles that get it in
-- the code (administrator, supervisor) get it in existing tenants too.
INSERT INTO role_permissions (role_id, permission)
SELECT id, 'simulator.use' FROM roles WHERE builtin IN ('administrator', 'supervisor')
ON CONFLICT DO NOTHING;
