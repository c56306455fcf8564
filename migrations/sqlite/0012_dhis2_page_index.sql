-- The DHIS-2 page (issue 14) at a million registrations lists the newest
-- failed and held jobs of the tenant (`tenant_id = ? AND state = ?`,
-- newest first, 100 at most). `dhis2_sync_open` has neither the tenant nor
-- the lists' order, and SQLite uses a partial index only when the query
-- repeats its WHERE term: `state = ?` does not imply `state <> 'synced'`
-- for its planner, so a partial index like PostgreSQL's would never be
-- read, and each list scanned the million rows (0.6 s a page view). This
-- index covers every job: a list reads its 100 entries in order and stops.
-- (The counts keep reading `dhis2_sync_open`, whose term they repeat.)
CREATE INDEX dhis2_sync_listed ON dhis2_sync (tenant_id, state, updated_at, id);
