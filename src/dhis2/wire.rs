//! The DHIS-2 Tracker API on the wire (reference part C), without I/O: the
//! server [`Version`], the import payload ([`ImportBundle`]) and its
//! [`ImportReport`], the search query ([`search_params`]) and its results
//! ([`FoundEntity`]), and the metadata the settings check reads
//! ([`ProgramInfo`], [`TrackedEntityTypeInfo`], [`AttributeInfo`],
//! [`OrgUnitInfo`]).
//!
//! Parsers are lenient on what we do not need (unknown fields, missing
//! optional parts, numbers sent as strings) and strict on what a decision
//! rests on: a report without a `status`, a search answer without its list,
//! a metadata object without its `id` are errors, never a silent default.

use super::uid::Uid;
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use time::OffsetDateTime;

/// The longest server text kept (messages of reports and errors).
pub const MESSAGE_MAX: usize = 300;

/// The `fields` of a search: only what a match decision needs (C.5).
pub const SEARCH_FIELDS: &str =
    "trackedEntity,orgUnit,attributes[attribute,value],enrollments[enrollment,program,status]";

// ---------------------------------------------------------------------------
// Version

/// A DHIS-2 server version, from `/api/system/info`'s `version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// A `version` that is not `<major>.<minor>[.<patch>…][-suffix]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable DHIS-2 version {0:?}")]
pub struct VersionError(pub String);

impl Version {
    /// The oldest and newest versions this client was written for.
    pub const OLDEST_SUPPORTED: Version = Version::new(2, 38, 0);
    pub const NEWEST_SUPPORTED: Version = Version::new(2, 41, u32::MAX);

    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Reads `2.41.1`, `2.40.4.1` (hotfix number ignored), `2.39-SNAPSHOT`,
    /// `2.41.0-rc1` (suffix ignored; a missing patch is 0).
    pub fn parse(raw: &str) -> Result<Version, VersionError> {
        let refuse = || VersionError(raw.chars().take(40).collect());
        let s = raw.trim();
        let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
        // The numeric part ends at the first character that is neither a
        // digit nor a dot (`-SNAPSHOT`, `-rc1`, ` (build …)`).
        let end = s
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len());
        let mut parts = s[..end].split('.');
        let mut number = |required: bool| -> Result<u32, VersionError> {
            match parts.next() {
                Some(p) if !p.is_empty() => p.parse().map_err(|_| refuse()),
                None if !required => Ok(0),
                _ => Err(refuse()),
            }
        };
        let major = number(true)?;
        let minor = number(true)?;
        let patch = number(false)?;
        Ok(Version::new(major, minor, patch))
    }

    /// 2.38 to 2.41, the versions of the reference. Others are still used
    /// (the same endpoints may work) but the settings check flags them.
    pub fn supported(self) -> bool {
        (Version::OLDEST_SUPPORTED..=Version::NEWEST_SUPPORTED).contains(&self)
    }

    /// From 2.40, `:` `,` `/` in a filter value are escaped with `/` (C.5).
    pub fn escapes_filter_values(self) -> bool {
        self >= Version::new(2, 40, 0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

// ---------------------------------------------------------------------------
// Dates

/// `2026-11-23T10:15:00.000`, in UTC: the form of the reference's examples
/// (DHIS-2 reads it as server-local time when there is no offset; UTC keeps
/// our records and theirs comparable).
pub fn format_datetime(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

fn serialize_datetime<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_datetime(*at))
}

fn serialize_opt_datetime<S: Serializer>(
    at: &Option<OffsetDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize_datetime(at, s),
        None => s.serialize_none(),
    }
}

// ---------------------------------------------------------------------------
// Import payload (C.3)

/// One `POST /api/tracker` body: tracked entities (each with its nested
/// enrollments) and top-level enrollments of tracked entities that already
/// exist (they carry `trackedEntity`). Empty lists are left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportBundle {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tracked_entities: Vec<TrackedEntity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enrollments: Vec<Enrollment>,
}

impl ImportBundle {
    /// Every UID the bundle names as an object of its own (tracked entities
    /// and enrollments, nested or not), to attribute report errors.
    pub fn object_uids(&self) -> Vec<&Uid> {
        let mut out = Vec::new();
        for te in &self.tracked_entities {
            out.push(&te.tracked_entity);
            out.extend(te.enrollments.iter().map(|e| &e.enrollment));
        }
        out.extend(self.enrollments.iter().map(|e| &e.enrollment));
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackedEntity {
    pub tracked_entity: Uid,
    pub tracked_entity_type: Uid,
    pub org_unit: Uid,
    pub attributes: Vec<AttributeValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enrollments: Vec<Enrollment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    pub enrollment: Uid,
    /// Set for a top-level enrollment; left out when nested (the server
    /// takes the parent's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracked_entity: Option<Uid>,
    pub program: Uid,
    pub org_unit: Uid,
    pub status: EnrollmentStatus,
    #[serde(serialize_with = "serialize_datetime")]
    pub enrolled_at: OffsetDateTime,
    /// Required by programs that display the incident date (E1023).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_datetime"
    )]
    pub occurred_at: Option<OffsetDateTime>,
    pub attributes: Vec<AttributeValue>,
}

/// One attribute value, on a tracked entity or an enrollment (only
/// `attribute` and `value` are needed, C.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeValue {
    pub attribute: Uid,
    pub value: String,
}

/// An enrollment's status. We only send `Active`; the others are read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EnrollmentStatus {
    Active,
    Completed,
    Cancelled,
    /// A status this version does not know, as given.
    Other(String),
}

impl EnrollmentStatus {
    pub fn parse(s: &str) -> EnrollmentStatus {
        match s.trim().to_ascii_uppercase().as_str() {
            "ACTIVE" => EnrollmentStatus::Active,
            "COMPLETED" => EnrollmentStatus::Completed,
            "CANCELLED" => EnrollmentStatus::Cancelled,
            _ => EnrollmentStatus::Other(short(s)),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            EnrollmentStatus::Active => "ACTIVE",
            EnrollmentStatus::Completed => "COMPLETED",
            EnrollmentStatus::Cancelled => "CANCELLED",
            EnrollmentStatus::Other(s) => s,
        }
    }
}

