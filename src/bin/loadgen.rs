//! Load generator: N simulated phones go through full conversations against
//! a running server, over the Twilio webhook (signed) or the sandbox.
//!
//! ```text
//! cargo run --release --bin loadgen -- --url http://127.0.0.1:8000 --phones 32 --seconds 20 --server-pid <pid>
//! ```
//! Prints conversations/s, messages/s, latency p50/p99 and the server's RSS.
//!
//! `--channel meta` posts signed Meta webhooks (the replies go out through
//! the outbox); `--graph-stub-port P --graph-delay-ms D` instead runs a
//! stand-in for the Graph API that answers every send after D ms (start it
//! first and point the server's META_GRAPH_URL at it), to show that the
//! webhook's acknowledgement does not wait for Meta.
//!
//! `--pages` measures the staff pages instead (on a tenant `uic-inbox demo
//! seed` filled): it logs in as `--email` (password from `--password-file`),
//! then requests, round after round, the conversations list with each
//! filter, its next pages (following `<a rel="next" href="…">`), and
//! conversations picked from the lists' links, and prints count, p50, p95,
//! p99 and max per kind of page:
//!
//! ```text
//! loadgen --pages --url http://127.0.0.1:8000 --email superviseur@demo.example.org \
//!     --password-file pw.txt --account 3 --uic MBUGRA7KN2 --phone +243810000000 --rounds 200
//! ```
//!
//! `--pages --dhis2` times the DHIS-2 synchronisation page instead: the
//! whole page (`GET /dhis2`: counts per number, failed and held lists) and
//! its self-refreshing part (`GET /dhis2?part=status`), once each a round
//! (see `scripts/bench-dhis2-page.sh`).
//!
//! `--sse N` adds N staff connections to the live stream beside the
//! webhook load: it gets a staff session (`--setup-link` from
//! `uic-inbox admin create`, or `--email`/`--password-file`), opens N
//! streams as N staff on the probe conversation's page would
//! (`GET /live?conversation={id}`, one HTTP/1.1 connection each, read and
//! parsed continuously), and runs a probe: one more phone sends a message every `--probe-ms`
//! through the same webhook, and each stream records when
//! `conversation-{probe's id}` arrives. It prints the streams' fate, the
//! events each received and the probe's delivery latency beside the
//! webhook figures (see `scripts/bench-live.sh`). `--sse 0` runs the probe
//! with no stream: the same load, for comparison.

use clap::{Parser, ValueEnum};

// glibc's allocator spends a visible share of a request in malloc/free
// under many small allocations from several threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};
use uic_inbox::channel::twilio;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Channel {
    Twilio,
    Sandbox,
    Meta,
}

#[derive(Parser, Debug)]
#[command(about = "Drives simulated phones through full UIC conversations")]
struct Args {
    /// Base URL of the running server.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Concurrent phones.
    #[arg(long, default_value_t = 32)]
    phones: usize,
    /// How long to run (after a 2 s warm-up).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, value_enum, default_value_t = Channel::Twilio)]
    channel: Channel,
    /// Twilio auth token of the account (must match the server's).
    #[arg(long, default_value = "loadgen_auth_token")]
    twilio_token: String,
    /// The account's WhatsApp number (the server's TWILIO_WHATSAPP_NUMBER).
    #[arg(long, default_value = "+14155238886")]
    twilio_number: String,
    /// Sandbox account slug.
    #[arg(long, default_value = "sandbox")]
    sandbox_account: String,
    /// Server process id, to report its memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Phone numbers start here (change it between runs for fresh contacts).
    #[arg(long, default_value_t = 0)]
    phone_offset: u64,
    /// Meta app secret (the server's META_APP_SECRET).
    #[arg(long, default_value = "loadgen_app_secret")]
    meta_app_secret: String,
    /// Meta phone number id (the server's META_PHONE_NUMBER_ID).
    #[arg(long, default_value = "106540352242922")]
    meta_phone_number_id: String,
    /// Messages per second in all (spread over the phones); unset: each
    /// phone sends its next message as soon as the last was answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Print each request slower than this (milliseconds), with when it was sent.
    #[arg(long)]
    slow_ms: Option<u64>,
    /// Run only a stand-in Graph API on this port (see the module header).
    #[arg(long)]
    graph_stub_port: Option<u16>,
    /// How long the stand-in Graph API takes to answer.
    #[arg(long, default_value_t = 2000)]
    graph_delay_ms: u64,
    /// Measure the staff pages (see the module header) instead of webhooks.
    #[arg(long)]
    pages: bool,
    /// Staff member to log in as (`--pages`).
    #[arg(long)]
    email: Option<String>,
    /// File holding their password (`--pages`).
    #[arg(long)]
    password_file: Option<std::path::PathBuf>,
    /// Rounds over every kind of page (`--pages`).
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// Next pages followed from each list (`--pages`).
    #[arg(long, default_value_t = 5)]
    depth: usize,
    /// Requests under way at once (`--pages`).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// An account id for the account filter (`--pages`).
    #[arg(long)]
    account: Option<i64>,
    /// A code to search for (`--pages`).
    #[arg(long)]
    uic: Option<String>,
    /// A phone number to search for (`--pages`).
    #[arg(long)]
    phone: Option<String>,
    /// With `--pages`: the DHIS-2 page and its status part instead of the
    /// conversations pages.
    #[arg(long)]
    dhis2: bool,
    /// With `--pages`: these pages (paths, the option repeated) instead
    /// of the conversations pages, e.g. the reports.
    #[arg(long)]
    get: Vec<String>,
    /// Live streams to hold open during the webhook load (see the module
    /// header); needs `--setup-link` or `--email` and `--password-file`.
    #[arg(long)]
    sse: Option<usize>,
    /// A one-time `/setup/{token}` link (`uic-inbox admin create`): the
    /// streams' staff member is created through it (`--sse`).
    #[arg(long)]
    setup_link: Option<String>,
    /// How often the probe phone sends (`--sse`), in milliseconds.
    #[arg(long, default_value_t = 250)]
    probe_ms: u64,
}

