//! The fake's own tests, over real HTTP (reqwest), one group per rule of the
//! reference's C.10 list.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

const UIC: &str = "MBEIBR7DA1";
const TE_1: &str = "Kj6vYde4LHh";
const TE_2: &str = "Gjaiu3ea38E";
const EN_1: &str = "MNWZ6hnuhSw";
const EN_2: &str = "Qmx4RWsV3Pq";
/// A well-formed UID nothing has.
const NOBODY: &str = "AAAAAAAAAAA";

async fn request(
    f: &FakeDhis2,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", f.base_url()))
        .basic_auth(STANDARD_USER, Some(STANDARD_PASSWORD));
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(f: &FakeDhis2, path: &str) -> (u16, Value) {
    request(f, reqwest::Method::GET, path, None).await
}

async fn post(f: &FakeDhis2, path: &str, body: &Value) -> (u16, Value) {
    request(f, reqwest::Method::POST, path, Some(body)).await
}

async fn put(f: &FakeDhis2, path: &str) -> (u16, Value) {
    request(f, reqwest::Method::PUT, path, None).await
}

/// A synchronous import with these extra parameters.
async fn import(f: &FakeDhis2, extra: &str, body: &Value) -> (u16, Value) {
    post(f, &format!("/api/tracker?async=false{extra}"), body).await
}

/// One valid person of the standard setup, nested: TE + enrollment.
fn person(te: &str, enrollment: &str, uic: &str, org_unit: &str) -> Value {
    json!({
        "trackedEntity": te,
        "trackedEntityType": PERSON_TYPE,
        "orgUnit": org_unit,
        "attributes": [
            {"attribute": ATTR_UIC, "value": uic},
            {"attribute": ATTR_GENDER, "value": "2"},
        ],
        "enrollments": [{
            "enrollment": enrollment,
            "program": PROGRAM,
            "orgUnit": org_unit,
            "status": "ACTIVE",
            "enrolledAt": "2026-11-23T10:15:00.000",
            "occurredAt": "2026-11-23T10:15:00.000",
            "attributes": [
                {"attribute": ATTR_LAST, "value": "Mbemba"},
                {"attribute": ATTR_FIRST, "value": "Ibrahim"},
                {"attribute": ATTR_YEAR, "value": "1997"},
                {"attribute": ATTR_CITY, "value": "Bo"},
            ],
        }],
    })
}

fn payload(people: Vec<Value>) -> Value {
    json!({ "trackedEntities": people })
}

/// `(trackerType, errorCode)` of every error report, in order.
fn codes(report: &Value) -> Vec<(String, String)> {
    report["validationReport"]["errorReports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["trackerType"].as_str().unwrap().to_string(),
                e["errorCode"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn stats(created: u64, updated: u64, deleted: u64, ignored: u64) -> Value {
    json!({"created": created, "updated": updated, "deleted": deleted, "ignored": ignored,
           "total": created + updated + deleted + ignored})
}

fn is_uid_shape(s: &str) -> bool {
    s.len() == 11
        && s.chars().next().unwrap().is_ascii_alphabetic()
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

// ---------------------------------------------------------------------------
// 1. Version, auth, UIDs

#[tokio::test]
async fn system_info_names_the_version_of_each_knob() {
    let expected = ["2.38.4", "2.39.3", "2.40.2", "2.41.1"];
    for (v, want) in Version::ALL.into_iter().zip(expected) {
        let f = FakeDhis2::start_standard(v).await;
        assert_eq!(f.version(), v);
        let (status, info) = get(&f, "/api/system/info").await;
        assert_eq!(status, 200);
        assert_eq!(
            info,
            json!({"version": want, "revision": "abc1234", "buildTime": "2026-10-01T08:00:00.000",
                   "serverDate": "2026-11-23T10:15:00.000", "contextPath": f.base_url(),
                   "systemName": "DHIS 2 fake"})
        );
    }
}

#[tokio::test]
async fn basic_and_token_auth_pass_and_anything_else_is_a_401_json() {
    let f = FakeDhis2::start_standard(Version::V2_40).await;
    let url = format!("{}/api/system/info", f.base_url());
    let http = reqwest::Client::new();
    let fresh = FakeDhis2::pat();
    assert!(fresh.starts_with("d2pat_") && fresh.len() == 48, "{fresh}");
    f.add_token(&fresh);
    let unknown = FakeDhis2::pat();

    let ok = http
        .get(&url)
        .header("Authorization", format!("ApiToken {fresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["content-type"],
        "application/json;charset=UTF-8"
    );

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        (
            "wrong password",
            Some(format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{STANDARD_USER}:nope")
                )
            )),
        ),
        ("unknown token", Some(format!("ApiToken {unknown}"))),
        (
            "token not d2pat shape",
            Some("ApiToken d2pat_short1234567890".into()),
        ),
        ("bearer", Some(format!("Bearer {STANDARD_PAT_TOKEN}"))),
    ];
    for (case, header) in cases {
        let mut req = http.get(&url);
        if let Some(h) = header {
            req = req.header("Authorization", h);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{case}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["httpStatus"], "Unauthorized", "{case}");
        assert_eq!(v["httpStatusCode"], 401, "{case}");
        assert_eq!(v["status"], "ERROR", "{case}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}"
        );
    }

    f.expire_token(&fresh);
    let expired = http
        .get(&url)
        .header("Authorization", format!("ApiToken {fresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    let standard = http
        .get(format!(
            "{}/api/tracker/trackedEntities?program={PROGRAM}&ouMode=ALL",
            f.base_url()
        ))
        .header("Authorization", format!("ApiToken {STANDARD_PAT_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(standard.status(), 200);

    // The record says how a request authenticated, never with what.
    let kinds: Vec<AuthKind> = f.requests().into_iter().map(|r| r.auth).collect();
    assert_eq!(
        kinds,
        vec![
            AuthKind::ApiToken,
            AuthKind::None,
            AuthKind::Basic(STANDARD_USER.into()),
            AuthKind::ApiToken,
            AuthKind::ApiToken,
            AuthKind::Other,
            AuthKind::ApiToken,
            AuthKind::ApiToken,
        ]
    );
    let statuses: Vec<u16> = f.requests().into_iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 401, 401, 401, 401, 401, 401, 200]);
}

#[tokio::test]
async fn system_id_hands_out_valid_uids_one_by_default_and_at_most_10000() {
    let f = FakeDhis2::start_standard(Version::V2_41).await;
    for (path, count) in [
        ("/api/system/id", 1),
        ("/api/system/id?limit=3", 3),
        ("/api/system/uid?limit=5", 5),
        ("/api/system/id.json?limit=20000", 10_000),
    ] {
        let (status, v) = get(&f, path).await;
        assert_eq!(status, 200, "{path}");
        let codes = v["codes"].as_array().unwrap();
        assert_eq!(codes.len(), count, "{path}");
        assert!(
            codes.iter().all(|c| is_uid_shape(c.as_str().unwrap())),
            "{path}"
        );
    }
}

// ---------------------------------------------------------------------------
// 4. Metadata

#[tokio::test]
async fn metadata_endpoints_show_the_standard_setup_and_404_when_unknown() {
    let f = FakeDhis2::start_standard(Version::V2_39).await;
    let (status, p) = get(
        &f,
        &format!("/api/programs/{PROGRAM}?fields=id,programType,trackedEntityType"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(p["id"], PROGRAM);
    assert_eq!(p["programType"], "WITH_REGISTRATION");
    assert_eq!(p["trackedEntityType"], json!({ "id": PERSON_TYPE }));
    assert_eq!(p["displayIncidentDate"], false);
    assert_eq!(p["onlyEnrollOnce"], false);
    assert_eq!(
        p["organisationUnits"],
        json!([{ "id": ORG_UNIT }, { "id": ORG_UNIT_2 }])
    );
    let ptea: Vec<(String, bool)> = p["programTrackedEntityAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["trackedEntityAttribute"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                a["mandatory"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ptea,
        vec![
            (ATTR_LAST.to_string(), true),
            (ATTR_FIRST.to_string(), true),
            (ATTR_YEAR.to_string(), true),
            (ATTR_CITY.to_string(), false),
        ]
    );

    let (status, a) = get(&f, &format!("/api/trackedEntityAttributes/{ATTR_UIC}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &a["valueType"],
            &a["unique"],
            &a["orgunitScope"],
            &a["generated"],
            &a["pattern"]
        ),
        (
            &json!("TEXT"),
            &json!(true),
            &json!(false),
            &json!(false),
            &json!("")
        )
    );

    let (status, t) = get(&f, &format!("/api/trackedEntityTypes/{PERSON_TYPE}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        t["trackedEntityTypeAttributes"],
        json!([
            {"mandatory": true, "trackedEntityAttribute": {"id": ATTR_UIC, "name": "UIC",
             "displayName": "UIC", "valueType": "TEXT", "unique": true, "orgunitScope": false,
             "generated": false, "pattern": ""}},
            {"mandatory": false, "trackedEntityAttribute": {"id": ATTR_GENDER, "name": "Gender",
             "displayName": "Gender", "valueType": "TEXT", "unique": false, "orgunitScope": false,
             "generated": false, "pattern": ""}},
        ])
    );

    let (status, ou) = get(&f, &format!("/api/organisationUnits/{ORG_UNIT_CHILD}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        ou["path"],
        format!("/{ORG_UNIT_ROOT}/{ORG_UNIT}/{ORG_UNIT_CHILD}")
    );
    assert_eq!(ou["name"], "Bo Clinic");

    for (path, message) in [
        (
            "programs",
            "Program with id AAAAAAAAAAA could not be found.",
        ),
        (
            "trackedEntityAttributes",
            "TrackedEntityAttribute with id AAAAAAAAAAA could not be found.",
        ),
        (
            "trackedEntityTypes",
            "TrackedEntityType with id AAAAAAAAAAA could not be found.",
        ),
        (
            "organisationUnits",
            "OrganisationUnit with id AAAAAAAAAAA could not be found.",
        ),
    ] {
        let (status, v) = get(&f, &format!("/api/{path}/{NOBODY}")).await;
        assert_eq!(status, 404);
        assert_eq!(
            v,
            json!({"httpStatus": "Not Found", "httpStatusCode": 404, "status": "ERROR",
                   "message": message})
        );
    }

    // An event program has no tracked entity type.
    let mut event = Program::with_registration("eBAyeGv0exc", PERSON_TYPE);
    event.program_type = ProgramType::WithoutRegistration;
    event.tracked_entity_type = None;
    f.add_program(event);
    let (_, e) = get(&f, "/api/programs/eBAyeGv0exc").await;
    assert_eq!(e["programType"], "WITHOUT_REGISTRATION");
    assert!(e.get("trackedEntityType").is_none());
}

// ---------------------------------------------------------------------------
// 5. Import

#[tokio::test]
async fn a_sync_import_creates_and_reports_per_type() {
    let f = FakeDhis2::start_standard(Version::V2_41).await;
    let body = payload(vec![person(TE_1, EN_1, UIC, ORG_UNIT)]);
    let (status, r) = import(&f, "", &body).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "OK");
    assert_eq!(r["stats"], stats(2, 0, 0, 0));
    assert_eq!(
        r["validationReport"],
        json!({"errorReports": [], "warningReports": []})
    );
    assert_eq!(
        r["bundleReport"]["typeReportMap"]["TRACKED_ENTITY"],
        json!({"trackerType": "TRACKED_ENTITY", "stats": stats(1, 0, 0, 0),
               "objectReports": [{"trackerType": "TRACKED_ENTITY", "uid": TE_1, "errorReports": []}]})
    );
    assert_eq!(
        r["bundleReport"]["typeReportMap"]["ENROLLMENT"]["objectReports"],
        json!([{"trackerType": "ENROLLMENT", "uid": EN_1, "errorReports": []}])
    );
    let stored = f.tracked_entities();
    assert_eq!(stored.len(), 1);
    let te = &stored[0];
    assert_eq!(
        (
            te.uid.as_str(),
            te.tracked_entity_type.as_str(),
            te.org_unit.as_str()
        ),
        (TE_1, PERSON_TYPE, ORG_UNIT)
    );
    assert_eq!(te.attributes, pairs(&[(ATTR_UIC, UIC), (ATTR_GENDER, "2")]));
    assert_eq!(te.enrollments.len(), 1);
    let en = &te.enrollments[0];
    assert_eq!(
        (en.uid.as_str(), en.program.as_str(), en.status.as_str()),
        (EN_1, PROGRAM, "ACTIVE")
    );
    assert_eq!(
        en.attributes,
        pairs(&[
            (ATTR_LAST, "Mbemba"),
            (ATTR_FIRST, "Ibrahim"),
            (ATTR_YEAR, "1997"),
            (ATTR_CITY, "Bo")
        ])
    );
    assert_eq!(f.find_by_attribute(ATTR_YEAR, "1997").len(), 1);
    assert_eq!(f.find_by_attribute(ATTR_UIC, "mbeibr7da1").len(), 0);
    assert_eq!(f.import_count(), 1);
    let recorded = f.requests().pop().unwrap();
    assert_eq!(
        (recorded.method.as_str(), recorded.path.as_str()),
        ("POST", "/api/tracker")
    );
    assert_eq!(recorded.query, "async=false");
    assert_eq!(recorded.body, Some(body));
}

#[tokio::test]
async fn a_repost_updates_with_create_and_update_and_fails_with_create() {
    let f = FakeDhis2::start_standard(Version::V2_40).await;
    let body = payload(vec![person(TE_1, EN_1, UIC, ORG_UNIT)]);
    assert_eq!(import(&f, "", &body).await.0, 200);

    let (status, r) = import(&f, "&importStrategy=CREATE_AND_UPDATE", &body).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["stats"], stats(0, 2, 0, 0));
    assert_eq!(f.tracked_entities().len(), 1);
    assert_eq!(f.tracked_entities()[0].enrollments.len(), 1);

    // An update with a `null` value deletes that attribute only.
    let mut changed = person(TE_1, EN_1, UIC, ORG_UNIT);
    changed["attributes"][1]["value"] = Value::Null;
    let (status, r) = import(&f, "&importStrategy=UPDATE", &payload(vec![changed])).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["stats"], stats(0, 2, 0, 0));
    assert_eq!(
        f.tracked_entities()[0].attributes,
        pairs(&[(ATTR_UIC, UIC)])
    );

    let (status, r) = import(&f, "&importStrategy=CREATE", &body).await;
    assert_eq!(status, 409);
    assert_eq!(r["status"], "ERROR");
    assert_eq!(
        codes(&r),
        vec![
            ("TRACKED_ENTITY".to_string(), "E1002".to_string()),
            ("ENROLLMENT".to_string(), "E1080".to_string())
        ]
    );
    assert_eq!(
        r["validationReport"]["errorReports"][0]["message"],
        format!("TrackedEntityInstance: `{TE_1}`, already exists.")
    );
    assert_eq!(r["validationReport"]["errorReports"][0]["uid"], TE_1);
    assert_eq!(r["stats"], stats(0, 0, 0, 2));
    assert!(r.get("bundleReport").is_none());

    // UPDATE of someone unknown, then DELETE of the stored person.
    let other = payload(vec![person(TE_2, EN_2, "OTHER", ORG_UNIT)]);
    let (status, r) = import(&f, "&importStrategy=UPDATE", &other).await;
    assert_eq!(status, 409);
    assert_eq!(
        codes(&r),
        vec![
            ("TRACKED_ENTITY".to_string(), "E1063".to_string()),
            ("ENROLLMENT".to_string(), "E1081".to_string())
        ]
    );
    let (status, r) = import(&f, "&importStrategy=DELETE", &body).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["stats"], stats(0, 0, 2, 0));
    assert!(f.tracked_entities().is_empty());
}

#[tokio::test]
async fn atomic_all_writes_nothing_and_object_writes_the_valid_person() {
    let f = FakeDhis2::start_standard(Version::V2_41).await;
    let mut bad = person(TE_2, EN_2, "OTHER", ORG_UNIT);
    bad["trackedEntityType"] = json!(NOBODY);
    let body = payload(vec![person(TE_1, EN_1, UIC, ORG_UNIT), bad]);

    let (status, r) = import(&f, "", &body).await;
    assert_eq!(status, 409);
    assert_eq!(
        codes(&r),
        vec![
            ("TRACKED_ENTITY".to_string(), "E1005".to_string()),
            ("ENROLLMENT".to_string(), "E5000".to_string())
        ]
    );
    assert_eq!(r["stats"], stats(0, 0, 0, 4));
    assert!(f.tracked_entities().is_empty());

    let (status, r) = import(&f, "&atomicMode=OBJECT", &body).await;
    assert_eq!(status, 409);
    assert_eq!(r["status"], "ERROR");
    assert_eq!(r["stats"], stats(2, 0, 0, 2));
    assert_eq!(
        r["bundleReport"]["typeReportMap"]["TRACKED_ENTITY"]["stats"],
        stats(1, 0, 0, 1)
    );
    let stored: Vec<String> = f.tracked_entities().into_iter().map(|t| t.uid).collect();
    assert_eq!(stored, vec![TE_1.to_string()]);
}

#[tokio::test]
async fn validate_mode_writes_nothing_and_validation_is_refused() {
    let f = FakeDhis2::start_standard(Version::V2_38).await;
    let body = payload(vec![person(TE_1, EN_1, UIC, ORG_UNIT)]);
    let (status, r) = import(&f, "&importMode=VALIDATE", &body).await;
    assert_eq!(status, 200);
    assert_eq!(r["status"], "OK");
    assert_eq!(r["stats"], stats(0, 0, 0, 0));
    assert!(f.tracked_entities().is_empty());

    let (status, r) = import(&f, "&importMode=VALIDATION", &body).await;
    assert_eq!(status, 400);
    assert_eq!(r["httpStatus"], "Bad Request");
    assert!(f.tracked_entities().is_empty());
}

#[tokio::test]
async fn a_flat_payload_without_uids_gets_server_uids() {
    let f = FakeDhis2::start_standard(Version::V2_41).await;
    let mut te = person("", "", UIC, ORG_UNIT);
    let enrollment = te["enrollments"][0].clone();
    te.as_object_mut().unwrap().remove("enrollments");
    te.as_object_mut().unwrap().remove("trackedEntity");
    let (status, r) = import(&f, "", &json!({"trackedEntities": [te]})).await;
    assert_eq!(status, 200, "{r}");
    let made = r["bundleReport"]["typeReportMap"]["TRACKED_ENTITY"]["objectReports"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(is_uid_shape(&made), "{made}");

    let mut flat = enrollment;
    flat.as_object_mut().unwrap().remove("enrollment");
    flat["trackedEntity"] = json!(made);
    let (status, r) = import(&f, "", &json!({ "enrollments": [flat] })).await;
    assert_eq!(status, 200, "{r}");
    let en = r["bundleReport"]["typeReportMap"]["ENROLLMENT"]["objectReports"][0]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(is_uid_shape(&en));
    let stored = f.tracked_entities();
    assert_eq!(stored[0].uid, made);
    assert_eq!(stored[0].enrollments[0].uid, en);
}

/// A validation case: name, setup of the fake, change to the standard
/// person, expected `(trackerType, errorCode)`s.
type Case = (
    &'static str,
    fn(&FakeDhis2),
    fn(&mut Value),
    Vec<(&'static str, &'static str)>,
);

fn validation_cases() -> Vec<Case> {
    fn nothing(_: &FakeDhis2) {}
    fn en(p: &mut Value) -> &mut Value {
        &mut p["enrollments"][0]
    }
    fn drop_attr(list: &mut Value, attr: &str) {
        list.as_array_mut()
            .unwrap()
            .retain(|a| a["attribute"] != attr);
    }
    fn seed_enrolled(f: &FakeDhis2, status: &str) {
        let mut t = TrackedEntitySnapshot::new(TE_1, PERSON_TYPE, ORG_UNIT)
            .attribute(ATTR_UIC, UIC)
            .enrolled(EN_2, PROGRAM, &[(ATTR_YEAR, "1997")]);
        t.enrollments[0].status = status.into();
        f.add_tracked_entity(t);
    }
    vec![
        (
            "E1069",
            nothing,
            |p| en(p)["program"] = json!(NOBODY),
            vec![("ENROLLMENT", "E1069")],
        ),
        (
            "E1005",
            nothing,
            |p| p["trackedEntityType"] = json!(NOBODY),
            vec![("TRACKED_ENTITY", "E1005"), ("ENROLLMENT", "E5000")],
        ),
        (
            "E1041",
            nothing,
            |p| en(p)["orgUnit"] = json!(ORG_UNIT_OUTSIDE),
            vec![("ENROLLMENT", "E1041")],
        ),
        (
            "E1041 after unassigning",
            |f| f.unassign_org_unit(PROGRAM, ORG_UNIT),
            |_| {},
            vec![("ENROLLMENT", "E1041")],
        ),
        (
            "E1000",
            |f| f.set_capture_scope(Some(&[ORG_UNIT_2])),
            |_| {},
            vec![("TRACKED_ENTITY", "E1000"), ("ENROLLMENT", "E1000")],
        ),
        (
            "E1049",
            nothing,
            |p| p["orgUnit"] = json!(NOBODY),
            vec![("TRACKED_ENTITY", "E1049"), ("ENROLLMENT", "E5000")],
        ),
        (
            "E1025",
            nothing,
            |p| {
                en(p).as_object_mut().unwrap().remove("enrolledAt");
            },
            vec![("ENROLLMENT", "E1025")],
        ),
        (
            "E1023",
            |f| f.edit_program(PROGRAM, |p| p.display_incident_date = true),
            |p| {
                en(p).as_object_mut().unwrap().remove("occurredAt");
            },
            vec![("ENROLLMENT", "E1023")],
        ),
        (
            "E1018",
            nothing,
            |p| drop_attr(&mut en(p)["attributes"], ATTR_YEAR),
            vec![("ENROLLMENT", "E1018")],
        ),
        (
            "E1090",
            nothing,
            |p| drop_attr(&mut p["attributes"], ATTR_UIC),
            vec![("TRACKED_ENTITY", "E1090"), ("ENROLLMENT", "E5000")],
        ),
        (
            "E1064 against a stored person",
            |f| {
                f.add_tracked_entity(
                    TrackedEntitySnapshot::new(TE_2, PERSON_TYPE, ORG_UNIT_2)
                        .attribute(ATTR_UIC, UIC),
                )
            },
            |_| {},
            vec![("TRACKED_ENTITY", "E1064"), ("ENROLLMENT", "E5000")],
        ),
        (
            "E1015",
            |f| seed_enrolled(f, "ACTIVE"),
            |_| {},
            vec![("ENROLLMENT", "E1015")],
        ),
        (
            "E1016",
            |f| {
                seed_enrolled(f, "COMPLETED");
                f.edit_program(PROGRAM, |p| p.only_enroll_once = true);
            },
            |_| {},
            vec![("ENROLLMENT", "E1016")],
        ),
        (
            "E1048",
            nothing,
            |p| p["trackedEntity"] = json!("not-a-uid"),
            vec![("TRACKED_ENTITY", "E1048"), ("ENROLLMENT", "E5000")],
        ),
        (
            "E1019",
            nothing,
            |p| {
                en(p)["attributes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"attribute": ATTR_GENDER, "value": "1"}))
            },
            vec![("ENROLLMENT", "E1019")],
        ),
        (
            "E1006",
            nothing,
            |p| {
                en(p)["attributes"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"attribute": NOBODY, "value": "1"}))
            },
            vec![("ENROLLMENT", "E1006")],
        ),
        (
            "E1014",
            |f| {
                f.edit_program(PROGRAM, |p| {
                    p.program_type = ProgramType::WithoutRegistration
                })
            },
            |_| {},
            vec![("ENROLLMENT", "E1014")],
        ),
        (
            "E1022",
            |f| {
                f.add_tracked_entity_type(TrackedEntityType {
                    uid: "bVkFYAvoUCP".into(),
                    name: "Household".into(),
                    attributes: vec![],
                })
            },
            |p| p["trackedEntityType"] = json!("bVkFYAvoUCP"),
            vec![("ENROLLMENT", "E1022")],
        ),
        (
            "E1069 after removing the program",
            |f| {
                f.remove_program(PROGRAM);
            },
            |_| {},
            vec![("ENROLLMENT", "E1069")],
        ),
    ]
}

#[tokio::test]
async fn each_validation_rule_answers_its_error_code_and_writes_nothing() {
    for (name, setup, change, want) in validation_cases() {
        let f = FakeDhis2::start_standard(Version::V2_41).await;
        setup(&f);
        let before = f.tracked_entities();
        let mut p = person(TE_1, EN_1, UIC, ORG_UNIT);
        change(&mut p);
        let (status, r) = import(&f, "", &payload(vec![p])).await;
        assert_eq!(status, 409, "{name}: {r}");
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .collect();
        assert_eq!(codes(&r), want, "{name}");
        assert_eq!(f.tracked_entities(), before, "{name}");
    }
}

#[tokio::test]
async fn messages_say_tracked_entity_instance_up_to_2_40_and_tracked_entity_in_2_41() {
    for (v, word) in [
        (Version::V2_38, "TrackedEntityInstance"),
        (Version::V2_40, "TrackedEntityInstance"),
        (Version::V2_41, "TrackedEntity"),
    ] {
        let f = FakeDhis2::start_standard(v).await;
        let mut p = person(TE_1, EN_1, UIC, ORG_UNIT);
        let mut flat = p["enrollments"][0].clone();
        p.as_object_mut().unwrap().remove("enrollments");
        flat["trackedEntity"] = json!(TE_2);
        let (_, r) = import(&f, "", &json!({ "enrollments": [flat] })).await;
        assert_eq!(
            r["validationReport"]["errorReports"][0],
            json!({"message": format!("Could not find {word}: `{TE_2}`, linked to Enrollment."),
                   "errorCode": "E1068", "trackerType": "ENROLLMENT", "uid": EN_1})
        );
        let (_, r) = get(&f, &format!("/api/tracker/trackedEntities/{TE_2}")).await;
        assert_eq!(
            r["message"],
            format!("{word} with id {TE_2} could not be found.")
        );
    }
}

#[tokio::test]
async fn unique_values_clash_within_one_payload_and_per_org_unit_when_scoped() {
    let f = FakeDhis2::start_standard(Version::V2_40).await;
    let body = payload(vec![
        person(TE_1, EN_1, UIC, ORG_UNIT),
        person(TE_2, EN_2, UIC, ORG_UNIT_2),
    ]);
    let (status, r) = import(&f, "", &body).await;
    assert_eq!(status, 409);
    assert_eq!(
        r["validationReport"]["errorReports"][0],
        json!({"message": format!("Non-unique attribute value `{UIC}` for attribute `{ATTR_UIC}`"),
               "errorCode": "E1064", "trackerType": "TRACKED_ENTITY", "uid": TE_2})
    );
    assert!(f.tracked_entities().is_empty());

    // Unique per org unit: the same value elsewhere is fine.
    f.edit_attribute(ATTR_UIC, |a| a.orgunit_scope = true);
    let (status, r) = import(&f, "", &body).await;
    assert_eq!(status, 200, "{r}");
    let (status, r) = import(
        &f,
        "",
        &payload(vec![person("Lw2kKcM6ikz", "Pr4rQdXJ8Xr", UIC, ORG_UNIT)]),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        codes(&r)[0],
        ("TRACKED_ENTITY".to_string(), "E1064".to_string())
    );

    // Not unique any more: a third holder is accepted.
    f.set_attribute_unique(ATTR_UIC, false);
    let (status, _) = import(
        &f,
        "",
        &payload(vec![person("Lw2kKcM6ikz", "Pr4rQdXJ8Xr", UIC, ORG_UNIT)]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(f.find_by_attribute(ATTR_UIC, UIC).len(), 3);
}

#[tokio::test]
async fn reassigning_an_org_unit_fixes_e1041() {
    let f = FakeDhis2::start_standard(Version::V2_41).await;
    let body = payload(vec![person(TE_1, EN_1, UIC, ORG_UNIT_OUTSIDE)]);
    assert_eq!(import(&f, "", &body).await.0, 409);
    f.assign_org_unit(PROGRAM, ORG_UNIT_OUTSIDE);
    let (status, r) = import(&f, "", &body).await;
    assert_eq!(status, 200, "{r}");
}

// ---------------------------------------------------------------------------
// 6. Async jobs

#[tokio::test]
async fn an_async_import_is_a_job_whose_report_comes_once_completed_and_goes_on_restart() {
    for v in [Version::V2_40, Version::V2_41] {
        let f = FakeDhis2::start_standard(v).await;
        f.set_job_polls(1);
        let (status, r) = post(
            &f,
            "/api/tracker",
            &payload(vec![person(TE_1, EN_1, UIC, ORG_UNIT)]),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            (
                &r["httpStatus"],
                &r["httpStatusCode"],
                &r["status"],
                &r["message"]
            ),
            (
                &json!("OK"),
                &json!(200),
                &json!("OK"),
                &json!("Tracker job added")
            )
        );
        let id = r["response"]["id"].as_str().unwrap().to_string();
        assert!(is_uid_shape(&id));
        assert_eq!(
            r["response"]["location"],
            format!("{}/api/tracker/jobs/{id}", f.base_url())
        );
        let want_type = if v == Version::V2_41 {
            Value::Null
        } else {
            json!("TrackerJob")
        };
        assert_eq!(r["response"]["responseType"], want_type);

        let report = format!("/api/tracker/jobs/{id}/report");
        assert_eq!(get(&f, &report).await.0, 404);
        let (_, first) = get(&f, &format!("/api/tracker/jobs/{id}")).await;
        assert_eq!(first.as_array().unwrap().len(), 1);
        assert_eq!(first[0]["completed"], false);
        assert_eq!(first[0]["category"], "TRACKER_IMPORT_JOB");
        assert_eq!(get(&f, &report).await.0, 404);
        assert!(f.tracked_entities().is_empty());
        assert_eq!(f.import_count(), 0);

        let (_, second) = get(&f, &format!("/api/tracker/jobs/{id}")).await;
        assert_eq!(second.as_array().unwrap().len(), 2);
        assert_eq!(second[0]["completed"], true);
        assert_eq!(
            second[0]["message"],
            "Import complete with status OK, 2 created, 0 updated, 0 deleted, 0 ignored"
        );
        assert_eq!(second[1]["completed"], false);
        let (status, r) = get(&f, &report).await;
        assert_eq!(status, 200);
        assert_eq!(r["stats"], stats(2, 0, 0, 0));
        assert_eq!(f.tracked_entities().len(), 1);
        assert_eq!(f.import_count(), 1);

        f.simulate_restart();
        assert_eq!(get(&f, &report).await.0, 404);
        assert_eq!(
            get(&f, &format!("/api/tracker/jobs/{id}")).await.1,
            json!([])
        );
        assert_eq!(f.tracked_entities().len(), 1);
    }
}

// ---------------------------------------------------------------------------
// 7. Search

/// Three people: TE_1 (UIC, enrolled) at ORG_UNIT, TE_2 (enrolled) at
/// ORG_UNIT_CHILD, a third not enrolled at ORG_UNIT_2.
fn seed(f: &FakeDhis2) {
    f.add_tracked_entity(
        TrackedEntitySnapshot::new(TE_1, PERSON_TYPE, ORG_UNIT)
            .attribute(ATTR_UIC, UIC)
            .enrolled(EN_1, PROGRAM, &[(ATTR_CITY, "Bo: centre/north")]),
    );
    f.add_tracked_entity(
        TrackedEntitySnapshot::new(TE_2, PERSON_TYPE, ORG_UNIT_CHILD)
            .attribute(ATTR_UIC, "KNDMAR85XB")
            .enrolled(EN_2, PROGRAM, &[(ATTR_CITY, "Kenema")]),
    );
    f.add_tracked_entity(
        TrackedEntitySnapshot::new("Lw2kKcM6ikz", PERSON_TYPE, ORG_UNIT_2)
            .attribute(ATTR_UIC, "ZZZZZZ00ZZ"),
    );
}

async fn search(f: &FakeDhis2, query: &str) -> (u16, Value) {
    get(f, &format!("/api/tracker/trackedEntities?{query}")).await
}

/// The UIDs found, from either answer shape.
fn found(v: &Value) -> Vec<String> {
    v.get("trackedEntities")
        .or_else(|| v.get("instances"))
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|t| t["trackedEntity"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn search_answers_instances_before_2_41_and_a_pager_in_2_41() {
    for v in Version::ALL {
        let f = FakeDhis2::start_standard(v).await;
        seed(&f);
        let (status, r) = search(
            &f,
            &format!(
                "program={PROGRAM}&orgUnit={ORG_UNIT}&ouMode=DESCENDANTS&filter={ATTR_UIC}:EQ:{UIC}"
            ),
        )
        .await;
        assert_eq!(status, 200, "{v:?}: {r}");
        let te = if v == Version::V2_41 {
            assert_eq!(r["pager"], json!({"page": 1, "pageSize": 50}));
            assert!(r.get("instances").is_none());
            &r["trackedEntities"][0]
        } else {
            assert_eq!((&r["page"], &r["pageSize"]), (&json!(1), &json!(50)));
            assert!(r.get("trackedEntities").is_none());
            &r["instances"][0]
        };
        assert_eq!(found(&r), vec![TE_1.to_string()], "{v:?}");
        assert_eq!(te["orgUnit"], ORG_UNIT);
        assert_eq!(te["trackedEntityType"], PERSON_TYPE);
        let attrs: Vec<(String, String)> = te["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["attribute"].as_str().unwrap().to_string(),
                    a["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            attrs,
            pairs(&[(ATTR_UIC, UIC), (ATTR_CITY, "Bo: centre/north")])
        );
        assert_eq!(
            (
                &te["enrollments"][0]["enrollment"],
                &te["enrollments"][0]["program"],
                &te["enrollments"][0]["status"],
                &te["enrollments"][0]["orgUnit"],
                &te["enrollments"][0]["enrolledAt"]
            ),
            (
                &json!(EN_1),
                &json!(PROGRAM),
                &json!("ACTIVE"),
                &json!(ORG_UNIT),
                &json!(SERVER_DATE)
            )
        );
    }
}

#[tokio::test]
async fn search_parameter_rules_follow_the_version() {
    let bad = "At least one organisation unit must be specified";
    for v in [Version::V2_38, Version::V2_39, Version::V2_40] {
        let f = FakeDhis2::start_standard(v).await;
        seed(&f);
        for q in [
            format!("program={PROGRAM}"),
            format!("program={PROGRAM}&orgUnits={ORG_UNIT}&orgUnitMode=DESCENDANTS&paging=false"),
            format!("program={PROGRAM}&ouMode=DESCENDANTS"),
        ] {
            let (status, r) = search(&f, &q).await;
            assert_eq!(status, 400, "{v:?} {q}");
            assert_eq!(
                r,
                json!({"httpStatus": "Bad Request", "httpStatusCode": 400, "status": "ERROR",
                       "message": bad})
            );
        }
        let (status, r) = search(&f, &format!("program={PROGRAM}&ouMode=ACCESSIBLE")).await;
        assert_eq!(status, 200);
        assert_eq!(found(&r).len(), 2);
        // Before 2.41 a scope mode wins over org units.
        let (status, r) = search(
            &f,
            &format!("program={PROGRAM}&ouMode=ALL&orgUnit={ORG_UNIT_2}"),
        )
        .await;
        assert_eq!((status, found(&r).len()), (200, 2));
    }

    let f = FakeDhis2::start_standard(Version::V2_41).await;
    seed(&f);
    let (status, r) = search(&f, &format!("program={PROGRAM}")).await;
    assert_eq!((status, found(&r).len()), (200, 2), "{r}");
    let (status, r) = search(
        &f,
        &format!("program={PROGRAM}&orgUnits={ORG_UNIT}&orgUnitMode=DESCENDANTS&paging=false"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found(&r), vec![TE_1.to_string(), TE_2.to_string()]);
    assert!(r.get("pager").is_none());
    for q in [
        format!("program={PROGRAM}&ouMode=ALL&orgUnitMode=ALL"),
        format!("program={PROGRAM}&orgUnit={ORG_UNIT}&orgUnits={ORG_UNIT}"),
        format!("program={PROGRAM}&skipPaging=true&paging=false"),
        format!("program={PROGRAM}&orgUnit={ORG_UNIT}&ouMode=ACCESSIBLE"),
        format!("program={PROGRAM}&orgUnits={ORG_UNIT}&orgUnitMode=CAPTURE"),
        format!("program={PROGRAM}&orgUnitMode=SELECTED"),
    ] {
        let (status, r) = search(&f, &q).await;
        assert_eq!(status, 400, "{q}: {r}");
        assert_eq!(r["httpStatusCode"], 400);
    }

    // The "one of" rules hold on every version.
    for v in Version::ALL {
        let f = FakeDhis2::start_standard(v).await;
        for q in [
            format!("program={PROGRAM}&trackedEntityType={PERSON_TYPE}&ouMode=ALL"),
            "ouMode=ALL".to_string(),
        ] {
            let (status, _) = search(&f, &q).await;
            assert_eq!(status, 400, "{v:?} {q}");
        }
    }
}

#[tokio::test]
async fn filters_are_case_insensitive_and_escaping_starts_in_2_40() {
    let f = FakeDhis2::start_standard(Version::V2_40).await;
    seed(&f);
    let base = format!("trackedEntityType={PERSON_TYPE}&ouMode=ALL");
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    for (filter, want) in [
        (format!("{ATTR_UIC}:eq:mbeibr7da1"), vec![TE_1]),
        (format!("{ATTR_UIC}:NE:{UIC}"), vec![TE_2, "Lw2kKcM6ikz"]),
        (format!("{ATTR_UIC}:like:ndmar"), vec![TE_2]),
        (
            format!("{ATTR_UIC}:IN:{UIC};zzzzzz00zz"),
            vec![TE_1, "Lw2kKcM6ikz"],
        ),
        (format!("{ATTR_CITY}:EQ:bo/: centre//north"), vec![TE_1]),
        (
            format!("{ATTR_CITY}:EQ:kenema,{ATTR_UIC}:LIKE:KND"),
            vec![TE_2],
        ),
    ] {
        let (status, r) = search(&f, &format!("{base}&filter={}", enc(&filter))).await;
        assert_eq!(status, 200, "{filter}: {r}");
        assert_eq!(found(&r), want, "{filter}");
    }
    // Two filters as two parameters must both hold.
    let (_, r) = search(
        &f,
        &format!(
            "{base}&filter={}&filter={}",
            enc(&format!("{ATTR_UIC}:LIKE:a")),
            enc(&format!("{ATTR_CITY}:EQ:Kenema"))
        ),
    )
    .await;
    assert_eq!(found(&r), vec![TE_2]);

    // 2.39 knows no escaping: the colon in the value breaks the filter.
    let f = FakeDhis2::start_standard(Version::V2_39).await;
    seed(&f);
    let (status, _) = search(
        &f,
        &format!(
            "{base}&filter={}",
            enc(&format!("{ATTR_CITY}:EQ:bo/: centre//north"))
        ),
    )
    .await;
    assert_eq!(status, 400);
    let (status, r) = search(
        &f,
        &format!("{base}&filter={}", enc(&format!("{ATTR_CITY}:EQ:kenema"))),
    )
    .await;
    assert_eq!((status, found(&r)), (200, vec![TE_2.to_string()]));
}

#[tokio::test]
async fn org_unit_modes_programs_paging_and_single_reads() {
    let f = FakeDhis2::start_standard(Version::V2_41).await;
    seed(&f);
    let q = |rest: &str| format!("trackedEntityType={PERSON_TYPE}&{rest}");
    let (_, r) = search(&f, &q(&format!("orgUnits={ORG_UNIT}&orgUnitMode=SELECTED"))).await;
    assert_eq!(found(&r), vec![TE_1]);
    let (_, r) = search(&f, &q(&format!("orgUnits={ORG_UNIT}"))).await;
    assert_eq!(found(&r), vec![TE_1]);
    let (_, r) = search(
        &f,
        &q(&format!("orgUnits={ORG_UNIT}&orgUnitMode=DESCENDANTS")),
    )
    .await;
    assert_eq!(found(&r), vec![TE_1, TE_2]);
    let (_, r) = search(
        &f,
        &q(&format!("orgUnits={ORG_UNIT_ROOT}&orgUnitMode=CHILDREN")),
    )
    .await;
    assert_eq!(found(&r), vec![TE_1, "Lw2kKcM6ikz"]);
    let (_, r) = search(&f, &q(&format!("orgUnit={ORG_UNIT};{ORG_UNIT_2}"))).await;
    assert_eq!(found(&r), vec![TE_1, "Lw2kKcM6ikz"]);

    // The TE type returns everyone, the program only the enrolled.
    let (_, r) = search(&f, &q("orgUnitMode=ALL")).await;
    assert_eq!(found(&r).len(), 3);
    let (_, r) = search(&f, &format!("program={PROGRAM}&orgUnitMode=ALL")).await;
    assert_eq!(found(&r), vec![TE_1, TE_2]);

    // A narrower capture scope limits ACCESSIBLE.
    f.set_capture_scope(Some(&[ORG_UNIT_2]));
    let (_, r) = search(&f, &q("orgUnitMode=ACCESSIBLE")).await;
    assert_eq!(found(&r), vec!["Lw2kKcM6ikz"]);
    assert_eq!(
        get(&f, &format!("/api/tracker/trackedEntities/{TE_1}"))
            .await
            .0,
        404
    );
    f.set_capture_scope(None);

    let (_, r) = search(&f, &q("orgUnitMode=ALL&page=2&pageSize=2&totalPages=true")).await;
    assert_eq!(found(&r), vec!["Lw2kKcM6ikz"]);
    assert_eq!(
        r["pager"],
        json!({"page": 2, "pageSize": 2, "total": 3, "pageCount": 2})
    );
    let (_, r) = search(&f, &q("orgUnitMode=ALL&pageSize=1&skipPaging=true")).await;
    assert_eq!(found(&r).len(), 3);
    let (_, r) = search(
        &f,
        &format!("trackedEntities={TE_2};{TE_1}&orgUnitMode=ALL"),
    )
    .await;
    assert_eq!(found(&r), vec![TE_1, TE_2]);

    let (status, one) = get(
        &f,
        &format!("/api/tracker/trackedEntities/{TE_2}?program={PROGRAM}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(one["trackedEntity"], TE_2);
    assert_eq!(one["orgUnit"], ORG_UNIT_CHILD);
    assert_eq!(one["enrollments"][0]["enrollment"], EN_2);
    let (status, none) = get(&f, &format!("/api/tracker/trackedEntities/{NOBODY}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        none,
        json!({"httpStatus": "Not Found", "httpStatusCode": 404, "status": "ERROR",
               "message": format!("TrackedEntity with id {NOBODY} could not be found.")})
    );
}

// ---------------------------------------------------------------------------
// 8. Potential duplicates

#[tokio::test]
async fn potential_duplicates_are_flagged_listed_dismissed_and_merged() {
    for (v, param) in [
        (Version::V2_40, "teis"),
        (Version::V2_41, "trackedEntities"),
    ] {
        let f = FakeDhis2::start_standard(v).await;
        seed(&f);
        let third = "Lw2kKcM6ikz";
        let (status, d) = post(
            &f,
            "/api/potentialDuplicates",
            &json!({"original": TE_1, "duplicate": third}),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            (&d["original"], &d["duplicate"], &d["status"]),
            (&json!(TE_1), &json!(third), &json!("OPEN"))
        );
        let id = d["id"].as_str().unwrap().to_string();
        let (status, _) = post(
            &f,
            "/api/potentialDuplicates",
            &json!({"original": third, "duplicate": TE_1}),
        )
        .await;
        assert_eq!(status, 409);
        assert_eq!(
            post(&f, "/api/potentialDuplicates", &json!({"original": TE_1}))
                .await
                .0,
            400
        );
        assert_eq!(
            post(
                &f,
                "/api/potentialDuplicates",
                &json!({"original": TE_1, "duplicate": NOBODY})
            )
            .await
            .0,
            404
        );
        let (status, other) = post(
            &f,
            "/api/potentialDuplicates",
            &json!({"original": TE_2, "duplicate": third}),
        )
        .await;
        assert_eq!(status, 200);
        let other_id = other["id"].as_str().unwrap().to_string();

        let (_, flagged) = search(
            &f,
            &format!("trackedEntityType={PERSON_TYPE}&ouMode=ALL&potentialDuplicate=true"),
        )
        .await;
        assert_eq!(found(&flagged), vec![TE_1, TE_2, third]);
        assert_eq!(
            flagged
                .get("trackedEntities")
                .or(flagged.get("instances"))
                .unwrap()[0]["potentialDuplicate"],
            true
        );

        let listed = |v: &Value| -> Vec<String> {
            v["potentialDuplicates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_string())
                .collect()
        };
        let (_, l) = get(&f, &format!("/api/potentialDuplicates?{param}={TE_1}")).await;
        assert_eq!(listed(&l), vec![id.clone()], "{v:?}");
        // 2.41 ignores `teis` and lists every OPEN pair.
        let (_, l) = get(&f, &format!("/api/potentialDuplicates?teis={TE_1}")).await;
        let want = if v == Version::V2_41 {
            vec![id.clone(), other_id.clone()]
        } else {
            vec![id.clone()]
        };
        assert_eq!(listed(&l), want, "{v:?}");

        let (status, one) = get(&f, &format!("/api/potentialDuplicates/{id}")).await;
        assert_eq!((status, &one["id"]), (200, &json!(id)));
        assert_eq!(
            get(&f, &format!("/api/potentialDuplicates/{NOBODY}"))
                .await
                .0,
            404
        );

        let (status, d) = put(
            &f,
            &format!("/api/potentialDuplicates/{other_id}?status=INVALID"),
        )
        .await;
        assert_eq!((status, &d["status"]), (200, &json!("INVALID")));
        assert_eq!(
            put(
                &f,
                &format!("/api/potentialDuplicates/{other_id}?status=MERGED")
            )
            .await
            .0,
            400
        );
        let (_, l) = get(&f, "/api/potentialDuplicates?status=INVALID").await;
        assert_eq!(listed(&l), vec![other_id.clone()]);
        let (_, l) = get(&f, "/api/potentialDuplicates?status=ALL").await;
        assert_eq!(listed(&l).len(), 2);

        // TE_1 and TE_2 both are enrolled in PROGRAM: AUTO refuses.
        let (_, conflict) = post(
            &f,
            "/api/potentialDuplicates",
            &json!({"original": TE_1, "duplicate": TE_2}),
        )
        .await;
        let conflict_id = conflict["id"].as_str().unwrap();
        let (status, _) = post(
            &f,
            &format!("/api/potentialDuplicates/{conflict_id}/merge?mergeStrategy=AUTO"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 409);
        assert_eq!(f.tracked_entities().len(), 3);

        // TE_1 and the third have different UICs: AUTO refuses too; once the
        // third's UIC is gone the merge moves nothing but deletes it.
        let (status, _) = post(
            &f,
            &format!("/api/potentialDuplicates/{id}/merge?mergeStrategy=AUTO"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 409);
        {
            let mut g = f.lock();
            let t = g.te_mut(third).unwrap();
            t.attributes = vec![(ATTR_GENDER.to_string(), "1".to_string())];
        }
        let (status, _) = post(
            &f,
            &format!("/api/potentialDuplicates/{id}/merge?mergeStrategy=AUTO"),
            &json!({}),
        )
        .await;
        assert_eq!(status, 200);
        let left: Vec<String> = f.tracked_entities().into_iter().map(|t| t.uid).collect();
        assert_eq!(left, vec![TE_1.to_string(), TE_2.to_string()]);
        assert_eq!(
            f.find_by_attribute(ATTR_GENDER, "1")
                .into_iter()
                .map(|t| t.uid)
                .collect::<Vec<_>>(),
            vec![TE_1.to_string()]
        );
        let merged = f
            .potential_duplicates()
            .into_iter()
            .find(|d| d.id == id)
            .unwrap();
        assert_eq!(merged.status, "MERGED");
        assert_eq!(
            put(&f, &format!("/api/potentialDuplicates/{id}?status=OPEN"))
                .await
                .0,
            400
        );
    }
}

// ---------------------------------------------------------------------------
// 9. Failure injection

#[tokio::test]
async fn latency_delays_every_answer() {
    let f = FakeDhis2::start_standard(Version::V2_41).await;
    f.set_latency(Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(get(&f, "/api/system/info").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    f.set_latency(Duration::ZERO);
    assert!(f.lock().latency.is_none());
}

#[tokio::test]
async fn injected_failures_answer_as_a_proxy_then_service_resumes() {
    let f = FakeDhis2::start_standard(Version::V2_41).await;
    f.fail_next(2, 503);
    f.fail_next(1, 500);
    let url = format!("{}/api/system/info", f.base_url());
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let res = http
            .get(&url)
            .basic_auth(STANDARD_USER, Some(STANDARD_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()["content-type"], "text/html");
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("503 Service Unavailable")
        );
    }
    let (status, v) = get(&f, "/api/system/info").await;
    assert_eq!(status, 500);
    assert_eq!(v["httpStatus"], "Internal Server Error");
    assert_eq!(get(&f, "/api/system/info").await.0, 200);

    // Down: the connection closes without an answer.
    f.set_down(true);
    assert!(http.get(&url).send().await.is_err());
    f.set_down(false);
    assert_eq!(get(&f, "/api/system/info").await.0, 200);
    let statuses: Vec<u16> = f.requests().into_iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 503, 500, 200, 0, 200]);
    // No import reached the importer.
    assert_eq!(f.import_count(), 0);
}

#[tokio::test]
async fn a_manual_merge_moves_what_it_is_told_and_deletes_the_duplicate() {
    let f = FakeDhis2::start_standard(Version::V2_41).await;
    seed(&f);
    let third = "Lw2kKcM6ikz";
    // The third person gets an enrollment of its own in another program.
    let mut other = Program::with_registration("eBAyeGv0exc", PERSON_TYPE);
    other.org_units = vec![ORG_UNIT_2.into()];
    f.add_program(other);
    {
        let mut g = f.lock();
        let t = g.te_mut(third).unwrap();
        *t = t
            .clone()
            .enrolled("Pr4rQdXJ8Xr", "eBAyeGv0exc", &[])
            .attribute(ATTR_GENDER, "1");
    }
    let (_, d) = post(
        &f,
        "/api/potentialDuplicates",
        &json!({"original": TE_1, "duplicate": third}),
    )
    .await;
    let id = d["id"].as_str().unwrap();
    let (status, _) = post(
        &f,
        &format!("/api/potentialDuplicates/{id}/merge?mergeStrategy=MANUAL"),
        &json!({"trackedEntityAttributes": [ATTR_GENDER], "enrollments": ["Pr4rQdXJ8Xr"]}),
    )
    .await;
    assert_eq!(status, 200);
    let people = f.tracked_entities();
    assert_eq!(people.len(), 2);
    let kept = &people[0];
    assert_eq!(kept.uid, TE_1);
    // The UIC stays the original's; gender and the enrollment moved.
    assert_eq!(kept.value_of(ATTR_UIC).as_deref(), Some(UIC));
    assert_eq!(kept.value_of(ATTR_GENDER).as_deref(), Some("1"));
    let programs: Vec<&str> = kept
        .enrollments
        .iter()
        .map(|e| e.program.as_str())
        .collect();
    assert_eq!(programs, vec![PROGRAM, "eBAyeGv0exc"]);
    let (status, d) = get(&f, &format!("/api/potentialDuplicates/{id}")).await;
    assert_eq!((status, &d["status"]), (200, &json!("MERGED")));
    let (status, _) = post(
        &f,
        &format!("/api/potentialDuplicates/{id}/merge?mergeStrategy=AUTO"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 400);
}