impl Serialize for EnrollmentStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// Import report (C.3)

/// The verdict of an import: the most severe of its objects'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    Ok,
    Warning,
    Error,
}

/// Counts of objects created, updated, deleted, ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub ignored: u64,
    pub total: u64,
}

/// The kind of object a report entry is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TrackerType {
    TrackedEntity,
    Enrollment,
    Event,
    Relationship,
    /// Anything else, as given.
    Other(String),
}

impl TrackerType {
    pub fn parse(s: &str) -> TrackerType {
        match s.trim().to_ascii_uppercase().as_str() {
            // The older name, in case a server still says it.
            "TRACKED_ENTITY" | "TRACKED_ENTITY_INSTANCE" => TrackerType::TrackedEntity,
            "ENROLLMENT" => TrackerType::Enrollment,
            "EVENT" => TrackerType::Event,
            "RELATIONSHIP" => TrackerType::Relationship,
            _ => TrackerType::Other(short(s)),
        }
    }
}

/// One error or warning of a report: match on `code` (E1064…), the message
/// is display text only (reference D.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    pub code: String,
    pub message: String,
    pub tracker_type: TrackerType,
    /// The object it is about (a server-made UID if we sent none).
    pub uid: Option<String>,
}

/// The synchronous answer of `POST /api/tracker?async=false` (HTTP 200 or
/// 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub status: ImportStatus,
    pub stats: Stats,
    pub errors: Vec<ValidationIssue>,
    pub warnings: Vec<ValidationIssue>,
    /// Why an import was aborted, when the server says.
    pub message: Option<String>,
}

/// An answer that is not an import report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("the import answer is not a JSON object")]
    NotJson,
    #[error("the import answer has no status")]
    NoStatus,
    #[error("the import answer has an unknown status {0:?}")]
    UnknownStatus(String),
    /// The server queued a job instead of answering synchronously: nothing
    /// is known yet of the import's outcome.
    #[error("the server answered with an asynchronous job instead of a report")]
    AsyncJob,
}

impl ImportReport {
    pub fn parse(body: &[u8]) -> Result<ImportReport, ReportError> {
        let json: Value = serde_json::from_slice(body).map_err(|_| ReportError::NotJson)?;
        ImportReport::from_json(&json)
    }

    pub fn from_json(json: &Value) -> Result<ImportReport, ReportError> {
        if !json.is_object() {
            return Err(ReportError::NotJson);
        }
        // An async acknowledgement also says "status":"OK"; taking it for a
        // report would count an import that has not happened yet.
        let response = json.get("response");
        if json.get("message").and_then(Value::as_str) == Some("Tracker job added")
            || response
                .and_then(|r| r.get("responseType"))
                .and_then(Value::as_str)
                == Some("TrackerJob")
            || response
                .and_then(|r| r.get("location"))
                .and_then(Value::as_str)
                .is_some_and(|l| l.contains("/tracker/jobs/"))
        {
            return Err(ReportError::AsyncJob);
        }
        let status = match json.get("status").and_then(Value::as_str) {
            None => return Err(ReportError::NoStatus),
            Some(s) => match s.trim().to_ascii_uppercase().as_str() {
                "OK" => ImportStatus::Ok,
                "WARNING" => ImportStatus::Warning,
                "ERROR" => ImportStatus::Error,
                _ => return Err(ReportError::UnknownStatus(short(s))),
            },
        };
        let validation = json.get("validationReport");
        let mut errors = issues(validation.and_then(|v| v.get("errorReports")));
        let warnings = issues(validation.and_then(|v| v.get("warningReports")));
        // Object reports may carry errors of their own: kept once each.
        let type_reports = json
            .pointer("/bundleReport/typeReportMap")
            .and_then(Value::as_object);
        for type_report in type_reports.into_iter().flat_map(|m| m.values()) {
            let objects = type_report.get("objectReports").and_then(Value::as_array);
            for object in objects.into_iter().flatten() {
                for issue in issues(object.get("errorReports")) {
                    if !errors.contains(&issue) {
                        errors.push(issue);
                    }
                }
            }
        }
        Ok(ImportReport {
            status,
            stats: json.get("stats").map(stats).unwrap_or_default(),
            errors,
            warnings,
            message: str_of(json.get("message"))
                .filter(|m| !m.trim().is_empty())
                .map(|m| short(&m)),
        })
    }

    /// The errors about the object `uid`.
    pub fn errors_for<'a>(&'a self, uid: &'a str) -> impl Iterator<Item = &'a ValidationIssue> {
        self.errors
            .iter()
            .filter(move |e| e.uid.as_deref() == Some(uid))
    }

    /// Whether some error has this code (E1064…).
    pub fn has_error(&self, code: &str) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }
}

fn count(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn stats(v: &Value) -> Stats {
    Stats {
        created: count(v.get("created")),
        updated: count(v.get("updated")),
        deleted: count(v.get("deleted")),
        ignored: count(v.get("ignored")),
        total: count(v.get("total")),
    }
}

fn issues(list: Option<&Value>) -> Vec<ValidationIssue> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.is_object())
        .map(|i| ValidationIssue {
            // Warnings name their code `warningCode`.
            code: ["errorCode", "warningCode", "code"]
                .iter()
                .find_map(|k| str_of(i.get(*k)))
                .map(|c| short(c.trim()))
                .unwrap_or_default(),
            message: short(&str_of(i.get("message")).unwrap_or_default()),
            tracker_type: TrackerType::parse(
                i.get("trackerType").and_then(Value::as_str).unwrap_or(""),
            ),
            uid: str_of(i.get("uid")).filter(|u| !u.is_empty()),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Search (C.5)

/// Which org units a search covers (`ouMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OuMode {
    Selected,
    Children,
    Descendants,
    /// The user's search scope; no org unit is sent with it.
    Accessible,
    /// The user's capture scope; no org unit is sent with it.
    Capture,
    /// Every org unit (needs an authority); no org unit is sent with it.
    All,
}

impl OuMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OuMode::Selected => "SELECTED",
            OuMode::Children => "CHILDREN",
            OuMode::Descendants => "DESCENDANTS",
            OuMode::Accessible => "ACCESSIBLE",
            OuMode::Capture => "CAPTURE",
            OuMode::All => "ALL",
        }
    }

    /// Whether the mode is relative to given org units.
    pub fn takes_org_units(self) -> bool {
        matches!(
            self,
            OuMode::Selected | OuMode::Children | OuMode::Descendants
        )
    }
}

