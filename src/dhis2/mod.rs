//! DHIS-2 Tracker synchronisation (DESIGN section 7; wire formats in the
//! external APIs reference, part C).
//!
//! Every code issued on a real number gets a sync job, created in the
//! transaction that records the registration (`store::enqueue`, and the
//! PostgreSQL one-statement write in `inbox::store`). The worker
//! (`worker`) claims due jobs per number in batches, searches DHIS-2 for
//! their UICs (a tracked entity found is linked, never duplicated), imports
//! the rest with the UIDs made with the job (a retry never creates a second
//! record), and writes each job's verdict: synced, failed on a validation
//! error (kept with DHIS-2's message until staff retry it), held for a
//! supervisor (a possible collision), or due again later (network, 5xx:
//! exponential backoff, for as long as it takes).
//!
//! - `settings`: a number's settings, as stored and as typed (pure).
//! - `store`: their SQL, the jobs' and the page's.
//! - `uid`, `wire`, `client`, `check`: DHIS-2's UIDs, its JSON, the HTTP
//!   client and the settings check.

pub mod check;
pub mod client;
pub mod command;
pub mod env;
pub mod settings;
pub mod store;
pub mod sync;
pub mod uid;
pub mod wire;
pub mod worker;

pub use settings::Settings;

crate::text_enum! {
    /// Where a registration's sync job stands (`dhis2_sync.state`).
    pub enum SyncState("DHIS-2 sync state") {
        /// Waiting for its time (a new job, or one to try again).
        Pending = "pending",
        /// Claimed by a worker until its lease ends.
        Syncing = "syncing",
        /// In DHIS-2.
        Synced = "synced",
        /// Stopped on DHIS-2's verdict: waits for staff to retry it.
        Failed = "failed",
        /// A possible collision: waits for a supervisor's decision.
        Held = "held",
    }
}

impl SyncState {
    /// The state's name for staff.
    pub fn label(self, lang: crate::auth::Lang) -> &'static str {
        let fr = matches!(lang, crate::auth::Lang::Fr);
        match self {
            SyncState::Pending if fr => "en attente",
            SyncState::Pending => "pending",
            SyncState::Syncing if fr => "en cours",
            SyncState::Syncing => "syncing",
            SyncState::Synced if fr => "synchronisé",
            SyncState::Synced => "synced",
            SyncState::Failed if fr => "échec",
            SyncState::Failed => "failed",
            SyncState::Held if fr => "retenu",
            SyncState::Held => "held",
        }
    }
}

crate::text_enum! {
    /// A supervisor's decision on a possible collision
    /// (`uic_registrations.collision_decision`).
    pub enum Decision("collision decision") {
        /// One person registered from two phones: sent to DHIS-2.
        SamePerson = "same_person",
        /// Two people with one code: held from DHIS-2.
        DifferentPeople = "different_people",
    }
}
