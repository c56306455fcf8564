//! The programme reports (issue 15): how many codes each number gave, how
//! people go through the bot's questions, how the staff queue is kept,
//! and how DHIS-2 keeps up; drawn as SVG on the server (`chart`), and
//! exported as CSV (`csv`).
//!
//! What is counted, and from what:
//! - new codes: the registry's first registration of a code, by the day
//!   it was first seen and the number it came through;
//! - the funnel: runs of questions (see `flow::run`) by the day they
//!   started; a run is counted once it ended (the code given, handed to
//!   staff, or left idle past the session timeout), so the last half hour
//!   shows only the runs already over;
//! - escalations: runs handed to staff, by the day they were, and how long
//!   until a staff member first wrote to the person;
//! - the staff queue and DHIS-2: as they stand now.
//!
//! Days are UTC days. Sandbox numbers (the simulator) and test data are
//! never counted.

pub mod chart;
pub mod csv;
pub mod days;
pub mod figures;
pub mod runs;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::{Date, Duration, OffsetDateTime, Time};

/// How often the background rolls new rows into their days.
pub const ROLL_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The reports' upkeep until `stop` is notified: rolls the runs and codes
/// that ended into their days (`days::roll_all`) every
/// `Config::report_roll_every` (`ROLL_EVERY`; rows written before an
/// upgrade too: a report counts them meanwhile, only slower), and ends the
/// runs left idle (`runs::sweep`) every `runs::EVERY`.
pub async fn upkeep(state: crate::AppState, stop: std::sync::Arc<tokio::sync::Notify>) {
    let mut last_sweep: Option<std::time::Instant> = None;
    loop {
        if last_sweep.is_none_or(|t| t.elapsed() >= runs::EVERY) {
            last_sweep = Some(std::time::Instant::now());
            match runs::sweep(&state.db, &state.config, OffsetDateTime::now_utc()).await {
                Ok(0) => {}
                Ok(ended) => tracing::info!(ended, "runs of questions left idle were ended"),
                Err(e) => tracing::error!(error = %e, "ending the idle runs failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(state.config.report_roll_every) => {}
            _ = stop.notified() => return,
        }
        match days::roll_all(&state.db).await {
            Ok(0) => {}
            Ok(rolled) => tracing::debug!(rolled, "report figures added up"),
            Err(e) => tracing::error!(error = %e, "adding up the report figures failed"),
        }
    }
}

/// A number a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportNumber {
    pub id: i64,
    pub name: String,
}

/// The days a report covers, both included (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Date,
    pub to: Date,
}

/// Why a period was refused, in the words staff read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodError {
    /// Not a date as `2026-11-30`.
    NotADate,
    /// The end is before the start.
    Reversed,
    /// Longer than `MAX_DAYS`.
    TooLong,
    /// Not a month as `2026-11`.
    NotAMonth,
}

/// The longest period a report covers (a leap year).
pub const MAX_DAYS: i64 = 366;

impl Period {
    /// The period as typed in the filter's boxes (`YYYY-MM-DD`); an empty
    /// box: the last 30 days to `today`.
    pub fn parse(from: &str, to: &str, today: Date) -> Result<Period, PeriodError> {
        let date = |s: &str| {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            Date::parse(s.trim(), &format).map_err(|_| PeriodError::NotADate)
        };
        let to = if to.trim().is_empty() {
            today
        } else {
            date(to)?
        };
        let from = if from.trim().is_empty() {
            to - Duration::days(29)
        } else {
            date(from)?
        };
        if to < from {
            return Err(PeriodError::Reversed);
        }
        if (to - from).whole_days() + 1 > MAX_DAYS {
            return Err(PeriodError::TooLong);
        }
        Ok(Period { from, to })
    }

    /// A calendar month as `2026-11`; empty: the month before `today`'s.
    pub fn month(month: &str, today: Date) -> Result<Period, PeriodError> {
        let first = if month.trim().is_empty() {
            let this = today.replace_day(1).map_err(|_| PeriodError::NotAMonth)?;
            (this - Duration::days(1))
                .replace_day(1)
                .map_err(|_| PeriodError::NotAMonth)?
        } else {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            Date::parse(&format!("{}-01", month.trim()), &format)
                .map_err(|_| PeriodError::NotAMonth)?
        };
        let (year, month) = match first.month() {
            time::Month::December => (first.year() + 1, time::Month::January),
            m => (first.year(), m.next()),
        };
        let next = Date::from_calendar_date(year, month, 1).map_err(|_| PeriodError::NotAMonth)?;
        Ok(Period {
            from: first,
            to: next - Duration::days(1),
        })
    }

