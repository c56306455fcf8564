//! The fake's records (metadata, stored tracked entities and enrollments,
//! jobs, potential duplicates, recorded requests) and its shared state
//! (`Inner`), plus the UID and date helpers every route uses.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

/// Largest request body the fake reads.
pub(super) const MAX_REQUEST: usize = 10 * 1024 * 1024;
/// `GET /api/system/id` never hands out more than this many UIDs (C.1).
pub const MAX_UIDS: usize = 10_000;
/// The `serverDate` of `/api/system/info` (fixed so tests can compare it).
pub const SERVER_DATE: &str = "2026-11-23T10:15:00.000";

// ---------------------------------------------------------------------------
// Version knob

/// The DHIS-2 release the fake imitates; it changes the search parameters and
/// answer shapes (C.5), the duplicates listing (C.7) and message wording (C.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V2_38,
    V2_39,
    V2_40,
    V2_41,
}

impl Version {
    /// Every knob position, oldest first (for tests running on each).
    pub const ALL: [Version; 4] = [
        Version::V2_38,
        Version::V2_39,
        Version::V2_40,
        Version::V2_41,
    ];

    /// The `version` of `/api/system/info`.
    pub fn version_string(self) -> &'static str {
        match self {
            Version::V2_38 => "2.38.4",
            Version::V2_39 => "2.39.3",
            Version::V2_40 => "2.40.2",
            Version::V2_41 => "2.41.1",
        }
    }

    /// How messages name a tracked entity: `TrackedEntityInstance` up to
    /// 2.40, `TrackedEntity` in 2.41 (C.1).
    pub fn te_word(self) -> &'static str {
        if self >= Version::V2_41 {
            "TrackedEntity"
        } else {
            "TrackedEntityInstance"
        }
    }
}

// ---------------------------------------------------------------------------
// Metadata

/// `WITH_REGISTRATION` (tracker) or `WITHOUT_REGISTRATION` (event) program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramType {
    WithRegistration,
    WithoutRegistration,
}

impl ProgramType {
    pub fn as_str(self) -> &'static str {
        match self {
            ProgramType::WithRegistration => "WITH_REGISTRATION",
            ProgramType::WithoutRegistration => "WITHOUT_REGISTRATION",
        }
    }
}

/// A tracked entity type and its attributes (`(attribute uid, mandatory)`).
#[derive(Debug, Clone)]
pub struct TrackedEntityType {
    pub uid: String,
    pub name: String,
    pub attributes: Vec<(String, bool)>,
}

/// A program, with what the C.2 program check reads.
#[derive(Debug, Clone)]
pub struct Program {
    pub uid: String,
    pub name: String,
    pub program_type: ProgramType,
    /// `None` for event programs.
    pub tracked_entity_type: Option<String>,
    /// When true, `occurredAt` is mandatory on enrollments (E1023).
    pub display_incident_date: bool,
    pub only_enroll_once: bool,
    /// Org units the program is assigned to (E1041 otherwise).
    pub org_units: Vec<String>,
    /// Program attributes: `(attribute uid, mandatory)`.
    pub attributes: Vec<(String, bool)>,
}

impl Program {
    /// A tracker program of this TE type, no org units, no attributes.
    pub fn with_registration(uid: &str, tracked_entity_type: &str) -> Program {
        Program {
            uid: uid.to_string(),
            name: format!("Program {uid}"),
            program_type: ProgramType::WithRegistration,
            tracked_entity_type: Some(tracked_entity_type.to_string()),
            display_incident_date: false,
            only_enroll_once: false,
            org_units: Vec::new(),
            attributes: Vec::new(),
        }
    }
}

/// An org unit; `path` is `/root/…/uid` and gives the hierarchy.
#[derive(Debug, Clone)]
pub struct OrgUnit {
    pub uid: String,
    pub name: String,
    pub code: String,
    pub path: String,
}

impl OrgUnit {
    /// The parent's UID (second to last in `path`).
    pub fn parent(&self) -> Option<&str> {
        let parts: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        parts.len().checked_sub(2).map(|i| parts[i])
    }
}

/// A tracked entity attribute (C.2).
#[derive(Debug, Clone)]
pub struct Attribute {
    pub uid: String,
    pub name: String,
    pub value_type: String,
    pub unique: bool,
    /// Uniqueness per org unit instead of system-wide.
    pub orgunit_scope: bool,
    pub generated: bool,
    pub pattern: String,
}

