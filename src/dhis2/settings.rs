//! A number's DHIS-2 settings: as stored ([`Settings`]), as an
//! administrator types them on the number's page or an operator sets them
//! with the `DHIS2_*` variables ([`Input`], read by [`parse`]), and the
//! city-code -> org unit map ([`OrgUnitMap`]).
//!
//! Everything here is pure. The credential (a personal access token, or a
//! password) is never shown back: a credential field left empty keeps the
//! one stored. Problems name the field, never the value typed (it may be a
//! credential pasted in the wrong box).

pub use super::check::AttributeRole as Role;
use super::uid::Uid;
use crate::auth::Lang;
use crate::tenancy::channel_input::NewSecret;
use std::collections::BTreeMap;
use time::OffsetDateTime;

crate::text_enum! {
    /// How the server is asked: a personal access token
    /// (`Authorization: ApiToken d2pat_…`) or a user name and password.
    pub enum AuthKind("DHIS-2 authentication") {
        Token = "token",
        Basic = "basic",
    }
}

/// A number's DHIS-2 settings as stored (`dhis2_settings`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Settings {
    pub account_id: i64,
    pub tenant_id: i64,
    pub enabled: bool,
    pub base_url: String,
    pub auth_kind: AuthKind,
    pub username: String,
    /// The sealed credential (`secrets::Sealed` text), if set.
    pub credential: Option<String>,
    /// Its fingerprint (`secrets::fingerprint`): shows its last characters.
    pub credential_fp: Option<String>,
    pub program: String,
    pub tracked_entity_type: String,
    pub org_unit: String,
    pub org_unit_map: String,
    pub attr_uic: String,
    pub attr_last: String,
    pub attr_first: String,
    pub attr_year: String,
    pub attr_city: String,
    pub attr_gender: String,
    /// The version the server gave at the last call.
    pub server_version: Option<String>,
    /// The last problem that stopped every record (credentials refused,
    /// server unreachable), cleared by a success or a change of settings.
    pub last_problem: Option<String>,
    pub last_problem_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

impl Settings {
    /// The mapped attributes, the UIC's first (unset ones left out).
    pub fn attributes(&self) -> Vec<(Role, &str)> {
        [
            (Role::Uic, &self.attr_uic),
            (Role::LastName, &self.attr_last),
            (Role::FirstName, &self.attr_first),
            (Role::BirthYear, &self.attr_year),
            (Role::City, &self.attr_city),
            (Role::Gender, &self.attr_gender),
        ]
        .into_iter()
        .filter(|(_, a)| !a.is_empty())
        .map(|(r, a)| (r, a.as_str()))
        .collect()
    }

    /// The org unit of a person of this city code: the map's, else the
    /// default one; `None` when neither is set.
    pub fn org_unit_for(&self, city: &str) -> Option<String> {
        let map = OrgUnitMap::parse(&self.org_unit_map).unwrap_or_default();
        map.get(city)
            .map(str::to_string)
            .or_else(|| (!self.org_unit.is_empty()).then(|| self.org_unit.clone()))
    }

    /// Every org unit the settings name (the default and the map's).
    pub fn org_units(&self) -> Vec<String> {
        let mut all: Vec<String> = OrgUnitMap::parse(&self.org_unit_map)
            .unwrap_or_default()
            .0
            .into_values()
            .collect();
        if !self.org_unit.is_empty() {
            all.push(self.org_unit.clone());
        }
        all.sort();
        all.dedup();
        all
    }

    /// Complete enough to send: on, with a server, a credential, a
    /// program, a tracked entity type, the UIC attribute and an org unit.
    pub fn complete(&self) -> bool {
        !self.base_url.is_empty()
            && self.credential.is_some()
            && (self.auth_kind == AuthKind::Token || !self.username.is_empty())
            && !self.program.is_empty()
            && !self.tracked_entity_type.is_empty()
            && !self.attr_uic.is_empty()
            && !self.org_units().is_empty()
    }
}

/// City code (the UIC's two letters) -> org unit UID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgUnitMap(BTreeMap<String, String>);

/// Why a map was not read: the entry (1-based) that is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// Not `XX=uid`.
    Form(usize),
    /// The city code is not two letters.
    City(usize),
    /// Not a DHIS-2 UID.
    OrgUnit(usize),
    /// The city code came earlier in the map.
    Repeated(usize),
}