    /// The first instant of the period.
    pub fn start(&self) -> OffsetDateTime {
        self.from.with_time(Time::MIDNIGHT).assume_utc()
    }

    /// The first instant after the period.
    pub fn end(&self) -> OffsetDateTime {
        (self.to + Duration::days(1))
            .with_time(Time::MIDNIGHT)
            .assume_utc()
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> Vec<Date> {
        let mut days = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            days.push(d);
            d += Duration::days(1);
        }
        days
    }
}

/// The funnel of one number: runs started in the period and where they
/// ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Funnel {
    /// Not stored with a day's figures (the row says whose they are).
    #[serde(skip)]
    pub number: i64,
    /// Runs started by the person (a hand back by staff is not a start).
    pub started: i64,
    /// Runs started by staff handing the conversation back.
    pub resumed: i64,
    pub completed: i64,
    pub escalated: i64,
    /// Left idle past the session timeout.
    pub left: i64,
    pub restarts: i64,
    /// Runs started by the person that were asked question k+1.
    pub reached: [i64; 5],
    /// Runs that were left at question k+1.
    pub left_at: [i64; 5],
    /// Runs handed to staff at question k+1.
    pub escalated_at: [i64; 5],
    /// Answers not understood at question k+1.
    pub invalid: [i64; 5],
    /// From question 1 to the code, of each run completed without staff.
    pub completion: Durations,
}

impl Funnel {
    /// Adds `other`'s figures (`sign` 1) or takes them away (-1).
    pub fn add(&mut self, other: &Funnel, sign: i64) {
        self.started += sign * other.started;
        self.resumed += sign * other.resumed;
        self.completed += sign * other.completed;
        self.escalated += sign * other.escalated;
        self.left += sign * other.left;
        self.restarts += sign * other.restarts;
        for q in 0..5 {
            self.reached[q] += sign * other.reached[q];
            self.left_at[q] += sign * other.left_at[q];
            self.escalated_at[q] += sign * other.escalated_at[q];
            self.invalid[q] += sign * other.invalid[q];
        }
        self.completion.add(&other.completion, sign);
    }

    /// The sum of several numbers' funnels (`number` 0).
    pub fn total(all: &[Funnel]) -> Funnel {
        let mut t = Funnel::default();
        for f in all {
            t.add(f, 1);
        }
        t
    }

    /// The median time from question 1 to the code.
    pub fn median_completion(&self) -> Option<f64> {
        self.completion.median()
    }
}

/// Escalations of one number in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Waits {
    #[serde(skip)]
    pub number: i64,
    pub escalated: i64,
    /// The person typed AGENT.
    pub requested: i64,
    /// Too many answers not understood.
    pub failed_answers: i64,
    /// An image or a voice note instead of an answer.
    pub media: i64,
    /// Not written to by staff yet.
    pub unanswered: i64,
    /// Until a staff member first wrote, of each one answered.
    pub reply: Durations,
}

impl Waits {
    /// Adds `other`'s figures (`sign` 1) or takes them away (-1).
    pub fn add(&mut self, other: &Waits, sign: i64) {
        self.escalated += sign * other.escalated;
        self.requested += sign * other.requested;
        self.failed_answers += sign * other.failed_answers;
        self.media += sign * other.media;
        self.unanswered += sign * other.unanswered;
        self.reply.add(&other.reply, sign);
    }

    pub fn total(all: &[Waits]) -> Waits {
        let mut t = Waits::default();
        for w in all {
            t.add(w, 1);
        }
        t
    }

    /// The median time to a first staff reply.
    pub fn median_reply(&self) -> Option<f64> {
        self.reply.median()
    }
}

/// The figures of one number on one UTC day, as `report_days` keeps them
/// (see `days`): its runs by the day they started, its escalations by the
/// day they were handed over, its new codes by the day first seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Day {
    pub funnel: Funnel,
    pub waits: Waits,
    pub new_codes: i64,
}

impl Day {
    /// Adds `other`'s figures (`sign` 1) or takes them away (-1).
    pub fn add(&mut self, other: &Day, sign: i64) {
        self.funnel.add(&other.funnel, sign);
        self.waits.add(&other.waits, sign);
        self.new_codes += sign * other.new_codes;
    }
}

/// Durations counted in buckets, so that a day's can be kept added up and
/// a year's read at once: to the second below an hour (a code takes
/// minutes: its median is exact to the second), then buckets 1 % wide (a
/// first reply after hours: its median is within 0.5 %). Stored as JSON
/// (`{"bucket": count}`), only the buckets used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Durations(BTreeMap<u32, i64>);

