//! The settings check of a DHIS-2 connection ([`check`]): can we sign in,
//! is the version one we know, and will an enrollment of the configured
//! program, tracked entity type, org units and attributes be accepted
//! (reference C.2). Each thing wrong is a precise [`Problem`] naming the
//! UID, in French or English.
//!
//! [`check`] only fetches; the verdict ([`assess`]) and where each attribute
//! goes ([`Placement::from_metadata`], also used by the sync) are pure.

use super::client::{Connection, Dhis2Client, Dhis2Error};
use super::uid::Uid;
use super::wire::{
    AttributeInfo, AttributeValue, OrgUnitInfo, ProgramInfo, ProgramType, TrackedEntityTypeInfo,
    Version,
};
use crate::auth::Lang;

/// What a mapped DHIS-2 attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttributeRole {
    /// The code itself: required.
    Uic,
    LastName,
    FirstName,
    BirthYear,
    City,
    Gender,
}

impl AttributeRole {
    /// Every role, the code's first.
    pub const ALL: [AttributeRole; 6] = [
        AttributeRole::Uic,
        AttributeRole::LastName,
        AttributeRole::FirstName,
        AttributeRole::BirthYear,
        AttributeRole::City,
        AttributeRole::Gender,
    ];

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (AttributeRole::Uic, Lang::Fr) => "CIU",
            (AttributeRole::Uic, Lang::En) => "UIC",
            (AttributeRole::LastName, Lang::Fr) => "nom",
            (AttributeRole::LastName, Lang::En) => "last name",
            (AttributeRole::FirstName, Lang::Fr) => "prénom",
            (AttributeRole::FirstName, Lang::En) => "first name",
            (AttributeRole::BirthYear, Lang::Fr) => "année de naissance",
            (AttributeRole::BirthYear, Lang::En) => "birth year",
            (AttributeRole::City, Lang::Fr) => "ville",
            (AttributeRole::City, Lang::En) => "city",
            (AttributeRole::Gender, Lang::Fr) => "genre",
            (AttributeRole::Gender, Lang::En) => "gender",
        }
    }

    /// The DHIS-2 value types that accept what the bot writes for this
    /// role (others fail with E1007): text for the code and the names, text
    /// or a whole number for the year and the gender digit.
    pub fn accepts(self, value_type: &str) -> bool {
        const TEXT: &[&str] = &["TEXT", "LONG_TEXT"];
        const NUMBER: &[&str] = &[
            "TEXT",
            "LONG_TEXT",
            "NUMBER",
            "INTEGER",
            "INTEGER_POSITIVE",
            "INTEGER_ZERO_OR_POSITIVE",
        ];
        let allowed = match self {
            AttributeRole::Uic
            | AttributeRole::LastName
            | AttributeRole::FirstName
            | AttributeRole::City => TEXT,
            AttributeRole::BirthYear | AttributeRole::Gender => NUMBER,
        };
        allowed.contains(&value_type.trim().to_ascii_uppercase().as_str())
    }
}

/// What to check: the tenant's DHIS-2 settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInput {
    pub program: Uid,
    pub tracked_entity_type: Uid,
    pub org_units: Vec<Uid>,
    /// Which attribute holds what; the UIC is required, the others not.
    pub attributes: Vec<(AttributeRole, Uid)>,
}

/// Where an attribute value goes in an import (C.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// A tracked entity type attribute: on the tracked entity.
    TrackedEntity,
    /// A program attribute only: on the enrollment (E1019 otherwise).
    Enrollment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedAttribute {
    pub role: AttributeRole,
    pub attribute: Uid,
    pub slot: Slot,
}

/// How the sync builds an import for this program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub attributes: Vec<PlacedAttribute>,
    /// Mapped attributes of neither the type nor the program: sending them
    /// would fail the import, so they are left out.
    pub unplaced: Vec<(AttributeRole, Uid)>,
    /// The program shows the incident date: `occurredAt` is mandatory
    /// (E1023).
    pub needs_occurred_at: bool,
}

impl Placement {
    /// TE-type attributes go on the tracked entity (even when the program
    /// lists them too: DHIS-2 counts them for the program's mandatory
    /// ones), program-only attributes on the enrollment.
    pub fn from_metadata(
        program: &ProgramInfo,
        tracked_entity_type: &TrackedEntityTypeInfo,
        mapping: &[(AttributeRole, Uid)],
    ) -> Placement {
        let mut attributes = Vec::new();
        let mut unplaced = Vec::new();
        for (role, attribute) in mapping {
            let slot = if tracked_entity_type.has_attribute(attribute.as_str()) {
                Slot::TrackedEntity
            } else if program.attribute(attribute.as_str()).is_some() {
                Slot::Enrollment
            } else {
                unplaced.push((*role, attribute.clone()));
                continue;
            };
            attributes.push(PlacedAttribute {
                role: *role,
                attribute: attribute.clone(),
                slot,
            });
        }
        Placement {
            attributes,
            unplaced,
            needs_occurred_at: program.display_incident_date,
        }
    }

    /// The bot's values split into the tracked entity's and the
    /// enrollment's attributes; values of roles not mapped, or not placed,
    /// are left out.
    pub fn split_values(
        &self,
        values: &[(AttributeRole, String)],
    ) -> (Vec<AttributeValue>, Vec<AttributeValue>) {
        let mut on_entity = Vec::new();
        let mut on_enrollment = Vec::new();
        for (role, value) in values {
            let Some((attribute, slot)) = self.slot(*role) else {
                continue;
            };
            let value = AttributeValue {
                attribute: attribute.clone(),
                value: value.clone(),
            };
            match slot {
                Slot::TrackedEntity => on_entity.push(value),
                Slot::Enrollment => on_enrollment.push(value),
            }
        }
        (on_entity, on_enrollment)
    }

