-- The DHIS-2 page (issue 14) at a million registrations counts the jobs
-- not synced per number and state, and lists the newest failed and held
-- jobs of the tenant (100 at most). `dhis2_sync_open` has neither the
-- tenant nor the lists' order: the counts read every such job's row for
-- its tenant, and each list scanned every job (0.6 s a page view). This
-- index, like PostgreSQL's, holds the jobs not synced by tenant and state,
-- in the lists' order, with what the counts read: the counts are read from
-- it alone, a list stops after its 100. SQLite uses a partial index only
-- when the query repeats its WHERE term: the lists say `state <> 'synced'`
-- beside `state = ?` (`dhis2::store::jobs_in`).
CREATE INDEX dhis2_sync_listed ON dhis2_sync (tenant_id, state, updated_at, id, account_id, created_at)
    WHERE state <> 'synced';
