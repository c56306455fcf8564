-- Staff accounts, roles and permissions (RBAC), one-time links, login
-- throttling and the audit log.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    -- Lower-cased; the login name, unique across tenants.
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    -- argon2id PHC string; NULL until an invited user chooses a password.
    password_hash TEXT,
    locale TEXT NOT NULL DEFAULT 'fr' CHECK (locale IN ('fr', 'en')),
    platform_admin INTEGER NOT NULL DEFAULT 0,
    disabled_at TEXT,
    -- Sessions that logged in before this moment end (a password changed
    -- or reset logs out everywhere else).
    password_changed_at TEXT,
    last_login_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);
CREATE INDEX users_tenant ON users (tenant_id);

-- Roles are per tenant. The four built-in ones are created with the tenant
-- and keep the permissions the code gives them; a tenant's own roles
-- (builtin NULL) are edited in the UI.
CREATE TABLE roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id),
    builtin TEXT CHECK (builtin IN ('administrator', 'supervisor', 'agent', 'observer')),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, builtin)
);

CREATE TABLE role_permissions (
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

-- A role given to a user for the whole tenant (account_id NULL) or for one
-- WhatsApp account.
CREATE TABLE role_assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    account_id INTEGER REFERENCES whatsapp_accounts (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);
CREATE INDEX role_assignments_user ON role_assignments (user_id);
CREATE INDEX role_assignments_role ON role_assignments (role_id);

-- Per-user exceptions to the roles: allow or deny one permission, tenant-wide
-- (account_id NULL) or for one account. A deny wins over any allow.
CREATE TABLE permission_overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    account_id INTEGER REFERENCES whatsapp_accounts (id) ON DELETE CASCADE,
    allow INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX permission_overrides_user ON permission_overrides (user_id);

-- One-time links: first administrator setup, invitations, password resets.
-- Only a hash of the token is kept; the token itself is in the link.
CREATE TABLE one_time_links (
    token_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('setup', 'invite', 'reset')),
    tenant_id INTEGER REFERENCES tenants (id),
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

-- Failed logins, counted per login name and per address over a window.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);

-- Who did or looked at what, when, from where. Never holds a secret.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL: a platform-level event (a tenant created, a failed login for an
    -- unknown name).
    tenant_id INTEGER REFERENCES tenants (id),
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- The actor's login name at the time, kept if the user is deleted.
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    ip TEXT,
    at TEXT NOT NULL
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);