    /// The attribute and slot of a role, if it is mapped and placed.
    pub fn slot(&self, role: AttributeRole) -> Option<(&Uid, Slot)> {
        self.attributes
            .iter()
            .find(|p| p.role == role)
            .map(|p| (&p.attribute, p.slot))
    }
}

/// One precise thing wrong with the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No attribute is mapped to the UIC.
    NoUicAttribute,
    /// One role mapped to two attributes.
    RoleMappedTwice(AttributeRole),
    /// One attribute mapped to two roles.
    AttributeMappedTwice(Uid),
    NoOrgUnit,
    /// The server refuses the credentials (HTTP 401).
    BadCredentials,
    /// The address answers, but not as a DHIS-2 server (404 or unreadable
    /// `/api/system/info`): a wrong address or context path.
    NotDhis2 {
        detail: String,
    },
    /// A call failed otherwise (network, server error, redirect, refusal).
    Call(Dhis2Error),
    /// Outside 2.38-2.41: may work, not tested (a warning).
    UnsupportedVersion {
        version: String,
    },
    ProgramMissing(Uid),
    /// An event program: no enrollment possible (E1014).
    ProgramWithoutRegistration(Uid),
    /// The program enrolls another tracked entity type (E1022).
    ProgramOtherType {
        program: Uid,
        expected: Uid,
        actual: Option<String>,
    },
    TrackedEntityTypeMissing(Uid),
    OrgUnitMissing(Uid),
    /// E1041 on every enrollment there.
    OrgUnitNotInProgram {
        org_unit: Uid,
        program: Uid,
    },
    AttributeMissing {
        role: AttributeRole,
        attribute: Uid,
    },
    /// The UIC attribute is not unique: DHIS-2 would not refuse a second
    /// person with the same code (E1064), so collisions go unseen (a
    /// warning).
    UicNotUnique(Uid),
    /// The UIC attribute is minted by DHIS-2 from a pattern: entries made
    /// in DHIS-2 would get other codes than the bot's (a warning).
    UicGenerated(Uid),
    /// The attribute's value type does not take the bot's values (E1007).
    ValueTypeMismatch {
        role: AttributeRole,
        attribute: Uid,
        value_type: String,
    },
    /// Neither a tracked entity type attribute nor a program attribute
    /// (E1019).
    AttributeNotInProgram {
        role: AttributeRole,
        attribute: Uid,
        program: Uid,
        tracked_entity_type: Uid,
    },
    /// A mandatory attribute without a value from the bot: every import
    /// would fail (E1090 for the type, E1018 for the program).
    MandatoryNotMapped {
        attribute: String,
        of: Slot,
    },
}

