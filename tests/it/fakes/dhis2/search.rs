//! `GET /api/tracker/trackedEntities` and `…/trackedEntities/{uid}` (C.5),
//! with the parameter rules and answer shapes of each version.

use serde_json::{Value, json};

use super::server::{Reply, bad_request, not_found, param};
use super::state::*;

/// Org unit selection modes.
const MODES: [&str; 6] = [
    "SELECTED",
    "CHILDREN",
    "DESCENDANTS",
    "ACCESSIBLE",
    "CAPTURE",
    "ALL",
];

/// Modes that select by the user's scope, not by given org units.
fn is_scope_mode(m: &str) -> bool {
    matches!(m, "ACCESSIBLE" | "CAPTURE" | "ALL")
}

fn split_list(s: &str) -> Vec<String> {
    s.split([';', ','])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// The value of a renamed parameter: 2.41 takes the old or the new name but
/// not both (C.5); older versions do not know the new name at all.
fn renamed<'a>(
    v: Version,
    params: &'a [(String, String)],
    old: &str,
    new: &str,
) -> Result<Option<&'a str>, Reply> {
    let o = param(params, old);
    if v < Version::V2_41 {
        return Ok(o);
    }
    let n = param(params, new);
    if o.is_some() && n.is_some() {
        return Err(bad_request(&format!(
            "Only one parameter of '{old}' and '{new}' must be specified. Prefer '{new}' as \
             '{old}' will be removed."
        )));
    }
    Ok(o.or(n))
}

/// One `filter`: attribute and its `(OP, value)` pairs.
struct Filter {
    attribute: String,
    conditions: Vec<(String, String)>,
}

const OPS: [&str; 10] = ["EQ", "NE", "GT", "GE", "LT", "LE", "LIKE", "IN", "SW", "EW"];

/// Parses one `filter` parameter. From 2.40 `/` escapes `:` `,` `/` and a
/// comma separates filters; 2.38/2.39 split on every `:` (C.5).
fn parse_filters(v: Version, raw: &str) -> Result<Vec<Filter>, Reply> {
    let escaping = v >= Version::V2_40;
    let mut filters: Vec<Vec<String>> = vec![vec![String::new()]];
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        let cur = filters.last_mut().and_then(|f| f.last_mut());
        match (c, cur) {
            ('/', Some(cur)) if escaping => cur.push(chars.next().unwrap_or('/')),
            (':', _) => {
                if let Some(f) = filters.last_mut() {
                    f.push(String::new());
                }
            }
            (',', _) if escaping => filters.push(vec![String::new()]),
            (c, Some(cur)) => cur.push(c),
            (_, None) => {}
        }
    }
    let invalid = || bad_request(&format!("Query item or filter is invalid: {raw}"));
    let mut out = Vec::new();
    for tokens in filters {
        if tokens.len() < 3 || tokens.len() % 2 == 0 || tokens[0].is_empty() {
            return Err(invalid());
        }
        let mut conditions = Vec::new();
        for pair in tokens[1..].chunks(2) {
            let op = pair[0].to_ascii_uppercase();
            if !OPS.contains(&op.as_str()) {
                return Err(bad_request(&format!(
                    "Query operator is not valid: {}",
                    pair[0]
                )));
            }
            conditions.push((op, pair[1].clone()));
        }
        out.push(Filter {
            attribute: tokens[0].clone(),
            conditions,
        });
    }
    Ok(out)
}

/// Case-insensitive comparison of a stored value with a filter's (C.5);
/// GT/GE/LT/LE compare numbers when both sides are numbers.
fn matches(op: &str, stored: &str, wanted: &str) -> bool {
    let s = stored.to_lowercase();
    let w = wanted.to_lowercase();
    let order = || match (s.parse::<f64>(), w.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => Some(s.cmp(&w)),
    };
    use std::cmp::Ordering::*;
    match op {
        "EQ" => s == w,
        "NE" => s != w,
        "LIKE" => s.contains(&w),
        "SW" => s.starts_with(&w),
        "EW" => s.ends_with(&w),
        "IN" => w.split(';').any(|x| x == s),
        "GT" => order() == Some(Greater),
        "GE" => matches!(order(), Some(Greater | Equal)),
        "LT" => order() == Some(Less),
        "LE" => matches!(order(), Some(Less | Equal)),
        _ => false,
    }
}

pub(super) fn search(g: &Inner, params: &[(String, String)]) -> Reply {
    match try_search(g, params) {
        Ok(v) => Reply::Json(200, v),
        Err(r) => r,
    }
}