/// Below this many seconds, one bucket per second.
const EXACT_BELOW: u32 = 3600;
/// Above, each bucket this much wider than the last.
const STEP: f64 = 1.01;
/// The last bucket (from about 2.5 years on).
const LAST_BUCKET: u32 = EXACT_BELOW + 2000;

impl Durations {
    /// The bucket of a duration in seconds (negative: 0; not a number:
    /// none).
    fn bucket(seconds: f64) -> Option<u32> {
        if !seconds.is_finite() {
            return None;
        }
        let s = seconds.max(0.0);
        if s.round() < f64::from(EXACT_BELOW) {
            return Some(s.round() as u32);
        }
        let k = ((s / f64::from(EXACT_BELOW)).ln() / STEP.ln()).floor();
        Some((EXACT_BELOW + k.max(0.0) as u32).min(LAST_BUCKET))
    }

    /// The seconds a bucket stands for (the middle of its span).
    fn value(bucket: u32) -> f64 {
        if bucket < EXACT_BELOW {
            f64::from(bucket)
        } else {
            f64::from(EXACT_BELOW) * STEP.powf(f64::from(bucket - EXACT_BELOW) + 0.5)
        }
    }

    /// Counts one duration.
    pub fn push(&mut self, seconds: f64) {
        if let Some(b) = Self::bucket(seconds) {
            *self.0.entry(b).or_default() += 1;
        }
    }

    /// Adds `other`'s counts (`sign` 1) or takes them away (-1); a bucket
    /// that falls to 0 goes.
    pub fn add(&mut self, other: &Durations, sign: i64) {
        for (b, n) in &other.0 {
            let c = self.0.entry(*b).or_default();
            *c += sign * n;
            if *c == 0 {
                self.0.remove(b);
            }
        }
    }

    /// How many durations.
    pub fn count(&self) -> i64 {
        self.0.values().filter(|n| **n > 0).sum()
    }

    /// The `i`th shortest (from 0).
    fn nth(&self, i: i64) -> Option<f64> {
        let mut seen = 0;
        for (b, n) in self.0.iter().filter(|(_, n)| **n > 0) {
            seen += n;
            if i < seen {
                return Some(Self::value(*b));
            }
        }
        None
    }

    /// The median; `None` for none.
    pub fn median(&self) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        if n % 2 == 1 {
            self.nth(n / 2)
        } else {
            Some((self.nth(n / 2 - 1)? + self.nth(n / 2)?) / 2.0)
        }
    }
}

impl FromIterator<f64> for Durations {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Durations {
        let mut d = Durations::default();
        for s in iter {
            d.push(s);
        }
        d
    }
}

/// The staff queue of one number, now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberQueue {
    pub number: i64,
    /// Waiting for staff.
    pub waiting: i64,
    /// Since when the longest-waiting one waits.
    pub oldest_waiting: Option<OffsetDateTime>,
    /// Held by a staff member.
    pub held: i64,
    /// Who holds how many, most first.
    pub holders: Vec<(String, i64)>,
}

impl NumberQueue {
    /// Several numbers' queues as one (`number` 0, no holders).
    pub fn total(all: &[NumberQueue]) -> NumberQueue {
        NumberQueue {
            waiting: all.iter().map(|q| q.waiting).sum(),
            oldest_waiting: all.iter().filter_map(|q| q.oldest_waiting).min(),
            held: all.iter().map(|q| q.held).sum(),
            ..NumberQueue::default()
        }
    }
}

/// A report's figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub period: Period,
    pub numbers: Vec<ReportNumber>,
    /// New codes: `(day as YYYY-MM-DD, number, count)`.
    pub codes: Vec<(String, i64, i64)>,
    /// One per number, in `numbers`' order.
    pub funnel: Vec<Funnel>,
    pub waits: Vec<Waits>,
    pub queue: Vec<NumberQueue>,
    pub dhis2: Vec<crate::dhis2::store::AccountSync>,
}

impl Report {
    /// New codes of a number over the period.
    pub fn new_codes(&self, number: i64) -> i64 {
        self.codes
            .iter()
            .filter(|c| c.1 == number)
            .map(|c| c.2)
            .sum()
    }

    /// New codes per day, one series per number, over every day of the
    /// period (days without a code count 0).
    pub fn codes_per_day(&self) -> (Vec<Date>, Vec<(String, Vec<u64>)>) {
        let days = self.period.days();
        let index: std::collections::HashMap<String, usize> = days
            .iter()
            .enumerate()
            .map(|(i, d)| (d.to_string(), i))
            .collect();
        let series = self
            .numbers
            .iter()
            .map(|n| {
                let mut values = vec![0u64; days.len()];
                for (day, number, count) in &self.codes {
                    if *number == n.id
                        && let Some(&i) = index.get(day)
                    {
                        values[i] += u64::try_from(*count).unwrap_or(0);
                    }
                }
                (n.name.clone(), values)
            })
            .collect();
        (days, series)
    }
}