impl OrgUnitMap {
    /// Reads `KI=DiszpKrYNg8, LU=ImspTQPwCqd` (entries separated by
    /// commas, semicolons or line ends; city codes in any case).
    pub fn parse(s: &str) -> Result<OrgUnitMap, MapError> {
        let mut map = BTreeMap::new();
        let entries = s
            .split([',', ';', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for (i, entry) in entries.enumerate() {
            let n = i + 1;
            let (city, ou) = entry.split_once('=').ok_or(MapError::Form(n))?;
            let city = city.trim().to_ascii_uppercase();
            if city.len() != 2 || !city.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(MapError::City(n));
            }
            let ou = Uid::parse(ou.trim()).map_err(|_| MapError::OrgUnit(n))?;
            if map.insert(city, ou.as_str().to_string()).is_some() {
                return Err(MapError::Repeated(n));
            }
        }
        Ok(OrgUnitMap(map))
    }

    pub fn get(&self, city: &str) -> Option<&str> {
        self.0.get(city).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The stored form: `KI=DiszpKrYNg8, LU=ImspTQPwCqd`, sorted.
impl std::fmt::Display for OrgUnitMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (city, ou) in &self.0 {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{city}={ou}")?;
        }
        Ok(())
    }
}

/// What the form (or the environment) gives, as typed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Input<'a> {
    pub enabled: bool,
    pub base_url: &'a str,
    /// `token` or `basic`.
    pub auth_kind: &'a str,
    pub username: &'a str,
    /// Empty: keep the stored one.
    pub credential: &'a str,
    pub program: &'a str,
    pub tracked_entity_type: &'a str,
    pub org_unit: &'a str,
    pub org_unit_map: &'a str,
    pub attr_uic: &'a str,
    pub attr_last: &'a str,
    pub attr_first: &'a str,
    pub attr_year: &'a str,
    pub attr_city: &'a str,
    pub attr_gender: &'a str,
}

/// A field of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    BaseUrl,
    AuthKind,
    Username,
    Credential,
    Program,
    TrackedEntityType,
    OrgUnit,
    OrgUnitMap,
    Attribute(Role),
}

impl Field {
    /// The form field's name (also the `id` of its input).
    pub fn name(self) -> &'static str {
        match self {
            Field::BaseUrl => "base_url",
            Field::AuthKind => "auth_kind",
            Field::Username => "username",
            Field::Credential => "credential",
            Field::Program => "program",
            Field::TrackedEntityType => "tracked_entity_type",
            Field::OrgUnit => "org_unit",
            Field::OrgUnitMap => "org_unit_map",
            Field::Attribute(Role::Uic) => "attr_uic",
            Field::Attribute(Role::LastName) => "attr_last",
            Field::Attribute(Role::FirstName) => "attr_first",
            Field::Attribute(Role::BirthYear) => "attr_year",
            Field::Attribute(Role::City) => "attr_city",
            Field::Attribute(Role::Gender) => "attr_gender",
        }
    }

    /// The field's label.
    pub fn label(self, lang: Lang) -> &'static str {
        let (fr, en) = match self {
            Field::BaseUrl => ("Adresse du serveur DHIS-2", "DHIS-2 server address"),
            Field::AuthKind => ("Type d'identifiants", "Kind of credentials"),
            Field::Username => ("Nom d'utilisateur", "User name"),
            Field::Credential => (
                "Jeton d'accès personnel ou mot de passe",
                "Personal access token or password",
            ),
            Field::Program => ("Programme", "Program"),
            Field::TrackedEntityType => ("Type d'entité suivie", "Tracked entity type"),
            Field::OrgUnit => ("Unité d'organisation", "Org unit"),
            Field::OrgUnitMap => (
                "Unités d'organisation par code de ville",
                "Org units by city code",
            ),
            Field::Attribute(Role::Uic) => ("Attribut du CIU", "UIC attribute"),
            Field::Attribute(Role::LastName) => ("Attribut du nom", "Last name attribute"),
            Field::Attribute(Role::FirstName) => ("Attribut du prénom", "First name attribute"),
            Field::Attribute(Role::BirthYear) => {
                ("Attribut de l'année de naissance", "Birth year attribute")
            }
            Field::Attribute(Role::City) => ("Attribut de la ville", "City attribute"),
            Field::Attribute(Role::Gender) => ("Attribut du genre", "Gender attribute"),
        };
        match lang {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }
}

