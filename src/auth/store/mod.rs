//! SQL for users, roles, grants, one-time links and failed logins.
//! Every function reading or writing a tenant's data takes the `Access` a
//! permission check returned (see `auth::access`) and filters by it: another
//! tenant's object is simply not found. The exceptions are the
//! authentication itself (a session's or a link's user, login throttling)
//! and the program's own setup (first start, built-in roles).
//!
//! One file per job; everything public is re-exported here, so callers
//! keep writing `auth::store::X`:
//! - `users`: users (create, find, list, passwords, profile, disabling, logins);
//! - `roles`: roles and their permissions (built-in roles, create, update, delete);
//! - `grants`: role assignments, permission overrides, what a user may do, and
//!   the rule that a tenant always keeps a user manager;
//! - `links`: one-time links (setup, invitation, reset: create, peek, redeem);
//! - `throttle`: login throttling (failed logins per name and address).

mod grants;
mod links;
mod roles;
mod throttle;
mod users;

pub use grants::{
    Assignment, Override, UserChange, active_administrators, actor, assign, assign_in,
    assignments_of, grants, managers_in, overrides_of, remove_override, set_override, unassign,
};
pub use links::{
    Link, LinkPurpose, Redeemed, create_first_setup_link, create_link, peek_link,
    redeem_password_link, redeem_setup, use_link, user_link,
};
pub use roles::{
    Role, RoleChange, builtin_role_id, create_role, delete_role, ensure_builtin_roles,
    ensure_builtin_roles_in, find_role, list_roles, update_role,
};
pub use throttle::{
    DELAY_STEP, MAX_DELAY, MAX_FAILURES_PER_EMAIL, MAX_FAILURES_PER_IP, THROTTLE_WINDOW, Throttle,
    clear_failures, record_failure, throttle,
};
pub use users::{
    AuditBy, NewUser, NewUserRefusal, User, count_users, create_staff, create_user, create_user_in,
    find_by_email, find_user, find_user_in, list_users, normalize_email, set_disabled,
    set_own_password, set_password_in, touch_login, update_profile, valid_email,
};