/// One figure of a report, as the CSV export and the command line write
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub from: String,
    pub to: String,
    /// The number's name; `ALL_NUMBERS` for the sum of the report's.
    pub number: String,
    /// The figure's key (stable: spreadsheets read it).
    pub figure: &'static str,
    /// The question (1 to 5) of a per-question figure.
    pub question: Option<u8>,
    pub value: String,
}

/// The `number` of the lines summing every number of a report.
pub const ALL_NUMBERS: &str = "(all)";

impl Report {
    /// Every figure, per number then for all of them: what the CSV export
    /// and `uic-inbox report monthly` write.
    pub fn lines(&self) -> Vec<Line> {
        let mut out = Vec::new();
        let (from, to) = (self.period.from.to_string(), self.period.to.to_string());
        let mut put = |number: &str, figure: &'static str, question: Option<u8>, value: String| {
            out.push(Line {
                from: from.clone(),
                to: to.clone(),
                number: number.to_string(),
                figure,
                question,
                value,
            })
        };
        let secs = |v: Option<f64>| v.map(|s| format!("{s:.0}")).unwrap_or_default();
        /// One number's figures, or every number's.
        struct Group<'r> {
            name: String,
            codes: i64,
            funnel: Funnel,
            waits: Waits,
            queue: NumberQueue,
            dhis2: Option<&'r crate::dhis2::store::AccountSync>,
        }
        let mut groups: Vec<Group<'_>> = self
            .numbers
            .iter()
            .map(|n| Group {
                name: n.name.clone(),
                codes: self.new_codes(n.id),
                funnel: self
                    .funnel
                    .iter()
                    .find(|f| f.number == n.id)
                    .cloned()
                    .unwrap_or_default(),
                waits: self
                    .waits
                    .iter()
                    .find(|w| w.number == n.id)
                    .cloned()
                    .unwrap_or_default(),
                queue: self
                    .queue
                    .iter()
                    .find(|q| q.number == n.id)
                    .cloned()
                    .unwrap_or_default(),
                dhis2: self.dhis2.iter().find(|d| d.account_id == n.id),
            })
            .collect();
        groups.push(Group {
            name: ALL_NUMBERS.to_string(),
            codes: self.codes.iter().map(|c| c.2).sum(),
            funnel: Funnel::total(&self.funnel),
            waits: Waits::total(&self.waits),
            queue: NumberQueue::total(&self.queue),
            dhis2: None,
        });
        for Group {
            name,
            codes,
            funnel: f,
            waits: w,
            queue: q,
            dhis2: d,
        } in &groups
        {
            let n = name.as_str();
            put(n, "new_codes", None, codes.to_string());
            put(n, "runs_started", None, f.started.to_string());
            put(n, "runs_resumed_by_staff", None, f.resumed.to_string());
            put(n, "runs_completed", None, f.completed.to_string());
            put(n, "runs_escalated", None, f.escalated.to_string());
            put(n, "runs_left", None, f.left.to_string());
            put(n, "restarts", None, f.restarts.to_string());
            for q in 0..5 {
                let question = Some(q as u8 + 1);
                put(n, "reached", question, f.reached[q].to_string());
                put(n, "left_at", question, f.left_at[q].to_string());
                put(n, "escalated_at", question, f.escalated_at[q].to_string());
                put(n, "invalid_answers", question, f.invalid[q].to_string());
            }
            put(
                n,
                "median_completion_seconds",
                None,
                secs(f.median_completion()),
            );
            put(n, "escalations", None, w.escalated.to_string());
            put(n, "escalations_requested", None, w.requested.to_string());
            put(
                n,
                "escalations_failed_answers",
                None,
                w.failed_answers.to_string(),
            );
            put(n, "escalations_media", None, w.media.to_string());
            put(n, "escalations_unanswered", None, w.unanswered.to_string());
            put(
                n,
                "median_first_reply_seconds",
                None,
                secs(w.median_reply()),
            );
            put(n, "waiting_now", None, q.waiting.to_string());
            put(n, "held_now", None, q.held.to_string());
            if let Some(d) = d {
                put(n, "dhis2_pending", None, d.pending.to_string());
                put(n, "dhis2_synced", None, d.synced.to_string());
                put(n, "dhis2_failed", None, d.failed.to_string());
                put(n, "dhis2_held", None, d.held.to_string());
            }
        }
        out
    }
}