/// One problem with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Needed to turn the sync on, and neither typed nor already set.
    Missing(Field),
    /// Not of the field's form.
    Malformed(Field),
    /// An entry of the org unit map.
    Map(MapError),
}

impl Problem {
    pub fn field(self) -> Field {
        match self {
            Problem::Missing(f) | Problem::Malformed(f) => f,
            Problem::Map(_) => Field::OrgUnitMap,
        }
    }

    pub fn text(self, lang: Lang) -> String {
        let fr = matches!(lang, Lang::Fr);
        match self {
            Problem::Missing(Field::OrgUnit) if fr => {
                "Indiquez une unité d'organisation, ou une par code de ville.".into()
            }
            Problem::Missing(Field::OrgUnit) => "Give an org unit, or one per city code.".into(),
            Problem::Missing(f) if fr => format!("{} : à remplir pour activer l'envoi.", f.label(lang)),
            Problem::Missing(f) => format!("{}: needed to turn sending on.", f.label(lang)),
            Problem::Malformed(Field::BaseUrl) if fr => "Adresse du serveur DHIS-2 : une adresse http:// ou https:// (par exemple https://dhis2.example.org ou https://example.org/dhis), sans identifiants, paramètres ni fragment.".into(),
            Problem::Malformed(Field::BaseUrl) => "DHIS-2 server address: an http:// or https:// address (e.g. https://dhis2.example.org or https://example.org/dhis), without credentials, query or fragment.".into(),
            Problem::Malformed(Field::AuthKind) if fr => "Type d'identifiants : jeton (token) ou utilisateur et mot de passe (basic).".into(),
            Problem::Malformed(Field::AuthKind) => "Kind of credentials: token or basic.".into(),
            Problem::Malformed(Field::Username) if fr => "Nom d'utilisateur : 1 à 100 caractères visibles, sans espace.".into(),
            Problem::Malformed(Field::Username) => "User name: 1 to 100 visible characters, no space.".into(),
            Problem::Malformed(Field::Credential) if fr => "Jeton ou mot de passe : 1 à 256 caractères visibles ; un jeton d'accès personnel commence par d2pat_.".into(),
            Problem::Malformed(Field::Credential) => "Token or password: 1 to 256 visible characters; a personal access token starts with d2pat_.".into(),
            Problem::Malformed(f) if fr => format!(
                "{} : un identifiant DHIS-2 de 11 caractères (une lettre puis lettres et chiffres, par exemple IpHINAT79UW).",
                f.label(lang)
            ),
            Problem::Malformed(f) => format!(
                "{}: a DHIS-2 id of 11 characters (a letter, then letters and digits, e.g. IpHINAT79UW).",
                f.label(lang)
            ),
            Problem::Map(e) => {
                let (n, fr_why, en_why) = match e {
                    MapError::Form(n) => (n, "attendu CODE=identifiant, par exemple KI=DiszpKrYNg8", "expected CODE=id, e.g. KI=DiszpKrYNg8"),
                    MapError::City(n) => (n, "le code de ville a deux lettres", "the city code has two letters"),
                    MapError::OrgUnit(n) => (n, "l'unité d'organisation n'est pas un identifiant DHIS-2 de 11 caractères", "the org unit is not an 11-character DHIS-2 id"),
                    MapError::Repeated(n) => (n, "ce code de ville est déjà plus haut", "this city code appears earlier"),
                };
                if fr {
                    format!("Unités d'organisation par code de ville, entrée {n} : {fr_why}.")
                } else {
                    format!("Org units by city code, entry {n}: {en_why}.")
                }
            }
        }
    }
}

/// The settings the input describes, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub enabled: bool,
    pub base_url: String,
    pub auth_kind: AuthKind,
    pub username: String,
    pub credential: NewSecret,
    pub program: String,
    pub tracked_entity_type: String,
    pub org_unit: String,
    /// In its stored form.
    pub org_unit_map: String,
    pub attr_uic: String,
    pub attr_last: String,
    pub attr_first: String,
    pub attr_year: String,
    pub attr_city: String,
    pub attr_gender: String,
}

