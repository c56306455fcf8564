//! The `uic-inbox` command: the server and its operations tools.

use clap::{Parser, Subcommand};

// glibc's allocator spends a visible share of a request in malloc/free
// under many small allocations from several threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;
use uic_inbox::config::{Config, LogFormat};
use uic_inbox::uic::Uic;
use uic_inbox::{Application, db::Db, registry};

#[derive(Parser)]
#[command(
    name = "uic-inbox",
    version,
    about = "WhatsApp UIC bot and multi-tenant inbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Print a new random UIC salt (for UIC_SALT).
    Salt,
    /// The key that encrypts the stored WhatsApp credentials.
    SecretKey {
        #[command(subcommand)]
        command: SecretKeyCommand,
    },
    /// Look up issued codes.
    Uic {
        #[command(subcommand)]
        command: UicCommand,
    },
    /// Staff administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Demonstration data.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// The Meta numbers' access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// DHIS-2 Tracker synchronisation.
    Dhis2 {
        #[command(subcommand)]
        command: Dhis2Command,
    },
    /// The programme reports.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// A calendar month's figures, those of the reports page's CSV export
    /// (UTC days; sandbox numbers and test data never counted): one block
    /// per tenant, or only `--tenant`'s, or only `--account`'s number.
    /// Exits with 2 on a bad month or an unknown tenant or number.
    Monthly {
        /// The month, as 2026-11; by default the one before this month.
        #[arg(long)]
        month: Option<String>,
        /// Only this tenant (its slug).
        #[arg(long, conflicts_with = "account")]
        tenant: Option<String>,
        /// Only this number (its slug), in its tenant's report.
        #[arg(long)]
        account: Option<String>,
        /// `text`: an aligned table per tenant; `csv`: the export's
        /// columns, for one tenant (`--tenant` or `--account` when there
        /// are several).
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Text,
    Csv,
}

#[derive(Subcommand)]
enum Dhis2Command {
    /// Test the DHIS-2 connection and settings of every number that has
    /// some (all tenants), or of one; one line per number with each
    /// problem. Exits with 1 when one would stop the sync.
    Check {
        /// The number's slug.
        #[arg(long)]
        account: Option<String>,
    },
    /// Requeue the registrations whose sync failed (every number, or one),
    /// after the cause was fixed; prints how many.
    Retry {
        /// The number's slug.
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Check every Meta number's token with Meta (all tenants) and record
    /// the result; one line per number. Exits with 1 when a token is
    /// refused, expired, cannot be checked, or expires within --days days.
    Check {
        /// Warn of tokens expiring within this many days (0 to 3650).
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(i64).range(0..=3650))]
        days: i64,
    },
    /// Exchange a number's token for a long-lived (60-day) one, check it
    /// and put it in place; prints its new expiry, never the token.
    Exchange {
        /// The number's slug.
        #[arg(long)]
        account: String,
    },
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Create a new tenant filled with a year of realistic activity
    /// (programmes, staff, conversations, messages, codes), and print how to
    /// log in. Nothing it creates can send a WhatsApp message.
    Seed {
        /// Slug of the new tenant (refused if it exists).
        #[arg(long, default_value = "demo")]
        tenant_slug: String,
        #[arg(long, default_value_t = 100_000)]
        conversations: usize,
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        /// Codes in the registry: those the conversations issued, then more
        /// written directly up to N (each with its DHIS-2 sync job), e.g.
        /// 1000000 for the DHIS-2 page's benchmark. 0: the conversations'
        /// codes only (about one for two conversations).
        #[arg(long, default_value_t = 0)]
        registrations: usize,
        /// Seeds every random choice: the same number gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A file holding the staff password (else one is generated and
        /// printed once).
        #[arg(long)]
        password_file: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum SecretKeyCommand {
    /// Print a new random key (for SECRET_KEY), and nothing else.
    Generate,
    /// Re-encrypt every stored credential under the current key: with
    /// SECRET_KEY set, whatever is still under a SECRET_KEY_PREVIOUS key;
    /// with SQLite and the generated key file, under a new key that
    /// replaces it.
    Rotate,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Print a one-time link (valid 24 hours) to create an administrator who
    /// manages every tenant. There is no default password.
    Create,
}

#[derive(Subcommand)]
enum UicCommand {
    /// The registrations, most recently seen first, a page at a time
    /// (every tenant, test data left out); the page's place is printed
    /// after the table.
    List {
        /// The page, from 1.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
        page: i64,
        /// Registrations per page (1 to 1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        per_page: i64,
    },
    /// One code's registrations.
    Show { code: String },
}

fn main() -> ExitCode {
    // A missing .env is normal; a broken one is not.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: reading .env: {e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    if let Some(Command::Salt) = cli.command {
        println!("{}", registry::salt::generate());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::SecretKey {
        command: SecretKeyCommand::Generate,
    }) = cli.command
    {
        println!("{}", uic_inbox::secrets::Key::generate().to_hex());
        return ExitCode::SUCCESS;
    }
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(problems) => {
            eprintln!(
                "error: the configuration has {} problem(s):",
                problems.len()
            );
            for p in problems {
                eprintln!("  - {p}");
            }
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Some(Command::Demo { .. })) {
        // The seed's bulk statements and ANALYZE take seconds by design:
        // sqlx's slow-statement warnings would only interleave with its
        // progress.
        config.log_level.push_str(",sqlx=error");
    }
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    if let Command::Token { command } = command {
        return token(command, config).await;
    }
    if let Command::Dhis2 { command } = command {
        return dhis2(command, config).await;
    }
    if let Command::Report { command } = command {
        return report(command, config).await;
    }
    run_other(command, config).await.map(|()| ExitCode::SUCCESS)
}

