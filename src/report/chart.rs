//! Charts drawn on the server as SVG (placeholder until the charts land).

/// A chart, ready to be written into a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(pub String);

impl std::fmt::Display for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One series of values.
pub struct Series {
    pub name: String,
    pub values: Vec<u64>,
}

pub fn bars(_title: &str, _labels: &[String], _series: &[Series], _stacked: bool) -> Svg {
    Svg(String::new())
}

pub fn hbars(_title: &str, _rows: &[(String, u64)]) -> Svg {
    Svg(String::new())
}