impl Change {
    /// The settings this change would store, not stored (the « Tester la
    /// connexion » button tests what is typed): `credential` is the sealed
    /// credential to use.
    pub fn to_settings(
        &self,
        account_id: i64,
        tenant_id: i64,
        credential: Option<String>,
        now: OffsetDateTime,
    ) -> Settings {
        Settings {
            account_id,
            tenant_id,
            enabled: self.enabled,
            base_url: self.base_url.clone(),
            auth_kind: self.auth_kind,
            username: self.username.clone(),
            credential,
            credential_fp: None,
            program: self.program.clone(),
            tracked_entity_type: self.tracked_entity_type.clone(),
            org_unit: self.org_unit.clone(),
            org_unit_map: self.org_unit_map.clone(),
            attr_uic: self.attr_uic.clone(),
            attr_last: self.attr_last.clone(),
            attr_first: self.attr_first.clone(),
            attr_year: self.attr_year.clone(),
            attr_city: self.attr_city.clone(),
            attr_gender: self.attr_gender.clone(),
            server_version: None,
            last_problem: None,
            last_problem_at: None,
            updated_at: now,
        }
    }
}

/// The longest server address accepted.
const URL_MAX: usize = 300;

/// A server address: http(s), a host, an optional path (a context such as
/// `/dhis`), no credentials, query or fragment, no space or control
/// character. Returned without its trailing slashes.
pub fn base_url(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() > URL_MAX || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let host = rest.split('/').next().unwrap_or("");
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !host_ok || rest.contains(['?', '#', '@', '\\']) {
        return None;
    }
    Some(s.trim_end_matches('/').to_string())
}