impl Problem {
    /// A warning leaves the settings usable; any other problem does not.
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            Problem::UnsupportedVersion { .. }
                | Problem::UicNotUnique(_)
                | Problem::UicGenerated(_)
        )
    }

    /// The text shown to staff, French or English.
    pub fn text(&self, lang: Lang) -> String {
        let fr = lang == Lang::Fr;
        let pick = |f: String, e: String| if fr { f } else { e };
        match self {
            Problem::NoUicAttribute => pick(
                "Aucun attribut DHIS-2 n'est choisi pour le CIU : il est obligatoire.".into(),
                "No DHIS-2 attribute is chosen for the UIC: it is required.".into(),
            ),
            Problem::RoleMappedTwice(role) => pick(
                format!(
                    "Deux attributs sont choisis pour « {} » : gardez-en un seul.",
                    role.label(lang)
                ),
                format!(
                    "Two attributes are chosen for \"{}\": keep only one.",
                    role.label(lang)
                ),
            ),
            Problem::AttributeMappedTwice(uid) => pick(
                format!("L'attribut {uid} est choisi pour deux informations différentes."),
                format!("The attribute {uid} is chosen for two different items."),
            ),
            Problem::NoOrgUnit => pick(
                "Aucune unité d'organisation n'est choisie.".into(),
                "No organisation unit is chosen.".into(),
            ),
            Problem::BadCredentials => pick(
                "DHIS-2 refuse les identifiants : vérifiez le jeton d'accès (expiré ? révoqué ?) ou le nom d'utilisateur et le mot de passe.".into(),
                "DHIS-2 rejects the credentials: check the access token (expired? revoked?) or the user name and password.".into(),
            ),
            Problem::NotDhis2 { detail } => pick(
                format!(
                    "Cette adresse ne répond pas comme un serveur DHIS-2 ({detail}) : vérifiez l'adresse et son chemin (par exemple https://exemple.org/dhis)."
                ),
                format!(
                    "This address does not answer as a DHIS-2 server ({detail}): check the address and its path (for example https://example.org/dhis)."
                ),
            ),
            Problem::Call(error) => error.text(lang),
            Problem::UnsupportedVersion { version } => pick(
                format!(
                    "Le serveur est en version {version} : seules les versions 2.38 à 2.41 ont été vérifiées. La synchronisation peut fonctionner, sans garantie."
                ),
                format!(
                    "The server runs version {version}: only versions 2.38 to 2.41 were verified. Synchronisation may work, without guarantee."
                ),
            ),
            Problem::ProgramMissing(uid) => pick(
                format!("Le programme {uid} n'existe pas ou n'est pas lisible par cet utilisateur."),
                format!("The program {uid} does not exist or this user cannot read it."),
            ),
            Problem::ProgramWithoutRegistration(uid) => pick(
                format!(
                    "Le programme {uid} est un programme d'événements (sans inscription) : il faut un programme tracker « avec inscription »."
                ),
                format!(
                    "The program {uid} is an event program (without registration): a tracker program \"with registration\" is needed."
                ),
            ),
            Problem::ProgramOtherType {
                program,
                expected,
                actual,
            } => {
                let actual = actual.as_deref().unwrap_or("?");
                pick(
                    format!(
                        "Le programme {program} inscrit des entités de type {actual}, pas {expected} : corrigez le type d'entité suivie."
                    ),
                    format!(
                        "The program {program} enrolls tracked entities of type {actual}, not {expected}: correct the tracked entity type."
                    ),
                )
            }
            Problem::TrackedEntityTypeMissing(uid) => pick(
                format!(
                    "Le type d'entité suivie {uid} n'existe pas ou n'est pas lisible par cet utilisateur."
                ),
                format!("The tracked entity type {uid} does not exist or this user cannot read it."),
            ),
            Problem::OrgUnitMissing(uid) => pick(
                format!(
                    "L'unité d'organisation {uid} n'existe pas ou n'est pas lisible par cet utilisateur."
                ),
                format!(
                    "The organisation unit {uid} does not exist or this user cannot read it."
                ),
            ),
            Problem::OrgUnitNotInProgram { org_unit, program } => pick(
                format!(
                    "L'unité d'organisation {org_unit} n'est pas affectée au programme {program}."
                ),
                format!(
                    "The organisation unit {org_unit} is not assigned to the program {program}."
                ),
            ),
            Problem::AttributeMissing { role, attribute } => pick(
                format!(
                    "L'attribut {attribute} (« {} ») n'existe pas ou n'est pas lisible par cet utilisateur.",
                    role.label(lang)
                ),
                format!(
                    "The attribute {attribute} (\"{}\") does not exist or this user cannot read it.",
                    role.label(lang)
                ),
            ),
            Problem::UicNotUnique(uid) => pick(
                format!(
                    "L'attribut {uid} du CIU n'est pas marqué « unique » dans DHIS-2 : deux personnes au même CIU ne seraient pas signalées."
                ),
                format!(
                    "The UIC attribute {uid} is not marked \"unique\" in DHIS-2: two people with the same UIC would not be flagged."
                ),
            ),
            Problem::UicGenerated(uid) => pick(
                format!(
                    "L'attribut {uid} du CIU est généré par DHIS-2 (modèle TextPattern) : les saisies faites dans DHIS-2 recevraient d'autres codes que ceux du bot."
                ),
                format!(
                    "The UIC attribute {uid} is generated by DHIS-2 (TextPattern): entries made in DHIS-2 would get other codes than the bot's."
                ),
            ),
            Problem::ValueTypeMismatch {
                role,
                attribute,
                value_type,
            } => pick(
                format!(
                    "L'attribut {attribute} (« {} ») est de type {value_type}, qui n'accepte pas les valeurs du bot : il faut un type texte{}.",
                    role.label(lang),
                    if role.accepts("INTEGER") { " ou nombre entier" } else { "" }
                ),
                format!(
                    "The attribute {attribute} (\"{}\") has the type {value_type}, which does not take the bot's values: a text{} type is needed.",
                    role.label(lang),
                    if role.accepts("INTEGER") { " or integer" } else { "" }
                ),
            ),
            Problem::AttributeNotInProgram {
                role,
                attribute,
                program,
                tracked_entity_type,
            } => pick(
                format!(
                    "L'attribut {attribute} (« {} ») n'est ni un attribut du type d'entité suivie {tracked_entity_type} ni un attribut du programme {program}.",
                    role.label(lang)
                ),
                format!(
                    "The attribute {attribute} (\"{}\") is neither an attribute of the tracked entity type {tracked_entity_type} nor of the program {program}.",
                    role.label(lang)
                ),
            ),
            Problem::MandatoryNotMapped { attribute, of } => {
                let (whose_fr, whose_en) = match of {
                    Slot::TrackedEntity => ("dans le type d'entité suivie", "in the tracked entity type"),
                    Slot::Enrollment => ("dans le programme", "in the program"),
                };
                pick(
                    format!(
                        "L'attribut {attribute} est obligatoire {whose_fr} mais le bot ne le remplit pas : chaque envoi serait refusé. Associez-le à une information ou rendez-le facultatif."
                    ),
                    format!(
                        "The attribute {attribute} is mandatory {whose_en} but the bot does not fill it: every import would be refused. Map it or make it optional."
                    ),
                )
            }
        }
    }
}

/// The check's outcome: usable when every problem is a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The server's version as it gave it, once reached.
    pub version: Option<String>,
    /// Where each attribute goes, once program and type were read.
    pub placement: Option<Placement>,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn usable(&self) -> bool {
        self.problems.iter().all(Problem::is_warning)
    }
}

/// What the check read; `None` or a missing entry: not read (an earlier
/// failure made it pointless).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fetched {
    pub program: Option<Result<ProgramInfo, Dhis2Error>>,
    pub tracked_entity_type: Option<Result<TrackedEntityTypeInfo, Dhis2Error>>,
    pub org_units: Vec<(Uid, Result<OrgUnitInfo, Dhis2Error>)>,
    pub attributes: Vec<(Uid, Result<AttributeInfo, Dhis2Error>)>,
}

