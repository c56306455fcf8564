//! Outbound message payloads (text, reply buttons and lists, images, read
//! receipts) built within Meta's limits.

use serde_json::{Value, json};
use std::collections::HashSet;

/// A text body (A.5).
pub const TEXT_BODY_MAX: usize = 4096;
/// Reply buttons: count, title, id, body.
pub const BUTTONS_MAX: usize = 3;
pub const BUTTON_TITLE_MAX: usize = 20;
pub const BUTTON_ID_MAX: usize = 256;
pub const BUTTON_BODY_MAX: usize = 1024;
/// Lists: rows in total, row title, row id, row description, body, button.
pub const LIST_ROWS_MAX: usize = 10;
pub const ROW_TITLE_MAX: usize = 24;
pub const ROW_ID_MAX: usize = 200;
pub const ROW_DESCRIPTION_MAX: usize = 72;
pub const LIST_BODY_MAX: usize = 4096;
pub const LIST_BUTTON_MAX: usize = 20;
/// Media captions (Meta's media-message page; not in the limits we test
/// against, kept conservative).
pub const CAPTION_MAX: usize = 1024;

/// The list button label used when the given one is blank.
const DEFAULT_LIST_BUTTON: &str = "Options";

/// At most `max` characters (Unicode scalar values); a cut text ends with
/// "…", inside the limit.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// A one-line label: control characters (newlines, tabs) become spaces,
/// surrounding blanks go.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The recipient fields: `"to"` with the digits (a leading `+`, spaces and
/// dashes dropped), or `"recipient"` for a business-scoped user id
/// (`US.1349…`), which is how Meta addresses users known only by username.
fn recipient(to: &str) -> (&'static str, String) {
    let trimmed = to.trim();
    let digits: String = trimmed
        .trim_start_matches('+')
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        ("to", digits)
    } else if trimmed.contains('.') {
        ("recipient", trimmed.to_string())
    } else {
        ("to", digits)
    }
}

fn envelope(to: &str, kind: &str, key: &str, content: Value) -> Value {
    let (field, address) = recipient(to);
    let mut payload = serde_json::Map::new();
    payload.insert("messaging_product".into(), json!("whatsapp"));
    payload.insert("recipient_type".into(), json!("individual"));
    payload.insert(field.into(), json!(address));
    payload.insert("type".into(), json!(kind));
    payload.insert(key.into(), content);
    Value::Object(payload)
}

/// A text message (body cut at 4096 characters, link previews off).
pub fn text_message(to: &str, body: &str) -> Value {
    envelope(
        to,
        "text",
        "text",
        json!({"preview_url": false, "body": truncate(body, TEXT_BODY_MAX)}),
    )
}

/// Titles within `max` characters and unique (ignoring case), in order: a
/// title that collides once cut gets a number (`Kinshasa-Gombe-No… 2`).
fn unique_titles(titles: &[String], max: usize) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(titles.len());
    for title in titles {
        let mut candidate = truncate(title, max);
        let mut n = 2;
        while taken.contains(&candidate.to_lowercase()) && n < 100 {
            let suffix = format!(" {n}");
            let room = max.saturating_sub(suffix.chars().count());
            candidate = format!("{}{suffix}", truncate(title, room));
            n += 1;
        }
        taken.insert(candidate.to_lowercase());
        out.push(candidate);
    }
    out
}

