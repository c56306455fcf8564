//! Charts drawn on the server as SVG, for the reports page: no script, no
//! outside service, a few kilobytes gzipped. Pure: numbers in, markup out.
//!
//! - `bars`: vertical bars per label (codes per day per programme, up to a
//!   year of days), side by side or stacked by series.
//! - `hbars`: horizontal bars proportional to the largest (the funnel).
//!
//! The markup comes from askama templates (`templates/report/chart_*.svg`):
//! askama escapes `.svg` templates like HTML (`&`, `<`, `>`, quotes), which
//! is also safe XML, so a programme named `<script>` stays text. Control
//! characters, which XML forbids even escaped, are dropped first (`clean`).
//!
//! Every chart has one width in SVG units (`WIDTH`) and scales to the page
//! (`viewBox`, `width="100%"`); a cap in `rem` keeps it from growing huge on
//! a desktop. Text is measured with an estimate (`text_width`), not a font:
//! the layout leaves room for the widest glyphs. Colours are Okabe–Ito's,
//! told apart by colour-blind readers; text uses the page's colour. The
//! figures themselves are in the page's table: the drawing is hidden from
//! screen readers, which read the title and a one-line summary.

use crate::auth::Lang;
use askama::Template;
use std::fmt;

/// A chart ready to be written into a page (`{{ chart|safe }}`): its
/// text was escaped when it was drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(String);

impl Svg {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Svg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One series of a bar chart: a programme, with one value per label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: String,
    pub values: Vec<u64>,
}

/// Okabe & Ito's colour-blind-safe colours, the yellow last (it is faint
/// on white) and without the black (it is the text's). More series than
/// colours reuse them in turn; the legend and the table still tell them apart.
pub const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
];

/// Width of every chart in SVG units. Small, so that text stays readable
/// once the chart is shrunk to a phone's 360 px.
const WIDTH: f64 = 400.0;
/// Most a chart grows to on a wide screen (CSS).
const MAX_WIDTH: &str = "44rem";
/// Size of all text, in SVG units.
const FONT: f64 = 12.0;
/// Height of the bars' drawing area.
const PLOT_HEIGHT: f64 = 170.0;
/// Least room between two labels of the x axis.
const LABEL_GAP: f64 = FONT * 0.5;
/// Longest text a label of the x axis may take (longer ones are cut).
const X_LABEL_MAX: f64 = 110.0;
/// Longest text of a legend entry.
const LEGEND_MAX: f64 = 180.0;
/// Longest title, and longest name in the summary read to screen readers
/// (the page's table has them in full).
const TITLE_MAX: f64 = FONT * 120.0;
const SUMMARY_NAME_MAX: f64 = FONT * 40.0;
/// Thickness of one horizontal bar, and the room around it.
const HBAR: f64 = 14.0;

/// Vertical bars: one slot per label, one bar per series in it (stacked
/// when `stacked`), a y axis with 3 to 5 round ticks, a legend when there
/// is more than one series. Values past `labels.len()` are not drawn and
/// missing ones count as 0. With nothing to draw (no label, no series,
/// only zeros) the chart says so in words instead.
pub fn bars(title: &str, labels: &[String], series: &[Series], stacked: bool, lang: Lang) -> Svg {
    let slots = labels.len();
    let value = |s: &Series, i: usize| s.values.get(i).copied().unwrap_or(0);
    // u128: a sum of many u64 near their limit must not wrap.
    let totals: Vec<u128> = (0..slots)
        .map(|i| series.iter().map(|s| u128::from(value(s, i))).sum())
        .collect();
    let highest = if stacked {
        totals.iter().copied().max().unwrap_or(0)
    } else {
        (0..slots)
            .flat_map(|i| series.iter().map(move |s| u128::from(value(s, i))))
            .max()
            .unwrap_or(0)
    };
    if highest == 0 {
        return empty(title, lang);
    }

    // Legend first: its height pushes the plot down.
    let (legend, legend_height) = if series.len() > 1 {
        legend(series)
    } else {
        (Vec::new(), 0.0)
    };

    // The y axis: its labels' width sets where the plot starts.
    let ticks = ticks(highest);
    let top = *ticks.last().expect("ticks are never empty") as f64;
    let tick_texts: Vec<String> = ticks.iter().map(|&t| tick_label(t, lang)).collect();
    let tick_room = tick_texts
        .iter()
        .map(|t| text_width(t, FONT))
        .fold(0.0, f64::max);
    let left = (tick_room + 6.0).ceil();
    let right = WIDTH - 4.0;
    let plot_top = legend_height + FONT;
    let base = plot_top + PLOT_HEIGHT;
    let scale = PLOT_HEIGHT / top;
    let y_of = |v: f64| base - v * scale;

    let grid = ticks
        .iter()
        .zip(tick_texts)
        .map(|(&t, text)| Tick {
            y: Px(y_of(t as f64)),
            text,
        })
        .collect();

    let slot = (right - left) / slots as f64;
    let bar_room = slot * if slot > 4.0 { 0.8 } else { 0.9 };
    let mut groups: Vec<Group> = series
        .iter()
        .enumerate()
        .map(|(n, _)| Group {
            fill: PALETTE[n % PALETTE.len()],
            rects: Vec::new(),
        })
        .collect();
    for i in 0..slots {
        let slot_left = left + slot * i as f64 + (slot - bar_room) / 2.0;
        let mut below = 0.0;
        for (n, s) in series.iter().enumerate() {
            let v = value(s, i);
            if stacked {
                if v > 0 {
                    let above = below + v as f64;
                    groups[n].rects.push(Rect {
                        x: Px(slot_left),
                        y: Px(y_of(above)),
                        width: Px(bar_room),
                        height: Px(v as f64 * scale),
                    });
                    below = above;
                }
            } else if v > 0 {
                let width = bar_room / series.len() as f64;
                groups[n].rects.push(Rect {
                    x: Px(slot_left + width * n as f64),
                    y: Px(y_of(v as f64)),
                    width: Px(width),
                    height: Px(v as f64 * scale),
                });
            }
        }
    }
    groups.retain(|g| !g.rects.is_empty());

    let texts: Vec<String> = labels
        .iter()
        .map(|l| fit(l, FONT, X_LABEL_MAX.min((right - left) / 2.0 - LABEL_GAP)))
        .collect();
    let widths: Vec<f64> = texts.iter().map(|t| text_width(t, FONT)).collect();
    let x_labels = pick_labels(&widths, left, slot)
        .into_iter()
        .map(|(i, x)| XLabel {
            x: Px(x),
            text: texts[i].clone(),
        })
        .collect();

    // The summary read out instead of the drawing.
    let (busiest, most) = totals
        .iter()
        .enumerate()
        .max_by_key(|&(i, t)| (*t, std::cmp::Reverse(i)))
        .map(|(i, &t)| (i, t))
        .unwrap_or((0, 0));
    let sum: u128 = totals.iter().sum();
    let summary = format!(
        "{} {}{} {} {} ({}).",
        lang.pick("Total :", "Total:"),
        number(sum, lang),
        lang.pick(" ;", ";"),
        lang.pick("le plus haut :", "highest:"),
        number(most, lang),
        fit(&labels[busiest], FONT, SUMMARY_NAME_MAX),
    );

    render(BarsSvg {
        frame: Frame::new(title, &summary, base + FONT * 1.6),
        grid,
        left: Px(left),
        right: Px(right),
        base: Px(base),
        tick_x: Px(left - 4.0),
        groups,
        x_labels,
        label_y: Px(base + FONT * 1.2),
        legend,
    })
}

