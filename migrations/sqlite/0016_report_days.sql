-- The reports (issue 15) read a year in well under a second: the figures
-- of each number and day are kept added up in `report_days`, and a report
-- reads those days plus the few rows not added in yet.
--
-- `rolled` marks a run or a registration whose figures are in
-- `report_days` (`report::days::roll`, in the background). Ids do not say
-- which rows are in (on PostgreSQL a lower id can commit after a higher
-- one); hence a flag, and an index that holds only the rows not yet in.
-- The queries repeat the index's `rolled = 0` so that SQLite uses it.
ALTER TABLE flow_runs ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uic_registrations ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX flow_runs_unrolled ON flow_runs (tenant_id, account_id) WHERE rolled = 0;
CREATE INDEX uic_registrations_unrolled ON uic_registrations (tenant_id, first_account_id) WHERE rolled = 0;
DROP INDEX flow_runs_report;

-- One row per number and UTC day with figures (`report::days::Day` as
-- JSON): the day's runs by the day they started, its escalations by the
-- day they were handed over, its new codes by the day first seen.
CREATE TABLE report_days (
    account_id INTEGER NOT NULL REFERENCES whatsapp_accounts (id),
    day TEXT NOT NULL,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    figures TEXT NOT NULL,
    PRIMARY KEY (account_id, day)
);