/// What a search looks among: one program's tracked entities, or every
/// tracked entity of a type (whatever its programs: a person registered
/// by another programme is found too). The two are exclusive (C.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchScope {
    Program(Uid),
    TrackedEntityType(Uid),
}

/// Tracked entities of the scope whose `attribute` equals one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub scope: SearchScope,
    pub org_units: Vec<Uid>,
    pub ou_mode: OuMode,
    pub attribute: Uid,
    pub values: Vec<String>,
}

/// A filter value as the server reads it: from 2.40, `/` before each `:`
/// `,` and `/`; 2.38 and 2.39 have no escaping (and so cannot match such a
/// value exactly). `;` separates `IN` values and has no escape: UICs never
/// hold one.
pub fn escape_filter_value(version: Version, value: &str) -> String {
    if !version.escapes_filter_values() {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ':' | ',' | '/') {
            out.push('/');
        }
        out.push(c);
    }
    out
}

/// The query string of a search, unencoded (the client encodes it, `+`
/// included).
///
/// The old parameter names `orgUnit`, `ouMode` and `skipPaging` are sent on
/// every version: 2.38-2.40 ignore the new ones and 2.41 still reads the
/// old (C.5). Org units are sent only with a mode relative to them (2.41
/// refuses ACCESSIBLE/CAPTURE/ALL together with org units). Several values
/// make one `IN` filter (one `filter` per attribute).
pub fn search_params(version: Version, query: &SearchQuery) -> Vec<(&'static str, String)> {
    let mut params = vec![match &query.scope {
        SearchScope::Program(p) => ("program", p.to_string()),
        SearchScope::TrackedEntityType(t) => ("trackedEntityType", t.to_string()),
    }];
    if query.ou_mode.takes_org_units() && !query.org_units.is_empty() {
        let units: Vec<&str> = query.org_units.iter().map(Uid::as_str).collect();
        params.push(("orgUnit", units.join(";")));
    }
    params.push(("ouMode", query.ou_mode.as_str().to_string()));
    params.push(("skipPaging", "true".to_string()));
    let values: Vec<String> = query
        .values
        .iter()
        .map(|v| escape_filter_value(version, v))
        .collect();
    let filter = match values.as_slice() {
        [one] => format!("{}:EQ:{one}", query.attribute),
        many => format!("{}:IN:{}", query.attribute, many.join(";")),
    };
    params.push(("filter", filter));
    params.push(("fields", SEARCH_FIELDS.to_string()));
    params
}

/// A tracked entity found by a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundEntity {
    pub tracked_entity: String,
    pub org_unit: Option<String>,
    pub attributes: Vec<AttributeValue>,
    pub enrollments: Vec<FoundEnrollment>,
}

impl FoundEntity {
    /// The value of `attribute`, if the entity has it.
    pub fn value_of(&self, attribute: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.attribute.as_str() == attribute)
            .map(|a| a.value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundEnrollment {
    pub enrollment: String,
    pub program: String,
    pub status: EnrollmentStatus,
}

/// A search answer that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("the search answer is not a JSON object")]
    NotJson,
    #[error("the search answer has no list of tracked entities")]
    NoList,
    #[error("a tracked entity of the search answer has no id")]
    NoId,
}

/// Reads a search answer by what it holds: `trackedEntities` (2.41),
/// `instances` (2.38-2.40) or the legacy `trackedEntityInstances`. An entity
/// without its id is an error: skipping it could hide a match.
pub fn parse_search(body: &[u8]) -> Result<Vec<FoundEntity>, SearchError> {
    let json: Value = serde_json::from_slice(body).map_err(|_| SearchError::NotJson)?;
    if !json.is_object() {
        return Err(SearchError::NotJson);
    }
    let list = ["trackedEntities", "instances", "trackedEntityInstances"]
        .iter()
        .find_map(|k| json.get(*k).and_then(Value::as_array))
        .ok_or(SearchError::NoList)?;
    list.iter().map(found_entity).collect()
}

fn found_entity(v: &Value) -> Result<FoundEntity, SearchError> {
    let tracked_entity = str_of(v.get("trackedEntity"))
        .or_else(|| str_of(v.get("trackedEntityInstance")))
        .filter(|id| !id.is_empty())
        .ok_or(SearchError::NoId)?;
    let enrollments = v
        .get("enrollments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| FoundEnrollment {
            enrollment: str_of(e.get("enrollment")).unwrap_or_default(),
            program: str_of(e.get("program")).unwrap_or_default(),
            status: EnrollmentStatus::parse(e.get("status").and_then(Value::as_str).unwrap_or("")),
        })
        .collect();
    Ok(FoundEntity {
        tracked_entity,
        org_unit: str_of(v.get("orgUnit")),
        attributes: attribute_values(v.get("attributes")),
        enrollments,
    })
}

/// `[{attribute, value}]`; values given as numbers or booleans become
/// strings; entries without a value or with an id that is not a UID (never
/// sent by DHIS-2) are left out.
fn attribute_values(list: Option<&Value>) -> Vec<AttributeValue> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let attribute = Uid::parse(a.get("attribute")?.as_str()?).ok()?;
            let value = match a.get("value")? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some(AttributeValue { attribute, value })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Metadata (C.2)

