-- The reports (issue 15) read a year in well under a second: the figures
-- of each number and day are kept added up in `report_days`, and a report
-- reads those days plus the few rows not added in yet.
--
-- `rolled` marks a run or a registration whose figures are in
-- `report_days` (`report::days::roll`, in the background, in batches taken
-- with SKIP LOCKED so that two instances never add one row twice). Ids do
-- not say which rows are in: a sequence hands them out before commit, so a
-- lower id can commit after a higher one; hence a flag, and an index that
-- holds only the rows not yet in (a few minutes' worth).
ALTER TABLE flow_runs ADD COLUMN rolled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE uic_registrations ADD COLUMN rolled BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX flow_runs_unrolled ON flow_runs (tenant_id, account_id) WHERE NOT rolled;
CREATE INDEX uic_registrations_unrolled ON uic_registrations (tenant_id, first_account_id) WHERE NOT rolled;
-- The reports no longer read runs by number and start: the message path
-- keeps one index on flow_runs fewer for the one it gained.
DROP INDEX flow_runs_report;

-- One row per number and UTC day with figures: the day's runs by the day
-- they started (the funnel, the times to a code), its escalations by the
-- day they were handed over (reasons, times to a first reply), its new
-- codes by the day they were first seen: `report::days::Day` as JSON.
CREATE TABLE report_days (
    account_id BIGINT NOT NULL REFERENCES whatsapp_accounts (id),
    day DATE NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    figures JSONB NOT NULL,
    PRIMARY KEY (account_id, day)
);
