//! The reports page (`reports.view`, issue 15): over a period and for one
//! number or all, new codes per day, the bot's funnel, escalations and
//! the staff queue, DHIS-2 sync, each as an SVG chart drawn here and as a
//! table (what screen readers read). Figures only: no phone number, no
//! code, no name of a person.
//!
//! And its exports (`uic.export`, audited): the report's figures, a
//! month's, and the registrations of the period; phone numbers only for
//! `contacts.view`. The figures are `report::figures`'; the rules are
//! `report`'s.

use super::conversations::ago;
use super::texts::Texts;
use super::{Layout, Routes, Staff, WebError, WebResult, form_page};
use crate::AppState;
use crate::auth::{Access, Permission, Scope};
use crate::report::chart::{self, Series, Svg};
use crate::report::{self, Funnel, Period, PeriodError, Report, Waits, duration_text};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use time::OffsetDateTime;

pub fn routes(r: Routes) -> Routes {
    r.get("/reports", show)
        .get("/reports/figures.csv", figures_csv)
        .get("/reports/monthly.csv", monthly_csv)
        .get("/reports/registrations.csv", registrations_csv)
}

/// The longest text read from a filter box.
const BOX_MAX: usize = 32;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Filter {
    from: String,
    to: String,
    /// A number's id; empty: every number of the access.
    account: String,
    /// `YYYY-MM` (the monthly export).
    month: String,
}

impl Filter {
    fn cut(s: &str) -> String {
        s.chars().take(BOX_MAX).collect()
    }

    /// The number asked for, if any: a precise refusal when it is not a
    /// number id.
    fn account(&self, t: &Texts) -> Result<Option<i64>, WebError> {
        let a = self.account.trim();
        if a.is_empty() {
            return Ok(None);
        }
        a.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Some)
            .ok_or_else(|| WebError::BadRequest(t.rp_bad_account.into()))
    }
}

fn period_problem(t: &Texts, e: PeriodError) -> &'static str {
    match e {
        PeriodError::NotADate => t.rp_bad_date,
        PeriodError::Reversed => t.rp_reversed,
        PeriodError::TooLong => t.rp_too_long,
        PeriodError::NotAMonth => t.rp_bad_month,
    }
}

/// The access for the report: the staff member's numbers, or the one
/// asked for, which must be one of the report's numbers (another
/// tenant's, one outside the access, a sandbox number: no such page).
async fn access_for(
    state: &AppState,
    staff: &Staff,
    p: Permission,
    account: Option<i64>,
) -> WebResult<Access> {
    let any = staff.require(p, Scope::AnyAccount)?;
    let Some(id) = account else {
        return Ok(any);
    };
    let numbers = report::figures::numbers(&state.db, &any).await?;
    if !numbers.iter().any(|n| n.id == id) {
        return Err(staff.not_found());
    }
    staff.require(p, Scope::Account(id))
}

/// One number's line of the funnel table.
struct FunnelRow {
    name: String,
    f: Funnel,
    /// "62 %" of started runs completed.
    completed_share: String,
    median: String,
}

/// One number's line of the escalations table.
struct WaitRow {
    name: String,
    w: Waits,
    median: String,
    waiting: i64,
    oldest: String,
    held: i64,
    holders: String,
}

/// One question's line of the funnel's detail (all numbers).
struct QuestionRow {
    number: u8,
    reached: i64,
    left: i64,
    escalated: i64,
    invalid: i64,
}

/// One number's line of the DHIS-2 table.
struct SyncRow {
    name: String,
    pending: i64,
    synced: i64,
    failed: i64,
    held: i64,
}

#[derive(Template)]
#[template(path = "report/page.html")]
struct ReportPage {
    p: Layout,
    from: String,
    to: String,
    account: Option<i64>,
    numbers: Vec<(i64, String)>,
    problem: Option<&'static str>,
    /// The figures, unless the filter was refused.
    shown: Option<Shown>,
    can_export: bool,
    /// The filter as a query string, for the export links.
    query: String,
}

struct Shown {
    codes_chart: Svg,
    funnel_chart: Svg,
    sync_chart: Svg,
    /// New codes per number over the period, and the total.
    codes: Vec<(String, i64)>,
    codes_total: i64,
    /// New codes per day (all numbers): only the days with some.
    code_days: Vec<(String, i64)>,
    funnel: Vec<FunnelRow>,
    funnel_total: FunnelRow,
    questions: Vec<QuestionRow>,
    waits: Vec<WaitRow>,
    waits_total: WaitRow,
    sync: Vec<SyncRow>,
}

fn share(part: i64, whole: i64) -> String {
    if whole <= 0 {
        "—".into()
    } else {
        format!("{} %", (part * 100 + whole / 2) / whole)
    }
}

