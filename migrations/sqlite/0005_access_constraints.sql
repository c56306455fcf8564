-- Constraints the access code relies on, in the schema rather than in a
-- check-then-insert that two requests at once can both pass: a role is
-- given once per (user, role, scope), an override set once per (user,
-- permission, scope). Duplicates a race left behind are removed first (for
-- overrides the latest is kept: setting one replaces the earlier).
DELETE FROM role_assignments WHERE id NOT IN (
    SELECT MIN(id) FROM role_assignments GROUP BY user_id, role_id, COALESCE(account_id, 0));
CREATE UNIQUE INDEX role_assignments_once
    ON role_assignments (user_id, role_id, COALESCE(account_id, 0));

DELETE FROM permission_overrides WHERE id NOT IN (
    SELECT MAX(id) FROM permission_overrides GROUP BY user_id, permission, COALESCE(account_id, 0));
CREATE UNIQUE INDEX permission_overrides_once
    ON permission_overrides (user_id, permission, COALESCE(account_id, 0));
