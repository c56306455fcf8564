//! The `DHIS2_*` variables of the prototype's `.env` (and the names other
//! deployment guides use): the DHIS-2 settings of the numbers the
//! environment describes (`TWILIO_*`, `META_*`), written at each start as
//! those numbers' own settings are.

use super::settings::{self, Input};
use crate::config::Secret;

/// The variables, as given (checked with `settings::parse` when read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dhis2Env {
    pub enabled: bool,
    pub base_url: String,
    pub auth_kind: String,
    pub username: String,
    pub credential: Option<Secret>,
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
}

impl Dhis2Env {
    /// As the settings form would send it.
    pub fn input(&self) -> Input<'_> {
        Input {
            enabled: self.enabled,
            base_url: &self.base_url,
            auth_kind: &self.auth_kind,
            username: &self.username,
            credential: self.credential.as_ref().map_or("", |c| c.expose_secret()),
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
}

/// Each setting's variables, the first set one read.
const NAMES: &[(&str, &[&str])] = &[
    (
        "base_url",
        &["DHIS2_BASE_URL", "DHIS2_URL", "DHIS2_API_URL"],
    ),
    ("token", &["DHIS2_TOKEN", "DHIS2_API_TOKEN", "DHIS2_PAT"]),
    ("username", &["DHIS2_USERNAME", "DHIS2_USER"]),
    ("password", &["DHIS2_PASSWORD"]),
    ("program", &["DHIS2_PROGRAM", "DHIS2_PROGRAM_ID"]),
    (
        "tracked_entity_type",
        &[
            "DHIS2_TRACKED_ENTITY_TYPE",
            "DHIS2_TEI_TYPE",
            "DHIS2_TRACKED_ENTITY_TYPE_ID",
        ],
    ),
    (
        "org_unit",
        &["DHIS2_ORG_UNIT", "DHIS2_ORG_UNIT_ID", "DHIS2_ORGUNIT"],
    ),
    ("org_unit_map", &["DHIS2_ORG_UNIT_MAP"]),
    (
        "attr_uic",
        &[
            "DHIS2_UIC_ATTRIBUTE",
            "DHIS2_ATTRIBUTE_UIC",
            "DHIS2_UIC_ATTRIBUTE_ID",
        ],
    ),
    ("attr_last", &["DHIS2_LAST_NAME_ATTRIBUTE"]),
    ("attr_first", &["DHIS2_FIRST_NAME_ATTRIBUTE"]),
    ("attr_year", &["DHIS2_BIRTH_YEAR_ATTRIBUTE"]),
    ("attr_city", &["DHIS2_CITY_ATTRIBUTE"]),
    ("attr_gender", &["DHIS2_GENDER_ATTRIBUTE"]),
    ("enabled", &["DHIS2_ENABLED", "DHIS2_SYNC_ENABLED"]),
];

/// Reads the variables: `None` when no `DHIS2_*` variable is set; the
/// settings (sync on unless `DHIS2_ENABLED` says otherwise) when they are
/// complete and well formed; else one problem line per field.
pub fn from_env<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    problems: &mut Vec<String>,
) -> Option<Dhis2Env> {
    let value = |key: &str| -> Option<(&'static str, &'a str)> {
        let (_, names) = NAMES.iter().find(|(k, _)| *k == key)?;
        names
            .iter()
            .find_map(|n| get(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))
    };
    let any = NAMES.iter().any(|(k, _)| value(k).is_some());
    if !any {
        return None;
    }
    let text = |key: &str| value(key).map_or(String::new(), |(_, v)| v.trim().to_string());
    let enabled = match value("enabled") {
        None => true,
        Some((name, v)) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => {
                problems.push(format!("{name}: {v:?} must be true or false"));
                true
            }
        },
    };
    let (auth_kind, credential) = match (value("token"), value("password")) {
        (Some(_), Some(_)) => {
            problems.push(
                "DHIS2_TOKEN and DHIS2_PASSWORD: set one of them (a personal access token, or DHIS2_USERNAME with DHIS2_PASSWORD)".into(),
            );
            ("token", None)
        }
        (Some((_, t)), None) => ("token", Some(Secret::new(t.trim()))),
        (None, Some((_, p))) => ("basic", Some(Secret::new(p.trim()))),
        (None, None) => ("token", None),
    };
    let env = Dhis2Env {
        enabled,
        base_url: text("base_url"),
        auth_kind: auth_kind.into(),
        username: text("username"),
        credential,
        program: text("program"),
        tracked_entity_type: text("tracked_entity_type"),
        org_unit: text("org_unit"),
        org_unit_map: text("org_unit_map"),
        attr_uic: text("attr_uic"),
        attr_last: text("attr_last"),
        attr_first: text("attr_first"),
        attr_year: text("attr_year"),
        attr_city: text("attr_city"),
        attr_gender: text("attr_gender"),
    };
    if let Err(found) = settings::parse(&env.input(), false) {
        for p in found {
            let field = p.field();
            let names = NAMES
                .iter()
                .find(|(k, _)| {
                    *k == field.name() || (field.name() == "credential" && *k == "token")
                })
                .map_or("DHIS2_*", |(_, n)| n[0]);
            let names = if field.name() == "credential" {
                "DHIS2_TOKEN (or DHIS2_USERNAME and DHIS2_PASSWORD)"
            } else {
                names
            };
            problems.push(format!("{names}: {}", p.text(crate::auth::Lang::En)));
        }
        return None;
    }
    Some(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> (Option<Dhis2Env>, Vec<String>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |k: &str| map.get(k).map(String::as_str);
        let mut problems = Vec::new();
        let env = from_env(&get, &mut problems);
        (env, problems)
    }

    const FULL: &[(&str, &str)] = &[
        ("DHIS2_URL", "https://dhis2.example.org/"),
        ("DHIS2_TOKEN", "d2pat_x"),
        ("DHIS2_PROGRAM", "IpHINAT79UW"),
        ("DHIS2_TRACKED_ENTITY_TYPE", "nEenWmSyUEp"),
        ("DHIS2_ORG_UNIT", "DiszpKrYNg8"),
        ("DHIS2_UIC_ATTRIBUTE", "ciuAttr0001"),
    ];

    #[test]
    fn no_variable_no_settings() {
        assert_eq!(read(&[("TWILIO_ACCOUNT_SID", "AC1")]), (None, vec![]));
    }

    #[test]
    fn complete_variables_turn_the_sync_on() {
        let (env, problems) = read(FULL);
        assert!(problems.is_empty(), "{problems:?}");
        let env = env.unwrap();
        assert!(env.enabled);
        assert_eq!(env.auth_kind, "token");
        let c = settings::parse(&env.input(), false).unwrap();
        assert_eq!(c.base_url, "https://dhis2.example.org");
    }

    #[test]
    fn a_user_and_password_are_basic_auth_and_both_credentials_are_refused() {
        let mut vars: Vec<(&str, &str)> = FULL
            .iter()
            .filter(|(k, _)| *k != "DHIS2_TOKEN")
            .copied()
            .collect();
        vars.push(("DHIS2_USERNAME", "bot"));
        vars.push(("DHIS2_PASSWORD", "pw"));
        let (env, problems) = read(&vars);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(env.unwrap().auth_kind, "basic");
        vars.push(("DHIS2_TOKEN", "d2pat_x"));
        let (_, problems) = read(&vars);
        assert!(
            problems[0].starts_with("DHIS2_TOKEN and DHIS2_PASSWORD"),
            "{problems:?}"
        );
    }

    #[test]
    fn incomplete_or_malformed_variables_name_the_variable() {
        let (env, problems) = read(&[("DHIS2_BASE_URL", "ftp://x")]);
        assert!(env.is_none());
        assert!(
            problems.iter().any(|p| p.starts_with("DHIS2_BASE_URL:")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("DHIS2_PROGRAM:")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("DHIS2_TOKEN (or")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("DHIS2_UIC_ATTRIBUTE:")),
            "{problems:?}"
        );
        // Off, an incomplete set is kept as a draft.
        let (env, problems) = read(&[
            ("DHIS2_BASE_URL", "https://x.org"),
            ("DHIS2_ENABLED", "false"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(!env.unwrap().enabled);
    }
}