fn shown(staff: &Staff, r: &Report, now: OffsetDateTime) -> Shown {
    let t = staff.t();
    let name = |id: i64| {
        r.numbers
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.name.clone())
            .unwrap_or_default()
    };
    let (days, series) = r.codes_per_day();
    let labels: Vec<String> = days.iter().map(|d| d.to_string()).collect();
    let series: Vec<Series> = series
        .into_iter()
        .map(|(name, values)| Series { name, values })
        .collect();
    // Days as 28/11 under the bars (the table writes them whole).
    let short: Vec<String> = days
        .iter()
        .map(|d| format!("{:02}/{:02}", d.day(), u8::from(d.month())))
        .collect();
    let codes_chart = chart::bars(t.rp_codes_title, &short, &series, true, staff.lang);
    let code_days: Vec<(String, i64)> = labels
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let n: u64 = series.iter().map(|s| s.values[i]).sum();
            (d.clone(), i64::try_from(n).unwrap_or(i64::MAX))
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let codes: Vec<(String, i64)> = r
        .numbers
        .iter()
        .map(|n| (n.name.clone(), r.new_codes(n.id)))
        .collect();
    let funnel_row = |name: String, f: Funnel| FunnelRow {
        completed_share: share(f.completed, f.started),
        median: f
            .median_completion()
            .map(duration_text)
            .unwrap_or_else(|| "—".into()),
        name,
        f,
    };
    let total = Funnel::total(&r.funnel);
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut steps = vec![(t.rp_started.to_string(), count(total.started))];
    for q in 0..5 {
        steps.push((
            t.rp_reached_q.replace("{n}", &(q + 1).to_string()),
            count(total.reached[q]),
        ));
    }
    steps.push((t.rp_completed.to_string(), count(total.completed)));
    let funnel_chart = chart::hbars(t.rp_funnel_title, &steps, staff.lang);
    let questions = (0..5)
        .map(|q| QuestionRow {
            number: q as u8 + 1,
            reached: total.reached[q],
            left: total.left_at[q],
            escalated: total.escalated_at[q],
            invalid: total.invalid[q],
        })
        .collect();
    let wait_row = |name: String, w: Waits, q: Option<&report::NumberQueue>| {
        let q = q.cloned().unwrap_or_default();
        WaitRow {
            name,
            median: w
                .median_reply()
                .map(duration_text)
                .unwrap_or_else(|| "—".into()),
            w,
            waiting: q.waiting,
            oldest: q
                .oldest_waiting
                .map(|at| ago(staff, at, now))
                .unwrap_or_else(|| "—".into()),
            held: q.held,
            holders: q
                .holders
                .iter()
                .map(|(who, n)| format!("{who} ({n})"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    };
    let waits = r
        .waits
        .iter()
        .map(|w| {
            wait_row(
                name(w.number),
                w.clone(),
                r.queue.iter().find(|q| q.number == w.number),
            )
        })
        .collect();
    let all_queue = report::NumberQueue::total(&r.queue);
    let sync: Vec<SyncRow> = r
        .dhis2
        .iter()
        .map(|d| SyncRow {
            name: d.account_name.clone(),
            pending: d.pending + d.syncing,
            synced: d.synced,
            failed: d.failed,
            held: d.held,
        })
        .collect();
    let states = [
        (t.rp_sync_synced, sync.iter().map(|s| s.synced).sum::<i64>()),
        (t.rp_sync_pending, sync.iter().map(|s| s.pending).sum()),
        (t.rp_sync_failed, sync.iter().map(|s| s.failed).sum()),
        (t.rp_sync_held, sync.iter().map(|s| s.held).sum()),
    ];
    let sync_chart = chart::hbars(
        t.rp_sync_title,
        &states
            .iter()
            .map(|(label, n)| (label.to_string(), count(*n)))
            .collect::<Vec<_>>(),
        staff.lang,
    );
    Shown {
        codes_chart,
        funnel_chart,
        sync_chart,
        codes_total: codes.iter().map(|c| c.1).sum(),
        codes,
        code_days,
        funnel: r
            .funnel
            .iter()
            .map(|f| funnel_row(name(f.number), f.clone()))
            .collect(),
        funnel_total: funnel_row(t.rp_all_numbers.into(), total),
        questions,
        waits,
        waits_total: wait_row(
            t.rp_all_numbers.into(),
            Waits::total(&r.waits),
            Some(&all_queue),
        ),
        sync,
    }
}

async fn show(State(state): State<AppState>, staff: Staff, Query(f): Query<Filter>) -> WebResult {
    let t = staff.t();
    let base = staff.require(Permission::ReportsView, Scope::AnyAccount)?;
    let numbers: Vec<(i64, String)> = report::figures::numbers(&state.db, &base)
        .await?
        .into_iter()
        .map(|n| (n.id, n.name))
        .collect();
    let account = f.account(t)?;
    let now = OffsetDateTime::now_utc();
    let period = Period::parse(&f.from, &f.to, now.date());
    let mut problem = None;
    let mut shown_figures = None;
    let mut query = String::new();
    match period {
        Err(e) => problem = Some(period_problem(t, e)),
        Ok(period) => {
            let access = access_for(&state, &staff, Permission::ReportsView, account).await?;
            let r = report::figures::report(&state.db, &access, period).await?;
            query = form_urlencoded::Serializer::new(String::new())
                .append_pair("from", &period.from.to_string())
                .append_pair("to", &period.to.to_string())
                .append_pair(
                    "account",
                    &account.map(|a| a.to_string()).unwrap_or_default(),
                )
                .finish();
            shown_figures = Some(shown(&staff, &r, now));
        }
    }
    let failed = problem.is_some();
    form_page(
        ReportPage {
            p: staff.layout(t.nav_reports, "/reports"),
            from: Filter::cut(&f.from),
            to: Filter::cut(&f.to),
            account,
            numbers,
            problem,
            shown: shown_figures,
            can_export: staff.can(Permission::UicExport, Scope::Tenant),
            query,
        },
        failed,
    )
}

/// A CSV file to download.
fn csv_file(name: &str, body: Vec<u8>) -> WebResult {
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

fn csv_failed(e: csv::Error) -> WebError {
    WebError::Internal(e.into())
}

/// The export's access: `uic.export` (tenant-wide), narrowed to the
/// number asked for.
async fn export_access(state: &AppState, staff: &Staff, f: &Filter) -> WebResult<Access> {
    let account = f.account(staff.t())?;
    staff.require(Permission::UicExport, Scope::Tenant)?;
    access_for(state, staff, Permission::UicExport, account).await
}

/// A period as the exports read it: refused with the reason.
fn export_period(staff: &Staff, period: Result<Period, PeriodError>) -> WebResult<Period> {
    period.map_err(|e| WebError::BadRequest(period_problem(staff.t(), e).into()))
}

/// A report's figures as a CSV file, the export audited (`target`).
async fn figures_file(
    state: &AppState,
    staff: &Staff,
    access: &Access,
    period: Period,
    target: &str,
    name: String,
) -> WebResult {
    let r = report::figures::report(&state.db, access, period).await?;
    let body = report::csv::figures(&r.lines()).map_err(csv_failed)?;
    staff
        .audit(
            state,
            "uic.export",
            target,
            format!("{} to {}", period.from, period.to),
        )
        .await?;
    csv_file(&name, body)
}

async fn figures_csv(
    State(state): State<AppState>,
    staff: Staff,
    Query(f): Query<Filter>,
) -> WebResult {
    let access = export_access(&state, &staff, &f).await?;
    let today = OffsetDateTime::now_utc().date();
    let period = export_period(&staff, Period::parse(&f.from, &f.to, today))?;
    let name = format!("rapport-{}-{}.csv", period.from, period.to);
    figures_file(&state, &staff, &access, period, "report:figures", name).await
}

async fn monthly_csv(
    State(state): State<AppState>,
    staff: Staff,
    Query(f): Query<Filter>,
) -> WebResult {
    let access = export_access(&state, &staff, &f).await?;
    let today = OffsetDateTime::now_utc().date();
    let period = export_period(&staff, Period::month(&f.month, today))?;
    let name = format!(
        "rapport-mensuel-{}-{:02}.csv",
        period.from.year(),
        u8::from(period.from.month())
    );
    figures_file(&state, &staff, &access, period, "report:monthly", name).await
}

async fn registrations_csv(
    State(state): State<AppState>,
    staff: Staff,
    Query(f): Query<Filter>,
) -> WebResult {
    let access = export_access(&state, &staff, &f).await?;
    let today = OffsetDateTime::now_utc().date();
    let period = export_period(&staff, Period::parse(&f.from, &f.to, today))?;
    let with_phones = staff.can(Permission::ContactsView, Scope::Tenant);
    let rows = report::figures::registrations(&state.db, &access, period, with_phones).await?;
    let body = report::csv::registrations(&rows, with_phones).map_err(csv_failed)?;
    staff
        .audit(
            &state,
            "uic.export",
            "registrations",
            format!(
                "{} row(s), {} to {}{}",
                rows.len(),
                period.from,
                period.to,
                if with_phones {
                    ", with phone numbers"
                } else {
                    ""
                }
            ),
        )
        .await?;
    csv_file(
        &format!("enregistrements-{}-{}.csv", period.from, period.to),
        body,
    )
}
