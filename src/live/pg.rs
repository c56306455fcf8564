//! The bridge between server instances on one PostgreSQL database: this
//! process's changes go out as NOTIFY batches on the `uic_live` channel,
//! the other instances' come in through LISTEN and are delivered here.
//!
//! - The forwarder reads the hub's bounded queue (`Hub::publish` only ever
//!   `try_send`s to it) and sends what arrived within `WINDOW` (or
//!   `MAX_BATCH` changes) as one `SELECT pg_notify(…)` per `PER_NOTIFY`
//!   changes (a payload stays well under PostgreSQL's 8,000 bytes). Every
//!   batch names its instance, so the sender ignores its own. When changes
//!   were dropped (the queue full, a NOTIFY failed), the next batch says so
//!   and the other instances' pages are told to refresh.
//! - The listener has its own connection (not one of the pool's). When it
//!   is lost, notifications sent meanwhile are lost too: this process's
//!   streams get a resync, and it listens again.
//!
//! Both stop with the server.

use super::{Change, Hub, Topic};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// The NOTIFY channel.
pub const CHANNEL: &str = "uic_live";
/// How long the forwarder gathers changes into one batch.
const WINDOW: Duration = Duration::from_millis(20);
/// Changes gathered at most into one batch.
const MAX_BATCH: usize = 1000;
/// Changes per NOTIFY: four numbers each, at most about 70 bytes, so a
/// payload stays under 8,000 bytes.
const PER_NOTIFY: usize = 100;
/// Wait before connecting again after the listener failed.
const RETRY: Duration = Duration::from_secs(1);

/// What one NOTIFY carries.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Batch {
    /// The sending instance.
    o: String,
    /// Changes of the sender were dropped before this batch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    g: bool,
    /// `[tenant, account, conversation, topic]`.
    c: Vec<(i64, i64, i64, u8)>,
}

/// The payloads of a batch of changes, each under 8,000 bytes.
fn payloads(instance: &str, changes: &[Change], gap: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut gap = gap;
    let chunks: Vec<&[Change]> = if changes.is_empty() {
        vec![&[]]
    } else {
        changes.chunks(PER_NOTIFY).collect()
    };
    for chunk in chunks {
        let batch = Batch {
            o: instance.to_string(),
            g: gap,
            c: chunk
                .iter()
                .map(|c| (c.tenant_id, c.account_id, c.conversation_id, c.topic.code()))
                .collect(),
        };
        gap = false;
        if let Ok(json) = serde_json::to_string(&batch) {
            out.push(json);
        }
    }
    out
}

/// What a payload says: its sender, whether it reports a gap, its changes.
/// `None` for a payload that is not one of ours.
fn parse(payload: &str) -> Option<(String, bool, Vec<Change>)> {
    let batch: Batch = serde_json::from_str(payload).ok()?;
    let changes = batch
        .c
        .into_iter()
        .filter_map(|(tenant_id, account_id, conversation_id, topic)| {
            Some(Change {
                tenant_id,
                account_id,
                conversation_id,
                topic: Topic::from_code(topic)?,
            })
        })
        .collect();
    Some((batch.o, batch.g, changes))
}

/// Sends this process's changes to the other instances until `stop`.
pub async fn forward(hub: Hub, db: PgPool, mut rx: mpsc::Receiver<Change>, stop: Arc<Notify>) {
    loop {
        let first = tokio::select! {
            c = rx.recv() => match c {
                Some(c) => c,
                None => return,
            },
            () = stop.notified() => return,
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + WINDOW;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(c)) => batch.push(c),
                Ok(None) | Err(_) => break,
            }
        }
        let gap = hub.take_forward_lost();
        for payload in payloads(hub.instance(), &batch, gap) {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(&payload)
                .execute(&db)
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "live updates: telling the other instances failed; their pages will refresh");
                hub.0
                    .forward_lost
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// Delivers the other instances' changes here until `stop`.
pub async fn listen(hub: Hub, url: String, stop: Arc<Notify>) {
    let mut listener: Option<PgListener> = None;
    let mut first = true;
    loop {
        let Some(l) = listener.as_mut() else {
            match connect(&url).await {
                Ok(l) => {
                    listener = Some(l);
                    // Whatever was sent while no one listened is lost.
                    if !first {
                        hub.resync();
                    }
                    first = false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live updates: listening to the other instances failed; trying again");
                    first = false;
                    tokio::select! {
                        () = tokio::time::sleep(RETRY) => {}
                        () = stop.notified() => return,
                    }
                }
            }
            continue;
        };
        tokio::select! {
            () = stop.notified() => return,
            n = l.try_recv() => match n {
                Ok(Some(n)) => {
                    if let Some((origin, gap, changes)) = parse(n.payload()) {
                        if origin == hub.instance() {
                            continue;
                        }
                        if gap {
                            hub.resync();
                        }
                        for c in changes {
                            hub.deliver(c);
                        }
                    }
                }
                // The connection was lost; the next call connects again.
                Ok(None) => {
                    tracing::warn!("live updates: the listening connection was lost; pages will refresh");
                    hub.resync();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live updates: listening failed; connecting again");
                    listener = None;
                    tokio::select! {
                        () = tokio::time::sleep(RETRY) => {}
                        () = stop.notified() => return,
                    }
                }
            },
        }
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut l = PgListener::connect(url).await?;
    l.listen(CHANNEL).await?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(n: i64, topic: Topic) -> Change {
        Change {
            tenant_id: i64::MAX,
            account_id: i64::MAX - 1,
            conversation_id: n,
            topic,
        }
    }

    #[test]
    fn a_batch_is_split_into_payloads_under_8000_bytes_and_reads_back() {
        let changes: Vec<Change> = (0..250)
            .map(|n| change(i64::MAX - n, Topic::Mode))
            .collect();
        let out = payloads("abcdef012345", &changes, true);
        assert_eq!(out.len(), 3);
        let mut back = Vec::new();
        for (i, p) in out.iter().enumerate() {
            assert!(p.len() < 8000, "{}", p.len());
            let (origin, gap, changes) = parse(p).unwrap();
            assert_eq!(origin, "abcdef012345");
            // The gap is told once, with the first payload.
            assert_eq!(gap, i == 0);
            back.extend(changes);
        }
        assert_eq!(back, changes);
    }

    #[test]
    fn a_payload_not_ours_or_with_an_unknown_topic_is_ignored() {
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("{\"o\":1}"), None);
        let (_, gap, changes) = parse("{\"o\":\"x\",\"c\":[[1,2,3,9],[1,2,4,0]]}").unwrap();
        assert!(!gap);
        assert_eq!(changes, vec![change_of(1, 2, 4, Topic::Message)]);
    }

    fn change_of(t: i64, a: i64, c: i64, topic: Topic) -> Change {
        Change {
            tenant_id: t,
            account_id: a,
            conversation_id: c,
            topic,
        }
    }
}
