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
