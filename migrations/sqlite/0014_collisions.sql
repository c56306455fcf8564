-- Issue 15: a supervisor's « personnes différentes » splits a code. The
-- first phone keeps it; every later phone gets the code and a letter
-- (`MBEIBR7DA1B`), in a registration of its own that names the one it was
-- split from. Also what a returning phone is looked up by: the same answers
-- give it its own code again, not the shared one.
ALTER TABLE uic_registrations ADD COLUMN distinct_from INTEGER REFERENCES uic_registrations (id);
CREATE INDEX uic_registrations_distinct ON uic_registrations (distinct_from) WHERE distinct_from IS NOT NULL;
-- The review's list: the open collisions of a tenant, newest flagged first.
CREATE INDEX uic_registrations_open ON uic_registrations (tenant_id, collision_flagged_at, id) WHERE collision_status = 'open';