struct PhoneResult {
    latencies_us: Vec<u64>,
    conversations: u64,
    errors: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = std::sync::Arc::new(Args::parse());
    if let Some(port) = args.graph_stub_port {
        return graph_stub(port, Duration::from_millis(args.graph_delay_ms)).await;
    }
    if args.pages {
        return pages::run(&args).await;
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.phones)
        .build()?;
    // The streams open (and the probe's conversation is found) before the
    // load starts.
    let prepared = match args.sse {
        Some(n) => {
            let p = live::prepare(&args, &client, n).await?;
            // scripts/bench.sh waits for this line (SSE_APART=1).
            println!("live ready     {n} streams open");
            Some(p)
        }
        None => None,
    };
    let warmup = Duration::from_secs(2);
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + Duration::from_secs(args.seconds);
    let running = prepared.map(|p| p.run(&args, &client, measure_from, stop_at));
    let cpu = tokio::spawn(cpu::measure(args.server_pid, measure_from, stop_at));
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..args.phones {
        let (args, client) = (args.clone(), client.clone());
        tasks.spawn(async move { run_phone(&args, &client, p, measure_from, stop_at).await });
    }
    let mut latencies = Vec::new();
    let (mut conversations, mut errors) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let r = r?;
        latencies.extend(r.latencies_us);
        conversations += r.conversations;
        errors += r.errors;
    }
    latencies.sort_unstable();
    let secs = args.seconds as f64;
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!("channel        {:?}", args.channel);
    println!("phones         {}", args.phones);
    println!("duration       {secs:.0} s (after 2 s warm-up)");
    println!("messages       {} ({errors} errors)", latencies.len());
    println!("messages/s     {:.0}", latencies.len() as f64 / secs);
    println!("conversations/s {:.1}", conversations as f64 / secs);
    println!("latency p50    {:.2} ms", pct(0.50) as f64 / 1000.0);
    println!("latency p99    {:.2} ms", pct(0.99) as f64 / 1000.0);
    println!(
        "latency max    {:.2} ms",
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    if let Some(pid) = args.server_pid {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        for line in status
            .lines()
            .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        {
            println!("server {line}");
        }
    }
    if let Ok(Some(cpu)) = cpu.await {
        println!("{cpu}");
    }
    let live_ok = match running {
        Some(r) => r.finish().await?,
        None => true,
    };
    if errors > 0 {
        anyhow::bail!("{errors} requests failed");
    }
    if !live_ok {
        anyhow::bail!("the live streams or the probe failed (see above)");
    }
    Ok(())
}

/// The six messages of a phone's `conversation`-th conversation: a greeting
/// (or `RECOMMENCER`), then the five answers, with a different code each
/// time (new registrations, not only "seen again").
fn conversation_texts(p: u64, conversation: u64) -> [String; 6] {
    let letter = |n: u64| char::from(b'A' + (n % 26) as u8);
    let opening = if conversation == 0 {
        "Bonjour"
    } else {
        "RECOMMENCER"
    };
    [
        opening.to_string(),
        format!(
            "{}{}{}",
            letter(p),
            letter(conversation),
            letter(conversation / 26)
        ),
        "Ibrahima".to_string(),
        format!("{}", 1950 + conversation % 50),
        "KN".to_string(),
        format!("{}", 1 + conversation % 4),
    ]
}

async fn run_phone(
    args: &Args,
    client: &reqwest::Client,
    p: usize,
    measure_from: Instant,
    stop_at: Instant,
) -> PhoneResult {
    let phone = format!("+24389{:07}", args.phone_offset + p as u64);
    let mut result = PhoneResult {
        latencies_us: Vec::new(),
        conversations: 0,
        errors: 0,
    };
    let mut seq: u64 = 0;
    let mut conversation: u64 = 0;
    // With a target rate, each phone keeps its own schedule (started at a
    // different offset so the phones do not send in step).
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(args.phones as f64 / r.max(0.001)));
    let mut next_send = Instant::now()
        + interval
            .map(|i| i.mul_f64(p as f64 / args.phones as f64))
            .unwrap_or_default();
    while Instant::now() < stop_at {
        let texts = conversation_texts(p as u64, conversation);
        let mut complete = true;
        for text in &texts {
            if let Some(interval) = interval {
                tokio::time::sleep_until(next_send.into()).await;
                next_send += interval;
            }
            seq += 1;
            let sid = format!("SM{:016x}{:016x}", args.phone_offset + p as u64, seq);
            let sent = Instant::now();
            let ok = send(args, client, &phone, &sid, text).await;
            let took = sent.elapsed();
            if args
                .slow_ms
                .is_some_and(|ms| took.as_millis() > u128::from(ms))
            {
                // When it was sent (ms since the start) and how long it took:
                // shows whether slow requests come alone or in clusters.
                let since_start = sent.duration_since(measure_from - Duration::from_secs(2));
                eprintln!("slow {} {}", since_start.as_millis(), took.as_millis());
            }
            if sent >= measure_from && sent < stop_at {
                result.latencies_us.push(took.as_micros() as u64);
                if !ok {
                    result.errors += 1;
                }
            }
            complete &= ok;
        }
        if complete && Instant::now() >= measure_from && Instant::now() < stop_at {
            result.conversations += 1;
        }
        conversation += 1;
    }
    result
}

async fn send(args: &Args, client: &reqwest::Client, phone: &str, sid: &str, text: &str) -> bool {
    let response = match args.channel {
        Channel::Twilio => {
            let url = format!("{}/whatsapp/webhook", args.url);
            let params: Vec<(String, String)> = vec![
                (
                    "AccountSid".into(),
                    "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
                ),
                ("Body".into(), text.into()),
                ("From".into(), format!("whatsapp:{phone}")),
                ("MessageSid".into(), sid.into()),
                ("NumMedia".into(), "0".into()),
                ("ProfileName".into(), "Load".into()),
                ("To".into(), format!("whatsapp:{}", args.twilio_number)),
                ("WaId".into(), phone.trim_start_matches('+').into()),
            ];
            let signature = twilio::signature(&args.twilio_token, &url, &params);
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish();
            client
                .post(url)
                .header("X-Twilio-Signature", signature)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
        }
        Channel::Meta => {
            let digits = phone.trim_start_matches('+');
            // Sent now: the server does not answer a message older than a
            // day (the 24-hour window would refuse the reply).
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
            let body = serde_json::json!({
                "object": "whatsapp_business_account",
                "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "243810000000", "phone_number_id": args.meta_phone_number_id},
                    "contacts": [{"profile": {"name": "Load"}, "wa_id": digits}],
                    "messages": [{"from": digits, "id": format!("wamid.{sid}"), "timestamp": timestamp,
                        "type": "text", "text": {"body": text}}]
                }}]}]
            })
            .to_string();
            client
                .post(format!("{}/whatsapp/webhook", args.url))
                .header("Content-Type", "application/json")
                .header(
                    "X-Hub-Signature-256",
                    uic_inbox::channel::meta::sign(&args.meta_app_secret, body.as_bytes()),
                )
                .body(body)
                .send()
                .await
        }
        Channel::Sandbox => {
            client
                .post(format!(
                    "{}/sandbox/{}/messages",
                    args.url, args.sandbox_account
                ))
                .json(&serde_json::json!({ "from": phone, "text": text, "id": sid }))
                .send()
                .await
        }
    };
    match response {
        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
        Ok(r) => {
            eprintln!("{} {}", r.status(), r.text().await.unwrap_or_default());
            false
        }
        Err(e) => {
            eprintln!("request failed: {e}");
            false
        }
    }
}

