-- Issue 15: the programme reports and the collision review.

-- Two permissions: deciding a possible collision, and reading the reports
-- (figures only). The tenants' built-in roles get them as the code's list
-- says (`auth::BuiltinRole::permissions`); roles made by a tenant do not.
INSERT INTO role_permissions (role_id, permission)
SELECT r.id, p.column2
FROM roles r
JOIN (VALUES ('administrator', 'uic.review'), ('administrator', 'reports.view'),
             ('supervisor', 'uic.review'), ('supervisor', 'reports.view'),
             ('observer', 'reports.view')) AS p
  ON p.column1 = r.builtin
WHERE true
ON CONFLICT DO NOTHING;

-- One row per run of the bot's questions that ended: the code given
-- (completed), handed to staff (escalated), or left idle past the session
-- timeout (left). Written in the transaction of the message (or of the
-- sweep) that ends it; what it counts was kept in the conversation's flow
-- state while it ran (`flow::Run`). Nothing typed is in it.
CREATE TABLE flow_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    account_id INTEGER NOT NULL REFERENCES whatsapp_accounts (id),
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    -- On a sandbox number (the simulator): never counted in a report.
    test_data INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('completed', 'escalated', 'left')),
    -- Started by staff handing the conversation back at a question, not
    -- by a person's first message: not counted as a new start.
    resumed INTEGER NOT NULL,
    -- The question (1 to 5) it ended at; NULL when completed.
    question INTEGER CHECK (question BETWEEN 1 AND 5),
    -- The furthest question asked (1 to 5).
    reached INTEGER NOT NULL CHECK (reached BETWEEN 1 AND 5),
    -- Answers not understood, per question.
    invalid_1 INTEGER NOT NULL DEFAULT 0,
    invalid_2 INTEGER NOT NULL DEFAULT 0,
    invalid_3 INTEGER NOT NULL DEFAULT 0,
    invalid_4 INTEGER NOT NULL DEFAULT 0,
    invalid_5 INTEGER NOT NULL DEFAULT 0,
    -- RECOMMENCER typed during the run.
    restarts INTEGER NOT NULL DEFAULT 0,
    escalation_reason TEXT CHECK (escalation_reason IN ('requested', 'failed_answers', 'media')),
    -- Escalated runs: when a staff member first wrote to the person.
    first_reply_at TEXT
);
CREATE INDEX flow_runs_report ON flow_runs (account_id, started_at) WHERE test_data = 0;
CREATE INDEX flow_runs_conversation ON flow_runs (conversation_id, id);

-- New codes per day and number, for the reports.
CREATE INDEX uic_registrations_first_seen ON uic_registrations (first_account_id, first_seen_at) WHERE test_data = 0;