/// A duration in seconds as staff read it: `45 s`, `3 min 20 s`,
/// `2 h 05 min`, `3 j 4 h`.
pub fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        3600..86400 => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} j {} h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_period_defaults_to_the_last_30_days_and_refuses_what_it_cannot_read() {
        let today = date!(2026 - 12 - 01);
        assert_eq!(
            Period::parse("", "", today),
            Ok(Period {
                from: date!(2026 - 11 - 02),
                to: today
            })
        );
        assert_eq!(
            Period::parse("2026-01-01", "2026-12-31", today).map(|p| p.days().len()),
            Ok(365)
        );
        assert_eq!(
            Period::parse("2025-12-30", "2026-12-31", today),
            Err(PeriodError::TooLong)
        );
        assert_eq!(
            Period::parse("2026-12-02", "2026-12-01", today),
            Err(PeriodError::Reversed)
        );
        for bad in [
            "2026-13-01",
            "01/12/2026",
            "2026-12-01\0",
            "x",
            "2026-02-30",
        ] {
            assert_eq!(
                Period::parse(bad, "", today),
                Err(PeriodError::NotADate),
                "{bad}"
            );
        }
        let p = Period::parse("2026-11-30", "2026-11-30", today).unwrap();
        assert_eq!(p.end() - p.start(), Duration::days(1));
    }

    #[test]
    fn a_month_is_its_calendar_days_and_defaults_to_the_last_one() {
        let today = date!(2026 - 01 - 15);
        assert_eq!(
            Period::month("", today),
            Ok(Period {
                from: date!(2025 - 12 - 01),
                to: date!(2025 - 12 - 31)
            })
        );
        assert_eq!(
            Period::month("2028-02", today).map(|p| p.days().len()),
            Ok(29)
        );
        for bad in ["2026-13", "2026", "nov", "2026-11-01"] {
            assert_eq!(
                Period::month(bad, today),
                Err(PeriodError::NotAMonth),
                "{bad}"
            );
        }
    }

    #[test]
    fn medians_and_durations() {
        let d = |v: &[f64]| v.iter().copied().collect::<Durations>();
        assert_eq!(d(&[]).median(), None);
        assert_eq!(d(&[3.0, 1.0, 2.0]).median(), Some(2.0));
        assert_eq!(d(&[4.0, 1.0, 2.0, 3.0]).median(), Some(2.5));
        assert_eq!(d(&[f64::NAN, 1.0]).median(), Some(1.0));
        assert_eq!(d(&[-5.0]).median(), Some(0.0));
        // To the second below an hour, within 0.5 % above.
        assert_eq!(d(&[3599.4, 200.0, 300.0]).median(), Some(300.0));
        for secs in [3600.0, 5000.0, 86_400.0, 40.0 * 86_400.0] {
            let m = d(&[secs]).median().unwrap();
            assert!((m - secs).abs() / secs <= 0.005, "{secs}: {m}");
        }
        let mut days = d(&[10.0, 20.0, 30.0]);
        days.add(&d(&[20.0]), -1);
        assert_eq!((days.count(), days.median()), (2, Some(20.0)));
        assert_eq!(days, d(&[10.0, 30.0]), "an emptied bucket goes");
        assert_eq!(duration_text(45.2), "45 s");
        assert_eq!(duration_text(200.0), "3 min 20 s");
        assert_eq!(duration_text(7500.0), "2 h 05 min");
        assert_eq!(duration_text(3.0 * 86400.0 + 4.0 * 3600.0), "3 j 4 h");
    }

    #[test]
    fn codes_per_day_fill_every_day_of_the_period() {
        let period = Period {
            from: date!(2026 - 11 - 28),
            to: date!(2026 - 11 - 30),
        };
        let r = Report {
            period,
            numbers: vec![
                ReportNumber {
                    id: 1,
                    name: "A".into(),
                },
                ReportNumber {
                    id: 2,
                    name: "B".into(),
                },
            ],
            codes: vec![
                ("2026-11-28".into(), 1, 3),
                ("2026-11-30".into(), 1, 1),
                ("2026-11-30".into(), 2, 5),
            ],
            funnel: Vec::new(),
            waits: Vec::new(),
            queue: Vec::new(),
            dhis2: Vec::new(),
        };
        let (days, series) = r.codes_per_day();
        assert_eq!(days.len(), 3);
        assert_eq!(series[0], ("A".to_string(), vec![3, 0, 1]));
        assert_eq!(series[1], ("B".to_string(), vec![0, 0, 5]));
        assert_eq!(r.new_codes(1), 4);
    }
}
