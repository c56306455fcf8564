//! `POST /api/tracker` (C.3) with its validation subset (C.4), and the async
//! job endpoints `GET /api/tracker/jobs/{id}[/report]`.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::server::{Reply, bad_request, not_found, param};
use super::state::*;

// ---------------------------------------------------------------------------
// Parameters and payload

fn enum_param<'a>(
    params: &'a [(String, String)],
    name: &str,
    default: &'a str,
    allowed: &[&str],
) -> Result<&'a str, Reply> {
    let v = param(params, name).unwrap_or(default);
    if allowed.contains(&v) {
        Ok(v)
    } else {
        Err(bad_request(&format!(
            "Value '{v}' is not valid for parameter {name}. Valid values are: [{}]",
            allowed.join(", ")
        )))
    }
}

fn import_params(params: &[(String, String)]) -> Result<(ImportParams, bool), Reply> {
    let strategy = match enum_param(
        params,
        "importStrategy",
        "CREATE_AND_UPDATE",
        &["CREATE", "UPDATE", "CREATE_AND_UPDATE", "DELETE"],
    )? {
        "CREATE" => Strategy::Create,
        "UPDATE" => Strategy::Update,
        "DELETE" => Strategy::Delete,
        _ => Strategy::CreateAndUpdate,
    };
    let atomic = enum_param(params, "atomicMode", "ALL", &["ALL", "OBJECT"])?;
    // `VALIDATION` (2.38/2.39 docs) is not in the server's enum (C.3).
    let mode = enum_param(params, "importMode", "COMMIT", &["COMMIT", "VALIDATE"])?;
    enum_param(
        params,
        "validationMode",
        "FULL",
        &["FULL", "FAIL_FAST", "SKIP"],
    )?;
    enum_param(
        params,
        "reportMode",
        "ERRORS",
        &["ERRORS", "WARNINGS", "FULL"],
    )?;
    let is_async = enum_param(params, "async", "true", &["true", "false"])? == "true";
    Ok((
        ImportParams {
            strategy,
            atomic_all: atomic == "ALL",
            validate_only: mode == "VALIDATE",
        },
        is_async,
    ))
}

/// An attribute as sent: `None` value means "delete it".
type SentAttribute = (String, Option<String>);

struct InTe {
    uid: String,
    te_type: Option<String>,
    org_unit: Option<String>,
    attributes: Vec<SentAttribute>,
}