impl Attribute {
    /// A `TEXT` attribute, not unique, not generated.
    pub fn text(uid: &str, name: &str) -> Attribute {
        Attribute {
            uid: uid.to_string(),
            name: name.to_string(),
            value_type: "TEXT".into(),
            unique: false,
            orgunit_scope: false,
            generated: false,
            pattern: String::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// Data

/// A stored enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentSnapshot {
    pub uid: String,
    pub program: String,
    pub org_unit: String,
    /// `ACTIVE`, `COMPLETED` or `CANCELLED`.
    pub status: String,
    pub enrolled_at: String,
    pub occurred_at: Option<String>,
    /// Program attribute values sent with the enrollment.
    pub attributes: Vec<(String, String)>,
}

/// A stored tracked entity, as `tracked_entities()` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedEntitySnapshot {
    pub uid: String,
    pub tracked_entity_type: String,
    pub org_unit: String,
    /// Attribute values sent on the tracked entity itself.
    pub attributes: Vec<(String, String)>,
    pub enrollments: Vec<EnrollmentSnapshot>,
    pub created_at: String,
    pub updated_at: String,
}

impl TrackedEntitySnapshot {
    /// A tracked entity to seed with `add_tracked_entity`.
    pub fn new(uid: &str, tracked_entity_type: &str, org_unit: &str) -> TrackedEntitySnapshot {
        let now = now_iso();
        TrackedEntitySnapshot {
            uid: uid.to_string(),
            tracked_entity_type: tracked_entity_type.to_string(),
            org_unit: org_unit.to_string(),
            attributes: Vec::new(),
            enrollments: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// Adds an attribute value on the tracked entity.
    pub fn attribute(mut self, attribute: &str, value: &str) -> TrackedEntitySnapshot {
        self.attributes
            .push((attribute.to_string(), value.to_string()));
        self
    }

    /// Adds an ACTIVE enrollment in `program` at the TE's org unit, with
    /// these program attribute values.
    pub fn enrolled(
        mut self,
        enrollment: &str,
        program: &str,
        attributes: &[(&str, &str)],
    ) -> TrackedEntitySnapshot {
        self.enrollments.push(EnrollmentSnapshot {
            uid: enrollment.to_string(),
            program: program.to_string(),
            org_unit: self.org_unit.clone(),
            status: "ACTIVE".into(),
            enrolled_at: SERVER_DATE.into(),
            occurred_at: Some(SERVER_DATE.into()),
            attributes: attributes
                .iter()
                .map(|(a, v)| (a.to_string(), v.to_string()))
                .collect(),
        });
        self
    }

    /// Every attribute value of the person: its own, then its enrollments'
    /// (DHIS-2 stores program attribute values on the tracked entity too).
    pub fn all_attributes(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self.attributes.clone();
        for e in &self.enrollments {
            for (a, v) in &e.attributes {
                if let Some(slot) = out.iter_mut().find(|(k, _)| k == a) {
                    slot.1 = v.clone();
                } else {
                    out.push((a.clone(), v.clone()));
                }
            }
        }
        out
    }

    /// The value of one attribute, wherever it was sent.
    pub fn value_of(&self, attribute: &str) -> Option<String> {
        self.all_attributes()
            .into_iter()
            .find(|(a, _)| a == attribute)
            .map(|(_, v)| v)
    }
}

/// A potential duplicate pair (C.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PotentialDuplicate {
    pub id: String,
    pub original: String,
    pub duplicate: String,
    /// `OPEN`, `INVALID` or `MERGED`.
    pub status: String,
    pub created: String,
    pub last_updated: String,
}

/// How a request authenticated (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthKind {
    None,
    /// HTTP Basic, with the user name.
    Basic(String),
    /// `ApiToken d2pat_…`.
    ApiToken,
    /// Any other `Authorization` scheme.
    Other,
}

/// Every request the fake saw, refused ones too, in the order answered.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub auth: AuthKind,
    /// The body parsed as JSON (`None` when empty or not JSON).
    pub body: Option<Value>,
    /// The HTTP status answered; 0 when the connection was dropped.
    pub status: u16,
}

/// An async import job (C.3).
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub payload: Value,
    pub params: ImportParams,
    /// Polls of `/api/tracker/jobs/{id}` still to answer "not completed".
    pub polls_left: u32,
    /// Notifications, newest first.
    pub notifications: Vec<Value>,
    /// The report, once completed.
    pub report: Option<Value>,
}

