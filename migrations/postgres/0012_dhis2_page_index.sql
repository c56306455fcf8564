-- The DHIS-2 page (issue 14) at a million registrations. It counts the
-- jobs not synced per number and state, and lists the newest failed and
-- held ones of the tenant; `dhis2_sync_open` (account_id, state,
-- created_at) has neither the tenant nor the order of the lists, so each
-- view read every such row from the table (scattered over a year of
-- registrations) and sorted the thousands of held ones to show 100.
-- This one, also only over the jobs not synced, starts with the tenant
-- and the state and holds the list's order and what the counts read:
-- the counts are read from the index alone, a list stops after its 100.
CREATE INDEX dhis2_sync_listed ON dhis2_sync (tenant_id, state, updated_at, id, account_id, created_at)
    WHERE state <> 'synced';
