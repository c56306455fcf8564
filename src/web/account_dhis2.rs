//! A number's DHIS-2 settings, on its page: seen with `dhis2.view` or
//! `dhis2.manage` on the number, changed with `dhis2.manage`. The
//! credential (a personal access token or a password) is never sent back:
//! the page shows its last four characters, and a field left empty keeps
//! it. What the form means is read in `dhis2::settings`; storing it is
//! `dhis2::store::save`.

use super::account_channel::last4;
use super::{Form, Routes, Staff, WebResult, see_other};
use crate::AppState;
use crate::auth::{Permission, Scope};
use crate::dhis2::Settings;
use crate::dhis2::settings::{self, AuthKind, Change, Field, Input, Problem, Role};
use crate::dhis2::store;
use crate::secrets::{Purpose, Sealed};
use crate::tenancy::Account;
use crate::tenancy::channel_input::NewSecret;
use axum::extract::{Path, State};
use serde::Deserialize;
use time::OffsetDateTime;

pub fn routes(r: Routes) -> Routes {
    r.post("/accounts/{id}/dhis2", save)
        .post("/accounts/{id}/dhis2/test", test)
}

/// « Tester la connexion »'s answer.
#[derive(askama::Template)]
#[template(path = "dhis2/_test.html")]
struct TestResult {
    t: &'static super::texts::Texts,
    ok: bool,
    version: Option<String>,
    lines: Vec<String>,
}

/// Tests the settings as typed (the credential left empty: the stored one)
/// against the number's DHIS-2, saving nothing: credentials, version,
/// program, type, org units and attributes, each problem named.
async fn test(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Dhis2Form>,
) -> WebResult {
    let account = super::accounts::load(&state, &staff, id).await?;
    let access = staff.require(Permission::Dhis2Manage, Scope::Account(account.id))?;
    let stored = store::settings(&state.db, &access, id).await?;
    let stored_credential = stored.as_ref().and_then(|s| s.credential.clone());
    let answer = |ok, version, lines| {
        super::layout::page(TestResult {
            t: staff.t(),
            ok,
            version,
            lines,
        })
    };
    let problems = too_long(&staff, &f);
    if !problems.is_empty() {
        return answer(false, None, problems.into_iter().map(|(_, p)| p).collect());
    }
    // Tested as if turned on: everything needed to send is asked for.
    let mut input = f.input();
    input.enabled = true;
    let change = match settings::parse(&input, stored_credential.is_some()) {
        Ok(c) => c,
        Err(found) => {
            return answer(
                false,
                None,
                found.into_iter().map(|p| p.text(staff.lang)).collect(),
            );
        }
    };
    let credential = match &change.credential {
        NewSecret::Set(v) => Some(
            state
                .secrets
                .seal(Purpose::Dhis2Credential, v)
                .as_str()
                .to_string(),
        ),
        NewSecret::Keep => stored_credential,
    };
    let s = change.to_settings(
        account.id,
        account.tenant_id,
        credential,
        OffsetDateTime::now_utc(),
    );
    match crate::dhis2::command::test(&state.checks.dhis2, &s, &state.secrets).await {
        Ok(report) => answer(
            report.usable(),
            report.version.clone(),
            report.problems.iter().map(|p| p.text(staff.lang)).collect(),
        ),
        Err(u) => answer(false, None, vec![u.text(staff.lang)]),
    }
}

/// One field of the form: its name, label, value and problem.
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    pub problem: Option<String>,
}

/// What the number's page shows of its DHIS-2 settings.
pub struct Dhis2View {
    pub can_manage: bool,
    pub enabled: bool,
    /// `token` or `basic`.
    pub auth_kind: &'static str,
    pub base_url: FieldView,
    pub auth: FieldView,
    pub username: FieldView,
    /// Never a value: `stored` says what is kept.
    pub credential: FieldView,
    /// « …abcd »: the stored credential's last four characters.
    pub stored: Option<String>,
    pub org_unit_map: FieldView,
    /// Program, tracked entity type, org unit.
    pub ids: Vec<FieldView>,
    /// The six attributes.
    pub attributes: Vec<FieldView>,
    pub server_version: Option<String>,
    pub last_problem: Option<String>,
}

/// The form as sent.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Dhis2Form {
    enabled: String,
    base_url: String,
    auth_kind: String,
    username: String,
    credential: String,
    program: String,
    tracked_entity_type: String,
    org_unit: String,
    org_unit_map: String,
    attr_uic: String,
    attr_last: String,
    attr_first: String,
    attr_year: String,
    attr_city: String,
    attr_gender: String,
}

