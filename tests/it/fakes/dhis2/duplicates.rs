//! `/api/potentialDuplicates` (C.7): create, list, get, status changes and
//! merge. Kept small: AUTO merges whole people, MANUAL moves what it is
//! told to.

use serde_json::{Value, json};

use super::server::{Reply, bad_request, not_found, param, web_message};
use super::state::*;

fn duplicate_json(d: &PotentialDuplicate) -> Value {
    json!({
        "id": d.id,
        "original": d.original,
        "duplicate": d.duplicate,
        "status": d.status,
        "created": d.created,
        "lastUpdated": d.last_updated,
    })
}

/// `POST /api/potentialDuplicates` `{"original","duplicate"}`.
pub(super) fn create(g: &mut Inner, body: &[u8]) -> Reply {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return bad_request("Request body is not valid JSON.");
    };
    let mut ids = Vec::new();
    for key in ["original", "duplicate"] {
        let Some(id) = v.get(key).and_then(Value::as_str) else {
            return bad_request(&format!("Missing required input property '{key}'"));
        };
        if !is_uid(id) {
            return bad_request(&format!("'{id}' is not valid value for property '{key}'"));
        }
        if g.te(id).is_none() {
            return not_found(&format!("No tracked entity found with id '{id}'."));
        }
        ids.push(id.to_string());
    }
    let (original, duplicate) = (ids[0].clone(), ids[1].clone());
    // A pair is the same whichever way round it was flagged.
    if g.duplicates.iter().any(|d| {
        (d.original == original && d.duplicate == duplicate)
            || (d.original == duplicate && d.duplicate == original)
    }) {
        return web_message(
            409,
            &format!("'{original}' and '{duplicate}' is already marked as a potential duplicate"),
        );
    }
    let now = now_iso();
    let d = PotentialDuplicate {
        id: new_uid(),
        original,
        duplicate,
        status: "OPEN".into(),
        created: now.clone(),
        last_updated: now,
    };
    let out = duplicate_json(&d);
    g.duplicates.push(d);
    Reply::Json(200, out)
}