/// Horizontal bars, one per row, each as long as its value against the
/// largest, its label above it and its value at its end. Only zeros, or no
/// row: the chart says there is nothing to show.
pub fn hbars(title: &str, rows: &[(String, u64)], lang: Lang) -> Svg {
    let largest = rows.iter().map(|r| r.1).max().unwrap_or(0);
    if largest == 0 {
        return empty(title, lang);
    }
    let values: Vec<String> = rows.iter().map(|r| number(u128::from(r.1), lang)).collect();
    // Room for the longest value after the longest bar.
    let value_room = values
        .iter()
        .map(|v| text_width(v, FONT))
        .fold(0.0, f64::max);
    let left = 2.0;
    let longest = WIDTH - left - value_room - 8.0;
    let row_height = FONT * 1.3 + HBAR + 8.0;
    let bars = rows
        .iter()
        .zip(values)
        .enumerate()
        .map(|(i, ((label, v), text))| {
            let top = row_height * i as f64;
            let length = longest * (*v as f64 / largest as f64);
            let bar_y = top + FONT * 1.3;
            HBar {
                label: fit(label, FONT, WIDTH - left),
                label_y: Px(top + FONT),
                y: Px(bar_y),
                length: Px(length),
                value: text,
                value_x: Px(left + length + 4.0),
                value_y: Px(bar_y + HBAR / 2.0),
            }
        })
        .collect();
    let summary = rows
        .iter()
        .map(|(label, v)| {
            let label = fit(label, FONT, SUMMARY_NAME_MAX);
            format!(
                "{label}{} {}",
                lang.pick(" :", ":"),
                number(u128::from(*v), lang)
            )
        })
        .collect::<Vec<_>>()
        .join(lang.pick(" ; ", "; "));
    let summary = format!("{summary}.");
    render(HBarsSvg {
        frame: Frame::new(title, &summary, row_height * rows.len() as f64),
        left: Px(left),
        thickness: Px(HBAR),
        fill: PALETTE[0],
        bars,
    })
}

/// The round ticks of an axis going up to `highest` (at least 1): 0, then
/// 2 to 4 equal steps of 1, 2 or 5 × 10^k, the last one at or above
/// `highest`.
pub fn ticks(highest: u128) -> Vec<u128> {
    let highest = highest.max(1);
    let mut step: u128 = 1;
    let mut k = 0;
    // The smallest round step giving at most 4 intervals; a step one notch
    // smaller would give more than 4, so this one gives at least 2 unless
    // the step is 1 (then `max(2)` below).
    while highest.div_ceil(step) > 4 {
        k += 1;
        step = [1, 2, 5][k % 3] * 10u128.pow((k / 3) as u32);
    }
    let intervals = highest.div_ceil(step).max(2);
    (0..=intervals).map(|i| i * step).collect()
}