impl Dhis2Form {
    fn of(s: &Settings) -> Dhis2Form {
        Dhis2Form {
            enabled: if s.enabled {
                "on".into()
            } else {
                String::new()
            },
            base_url: s.base_url.clone(),
            auth_kind: s.auth_kind.as_str().into(),
            username: s.username.clone(),
            credential: String::new(),
            program: s.program.clone(),
            tracked_entity_type: s.tracked_entity_type.clone(),
            org_unit: s.org_unit.clone(),
            // One entry a line in the textarea.
            org_unit_map: s.org_unit_map.replace(", ", "\n"),
            attr_uic: s.attr_uic.clone(),
            attr_last: s.attr_last.clone(),
            attr_first: s.attr_first.clone(),
            attr_year: s.attr_year.clone(),
            attr_city: s.attr_city.clone(),
            attr_gender: s.attr_gender.clone(),
        }
    }

    fn enabled(&self) -> bool {
        !matches!(self.enabled.trim(), "" | "0" | "off" | "false")
    }

    fn input(&self) -> Input<'_> {
        Input {
            enabled: self.enabled(),
            base_url: &self.base_url,
            auth_kind: &self.auth_kind,
            username: &self.username,
            credential: &self.credential,
            program: &self.program,
            tracked_entity_type: &self.tracked_entity_type,
            org_unit: &self.org_unit,
            org_unit_map: &self.org_unit_map,
            attr_uic: &self.attr_uic,
            attr_last: &self.attr_last,
            attr_first: &self.attr_first,
            attr_year: &self.attr_year,
            attr_city: &self.attr_city,
            attr_gender: &self.attr_gender,
        }
    }

    /// Every field with what was typed, in the form's order.
    fn fields(&self) -> [(Field, &str); 14] {
        [
            (Field::BaseUrl, &self.base_url),
            (Field::AuthKind, &self.auth_kind),
            (Field::Username, &self.username),
            (Field::Credential, &self.credential),
            (Field::Program, &self.program),
            (Field::TrackedEntityType, &self.tracked_entity_type),
            (Field::OrgUnit, &self.org_unit),
            (Field::OrgUnitMap, &self.org_unit_map),
            (Field::Attribute(Role::Uic), &self.attr_uic),
            (Field::Attribute(Role::LastName), &self.attr_last),
            (Field::Attribute(Role::FirstName), &self.attr_first),
            (Field::Attribute(Role::BirthYear), &self.attr_year),
            (Field::Attribute(Role::City), &self.attr_city),
            (Field::Attribute(Role::Gender), &self.attr_gender),
        ]
    }
}

/// The longest value a field takes: what `settings::parse` accepts, with
/// room for spaces around it. The user name matters only with basic
/// authentication, so `parse` does not look at it otherwise; a long value
/// is refused here whatever the kind.
fn max_len(f: Field) -> usize {
    match f {
        Field::OrgUnitMap => 4000,
        Field::BaseUrl | Field::Credential => 400,
        _ => 200,
    }
}

/// A field's problem in the staff member's language.
type Problems = Vec<(Field, String)>;

/// The fields too long for their kind.
fn over_long(f: &Dhis2Form) -> Vec<Field> {
    f.fields()
        .into_iter()
        .filter(|(field, v)| v.chars().count() > max_len(*field))
        .map(|(field, _)| field)
        .collect()
}

/// Fields too long for their kind, said (checked before anything is
/// parsed).
fn too_long(staff: &Staff, f: &Dhis2Form) -> Problems {
    over_long(f)
        .into_iter()
        .map(|field| {
            let label = field.label(staff.lang);
            let text = match staff.lang {
                crate::auth::Lang::Fr => format!("{label} : {}", staff.t().d2_too_long),
                crate::auth::Lang::En => format!("{label}: {}", staff.t().d2_too_long),
            };
            (field, text)
        })
        .collect()
}

impl Dhis2View {
    /// The section for this number, `None` for those who may not see it.
    pub async fn of(state: &AppState, staff: &Staff, a: &Account) -> WebResult<Option<Dhis2View>> {
        let scope = Scope::Account(a.id);
        let access = match staff.require(Permission::Dhis2Manage, scope) {
            Ok(access) => access,
            Err(_) => match staff.require(Permission::Dhis2View, scope) {
                Ok(access) => access,
                Err(_) => return Ok(None),
            },
        };
        let stored = store::settings(&state.db, &access, a.id).await?;
        let form = stored.as_ref().map(Dhis2Form::of).unwrap_or_default();
        Ok(Some(view(state, staff, a, stored.as_ref(), &form, &[])))
    }
}

