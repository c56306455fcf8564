//! The CSV exports (`uic.export`): the registrations of a period, and a
//! report's figures as lines (one figure each). Written with the `csv`
//! crate (quoting, line ends); cells staff typed (a number's name) are
//! kept from being read as formulas by spreadsheets.

use super::Line;

/// A cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, a
/// tab or a carriage return first) is written after an apostrophe.
pub fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// A report's figures, one line each: the period, the number (or
/// « Tous les numéros »), the figure's key, its question (1 to 5, where it
/// has one) and its value.
pub fn figures(lines: &[Line]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["from", "to", "number", "figure", "question", "value"])?;
    for l in lines {
        let question = l.question.map(|q| q.to_string()).unwrap_or_default();
        w.write_record([
            l.from.as_str(),
            l.to.as_str(),
            &cell(&l.number),
            l.figure,
            &question,
            &l.value,
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// One registration as exported.
#[derive(Debug, Clone)]
pub struct RegistrationRow {
    pub uic: String,
    pub number: String,
    pub first_seen: String,
    pub last_seen: String,
    pub times_seen: i64,
    pub phones: i64,
    pub collision: String,
    pub dhis2: String,
    /// The phone numbers that registered it; `None`: the exporter may not
    /// see them (no `contacts.view`), and the column is not written.
    pub phone_numbers: Option<Vec<String>>,
}

/// The registrations, one line each; the phone numbers' column only when
/// every row has them (`contacts.view`).
pub fn registrations(rows: &[RegistrationRow], with_phones: bool) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = vec![
        "uic",
        "number",
        "first_seen",
        "last_seen",
        "times_seen",
        "phones",
        "collision",
        "dhis2",
    ];
    if with_phones {
        head.push("phone_numbers");
    }
    w.write_record(&head)?;
    for r in rows {
        let times = r.times_seen.to_string();
        let phones = r.phones.to_string();
        let mut record = vec![
            r.uic.clone(),
            cell(&r.number).into_owned(),
            r.first_seen.clone(),
            r.last_seen.clone(),
            times,
            phones,
            r.collision.clone(),
            r.dhis2.clone(),
        ];
        if with_phones {
            record.push(r.phone_numbers.clone().unwrap_or_default().join(" "));
        }
        w.write_record(&record)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_is_written_as_text() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1+1"), "'-1+1");
        assert_eq!(cell("Kinshasa PrEP"), "Kinshasa PrEP");
    }

    #[test]
    fn registrations_parse_back_and_phones_only_when_allowed() {
        let row = RegistrationRow {
            uic: "MBEIBR7DA1".into(),
            number: "Programme \"A\", Kin".into(),
            first_seen: "2026-11-28T10:00:00Z".into(),
            last_seen: "2026-11-29T10:00:00Z".into(),
            times_seen: 2,
            phones: 1,
            collision: "none".into(),
            dhis2: "synced".into(),
            phone_numbers: Some(vec!["+243990000001".into()]),
        };
        let without = registrations(std::slice::from_ref(&row), false).unwrap();
        let text = String::from_utf8(without.clone()).unwrap();
        assert!(!text.contains("243990000001"), "{text}");
        let mut r = csv::Reader::from_reader(without.as_slice());
        assert_eq!(r.headers().unwrap().len(), 8);
        let back: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(back.len(), 1);
        assert_eq!(&back[0][1], "Programme \"A\", Kin");
        let with = registrations(&[row], true).unwrap();
        let mut r = csv::Reader::from_reader(with.as_slice());
        let back: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(&back[0][8], "+243990000001");
    }
}
