-- Each number's health strip (issue 13). What was last recorded of the
-- number's bad facts (a comma-separated list of `tenancy::health::Fact`
-- keys, empty when all is well): a fact that turns bad is an incident
-- (`number.incident` in the audit log) once, whichever instance notices it
-- first (compare-and-set on this column).
ALTER TABLE whatsapp_accounts ADD COLUMN health_bad TEXT NOT NULL DEFAULT '';
-- The last inbound message of a number: the newest of its conversations'.
-- Every inbound message already rewrites the conversations_activity entry
-- (last_message_at), so this adds one index entry per inbound message.
CREATE INDEX conversations_last_inbound ON conversations (account_id, last_inbound_at);
-- The last delivery failure of a number: failures are few, so this index
-- stays small, and the strip never reads the messages table itself.
CREATE INDEX messages_failed ON messages (account_id, updated_at) WHERE status = 'failed';