/// The labels of the x axis to write, as (index, centre): the first and
/// the last always, and between them labels evenly spread, as many as fit
/// without overlapping (about every n-th, n as small as keeps them apart).
/// Each label stays within the chart's width.
fn pick_labels(widths: &[f64], left: f64, slot: f64) -> Vec<(usize, f64)> {
    let count = widths.len();
    if count == 0 {
        return Vec::new();
    }
    let place = |i: usize| {
        let half = widths[i] / 2.0;
        let centre = left + slot * (i as f64 + 0.5);
        (i, centre.clamp(half, (WIDTH - half).max(half)))
    };
    let clear = |a: (usize, f64), b: (usize, f64)| {
        (b.1 - a.1).abs() >= (widths[a.0] + widths[b.0]) / 2.0 + LABEL_GAP
    };
    let (first, last) = (place(0), place(count - 1));
    if count == 1 {
        return vec![first];
    }
    // The first and last may be pushed inwards by the edges: spread the
    // others evenly between where they are, each on its own slot, as many
    // as fit (a few tries: a label's room is at most a few dozen).
    let widest = widths.iter().copied().fold(0.0, f64::max);
    let span = last.1 - first.1;
    let most = ((span / (widest + LABEL_GAP)).floor() as usize).clamp(1, count - 1);
    for intervals in (1..=most).rev() {
        let mut placed = vec![first];
        for j in 1..intervals {
            let x = first.1 + span * j as f64 / intervals as f64;
            let i = (((x - left) / slot - 0.5).round().max(0.0) as usize).min(count - 1);
            placed.push(place(i));
        }
        placed.push(last);
        let distinct = placed.windows(2).all(|w| w[0].0 < w[1].0);
        if distinct && placed.windows(2).all(|w| clear(w[0], w[1])) {
            return placed;
        }
    }
    // The first and the last: their width is capped to half the plot.
    vec![first, last]
}

/// The legend's entries, laid out in lines across the chart, and its height.
fn legend(series: &[Series]) -> (Vec<LegendEntry>, f64) {
    let swatch = FONT * 0.8;
    let line = FONT * 1.5;
    let mut entries = Vec::new();
    let (mut x, mut y) = (0.0, 0.0);
    for (n, s) in series.iter().enumerate() {
        let text = fit(&s.name, FONT, LEGEND_MAX);
        let width = swatch + 4.0 + text_width(&text, FONT);
        if x > 0.0 && x + width > WIDTH {
            x = 0.0;
            y += line;
        }
        entries.push(LegendEntry {
            fill: PALETTE[n % PALETTE.len()],
            x: Px(x),
            y: Px(y + (line - swatch) / 2.0),
            size: Px(swatch),
            text_x: Px(x + swatch + 4.0),
            text_y: Px(y + line / 2.0),
            text,
        });
        x += width + FONT;
    }
    (entries, y + line)
}

/// The chart that says there is nothing to draw.
fn empty(title: &str, lang: Lang) -> Svg {
    let text = lang.pick(
        "Aucune donnée pour cette période",
        "No data for this period",
    );
    render(EmptySvg {
        frame: Frame::new(title, text, FONT * 4.0),
        x: Px(WIDTH / 2.0),
        y: Px(FONT * 2.0),
        text,
    })
}

fn render(template: impl Template) -> Svg {
    // Only our own fields' Display can fail, and none does.
    Svg(template.render().unwrap_or_default())
}

/// What every chart's outer element needs.
struct Frame {
    title: String,
    /// The title and the summary, for screen readers.
    label: String,
    width: Px,
    height: Px,
    max_width: &'static str,
    font: Px,
}

impl Frame {
    fn new(title: &str, summary: &str, height: f64) -> Frame {
        let title = fit(title, FONT, TITLE_MAX);
        Frame {
            label: format!("{title}. {summary}"),
            title,
            width: Px(WIDTH),
            height: Px(height.ceil()),
            max_width: MAX_WIDTH,
            font: Px(FONT),
        }
    }
}

#[derive(Template)]
#[template(path = "report/chart_bars.svg")]
struct BarsSvg {
    frame: Frame,
    grid: Vec<Tick>,
    left: Px,
    right: Px,
    base: Px,
    tick_x: Px,
    groups: Vec<Group>,
    x_labels: Vec<XLabel>,
    label_y: Px,
    legend: Vec<LegendEntry>,
}

#[derive(Template)]
#[template(path = "report/chart_hbars.svg")]
struct HBarsSvg {
    frame: Frame,
    left: Px,
    thickness: Px,
    fill: &'static str,
    bars: Vec<HBar>,
}

#[derive(Template)]
#[template(path = "report/chart_empty.svg")]
struct EmptySvg {
    frame: Frame,
    x: Px,
    y: Px,
    text: &'static str,
}

struct Tick {
    y: Px,
    text: String,
}

struct Group {
    fill: &'static str,
    rects: Vec<Rect>,
}

struct Rect {
    x: Px,
    y: Px,
    width: Px,
    height: Px,
}

struct XLabel {
    x: Px,
    text: String,
}

struct LegendEntry {
    fill: &'static str,
    x: Px,
    y: Px,
    size: Px,
    text_x: Px,
    text_y: Px,
    text: String,
}

struct HBar {
    label: String,
    label_y: Px,
    y: Px,
    length: Px,
    value: String,
    value_x: Px,
    value_y: Px,
}

/// A coordinate as written: two decimals at most, never NaN or infinite
/// (those would make the drawing invalid; the layout never makes them).
#[derive(Debug, Clone, Copy)]
struct Px(f64);