/// `GET /api/potentialDuplicates?status=…&teis=…` (`trackedEntities=` on
/// 2.41, which ignores `teis`). The listed TEs match either side of a pair.
pub(super) fn list(g: &Inner, params: &[(String, String)]) -> Reply {
    let status = param(params, "status").unwrap_or("OPEN");
    if !["OPEN", "INVALID", "MERGED", "ALL"].contains(&status) {
        return bad_request(&format!(
            "Value '{status}' is not valid for parameter status. Valid values are: [OPEN, INVALID, MERGED, ALL]"
        ));
    }
    let name = if g.version >= Version::V2_41 {
        "trackedEntities"
    } else {
        "teis"
    };
    let tes: Vec<&str> = param(params, name)
        .map(|t| t.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let found: Vec<Value> = g
        .duplicates
        .iter()
        .filter(|d| status == "ALL" || d.status == status)
        .filter(|d| tes.is_empty() || tes.iter().any(|t| *t == d.original || *t == d.duplicate))
        .map(duplicate_json)
        .collect();
    Reply::Json(
        200,
        json!({
            "pager": {"page": 1, "pageSize": 50, "total": found.len(), "pageCount": 1},
            "potentialDuplicates": found,
        }),
    )
}

fn missing(id: &str) -> Reply {
    not_found(&format!("No potentialDuplicate found with id '{id}'."))
}

pub(super) fn get(g: &Inner, id: &str) -> Reply {
    match g.duplicates.iter().find(|d| d.id == id) {
        Some(d) => Reply::Json(200, duplicate_json(d)),
        None => missing(id),
    }
}

/// `PUT /api/potentialDuplicates/{id}?status=OPEN|INVALID`.
pub(super) fn set_status(g: &mut Inner, id: &str, params: &[(String, String)]) -> Reply {
    let Some(d) = g.duplicates.iter_mut().find(|d| d.id == id) else {
        return missing(id);
    };
    match param(params, "status") {
        Some("MERGED") => bad_request(
            "Can't update a potential duplicate to MERGED as the merge endpoint should be used",
        ),
        _ if d.status == "MERGED" => {
            bad_request("Can't update a potential duplicate that is already MERGED")
        }
        Some(s @ ("OPEN" | "INVALID")) => {
            d.status = s.to_string();
            d.last_updated = now_iso();
            Reply::Json(200, duplicate_json(d))
        }
        other => bad_request(&format!(
            "Value '{}' is not valid for parameter status. Valid values are: [OPEN, INVALID]",
            other.unwrap_or("")
        )),
    }
}

/// `POST /api/potentialDuplicates/{id}/merge?mergeStrategy=AUTO|MANUAL`.
/// AUTO refuses (409) different TE types, different values of one
/// attribute, or enrollments of both in one program; otherwise it moves the
/// duplicate's attributes and enrollments to the original and deletes it.
pub(super) fn merge(g: &mut Inner, id: &str, params: &[(String, String)], body: &[u8]) -> Reply {
    let Some(d) = g.duplicates.iter().find(|d| d.id == id).cloned() else {
        return missing(id);
    };
    if d.status == "MERGED" {
        return bad_request("Potential duplicate is already MERGED");
    }
    let (Some(original), Some(duplicate)) =
        (g.te(&d.original).cloned(), g.te(&d.duplicate).cloned())
    else {
        return not_found("No tracked entity found for this potential duplicate.");
    };
    let strategy = param(params, "mergeStrategy").unwrap_or("AUTO");
    let mut merged = original.clone();
    match strategy {
        "AUTO" => {
            let mut conflicts = Vec::new();
            if original.tracked_entity_type != duplicate.tracked_entity_type {
                conflicts.push("Entities have different Tracked Entity Types.".to_string());
            }
            for (a, v) in duplicate.all_attributes() {
                if original.value_of(&a).is_some_and(|o| o != v) {
                    conflicts.push(format!("Attribute `{a}` has different values."));
                }
            }
            if duplicate
                .enrollments
                .iter()
                .any(|e| original.enrollments.iter().any(|o| o.program == e.program))
            {
                conflicts.push("Both entities enrolled in the same program.".to_string());
            }
            if !conflicts.is_empty() {
                return web_message(
                    409,
                    &format!("A merge conflict was found: {}", conflicts.join(" ")),
                );
            }
            for (a, v) in &duplicate.attributes {
                if original.value_of(a).is_none() {
                    merged.attributes.push((a.clone(), v.clone()));
                }
            }
            merged.enrollments.extend(duplicate.enrollments.clone());
        }
        "MANUAL" => {
            let v: Value = if body.is_empty() {
                json!({})
            } else {
                match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(_) => return bad_request("Request body is not valid JSON."),
                }
            };
            let uids = |k: &str| -> Vec<String> {
                v.get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            for a in uids("trackedEntityAttributes") {
                if let Some(v) = duplicate.value_of(&a) {
                    merged.attributes.retain(|(x, _)| *x != a);
                    merged.attributes.push((a, v));
                }
            }
            for e in uids("enrollments") {
                if let Some(en) = duplicate.enrollments.iter().find(|x| x.uid == e) {
                    merged.enrollments.push(en.clone());
                }
            }
        }
        other => {
            return bad_request(&format!(
                "Value '{other}' is not valid for parameter mergeStrategy. Valid values are: [AUTO, MANUAL]"
            ));
        }
    }
    merged.updated_at = now_iso();
    g.tracked_entities.retain(|t| t.uid != duplicate.uid);
    if let Some(t) = g.te_mut(&original.uid) {
        *t = merged;
    }
    if let Some(x) = g.duplicates.iter_mut().find(|x| x.id == id) {
        x.status = "MERGED".into();
        x.last_updated = now_iso();
    }
    web_message(200, "Merged")
}