/// Checks the settings against the server, in order: address and
/// credentials, version, program, type, org units, attributes. Stops at
/// the first failure that makes the rest meaningless (unreachable server,
/// refused credentials).
pub async fn check(client: &Dhis2Client, conn: &Connection, input: &CheckInput) -> CheckReport {
    let mut problems = input_problems(input);
    let info = match client.system_info(conn).await {
        Ok(info) => info,
        Err(e) => {
            problems.push(system_problem(e));
            return CheckReport {
                version: None,
                placement: None,
                problems,
            };
        }
    };
    let mut fetched = Fetched::default();
    // Each step runs only while the server answers usefully.
    'fetch: {
        let program = client.program(conn, &input.program).await;
        let stop = program.as_ref().is_err_and(stops_the_check);
        fetched.program = Some(program);
        if stop {
            break 'fetch;
        }
        let tet = client
            .tracked_entity_type(conn, &input.tracked_entity_type)
            .await;
        let stop = tet.as_ref().is_err_and(stops_the_check);
        fetched.tracked_entity_type = Some(tet);
        if stop {
            break 'fetch;
        }
        for unit in &input.org_units {
            let found = client.org_unit(conn, unit).await;
            let stop = found.as_ref().is_err_and(stops_the_check);
            fetched.org_units.push((unit.clone(), found));
            if stop {
                break 'fetch;
            }
        }
        for (_, attribute) in &input.attributes {
            if fetched.attributes.iter().any(|(a, _)| a == attribute) {
                continue;
            }
            let found = client.attribute(conn, attribute).await;
            let stop = found.as_ref().is_err_and(stops_the_check);
            fetched.attributes.push((attribute.clone(), found));
            if stop {
                break 'fetch;
            }
        }
    }
    let (placement, more) = assess(input, info.version, &fetched);
    for p in more {
        push(&mut problems, p);
    }
    CheckReport {
        version: Some(info.raw_version),
        placement,
        problems,
    }
}

/// Problems of the settings themselves, before any call.
pub fn input_problems(input: &CheckInput) -> Vec<Problem> {
    let mut out = Vec::new();
    if !input
        .attributes
        .iter()
        .any(|(r, _)| *r == AttributeRole::Uic)
    {
        out.push(Problem::NoUicAttribute);
    }
    for (i, (role, attribute)) in input.attributes.iter().enumerate() {
        let earlier = &input.attributes[..i];
        if earlier.iter().any(|(r, _)| r == role) {
            push(&mut out, Problem::RoleMappedTwice(*role));
        }
        if earlier.iter().any(|(_, a)| a == attribute) {
            push(&mut out, Problem::AttributeMappedTwice(attribute.clone()));
        }
    }
    if input.org_units.is_empty() {
        out.push(Problem::NoOrgUnit);
    }
    out
}

/// The verdict on what was read (pure): the placement, when program and
/// type were read, and the problems in the order of the checks.
pub fn assess(
    input: &CheckInput,
    version: Version,
    fetched: &Fetched,
) -> (Option<Placement>, Vec<Problem>) {
    let mut out = Vec::new();
    if !version.supported() {
        out.push(Problem::UnsupportedVersion {
            version: version.to_string(),
        });
    }
    let program = match &fetched.program {
        Some(Ok(p)) => {
            if p.program_type != ProgramType::WithRegistration {
                out.push(Problem::ProgramWithoutRegistration(input.program.clone()));
            } else if p.tracked_entity_type.as_deref() != Some(input.tracked_entity_type.as_str()) {
                out.push(Problem::ProgramOtherType {
                    program: input.program.clone(),
                    expected: input.tracked_entity_type.clone(),
                    actual: p.tracked_entity_type.clone(),
                });
            }
            Some(p)
        }
        Some(Err(e)) => {
            push(
                &mut out,
                missing_or(e, Problem::ProgramMissing(input.program.clone())),
            );
            None
        }
        None => None,
    };
    let tet = match &fetched.tracked_entity_type {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            let missing = Problem::TrackedEntityTypeMissing(input.tracked_entity_type.clone());
            push(&mut out, missing_or(e, missing));
            None
        }
        None => None,
    };
    for (unit, found) in &fetched.org_units {
        match found {
            Err(e) => push(
                &mut out,
                missing_or(e, Problem::OrgUnitMissing(unit.clone())),
            ),
            Ok(_) => {
                if let Some(p) = program
                    && !p.org_units.iter().any(|o| o == unit.as_str())
                {
                    out.push(Problem::OrgUnitNotInProgram {
                        org_unit: unit.clone(),
                        program: input.program.clone(),
                    });
                }
            }
        }
    }
    for (role, attribute) in &input.attributes {
        let Some((_, found)) = fetched.attributes.iter().find(|(a, _)| a == attribute) else {
            continue;
        };
        let info = match found {
            Ok(info) => info,
            Err(e) => {
                let missing = Problem::AttributeMissing {
                    role: *role,
                    attribute: attribute.clone(),
                };
                push(&mut out, missing_or(e, missing));
                continue;
            }
        };
        if *role == AttributeRole::Uic {
            if !info.unique {
                out.push(Problem::UicNotUnique(attribute.clone()));
            }
            if info.generated {
                out.push(Problem::UicGenerated(attribute.clone()));
            }
        }
        if !role.accepts(&info.value_type) {
            out.push(Problem::ValueTypeMismatch {
                role: *role,
                attribute: attribute.clone(),
                value_type: info.value_type.clone(),
            });
        }
        if let (Some(p), Some(t)) = (program, tet)
            && !t.has_attribute(attribute.as_str())
            && p.attribute(attribute.as_str()).is_none()
        {
            out.push(Problem::AttributeNotInProgram {
                role: *role,
                attribute: attribute.clone(),
                program: input.program.clone(),
                tracked_entity_type: input.tracked_entity_type.clone(),
            });
        }
    }
    let mapped = |id: &str| input.attributes.iter().any(|(_, a)| a.as_str() == id);
    if let Some(t) = tet {
        for (id, mandatory) in &t.attributes {
            if *mandatory && !mapped(id) {
                push(
                    &mut out,
                    Problem::MandatoryNotMapped {
                        attribute: id.clone(),
                        of: Slot::TrackedEntity,
                    },
                );
            }
        }
    }
    if let Some(p) = program {
        for a in &p.attributes {
            // One mandatory in both is already named for the type.
            let named = tet.is_some_and(|t| t.attributes.iter().any(|(id, m)| *m && *id == a.id));
            if a.mandatory && !mapped(&a.id) && !named {
                push(
                    &mut out,
                    Problem::MandatoryNotMapped {
                        attribute: a.id.clone(),
                        of: Slot::Enrollment,
                    },
                );
            }
        }
    }
    let placement = match (program, tet) {
        (Some(p), Some(t)) => Some(Placement::from_metadata(p, t, &input.attributes)),
        _ => None,
    };
    (placement, out)
}