/// The query parameters of `POST /api/tracker` the fake honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ImportParams {
    pub strategy: Strategy,
    pub atomic_all: bool,
    pub validate_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strategy {
    Create,
    Update,
    CreateAndUpdate,
    Delete,
}

// ---------------------------------------------------------------------------
// Shared state

pub(super) struct Inner {
    pub version: Version,
    pub base_url: String,
    pub users: HashMap<String, String>,
    /// Personal access tokens, with their expired flag.
    pub tokens: HashMap<String, bool>,
    /// Org units writable and searchable with ACCESSIBLE/CAPTURE; `None`:
    /// every org unit (the same scope for every credential).
    pub capture_scope: Option<Vec<String>>,
    pub te_types: BTreeMap<String, TrackedEntityType>,
    pub programs: BTreeMap<String, Program>,
    pub org_units: BTreeMap<String, OrgUnit>,
    pub attributes: BTreeMap<String, Attribute>,
    /// Stored tracked entities, in creation order.
    pub tracked_entities: Vec<TrackedEntitySnapshot>,
    pub jobs: HashMap<String, Job>,
    pub job_polls: u32,
    pub duplicates: Vec<PotentialDuplicate>,
    pub requests: Vec<RecordedRequest>,
    pub imports: usize,
    pub latency: Option<Duration>,
    /// Statuses the next requests answer, one each.
    pub fail_next: VecDeque<u16>,
    pub down: bool,
}

pub(super) type Shared = Arc<Mutex<Inner>>;

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    pub fn new(version: Version, base_url: String) -> Inner {
        Inner {
            version,
            base_url,
            users: HashMap::new(),
            tokens: HashMap::new(),
            capture_scope: None,
            te_types: BTreeMap::new(),
            programs: BTreeMap::new(),
            org_units: BTreeMap::new(),
            attributes: BTreeMap::new(),
            tracked_entities: Vec::new(),
            jobs: HashMap::new(),
            job_polls: 0,
            duplicates: Vec::new(),
            requests: Vec::new(),
            imports: 0,
            latency: None,
            fail_next: VecDeque::new(),
            down: false,
        }
    }

    pub fn te(&self, uid: &str) -> Option<&TrackedEntitySnapshot> {
        self.tracked_entities.iter().find(|t| t.uid == uid)
    }

    pub fn te_mut(&mut self, uid: &str) -> Option<&mut TrackedEntitySnapshot> {
        self.tracked_entities.iter_mut().find(|t| t.uid == uid)
    }

    /// The stored TE holding this enrollment.
    pub fn owner_of_enrollment(&self, enrollment: &str) -> Option<&TrackedEntitySnapshot> {
        self.tracked_entities
            .iter()
            .find(|t| t.enrollments.iter().any(|e| e.uid == enrollment))
    }

    /// Whether the org unit is in the capture scope.
    pub fn in_scope(&self, org_unit: &str) -> bool {
        match &self.capture_scope {
            None => true,
            Some(roots) => self
                .org_units
                .get(org_unit)
                .is_some_and(|ou| roots.iter().any(|r| ou.path.split('/').any(|p| p == r))),
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A new DHIS-2 UID: a letter then 10 letters or digits.
pub fn new_uid() -> String {
    let mut s = String::with_capacity(11);
    s.push(ALNUM[rand::random_range(0..52)] as char);
    for _ in 0..10 {
        s.push(ALNUM[rand::random_range(0..ALNUM.len())] as char);
    }
    s
}

/// `^[A-Za-z][A-Za-z0-9]{10}$` (C.1).
pub fn is_uid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11 && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
}

/// `d2pat_` + 32 Base64 characters + 10 digits (C.1). The trailing CRC32 is
/// not recomputed: any 10 digits pass the shape check.
pub fn is_pat_shape(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("d2pat_") else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() == 42
        && b[..32]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        && b[32..].iter().all(u8::is_ascii_digit)
}

/// A new, valid-looking personal access token.
pub fn new_pat() -> String {
    let mut s = String::from("d2pat_");
    for _ in 0..32 {
        s.push(ALNUM[rand::random_range(0..ALNUM.len())] as char);
    }
    s.push_str(&format!("{:010}", rand::random_range(0..4_294_967_296u64)));
    s
}

/// Now, as DHIS-2 writes dates: `2026-11-23T10:15:00.000`.
pub fn now_iso() -> String {
    OffsetDateTime::now_utc()
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
        ))
        .unwrap_or_else(|_| SERVER_DATE.to_string())
}