fn try_search(g: &Inner, params: &[(String, String)]) -> Result<Value, Reply> {
    let v = g.version;
    let units_raw = renamed(v, params, "orgUnit", "orgUnits")?;
    let mode_raw = renamed(v, params, "ouMode", "orgUnitMode")?;
    let skip_raw = renamed(v, params, "skipPaging", "paging")?;
    let tes_raw = renamed(v, params, "trackedEntity", "trackedEntities")?;
    // `paging=false` is the 2.41 spelling of `skipPaging=true`.
    let skip_paging = match (param(params, "skipPaging"), skip_raw) {
        (Some(s), _) => s.eq_ignore_ascii_case("true"),
        (None, Some(p)) => p.eq_ignore_ascii_case("false"),
        (None, None) => false,
    };
    // C.5: `program` and `trackedEntityType` are alternatives, and one of
    // them (or a list of UIDs) is needed, on every version.
    let program = param(params, "program");
    let te_type = param(params, "trackedEntityType");
    if program.is_some() && te_type.is_some() {
        return Err(bad_request(
            "Only one parameter of 'program' and 'trackedEntityType' must be specified.",
        ));
    }
    let wanted_tes = tes_raw.map(split_list).unwrap_or_default();
    if program.is_none() && te_type.is_none() && wanted_tes.is_empty() {
        return Err(bad_request(
            "Either `program`, `trackedEntityType` or `trackedEntities` should be specified",
        ));
    }
    let program = match program {
        Some(p) => Some(g.programs.get(p).ok_or_else(|| {
            bad_request(&format!("Program is specified but does not exist: {p}"))
        })?),
        None => None,
    };
    if let Some(t) = te_type
        && !g.te_types.contains_key(t)
    {
        return Err(bad_request(&format!(
            "Tracked entity type is specified but does not exist: {t}"
        )));
    }
    let units = units_raw.map(split_list).unwrap_or_default();
    let mode = match mode_raw {
        Some(m) => {
            let m = m.to_ascii_uppercase();
            if !MODES.contains(&m.as_str()) {
                return Err(bad_request(&format!(
                    "Value '{m}' is not valid for parameter ouMode. Valid values are: [{}]",
                    MODES.join(", ")
                )));
            }
            Some(m)
        }
        None => None,
    };
    // 2.41 defaults to ACCESSIBLE and refuses mixing a scope mode with org
    // units; older versions need one or the other and let a scope mode win.
    let mode = if v >= Version::V2_41 {
        match (units.is_empty(), mode) {
            (true, None) => "ACCESSIBLE".to_string(),
            (true, Some(m)) if !is_scope_mode(&m) => {
                return Err(bad_request(&format!(
                    "At least one org unit is required for orgUnitMode: {m}"
                )));
            }
            (false, Some(m)) if is_scope_mode(&m) => {
                return Err(bad_request(&format!(
                    "orgUnitMode {m} cannot be used with orgUnits. Please remove the orgUnits \
                     parameter and try again."
                )));
            }
            (_, Some(m)) => m,
            (false, None) => "SELECTED".to_string(),
        }
    } else {
        match mode {
            Some(m) if is_scope_mode(&m) => m,
            _ if units.is_empty() => {
                return Err(bad_request(
                    "At least one organisation unit must be specified",
                ));
            }
            Some(m) => m,
            None => "SELECTED".to_string(),
        }
    };
    if !is_scope_mode(&mode)
        && let Some(u) = units.iter().find(|u| !g.org_units.contains_key(*u))
    {
        return Err(bad_request(&format!(
            "Organisation unit does not exist: {u}"
        )));
    }
    let mut filters = Vec::new();
    for (_, raw) in params.iter().filter(|(k, _)| k == "filter") {
        for f in parse_filters(v, raw)? {
            if !g.attributes.contains_key(&f.attribute) {
                return Err(bad_request(&format!(
                    "Attribute does not exist: {}",
                    f.attribute
                )));
            }
            filters.push(f);
        }
    }
    let only_duplicates = param(params, "potentialDuplicate").map(|p| p == "true");

    // A seeded TE whose org unit the fake does not know is only seen by ALL.
    let in_units = |te: &TrackedEntitySnapshot| -> bool {
        let Some(ou) = g.org_units.get(&te.org_unit) else {
            return mode == "ALL";
        };
        match mode.as_str() {
            "ALL" => true,
            "ACCESSIBLE" | "CAPTURE" => g.in_scope(&ou.uid),
            "CHILDREN" => units
                .iter()
                .any(|u| *u == ou.uid || ou.parent() == Some(u.as_str())),
            "DESCENDANTS" => units.iter().any(|u| ou.path.split('/').any(|p| p == u)),
            _ => units.contains(&ou.uid),
        }
    };
    let found: Vec<&TrackedEntitySnapshot> = g
        .tracked_entities
        .iter()
        .filter(|t| in_units(t))
        .filter(|t| program.is_none_or(|p| t.enrollments.iter().any(|e| e.program == p.uid)))
        .filter(|t| te_type.is_none_or(|tt| t.tracked_entity_type == tt))
        .filter(|t| wanted_tes.is_empty() || wanted_tes.contains(&t.uid))
        .filter(|t| only_duplicates.is_none_or(|d| is_flagged(g, &t.uid) == d))
        .filter(|t| {
            filters.iter().all(|f| {
                t.value_of(&f.attribute)
                    .is_some_and(|val| f.conditions.iter().all(|(op, w)| matches(op, &val, w)))
            })
        })
        .collect();

    // Creation order is the fake's only sort order.
    let total = found.len();
    let number = |name: &str, default: usize| {
        param(params, name)
            .and_then(|p| p.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let (page, page_size) = (number("page", 1), number("pageSize", 50));
    let shown: Vec<Value> = if skip_paging {
        found.iter().map(|t| te_json(g, t, program)).collect()
    } else {
        found
            .iter()
            .skip((page - 1).saturating_mul(page_size))
            .take(page_size)
            .map(|t| te_json(g, t, program))
            .collect()
    };
    let with_total = param(params, "totalPages") == Some("true");
    Ok(if v >= Version::V2_41 {
        let mut out = json!({ "trackedEntities": shown });
        if !skip_paging {
            let mut pager = json!({"page": page, "pageSize": page_size});
            if with_total {
                pager["total"] = json!(total);
                pager["pageCount"] = json!(total.div_ceil(page_size));
            }
            out["pager"] = pager;
        }
        out
    } else {
        let mut out = json!({ "instances": shown });
        if !skip_paging {
            out["page"] = json!(page);
            out["pageSize"] = json!(page_size);
            if with_total {
                out["total"] = json!(total);
            }
        }
        out
    })
}

/// Whether the TE is part of an OPEN potential duplicate pair.
fn is_flagged(g: &Inner, te: &str) -> bool {
    g.duplicates
        .iter()
        .any(|d| d.status == "OPEN" && (d.original == te || d.duplicate == te))
}

fn attribute_json(g: &Inner, a: &str, v: &str) -> Value {
    let meta = g.attributes.get(a);
    json!({
        "attribute": a,
        "value": v,
        "displayName": meta.map(|m| m.name.as_str()),
        "valueType": meta.map(|m| m.value_type.as_str()),
    })
}

/// One tracked entity: TE-type attributes, plus the program's when a
/// program was asked for; every enrollment (whatever `fields` says).
fn te_json(g: &Inner, t: &TrackedEntitySnapshot, program: Option<&Program>) -> Value {
    let type_attrs: Vec<&str> = g
        .te_types
        .get(&t.tracked_entity_type)
        .map(|tt| tt.attributes.iter().map(|(a, _)| a.as_str()).collect())
        .unwrap_or_default();
    let shown = |a: &str| {
        type_attrs.contains(&a) || program.is_some_and(|p| p.attributes.iter().any(|(x, _)| x == a))
    };
    let attributes: Vec<Value> = t
        .all_attributes()
        .iter()
        .filter(|(a, _)| shown(a))
        .map(|(a, v)| attribute_json(g, a, v))
        .collect();
    let enrollments: Vec<Value> = t
        .enrollments
        .iter()
        .map(|e| {
            json!({
                "enrollment": e.uid,
                "trackedEntity": t.uid,
                "program": e.program,
                "status": e.status,
                "orgUnit": e.org_unit,
                "enrolledAt": e.enrolled_at,
                "occurredAt": e.occurred_at,
                "attributes": e.attributes.iter().map(|(a, v)| attribute_json(g, a, v))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "trackedEntity": t.uid,
        "trackedEntityType": t.tracked_entity_type,
        "orgUnit": t.org_unit,
        "createdAt": t.created_at,
        "updatedAt": t.updated_at,
        "deleted": false,
        "inactive": false,
        "potentialDuplicate": is_flagged(g, &t.uid),
        "attributes": attributes,
        "enrollments": enrollments,
    })
}

/// `GET /api/tracker/trackedEntities/{uid}`: 404 when unknown or outside
/// the capture scope.
pub(super) fn one(g: &Inner, uid: &str, params: &[(String, String)]) -> Reply {
    let program = param(params, "program").and_then(|p| g.programs.get(p));
    match g.te(uid).filter(|t| g.in_scope(&t.org_unit)) {
        Some(t) => Reply::Json(200, te_json(g, t, program)),
        None => not_found(&format!(
            "{} with id {uid} could not be found.",
            g.version.te_word()
        )),
    }
}