/// An error after which nothing more is learned: the server is down or
/// has stopped accepting us.
fn stops_the_check(e: &Dhis2Error) -> bool {
    e.retryable()
        || matches!(
            e,
            Dhis2Error::Unauthorized { .. }
                | Dhis2Error::Redirected { .. }
                | Dhis2Error::Address { .. }
        )
}

/// The problem of a failed `/api/system/info`.
fn system_problem(e: Dhis2Error) -> Problem {
    match e {
        Dhis2Error::Unauthorized { .. } => Problem::BadCredentials,
        Dhis2Error::NotFound { .. } => Problem::NotDhis2 {
            detail: "HTTP 404".into(),
        },
        Dhis2Error::Unexpected { status, detail, .. } => Problem::NotDhis2 {
            detail: format!("HTTP {status}, {detail}"),
        },
        other => Problem::Call(other),
    }
}

/// An object the server will not show (404, or 403 for lack of sharing)
/// is `missing`; other failures are what they are.
fn missing_or(e: &Dhis2Error, missing: Problem) -> Problem {
    match e {
        Dhis2Error::NotFound { .. } | Dhis2Error::Forbidden { .. } => missing,
        Dhis2Error::Unauthorized { .. } => Problem::BadCredentials,
        other => Problem::Call(other.clone()),
    }
}