/// A question with choices, as (id, title) pairs: 1–3 choices become reply
/// buttons, 4–10 a list with one section, none or more than 10 a plain text
/// message (the caller writes the options into the text then).
///
/// The result never breaks Meta's limits: titles are cut with "…" and kept
/// unique; a list row whose title was cut shows the full title as its
/// description. Ids are never altered (taps come back with them): a repeated
/// id is dropped, and an empty or overlong id makes a plain text message.
/// 1–3 choices under a body longer than a button message allows become a
/// list (whose body may be 4096 long) rather than losing text.
pub fn choice_message(
    to: &str,
    body: &str,
    choices: &[(String, String)],
    list_button_label: &str,
) -> Value {
    let mut seen = HashSet::new();
    let choices: Vec<&(String, String)> = choices
        .iter()
        .filter(|(id, _)| seen.insert(id.as_str()))
        .collect();
    let id_len = |max: usize| choices.iter().all(|(id, _)| id.chars().count() <= max);
    if choices.is_empty()
        || choices.len() > LIST_ROWS_MAX
        || choices.iter().any(|(id, _)| id.is_empty())
        || !id_len(BUTTON_ID_MAX)
    {
        return text_message(to, body);
    }
    let body = if body.trim().is_empty() { "…" } else { body };
    // A title left blank shows its id.
    let titles: Vec<String> = choices
        .iter()
        .map(|(id, title)| match one_line(title) {
            t if t.is_empty() => match one_line(id) {
                i if i.is_empty() => "…".to_string(),
                i => i,
            },
            t => t,
        })
        .collect();
    let fits_buttons = choices.len() <= BUTTONS_MAX
        && (body.chars().count() <= BUTTON_BODY_MAX || !id_len(ROW_ID_MAX));
    if fits_buttons {
        let buttons: Vec<Value> = choices
            .iter()
            .zip(unique_titles(&titles, BUTTON_TITLE_MAX))
            .map(|((id, _), title)| json!({"type": "reply", "reply": {"id": id, "title": title}}))
            .collect();
        return envelope(
            to,
            "interactive",
            "interactive",
            json!({
                "type": "button",
                "body": {"text": truncate(body, BUTTON_BODY_MAX)},
                "action": {"buttons": buttons},
            }),
        );
    }
    if !id_len(ROW_ID_MAX) {
        return text_message(to, body);
    }
    let rows: Vec<Value> = choices
        .iter()
        .zip(titles.iter())
        .zip(unique_titles(&titles, ROW_TITLE_MAX))
        .map(|(((id, _), full), title)| {
            if *full == title {
                json!({"id": id, "title": title})
            } else {
                json!({"id": id, "title": title, "description": truncate(full, ROW_DESCRIPTION_MAX)})
            }
        })
        .collect();
    let label = match one_line(list_button_label) {
        l if l.is_empty() => DEFAULT_LIST_BUTTON.to_string(),
        l => truncate(&l, LIST_BUTTON_MAX),
    };
    envelope(
        to,
        "interactive",
        "interactive",
        json!({
            "type": "list",
            "body": {"text": truncate(body, LIST_BODY_MAX)},
            "action": {"button": label, "sections": [{"rows": rows}]},
        }),
    )
}

/// An image sent by the id of uploaded media, with an optional caption.
pub fn image_message(to: &str, media_id: &str, caption: Option<&str>) -> Value {
    let mut image = json!({"id": media_id});
    if let Some(caption) = caption.filter(|c| !c.trim().is_empty()) {
        image["caption"] = json!(truncate(caption, CAPTION_MAX));
    }
    envelope(to, "image", "image", image)
}

/// Marks a received message (and the earlier ones) as read.
pub fn mark_read(wamid: &str) -> Value {
    json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid})
}

/// Adds `biz_opaque_callback_data`, echoed in the status webhooks of this
/// message (e.g. the outbox row id).
pub fn with_callback_data(mut payload: Value, data: &str) -> Value {
    if let Some(p) = payload.as_object_mut() {
        p.insert("biz_opaque_callback_data".into(), json!(data));
    }
    payload
}