/// A stand-in for the Graph API's send endpoint: answers every
/// `POST /{version}/{phone-number-id}/messages` after `delay` with a fresh
/// wamid, and prints how many sends it answered every 5 s.
async fn graph_stub(port: u16, delay: Duration) -> anyhow::Result<()> {
    use axum::routing::post;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SENT: AtomicU64 = AtomicU64::new(0);
    let app = axum::Router::new().route(
        "/{version}/{number}/messages",
        post(move || async move {
            tokio::time::sleep(delay).await;
            let n = SENT.fetch_add(1, Ordering::Relaxed);
            axum::Json(serde_json::json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": "0", "wa_id": "0"}],
                "messages": [{"id": format!("wamid.stub{n}")}]
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tokio::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            eprintln!(
                "graph stub: {} sends answered",
                SENT.load(Ordering::Relaxed)
            );
        }
    });
    axum::serve(listener, app).await?;
    Ok(())
}

/// The staff pages' benchmark (`--pages`).
mod pages {
    use super::Args;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    /// The value of the first `name="_csrf" value="…"` of a page.
    pub fn csrf_of(html: &str) -> Option<String> {
        let key = "name=\"_csrf\" value=\"";
        let at = html.find(key)? + key.len();
        let rest = &html[at..];
        Some(rest[..rest.find('"')?].to_string())
    }

    /// `&amp;` and the other entities an `href` may hold, read back.
    fn unescape(s: &str) -> String {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    /// The `href` of the first `<a … rel="next" …>` (attributes in any
    /// order, single or double quotes), unescaped.
    pub fn next_link(html: &str) -> Option<String> {
        let mut rest = html;
        while let Some(start) = rest.find("<a") {
            let tag_end = rest[start..].find('>')? + start;
            let tag = &rest[start..tag_end];
            let after = &rest[start + 2..];
            rest = &rest[tag_end..];
            if !after.starts_with(|c: char| c.is_whitespace()) {
                continue;
            }
            if attribute(tag, "rel").is_some_and(|r| r.split_whitespace().any(|w| w == "next")) {
                return attribute(tag, "href").map(|h| unescape(&h));
            }
        }
        None
    }

    /// An attribute's value in a tag.
    fn attribute(tag: &str, name: &str) -> Option<String> {
        let mut from = 0;
        while let Some(i) = tag[from..].find(name) {
            let at = from + i;
            from = at + name.len();
            let before = tag[..at].chars().last();
            if !before.is_some_and(char::is_whitespace) {
                continue;
            }
            let rest = tag[from..].trim_start();
            let Some(rest) = rest.strip_prefix('=') else {
                continue;
            };
            let rest = rest.trim_start();
            let quote = rest.chars().next()?;
            if quote == '"' || quote == '\'' {
                let body = &rest[1..];
                return Some(body[..body.find(quote)?].to_string());
            }
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '>')
                .unwrap_or(rest.len());
            return Some(rest[..end].to_string());
        }
        None
    }

    /// The ids of every `href="/conversations/{id}"` of a page (a link to
    /// one conversation; its own sub-pages and query strings count too).
    pub fn conversation_ids(html: &str) -> Vec<i64> {
        let key = "href=\"/conversations/";
        let mut ids = Vec::new();
        let mut rest = html;
        while let Some(i) = rest.find(key) {
            rest = &rest[i + key.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let next = rest[digits.len()..].chars().next();
            if !digits.is_empty()
                && matches!(next, Some('"' | '?' | '#' | '/'))
                && let Ok(id) = digits.parse()
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        ids
    }

    /// `name=value` of each `Set-Cookie`, merged into what the client keeps.
    pub fn keep_cookies(jar: &mut BTreeMap<String, String>, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                let expired = v.to_ascii_lowercase().contains("max-age=0");
                if expired || value.is_empty() {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_string(), value.to_string());
                }
            }
        }
    }

    pub fn cookie_header(jar: &BTreeMap<String, String>) -> String {
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Logs in; the session cookie header.
    pub async fn login(
        client: &reqwest::Client,
        base: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<String> {
        let mut jar = BTreeMap::new();
        let res = client.get(format!("{base}/login")).send().await?;
        keep_cookies(&mut jar, res.headers());
        let html = res.text().await?;
        let csrf = csrf_of(&html).ok_or_else(|| anyhow::anyhow!("no CSRF token on /login"))?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("_csrf", &csrf)
            .append_pair("email", email)
            .append_pair("password", password)
            .finish();
        let res = client
            .post(format!("{base}/login"))
            .header(reqwest::header::COOKIE, cookie_header(&jar))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await?;
        if res.status() != reqwest::StatusCode::SEE_OTHER {
            anyhow::bail!("login as {email} answered {}", res.status());
        }
        keep_cookies(&mut jar, res.headers());
        Ok(cookie_header(&jar))
    }

    /// Timings of one kind of page, in microseconds.
    #[derive(Default)]
    struct Kind {
        took: Vec<u64>,
        errors: u64,
        last_error: Option<String>,
    }

    /// Nearest-rank percentile of sorted values.
    pub fn percentile(sorted: &[u64], q: f64) -> u64 {
        if sorted.is_empty() {
            return 0;
        }
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    struct Got {
        kind: String,
        took: Duration,
        status: u16,
        body: String,
    }

    async fn get(
        client: &reqwest::Client,
        base: &str,
        cookie: &str,
        kind: &str,
        path: &str,
    ) -> Got {
        let started = Instant::now();
        let res = client
            .get(format!("{base}{path}"))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await;
        let (status, body) = match res {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        };
        Got {
            kind: kind.to_string(),
            took: started.elapsed(),
            status,
            body,
        }
    }

    /// One round: every list once, its next pages, and conversations
    /// (`open`: three of them).
    #[allow(clippy::too_many_arguments)]
    async fn round(
        client: &reqwest::Client,
        base: &str,
        cookie: &str,
        lists: &[(String, String)],
        depth: usize,
        conversations: &[i64],
        pick: usize,
        open: bool,
    ) -> (Vec<Got>, Vec<i64>) {
        let mut got = Vec::new();
        let mut seen = Vec::new();
        for (kind, path) in lists {
            let first = get(client, base, cookie, kind, path).await;
            seen.extend(conversation_ids(&first.body));
            let mut next = next_link(&first.body).filter(|_| first.status == 200);
            got.push(first);
            // The plain list and the queue are followed several pages deep.
            if kind == "/conversations" || kind == "?mode=waiting" {
                for n in 1..=depth {
                    let Some(path) = next.take() else { break };
                    let page = get(
                        client,
                        base,
                        cookie,
                        &format!("{kind} page {}", n + 1),
                        &path,
                    )
                    .await;
                    seen.extend(conversation_ids(&page.body));
                    next = next_link(&page.body).filter(|_| page.status == 200);
                    got.push(page);
                }
            }
        }
        let pool: Vec<i64> = if conversations.is_empty() {
            seen.clone()
        } else {
            conversations.to_vec()
        };
        if open && !pool.is_empty() {
            for k in 0..3 {
                let id = pool[(pick * 7919 + k * 104_729) % pool.len()];
                got.push(
                    get(
                        client,
                        base,
                        cookie,
                        "/conversations/{id}",
                        &format!("/conversations/{id}"),
                    )
                    .await,
                );
            }
        }
        (got, seen)
    }

    /// The staff member's password: `--password-file`, else `LOADGEN_PASSWORD`.
    pub fn password(args: &Args) -> anyhow::Result<String> {
        Ok(match &args.password_file {
            Some(p) => std::fs::read_to_string(p)?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
            None => std::env::var("LOADGEN_PASSWORD").map_err(|_| {
                anyhow::anyhow!("--pages and --sse need --password-file (or LOADGEN_PASSWORD)")
            })?,
        })
    }

    pub async fn run(args: &Args) -> anyhow::Result<()> {
        let email = args
            .email
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("--pages needs --email"))?;
        let password = password(args)?;
        let base = args.url.trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(args.concurrency)
            .build()?;
        let cookie = login(&client, &base, email, &password).await?;
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut lists: Vec<(String, String)> = vec![
            ("/conversations".into(), "/conversations".into()),
            ("?mode=waiting".into(), "/conversations?mode=waiting".into()),
            ("?mode=human".into(), "/conversations?mode=human".into()),
            ("?mine=1".into(), "/conversations?mine=1".into()),
            ("?uic=with".into(), "/conversations?uic=with".into()),
            ("?uic=without".into(), "/conversations?uic=without".into()),
        ];
        if let Some(a) = args.account {
            lists.push((
                "?account={id}".into(),
                format!("/conversations?account={a}"),
            ));
        }
        if let Some(u) = &args.uic {
            lists.push(("?q={uic}".into(), format!("/conversations?q={}", enc(u))));
        }
        if let Some(p) = &args.phone {
            lists.push(("?q={phone}".into(), format!("/conversations?q={}", enc(p))));
        }
        // The DHIS-2 page: no list to follow, no conversation to open.
        let open = !args.dhis2 && args.get.is_empty();
        if args.dhis2 {
            lists = vec![
                ("/dhis2".into(), "/dhis2".into()),
                ("/dhis2?part=status".into(), "/dhis2?part=status".into()),
            ];
        }
        if !args.get.is_empty() {
            lists = args.get.iter().map(|p| (p.clone(), p.clone())).collect();
        }
        // Warm-up, not counted: also gathers conversations to open.
        let (_, mut pool) = round(&client, &base, &cookie, &lists, args.depth, &[], 0, open).await;
        pool.sort_unstable();
        pool.dedup();
        let mut kinds: BTreeMap<String, Kind> = BTreeMap::new();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let shared = std::sync::Arc::new((client, base, cookie, lists, pool));
        let next_round = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..args.concurrency.max(1) {
            let (shared, next_round) = (shared.clone(), next_round.clone());
            let (rounds, depth) = (args.rounds, args.depth);
            tasks.spawn(async move {
                let mut all = Vec::new();
                loop {
                    let r = next_round.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if r >= rounds {
                        return all;
                    }
                    let (client, base, cookie, lists, pool) = &*shared;
                    let (got, _) =
                        round(client, base, cookie, lists, depth, pool, r + 1, open).await;
                    all.extend(got);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            for g in done? {
                let k = kinds.entry(g.kind).or_default();
                if g.status == 200 {
                    k.took.push(g.took.as_micros() as u64);
                } else {
                    k.errors += 1;
                    k.last_error = Some(format!("HTTP {}", g.status));
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "pages as {email}: {} rounds, {} at once, {elapsed:.1} s",
            args.rounds, args.concurrency
        );
        println!(
            "{:<28} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8}",
            "page", "count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        let mut errors = 0;
        for (name, k) in &mut kinds {
            k.took.sort_unstable();
            let ms = |us: u64| us as f64 / 1000.0;
            println!(
                "{:<28} {:>6} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1}{}",
                name,
                k.took.len(),
                k.errors,
                ms(percentile(&k.took, 0.50)),
                ms(percentile(&k.took, 0.95)),
                ms(percentile(&k.took, 0.99)),
                ms(k.took.last().copied().unwrap_or(0)),
                k.last_error
                    .as_deref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            );
            errors += k.errors;
        }
        if errors > 0 {
            anyhow::bail!("{errors} requests did not answer 200");
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_next_link_is_found_whatever_the_attribute_order_and_unescaped() {
            let html = r#"<nav><a href="/conversations?mode=waiting">En attente</a>
                <a class="button" href="/conversations?mode=waiting&amp;before=2026-11-30T10%3A00%3A00Z&amp;id=812" rel="next">Suivantes</a></nav>"#;
            assert_eq!(
                next_link(html).as_deref(),
                Some("/conversations?mode=waiting&before=2026-11-30T10%3A00%3A00Z&id=812")
            );
            assert_eq!(
                next_link("<a rel='next prefetch' href='/conversations?after=5'>›</a>").as_deref(),
                Some("/conversations?after=5")
            );
            assert_eq!(
                next_link(r#"<a rel=next href=/c?x=1>next</a>"#).as_deref(),
                Some("/c?x=1")
            );
            // A previous link, an <abbr>, or a data- attribute is no next link.
            assert_eq!(
                next_link(r#"<a rel="prev" href="/p">‹</a><abbr rel="next">x</abbr>"#),
                None
            );
            assert_eq!(next_link(r#"<a data-rel="next" href="/p">x</a>"#), None);
            assert_eq!(next_link(""), None);
            assert_eq!(next_link("<a rel=\"next\" href=\"/unterminated"), None);
        }

        #[test]
        fn conversation_links_give_their_ids_once_each() {
            let html = r#"<a href="/conversations/12">+243 81 *** 4567</a>
                <a href="/conversations/12">again</a>
                <a href="/conversations/7?from=list">x</a>
                <a href="/conversations/9/take">take</a>
                <a href="/conversations?mode=human">filter</a>
                <a href="/conversations/abc">bad</a>
                <a href="/conversations/99999999999999999999">too long</a>"#;
            assert_eq!(conversation_ids(html), vec![12, 7, 9]);
            assert!(conversation_ids("<p>nothing</p>").is_empty());
        }

        #[test]
        fn the_login_forms_token_is_read() {
            let html = r#"<form method="post"><input type="hidden" name="_csrf" value="abc.DEF-123"><input name="email">"#;
            assert_eq!(csrf_of(html).as_deref(), Some("abc.DEF-123"));
            assert_eq!(csrf_of("<form></form>"), None);
        }

        #[test]
        fn percentiles_are_nearest_rank() {
            let v: Vec<u64> = (1..=100).collect();
            assert_eq!(percentile(&v, 0.50), 50);
            assert_eq!(percentile(&v, 0.95), 95);
            assert_eq!(percentile(&v, 0.99), 99);
            assert_eq!(percentile(&[7], 0.99), 7);
            assert_eq!(percentile(&[], 0.5), 0);
        }
    }
}

/// The CPU each side used during the measured window, from `/proc`.
mod cpu {
    use std::time::Instant;

    /// Clock ticks a second of `/proc/*/stat` (`USER_HZ`, 100 on Linux).
    const TICKS: f64 = 100.0;

    /// user + system ticks of a process (every thread), from `/proc/{pid}/stat`.
    pub fn process_ticks(stat: &str) -> Option<u64> {
        // The command name is in parentheses and may hold spaces: fields
        // are counted after its closing one (utime and stime are the 14th
        // and 15th fields, the 12th and 13th after it).
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(utime + stime)
    }

    fn ticks_of(pid: &str) -> Option<u64> {
        process_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Every `postgres` process's ticks, summed.
    fn postgres_ticks() -> u64 {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return 0;
        };
        dir.filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim_end() == "postgres")
            })
            .filter_map(|pid| ticks_of(&pid))
            .sum()
    }

    /// Busy and total ticks of the whole machine (first line of `/proc/stat`).
    pub fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let v: Vec<u64> = line
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is
        // already counted in user).
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
        Some((total - idle, total))
    }

    struct Snapshot {
        server: Option<u64>,
        loadgen: Option<u64>,
        postgres: u64,
        machine: Option<(u64, u64)>,
    }

    fn snapshot(server_pid: Option<u32>) -> Snapshot {
        Snapshot {
            server: server_pid.and_then(|p| ticks_of(&p.to_string())),
            loadgen: ticks_of("self"),
            postgres: postgres_ticks(),
            machine: machine_ticks(&std::fs::read_to_string("/proc/stat").unwrap_or_default()),
        }
    }

    /// One line: each side's share of a core over the window, in percent.
    pub async fn measure(server_pid: Option<u32>, from: Instant, to: Instant) -> Option<String> {
        tokio::time::sleep_until(from.into()).await;
        let a = snapshot(server_pid);
        tokio::time::sleep_until(to.into()).await;
        let b = snapshot(server_pid);
        let secs = to.duration_since(from).as_secs_f64();
        let pct = |x: u64, y: u64| y.saturating_sub(x) as f64 / TICKS / secs * 100.0;
        let mut line = String::from("cpu            ");
        if let (Some(x), Some(y)) = (a.server, b.server) {
            line += &format!("server {:.0} %, ", pct(x, y));
        }
        if let (Some(x), Some(y)) = (a.loadgen, b.loadgen) {
            line += &format!("loadgen {:.0} %, ", pct(x, y));
        }
        line += &format!("postgres {:.0} %", pct(a.postgres, b.postgres));
        if let (Some((busy_a, total_a)), Some((busy_b, total_b))) = (a.machine, b.machine) {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let share = (busy_b.saturating_sub(busy_a)) as f64
                / (total_b.saturating_sub(total_a)).max(1) as f64;
            line += &format!(
                ", machine {:.0} % of {} %",
                share * 100.0 * cores as f64,
                cores * 100
            );
        }
        Some(line)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_process_s_ticks_are_read_after_its_name_even_with_spaces_and_parentheses() {
            let stat = "4242 (uic (x) y) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1234 567 0 0 20 0 9 0 100 0 0";
            assert_eq!(process_ticks(stat), Some(1234 + 567));
            assert_eq!(process_ticks("4242 (short) S 1"), None);
            assert_eq!(process_ticks("no parenthesis"), None);
        }

        #[test]
        fn the_machine_s_busy_time_leaves_out_idle_and_iowait() {
            let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
            assert_eq!(machine_ticks(stat), Some((161, 1181)));
            assert_eq!(machine_ticks("intr 1 2 3"), None);
        }
    }
}

/// The live streams' benchmark (`--sse`).
mod live {
    use super::{Args, pages};
    use std::collections::BTreeMap;
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, Instant};
    use tokio::sync::{mpsc, watch};

    /// A line longer than this in a stream is an error (a server gone wrong
    /// must not make the load generator hold unbounded memory).
    const MAX_LINE: usize = 64 * 1024;
    /// Likewise for one event's data.
    const MAX_DATA: usize = 256 * 1024;
    /// Wait before reconnecting a stream that ended early (the browser's
    /// EventSource waits a few seconds; shorter here to keep the count).
    const RECONNECT: Duration = Duration::from_secs(1);
    /// How long the streams may take to open.
    const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

    /// One dispatched server-sent event.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Frame {
        /// Its type (`message` when not named).
        pub event: String,
        pub data: String,
        /// The last event id seen so far (the stream's, not only this event's).
        pub id: String,
    }

    #[derive(Debug, PartialEq, Eq)]
    pub enum ParseError {
        LineTooLong,
        DataTooLong,
    }

    /// An incremental parser of `text/event-stream`, after the HTML
    /// standard's "interpret an event stream": lines end with LF, CR LF or
    /// CR (also when split between two reads); a blank line dispatches;
    /// `:` starts a comment; an event with no data is not dispatched; an id
    /// holding NUL is ignored.
    #[derive(Default)]
    pub struct SseParser {
        line: Vec<u8>,
        after_cr: bool,
        first_line: bool,
        event: String,
        data: String,
        last_id: String,
    }

    impl SseParser {
        pub fn new() -> SseParser {
            SseParser {
                first_line: true,
                ..SseParser::default()
            }
        }

        /// The last event id seen (for `Last-Event-ID` on reconnection).
        pub fn last_event_id(&self) -> &str {
            &self.last_id
        }

        /// Reads `bytes`, appending every event they complete to `out`.
        pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Frame>) -> Result<(), ParseError> {
            for &b in bytes {
                if self.after_cr {
                    self.after_cr = false;
                    if b == b'\n' {
                        continue;
                    }
                }
                match b {
                    b'\n' | b'\r' => {
                        self.after_cr = b == b'\r';
                        self.line_done(out)?;
                    }
                    _ => {
                        if self.line.len() >= MAX_LINE {
                            return Err(ParseError::LineTooLong);
                        }
                        self.line.push(b);
                    }
                }
            }
            Ok(())
        }

        fn line_done(&mut self, out: &mut Vec<Frame>) -> Result<(), ParseError> {
            let raw = std::mem::take(&mut self.line);
            let mut line: &[u8] = &raw;
            if self.first_line {
                self.first_line = false;
                line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            }
            let line = String::from_utf8_lossy(line);
            if line.is_empty() {
                self.dispatch(out);
                return Ok(());
            }
            if line.starts_with(':') {
                return Ok(());
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_ref(), ""),
            };
            match field {
                "event" => self.event = value.to_string(),
                "data" => {
                    if self.data.len() + value.len() + 1 > MAX_DATA {
                        return Err(ParseError::DataTooLong);
                    }
                    self.data.push_str(value);
                    self.data.push('\n');
                }
                "id" if !value.contains('\0') => self.last_id = value.to_string(),
                _ => {}
            }
            Ok(())
        }

        fn dispatch(&mut self, out: &mut Vec<Frame>) {
            let event = std::mem::take(&mut self.event);
            if self.data.is_empty() {
                return;
            }
            let mut data = std::mem::take(&mut self.data);
            data.pop();
            out.push(Frame {
                event: if event.is_empty() {
                    "message".to_string()
                } else {
                    event
                },
                data,
                id: self.last_id.clone(),
            });
        }
    }

    /// The delay of an event that arrived at `arrival`: since the start of
    /// the most recent probe message sent before it (`sends` in order).
    /// `None` when none was sent before it.
    pub fn latency(sends: &[Instant], arrival: Instant) -> Option<Duration> {
        let i = sends.partition_point(|s| *s <= arrival);
        i.checked_sub(1).map(|i| arrival.duration_since(sends[i]))
    }

    /// The measured window, known once the load starts.
    #[derive(Clone, Copy)]
    struct Window {
        from: Instant,
        to: Instant,
    }

    impl Window {
        fn holds(w: Option<&Window>, t: Instant) -> bool {
            w.is_some_and(|w| t >= w.from && t < w.to)
        }
    }

    /// What one stream saw.
    #[derive(Default)]
    struct StreamResult {
        /// Events dispatched within the window.
        events: u64,
        /// `resync` events within the window.
        resyncs: u64,
        /// When each `conversation-{probe}` event arrived (within the window).
        probe_arrivals: Vec<Instant>,
        /// Times its connection ended before the end (and, when it could,
        /// was opened again).
        ended_early: u64,
        reconnects: u64,
        open_at_end: bool,
        last_error: Option<String>,
    }

    /// Streams open and the probe's conversation known; the load not started.
    pub struct Prepared {
        probe_phone: String,
        probe_id: i64,
        probe_seq: u64,
        window: Arc<OnceLock<Window>>,
        stop: watch::Sender<bool>,
        streams: tokio::task::JoinSet<StreamResult>,
        opened: usize,
    }

    /// The load under way.
    pub struct Running {
        prepared: Prepared,
        probe: tokio::task::JoinHandle<(Vec<Instant>, u64)>,
        stop_at: Instant,
        probe_every: Duration,
    }

    /// A fresh administrator through the setup link, as a browser would
    /// fill its form: the session cookie header it gives.
    async fn setup(client: &reqwest::Client, link: &str) -> anyhow::Result<String> {
        use rand::RngExt;
        let mut jar = BTreeMap::new();
        let res = client.get(link).send().await?;
        if !res.status().is_success() {
            anyhow::bail!("the setup link answered {}", res.status());
        }
        pages::keep_cookies(&mut jar, res.headers());
        let html = res.text().await?;
        let csrf = pages::csrf_of(&html)
            .ok_or_else(|| anyhow::anyhow!("no CSRF token on the setup page"))?;
        // Strong, for this run only, never printed.
        let bytes: [u8; 24] = rand::rng().random();
        let password = hex::encode(bytes);
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("_csrf", &csrf)
            .append_pair("email", "bench.live@example.org")
            .append_pair("name", "Banc d'essai")
            .append_pair("password", &password)
            .append_pair("confirm", &password)
            .finish();
        let res = client
            .post(link)
            .header(reqwest::header::COOKIE, pages::cookie_header(&jar))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await?;
        if res.status() != reqwest::StatusCode::SEE_OTHER {
            anyhow::bail!("the setup form answered {}", res.status());
        }
        pages::keep_cookies(&mut jar, res.headers());
        Ok(pages::cookie_header(&jar))
    }

    /// Gets a session, sends the probe's first message, finds its
    /// conversation, and opens `n` streams.
    pub async fn prepare(
        args: &Args,
        webhook_client: &reqwest::Client,
        n: usize,
    ) -> anyhow::Result<Prepared> {
        let base = args.url.trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let cookie = match (&args.setup_link, &args.email) {
            (Some(link), _) => setup(&client, link).await?,
            (None, Some(email)) => {
                pages::login(&client, &base, email, &pages::password(args)?).await?
            }
            (None, None) => anyhow::bail!("--sse needs --setup-link or --email"),
        };
        let probe_phone = format!("+24388{:07}", args.phone_offset);
        let mut probe_seq = 1;
        if !super::send(
            args,
            webhook_client,
            &probe_phone,
            &probe_sid(args, probe_seq),
            "Bonjour",
        )
        .await
        {
            anyhow::bail!("the probe's first message failed");
        }
        probe_seq += 1;
        let q: String = form_urlencoded::byte_serialize(probe_phone.as_bytes()).collect();
        let res = client
            .get(format!("{base}/conversations?q={q}"))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await?;
        let status = res.status();
        let html = res.text().await?;
        let probe_id = *pages::conversation_ids(&html).first().ok_or_else(|| {
            anyhow::anyhow!("searching the probe's number found no conversation (HTTP {status})")
        })?;
        let window = Arc::new(OnceLock::new());
        let (stop, stop_rx) = watch::channel(false);
        let (opened_tx, mut opened_rx) = mpsc::channel(n.max(1));
        let mut streams = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (base, cookie, window) = (base.clone(), cookie.clone(), window.clone());
            let (stop, opened) = (stop_rx.clone(), opened_tx.clone());
            streams.spawn(
                async move { stream(&base, &cookie, &window, probe_id, stop, opened).await },
            );
        }
        drop(opened_tx);
        let (mut opened, mut failed, mut first_error) = (0, 0, None);
        let deadline = tokio::time::Instant::now() + OPEN_TIMEOUT;
        while opened + failed < n {
            match tokio::time::timeout_at(deadline, opened_rx.recv()).await {
                Ok(Some(Ok(()))) => opened += 1,
                Ok(Some(Err(e))) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
                Ok(None) | Err(_) => break,
            }
        }
        if opened < n {
            stop.send_replace(true);
            anyhow::bail!(
                "{opened} of {n} streams opened{}",
                first_error
                    .map(|e| format!(" (first failure: {e})"))
                    .unwrap_or_default()
            );
        }
        Ok(Prepared {
            probe_phone,
            probe_id,
            probe_seq,
            window,
            stop,
            streams,
            opened,
        })
    }

    fn probe_sid(args: &Args, seq: u64) -> String {
        format!("SM{:016x}{seq:016x}", u64::MAX - args.phone_offset)
    }

    impl Prepared {
        /// Starts the probe; the streams count from `from` to `to`.
        pub fn run(
            self,
            args: &Arc<Args>,
            client: &reqwest::Client,
            from: Instant,
            to: Instant,
        ) -> Running {
            let _ = self.window.set(Window { from, to });
            let every = Duration::from_millis(args.probe_ms.max(1));
            let (args, client) = (args.clone(), client.clone());
            let (phone, first_seq) = (self.probe_phone.clone(), self.probe_seq);
            let probe = tokio::spawn(async move {
                let mut sends = Vec::new();
                let mut errors = 0;
                let mut next = Instant::now();
                let (mut seq, mut conversation) = (first_seq, 0);
                // The probe is one more phone going through conversations.
                let p = args.phones as u64;
                'all: loop {
                    for text in super::conversation_texts(p, conversation) {
                        tokio::time::sleep_until(next.into()).await;
                        if Instant::now() >= to {
                            break 'all;
                        }
                        next += every;
                        let sent = Instant::now();
                        sends.push(sent);
                        if !super::send(&args, &client, &phone, &probe_sid(&args, seq), &text).await
                        {
                            errors += 1;
                        }
                        seq += 1;
                    }
                    // Its first conversation began with the search's "Bonjour".
                    conversation += 1;
                }
                (sends, errors)
            });
            Running {
                prepared: self,
                probe,
                stop_at: to,
                probe_every: every,
            }
        }
    }

    impl Running {
        /// Waits for the end, prints the streams' and the probe's figures;
        /// `false` when something failed.
        pub async fn finish(self) -> anyhow::Result<bool> {
            tokio::time::sleep_until(self.stop_at.into()).await;
            let Running {
                mut prepared,
                probe,
                probe_every,
                ..
            } = self;
            let (sends, probe_errors) = probe.await?;
            prepared.stop.send_replace(true);
            let mut results = Vec::new();
            while let Some(r) = prepared.streams.join_next().await {
                results.push(r?);
            }
            let window = prepared.window.get().copied();
            let sent_in_window = sends
                .iter()
                .filter(|s| Window::holds(window.as_ref(), **s))
                .count();
            let mut latencies: Vec<u64> = Vec::new();
            for r in &results {
                latencies.extend(
                    r.probe_arrivals
                        .iter()
                        .filter_map(|a| latency(&sends, *a))
                        .map(|d| d.as_micros() as u64),
                );
            }
            latencies.sort_unstable();
            let n = results.len();
            let open = results.iter().filter(|r| r.open_at_end).count();
            let ended = results.iter().filter(|r| r.ended_early > 0).count();
            let reconnects: u64 = results.iter().map(|r| r.reconnects).sum();
            let resyncs: u64 = results.iter().map(|r| r.resyncs).sum();
            let per = |f: &dyn Fn(&StreamResult) -> u64| {
                let min = results.iter().map(f).min().unwrap_or(0);
                let sum: u64 = results.iter().map(f).sum();
                (min, sum as f64 / n.max(1) as f64)
            };
            let (ev_min, ev_mean) = per(&|r| r.events);
            let (pr_min, pr_mean) = per(&|r| r.probe_arrivals.len() as u64);
            let ms = |us: u64| us as f64 / 1000.0;
            println!(
                "live streams   {} opened, {open} open at the end, {ended} ended early ({reconnects} reconnects)",
                prepared.opened
            );
            println!(
                "live events    per stream min {ev_min}, mean {ev_mean:.0} ({resyncs} resyncs in all)"
            );
            println!(
                "probe          conversation {}, a message every {} ms: {sent_in_window} sent in the window ({probe_errors} errors); its events per stream min {pr_min}, mean {pr_mean:.1}",
                prepared.probe_id,
                probe_every.as_millis()
            );
            if n > 0 {
                println!(
                    "probe latency  p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} arrivals)",
                    ms(pages::percentile(&latencies, 0.50)),
                    ms(pages::percentile(&latencies, 0.99)),
                    ms(latencies.last().copied().unwrap_or(0)),
                    latencies.len()
                );
            }
            if let Some(e) = results.iter().find_map(|r| r.last_error.as_deref()) {
                println!("live error     {e}");
            }
            Ok(probe_errors == 0 && ended == 0 && open == n && (n == 0 || pr_min > 0))
        }
    }

    /// One stream, reconnected (with its last event id) when it ends early,
    /// until `stop`. Tells `opened` whether its first connection opened.
    async fn stream(
        base: &str,
        cookie: &str,
        window: &OnceLock<Window>,
        probe_id: i64,
        mut stop: watch::Receiver<bool>,
        opened: mpsc::Sender<Result<(), String>>,
    ) -> StreamResult {
        let mut r = StreamResult::default();
        let probe_event = format!("conversation-{probe_id}");
        let mut last_id = String::new();
        let mut first = true;
        let mut frames = Vec::new();
        loop {
            // Its own client: its own HTTP/1.1 connection.
            let client = match reqwest::Client::builder()
                .http1_only()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .build()
            {
                Ok(c) => c,
                Err(e) => {
                    r.last_error = Some(e.to_string());
                    if first {
                        let _ = opened.send(Err(e.to_string())).await;
                    }
                    return r;
                }
            };
            let mut req = client
                .get(format!("{base}/live?conversation={probe_id}"))
                .header(reqwest::header::COOKIE, cookie)
                .header(reqwest::header::ACCEPT, "text/event-stream");
            if !last_id.is_empty() {
                req = req.header("Last-Event-ID", &last_id);
            }
            let res = tokio::select! {
                res = req.send() => res,
                _ = stop.wait_for(|s| *s) => return r,
            };
            let mut res = match res {
                Ok(res) if res.status() == reqwest::StatusCode::OK => res,
                outcome => {
                    let e = match outcome {
                        Ok(res) => format!("GET /live answered {}", res.status()),
                        Err(e) => format!("GET /live failed: {e}"),
                    };
                    r.last_error = Some(e.clone());
                    if first {
                        let _ = opened.send(Err(e)).await;
                        return r;
                    }
                    if wait_or_stop(&mut stop).await {
                        return r;
                    }
                    continue;
                }
            };
            if first {
                first = false;
                let _ = opened.send(Ok(())).await;
            } else {
                r.reconnects += 1;
            }
            let mut parser = SseParser::new();
            loop {
                let chunk = tokio::select! {
                    c = res.chunk() => c,
                    _ = stop.wait_for(|s| *s) => {
                        r.open_at_end = true;
                        return r;
                    }
                };
                let bytes = match chunk {
                    Ok(Some(b)) => b,
                    Ok(None) => {
                        r.last_error = Some("a stream ended".into());
                        break;
                    }
                    Err(e) => {
                        r.last_error = Some(format!("reading a stream: {e}"));
                        break;
                    }
                };
                let now = Instant::now();
                if let Err(e) = parser.push(&bytes, &mut frames) {
                    r.last_error =
                        Some(format!("a stream sent what is not an event stream: {e:?}"));
                    break;
                }
                let counted = Window::holds(window.get(), now);
                for f in frames.drain(..) {
                    if !counted {
                        continue;
                    }
                    r.events += 1;
                    if f.event == probe_event {
                        r.probe_arrivals.push(now);
                    } else if f.event == "resync" {
                        r.resyncs += 1;
                    }
                }
            }
            if *stop.borrow() {
                return r;
            }
            r.ended_early += 1;
            last_id = parser.last_event_id().to_string();
            if wait_or_stop(&mut stop).await {
                return r;
            }
        }
    }

    /// Waits `RECONNECT`; `true` when told to stop meanwhile.
    async fn wait_or_stop(stop: &mut watch::Receiver<bool>) -> bool {
        // Told to stop within the wait (or the sender gone): stop.
        tokio::time::timeout(RECONNECT, stop.wait_for(|s| *s))
            .await
            .is_ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn parse_all(chunks: &[&[u8]]) -> (Vec<Frame>, SseParser) {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            for c in chunks {
                p.push(c, &mut out).expect("valid stream");
            }
            (out, p)
        }

        fn frame(event: &str, data: &str, id: &str) -> Frame {
            Frame {
                event: event.into(),
                data: data.into(),
                id: id.into(),
            }
        }

        #[test]
        fn the_server_s_events_are_read_whatever_the_chunks() {
            let stream = b"id: abc-4\n\nevent: conversation-12\ndata: 12\n\n:\n\nevent: conversations\nid: abc-9\ndata: changed\n\n";
            let expected = vec![
                frame("conversation-12", "12", "abc-4"),
                frame("conversations", "changed", "abc-9"),
            ];
            // Whole, then cut at every byte.
            assert_eq!(parse_all(&[stream]).0, expected);
            for cut in 0..stream.len() {
                let (a, b) = stream.split_at(cut);
                assert_eq!(parse_all(&[a, b]).0, expected, "cut at {cut}");
            }
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            let (frames, p) = parse_all(&bytes);
            assert_eq!(frames, expected);
            assert_eq!(p.last_event_id(), "abc-9");
        }

        #[test]
        fn every_line_ending_works_even_cr_lf_split_between_reads() {
            let expected = vec![frame("a", "1", ""), frame("b", "2", "")];
            assert_eq!(
                parse_all(&[b"event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r"]).0,
                expected
            );
            assert_eq!(
                parse_all(&[
                    b"event: a\r",
                    b"\ndata: 1\r",
                    b"\n\r",
                    b"\nevent: b\r",
                    b"data: 2\r",
                    b"\r"
                ])
                .0,
                expected
            );
            // A CR then LF is one line end, not a blank line between them:
            // nothing is dispatched before the data.
            assert_eq!(
                parse_all(&[b"event: a\r", b"\n", b"data: 1\n\n"]).0,
                vec![frame("a", "1", "")]
            );
        }

        #[test]
        fn comments_keep_alives_and_events_without_data_dispatch_nothing() {
            let (frames, p) = parse_all(&[b": keep-alive\n\n:\n\nid: x-1\n\nevent: queue\n\n"]);
            assert!(frames.is_empty());
            assert_eq!(p.last_event_id(), "x-1");
            // The type of an event that was not dispatched does not leak
            // into the next one.
            assert_eq!(
                parse_all(&[b"event: queue\n\ndata: x\n\n"]).0,
                vec![frame("message", "x", "")]
            );
        }

        #[test]
        fn fields_are_read_as_the_standard_says() {
            // Several data lines join with LF; one space after the colon is
            // dropped, not more; a field without colon has an empty value
            // ("data" alone still dispatches); unknown fields are ignored;
            // an id holding NUL is ignored; an unfinished event is not sent.
            let (frames, p) = parse_all(&[
                b"data:a\ndata:  b\nretry: 10\nfoo: bar\n\ndata\n\nid: ok\nid: bad\0\nevent:x\ndata: y\n\ndata: unfinished\n",
            ]);
            assert_eq!(
                frames,
                vec![
                    frame("message", "a\n b", ""),
                    frame("message", "", ""),
                    frame("x", "y", "ok")
                ]
            );
            assert_eq!(p.last_event_id(), "ok");
        }

        #[test]
        fn a_byte_order_mark_at_the_start_is_skipped_and_bad_utf8_is_replaced() {
            let (frames, _) = parse_all(&[b"\xEF\xBB", b"\xBFevent: a\ndata: \xFF\n\n"]);
            assert_eq!(frames, vec![frame("a", "\u{FFFD}", "")]);
            // Only at the start: later, it is part of the field's name (an
            // unknown field).
            let (frames, _) = parse_all(&[b"data: 1\n\n\xEF\xBB\xBFevent: a\ndata: 2\n\n"]);
            assert_eq!(
                frames,
                vec![frame("message", "1", ""), frame("message", "2", "")]
            );
        }

        #[test]
        fn endless_lines_and_data_are_refused_not_kept() {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            let long = vec![b'a'; MAX_LINE + 1];
            assert_eq!(p.push(&long, &mut out), Err(ParseError::LineTooLong));
            let mut p = SseParser::new();
            let line = format!("data: {}\n", "x".repeat(1000));
            let mut result = Ok(());
            for _ in 0..(MAX_DATA / 1000 + 2) {
                result = p.push(line.as_bytes(), &mut out);
                if result.is_err() {
                    break;
                }
            }
            assert_eq!(result, Err(ParseError::DataTooLong));
            assert!(out.is_empty());
        }

        #[test]
        fn an_arrival_is_matched_to_the_last_probe_message_sent_before_it() {
            let t0 = Instant::now();
            let at = |ms: u64| t0 + Duration::from_millis(ms);
            let sends = [at(0), at(250), at(500), at(750)];
            assert_eq!(latency(&sends, at(40)), Some(Duration::from_millis(40)));
            assert_eq!(latency(&sends, at(260)), Some(Duration::from_millis(10)));
            // Sent at the very instant it arrived: zero, not the one before.
            assert_eq!(latency(&sends, at(500)), Some(Duration::ZERO));
            assert_eq!(latency(&sends, at(2000)), Some(Duration::from_millis(1250)));
            // Before any probe message: not counted.
            assert_eq!(latency(&[at(100)], at(50)), None);
            assert_eq!(latency(&[], at(50)), None);
        }

        #[test]
        fn only_arrivals_inside_the_window_count() {
            let t0 = Instant::now();
            let w = Window {
                from: t0 + Duration::from_secs(2),
                to: t0 + Duration::from_secs(4),
            };
            assert!(!Window::holds(Some(&w), t0));
            assert!(Window::holds(Some(&w), t0 + Duration::from_secs(2)));
            assert!(!Window::holds(Some(&w), t0 + Duration::from_secs(4)));
            assert!(!Window::holds(None, t0 + Duration::from_secs(3)));
        }
    }
}