fn push(out: &mut Vec<Problem>, p: Problem) {
    if !out.contains(&p) {
        out.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhis2::client::{Auth, Endpoint};
    use std::sync::{Arc, Mutex};

    fn uid(s: &str) -> Uid {
        Uid::parse(s).unwrap()
    }

    const PROGRAM: &str = r#"{"id":"IpHINAT79UW","programType":"WITH_REGISTRATION",
        "trackedEntityType":{"id":"nEenWmSyUEp"},"displayIncidentDate":true,"onlyEnrollOnce":true,
        "organisationUnits":[{"id":"DiszpKrYNg8"},{"id":"ImspTQPwCqd"}],
        "programTrackedEntityAttributes":[
          {"mandatory":true,"trackedEntityAttribute":{"id":"ciuAttr0001","unique":true,"generated":false}},
          {"mandatory":false,"trackedEntityAttribute":{"id":"gndrAttr001","unique":false,"generated":false}},
          {"mandatory":true,"trackedEntityAttribute":{"id":"consent0001","unique":false,"generated":false}}]}"#;

    const TET: &str = r#"{"id":"nEenWmSyUEp","trackedEntityTypeAttributes":[
        {"mandatory":false,"trackedEntityAttribute":{"id":"ciuAttr0001"}},
        {"mandatory":false,"trackedEntityAttribute":{"id":"lastName001"}},
        {"mandatory":true,"trackedEntityAttribute":{"id":"w75KJ2mc4zz"}}]}"#;

    fn attribute(id: &str, value_type: &str, unique: bool, generated: bool) -> AttributeInfo {
        AttributeInfo::parse(
            format!(
                r#"{{"id":"{id}","valueType":"{value_type}","unique":{unique},"orgunitScope":false,"generated":{generated}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn input() -> CheckInput {
        CheckInput {
            program: uid("IpHINAT79UW"),
            tracked_entity_type: uid("nEenWmSyUEp"),
            org_units: vec![uid("DiszpKrYNg8")],
            attributes: vec![
                (AttributeRole::Uic, uid("ciuAttr0001")),
                (AttributeRole::LastName, uid("lastName001")),
                (AttributeRole::Gender, uid("gndrAttr001")),
                (AttributeRole::FirstName, uid("w75KJ2mc4zz")),
                (AttributeRole::BirthYear, uid("consent0001")),
            ],
        }
    }

    /// Everything read and in order.
    fn fetched() -> Fetched {
        Fetched {
            program: Some(Ok(ProgramInfo::parse(PROGRAM.as_bytes()).unwrap())),
            tracked_entity_type: Some(Ok(TrackedEntityTypeInfo::parse(TET.as_bytes()).unwrap())),
            org_units: vec![(
                uid("DiszpKrYNg8"),
                Ok(OrgUnitInfo {
                    id: "DiszpKrYNg8".into(),
                    name: "Ngelehun CHC".into(),
                }),
            )],
            attributes: vec![
                (
                    uid("ciuAttr0001"),
                    Ok(attribute("ciuAttr0001", "TEXT", true, false)),
                ),
                (
                    uid("lastName001"),
                    Ok(attribute("lastName001", "TEXT", false, false)),
                ),
                (
                    uid("gndrAttr001"),
                    Ok(attribute("gndrAttr001", "INTEGER_POSITIVE", false, false)),
                ),
                (
                    uid("w75KJ2mc4zz"),
                    Ok(attribute("w75KJ2mc4zz", "LONG_TEXT", false, false)),
                ),
                (
                    uid("consent0001"),
                    Ok(attribute("consent0001", "NUMBER", false, false)),
                ),
            ],
        }
    }

    const V2_40: Version = Version::new(2, 40, 4);

    #[test]
    fn good_settings_have_no_problem_and_a_placement() {
        let (placement, problems) = assess(&input(), V2_40, &fetched());
        assert_eq!(problems, vec![]);
        let placement = placement.unwrap();
        assert_eq!(
            placement,
            Placement {
                attributes: vec![
                    PlacedAttribute {
                        role: AttributeRole::Uic,
                        attribute: uid("ciuAttr0001"),
                        slot: Slot::TrackedEntity
                    },
                    PlacedAttribute {
                        role: AttributeRole::LastName,
                        attribute: uid("lastName001"),
                        slot: Slot::TrackedEntity
                    },
                    PlacedAttribute {
                        role: AttributeRole::Gender,
                        attribute: uid("gndrAttr001"),
                        slot: Slot::Enrollment
                    },
                    PlacedAttribute {
                        role: AttributeRole::FirstName,
                        attribute: uid("w75KJ2mc4zz"),
                        slot: Slot::TrackedEntity
                    },
                    PlacedAttribute {
                        role: AttributeRole::BirthYear,
                        attribute: uid("consent0001"),
                        slot: Slot::Enrollment
                    },
                ],
                unplaced: vec![],
                needs_occurred_at: true,
            }
        );
        assert_eq!(
            placement.slot(AttributeRole::Gender),
            Some((&uid("gndrAttr001"), Slot::Enrollment))
        );
        assert_eq!(placement.slot(AttributeRole::City), None);
    }

    #[test]
    fn values_are_split_between_the_entity_and_the_enrollment() {
        let (placement, _) = assess(&input(), V2_40, &fetched());
        let value = |a: &str, v: &str| AttributeValue {
            attribute: uid(a),
            value: v.into(),
        };
        let (on_entity, on_enrollment) = placement.unwrap().split_values(&[
            (AttributeRole::Uic, "MBEIBR7DA1".into()),
            (AttributeRole::Gender, "2".into()),
            (AttributeRole::FirstName, "Ibrahima".into()),
            // Not mapped: left out.
            (AttributeRole::City, "BR".into()),
        ]);
        assert_eq!(
            on_entity,
            vec![
                value("ciuAttr0001", "MBEIBR7DA1"),
                value("w75KJ2mc4zz", "Ibrahima")
            ]
        );
        assert_eq!(on_enrollment, vec![value("gndrAttr001", "2")]);
    }

    #[test]
    fn an_attribute_of_neither_is_unplaced_and_reported() {
        let mut input = input();
        input
            .attributes
            .push((AttributeRole::City, uid("cityAttr001")));
        let mut fetched = fetched();
        fetched.attributes.push((
            uid("cityAttr001"),
            Ok(attribute("cityAttr001", "TEXT", false, false)),
        ));
        let (placement, problems) = assess(&input, V2_40, &fetched);
        assert_eq!(
            placement.unwrap().unplaced,
            vec![(AttributeRole::City, uid("cityAttr001"))]
        );
        assert_eq!(
            problems,
            vec![Problem::AttributeNotInProgram {
                role: AttributeRole::City,
                attribute: uid("cityAttr001"),
                program: uid("IpHINAT79UW"),
                tracked_entity_type: uid("nEenWmSyUEp"),
            }]
        );
        assert_eq!(
            problems[0].text(Lang::Fr),
            "L'attribut cityAttr001 (« ville ») n'est ni un attribut du type d'entité suivie nEenWmSyUEp ni un attribut du programme IpHINAT79UW."
        );
    }

    #[test]
    fn unmapped_mandatory_attributes_are_named_once_each() {
        let mut input = input();
        // Neither the TE type's mandatory first name nor the program's
        // mandatory consent is mapped any more.
        input.attributes.truncate(3);
        let (_, problems) = assess(&input, V2_40, &fetched());
        assert_eq!(
            problems,
            vec![
                Problem::MandatoryNotMapped {
                    attribute: "w75KJ2mc4zz".into(),
                    of: Slot::TrackedEntity
                },
                Problem::MandatoryNotMapped {
                    attribute: "consent0001".into(),
                    of: Slot::Enrollment
                },
            ]
        );
        assert!(problems[1].text(Lang::Fr).starts_with(
            "L'attribut consent0001 est obligatoire dans le programme mais le bot ne le remplit pas"
        ));
    }

    #[test]
    fn program_setup_problems() {
        let mut fetched = fetched();
        let event = ProgramInfo::parse(
            br#"{"id":"IpHINAT79UW","programType":"WITHOUT_REGISTRATION","organisationUnits":[{"id":"DiszpKrYNg8"}]}"#,
        )
        .unwrap();
        fetched.program = Some(Ok(event));
        let (_, problems) = assess(&input(), V2_40, &fetched);
        assert_eq!(
            problems[0],
            Problem::ProgramWithoutRegistration(uid("IpHINAT79UW"))
        );

        let mut fetched = self::fetched();
        let other = PROGRAM.replace(r#"{"id":"nEenWmSyUEp"}"#, r#"{"id":"MCPQUTHX1Ze"}"#);
        fetched.program = Some(Ok(ProgramInfo::parse(other.as_bytes()).unwrap()));
        let (_, problems) = assess(&input(), V2_40, &fetched);
        assert_eq!(
            problems,
            vec![Problem::ProgramOtherType {
                program: uid("IpHINAT79UW"),
                expected: uid("nEenWmSyUEp"),
                actual: Some("MCPQUTHX1Ze".into()),
            }]
        );
        assert_eq!(
            problems[0].text(Lang::En),
            "The program IpHINAT79UW enrolls tracked entities of type MCPQUTHX1Ze, not nEenWmSyUEp: correct the tracked entity type."
        );
    }

    #[test]
    fn missing_objects_and_unassigned_org_units_are_named() {
        let mut input = input();
        input.org_units.push(uid("ImspTQPwCqd"));
        input.org_units.push(uid("OtherUnit01"));
        input.org_units.push(uid("GoneUnit001"));
        let mut fetched = fetched();
        let unit = |id: &str| {
            Ok(OrgUnitInfo {
                id: id.into(),
                name: id.into(),
            })
        };
        fetched
            .org_units
            .push((uid("ImspTQPwCqd"), unit("ImspTQPwCqd")));
        fetched
            .org_units
            .push((uid("OtherUnit01"), unit("OtherUnit01")));
        fetched.org_units.push((
            uid("GoneUnit001"),
            Err(Dhis2Error::NotFound {
                endpoint: Endpoint::OrgUnit,
            }),
        ));
        fetched.attributes[1].1 = Err(Dhis2Error::Forbidden {
            endpoint: Endpoint::Attribute,
            message: "no read access".into(),
        });
        let (_, problems) = assess(&input, V2_40, &fetched);
        assert_eq!(
            problems,
            vec![
                Problem::OrgUnitNotInProgram {
                    org_unit: uid("OtherUnit01"),
                    program: uid("IpHINAT79UW")
                },
                Problem::OrgUnitMissing(uid("GoneUnit001")),
                Problem::AttributeMissing {
                    role: AttributeRole::LastName,
                    attribute: uid("lastName001")
                },
            ]
        );
        assert_eq!(
            problems[0].text(Lang::Fr),
            "L'unité d'organisation OtherUnit01 n'est pas affectée au programme IpHINAT79UW."
        );
        assert_eq!(
            problems[1].text(Lang::Fr),
            "L'unité d'organisation GoneUnit001 n'existe pas ou n'est pas lisible par cet utilisateur."
        );

        let mut fetched = self::fetched();
        fetched.program = Some(Err(Dhis2Error::NotFound {
            endpoint: Endpoint::Program,
        }));
        fetched.tracked_entity_type = Some(Err(Dhis2Error::NotFound {
            endpoint: Endpoint::TrackedEntityType,
        }));
        let (placement, problems) = assess(&self::input(), V2_40, &fetched);
        assert_eq!(placement, None);
        assert_eq!(
            problems,
            vec![
                Problem::ProgramMissing(uid("IpHINAT79UW")),
                Problem::TrackedEntityTypeMissing(uid("nEenWmSyUEp")),
            ]
        );
        assert_eq!(
            problems[0].text(Lang::Fr),
            "Le programme IpHINAT79UW n'existe pas ou n'est pas lisible par cet utilisateur."
        );
    }

    #[test]
    fn uic_attribute_rules_and_value_types() {
        let mut fetched = fetched();
        fetched.attributes[0].1 = Ok(attribute("ciuAttr0001", "TEXT", false, true));
        fetched.attributes[2].1 = Ok(attribute("gndrAttr001", "DATE", false, false));
        let (placement, problems) = assess(&input(), Version::new(2, 42, 0), &fetched);
        assert!(placement.is_some());
        assert_eq!(
            problems,
            vec![
                Problem::UnsupportedVersion {
                    version: "2.42.0".into()
                },
                Problem::UicNotUnique(uid("ciuAttr0001")),
                Problem::UicGenerated(uid("ciuAttr0001")),
                Problem::ValueTypeMismatch {
                    role: AttributeRole::Gender,
                    attribute: uid("gndrAttr001"),
                    value_type: "DATE".into()
                },
            ]
        );
        let warnings: Vec<bool> = problems.iter().map(Problem::is_warning).collect();
        assert_eq!(warnings, [true, true, true, false]);
        assert_eq!(
            problems[3].text(Lang::Fr),
            "L'attribut gndrAttr001 (« genre ») est de type DATE, qui n'accepte pas les valeurs du bot : il faut un type texte ou nombre entier."
        );
        assert!(AttributeRole::Uic.accepts("text"));
        assert!(!AttributeRole::Uic.accepts("INTEGER"));
        assert!(AttributeRole::BirthYear.accepts("INTEGER_ZERO_OR_POSITIVE"));
        assert!(!AttributeRole::City.accepts("LETTER"));
    }

    #[test]
    fn settings_are_checked_before_any_call() {
        let input = CheckInput {
            program: uid("IpHINAT79UW"),
            tracked_entity_type: uid("nEenWmSyUEp"),
            org_units: vec![],
            attributes: vec![
                (AttributeRole::City, uid("cityAttr001")),
                (AttributeRole::City, uid("cityAttr002")),
                (AttributeRole::Gender, uid("cityAttr001")),
            ],
        };
        assert_eq!(
            input_problems(&input),
            vec![
                Problem::NoUicAttribute,
                Problem::RoleMappedTwice(AttributeRole::City),
                Problem::AttributeMappedTwice(uid("cityAttr001")),
                Problem::NoOrgUnit,
            ]
        );
        assert_eq!(
            Problem::RoleMappedTwice(AttributeRole::City).text(Lang::Fr),
            "Deux attributs sont choisis pour « ville » : gardez-en un seul."
        );
    }

    #[test]
    fn other_failures_keep_their_cause_and_a_report_is_usable_with_warnings_only() {
        let down = Dhis2Error::Server {
            endpoint: Endpoint::Program,
            status: 502,
        };
        let mut fetched = Fetched {
            program: Some(Err(down.clone())),
            ..Fetched::default()
        };
        let (placement, problems) = assess(&input(), V2_40, &fetched);
        assert_eq!(
            (placement, problems),
            (None, vec![Problem::Call(down.clone())])
        );
        assert!(stops_the_check(&down));
        assert!(!stops_the_check(&Dhis2Error::NotFound {
            endpoint: Endpoint::Program
        }));
        fetched.program = Some(Err(Dhis2Error::Unauthorized {
            endpoint: Endpoint::Program,
        }));
        assert_eq!(
            assess(&input(), V2_40, &fetched).1,
            vec![Problem::BadCredentials]
        );

        let report = |problems| CheckReport {
            version: Some("2.42.0".into()),
            placement: None,
            problems,
        };
        assert!(report(vec![Problem::UicNotUnique(uid("ciuAttr0001"))]).usable());
        assert!(!report(vec![Problem::NoOrgUnit]).usable());
        assert_eq!(
            system_problem(Dhis2Error::Unexpected {
                endpoint: Endpoint::SystemInfo,
                status: 200,
                detail: "the answer is not a JSON object".into()
            }),
            Problem::NotDhis2 {
                detail: "HTTP 200, the answer is not a JSON object".into()
            }
        );
    }

    /// A server answering the fixtures, counting calls; any other
    /// credentials than `good` get a 401.
    async fn spawn_server(calls: Arc<Mutex<Vec<String>>>) -> String {
        use axum::http::{HeaderMap, StatusCode, Uri, header};
        use axum::response::IntoResponse;
        let handler = move |uri: Uri, headers: HeaderMap| {
            let calls = calls.clone();
            async move {
                let path = uri.path().trim_start_matches("/api/").to_string();
                calls.lock().unwrap().push(path.clone());
                let json = |body: String| {
                    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
                };
                if headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    != Some("ApiToken good-pat-0000")
                {
                    return (StatusCode::UNAUTHORIZED, "{}").into_response();
                }
                let attribute = |id: &str, value_type: &str| {
                    format!(r#"{{"id":"{id}","valueType":"{value_type}","unique":true}}"#)
                };
                match path.as_str() {
                    "system/info" => json(r#"{"version":"2.41.1"}"#.into()),
                    "programs/IpHINAT79UW" => json(PROGRAM.into()),
                    "trackedEntityTypes/nEenWmSyUEp" => json(TET.into()),
                    "organisationUnits/DiszpKrYNg8" => {
                        json(r#"{"id":"DiszpKrYNg8","name":"Ngelehun CHC"}"#.into())
                    }
                    "trackedEntityAttributes/gndrAttr001" => {
                        json(attribute("gndrAttr001", "INTEGER"))
                    }
                    "trackedEntityAttributes/consent0001" => {
                        json(attribute("consent0001", "NUMBER"))
                    }
                    p if p.starts_with("trackedEntityAttributes/") => json(attribute(
                        p.trim_start_matches("trackedEntityAttributes/"),
                        "TEXT",
                    )),
                    _ => StatusCode::NOT_FOUND.into_response(),
                }
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(handler);
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn the_check_reads_everything_in_order_or_stops_at_refused_credentials() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let base = spawn_server(calls.clone()).await;
        let client = Dhis2Client::new(std::time::Duration::from_secs(5));
        let conn = |pat: &str| {
            Connection::new(&base, Auth::Token(secrecy::SecretString::from(pat))).unwrap()
        };
        let report = check(&client, &conn("good-pat-0000"), &input()).await;
        assert_eq!(report.problems, vec![]);
        assert_eq!(report.version.as_deref(), Some("2.41.1"));
        assert_eq!(
            report.placement,
            assess(&input(), Version::new(2, 41, 1), &fetched()).0
        );
        assert_eq!(
            *calls.lock().unwrap(),
            [
                "system/info",
                "programs/IpHINAT79UW",
                "trackedEntityTypes/nEenWmSyUEp",
                "organisationUnits/DiszpKrYNg8",
                "trackedEntityAttributes/ciuAttr0001",
                "trackedEntityAttributes/lastName001",
                "trackedEntityAttributes/gndrAttr001",
                "trackedEntityAttributes/w75KJ2mc4zz",
                "trackedEntityAttributes/consent0001",
            ]
        );

        calls.lock().unwrap().clear();
        let report = check(&client, &conn("expired-pat-000"), &input()).await;
        assert_eq!(report.problems, vec![Problem::BadCredentials]);
        assert_eq!(*calls.lock().unwrap(), ["system/info"]);
    }

    #[tokio::test]
    async fn an_unreachable_server_stops_the_check_at_the_first_call() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let conn = Connection::new(
            &format!("http://{addr}"),
            Auth::Token(secrecy::SecretString::from("d2pat_unused")),
        )
        .unwrap();
        let client = Dhis2Client::new(std::time::Duration::from_secs(5));
        let report = check(&client, &conn, &input()).await;
        assert_eq!((&report.version, &report.placement), (&None, &None));
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            matches!(
                &report.problems[0],
                Problem::Call(Dhis2Error::Network {
                    endpoint: Endpoint::SystemInfo,
                    ..
                })
            ),
            "{:?}",
            report.problems
        );
        assert!(!report.usable());
    }
}
