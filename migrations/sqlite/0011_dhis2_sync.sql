-- DHIS-2 Tracker synchronisation (issue 14).
--
-- A number's DHIS-2 settings: where its registrations go. No row, or
-- `enabled` false: its registrations wait (pending) until it is set up.
-- The credential (a personal access token, or the password of `username`)
-- is sealed like the WhatsApp credentials (`secrets::store::COLUMNS`).
CREATE TABLE dhis2_settings (
    account_id INTEGER PRIMARY KEY REFERENCES whatsapp_accounts (id) ON DELETE CASCADE,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    enabled INTEGER NOT NULL DEFAULT 0,
    base_url TEXT NOT NULL DEFAULT '',
    auth_kind TEXT NOT NULL DEFAULT 'token' CHECK (auth_kind IN ('token', 'basic')),
    username TEXT NOT NULL DEFAULT '',
    credential TEXT,
    credential_fp TEXT,
    program TEXT NOT NULL DEFAULT '',
    tracked_entity_type TEXT NOT NULL DEFAULT '',
    -- The org unit of every enrollment, unless the city code of the UIC is
    -- in the map ("KI=DiszpKrYNg8,LU=...").
    org_unit TEXT NOT NULL DEFAULT '',
    org_unit_map TEXT NOT NULL DEFAULT '',
    attr_uic TEXT NOT NULL DEFAULT '',
    attr_last TEXT NOT NULL DEFAULT '',
    attr_first TEXT NOT NULL DEFAULT '',
    attr_year TEXT NOT NULL DEFAULT '',
    attr_city TEXT NOT NULL DEFAULT '',
    attr_gender TEXT NOT NULL DEFAULT '',
    -- What the server said at the last call: its version, and the last
    -- problem that stopped every record (credentials refused, unreachable).
    server_version TEXT,
    last_problem TEXT,
    last_problem_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX dhis2_settings_tenant ON dhis2_settings (tenant_id);

-- One job per registration and number: created in the transaction that
-- records the code issued on that number (never for test data). The
-- tracked entity and enrollment UIDs are made with the job, before the
-- first attempt, so that a retry never creates a second record.
CREATE TABLE dhis2_sync (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    account_id INTEGER NOT NULL REFERENCES whatsapp_accounts (id),
    registration_id INTEGER NOT NULL REFERENCES uic_registrations (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'syncing', 'synced', 'failed', 'held')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_by TEXT,
    claimed_until TEXT,
    tracked_entity TEXT NOT NULL,
    enrollment TEXT NOT NULL,
    -- The tracked entity already existed in DHIS-2 (same UIC): linked.
    linked INTEGER NOT NULL DEFAULT 0,
    -- The last error: DHIS-2's code (E1064...) or ours (network, http_503),
    -- and its message.
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    synced_at TEXT,
    UNIQUE (registration_id, account_id)
);
-- What the worker claims.
CREATE INDEX dhis2_sync_due ON dhis2_sync (account_id, next_attempt_at) WHERE state IN ('pending', 'syncing');
-- Everything not synced, per number: the page's counts, lists and ages
-- (synced jobs, nearly all of them, are counted in dhis2_counts).
CREATE INDEX dhis2_sync_open ON dhis2_sync (account_id, state, created_at) WHERE state <> 'synced';

-- Synced jobs per number, kept by the worker in the transaction that marks
-- them synced: counting a million rows at every page view would not do.
CREATE TABLE dhis2_counts (
    account_id INTEGER PRIMARY KEY REFERENCES whatsapp_accounts (id) ON DELETE CASCADE,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    synced INTEGER NOT NULL DEFAULT 0,
    last_success_at TEXT
);

-- A supervisor's decision on a possible collision (two phones, one code):
-- the same person (sent to DHIS-2), or different people (held).
ALTER TABLE uic_registrations ADD COLUMN collision_decision TEXT
    CHECK (collision_decision IN ('same_person', 'different_people'));