/// The `fields` asked of a program (C.2, with the TE type's id).
pub const PROGRAM_FIELDS: &str = "id,programType,trackedEntityType[id],displayIncidentDate,onlyEnrollOnce,organisationUnits[id],programTrackedEntityAttributes[mandatory,trackedEntityAttribute[id,unique,generated]]";
/// The `fields` asked of a tracked entity type.
pub const TRACKED_ENTITY_TYPE_FIELDS: &str =
    "id,trackedEntityTypeAttributes[mandatory,trackedEntityAttribute[id]]";
/// The `fields` asked of an attribute (C.2).
pub const ATTRIBUTE_FIELDS: &str = "id,valueType,unique,orgunitScope,generated,pattern";
/// The `fields` asked of an org unit.
pub const ORG_UNIT_FIELDS: &str = "id,name,displayName";

/// A metadata answer that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("the answer is not a JSON object")]
    NotJson,
    #[error("the answer has no {0}")]
    Missing(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramType {
    /// A tracker program: the only kind that enrolls tracked entities.
    WithRegistration,
    /// An event program (E1014).
    WithoutRegistration,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfo {
    pub id: String,
    pub program_type: ProgramType,
    pub tracked_entity_type: Option<String>,
    /// Makes `occurredAt` mandatory (E1023).
    pub display_incident_date: bool,
    pub only_enroll_once: bool,
    /// The org units the program is assigned to.
    pub org_units: Vec<String>,
    pub attributes: Vec<ProgramAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramAttribute {
    pub id: String,
    pub mandatory: bool,
    pub unique: bool,
    pub generated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedEntityTypeInfo {
    pub id: String,
    /// `(attribute id, mandatory)`.
    pub attributes: Vec<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeInfo {
    pub id: String,
    /// `TEXT`, `NUMBER`, `DATE`… as given.
    pub value_type: String,
    pub unique: bool,
    /// Unique per org unit rather than system-wide.
    pub orgunit_scope: bool,
    /// Minted by DHIS-2 from a TextPattern.
    pub generated: bool,
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnitInfo {
    pub id: String,
    pub name: String,
}

fn object(body: &[u8]) -> Result<Value, MetadataError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(MetadataError::NotJson),
    }
}

fn id(v: &Value) -> Result<String, MetadataError> {
    str_of(v.get("id"))
        .filter(|s| !s.is_empty())
        .ok_or(MetadataError::Missing("id"))
}

/// A boolean sent as `true`, `"true"`, or missing (false).
fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A reference `{"id": …}`, or a bare id string.
fn reference(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => str_of(o.get("id")),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

impl ProgramInfo {
    pub fn parse(body: &[u8]) -> Result<ProgramInfo, MetadataError> {
        let v = object(body)?;
        let program_type = match v.get("programType").and_then(Value::as_str) {
            Some("WITH_REGISTRATION") => ProgramType::WithRegistration,
            Some("WITHOUT_REGISTRATION") => ProgramType::WithoutRegistration,
            Some(other) => ProgramType::Other(short(other)),
            None => return Err(MetadataError::Missing("programType")),
        };
        let org_units = v
            .get("organisationUnits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| reference(Some(o)))
            .collect();
        let attributes = v
            .get("programTrackedEntityAttributes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let attribute = p.get("trackedEntityAttribute")?;
                Some(ProgramAttribute {
                    id: reference(Some(attribute))?,
                    mandatory: flag(p.get("mandatory")),
                    unique: flag(attribute.get("unique")),
                    generated: flag(attribute.get("generated")),
                })
            })
            .collect();
        Ok(ProgramInfo {
            id: id(&v)?,
            program_type,
            tracked_entity_type: reference(v.get("trackedEntityType")),
            display_incident_date: flag(v.get("displayIncidentDate")),
            only_enroll_once: flag(v.get("onlyEnrollOnce")),
            org_units,
            attributes,
        })
    }

    pub fn attribute(&self, id: &str) -> Option<&ProgramAttribute> {
        self.attributes.iter().find(|a| a.id == id)
    }
}

impl TrackedEntityTypeInfo {
    pub fn parse(body: &[u8]) -> Result<TrackedEntityTypeInfo, MetadataError> {
        let v = object(body)?;
        let attributes = v
            .get("trackedEntityTypeAttributes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let id = reference(t.get("trackedEntityAttribute"))?;
                Some((id, flag(t.get("mandatory"))))
            })
            .collect();
        Ok(TrackedEntityTypeInfo {
            id: id(&v)?,
            attributes,
        })
    }

    pub fn has_attribute(&self, id: &str) -> bool {
        self.attributes.iter().any(|(a, _)| a == id)
    }
}

impl AttributeInfo {
    pub fn parse(body: &[u8]) -> Result<AttributeInfo, MetadataError> {
        let v = object(body)?;
        Ok(AttributeInfo {
            id: id(&v)?,
            value_type: str_of(v.get("valueType"))
                .map(|t| short(&t))
                .ok_or(MetadataError::Missing("valueType"))?,
            unique: flag(v.get("unique")),
            orgunit_scope: flag(v.get("orgunitScope")),
            generated: flag(v.get("generated")),
            pattern: str_of(v.get("pattern")).filter(|p| !p.is_empty()),
        })
    }
}

impl OrgUnitInfo {
    pub fn parse(body: &[u8]) -> Result<OrgUnitInfo, MetadataError> {
        let v = object(body)?;
        let id = id(&v)?;
        let name = str_of(v.get("displayName"))
            .or_else(|| str_of(v.get("name")))
            .map(|n| short(&n))
            .unwrap_or_else(|| id.clone());
        Ok(OrgUnitInfo { id, name })
    }
}

// ---------------------------------------------------------------------------
// Small helpers

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// A server text as kept: control characters dropped, at most
/// [`MESSAGE_MAX`] characters.
pub fn short(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= MESSAGE_MAX {
        clean
    } else {
        let mut cut: String = clean.chars().take(MESSAGE_MAX).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn uid(s: &str) -> Uid {
        Uid::parse(s).unwrap()
    }

    // ----- Version -----

    #[test]
    fn versions_are_read_with_their_suffixes() {
        assert_eq!(Version::parse("2.41.1"), Ok(Version::new(2, 41, 1)));
        assert_eq!(Version::parse("2.40.4.1"), Ok(Version::new(2, 40, 4)));
        assert_eq!(Version::parse("2.39-SNAPSHOT"), Ok(Version::new(2, 39, 0)));
        assert_eq!(Version::parse(" 2.38.7-rc1 "), Ok(Version::new(2, 38, 7)));
        assert_eq!(Version::parse("v2.41"), Ok(Version::new(2, 41, 0)));
        assert_eq!(Version::parse("2.42.0"), Ok(Version::new(2, 42, 0)));
        for bad in [
            "",
            "2",
            "2.",
            ".41",
            "two.41",
            "2..1",
            "SNAPSHOT",
            "2.99999999999",
        ] {
            assert_eq!(
                Version::parse(bad),
                Err(VersionError(bad.to_string())),
                "{bad:?}"
            );
        }
        assert_eq!(Version::new(2, 40, 4).to_string(), "2.40.4");
    }

    #[test]
    fn only_2_38_to_2_41_are_supported() {
        for (v, ok) in [
            ("2.37.9", false),
            ("2.38.0", true),
            ("2.39-SNAPSHOT", true),
            ("2.40.4.1", true),
            ("2.41.99", true),
            ("2.42.0", false),
            ("3.38.0", false),
        ] {
            assert_eq!(Version::parse(v).unwrap().supported(), ok, "{v}");
        }
    }

    // ----- Payload -----

    fn nested_bundle() -> ImportBundle {
        let at = datetime!(2026-11-23 10:15:00 UTC);
        ImportBundle {
            tracked_entities: vec![TrackedEntity {
                tracked_entity: uid("Kj6vYde4LHh"),
                tracked_entity_type: uid("nEenWmSyUEp"),
                org_unit: uid("DiszpKrYNg8"),
                attributes: vec![AttributeValue {
                    attribute: uid("ciuAttr0001"),
                    value: "MBEIBR7DA1".into(),
                }],
                enrollments: vec![Enrollment {
                    enrollment: uid("MNWZ6hnuhSw"),
                    tracked_entity: None,
                    program: uid("IpHINAT79UW"),
                    org_unit: uid("DiszpKrYNg8"),
                    status: EnrollmentStatus::Active,
                    enrolled_at: at,
                    occurred_at: Some(at),
                    attributes: vec![AttributeValue {
                        attribute: uid("gndrAttr001"),
                        value: "2".into(),
                    }],
                }],
            }],
            enrollments: vec![],
        }
    }

    #[test]
    fn the_nested_payload_is_the_reference_example() {
        let reference = r#"{"trackedEntities":[{"trackedEntity":"Kj6vYde4LHh","trackedEntityType":"nEenWmSyUEp","orgUnit":"DiszpKrYNg8",
          "attributes":[{"attribute":"ciuAttr0001","value":"MBEIBR7DA1"}],
          "enrollments":[{"enrollment":"MNWZ6hnuhSw","program":"IpHINAT79UW","orgUnit":"DiszpKrYNg8","status":"ACTIVE",
            "enrolledAt":"2026-11-23T10:15:00.000","occurredAt":"2026-11-23T10:15:00.000",
            "attributes":[{"attribute":"gndrAttr001","value":"2"}]}]}]}"#;
        assert_eq!(
            serde_json::to_value(nested_bundle()).unwrap(),
            serde_json::from_str::<Value>(reference).unwrap()
        );
        assert_eq!(
            nested_bundle()
                .object_uids()
                .iter()
                .map(|u| u.as_str())
                .collect::<Vec<_>>(),
            ["Kj6vYde4LHh", "MNWZ6hnuhSw"]
        );
    }

    #[test]
    fn a_top_level_enrollment_names_its_tracked_entity_and_omits_what_is_absent() {
        let bundle = ImportBundle {
            tracked_entities: vec![],
            enrollments: vec![Enrollment {
                enrollment: uid("MNWZ6hnuhSw"),
                tracked_entity: Some(uid("Kj6vYde4LHh")),
                program: uid("IpHINAT79UW"),
                org_unit: uid("DiszpKrYNg8"),
                status: EnrollmentStatus::Active,
                // Another offset, and milliseconds: written in UTC.
                enrolled_at: datetime!(2026-11-23 11:15:00.042 +01:00),
                occurred_at: None,
                attributes: vec![],
            }],
        };
        assert_eq!(
            serde_json::to_value(&bundle).unwrap(),
            json!({"enrollments":[{"enrollment":"MNWZ6hnuhSw","trackedEntity":"Kj6vYde4LHh",
                "program":"IpHINAT79UW","orgUnit":"DiszpKrYNg8","status":"ACTIVE",
                "enrolledAt":"2026-11-23T10:15:00.042","attributes":[]}]})
        );
    }

    #[test]
    fn dates_have_milliseconds_and_four_digit_years() {
        assert_eq!(
            format_datetime(datetime!(2026-01-02 03:04:05.999_999 UTC)),
            "2026-01-02T03:04:05.999"
        );
        assert_eq!(
            format_datetime(datetime!(0987-12-31 23:59:59 -02:00)),
            "0988-01-01T01:59:59.000"
        );
    }

    // ----- Report -----

    const OK_REPORT: &str = r#"{"status":"OK","validationReport":{"errorReports":[],"warningReports":[]},
 "stats":{"created":2,"updated":0,"deleted":0,"ignored":0,"total":2},
 "bundleReport":{"typeReportMap":{"TRACKED_ENTITY":{"trackerType":"TRACKED_ENTITY",
   "stats":{"created":1,"updated":0,"deleted":0,"ignored":0,"total":1},
   "objectReports":[{"trackerType":"TRACKED_ENTITY","uid":"Kj6vYde4LHh","errorReports":[]}]},
  "ENROLLMENT":{"trackerType":"ENROLLMENT","stats":{"created":1,"updated":0,"deleted":0,"ignored":0,"total":1},"objectReports":[{"trackerType":"ENROLLMENT","uid":"MNWZ6hnuhSw","errorReports":[]}]}}}}"#;

    const ERROR_REPORT: &str = r#"{"status":"ERROR",
 "validationReport":{"errorReports":[
   {"message":"Non-unique attribute value `MBEIBR7DA1` for attribute `ciuAttr0001`","errorCode":"E1064",
    "trackerType":"TRACKED_ENTITY","uid":"Kj6vYde4LHh"}],"warningReports":[]},
 "stats":{"created":0,"updated":0,"deleted":0,"ignored":2,"total":2}}"#;

    #[test]
    fn the_reference_ok_report_is_read() {
        let report = ImportReport::parse(OK_REPORT.as_bytes()).unwrap();
        assert_eq!(
            report,
            ImportReport {
                status: ImportStatus::Ok,
                stats: Stats {
                    created: 2,
                    updated: 0,
                    deleted: 0,
                    ignored: 0,
                    total: 2
                },
                errors: vec![],
                warnings: vec![],
                message: None,
            }
        );
    }

    #[test]
    fn the_reference_409_report_is_read_and_its_error_attributed() {
        let report = ImportReport::parse(ERROR_REPORT.as_bytes()).unwrap();
        assert_eq!(report.status, ImportStatus::Error);
        assert_eq!(report.stats.ignored, 2);
        let e1064 = ValidationIssue {
            code: "E1064".into(),
            message: "Non-unique attribute value `MBEIBR7DA1` for attribute `ciuAttr0001`".into(),
            tracker_type: TrackerType::TrackedEntity,
            uid: Some("Kj6vYde4LHh".into()),
        };
        assert_eq!(report.errors, vec![e1064.clone()]);
        assert_eq!(
            report.errors_for("Kj6vYde4LHh").collect::<Vec<_>>(),
            [&e1064]
        );
        assert_eq!(report.errors_for("MNWZ6hnuhSw").count(), 0);
        assert!(report.has_error("E1064"));
        assert!(!report.has_error("E1018"));
    }

    #[test]
    fn a_report_is_lenient_on_optional_parts_and_strict_on_status() {
        let report =
            ImportReport::parse(br#"{"status":"ERROR","message":"Import aborted"}"#).unwrap();
        assert_eq!(report.status, ImportStatus::Error);
        assert_eq!(report.stats, Stats::default());
        assert_eq!(report.message.as_deref(), Some("Import aborted"));
        assert_eq!(
            ImportReport::parse(br#"{"stats":{"created":1}}"#),
            Err(ReportError::NoStatus)
        );
        assert_eq!(
            ImportReport::parse(br#"{"status":"DONE"}"#),
            Err(ReportError::UnknownStatus("DONE".into()))
        );
        assert_eq!(ImportReport::parse(b"<html>"), Err(ReportError::NotJson));
        assert_eq!(ImportReport::parse(b"[]"), Err(ReportError::NotJson));
    }

    #[test]
    fn warnings_object_errors_and_counts_as_strings_are_read() {
        let body = json!({"status":"WARNING",
            "validationReport":{"errorReports":[{"errorCode":"E1018","message":"m1","trackerType":"ENROLLMENT","uid":"MNWZ6hnuhSw"}],
              "warningReports":[{"warningCode":"E1120","message":"w","trackerType":"EVENT","uid":""}, 7]},
            "stats":{"created":"1","updated":1},
            "bundleReport":{"typeReportMap":{"ENROLLMENT":{"objectReports":[{"errorReports":[
                {"errorCode":"E1018","message":"m1","trackerType":"ENROLLMENT","uid":"MNWZ6hnuhSw"},
                {"errorCode":"E5000","message":"m2","trackerType":"RELATIONSHIP_ITEM","uid":"x"}]}]}}}});
        let report = ImportReport::from_json(&body).unwrap();
        assert_eq!(report.status, ImportStatus::Warning);
        assert_eq!((report.stats.created, report.stats.updated), (1, 1));
        assert_eq!(
            report.warnings,
            vec![ValidationIssue {
                code: "E1120".into(),
                message: "w".into(),
                tracker_type: TrackerType::Event,
                uid: None
            }]
        );
        let codes: Vec<_> = report.errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["E1018", "E5000"]);
        assert_eq!(
            report.errors[1].tracker_type,
            TrackerType::Other("RELATIONSHIP_ITEM".into())
        );
    }

    #[test]
    fn the_async_acknowledgement_is_not_taken_for_a_report() {
        let ack = r#"{"httpStatus":"OK","httpStatusCode":200,"status":"OK","message":"Tracker job added",
 "response":{"responseType":"TrackerJob","id":"LkXBUdIgbe3","location":"https://dhis.example.org/api/tracker/jobs/LkXBUdIgbe3"}}"#;
        assert_eq!(
            ImportReport::parse(ack.as_bytes()),
            Err(ReportError::AsyncJob)
        );
        // 2.41 drops responseType.
        let ack41 = r#"{"status":"OK","message":"Tracker job added","response":{"id":"LkXBUdIgbe3","location":"https://dhis.example.org/api/tracker/jobs/LkXBUdIgbe3"}}"#;
        assert_eq!(
            ImportReport::parse(ack41.as_bytes()),
            Err(ReportError::AsyncJob)
        );
        assert_eq!(
            ImportReport::parse(br#"{"status":"OK","message":"Tracker job added"}"#),
            Err(ReportError::AsyncJob)
        );
    }

    #[test]
    fn long_messages_are_cut_and_cleaned() {
        let long = "é".repeat(400);
        let body = json!({"status":"ERROR","message": format!("a\u{0}b{long}")});
        let message = ImportReport::from_json(&body).unwrap().message.unwrap();
        assert_eq!(message.chars().count(), MESSAGE_MAX + 1);
        assert!(message.starts_with("abéé"));
        assert!(message.ends_with('…'));
    }

    // ----- Search -----

    fn query(values: &[&str], mode: OuMode) -> SearchQuery {
        SearchQuery {
            scope: SearchScope::Program(uid("IpHINAT79UW")),
            org_units: vec![uid("DiszpKrYNg8"), uid("ImspTQPwCqd")],
            ou_mode: mode,
            attribute: uid("ciuAttr0001"),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn escaping_depends_on_the_version() {
        let odd = "A:B,C/D+E;F";
        for (v, expected) in [
            ("2.38.1", "A:B,C/D+E;F"),
            ("2.39.0", "A:B,C/D+E;F"),
            ("2.40.0", "A/:B/,C//D+E;F"),
            ("2.41.2", "A/:B/,C//D+E;F"),
        ] {
            assert_eq!(
                escape_filter_value(Version::parse(v).unwrap(), odd),
                expected,
                "{v}"
            );
        }
        assert_eq!(
            escape_filter_value(Version::new(2, 41, 0), "MBEIBR7DA1"),
            "MBEIBR7DA1"
        );
    }

    #[test]
    fn search_parameters_use_the_old_names_on_every_version() {
        for v in ["2.38.0", "2.39.1", "2.40.4.1", "2.41.1"] {
            let version = Version::parse(v).unwrap();
            assert_eq!(
                search_params(version, &query(&["MBEIBR7DA1"], OuMode::Descendants)),
                vec![
                    ("program", "IpHINAT79UW".to_string()),
                    ("orgUnit", "DiszpKrYNg8;ImspTQPwCqd".to_string()),
                    ("ouMode", "DESCENDANTS".to_string()),
                    ("skipPaging", "true".to_string()),
                    ("filter", "ciuAttr0001:EQ:MBEIBR7DA1".to_string()),
                    ("fields", SEARCH_FIELDS.to_string()),
                ],
                "{v}"
            );
            let several = search_params(
                version,
                &query(&["MBEIBR7DA1", "KAJOAL8KN2"], OuMode::Selected),
            );
            assert_eq!(
                several[4],
                ("filter", "ciuAttr0001:IN:MBEIBR7DA1;KAJOAL8KN2".to_string())
            );
            assert_eq!(several[2], ("ouMode", "SELECTED".to_string()));
        }
    }

    #[test]
    fn search_values_are_escaped_per_version_and_scope_modes_send_no_org_unit() {
        let params = search_params(
            Version::new(2, 40, 0),
            &query(&["A:1", "B/2"], OuMode::Children),
        );
        assert_eq!(params[4].1, "ciuAttr0001:IN:A/:1;B//2");
        let params = search_params(Version::new(2, 39, 0), &query(&["A:1"], OuMode::Children));
        assert_eq!(params[4].1, "ciuAttr0001:EQ:A:1");
        for mode in [OuMode::Accessible, OuMode::Capture, OuMode::All] {
            let params = search_params(Version::new(2, 41, 0), &query(&["X1"], mode));
            let names: Vec<_> = params.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                names,
                ["program", "ouMode", "skipPaging", "filter", "fields"],
                "{mode:?}"
            );
            assert_eq!(params[1].1, mode.as_str());
        }
    }

    const FOUND_2_41: &str = r#"{"pager":{"page":1,"pageSize":50},"trackedEntities":[{"trackedEntity":"Kj6vYde4LHh","orgUnit":"DiszpKrYNg8",
        "attributes":[{"attribute":"ciuAttr0001","value":"MBEIBR7DA1"}],
        "enrollments":[{"enrollment":"MNWZ6hnuhSw","program":"IpHINAT79UW","status":"ACTIVE"}]}]}"#;

    fn expected_found() -> Vec<FoundEntity> {
        vec![FoundEntity {
            tracked_entity: "Kj6vYde4LHh".into(),
            org_unit: Some("DiszpKrYNg8".into()),
            attributes: vec![AttributeValue {
                attribute: uid("ciuAttr0001"),
                value: "MBEIBR7DA1".into(),
            }],
            enrollments: vec![FoundEnrollment {
                enrollment: "MNWZ6hnuhSw".into(),
                program: "IpHINAT79UW".into(),
                status: EnrollmentStatus::Active,
            }],
        }]
    }

    #[test]
    fn both_search_shapes_are_read() {
        let found = parse_search(FOUND_2_41.as_bytes()).unwrap();
        assert_eq!(found, expected_found());
        assert_eq!(found[0].value_of("ciuAttr0001"), Some("MBEIBR7DA1"));
        assert_eq!(found[0].value_of("gndrAttr001"), None);
        let old = r#"{"instances":[{"trackedEntity":"Kj6vYde4LHh","orgUnit":"DiszpKrYNg8",
        "attributes":[{"attribute":"ciuAttr0001","value":"MBEIBR7DA1"}],
        "enrollments":[{"enrollment":"MNWZ6hnuhSw","program":"IpHINAT79UW","status":"ACTIVE"}]}],"page":1,"pageSize":50}"#;
        assert_eq!(parse_search(old.as_bytes()).unwrap(), expected_found());
        let legacy = r#"{"trackedEntityInstances":[{"trackedEntityInstance":"Kj6vYde4LHh","trackedEntityType":"nEenWmSyUEp",
          "attributes":[{"attribute":"ciuAttr0001","value":"MBEIBR7DA1"}]}]}"#;
        let found = parse_search(legacy.as_bytes()).unwrap();
        assert_eq!(found[0].tracked_entity, "Kj6vYde4LHh");
        assert_eq!(found[0].org_unit, None);
        assert!(found[0].enrollments.is_empty());
    }

    #[test]
    fn empty_and_broken_search_answers() {
        assert_eq!(
            parse_search(br#"{"pager":{"page":1},"trackedEntities":[]}"#).unwrap(),
            vec![]
        );
        assert_eq!(parse_search(br#"{"instances":[]}"#).unwrap(), vec![]);
        assert_eq!(
            parse_search(br#"{"pager":{"page":1}}"#),
            Err(SearchError::NoList)
        );
        assert_eq!(parse_search(b"nope"), Err(SearchError::NotJson));
        assert_eq!(
            parse_search(br#"{"instances":[{"orgUnit":"DiszpKrYNg8"}]}"#),
            Err(SearchError::NoId)
        );
        let odd = br#"{"instances":[{"trackedEntity":"Kj6vYde4LHh","attributes":[
            {"attribute":"ciuAttr0001","value":1987},{"attribute":"bad id","value":"x"},{"attribute":"gndrAttr001"}],
            "enrollments":[{"enrollment":"MNWZ6hnuhSw","program":"IpHINAT79UW","status":"TRANSFERRED"}]}]}"#;
        let found = parse_search(odd).unwrap();
        assert_eq!(
            found[0].attributes,
            vec![AttributeValue {
                attribute: uid("ciuAttr0001"),
                value: "1987".into()
            }]
        );
        assert_eq!(
            found[0].enrollments[0].status,
            EnrollmentStatus::Other("TRANSFERRED".into())
        );
    }

    // ----- Metadata -----

    const PROGRAM: &str = r#"{"id":"IpHINAT79UW","programType":"WITH_REGISTRATION",
        "trackedEntityType":{"id":"nEenWmSyUEp"},"displayIncidentDate":true,"onlyEnrollOnce":false,
        "organisationUnits":[{"id":"DiszpKrYNg8"},{"id":"ImspTQPwCqd"}],
        "programTrackedEntityAttributes":[
          {"mandatory":true,"trackedEntityAttribute":{"id":"ciuAttr0001","unique":true,"generated":false}},
          {"mandatory":false,"trackedEntityAttribute":{"id":"gndrAttr001","unique":false,"generated":false}}]}"#;

    #[test]
    fn a_program_is_read() {
        let program = ProgramInfo::parse(PROGRAM.as_bytes()).unwrap();
        assert_eq!(
            program,
            ProgramInfo {
                id: "IpHINAT79UW".into(),
                program_type: ProgramType::WithRegistration,
                tracked_entity_type: Some("nEenWmSyUEp".into()),
                display_incident_date: true,
                only_enroll_once: false,
                org_units: vec!["DiszpKrYNg8".into(), "ImspTQPwCqd".into()],
                attributes: vec![
                    ProgramAttribute {
                        id: "ciuAttr0001".into(),
                        mandatory: true,
                        unique: true,
                        generated: false
                    },
                    ProgramAttribute {
                        id: "gndrAttr001".into(),
                        mandatory: false,
                        unique: false,
                        generated: false
                    },
                ],
            }
        );
        assert!(program.attribute("gndrAttr001").is_some());
        // An event program: no type, no attributes.
        let event = ProgramInfo::parse(
            br#"{"id":"eBAyeGv0exc","programType":"WITHOUT_REGISTRATION","organisationUnits":[]}"#,
        )
        .unwrap();
        assert_eq!(event.program_type, ProgramType::WithoutRegistration);
        assert_eq!(event.tracked_entity_type, None);
        assert!(!event.display_incident_date);
        assert_eq!(
            ProgramInfo::parse(br#"{"id":"IpHINAT79UW"}"#),
            Err(MetadataError::Missing("programType"))
        );
        assert_eq!(
            ProgramInfo::parse(br#"{"programType":"WITH_REGISTRATION"}"#),
            Err(MetadataError::Missing("id"))
        );
        assert_eq!(ProgramInfo::parse(b"<html>"), Err(MetadataError::NotJson));
    }

    #[test]
    fn a_tracked_entity_type_an_attribute_and_an_org_unit_are_read() {
        let tet = TrackedEntityTypeInfo::parse(
            br#"{"id":"nEenWmSyUEp","trackedEntityTypeAttributes":[
              {"mandatory":false,"trackedEntityAttribute":{"id":"ciuAttr0001"}},
              {"mandatory":"true","trackedEntityAttribute":{"id":"w75KJ2mc4zz"}},
              {"mandatory":true}]}"#,
        )
        .unwrap();
        assert_eq!(
            tet,
            TrackedEntityTypeInfo {
                id: "nEenWmSyUEp".into(),
                attributes: vec![("ciuAttr0001".into(), false), ("w75KJ2mc4zz".into(), true)],
            }
        );
        assert!(tet.has_attribute("w75KJ2mc4zz"));
        let attribute = AttributeInfo::parse(
            br#"{"id":"ciuAttr0001","valueType":"TEXT","unique":true,"orgunitScope":false,"generated":true,"pattern":"RANDOM(XXX)"}"#,
        )
        .unwrap();
        assert_eq!(
            attribute,
            AttributeInfo {
                id: "ciuAttr0001".into(),
                value_type: "TEXT".into(),
                unique: true,
                orgunit_scope: false,
                generated: true,
                pattern: Some("RANDOM(XXX)".into()),
            }
        );
        let plain = AttributeInfo::parse(br#"{"id":"gndrAttr001","valueType":"TEXT"}"#).unwrap();
        assert!(!plain.unique && !plain.generated && plain.pattern.is_none());
        assert_eq!(
            AttributeInfo::parse(br#"{"id":"gndrAttr001"}"#),
            Err(MetadataError::Missing("valueType"))
        );
        assert_eq!(
            OrgUnitInfo::parse(
                br#"{"id":"DiszpKrYNg8","name":"Ngelehun CHC","displayName":"Ngelehun CHC (PHU)"}"#
            )
            .unwrap(),
            OrgUnitInfo {
                id: "DiszpKrYNg8".into(),
                name: "Ngelehun CHC (PHU)".into()
            }
        );
        assert_eq!(
            OrgUnitInfo::parse(br#"{"id":"DiszpKrYNg8"}"#).unwrap().name,
            "DiszpKrYNg8"
        );
    }
}
