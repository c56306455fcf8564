//! Forms read as name/value pairs (checkboxes and multi-selects).

/// Checkbox and multi-select values of a form (`name=a&name=b`), which
/// `Form<T>` cannot read into a struct.
pub fn form_values<'a>(body: &'a [(String, String)], name: &str) -> impl Iterator<Item = &'a str> {
    body.iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// One field of a form read as pairs.
pub fn form_value<'a>(body: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form_values(body, name).next()
}
