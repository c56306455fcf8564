//! Metadata: the handle's setters (with the ready-made standard setup and
//! its UIDs) and the read endpoints `GET /api/programs/{uid}`,
//! `/api/trackedEntityAttributes/{uid}`, `/api/trackedEntityTypes/{uid}`,
//! `/api/organisationUnits/{uid}` (C.2).

use serde_json::{Value, json};

use super::server::{FakeDhis2, Reply, not_found};
use super::state::*;

/// The standard setup's tracked entity type (Person).
pub const PERSON_TYPE: &str = "nEenWmSyUEp";
/// Its tracker program, assigned to `ORG_UNIT` and `ORG_UNIT_2`.
pub const PROGRAM: &str = "IpHINAT79UW";
/// The root of the org unit tree.
pub const ORG_UNIT_ROOT: &str = "ImspTQPwCqd";
/// A district under the root, assigned to `PROGRAM`.
pub const ORG_UNIT: &str = "DiszpKrYNg8";
/// Another district under the root, assigned to `PROGRAM`.
pub const ORG_UNIT_2: &str = "g8upMTyEZGZ";
/// A district under the root NOT assigned to `PROGRAM` (E1041).
pub const ORG_UNIT_OUTSIDE: &str = "O6uvpzGd5pu";
/// A facility under `ORG_UNIT` (not assigned to `PROGRAM`), for DESCENDANTS.
pub const ORG_UNIT_CHILD: &str = "YuQRtpLP10I";
/// UIC: TEXT, unique system-wide, a mandatory TE-type attribute.
pub const ATTR_UIC: &str = "ciuAttr0001";
/// Gender: TEXT, an optional TE-type attribute.
pub const ATTR_GENDER: &str = "gndrAttr001";
/// Last name: TEXT, a mandatory program attribute.
pub const ATTR_LAST: &str = "lastName001";
/// First name: TEXT, a mandatory program attribute.
pub const ATTR_FIRST: &str = "frstName001";
/// Birth year: TEXT, a mandatory program attribute.
pub const ATTR_YEAR: &str = "birthYear01";
/// Birth city: TEXT, an optional program attribute.
pub const ATTR_CITY: &str = "birthCity01";
/// The standard user for HTTP Basic.
pub const STANDARD_USER: &str = "uic-bot";
pub const STANDARD_PASSWORD: &str = "District1!";
/// The standard personal access token (the reference's example).
pub const STANDARD_PAT_TOKEN: &str = "d2pat_5xVA12xyUbWNedQxy4ohH77WlxRGVvZZ1151814092";

impl FakeDhis2 {
    /// Starts an instance with the standard setup: `PERSON_TYPE` (UIC
    /// mandatory, gender optional), `PROGRAM` (last name, first name, birth
    /// year mandatory, birth city optional; no incident date; several
    /// enrollments allowed), the org unit tree `ORG_UNIT_ROOT` ⟶
    /// {`ORG_UNIT` ⟶ `ORG_UNIT_CHILD`, `ORG_UNIT_2`, `ORG_UNIT_OUTSIDE`},
    /// `STANDARD_USER`/`STANDARD_PASSWORD` and `STANDARD_PAT_TOKEN`.
    pub async fn start_standard(version: Version) -> FakeDhis2 {
        let f = FakeDhis2::start(version).await;
        f.add_org_unit(ORG_UNIT_ROOT, "Sierra Leone", "SL", None);
        f.add_org_unit(ORG_UNIT, "Bo", "BO", Some(ORG_UNIT_ROOT));
        f.add_org_unit(ORG_UNIT_2, "Kenema", "KE", Some(ORG_UNIT_ROOT));
        f.add_org_unit(ORG_UNIT_OUTSIDE, "Bombali", "BM", Some(ORG_UNIT_ROOT));
        f.add_org_unit(ORG_UNIT_CHILD, "Bo Clinic", "BOC", Some(ORG_UNIT));
        let mut uic = Attribute::text(ATTR_UIC, "UIC");
        uic.unique = true;
        f.add_attribute(uic);
        for (uid, name) in [
            (ATTR_GENDER, "Gender"),
            (ATTR_LAST, "Last name"),
            (ATTR_FIRST, "First name"),
            (ATTR_YEAR, "Birth year"),
            (ATTR_CITY, "Birth city"),
        ] {
            f.add_attribute(Attribute::text(uid, name));
        }
        f.add_tracked_entity_type(TrackedEntityType {
            uid: PERSON_TYPE.into(),
            name: "Person".into(),
            attributes: vec![(ATTR_UIC.into(), true), (ATTR_GENDER.into(), false)],
        });
        let mut program = Program::with_registration(PROGRAM, PERSON_TYPE);
        program.name = "UIC programme".into();
        program.org_units = vec![ORG_UNIT.into(), ORG_UNIT_2.into()];
        program.attributes = vec![
            (ATTR_LAST.into(), true),
            (ATTR_FIRST.into(), true),
            (ATTR_YEAR.into(), true),
            (ATTR_CITY.into(), false),
        ];
        f.add_program(program);
        f.add_user(STANDARD_USER, STANDARD_PASSWORD);
        f.add_token(STANDARD_PAT_TOKEN);
        f
    }

