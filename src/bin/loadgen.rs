//! Load generator: N simulated phones go through full conversations against
//! a running server, over the Twilio webhook (signed) or the sandbox.
//!
//! ```text
//! cargo run --release --bin loadgen -- --url http://127.0.0.1:8000 --phones 32 --seconds 20 --server-pid <pid>
//! ```
//! Prints conversations/s, messages/s, latency p50/p99 and the server's RSS.

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
}

struct PhoneResult {
    latencies_us: Vec<u64>,
    conversations: u64,
    errors: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = std::sync::Arc::new(Args::parse());
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
            seq += 1;
            let sid = format!("SM{:016x}{:016x}", args.phone_offset + p as u64, seq);
            let sent = Instant::now();
            let ok = send(args, client, &phone, &sid, text).await;
            let took = sent.elapsed();
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