/// Makes the message quote the message `wamid`.
pub fn with_context(mut payload: Value, wamid: &str) -> Value {
    if let Some(p) = payload.as_object_mut() {
        p.insert("context".into(), json!({"message_id": wamid}));
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    // ----- outbound payloads (A.5) -----

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_text_message_matches_the_reference_shape() {
        assert_eq!(
            text_message("+243990000001", "Votre code CIU est MBEIBR7DA1"),
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"243990000001","type":"text",
                   "text":{"preview_url":false,"body":"Votre code CIU est MBEIBR7DA1"}})
        );
        assert_eq!(text_message(" 243 990-000001 ", "x")["to"], "243990000001");
    }

    #[test]
    fn a_business_scoped_user_id_is_addressed_as_recipient() {
        let p = text_message("US.13491208655302741918", "x");
        assert_eq!(p["recipient"], "US.13491208655302741918");
        assert!(p.get("to").is_none());
    }

    #[test]
    fn a_long_text_is_cut_on_a_character_boundary() {
        let body = "é".repeat(5000);
        let p = text_message("243990000001", &body);
        let sent = p["text"]["body"].as_str().unwrap();
        assert_eq!(sent.chars().count(), TEXT_BODY_MAX);
        assert!(sent.ends_with("é…"));
        let exact = "a".repeat(TEXT_BODY_MAX);
        assert_eq!(text_message("1", &exact)["text"]["body"], exact.as_str());
    }

    #[test]
    fn three_choices_are_the_reference_reply_buttons() {
        let p = choice_message(
            "243990000001",
            "Code de genre ?",
            &pairs(&[("g1", "Homme"), ("g2", "Femme"), ("g3", "Autre")]),
            "Choisir",
        );
        assert_eq!(
            p,
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"243990000001","type":"interactive","interactive":{"type":"button",
             "body":{"text":"Code de genre ?"},"action":{"buttons":[{"type":"reply","reply":{"id":"g1","title":"Homme"}},
             {"type":"reply","reply":{"id":"g2","title":"Femme"}},{"type":"reply","reply":{"id":"g3","title":"Autre"}}]}}})
        );
    }

    #[test]
    fn four_to_ten_choices_are_a_list() {
        let cities = pairs(&[
            ("city_KN", "Kinshasa"),
            ("city_LU", "Lubumbashi"),
            ("city_MB", "Mbandaka"),
            ("city_GO", "Goma"),
        ]);
        let p = choice_message("243990000001", "Ville de naissance ?", &cities, "Choisir");
        assert_eq!(p["interactive"]["type"], "list");
        assert_eq!(p["interactive"]["body"]["text"], "Ville de naissance ?");
        assert_eq!(p["interactive"]["action"]["button"], "Choisir");
        assert_eq!(
            p["interactive"]["action"]["sections"][0]["rows"][1],
            json!({"id":"city_LU","title":"Lubumbashi"})
        );
        let ten: Vec<(String, String)> = (0..10)
            .map(|i| (format!("c{i}"), format!("Ville {i}")))
            .collect();
        let p = choice_message("1", "?", &ten, "Choisir");
        assert_eq!(
            p["interactive"]["action"]["sections"][0]["rows"]
                .as_array()
                .map(Vec::len),
            Some(10)
        );
    }

    #[test]
    fn none_or_more_than_ten_choices_are_plain_text() {
        let eleven: Vec<(String, String)> = (0..11)
            .map(|i| (format!("c{i}"), format!("V{i}")))
            .collect();
        assert_eq!(
            choice_message("1", "Ville ?", &eleven, "Choisir"),
            text_message("1", "Ville ?")
        );
        assert_eq!(
            choice_message("1", "Ville ?", &[], "Choisir"),
            text_message("1", "Ville ?")
        );
    }

    #[test]
    fn long_titles_are_cut_and_kept_unique() {
        let p = choice_message(
            "1",
            "Zone ?",
            &pairs(&[
                ("z1", "Kinshasa-Gombe-Nord-Est"),
                ("z2", "Kinshasa-Gombe-Nord-Ouest"),
                ("z3", "kinshasa-gombe-nord-sud"),
            ]),
            "Choisir",
        );
        let titles: Vec<&str> = p["interactive"]["action"]["buttons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["reply"]["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            vec![
                "Kinshasa-Gombe-Nord…",
                "Kinshasa-Gombe-No… 2",
                "kinshasa-gombe-no… 3"
            ]
        );
    }

    #[test]
    fn a_cut_row_title_shows_in_full_as_description() {
        let choices: Vec<(String, String)> = (0..4)
            .map(|i| {
                (
                    format!("z{i}"),
                    format!("Zone de santé numéro {i} de Kinshasa"),
                )
            })
            .collect();
        let p = choice_message("1", "Zone ?", &choices, "");
        let row = &p["interactive"]["action"]["sections"][0]["rows"][0];
        assert_eq!(row["title"], "Zone de santé numéro 0…");
        assert_eq!(row["description"], "Zone de santé numéro 0 de Kinshasa");
        assert_eq!(p["interactive"]["action"]["button"], DEFAULT_LIST_BUTTON);
    }

    #[test]
    fn ids_are_never_altered() {
        // A repeated id is dropped.
        let p = choice_message("1", "?", &pairs(&[("a", "A"), ("a", "B"), ("b", "C")]), "x");
        assert_eq!(
            p["interactive"]["action"]["buttons"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        // An empty id, or one too long for any interactive message, gives text.
        assert_eq!(
            choice_message("1", "?", &pairs(&[("", "A")]), "x"),
            text_message("1", "?")
        );
        let long = "i".repeat(BUTTON_ID_MAX + 1);
        assert_eq!(
            choice_message("1", "?", &[(long, "A".into())], "x"),
            text_message("1", "?")
        );
        // Ids that fit buttons but not list rows: buttons, even for a long body.
        let id = "i".repeat(ROW_ID_MAX + 1);
        let p = choice_message("1", &"b".repeat(2000), &[(id, "A".into())], "x");
        assert_eq!(p["interactive"]["type"], "button");
        assert_eq!(
            p["interactive"]["body"]["text"]
                .as_str()
                .map(|b| b.chars().count()),
            Some(BUTTON_BODY_MAX)
        );
    }

    #[test]
    fn a_body_too_long_for_buttons_makes_a_list_rather_than_losing_text() {
        let body = "q".repeat(1500);
        let p = choice_message(
            "1",
            &body,
            &pairs(&[("g1", "Homme"), ("g2", "Femme")]),
            "Choisir",
        );
        assert_eq!(p["interactive"]["type"], "list");
        assert_eq!(p["interactive"]["body"]["text"], body.as_str());
    }

    #[test]
    fn blank_titles_show_their_id_and_newlines_become_spaces() {
        let p = choice_message("1", "", &pairs(&[("yes", " "), ("no", "Non\nmerci")]), "x");
        let buttons = &p["interactive"]["action"]["buttons"];
        assert_eq!(buttons[0]["reply"]["title"], "yes");
        assert_eq!(buttons[1]["reply"]["title"], "Non merci");
        assert_eq!(p["interactive"]["body"]["text"], "…");
    }

    #[test]
    fn image_mark_read_and_extras_match_the_reference() {
        assert_eq!(
            image_message("+243990000001", "1037543291543636", Some("Votre QR")),
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"243990000001","type":"image",
                   "image":{"id":"1037543291543636","caption":"Votre QR"}})
        );
        assert!(
            image_message("1", "5", None)["image"]
                .get("caption")
                .is_none()
        );
        assert_eq!(
            mark_read("wamid.B2"),
            json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.B2"})
        );
        let p = with_context(
            with_callback_data(text_message("1", "x"), "outbox:42"),
            "wamid.B2",
        );
        assert_eq!(p["biz_opaque_callback_data"], "outbox:42");
        assert_eq!(p["context"]["message_id"], "wamid.B2");
    }

    /// Checks a payload against the A.5 limits; `ids` are the ids given.
    fn check_limits(p: &Value, ids: &[String]) -> Result<(), String> {
        let chars = |v: &Value| v.as_str().map(|s| s.chars().count());
        let within = |v: &Value, max: usize, what: &str| match chars(v) {
            Some(n) if (1..=max).contains(&n) => Ok(()),
            other => Err(format!("{what}: length {other:?}, limit {max} ({v})")),
        };
        if p["messaging_product"] != "whatsapp" || p["recipient_type"] != "individual" {
            return Err("common fields".into());
        }
        let to = p["to"].as_str().unwrap_or("");
        if to.is_empty() || !to.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("to {to:?}"));
        }
        let unique = |items: &[&str], what: &str| {
            let set: HashSet<String> = items.iter().map(|s| s.to_lowercase()).collect();
            if set.len() == items.len() {
                Ok(())
            } else {
                Err(format!("{what} not unique: {items:?}"))
            }
        };
        let known = |id: &str| {
            if ids.iter().any(|i| i == id) {
                Ok(())
            } else {
                Err(format!("id {id:?} was not given"))
            }
        };
        match (p["type"].as_str(), p["interactive"]["type"].as_str()) {
            (Some("text"), _) => {
                let n = chars(&p["text"]["body"]).ok_or("text body")?;
                if n > TEXT_BODY_MAX {
                    return Err(format!("text body {n}"));
                }
            }
            (Some("interactive"), Some("button")) => {
                within(&p["interactive"]["body"]["text"], BUTTON_BODY_MAX, "body")?;
                let buttons = p["interactive"]["action"]["buttons"]
                    .as_array()
                    .ok_or("buttons")?;
                if !(1..=BUTTONS_MAX).contains(&buttons.len()) {
                    return Err(format!("{} buttons", buttons.len()));
                }
                let mut titles = vec![];
                let mut button_ids = vec![];
                for b in buttons {
                    within(&b["reply"]["title"], BUTTON_TITLE_MAX, "button title")?;
                    within(&b["reply"]["id"], BUTTON_ID_MAX, "button id")?;
                    titles.push(b["reply"]["title"].as_str().unwrap_or(""));
                    let id = b["reply"]["id"].as_str().unwrap_or("");
                    known(id)?;
                    button_ids.push(id);
                }
                unique(&titles, "button titles")?;
                unique(&button_ids, "button ids")?;
            }
            (Some("interactive"), Some("list")) => {
                within(&p["interactive"]["body"]["text"], LIST_BODY_MAX, "body")?;
                within(
                    &p["interactive"]["action"]["button"],
                    LIST_BUTTON_MAX,
                    "list button",
                )?;
                let sections = p["interactive"]["action"]["sections"]
                    .as_array()
                    .ok_or("sections")?;
                let rows: Vec<&Value> = sections
                    .iter()
                    .flat_map(|s| s["rows"].as_array().into_iter().flatten())
                    .collect();
                if sections.len() != 1 || !(1..=LIST_ROWS_MAX).contains(&rows.len()) {
                    return Err(format!("{} sections, {} rows", sections.len(), rows.len()));
                }
                let mut titles = vec![];
                let mut row_ids = vec![];
                for r in rows {
                    within(&r["title"], ROW_TITLE_MAX, "row title")?;
                    within(&r["id"], ROW_ID_MAX, "row id")?;
                    if let Some(d) = r.get("description") {
                        within(d, ROW_DESCRIPTION_MAX, "row description")?;
                    }
                    titles.push(r["title"].as_str().unwrap_or(""));
                    let id = r["id"].as_str().unwrap_or("");
                    known(id)?;
                    row_ids.push(id);
                }
                unique(&titles, "row titles")?;
                unique(&row_ids, "row ids")?;
            }
            other => return Err(format!("unexpected type {other:?}")),
        }
        Ok(())
    }

    fn id_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof![
            8 => "[a-z0-9_]{1,6}",
            1 => "[a-z]{195,205}",
            1 => "[a-z]{250,260}",
            1 => proptest::strategy::Just(String::new()),
        ]
    }

    fn title_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof![
            "\\PC{0,30}",
            ".{0,30}",
            "[ \t\n]{0,3}",
            "Kinshasa-Gombe-Nord-[a-zA-Z0-9]{1,8}",
            "[aA]{18,26}",
        ]
    }

    proptest::proptest! {
        #[test]
        fn choice_messages_never_break_a_limit(
            to in "\\+?[0-9]{6,15}",
            body in proptest::prop_oneof!["\\PC{0,60}", "\\PC{1000,1100}", "\\PC{4090,4100}", "[ \n]{0,3}"],
            choices in proptest::collection::vec((id_strategy(), title_strategy()), 0..13),
            label in "\\PC{0,30}",
        ) {
            let p = choice_message(&to, &body, &choices, &label);
            let ids: Vec<String> = choices.iter().map(|(id, _)| id.clone()).collect();
            if let Err(e) = check_limits(&p, &ids) {
                return Err(proptest::test_runner::TestCaseError::fail(format!("{e}\n{p}")));
            }
            // Usable choices are never lost to a plain text message.
            let distinct: HashSet<&String> = ids.iter().collect();
            let usable = (1..=LIST_ROWS_MAX).contains(&distinct.len())
                && ids.iter().all(|id| !id.is_empty() && id.chars().count() <= ROW_ID_MAX);
            if usable {
                proptest::prop_assert_eq!(p["type"].as_str(), Some("interactive"));
            }
        }

        #[test]
        fn text_messages_never_break_a_limit(to in "\\+?[0-9]{6,15}", body in "\\PC{0,5000}") {
            let p = text_message(&to, &body);
            proptest::prop_assert!(check_limits(&p, &[]).is_ok());
            let sent = p["text"]["body"].as_str().unwrap_or("");
            if body.chars().count() <= TEXT_BODY_MAX {
                proptest::prop_assert_eq!(sent, body.as_str());
            }
        }
    }
}