/// The stored credential's last four characters, opened only for those
/// who may change it.
fn credential_end(state: &AppState, s: &Settings) -> Option<String> {
    let sealed = Sealed::parse(s.credential.as_deref()?).ok()?;
    let plain = state.secrets.open(Purpose::Dhis2Credential, &sealed).ok()?;
    Some(last4(plain.expose_secret()))
}

fn view(
    state: &AppState,
    staff: &Staff,
    a: &Account,
    stored: Option<&Settings>,
    f: &Dhis2Form,
    problems: &[(Field, String)],
) -> Dhis2View {
    let can_manage = staff.can(Permission::Dhis2Manage, Scope::Account(a.id));
    let field = |field: Field, value: &str| FieldView {
        name: field.name(),
        label: field.label(staff.lang),
        // The credential is never written back into the page.
        value: if field == Field::Credential {
            String::new()
        } else {
            value.to_string()
        },
        problem: problems
            .iter()
            .filter(|(p, _)| *p == field)
            .map(|(_, text)| text.clone())
            .reduce(|a, b| format!("{a} {b}")),
    };
    let fields = f.fields();
    let at = |i: usize| field(fields[i].0, fields[i].1);
    Dhis2View {
        can_manage,
        enabled: f.enabled(),
        auth_kind: match AuthKind::parse(f.auth_kind.trim()) {
            Some(AuthKind::Basic) => "basic",
            _ => "token",
        },
        base_url: at(0),
        auth: at(1),
        username: at(2),
        credential: at(3),
        stored: stored
            .filter(|_| can_manage)
            .and_then(|s| credential_end(state, s)),
        ids: vec![at(4), at(5), at(6)],
        org_unit_map: at(7),
        attributes: (8..14).map(at).collect(),
        server_version: stored.and_then(|s| s.server_version.clone()),
        last_problem: stored.and_then(|s| s.last_problem.clone()),
    }
}

/// Reads one text setting.
type Getter = fn(&Settings) -> &str;

/// The names of the fields a change alters (never a value), and whether
/// the credential was replaced.
fn changed(before: Option<&Settings>, c: &Change) -> Vec<&'static str> {
    let mut names = Vec::new();
    let old = |get: fn(&Settings) -> &str| before.map(get).unwrap_or("");
    if before.map(|s| s.enabled).unwrap_or(false) != c.enabled {
        names.push("enabled");
    }
    if before.map(|s| s.auth_kind).unwrap_or(AuthKind::Token) != c.auth_kind {
        names.push("auth_kind");
    }
    let texts: [(&'static str, Getter, &str); 12] = [
        ("base_url", |s| &s.base_url, &c.base_url),
        ("username", |s| &s.username, &c.username),
        ("program", |s| &s.program, &c.program),
        (
            "tracked_entity_type",
            |s| &s.tracked_entity_type,
            &c.tracked_entity_type,
        ),
        ("org_unit", |s| &s.org_unit, &c.org_unit),
        ("org_unit_map", |s| &s.org_unit_map, &c.org_unit_map),
        ("attr_uic", |s| &s.attr_uic, &c.attr_uic),
        ("attr_last", |s| &s.attr_last, &c.attr_last),
        ("attr_first", |s| &s.attr_first, &c.attr_first),
        ("attr_year", |s| &s.attr_year, &c.attr_year),
        ("attr_city", |s| &s.attr_city, &c.attr_city),
        ("attr_gender", |s| &s.attr_gender, &c.attr_gender),
    ];
    for (name, get, new) in texts {
        if old(get) != new {
            names.push(name);
        }
    }
    names
}