/// Reads the input: the settings, or every problem found (one per field).
/// `has_credential`: a credential is stored already (kept when the field is
/// empty). A sync turned off may be saved incomplete (set up in steps);
/// turned on, it must be complete.
pub fn parse(input: &Input<'_>, has_credential: bool) -> Result<Change, Vec<Problem>> {
    let mut problems = Vec::new();
    let on = input.enabled;
    let base_url = match input.base_url.trim() {
        "" => {
            if on {
                problems.push(Problem::Missing(Field::BaseUrl));
            }
            String::new()
        }
        s => base_url(s).unwrap_or_else(|| {
            problems.push(Problem::Malformed(Field::BaseUrl));
            String::new()
        }),
    };
    let auth_kind = match input.auth_kind.trim() {
        "" => AuthKind::Token,
        s => AuthKind::parse(s).unwrap_or_else(|| {
            problems.push(Problem::Malformed(Field::AuthKind));
            AuthKind::Token
        }),
    };
    let username = input.username.trim();
    let username = if auth_kind == AuthKind::Basic {
        if username.is_empty() {
            if on {
                problems.push(Problem::Missing(Field::Username));
            }
        } else if username.len() > 100 || !username.bytes().all(|b| b.is_ascii_graphic()) {
            problems.push(Problem::Malformed(Field::Username));
        }
        username.to_string()
    } else {
        String::new()
    };
    // A pasted credential often carries a line end or spaces around it.
    let credential = match input.credential.trim() {
        "" => {
            if on && !has_credential {
                problems.push(Problem::Missing(Field::Credential));
            }
            NewSecret::Keep
        }
        c if c.len() <= 256 && c.bytes().all(|b| b.is_ascii_graphic()) => {
            NewSecret::Set(c.to_string())
        }
        _ => {
            problems.push(Problem::Malformed(Field::Credential));
            NewSecret::Keep
        }
    };
    let mut uid = |value: &str, field: Field, required: bool| -> String {
        match value.trim() {
            "" => {
                if required {
                    problems.push(Problem::Missing(field));
                }
                String::new()
            }
            v => match Uid::parse(v) {
                Ok(u) => u.as_str().to_string(),
                Err(_) => {
                    problems.push(Problem::Malformed(field));
                    String::new()
                }
            },
        }
    };
    let program = uid(input.program, Field::Program, on);
    let tracked_entity_type = uid(input.tracked_entity_type, Field::TrackedEntityType, on);
    let org_unit = uid(input.org_unit, Field::OrgUnit, false);
    let attr_uic = uid(input.attr_uic, Field::Attribute(Role::Uic), on);
    let attr_last = uid(input.attr_last, Field::Attribute(Role::LastName), false);
    let attr_first = uid(input.attr_first, Field::Attribute(Role::FirstName), false);
    let attr_year = uid(input.attr_year, Field::Attribute(Role::BirthYear), false);
    let attr_city = uid(input.attr_city, Field::Attribute(Role::City), false);
    let attr_gender = uid(input.attr_gender, Field::Attribute(Role::Gender), false);
    let map = match OrgUnitMap::parse(input.org_unit_map) {
        Ok(m) => m,
        Err(e) => {
            problems.push(Problem::Map(e));
            OrgUnitMap::default()
        }
    };
    let map_failed = problems.iter().any(|p| matches!(p, Problem::Map(_)));
    let ou_typed = !input.org_unit.trim().is_empty();
    if on && !ou_typed && map.is_empty() && !map_failed {
        problems.push(Problem::Missing(Field::OrgUnit));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Change {
        enabled: on,
        base_url,
        auth_kind,
        username,
        credential,
        program,
        tracked_entity_type,
        org_unit,
        org_unit_map: map.to_string(),
        attr_uic,
        attr_last,
        attr_first,
        attr_year,
        attr_city,
        attr_gender,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Input<'static> {
        Input {
            enabled: true,
            base_url: " https://dhis2.example.org/dhis/ ",
            auth_kind: "token",
            username: "",
            credential: "d2pat_abc\n",
            program: "IpHINAT79UW",
            tracked_entity_type: "nEenWmSyUEp",
            org_unit: "DiszpKrYNg8",
            org_unit_map: "",
            attr_uic: "ciuAttr0001",
            ..Input::default()
        }
    }

    #[test]
    fn complete_settings_are_read_trimmed() {
        let c = parse(&full(), false).unwrap();
        assert_eq!(c.base_url, "https://dhis2.example.org/dhis");
        assert_eq!(c.credential, NewSecret::Set("d2pat_abc".into()));
        assert_eq!(c.auth_kind, AuthKind::Token);
        assert_eq!(c.attr_uic, "ciuAttr0001");
        assert_eq!(c.attr_last, "");
    }

    #[test]
    fn turning_on_needs_every_required_field() {
        let input = Input {
            enabled: true,
            ..Input::default()
        };
        let problems = parse(&input, false).unwrap_err();
        for f in [
            Field::BaseUrl,
            Field::Credential,
            Field::Program,
            Field::TrackedEntityType,
            Field::Attribute(Role::Uic),
            Field::OrgUnit,
        ] {
            assert!(
                problems.contains(&Problem::Missing(f)),
                "{f:?}: {problems:?}"
            );
        }
        // Off, an empty form is a valid draft.
        assert!(parse(&Input::default(), false).is_ok());
    }

    #[test]
    fn a_stored_credential_is_kept_when_the_field_is_empty() {
        let input = Input {
            credential: "",
            ..full()
        };
        assert_eq!(parse(&input, true).unwrap().credential, NewSecret::Keep);
        assert_eq!(
            parse(&input, false).unwrap_err(),
            vec![Problem::Missing(Field::Credential)]
        );
    }

    #[test]
    fn basic_auth_needs_a_user_name() {
        let input = Input {
            auth_kind: "basic",
            ..full()
        };
        assert_eq!(
            parse(&input, false).unwrap_err(),
            vec![Problem::Missing(Field::Username)]
        );
        let input = Input {
            auth_kind: "basic",
            username: "bot user",
            ..full()
        };
        assert_eq!(
            parse(&input, false).unwrap_err(),
            vec![Problem::Malformed(Field::Username)]
        );
    }

    #[test]
    fn hostile_values_are_refused_with_their_field() {
        for url in [
            "ftp://x.org",
            "https://",
            "https://user:pw@x.org",
            "https://x.org/?a=1",
            "https://x.org/#f",
            "https://x.org/a b",
            "https://x.org/\0",
            "javascript:alert(1)",
        ] {
            let input = Input {
                base_url: url,
                ..full()
            };
            assert_eq!(
                parse(&input, false).unwrap_err(),
                vec![Problem::Malformed(Field::BaseUrl)],
                "{url:?}"
            );
        }
        let long = format!("https://x.org/{}", "a".repeat(10_000));
        let input = Input {
            base_url: &long,
            ..full()
        };
        assert!(parse(&input, false).is_err());
        for bad in ["IpHINAT79U", "1pHINAT79UW", "IpHINAT79U\0", "IpHINAT79UWW"] {
            let input = Input {
                program: bad,
                ..full()
            };
            assert_eq!(
                parse(&input, false).unwrap_err(),
                vec![Problem::Malformed(Field::Program)]
            );
        }
        let input = Input {
            credential: "d2pat_\u{0}x",
            ..full()
        };
        assert_eq!(
            parse(&input, false).unwrap_err(),
            vec![Problem::Malformed(Field::Credential)]
        );
    }

    #[test]
    fn the_org_unit_map_is_read_and_kept_in_one_form() {
        let m = OrgUnitMap::parse("lu = ImspTQPwCqd;\nKI=DiszpKrYNg8,").unwrap();
        assert_eq!(m.to_string(), "KI=DiszpKrYNg8, LU=ImspTQPwCqd");
        assert_eq!(m.get("LU"), Some("ImspTQPwCqd"));
        assert_eq!(OrgUnitMap::parse("KI"), Err(MapError::Form(1)));
        assert_eq!(
            OrgUnitMap::parse("KI=DiszpKrYNg8, KIN=DiszpKrYNg8"),
            Err(MapError::City(2))
        );
        assert_eq!(OrgUnitMap::parse("KI=short"), Err(MapError::OrgUnit(1)));
        assert_eq!(
            OrgUnitMap::parse("KI=DiszpKrYNg8, ki=ImspTQPwCqd"),
            Err(MapError::Repeated(2))
        );
        // The map alone is enough of an org unit.
        let input = Input {
            org_unit: "",
            org_unit_map: "KI=DiszpKrYNg8",
            ..full()
        };
        assert_eq!(parse(&input, false).unwrap().org_unit_map, "KI=DiszpKrYNg8");
    }

    #[test]
    fn a_person_goes_to_the_org_unit_of_their_city_else_the_default() {
        let c = parse(
            &Input {
                org_unit_map: "KI=ImspTQPwCqd",
                ..full()
            },
            false,
        )
        .unwrap();
        let s = Settings {
            account_id: 1,
            tenant_id: 1,
            enabled: true,
            base_url: c.base_url,
            auth_kind: c.auth_kind,
            username: c.username,
            credential: Some("sealed".into()),
            credential_fp: None,
            program: c.program,
            tracked_entity_type: c.tracked_entity_type,
            org_unit: c.org_unit,
            org_unit_map: c.org_unit_map,
            attr_uic: c.attr_uic,
            attr_last: String::new(),
            attr_first: String::new(),
            attr_year: String::new(),
            attr_city: String::new(),
            attr_gender: String::new(),
            server_version: None,
            last_problem: None,
            last_problem_at: None,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(s.org_unit_for("KI").as_deref(), Some("ImspTQPwCqd"));
        assert_eq!(s.org_unit_for("LU").as_deref(), Some("DiszpKrYNg8"));
        assert_eq!(s.org_units(), vec!["DiszpKrYNg8", "ImspTQPwCqd"]);
        assert!(s.complete());
        assert_eq!(s.attributes(), vec![(Role::Uic, "ciuAttr0001")]);
    }

    #[test]
    fn every_problem_has_a_text_in_both_languages() {
        let problems = [
            Problem::Missing(Field::OrgUnit),
            Problem::Missing(Field::Program),
            Problem::Malformed(Field::BaseUrl),
            Problem::Malformed(Field::Attribute(Role::Gender)),
            Problem::Map(MapError::City(3)),
        ];
        for p in problems {
            let fr = p.text(Lang::Fr);
            let en = p.text(Lang::En);
            assert!(!fr.is_empty() && !en.is_empty() && fr != en, "{p:?}");
        }
        assert!(
            Problem::Map(MapError::City(3))
                .text(Lang::Fr)
                .contains("entrée 3")
        );
    }
}