    /// Adds an org unit under `parent` (its `path` follows the parent's).
    pub fn add_org_unit(&self, uid: &str, name: &str, code: &str, parent: Option<&str>) {
        let mut g = self.lock();
        let path = match parent.and_then(|p| g.org_units.get(p)) {
            Some(p) => format!("{}/{uid}", p.path),
            None => format!("/{uid}"),
        };
        g.org_units.insert(
            uid.to_string(),
            OrgUnit {
                uid: uid.to_string(),
                name: name.to_string(),
                code: code.to_string(),
                path,
            },
        );
    }

    pub fn add_attribute(&self, attribute: Attribute) {
        self.lock()
            .attributes
            .insert(attribute.uid.clone(), attribute);
    }

    pub fn add_tracked_entity_type(&self, te_type: TrackedEntityType) {
        self.lock().te_types.insert(te_type.uid.clone(), te_type);
    }

    pub fn add_program(&self, program: Program) {
        self.lock().programs.insert(program.uid.clone(), program);
    }

    /// Deletes a program (enrollments into it then fail with E1069).
    pub fn remove_program(&self, uid: &str) -> Option<Program> {
        self.lock().programs.remove(uid)
    }

    /// Changes a program in place (e.g. `|p| p.only_enroll_once = true`).
    /// Panics on an unknown program: a test mistake.
    pub fn edit_program(&self, uid: &str, f: impl FnOnce(&mut Program)) {
        let mut g = self.lock();
        f(g.programs.get_mut(uid).expect("unknown program"));
    }

    /// Changes an attribute in place. Panics on an unknown one.
    pub fn edit_attribute(&self, uid: &str, f: impl FnOnce(&mut Attribute)) {
        let mut g = self.lock();
        f(g.attributes.get_mut(uid).expect("unknown attribute"));
    }

    /// Makes an attribute unique or not.
    pub fn set_attribute_unique(&self, uid: &str, unique: bool) {
        self.edit_attribute(uid, |a| a.unique = unique);
    }

    /// The program stops being assigned to the org unit (E1041).
    pub fn unassign_org_unit(&self, program: &str, org_unit: &str) {
        self.edit_program(program, |p| p.org_units.retain(|o| o != org_unit));
    }

    /// The program becomes assigned to the org unit.
    pub fn assign_org_unit(&self, program: &str, org_unit: &str) {
        self.edit_program(program, |p| {
            if !p.org_units.iter().any(|o| o == org_unit) {
                p.org_units.push(org_unit.to_string());
            }
        });
    }
}

/// The metadata collections served by `get`.
pub(super) fn is_metadata(kind: &str) -> bool {
    matches!(
        kind,
        "programs" | "trackedEntityAttributes" | "trackedEntityTypes" | "organisationUnits"
    )
}

/// `GET /api/{kind}/{uid}`: every field C.2 lists, whatever `fields` says.
pub(super) fn get(g: &Inner, kind: &str, uid: &str) -> Reply {
    let (found, class) = match kind {
        "programs" => (g.programs.get(uid).map(|p| program_json(g, p)), "Program"),
        "trackedEntityAttributes" => (
            g.attributes.get(uid).map(attribute_json),
            "TrackedEntityAttribute",
        ),
        "trackedEntityTypes" => (
            g.te_types.get(uid).map(|t| te_type_json(g, t)),
            "TrackedEntityType",
        ),
        _ => (
            g.org_units.get(uid).map(|o| {
                json!({"id": o.uid, "name": o.name, "displayName": o.name, "code": o.code,
                       "path": o.path})
            }),
            "OrganisationUnit",
        ),
    };
    match found {
        Some(v) => Reply::Json(200, v),
        None => not_found(&format!("{class} with id {uid} could not be found.")),
    }
}

fn attribute_json(a: &Attribute) -> Value {
    json!({
        "id": a.uid,
        "name": a.name,
        "displayName": a.name,
        "valueType": a.value_type,
        "unique": a.unique,
        "orgunitScope": a.orgunit_scope,
        "generated": a.generated,
        "pattern": a.pattern,
    })
}

/// An attribute reference with what the program check reads (`id`,
/// `unique`, `generated`, `valueType`); an attribute deleted since is
/// reduced to its `id`.
fn attribute_ref(g: &Inner, uid: &str) -> Value {
    g.attributes
        .get(uid)
        .map_or_else(|| json!({ "id": uid }), attribute_json)
}

fn program_json(g: &Inner, p: &Program) -> Value {
    let mut v = json!({
        "id": p.uid,
        "name": p.name,
        "displayName": p.name,
        "programType": p.program_type.as_str(),
        "displayIncidentDate": p.display_incident_date,
        "onlyEnrollOnce": p.only_enroll_once,
        "organisationUnits": p.org_units.iter().map(|o| json!({ "id": o })).collect::<Vec<_>>(),
        "programTrackedEntityAttributes": p.attributes.iter().map(|(a, mandatory)| json!({
            "mandatory": mandatory,
            "trackedEntityAttribute": attribute_ref(g, a),
        })).collect::<Vec<_>>(),
    });
    // Event programs have no tracked entity type at all.
    if let Some(t) = &p.tracked_entity_type {
        v["trackedEntityType"] = json!({ "id": t });
    }
    v
}

fn te_type_json(g: &Inner, t: &TrackedEntityType) -> Value {
    json!({
        "id": t.uid,
        "name": t.name,
        "displayName": t.name,
        "trackedEntityTypeAttributes": t.attributes.iter().map(|(a, mandatory)| json!({
            "mandatory": mandatory,
            "trackedEntityAttribute": attribute_ref(g, a),
        })).collect::<Vec<_>>(),
    })
}