impl fmt::Display for Px {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.is_finite() { self.0 } else { 0.0 };
        let text = format!("{v:.2}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        f.write_str(if text == "-0" { "0" } else { text })
    }
}

/// A count with its thousands grouped: `12 345` (narrow no-break space)
/// in French, `12,345` in English.
fn number(v: u128, lang: Lang) -> String {
    let digits = v.to_string();
    let sep = lang.pick("\u{202F}", ",");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// A tick of the y axis: in full up to 9 999, then shortened (`25 k`,
/// `1,5 M`), so that the axis stays narrow whatever the counts.
fn tick_label(v: u128, lang: Lang) -> String {
    if v < 10_000 {
        return number(v, lang);
    }
    let units: [(u128, &str, &str); 6] = [
        (10u128.pow(18), "E", "E"),
        (10u128.pow(15), "P", "P"),
        (10u128.pow(12), "T", "T"),
        (10u128.pow(9), "Md", "B"),
        (10u128.pow(6), "M", "M"),
        (10u128.pow(3), "k", "k"),
    ];
    let (unit, fr, en) = units
        .into_iter()
        .find(|u| v >= u.0)
        .expect("v is at least 10 000");
    let whole = number(v / unit, lang);
    let width = unit.ilog10() as usize;
    let frac = format!("{:0width$}", v % unit);
    let frac = frac.trim_end_matches('0');
    let mut out = whole;
    if !frac.is_empty() {
        out.push_str(lang.pick(",", "."));
        out.push_str(frac);
    }
    out.push_str(lang.pick("\u{202F}", ""));
    out.push_str(lang.pick(fr, en));
    out
}

/// The text without what XML cannot hold even escaped (control
/// characters, U+FFFE and U+FFFF); line breaks and tabs become spaces.
fn clean(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            '\u{FFFE}' | '\u{FFFF}' => None,
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// The text, cleaned and cut with an ellipsis to fit `room` (estimated).
fn fit(text: &str, font: f64, room: f64) -> String {
    let text = clean(text);
    if text_width(&text, font) <= room {
        return text;
    }
    let mut out = String::new();
    let mut width = text_width("…", font);
    for c in text.chars() {
        width += char_width(c) * font;
        if width > room {
            break;
        }
        out.push(c);
    }
    let mut out = out.trim_end().to_string();
    out.push('…');
    out
}

/// An estimate, on the wide side, of the width of `text` in a sans-serif
/// font of size `font`: enough to keep labels from overlapping without
/// knowing which font the phone has.
fn text_width(text: &str, font: f64) -> f64 {
    text.chars().map(char_width).sum::<f64>() * font
}

/// The width of a character, in font sizes.
fn char_width(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | '\u{202F}' => 0.3,
        ' ' | 'f' | 'r' | 't' | '(' | ')' | '[' | ']' | '-' | 'I' => 0.4,
        'm' | 'w' | 'M' | 'W' | '@' | '%' => 0.9,
        c if c.is_ascii_uppercase() => 0.72,
        c if c.is_ascii() => 0.6,
        // Accented Latin letters (French names).
        c if c.is_alphabetic() && c < '\u{0250}' => 0.72,
        // Other scripts, emoji: wide.
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::XmlVersion;
    use quick_xml::escape::unescape;
    use quick_xml::events::Event;
    use quick_xml::reader::Reader;
    use std::collections::HashMap;

    /// One element of a chart, its attributes and text unescaped.
    #[derive(Debug)]
    struct Node {
        name: String,
        attrs: HashMap<String, String>,
        text: String,
    }

    impl Node {
        fn num(&self, attr: &str) -> f64 {
            let v: f64 = self.attrs[attr].parse().expect("a number");
            assert!(v.is_finite(), "{attr} is {v}");
            v
        }
    }

    /// Parses the chart as XML, failing on anything ill-formed (unclosed
    /// or mismatched elements, unknown entities, characters XML forbids).
    fn parse(svg: &Svg) -> Vec<Node> {
        let text = svg.as_str();
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && !"\n\t\r".contains(c)),
            "a control character in {text:?}"
        );
        let mut reader = Reader::from_str(text);
        let mut nodes: Vec<Node> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut raw_text: HashMap<usize, String> = HashMap::new();
        loop {
            let event = reader.read_event().expect("well-formed XML");
            let (start, empty) = match &event {
                Event::Start(e) => (Some(e), false),
                Event::Empty(e) => (Some(e), true),
                _ => (None, false),
            };
            if let Some(e) = start {
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("a well-formed attribute");
                        (
                            a.key.as_ref().to_string(),
                            a.normalized_value(XmlVersion::Implicit1_0)
                                .expect("known entities")
                                .into_owned(),
                        )
                    })
                    .collect();
                nodes.push(Node {
                    name: e.name().as_ref().to_string(),
                    attrs,
                    text: String::new(),
                });
                if !empty {
                    open.push(nodes.len() - 1);
                }
                continue;
            }
            match event {
                Event::End(_) => {
                    open.pop().expect("an element to close");
                }
                Event::Text(t) => {
                    if let Some(&n) = open.last() {
                        let raw: &str = &t;
                        raw_text.entry(n).or_default().push_str(raw);
                    }
                }
                Event::GeneralRef(r) => {
                    let n = *open.last().expect("text inside an element");
                    let raw: &str = &r;
                    raw_text.entry(n).or_default().push_str(&format!("&{raw};"));
                }
                Event::Eof => break,
                Event::Decl(_) | Event::Comment(_) | Event::CData(_) | Event::PI(_) => {
                    panic!("unexpected {event:?}")
                }
                _ => {}
            }
        }
        assert!(open.is_empty(), "unclosed elements");
        assert_eq!(nodes.first().map(|n| n.name.as_str()), Some("svg"));
        for (n, raw) in raw_text {
            nodes[n].text = unescape(&raw).expect("known entities").into_owned();
        }
        nodes
    }

    fn bar_rects(nodes: &[Node]) -> Vec<&Node> {
        nodes
            .iter()
            .filter(|n| n.name == "rect" && n.attrs.get("class").is_some_and(|c| c == "bar"))
            .collect()
    }

    fn texts(nodes: &[Node]) -> Vec<&str> {
        nodes
            .iter()
            .filter(|n| n.name == "text")
            .map(|n| n.text.as_str())
            .collect()
    }

    fn days(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("2026-{:02}-{:02}", 1 + i / 31 % 12, 1 + i % 31))
            .collect()
    }

    fn series(name: &str, values: &[u64]) -> Series {
        Series {
            name: name.to_string(),
            values: values.to_vec(),
        }
    }

    /// Checks every number of the output is finite and the chart says it
    /// is empty, or not.
    fn says_empty(svg: &Svg) -> bool {
        assert!(!svg.as_str().contains("NaN") && !svg.as_str().contains("inf"));
        let nodes = parse(svg);
        texts(&nodes).contains(&"Aucune donnée pour cette période")
    }

    #[test]
    fn bar_heights_are_proportional_to_values() {
        let values = [3, 0, 7, 1, 12, 5];
        let svg = bars("Codes", &days(6), &[series("A", &values)], false, Lang::Fr);
        let nodes = parse(&svg);
        let rects = bar_rects(&nodes);
        let drawn: Vec<u64> = values.iter().copied().filter(|&v| v > 0).collect();
        assert_eq!(rects.len(), drawn.len());
        let per_unit = rects[0].num("height") / drawn[0] as f64;
        assert!(per_unit > 0.0);
        for (r, v) in rects.iter().zip(&drawn) {
            assert!(
                (r.num("height") - per_unit * *v as f64).abs() < 0.02,
                "{r:?} for {v}"
            );
        }
        // All stand on the same base line.
        let base = rects[0].num("y") + rects[0].num("height");
        for r in &rects {
            assert!((r.num("y") + r.num("height") - base).abs() < 0.02);
        }
        // No legend for a single series.
        assert!(!texts(&nodes).contains(&"A"));
    }

    #[test]
    fn stacked_bars_are_as_tall_as_the_totals() {
        let a = [4, 0, 10, 2];
        let b = [6, 3, 0, 2];
        let svg = bars(
            "Codes",
            &days(4),
            &[series("A", &a), series("B", &b)],
            true,
            Lang::Fr,
        );
        let nodes = parse(&svg);
        let rects = bar_rects(&nodes);
        assert_eq!(rects.len(), 6);
        // Group the segments by their x: one stack per day.
        let mut stacks: Vec<(f64, f64, f64)> = Vec::new(); // x, top, bottom
        for r in &rects {
            let (x, top, bottom) = (r.num("x"), r.num("y"), r.num("y") + r.num("height"));
            match stacks.iter_mut().find(|s| (s.0 - x).abs() < 0.01) {
                Some(s) => {
                    // Segments touch: one's top is the next one's bottom.
                    assert!((s.1 - bottom).abs() < 0.02 || (s.2 - top).abs() < 0.02);
                    s.1 = s.1.min(top);
                    s.2 = s.2.max(bottom);
                }
                None => stacks.push((x, top, bottom)),
            }
        }
        stacks.sort_by(|p, q| p.0.total_cmp(&q.0));
        let heights: Vec<f64> = stacks.iter().map(|s| s.2 - s.1).collect();
        let per_unit = heights[0] / 10.0;
        for (h, total) in heights.iter().zip([10.0, 3.0, 10.0, 4.0]) {
            assert!((h - per_unit * total).abs() < 0.05, "{heights:?}");
        }
        // Two series: a legend with both names.
        let texts = texts(&nodes);
        assert!(texts.contains(&"A") && texts.contains(&"B"));
    }

    #[test]
    fn side_by_side_bars_share_their_slot() {
        let svg = bars(
            "Codes",
            &days(2),
            &[series("A", &[2, 4]), series("B", &[4, 2])],
            false,
            Lang::En,
        );
        let nodes = parse(&svg);
        let rects = bar_rects(&nodes);
        assert_eq!(rects.len(), 4);
        for r in &rects[..2] {
            for s in &rects[2..] {
                // Same day, A before B, not overlapping.
                if (r.num("x") - s.num("x")).abs() < 100.0 {
                    assert!(r.num("x") + r.num("width") <= s.num("x") + 0.01);
                }
            }
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_highest() {
        let round = |step: u128| {
            let mut s = step;
            while s >= 10 && s.is_multiple_of(10) {
                s /= 10;
            }
            matches!(s, 1 | 2 | 5)
        };
        let mut samples: Vec<u128> = (0..=2000).collect();
        for k in 0..38 {
            let p = 10u128.pow(k);
            samples.extend([p - 1, p, p + 1, 2 * p + 1, 5 * p - 1, 7 * p]);
        }
        samples.extend([u64::MAX as u128, 999_999_999_999, 1_000_000_000_001]);
        for highest in samples {
            let t = ticks(highest);
            assert!((3..=5).contains(&t.len()), "{highest}: {t:?}");
            assert_eq!(t[0], 0);
            let step = t[1];
            assert!(round(step), "{highest}: {t:?}");
            assert!(t.windows(2).all(|w| w[1] - w[0] == step), "{t:?}");
            assert!(*t.last().unwrap() >= highest, "{highest}: {t:?}");
            // No needless tick: the one before last is below the highest.
            assert!(
                t[t.len() - 2] < highest.max(1) || t.len() == 3,
                "{highest}: {t:?}"
            );
        }
    }

    /// The labels of the x axis written, with their estimated extent.
    fn x_labels(nodes: &[Node]) -> Vec<(f64, f64, String)> {
        nodes
            .iter()
            .filter(|n| n.name == "text" && n.attrs.contains_key("x"))
            .filter(|n| n.attrs.contains_key("dy"))
            .map(|n| {
                let w = text_width(&n.text, FONT);
                let x = n.num("x");
                (x - w / 2.0, x + w / 2.0, n.text.clone())
            })
            .collect()
    }

    #[test]
    fn day_labels_never_overlap_and_the_first_and_last_are_written() {
        for count in 1..=370 {
            let labels = days(count);
            let values: Vec<u64> = (0..count as u64).map(|i| i % 7 + 1).collect();
            let svg = bars("Codes", &labels, &[series("A", &values)], false, Lang::Fr);
            let nodes = parse(&svg);
            let y_axis: Vec<f64> = nodes
                .iter()
                .filter(|n| n.name == "text")
                .filter(|n| n.attrs.contains_key("x") && labels.contains(&n.text))
                .map(|n| n.num("y"))
                .collect();
            let written: Vec<(f64, f64, String)> = x_labels(&nodes)
                .into_iter()
                .filter(|l| labels.contains(&l.2))
                .collect();
            assert!(!y_axis.is_empty());
            assert_eq!(written.first().unwrap().2, labels[0], "{count}");
            assert_eq!(written.last().unwrap().2, labels[count - 1], "{count}");
            for w in written.windows(2) {
                assert!(w[0].1 + LABEL_GAP <= w[1].0 + 0.01, "{count}: {w:?}");
            }
            for l in &written {
                assert!(l.0 >= -0.01 && l.1 <= WIDTH + 0.01, "{count}: {l:?}");
            }
            if count <= 5 {
                assert_eq!(written.len(), count);
            }
        }
    }

    #[test]
    fn long_labels_are_cut_and_still_never_overlap() {
        for count in [1, 2, 3, 7, 40] {
            let labels: Vec<String> = (0..count)
                .map(|i| format!("Programme de santé numéro {i} {}", "W".repeat(60)))
                .collect();
            let values = vec![5; count];
            let svg = bars("P", &labels, &[series("A", &values)], true, Lang::Fr);
            let nodes = parse(&svg);
            let written: Vec<_> = x_labels(&nodes)
                .into_iter()
                .filter(|l| l.2.starts_with("Programme"))
                .collect();
            assert!(written.len() >= count.min(2), "{count}: {written:?}");
            for w in written.windows(2) {
                assert!(w[0].1 + LABEL_GAP <= w[1].0 + 0.01, "{count}: {w:?}");
            }
            for l in &written {
                assert!(l.2.ends_with('…'), "{l:?}");
                assert!(l.0 >= -0.01 && l.1 <= WIDTH + 0.01, "{count}: {l:?}");
            }
        }
    }

    #[test]
    fn staff_typed_names_are_escaped() {
        let hostile = [
            "<script>alert(1)</script>",
            "\"]]>&amp; 'quoted' & <b>",
            "nul\0byte\u{1}\u{FFFF}",
            "</svg><img src=x onerror=alert(1)>",
        ];
        let labels: Vec<String> = hostile.iter().map(|s| s.to_string()).collect();
        let all: Vec<Series> = hostile.iter().map(|h| series(h, &[1, 2, 3, 4])).collect();
        let rows: Vec<(String, u64)> = hostile.iter().map(|h| (h.to_string(), 3)).collect();
        for (svg, title) in [
            (bars(hostile[0], &labels, &all, true, Lang::Fr), hostile[0]),
            (bars(hostile[1], &labels, &all, false, Lang::En), hostile[1]),
            (hbars(hostile[3], &rows, Lang::Fr), hostile[3]),
            (hbars(hostile[1], &[], Lang::Fr), hostile[1]),
        ] {
            let out = svg.as_str();
            assert!(!out.contains("<script"), "{out}");
            assert!(!out.contains("<img") && !out.contains("<b>") && !out.contains("]]>"));
            let nodes = parse(&svg);
            // Parsed back, the names read as typed.
            let title_node = nodes.iter().find(|n| n.name == "title").unwrap();
            assert_eq!(title_node.text, title);
            assert!(nodes[0].attrs["aria-label"].starts_with(title));
            assert_eq!(nodes.iter().filter(|n| n.name == "svg").count(), 1);
        }
        let nodes = parse(&hbars("F", &rows, Lang::Fr));
        let texts = texts(&nodes);
        assert!(texts.contains(&"<script>alert(1)</script>"), "{texts:?}");
        assert!(texts.contains(&"nulbyte"), "{texts:?}");
    }

    #[test]
    fn very_long_names_are_cut_everywhere() {
        let long = "é".repeat(10_000);
        let labels = vec![long.clone(); 3];
        let all = [series(&long, &[1, 2, 3]), series(&long, &[3, 2, 1])];
        let rows = vec![(long.clone(), 4); 3];
        for svg in [
            bars(&long, &labels, &all, true, Lang::Fr),
            hbars(&long, &rows, Lang::Fr),
        ] {
            assert!(svg.as_str().len() < 16_000, "{}", svg.as_str().len());
            for n in parse(&svg) {
                if !n.text.is_empty() {
                    assert!(n.text.chars().count() <= 200, "{}", n.text.len());
                }
            }
        }
    }

    #[test]
    fn empty_or_zero_data_says_so_without_nan() {
        let zeros = [series("A", &[0, 0, 0]), series("B", &[0, 0, 0])];
        for svg in [
            bars("Codes", &[], &[], false, Lang::Fr),
            bars("Codes", &days(3), &[], true, Lang::Fr),
            bars("Codes", &[], &zeros, true, Lang::Fr),
            bars("Codes", &days(3), &zeros, true, Lang::Fr),
            bars("Codes", &days(3), &zeros, false, Lang::Fr),
            bars("Codes", &days(3), &[series("A", &[])], false, Lang::Fr),
            hbars("Parcours", &[], Lang::Fr),
            hbars(
                "Parcours",
                &[("Commencé".into(), 0), ("Fini".into(), 0)],
                Lang::Fr,
            ),
        ] {
            assert!(says_empty(&svg), "{svg}");
            assert!(bar_rects(&parse(&svg)).is_empty());
        }
        let english = bars("Codes", &days(3), &zeros, true, Lang::En);
        assert!(english.as_str().contains("No data for this period"));
        // One value is enough to draw.
        let one = bars(
            "Codes",
            &days(3),
            &[series("A", &[0, 1, 0])],
            false,
            Lang::Fr,
        );
        assert!(!says_empty(&one));
        assert_eq!(bar_rects(&parse(&one)).len(), 1);
    }

    #[test]
    fn huge_counts_are_drawn_and_written_in_full() {
        let big = 999_999_999_999u64;
        let svg = bars(
            "Codes",
            &days(3),
            &[
                series("A", &[big, big / 2, 1]),
                series("B", &[big, 7, u64::MAX]),
            ],
            true,
            Lang::Fr,
        );
        assert!(!says_empty(&svg));
        let nodes = parse(&svg);
        for r in bar_rects(&nodes) {
            assert!(r.num("height") >= 0.0 && r.num("y") >= 0.0, "{r:?}");
        }
        let funnel = hbars("F", &[("A".into(), big), ("B".into(), 1)], Lang::Fr);
        let nodes = parse(&funnel);
        let rects = bar_rects(&nodes);
        assert!(rects[0].num("width") > 100.0 && rects[1].num("width") < 0.01);
        assert!(texts(&nodes).contains(&"999\u{202F}999\u{202F}999\u{202F}999"));
        // The value fits after the longest bar.
        let value = nodes.iter().find(|n| n.text.starts_with("999")).unwrap();
        let end = value.num("x") + text_width(&value.text, FONT);
        assert!(end <= WIDTH + 0.01, "{end}");
    }

    #[test]
    fn horizontal_bars_are_proportional_to_the_largest() {
        let rows: Vec<(String, u64)> = [
            ("Commencé", 200),
            ("Question 1", 150),
            ("Question 5", 50),
            ("Terminé", 0),
        ]
        .iter()
        .map(|(l, v)| (l.to_string(), *v))
        .collect();
        let nodes = parse(&hbars("Parcours", &rows, Lang::Fr));
        let rects = bar_rects(&nodes);
        assert_eq!(rects.len(), 4);
        let per_unit = rects[0].num("width") / 200.0;
        for (r, (_, v)) in rects.iter().zip(&rows) {
            assert!((r.num("width") - per_unit * *v as f64).abs() < 0.02);
        }
        let texts = texts(&nodes);
        for expected in ["Commencé", "200", "150", "50", "0", "Terminé"] {
            assert!(texts.contains(&expected), "{expected} in {texts:?}");
        }
        // Each value is written just after its bar.
        for (r, v) in rects.iter().zip(["200", "150", "50", "0"]) {
            let value = nodes
                .iter()
                .find(|n| n.name == "text" && n.text == v)
                .unwrap();
            let gap = value.num("x") - (r.num("x") + r.num("width"));
            assert!((0.0..10.0).contains(&gap), "{v}: {gap}");
        }
    }

    #[test]
    fn charts_scale_to_the_page_and_are_labelled() {
        for svg in [
            bars(
                "Codes par jour",
                &days(30),
                &[series("A", &[1; 30])],
                false,
                Lang::Fr,
            ),
            hbars("Parcours", &[("A".into(), 1)], Lang::Fr),
            hbars("Parcours", &[], Lang::Fr),
        ] {
            let nodes = parse(&svg);
            let root = &nodes[0].attrs;
            assert_eq!(root["width"], "100%");
            assert!(!root.contains_key("height"));
            let view: Vec<f64> = root["viewBox"]
                .split(' ')
                .map(|v| v.parse().unwrap())
                .collect();
            assert!(
                view.len() == 4 && view[2] > 0.0 && view[3] > 0.0,
                "{view:?}"
            );
            assert_eq!(root["role"], "img");
            assert!(!root["aria-label"].is_empty());
            assert_eq!(nodes[1].name, "title");
        }
    }

    #[test]
    fn screen_readers_hear_the_title_and_a_summary() {
        let two = [series("A", &[1, 7, 2]), series("B", &[0, 1, 0])];
        let label = |svg: &Svg| parse(svg)[0].attrs["aria-label"].clone();
        assert_eq!(
            label(&bars("Codes", &days(3), &two, false, Lang::Fr)),
            "Codes. Total : 11 ; le plus haut : 8 (2026-01-02)."
        );
        assert_eq!(
            label(&bars("Codes", &days(3), &two, true, Lang::En)),
            "Codes. Total: 11; highest: 8 (2026-01-02)."
        );
        let rows = [("Commencé".to_string(), 1200), ("Fini".to_string(), 3)];
        assert_eq!(
            label(&hbars("Parcours", &rows, Lang::Fr)),
            "Parcours. Commencé : 1\u{202F}200 ; Fini : 3."
        );
        assert_eq!(
            label(&hbars("Funnel", &rows, Lang::En)),
            "Funnel. Commencé: 1,200; Fini: 3."
        );
        assert_eq!(
            label(&hbars("Parcours", &[], Lang::Fr)),
            "Parcours. Aucune donnée pour cette période"
        );
    }

    #[test]
    fn numbers_are_grouped_and_ticks_shortened() {
        assert_eq!(number(0, Lang::Fr), "0");
        assert_eq!(number(1234567, Lang::Fr), "1\u{202F}234\u{202F}567");
        assert_eq!(number(1234567, Lang::En), "1,234,567");
        assert_eq!(tick_label(5000, Lang::Fr), "5\u{202F}000");
        assert_eq!(tick_label(25_000, Lang::En), "25k");
        assert_eq!(tick_label(1_500_000, Lang::Fr), "1,5\u{202F}M");
        assert_eq!(tick_label(2_000_000_000, Lang::En), "2B");
        assert_eq!(tick_label(20_000_000_000_000_000_000, Lang::En), "20E");
    }

    #[test]
    fn coordinates_are_short_and_finite() {
        assert_eq!(Px(1.0).to_string(), "1");
        assert_eq!(Px(1.256).to_string(), "1.26");
        assert_eq!(Px(-0.001).to_string(), "0");
        assert_eq!(Px(f64::NAN).to_string(), "0");
        assert_eq!(Px(f64::INFINITY).to_string(), "0");
    }

    /// Renders sample charts into an HTML page to look at in a browser:
    /// `cargo test --lib report::chart::tests::preview -- --ignored`, then
    /// open the file it names.
    #[test]
    #[ignore]
    fn preview() {
        let labels = days(366);
        let wave = |k: u64| -> Vec<u64> {
            (0..366u64)
                .map(|i| (i * k % 17) + (i / 30) * k % 9)
                .collect()
        };
        let many = [
            series("Planning familial", &wave(3)),
            series("VIH <script>", &wave(5)),
            series("Paludisme \"]]>&", &wave(7)),
        ];
        let week: Vec<String> = labels[..7].to_vec();
        let funnel: Vec<(String, u64)> = [
            ("Conversations commencées", 1250),
            ("Question 1 atteinte", 1190),
            ("Question 2 atteinte", 1100),
            ("Question 3 atteinte", 980),
            ("Question 4 atteinte", 950),
            ("Question 5 atteinte", 940),
            ("Parti à la question 1", 60),
            ("Parti à la question 3", 120),
            ("Code remis", 905),
        ]
        .iter()
        .map(|(l, v)| (l.to_string(), *v))
        .collect();
        let charts = [
            bars(
                "Codes par jour et par programme",
                &labels,
                &many,
                true,
                Lang::Fr,
            ),
            bars(
                "Codes par jour (une semaine)",
                &week,
                &many,
                false,
                Lang::Fr,
            ),
            bars(
                "Un programme, un mois",
                &labels[..30],
                &many[..1],
                false,
                Lang::Fr,
            ),
            bars(
                "Codes (gros volumes)",
                &week,
                &[series("A", &[999_999_999_999, 3, 5, 7, 0, 1, 2])],
                false,
                Lang::En,
            ),
            hbars("Parcours du bot", &funnel, Lang::Fr),
            bars("Rien", &week, &[], true, Lang::Fr),
        ];
        let mut page = String::from(
            "<!doctype html><meta charset=utf-8><meta name=viewport \
             content='width=device-width'><link rel=stylesheet href=app.css><main>",
        );
        for c in &charts {
            page.push_str("<section><h2>Chart</h2>");
            page.push_str(c.as_str());
            page.push_str("</section>");
        }
        let path = std::env::temp_dir().join("uic-charts-preview.html");
        std::fs::write(&path, page).unwrap();
        println!("{}", path.display());
    }
}
