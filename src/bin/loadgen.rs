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
    let warmup = Duration::from_secs(2);
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + Duration::from_secs(args.seconds);
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
    if errors > 0 {
        anyhow::bail!("{errors} requests failed");
    }
    Ok(())
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
        // A different code per conversation: new registrations, not only "seen again".
        let letter = |n: u64| char::from(b'A' + (n % 26) as u8);
        let last = format!(
            "{}{}{}",
            letter(p as u64),
            letter(conversation),
            letter(conversation / 26)
        );
        let year = format!("{}", 1950 + conversation % 50);
        let gender = format!("{}", 1 + conversation % 4);
        let opening = if conversation == 0 {
            "Bonjour"
        } else {
            "RECOMMENCER"
        };
        let texts = [
            opening,
            last.as_str(),
            "Ibrahima",
            year.as_str(),
            "KN",
            gender.as_str(),
        ];
        let mut complete = true;
        for text in texts {
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
            let body = serde_json::json!({
                "object": "whatsapp_business_account",
                "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "243810000000", "phone_number_id": args.meta_phone_number_id},
                    "contacts": [{"profile": {"name": "Load"}, "wa_id": digits}],
                    "messages": [{"from": digits, "id": format!("wamid.{sid}"), "timestamp": "1763900000",
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
    fn keep_cookies(jar: &mut BTreeMap<String, String>, headers: &reqwest::header::HeaderMap) {
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

    fn cookie_header(jar: &BTreeMap<String, String>) -> String {
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Logs in; the session cookie header.
    async fn login(
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

    /// One round: every list once, its next pages, and conversations.
    async fn round(
        client: &reqwest::Client,
        base: &str,
        cookie: &str,
        lists: &[(String, String)],
        depth: usize,
        conversations: &[i64],
        pick: usize,
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
        if !pool.is_empty() {
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

    pub async fn run(args: &Args) -> anyhow::Result<()> {
        let email = args
            .email
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("--pages needs --email"))?;
        let password = match &args.password_file {
            Some(p) => std::fs::read_to_string(p)?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
            None => std::env::var("LOADGEN_PASSWORD").map_err(|_| {
                anyhow::anyhow!("--pages needs --password-file (or LOADGEN_PASSWORD)")
            })?,
        };
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
        // Warm-up, not counted: also gathers conversations to open.
        let (_, mut pool) = round(&client, &base, &cookie, &lists, args.depth, &[], 0).await;
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
                    let (got, _) = round(client, base, cookie, lists, depth, pool, r + 1).await;
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