struct InEnrollment {
    uid: String,
    te: Option<String>,
    program: Option<String>,
    org_unit: Option<String>,
    status: String,
    enrolled_at: Option<String>,
    occurred_at: Option<String>,
    attributes: Vec<SentAttribute>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn attributes(v: &Value) -> Vec<SentAttribute> {
    v.get("attributes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    let value = match x.get("value") {
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(Value::Null) | None => None,
                        // Numbers and booleans are taken as their text.
                        Some(other) => Some(other.to_string()),
                    };
                    (text(x, "attribute").unwrap_or_default(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn enrollment(v: &Value, te: Option<String>) -> Result<InEnrollment, Reply> {
    let status = text(v, "status").unwrap_or_else(|| "ACTIVE".into());
    if !["ACTIVE", "COMPLETED", "CANCELLED"].contains(&status.as_str()) {
        return Err(bad_request(&format!(
            "Cannot deserialize value of type `EnrollmentStatus` from String \"{status}\""
        )));
    }
    Ok(InEnrollment {
        uid: text(v, "enrollment").unwrap_or_else(new_uid),
        te: te.or_else(|| text(v, "trackedEntity")),
        program: text(v, "program"),
        org_unit: text(v, "orgUnit"),
        status,
        enrolled_at: text(v, "enrolledAt"),
        occurred_at: text(v, "occurredAt"),
        attributes: attributes(v),
    })
}

/// Nested enrollments are flattened after the top-level ones' TEs, as the
/// server does; missing UIDs are made here (C.3).
fn flatten(payload: &Value) -> Result<(Vec<InTe>, Vec<InEnrollment>), Reply> {
    let mut tes = Vec::new();
    let mut enrollments = Vec::new();
    let list = |k: &str| payload.get(k).and_then(Value::as_array).cloned();
    for t in list("trackedEntities").unwrap_or_default() {
        let uid = text(&t, "trackedEntity").unwrap_or_else(new_uid);
        for e in t
            .get("enrollments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            enrollments.push(enrollment(e, Some(uid.clone()))?);
        }
        tes.push(InTe {
            uid,
            te_type: text(&t, "trackedEntityType"),
            org_unit: text(&t, "orgUnit"),
            attributes: attributes(&t),
        });
    }
    for e in list("enrollments").unwrap_or_default() {
        enrollments.push(enrollment(&e, None)?);
    }
    Ok((tes, enrollments))
}

// ---------------------------------------------------------------------------
// POST /api/tracker

pub(super) fn post(g: &mut Inner, params: &[(String, String)], body: &[u8]) -> Reply {
    let (import, is_async) = match import_params(params) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let payload: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad_request("Request body is not a valid tracker payload (JSON object)."),
    };
    if let Err(r) = flatten(&payload) {
        return r;
    }
    if !is_async {
        g.imports += 1;
        let report = run_import(g, &payload, import);
        let status = if report["status"] == "ERROR" {
            409
        } else {
            200
        };
        return Reply::Json(status, report);
    }
    let id = new_uid();
    let now = now_iso();
    g.jobs.insert(
        id.clone(),
        Job {
            payload,
            params: import,
            polls_left: g.job_polls,
            notifications: vec![notification(
                &now,
                "(TRACKER_IMPORT_JOB) Import:Start",
                false,
            )],
            report: None,
        },
    );
    let mut response = json!({
        "id": id,
        "location": format!("{}/api/tracker/jobs/{id}", g.base_url),
    });
    // 2.41 drops `responseType` (C.3).
    if g.version < Version::V2_41 {
        response["responseType"] = json!("TrackerJob");
    }
    Reply::Json(
        200,
        json!({
            "httpStatus": "OK",
            "httpStatusCode": 200,
            "status": "OK",
            "message": "Tracker job added",
            "response": response,
        }),
    )
}

fn notification(time: &str, message: &str, completed: bool) -> Value {
    json!({
        "uid": new_uid(),
        "level": "INFO",
        "category": "TRACKER_IMPORT_JOB",
        "time": time,
        "message": message,
        "completed": completed,
    })
}

/// `GET /api/tracker/jobs/{id}`: each poll either counts down or runs the
/// import (writing its data) and adds the completed notification on top.
/// An unknown or forgotten job answers `[]`, as DHIS-2's notifier does.
pub(super) fn job(g: &mut Inner, id: &str) -> Reply {
    let Some(job) = g.jobs.get(id).cloned() else {
        return Reply::Json(200, json!([]));
    };
    if job.report.is_none() {
        if job.polls_left > 0 {
            if let Some(j) = g.jobs.get_mut(id) {
                j.polls_left -= 1;
            }
        } else {
            g.imports += 1;
            let report = run_import(g, &job.payload, job.params);
            let s = &report["stats"];
            let message = format!(
                "Import complete with status {}, {} created, {} updated, {} deleted, {} ignored",
                report["status"].as_str().unwrap_or("ERROR"),
                s["created"],
                s["updated"],
                s["deleted"],
                s["ignored"]
            );
            if let Some(j) = g.jobs.get_mut(id) {
                j.notifications
                    .insert(0, notification(&now_iso(), &message, true));
                j.report = Some(report);
            }
        }
    }
    let notes = g
        .jobs
        .get(id)
        .map_or_else(Vec::new, |j| j.notifications.clone());
    Reply::Json(200, Value::Array(notes))
}

/// `GET /api/tracker/jobs/{id}/report`: 404 until the job completed, and
/// after a restart.
pub(super) fn report(g: &Inner, id: &str) -> Reply {
    match g.jobs.get(id).and_then(|j| j.report.clone()) {
        Some(r) => Reply::Json(200, r),
        None => not_found(&format!(
            "Import report for job with id {id} could not be found."
        )),
    }
}

// ---------------------------------------------------------------------------
// Validation and commit

struct ErrorReport {
    code: &'static str,
    message: String,
    tracker_type: &'static str,
    uid: String,
}

/// Collects the errors of one object.
struct Errors<'a> {
    list: &'a mut Vec<ErrorReport>,
    tracker_type: &'static str,
    uid: String,
    count: usize,
}

impl Errors<'_> {
    fn add(&mut self, code: &'static str, message: String) {
        self.count += 1;
        self.list.push(ErrorReport {
            code,
            message,
            tracker_type: self.tracker_type,
            uid: self.uid.clone(),
        });
    }
}

/// A value accepted earlier in the same payload, for E1064 within it.
struct Pending {
    te: String,
    org_unit: String,
    attribute: String,
    value: String,
}

/// Whether `value` of unique `attribute` is already held by another person
/// (stored, or accepted earlier in this payload). Values compare exactly as
/// stored; with `orgunitScope` only people of the same org unit count.
fn clashes(
    g: &Inner,
    pending: &[Pending],
    attribute: &str,
    value: &str,
    owner: &str,
    org_unit: &str,
) -> bool {
    let Some(a) = g.attributes.get(attribute).filter(|a| a.unique) else {
        return false;
    };
    let same_scope = |ou: &str| !a.orgunit_scope || ou == org_unit;
    g.tracked_entities.iter().any(|t| {
        t.uid != owner && same_scope(&t.org_unit) && t.value_of(attribute).as_deref() == Some(value)
    }) || pending.iter().any(|p| {
        p.te != owner && p.attribute == attribute && p.value == value && same_scope(&p.org_unit)
    })
}

/// Org unit checks shared by TEs and enrollments: unknown (`unknown_code`),
/// outside the capture scope (E1000).
fn check_org_unit(g: &Inner, errs: &mut Errors, ou: &str, unknown_code: &'static str, kind: &str) {
    if !g.org_units.contains_key(ou) {
        errs.add(
            unknown_code,
            format!("Could not find OrganisationUnit: `{ou}`, linked to {kind}."),
        );
    } else if !g.in_scope(ou) {
        errs.add(
            "E1000",
            format!("User has no write access to OrganisationUnit: `{ou}`."),
        );
    }
}

/// Validates then (unless refused) writes one payload; answers the report.
pub(super) fn run_import(g: &mut Inner, payload: &Value, p: ImportParams) -> Value {
    let Ok((tes, enrollments)) = flatten(payload) else {
        // Checked when the request arrived.
        return json!({"status": "ERROR", "message": "Invalid payload"});
    };
    let word = g.version.te_word();
    let mut errors: Vec<ErrorReport> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut failed_tes: HashSet<String> = HashSet::new();
    let mut ok_tes: Vec<usize> = Vec::new();

    for (i, t) in tes.iter().enumerate() {
        let mut e = Errors {
            list: &mut errors,
            tracker_type: "TRACKED_ENTITY",
            uid: t.uid.clone(),
            count: 0,
        };
        validate_te(g, t, p.strategy, word, &pending, &mut e);
        if e.count > 0 {
            failed_tes.insert(t.uid.clone());
            continue;
        }
        ok_tes.push(i);
        if p.strategy != Strategy::Delete {
            let ou = t.org_unit.clone().unwrap_or_default();
            for (a, v) in &t.attributes {
                if let Some(v) = v {
                    pending.push(Pending {
                        te: t.uid.clone(),
                        org_unit: ou.clone(),
                        attribute: a.clone(),
                        value: v.clone(),
                    });
                }
            }
        }
    }

    let mut ok_enrollments: Vec<usize> = Vec::new();
    for (i, en) in enrollments.iter().enumerate() {
        let mut e = Errors {
            list: &mut errors,
            tracker_type: "ENROLLMENT",
            uid: en.uid.clone(),
            count: 0,
        };
        let earlier: Vec<&InEnrollment> = ok_enrollments.iter().map(|j| &enrollments[*j]).collect();
        validate_enrollment(g, &tes, en, &earlier, p.strategy, word, &pending, &mut e);
        if e.count > 0 {
            continue;
        }
        // Valid on its own, but its person will not be written.
        if let Some(te) = en.te.as_deref().filter(|te| failed_tes.contains(*te)) {
            e.add(
                "E5000",
                format!(
                    "\"ENROLLMENT\" `{}` cannot be persisted because \"TRACKED_ENTITY\" `{te}` \
                     referenced by it cannot be persisted.",
                    en.uid
                ),
            );
            continue;
        }
        ok_enrollments.push(i);
        let ou = en
            .te
            .as_deref()
            .and_then(|te| te_org_unit(g, &tes, te))
            .unwrap_or_default();
        for (a, v) in &en.attributes {
            if let (Some(v), Some(te)) = (v, &en.te) {
                pending.push(Pending {
                    te: te.clone(),
                    org_unit: ou.clone(),
                    attribute: a.clone(),
                    value: v.clone(),
                });
            }
        }
    }

    // ALL: one error and nothing is written; VALIDATE never writes.
    let commit = !p.validate_only && (!p.atomic_all || errors.is_empty());
    let mut te_stats = Stats::default();
    let mut en_stats = Stats::default();
    let mut te_reports = Vec::new();
    let mut en_reports = Vec::new();
    if commit {
        for i in &ok_tes {
            let t = &tes[*i];
            te_stats.count(write_te(g, t, p.strategy));
            te_reports.push(object_report("TRACKED_ENTITY", &t.uid));
        }
        for i in &ok_enrollments {
            let en = &enrollments[*i];
            en_stats.count(write_enrollment(g, en, p.strategy));
            en_reports.push(object_report("ENROLLMENT", &en.uid));
        }
        te_stats.ignored = tes.len() - ok_tes.len();
        en_stats.ignored = enrollments.len() - ok_enrollments.len();
    } else {
        // Nothing written: with errors every object is ignored (C.3); a
        // clean dry run counts nothing.
        if !errors.is_empty() {
            te_stats.ignored = tes.len();
            en_stats.ignored = enrollments.len();
        }
    }
    let total = te_stats.plus(&en_stats);
    let status = if errors.is_empty() { "OK" } else { "ERROR" };
    let mut report = json!({
        "status": status,
        "validationReport": {
            "errorReports": errors.iter().map(|e| json!({
                "message": e.message,
                "errorCode": e.code,
                "trackerType": e.tracker_type,
                "uid": e.uid,
            })).collect::<Vec<_>>(),
            "warningReports": [],
        },
        "stats": total.json(),
    });
    if commit {
        let mut map = serde_json::Map::new();
        if !tes.is_empty() {
            map.insert(
                "TRACKED_ENTITY".into(),
                json!({"trackerType": "TRACKED_ENTITY", "stats": te_stats.json(),
                       "objectReports": te_reports}),
            );
        }
        if !enrollments.is_empty() {
            map.insert(
                "ENROLLMENT".into(),
                json!({"trackerType": "ENROLLMENT", "stats": en_stats.json(),
                       "objectReports": en_reports}),
            );
        }
        report["bundleReport"] = json!({ "typeReportMap": map });
    }
    report
}

fn object_report(tracker_type: &str, uid: &str) -> Value {
    json!({"trackerType": tracker_type, "uid": uid, "errorReports": []})
}

/// The org unit of a TE of the payload, else of the stored one.
fn te_org_unit(g: &Inner, tes: &[InTe], te: &str) -> Option<String> {
    tes.iter()
        .find(|t| t.uid == te)
        .and_then(|t| t.org_unit.clone())
        .or_else(|| g.te(te).map(|t| t.org_unit.clone()))
}

fn validate_te(
    g: &Inner,
    t: &InTe,
    strategy: Strategy,
    word: &str,
    pending: &[Pending],
    e: &mut Errors,
) {
    if !is_uid(&t.uid) {
        e.add(
            "E1048",
            format!(
                "Object: `trackedEntity`, uid: `{}`, has an invalid uid format.",
                t.uid
            ),
        );
        return;
    }
    let stored = g.te(&t.uid);
    match (strategy, stored.is_some()) {
        (Strategy::Create, true) => {
            e.add("E1002", format!("{word}: `{}`, already exists.", t.uid));
            return;
        }
        (Strategy::Update | Strategy::Delete, false) => {
            e.add("E1063", format!("{word}: `{}`, does not exist.", t.uid));
            return;
        }
        (Strategy::Delete, true) => return,
        _ => {}
    }
    let te_type = match &t.te_type {
        None => {
            e.add(
                "E1121",
                "Missing required tracked entity property: `trackedEntityType`.".into(),
            );
            None
        }
        Some(tt) => match g.te_types.get(tt) {
            None => {
                e.add(
                    "E1005",
                    format!("Could not find TrackedEntityType: `{tt}`."),
                );
                None
            }
            Some(tt) => Some(tt),
        },
    };
    let ou = t.org_unit.clone().unwrap_or_default();
    match &t.org_unit {
        None => e.add(
            "E1121",
            "Missing required tracked entity property: `orgUnit`.".into(),
        ),
        Some(ou) => check_org_unit(g, e, ou, "E1049", "Tracked Entity"),
    }
    for (a, v) in &t.attributes {
        if !g.attributes.contains_key(a) {
            e.add("E1006", format!("Attribute: `{a}`, does not exist."));
        } else if let Some(v) = v
            && clashes(g, pending, a, v, &t.uid, &ou)
        {
            e.add(
                "E1064",
                format!("Non-unique attribute value `{v}` for attribute `{a}`"),
            );
        }
    }
    if let Some(tt) = te_type {
        for (a, mandatory) in &tt.attributes {
            if !mandatory {
                continue;
            }
            let present = match t.attributes.iter().find(|(x, _)| x == a) {
                Some((_, v)) => v.as_ref().is_some_and(|v| !v.is_empty()),
                None => stored.is_some_and(|s| s.value_of(a).is_some()),
            };
            if !present {
                e.add(
                    "E1090",
                    format!(
                        "Attribute: `{a}`, is mandatory in tracked entity type `{}` but not \
                         declared in tracked entity `{}`.",
                        tt.uid, t.uid
                    ),
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn validate_enrollment(
    g: &Inner,
    tes: &[InTe],
    en: &InEnrollment,
    earlier: &[&InEnrollment],
    strategy: Strategy,
    word: &str,
    pending: &[Pending],
    e: &mut Errors,
) {
    if !is_uid(&en.uid) {
        e.add(
            "E1048",
            format!(
                "Object: `enrollment`, uid: `{}`, has an invalid uid format.",
                en.uid
            ),
        );
        return;
    }
    let exists = g.owner_of_enrollment(&en.uid).is_some();
    match (strategy, exists) {
        (Strategy::Create, true) => {
            e.add(
                "E1080",
                format!("Enrollment: `{}`, already exists.", en.uid),
            );
            return;
        }
        (Strategy::Update | Strategy::Delete, false) => {
            e.add(
                "E1081",
                format!("Enrollment: `{}`, does not exist.", en.uid),
            );
            return;
        }
        (Strategy::Delete, true) => return,
        _ => {}
    }
    // The person: in this payload (and valid, or E5000 came first) or stored.
    let in_payload = en
        .te
        .as_deref()
        .and_then(|te| tes.iter().find(|t| t.uid == te));
    let stored = en.te.as_deref().and_then(|te| g.te(te));
    let te_type = in_payload
        .and_then(|t| t.te_type.clone())
        .or_else(|| stored.map(|s| s.tracked_entity_type.clone()));
    match &en.te {
        None => e.add(
            "E1122",
            "Missing required enrollment property: `trackedEntity`.".into(),
        ),
        Some(te) if in_payload.is_none() && stored.is_none() => e.add(
            "E1068",
            format!("Could not find {word}: `{te}`, linked to Enrollment."),
        ),
        _ => {}
    }
    let program = match &en.program {
        None => {
            e.add(
                "E1122",
                "Missing required enrollment property: `program`.".into(),
            );
            None
        }
        Some(p) => match g.programs.get(p) {
            None => {
                e.add(
                    "E1069",
                    format!("Could not find Program: `{p}`, linked to Enrollment."),
                );
                None
            }
            Some(p) if p.program_type == ProgramType::WithoutRegistration => {
                e.add(
                    "E1014",
                    format!(
                        "Provided Program: `{}`, is a Program without registration. An \
                         Enrollment cannot be created into Program without registration.",
                        p.uid
                    ),
                );
                None
            }
            Some(p) => Some(p),
        },
    };
    // An unknown TE type is the TE's own error (E1005), not a mismatch.
    if let (Some(p), Some(tt), Some(te)) = (program, &te_type, &en.te)
        && g.te_types.contains_key(tt)
        && p.tracked_entity_type.as_deref() != Some(tt.as_str())
    {
        e.add(
            "E1022",
            format!(
                "{word}: `{te}`, must have same TrackedEntityType as Program `{}`.",
                p.uid
            ),
        );
    }
    match &en.org_unit {
        None => e.add(
            "E1122",
            "Missing required enrollment property: `orgUnit`.".into(),
        ),
        Some(ou) => {
            let before = e.count;
            check_org_unit(g, e, ou, "E1070", "Enrollment");
            if e.count == before
                && let Some(p) = program
                && !p.org_units.contains(ou)
            {
                e.add(
                    "E1041",
                    format!(
                        "Enrollment OrganisationUnit: `{ou}`, and Program: `{}`, don't match.",
                        p.uid
                    ),
                );
            }
        }
    }
    if en.enrolled_at.is_none() {
        e.add("E1025", "Property enrolledAt is null.".into());
    }
    if en.occurred_at.is_none() && program.is_some_and(|p| p.display_incident_date) {
        e.add(
            "E1023",
            "DisplayIncidentDate is true but property occurredAt is null or has an invalid \
             format."
                .into(),
        );
    }
    let te_uid = en.te.clone().unwrap_or_default();
    let ou = te_org_unit(g, tes, &te_uid).unwrap_or_default();
    for (a, v) in &en.attributes {
        if !g.attributes.contains_key(a) {
            e.add("E1006", format!("Attribute: `{a}`, does not exist."));
            continue;
        }
        if let Some(p) = program
            && !p.attributes.iter().any(|(x, _)| x == a)
        {
            e.add(
                "E1019",
                format!("Only Program attributes is allowed for enrollment; Non program attributes: `{a}`."),
            );
            continue;
        }
        if let Some(v) = v
            && clashes(g, pending, a, v, &te_uid, &ou)
        {
            e.add(
                "E1064",
                format!("Non-unique attribute value `{v}` for attribute `{a}`"),
            );
        }
    }
    let Some(p) = program else {
        return;
    };
    for (a, mandatory) in &p.attributes {
        if !mandatory {
            continue;
        }
        // A mandatory program attribute may come with the enrollment, or
        // already be held by the person (payload TE or stored).
        let present = match en.attributes.iter().find(|(x, _)| x == a) {
            Some((_, v)) => v.as_ref().is_some_and(|v| !v.is_empty()),
            None => {
                in_payload.is_some_and(|t| {
                    t.attributes
                        .iter()
                        .any(|(x, v)| x == a && v.as_ref().is_some_and(|v| !v.is_empty()))
                }) || stored.is_some_and(|s| s.value_of(a).is_some())
            }
        };
        if !present {
            e.add(
                "E1018",
                format!(
                    "Attribute: `{a}`, is mandatory in program `{}` but not declared in \
                     enrollment `{}`.",
                    p.uid, en.uid
                ),
            );
        }
    }
    // Enrollment rules only apply to a new enrollment.
    if exists {
        return;
    }
    let others: Vec<(&str, &str)> = stored
        .map(|s| {
            s.enrollments
                .iter()
                .filter(|x| x.program == p.uid)
                .map(|x| (x.uid.as_str(), x.status.as_str()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .chain(
            earlier
                .iter()
                .filter(|x| x.te == en.te && x.program.as_deref() == Some(p.uid.as_str()))
                .map(|x| (x.uid.as_str(), x.status.as_str())),
        )
        .filter(|(uid, _)| *uid != en.uid)
        .collect();
    if p.only_enroll_once && !others.is_empty() {
        e.add(
            "E1016",
            format!(
                "{word}: `{te_uid}`, already has an active enrollment in Program: `{}`, and this \
                 program only allows enrolling one time.",
                p.uid
            ),
        );
    } else if en.status == "ACTIVE" && others.iter().any(|(_, s)| *s == "ACTIVE") {
        e.add(
            "E1015",
            format!(
                "{word}: `{te_uid}`, already has an active Enrollment in Program `{}`.",
                p.uid
            ),
        );
    }
}

#[derive(Default)]
struct Stats {
    created: usize,
    updated: usize,
    deleted: usize,
    ignored: usize,
}

enum Outcome {
    Created,
    Updated,
    Deleted,
}

impl Stats {
    fn count(&mut self, o: Outcome) {
        match o {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Deleted => self.deleted += 1,
        }
    }

    fn plus(&self, o: &Stats) -> Stats {
        Stats {
            created: self.created + o.created,
            updated: self.updated + o.updated,
            deleted: self.deleted + o.deleted,
            ignored: self.ignored + o.ignored,
        }
    }

    fn json(&self) -> Value {
        json!({
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "ignored": self.ignored,
            "total": self.created + self.updated + self.deleted + self.ignored,
        })
    }
}

/// Sets, replaces or (value `null`) deletes attribute values.
fn merge_attributes(into: &mut Vec<(String, String)>, sent: &[SentAttribute]) {
    for (a, v) in sent {
        into.retain(|(x, _)| x != a);
        if let Some(v) = v {
            into.push((a.clone(), v.clone()));
        }
    }
}

fn write_te(g: &mut Inner, t: &InTe, strategy: Strategy) -> Outcome {
    if strategy == Strategy::Delete {
        g.tracked_entities.retain(|x| x.uid != t.uid);
        return Outcome::Deleted;
    }
    let now = now_iso();
    if let Some(s) = g.te_mut(&t.uid) {
        merge_attributes(&mut s.attributes, &t.attributes);
        if let Some(ou) = &t.org_unit {
            s.org_unit = ou.clone();
        }
        s.updated_at = now;
        return Outcome::Updated;
    }
    let mut s = TrackedEntitySnapshot::new(
        &t.uid,
        t.te_type.as_deref().unwrap_or_default(),
        t.org_unit.as_deref().unwrap_or_default(),
    );
    merge_attributes(&mut s.attributes, &t.attributes);
    g.tracked_entities.push(s);
    Outcome::Created
}

fn write_enrollment(g: &mut Inner, en: &InEnrollment, strategy: Strategy) -> Outcome {
    if strategy == Strategy::Delete {
        for t in &mut g.tracked_entities {
            t.enrollments.retain(|x| x.uid != en.uid);
        }
        return Outcome::Deleted;
    }
    let now = now_iso();
    for t in &mut g.tracked_entities {
        if let Some(x) = t.enrollments.iter_mut().find(|x| x.uid == en.uid) {
            merge_attributes(&mut x.attributes, &en.attributes);
            x.status = en.status.clone();
            x.org_unit = en.org_unit.clone().unwrap_or_default();
            x.enrolled_at = en.enrolled_at.clone().unwrap_or_default();
            x.occurred_at = en.occurred_at.clone();
            t.updated_at = now;
            return Outcome::Updated;
        }
    }
    let mut attributes = Vec::new();
    merge_attributes(&mut attributes, &en.attributes);
    let te = en.te.clone().unwrap_or_default();
    if let Some(t) = g.te_mut(&te) {
        t.enrollments.push(EnrollmentSnapshot {
            uid: en.uid.clone(),
            program: en.program.clone().unwrap_or_default(),
            org_unit: en.org_unit.clone().unwrap_or_default(),
            status: en.status.clone(),
            enrolled_at: en.enrolled_at.clone().unwrap_or_default(),
            occurred_at: en.occurred_at.clone(),
            attributes,
        });
        t.updated_at = now;
    }
    Outcome::Created
}
