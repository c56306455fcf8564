-- The inbox's pages: the conversations list (newest activity first, paged by
-- keyset), its search by code or phone number, and the code card beside a
-- conversation.

-- The code last issued in the conversation (kept when the person starts
-- again): what "with a code" filters on and a search by code finds.
ALTER TABLE conversations ADD COLUMN uic TEXT;
UPDATE conversations SET uic = json_extract(flow_state, '$.uic') WHERE json_extract(flow_state, '$.step') = 'done';

-- Newest activity first. This index changes with every message (the
-- conversation's UPDATE is then no longer a heap-only one): the price of a
-- list that answers at once; measured in BENCHMARKS.md.
CREATE INDEX conversations_activity ON conversations (tenant_id, last_message_at, id);
CREATE INDEX conversations_uic ON conversations (tenant_id, uic) WHERE uic IS NOT NULL;
-- Search by phone number across the tenant's accounts.
CREATE INDEX contacts_tenant_phone ON contacts (tenant_id, phone);
-- The codes a phone registered (the card beside a conversation).
CREATE INDEX uic_registration_phones_hash ON uic_registration_phones (phone_hash);