async fn save(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<Dhis2Form>,
) -> WebResult {
    // Another tenant's number is a 404 before anything else is said.
    let account = super::accounts::load(&state, &staff, id).await?;
    let access = staff.require(Permission::Dhis2Manage, Scope::Account(id))?;
    let before = store::settings(&state.db, &access, id).await?;
    let has_credential = before.as_ref().is_some_and(|s| s.credential.is_some());
    let mut problems = too_long(&staff, &f);
    let change = if problems.is_empty() {
        match settings::parse(&f.input(), has_credential) {
            Ok(c) => Some(c),
            Err(found) => {
                problems.extend(
                    found
                        .into_iter()
                        .map(|p: Problem| (p.field(), p.text(staff.lang))),
                );
                None
            }
        }
    } else {
        None
    };
    let Some(change) = change else {
        let v = view(&state, &staff, &account, before.as_ref(), &f, &problems);
        let error = staff.t().d2_not_saved.to_string();
        return super::accounts::render_with_dhis2(&state, &staff, account, v, error).await;
    };
    let now = OffsetDateTime::now_utc();
    if store::save(&state.db, &state.secrets, &access, id, &change, now)
        .await?
        .is_none()
    {
        return Err(staff.not_found());
    }
    let mut names = changed(before.as_ref(), &change).join(", ");
    if matches!(change.credential, NewSecret::Set(_)) {
        if !names.is_empty() {
            names.push_str(" · ");
        }
        names.push_str("identifiant remplacé");
    }
    if names.is_empty() {
        names.push_str("aucun changement");
    }
    staff
        .audit(&state, "dhis2.settings", format!("account:{id}"), names)
        .await?;
    staff.flash(staff.t().d2_saved).await;
    see_other(&format!("/accounts/{id}#dhis2"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhis2::settings::parse;

    fn input(program: &str, credential: &'static str) -> Dhis2Form {
        Dhis2Form {
            enabled: "on".into(),
            base_url: "https://dhis2.example.org".into(),
            auth_kind: "token".into(),
            credential: credential.into(),
            program: program.into(),
            tracked_entity_type: "nEenWmSyUEp".into(),
            org_unit: "DiszpKrYNg8".into(),
            attr_uic: "ciuAttr0001".into(),
            ..Dhis2Form::default()
        }
    }

    fn stored(f: &Dhis2Form) -> Settings {
        let c = parse(&f.input(), false).unwrap();
        Settings {
            account_id: 1,
            tenant_id: 1,
            enabled: c.enabled,
            base_url: c.base_url,
            auth_kind: c.auth_kind,
            username: c.username,
            credential: Some("sealed".into()),
            credential_fp: Some("fp".into()),
            program: c.program,
            tracked_entity_type: c.tracked_entity_type,
            org_unit: c.org_unit,
            org_unit_map: c.org_unit_map,
            attr_uic: c.attr_uic,
            attr_last: c.attr_last,
            attr_first: c.attr_first,
            attr_year: c.attr_year,
            attr_city: c.attr_city,
            attr_gender: c.attr_gender,
            server_version: None,
            last_problem: None,
            last_problem_at: None,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn only_the_fields_that_change_are_named() {
        let first = input("IpHINAT79UW", "d2pat_first");
        let c = parse(&first.input(), false).unwrap();
        assert_eq!(
            changed(None, &c),
            vec![
                "enabled",
                "base_url",
                "program",
                "tracked_entity_type",
                "org_unit",
                "attr_uic"
            ]
        );
        let before = stored(&first);
        let same = parse(&input("IpHINAT79UW", "").input(), true).unwrap();
        assert!(changed(Some(&before), &same).is_empty());
        let other = parse(&input("WSGAb5XwJ3Y", "").input(), true).unwrap();
        assert_eq!(changed(Some(&before), &other), vec!["program"]);
    }

    #[test]
    fn a_stored_settings_form_shows_the_map_one_entry_a_line() {
        let mut s = stored(&input("IpHINAT79UW", "d2pat_x"));
        s.org_unit_map = "KI=DiszpKrYNg8, LU=ImspTQPwCqd".into();
        let f = Dhis2Form::of(&s);
        assert_eq!(f.org_unit_map, "KI=DiszpKrYNg8\nLU=ImspTQPwCqd");
        assert_eq!(f.credential, "", "never the credential");
        assert!(f.enabled());
    }

    #[test]
    fn over_long_values_are_refused_for_every_field() {
        let long = "a".repeat(10_000);
        for i in 0..14 {
            let mut f = input("IpHINAT79UW", "");
            let name = f.fields()[i].0.name();
            let slot = match name {
                "base_url" => &mut f.base_url,
                "auth_kind" => &mut f.auth_kind,
                "username" => &mut f.username,
                "credential" => &mut f.credential,
                "program" => &mut f.program,
                "tracked_entity_type" => &mut f.tracked_entity_type,
                "org_unit" => &mut f.org_unit,
                "org_unit_map" => &mut f.org_unit_map,
                "attr_uic" => &mut f.attr_uic,
                "attr_last" => &mut f.attr_last,
                "attr_first" => &mut f.attr_first,
                "attr_year" => &mut f.attr_year,
                "attr_city" => &mut f.attr_city,
                "attr_gender" => &mut f.attr_gender,
                other => panic!("{other}"),
            };
            *slot = long.clone();
            let names: Vec<&str> = over_long(&f).into_iter().map(Field::name).collect();
            assert_eq!(names, vec![name]);
            assert!(over_long(&input("IpHINAT79UW", "")).is_empty());
        }
    }
}