/// The `token` commands: `check` exits with 1 when a number needs an
/// administrator.
async fn token(command: TokenCommand, config: Config) -> anyhow::Result<ExitCode> {
    let state = uic_inbox::prepare(config).await?;
    let now = time::OffsetDateTime::now_utc();
    let done = match command {
        TokenCommand::Check { days } => {
            match uic_inbox::tokens::command::check_all(&state, days, now).await {
                Ok(lines) => {
                    println!("{}", uic_inbox::tokens::command::HEADING);
                    for l in &lines {
                        println!("{l}");
                    }
                    Ok(if lines.iter().any(|l| l.bad) {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    })
                }
                Err(e) => Err(e),
            }
        }
        TokenCommand::Exchange { account } => {
            uic_inbox::tokens::command::exchange(&state, &account, now)
                .await
                .map(|said| {
                    println!("{said}");
                    ExitCode::SUCCESS
                })
        }
    };
    state.db.close().await;
    done
}

/// The `dhis2` commands: `check` exits with 1 when a number's settings
/// would stop its sync.
async fn dhis2(command: Dhis2Command, config: Config) -> anyhow::Result<ExitCode> {
    use uic_inbox::dhis2::command;
    let state = uic_inbox::prepare(config).await?;
    let done = match command {
        Dhis2Command::Check { account } => command::check_all(&state, account.as_deref())
            .await
            .map(|lines| {
                if lines.is_empty() {
                    println!("No number has DHIS-2 settings: set them on a number's page.");
                    return ExitCode::SUCCESS;
                }
                println!("{}", command::HEADING);
                for l in &lines {
                    println!("{l}");
                }
                if lines.iter().any(|l| l.bad) {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            }),
        Dhis2Command::Retry { account } => {
            command::retry(&state, account.as_deref(), time::OffsetDateTime::now_utc())
                .await
                .map(|n| {
                    println!("{n} failed registration(s) requeued.");
                    ExitCode::SUCCESS
                })
        }
    };
    state.db.close().await;
    done
}

/// The `report` commands: bad input (an unknown tenant or number) exits
/// with 2, as clap's own refusals do.
async fn report(command: ReportCommand, config: Config) -> anyhow::Result<ExitCode> {
    let ReportCommand::Monthly {
        month,
        tenant,
        account,
        format,
    } = command;
    let today = time::OffsetDateTime::now_utc().date();
    // Empty: the month before this one.
    let period = match uic_inbox::report::Period::month(month.as_deref().unwrap_or(""), today) {
        Ok(p) if month.as_deref().is_none_or(|m| !m.trim().is_empty()) => p,
        _ => {
            return refuse(format!(
                "--month {}: not a month; a month is written as 2026-11 (YYYY-MM)",
                shown(month.as_deref().unwrap_or(""))
            ));
        }
    };
    let state = uic_inbox::prepare(config).await?;
    let done = monthly(
        &state.db,
        period,
        tenant.as_deref(),
        account.as_deref(),
        format,
    )
    .await;
    state.db.close().await;
    done
}

/// Text typed on the command line, in a message: quoted, the first 60
/// characters at most.
fn shown(s: &str) -> String {
    format!("{:?}", s.chars().take(60).collect::<String>())
}

/// Why `report monthly` refused its arguments.
fn refuse(said: String) -> anyhow::Result<ExitCode> {
    eprintln!("error: {said}");
    Ok(ExitCode::from(2))
}

async fn monthly(
    db: &Db,
    period: uic_inbox::report::Period,
    tenant: Option<&str>,
    account: Option<&str>,
    format: ReportFormat,
) -> anyhow::Result<ExitCode> {
    use uic_inbox::auth::{Actor, Permission, Scope};
    use uic_inbox::{report, tenancy};
    // Slugs are checked before they reach the database (a NUL byte is an
    // error there, not a miss).
    let tenants = tenancy::store::list_tenants(db).await?;
    // (tenant, the number it is narrowed to)
    let blocks: Vec<(&tenancy::store::Tenant, Option<i64>)> = match (tenant, account) {
        (_, Some(slug)) => {
            let found = match tenancy::store::valid_slug(slug) {
                true => tenancy::store::find_by_slug(db, slug).await?,
                false => None,
            };
            let Some(a) = found.filter(|a| a.provider() != tenancy::Provider::Sandbox) else {
                return refuse(format!(
                    "no number has the slug {} (see the Numbers page; sandbox numbers are never counted)",
                    shown(slug)
                ));
            };
            match tenants.iter().find(|t| t.id == a.tenant_id) {
                Some(t) => vec![(t, Some(a.id))],
                None => return refuse(format!("the number {} has no tenant", shown(slug))),
            }
        }
        (Some(slug), None) => match tenants.iter().find(|t| t.slug == slug) {
            Some(t) => vec![(t, None)],
            None => return refuse(format!("no tenant has the slug {}", shown(slug))),
        },
        (None, None) => tenants.iter().map(|t| (t, None)).collect(),
    };
    if format == ReportFormat::Csv && blocks.len() > 1 {
        return refuse(format!(
            "--format csv writes one tenant's report and there are {}: give --tenant or --account",
            blocks.len()
        ));
    }
    for (t, number) in blocks {
        let scope = number.map_or(Scope::Tenant, Scope::Account);
        let access = Actor::operator(t.id).require(Permission::ReportsView, scope)?;
        let r = report::figures::report(db, &access, period).await?;
        let lines = r.lines();
        match format {
            ReportFormat::Csv => {
                use std::io::Write;
                std::io::stdout().write_all(&report::csv::figures(&lines)?)?;
            }
            ReportFormat::Text => {
                println!(
                    "{} ({}), {} to {}",
                    printable(&t.name),
                    t.slug,
                    period.from,
                    period.to
                );
                print!("{}", figures_table(&lines));
                println!();
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Text staff typed (a number's name), safe on a terminal: no control
/// character.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A report's lines as an aligned table: number, figure, question, value.
fn figures_table(lines: &[uic_inbox::report::Line]) -> String {
    use std::fmt::Write;
    let numbers: Vec<String> = lines.iter().map(|l| printable(&l.number)).collect();
    let width = numbers
        .iter()
        .map(|n| n.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6);
    let figure = lines
        .iter()
        .map(|l| l.figure.len())
        .chain([6])
        .max()
        .unwrap_or(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:<figure$}  {:>8}  {:>10}",
        "NUMBER", "FIGURE", "QUESTION", "VALUE"
    );
    for (l, number) in lines.iter().zip(&numbers) {
        let question = l.question.map(|q| q.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "{number:<width$}  {:<figure$}  {question:>8}  {:>10}",
            l.figure, l.value
        );
    }
    out
}

async fn run_other(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(config).await?;
            tracing::info!(
                port = app.port(),
                database = app.state().db.backend_name(),
                "uic-inbox listening"
            );
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate => {
            let db = Db::connect(&config.database_url).await?;
            // Not at the same time as an instance starting on this database.
            let lock = db.startup_lock(&config.database_url).await?;
            db.migrate().await?;
            let sealed = uic_inbox::prepare_secrets(&config, &db).await;
            lock.release().await;
            sealed?;
            println!("migrations applied ({})", db.backend_name());
            Ok(())
        }
        Command::SecretKey {
            command: SecretKeyCommand::Generate,
        } => unreachable!("handled before the configuration is read"),
        Command::SecretKey {
            command: SecretKeyCommand::Rotate,
        } => {
            let db = Db::connect(&config.database_url).await?;
            let lock = db.startup_lock(&config.database_url).await?;
            let migrated = db.migrate().await;
            let rotated = match migrated {
                Ok(()) => uic_inbox::secrets::store::rotate(&config, &db).await,
                Err(e) => Err(e),
            };
            lock.release().await;
            db.close().await;
            let report = rotated?;
            println!(
                "re-encrypted {} stored credential(s) under key {}",
                report.resealed, report.current
            );
            Ok(())
        }
        Command::Salt => unreachable!("handled before the configuration is read"),
        Command::Token { .. } => unreachable!("handled by `token`"),
        Command::Dhis2 { .. } => unreachable!("handled by `dhis2`"),
        Command::Report { .. } => unreachable!("handled by `report`"),
        Command::Admin {
            command: AdminCommand::Create,
        } => {
            let state = uic_inbox::prepare(config).await?;
            let link = uic_inbox::auth::setup::first_admin_link(
                &state.db,
                &state.config,
                state.config.port,
            )
            .await?;
            println!("Open this link to create an administrator (valid 24 hours, usable once):");
            println!("{link}");
            state.db.close().await;
            Ok(())
        }
        Command::Demo {
            command:
                DemoCommand::Seed {
                    tenant_slug,
                    conversations,
                    messages,
                    registrations,
                    seed,
                    password_file,
                },
        } => {
            let password = match password_file {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                ),
                None => None,
            };
            let options = uic_inbox::demo::Options {
                tenant_slug,
                conversations,
                messages,
                registrations,
                seed,
                password,
            };
            let state = uic_inbox::prepare(config).await?;
            let started = std::time::Instant::now();
            let seeded = uic_inbox::demo::seed(
                &state.db,
                &state.config,
                &state.salt,
                &options,
                &mut |step: &str| {
                    eprintln!("[{:>6.1} s] {step}", started.elapsed().as_secs_f64());
                },
            )
            .await;
            let base = state
                .config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://localhost:{}", state.config.port));
            state.db.close().await;
            print!("{}", uic_inbox::demo::summary(&seeded?, &base));
            Ok(())
        }
        Command::Uic { command } => {
            let state = uic_inbox::prepare(config).await?;
            let mut footer = None;
            let rows = match command {
                UicCommand::List { page, per_page } => {
                    let total = registry::store::count(&state.db, None).await?;
                    let pages = ((total + per_page - 1) / per_page).max(1);
                    if page > pages {
                        anyhow::bail!(
                            "there is no page {page}: {pages} page(s) of {per_page} ({total} registrations)"
                        );
                    }
                    footer = Some(format!("page {page} of {pages} ({total} registrations)"));
                    let offset = (page - 1) * per_page;
                    registry::store::list_from(&state.db, None, offset, per_page).await?
                }
                UicCommand::Show { code } => {
                    let uic = Uic::parse(&code)?;
                    let rows = registry::store::find(&state.db, &uic).await?;
                    if rows.is_empty() {
                        anyhow::bail!("{uic} is not registered");
                    }
                    rows
                }
            };
            println!(
                "{:<12} {:>6} {:>5} {:>6} {:<9} {:<25} LAST SEEN",
                "UIC", "TENANT", "SEEN", "PHONES", "COLLISION", "FIRST SEEN"
            );
            for r in rows {
                println!(
                    "{:<12} {:>6} {:>5} {:>6} {:<9} {:<25} {}",
                    r.uic,
                    r.tenant_id,
                    r.times_seen,
                    r.phones,
                    r.collision_status,
                    rfc3339(r.first_seen_at),
                    rfc3339(r.last_seen_at)
                );
            }
            if let Some(footer) = footer {
                println!("{footer}");
            }
            state.db.close().await;
            Ok(())
        }
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Logs to standard output, as text or (`LOG_FORMAT=json`) one JSON object
/// a line. A JSON line carries the span it was logged in and those around
/// it: a request's id, method and path (see `request_log`) are on every
/// line logged while it is served, even under a span of its own.
fn init_tracing(config: &Config) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
