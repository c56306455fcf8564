//! Live updates for the staff pages (DESIGN.md section 6): what changed in
//! which conversation, from the writers (inbound messages, the outbox
//! worker, status webhooks, staff actions, the queue's watch) to the open
//! event streams (`web::live`).
//!
//! A [`Change`] names a conversation and what changed in it, nothing of the
//! content: a page told "conversation 12 changed" fetches its fragment
//! again through the normal routes, so permissions stay with them.
//!
//! - [`Hub::publish`] never blocks, never fails and never waits for the
//!   database: it numbers the change (a sequence of this process), keeps it
//!   in a bounded ring for catch-up and hands it to a bounded broadcast
//!   channel. With PostgreSQL it also hands it to the bridge (`pg`), which
//!   sends batches to the other instances by NOTIFY and delivers theirs
//!   here.
//! - A [`Feed`] is one open stream's view: the changes its filter lets
//!   through, one `Conversation` per change of the conversation its page
//!   shows (a page watches at most one: a list page none), and the list and
//!   queue notices coalesced to one a second. A stream is told nothing of
//!   the other conversations one by one: at 1,000 messages a second that
//!   would be hundreds of events a second to every open page, for pages
//!   that refresh their list once a second anyway (measured in
//!   BENCHMARKS.md, "Live updates under webhook load"). A stream that falls behind
//!   the broadcast channel (a slow client) ends: the browser reconnects and
//!   catches up, or is told to refresh everything (`Resync`). Memory per
//!   stream is bounded whatever the client does.
//! - Event ids are `{instance}-{seq}`: a reconnecting browser sends the
//!   last one it saw; if it is this process's and the ring still holds
//!   everything after it, the feed replays the changes, else it starts
//!   with `Resync`.

pub mod pg;

use crate::auth::{Access, Accounts};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Duration, Instant};

/// What changed in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A new message, in or out (or an entry of the thread such as a
    /// notice recorded without a message).
    Message,
    /// An outbound message's status (sent, delivered, read, failed, held).
    Status,
    /// The conversation's mode: bot, waiting (the queue) or human.
    Mode,
}

impl Topic {
    fn code(self) -> u8 {
        match self {
            Topic::Message => 0,
            Topic::Status => 1,
            Topic::Mode => 2,
        }
    }

    fn from_code(code: u8) -> Option<Topic> {
        match code {
            0 => Some(Topic::Message),
            1 => Some(Topic::Status),
            2 => Some(Topic::Mode),
            _ => None,
        }
    }
}

/// One change of one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub tenant_id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    pub topic: Topic,
}

/// What the broadcast channel carries: a numbered change, or a gap (changes
/// of other instances were lost) after which pages must refresh everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Change(u64, Change),
    Resync(u64),
}

/// Sizes of a hub's buffers.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    /// Changes a stream may be behind before it is ended (shared buffer).
    pub broadcast: usize,
    /// Changes kept for catch-up after a reconnection.
    pub ring: usize,
    /// Changes waiting for the PostgreSQL bridge.
    pub forward: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        // At 1,000 messages a second (two changes each), a few seconds of
        // changes: a stream further behind than that is not being read.
        Capacity {
            broadcast: 8192,
            ring: 8192,
            forward: 8192,
        }
    }
}

/// The live updates of one server process. Cheap to clone.
#[derive(Clone)]
pub struct Hub(Arc<Shared>);

struct Shared {
    /// Random, so that ids of another process (or of this one before a
    /// restart) are never taken for this one's.
    instance: String,
    local: Mutex<Local>,
    tx: broadcast::Sender<Item>,
    /// To the PostgreSQL bridge, once it runs.
    forward: OnceLock<mpsc::Sender<Change>>,
    /// Changes the bridge's queue had no room for: the other instances are
    /// told of the gap with the next batch.
    forward_lost: std::sync::atomic::AtomicBool,
    capacity: Capacity,
    connections: AtomicUsize,
    stopping: watch::Sender<bool>,
    /// How often streams check their user again, in milliseconds.
    recheck_ms: std::sync::atomic::AtomicU64,
}

/// How often an open stream checks its user again (disabled, logged out,
/// permission removed) unless told otherwise (`Hub::set_recheck_every`).
pub const RECHECK: Duration = Duration::from_secs(30);

/// The numbering and the catch-up ring, under one lock (never held across
/// an await): a change is numbered, kept and broadcast in that order, so
/// streams see sequence numbers in order.
struct Local {
    seq: u64,
    ring: VecDeque<(u64, Change)>,
    /// A stream that saw this sequence number or a later one can be caught
    /// up from the ring; an older one cannot (evicted, or a gap).
    replayable_from: u64,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::with_capacity(Capacity::default())
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    pub fn with_capacity(capacity: Capacity) -> Hub {
        let (tx, _) = broadcast::channel(capacity.broadcast.max(1));
        let (stopping, _) = watch::channel(false);
        Hub(Arc::new(Shared {
            instance: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            local: Mutex::new(Local {
                seq: 0,
                ring: VecDeque::with_capacity(capacity.ring.min(1024)),
                replayable_from: 0,
            }),
            tx,
            forward: OnceLock::new(),
            forward_lost: std::sync::atomic::AtomicBool::new(false),
            capacity,
            connections: AtomicUsize::new(0),
            stopping,
            recheck_ms: std::sync::atomic::AtomicU64::new(RECHECK.as_millis() as u64),
        }))
    }

    /// This process's id in event ids.
    pub fn instance(&self) -> &str {
        &self.0.instance
    }

    /// Tells the streams that may see it. Never blocks, never fails.
    pub fn publish(&self, c: Change) {
        self.deliver(c);
        if let Some(forward) = self.0.forward.get()
            && forward.try_send(c).is_err()
        {
            // Full (the database is slow) or closed (stopping): the other
            // instances' pages will be told to refresh.
            self.0.forward_lost.store(true, Ordering::Relaxed);
        }
    }

    /// Delivers a change to this process's streams only (a change another
    /// instance published, or this one's own).
    pub fn deliver(&self, c: Change) {
        let mut local = self.lock();
        local.seq += 1;
        let seq = local.seq;
        if local.ring.len() >= self.0.capacity.ring.max(1)
            && let Some((evicted, _)) = local.ring.pop_front()
        {
            local.replayable_from = evicted;
        }
        local.ring.push_back((seq, c));
        // No stream open is not an error.
        let _ = self.0.tx.send(Item::Change(seq, c));
    }

    /// Changes were lost (another instance's, or while the listener was
    /// away): every stream is told to refresh everything, and no earlier
    /// event id can be caught up any more.
    pub fn resync(&self) {
        let mut local = self.lock();
        let seq = local.seq;
        local.ring.clear();
        local.replayable_from = seq;
        let _ = self.0.tx.send(Item::Resync(seq));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Local> {
        // A panic while holding it cannot leave it inconsistent (each
        // update is complete before anything that could panic).
        self.0.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The queue the PostgreSQL bridge reads this hub's changes from; `None`
    /// when a bridge was already started.
    pub fn bridge(&self) -> Option<mpsc::Receiver<Change>> {
        let (tx, rx) = mpsc::channel(self.0.capacity.forward.max(1));
        self.0.forward.set(tx).ok().map(|()| rx)
    }

    /// Whether changes were dropped since the last call (the bridge's queue
    /// was full).
    pub fn take_forward_lost(&self) -> bool {
        self.0.forward_lost.swap(false, Ordering::Relaxed)
    }

    /// Streams open now (a gauge).
    pub fn connections(&self) -> usize {
        self.0.connections.load(Ordering::Relaxed)
    }

    /// The server is stopping: every stream ends (a graceful shutdown
    /// otherwise waits for them).
    pub fn stop(&self) {
        self.0.stopping.send_replace(true);
    }

    /// How often streams check their user again (`RECHECK`).
    pub fn recheck_every(&self) -> Duration {
        Duration::from_millis(self.0.recheck_ms.load(Ordering::Relaxed))
    }

    /// Streams opened from now on check their user this often (tests
    /// shorten it).
    pub fn set_recheck_every(&self, every: Duration) {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        self.0.recheck_ms.store(ms, Ordering::Relaxed);
    }

    /// The last sequence number given.
    pub fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// A stream's feed, resuming after `last_event_id` when given (the
    /// `Last-Event-ID` header; `Some("")` for one that was not text).
    pub fn feed(&self, filter: Filter, last_event_id: Option<&str>) -> Feed {
        let (rx, start) = self.subscribe(last_event_id);
        self.0.connections.fetch_add(1, Ordering::Relaxed);
        let mut feed = Feed {
            hub: self.clone(),
            rx,
            filter,
            ready: VecDeque::new(),
            pending_list: false,
            pending_queue: false,
            seen: 0,
            last_flush: None,
            next_take: Instant::now(),
            stopping: self.0.stopping.subscribe(),
            ended: false,
        };
        match start {
            Start::Fresh { at } => {
                feed.seen = at;
                feed.ready.push_back(Out::Mark(at));
            }
            Start::Unknown { at } => {
                feed.seen = at;
                feed.ready.push_back(Out::Resync(at));
            }
            Start::Replay { changes, at } => {
                for (seq, c) in changes {
                    feed.take(Item::Change(seq, c));
                }
                feed.seen = at;
                if feed.pending_list || feed.pending_queue {
                    feed.flush(Instant::now());
                } else {
                    feed.ready.push_back(Out::Mark(at));
                }
            }
        }
        feed
    }

    /// A receiver and where it starts, taken under the lock: every change
    /// after the ring's snapshot is in the receiver, none twice.
    fn subscribe(&self, last_event_id: Option<&str>) -> (broadcast::Receiver<Item>, Start) {
        let local = self.lock();
        let rx = self.0.tx.subscribe();
        let at = local.seq;
        let start = match last_event_id {
            None => Start::Fresh { at },
            Some(id) => match self.parse_id(id) {
                Some(last) if last >= local.replayable_from && last <= at => Start::Replay {
                    changes: local
                        .ring
                        .iter()
                        .filter(|(seq, _)| *seq > last)
                        .copied()
                        .collect(),
                    at,
                },
                _ => Start::Unknown { at },
            },
        };
        (rx, start)
    }

    /// The sequence number of one of this process's event ids.
    fn parse_id(&self, id: &str) -> Option<u64> {
        if id.len() > 64 {
            return None;
        }
        let (instance, seq) = id.rsplit_once('-')?;
        if instance != self.0.instance || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        seq.parse().ok()
    }

    /// The event id of a sequence number.
    pub fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.0.instance)
    }
}

enum Start {
    Fresh {
        at: u64,
    },
    Replay {
        changes: Vec<(u64, Change)>,
        at: u64,
    },
    Unknown {
        at: u64,
    },
}

/// Which changes a stream may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// A staff member's: the list and queue notices of the conversations
    /// of the accounts their access covers, in its tenant, and each change
    /// of the one conversation their page shows (`watching`), if any.
    Staff {
        tenant_id: i64,
        accounts: Accounts,
        watching: Option<i64>,
    },
    /// One conversation's new messages only (the simulator's phone); none
    /// while the conversation does not exist yet.
    Conversation {
        tenant_id: i64,
        conversation_id: Option<i64>,
    },
}

impl Filter {
    /// What an access (`conversations.view`) lets through, for a page
    /// showing the conversation `watching` (or none). The caller checked
    /// that the access reaches that conversation; a change of it is told
    /// only if the access covers its account anyway.
    pub fn staff(access: &Access, watching: Option<i64>) -> Filter {
        Filter::Staff {
            tenant_id: access.tenant_id(),
            accounts: access.accounts().clone(),
            watching,
        }
    }

    /// Whether the stream may know of the change at all.
    pub fn passes(&self, c: &Change) -> bool {
        match self {
            Filter::Staff {
                tenant_id,
                accounts,
                ..
            } => c.tenant_id == *tenant_id && accounts.covers(c.account_id),
            Filter::Conversation {
                tenant_id,
                conversation_id,
            } => {
                c.tenant_id == *tenant_id
                    && Some(c.conversation_id) == *conversation_id
                    && c.topic == Topic::Message
            }
        }
    }

    /// Whether a change that passes is told as its conversation's own event.
    fn tells(&self, conversation_id: i64) -> bool {
        match self {
            Filter::Staff { watching, .. } => *watching == Some(conversation_id),
            Filter::Conversation { .. } => true,
        }
    }

    /// Whether the list and queue notices are wanted.
    fn lists(&self) -> bool {
        matches!(self, Filter::Staff { .. })
    }
}

/// What a stream sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// Something changed in this conversation.
    Conversation(i64),
    /// Some conversation of the list changed (coalesced); up to this
    /// sequence number.
    Conversations(u64),
    /// A conversation entered or left the queue, or changed hands
    /// (coalesced).
    Queue(u64),
    /// What was missed cannot be told: refresh everything.
    Resync(u64),
    /// Nothing to show; the stream's position (an id for reconnecting).
    Mark(u64),
}

/// The list and queue notices go out at most this often per stream.
pub const COALESCE: Duration = Duration::from_secs(1);
/// A stream takes what arrived at most this often (one write for many
/// changes under load), so 200 streams do not each wake for every change.
pub const PACE: Duration = Duration::from_millis(100);
/// Changes taken at once (and so conversations to send at most before
/// taking more): with `PACE`, a stream keeps up with 10,000 changes a
/// second.
const BATCH: usize = 1024;

/// One stream's view of the hub.
pub struct Feed {
    hub: Hub,
    rx: broadcast::Receiver<Item>,
    filter: Filter,
    /// What to send next: at most `BATCH` conversations and three notices,
    /// or one replay of the ring.
    ready: VecDeque<Out>,
    pending_list: bool,
    pending_queue: bool,
    /// The last sequence number taken (passed or not).
    seen: u64,
    last_flush: Option<Instant>,
    next_take: Instant,
    stopping: watch::Receiver<bool>,
    ended: bool,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.hub.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Feed {
    /// The next thing to send; `None`: the stream ends (it fell behind, or
    /// the server is stopping). Cancel-safe (nothing is lost if the future
    /// is dropped before it completes).
    pub async fn next(&mut self) -> Option<Out> {
        loop {
            if self.ended || *self.stopping.borrow() {
                return None;
            }
            if let Some(out) = self.ready.pop_front() {
                return Some(out);
            }
            let now = Instant::now();
            let due = self.flush_due(now);
            if let Some(at) = due
                && at <= now
            {
                self.flush(now);
                continue;
            }
            let take = now >= self.next_take;
            tokio::select! {
                biased;
                changed = self.stopping.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                item = self.rx.recv(), if take => match item {
                    Ok(item) => {
                        self.take(item);
                        self.drain();
                        self.next_take = Instant::now() + PACE;
                    }
                    // Behind by more than the channel holds: a slow reader.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => self.ended = true,
                },
                () = tokio::time::sleep_until(self.next_take), if !take => {}
                () = tokio::time::sleep_until(due.unwrap_or(now)), if due.is_some() => {}
            }
        }
    }

    /// Takes what else is there already (up to `BATCH` in all).
    fn drain(&mut self) {
        for _ in 1..BATCH {
            match self.rx.try_recv() {
                Ok(item) => self.take(item),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Lagged(_)) | Err(TryRecvError::Closed) => {
                    self.ended = true;
                    return;
                }
            }
        }
    }

    fn take(&mut self, item: Item) {
        match item {
            Item::Change(seq, c) => {
                self.seen = self.seen.max(seq);
                if !self.filter.passes(&c) {
                    return;
                }
                let out = Out::Conversation(c.conversation_id);
                if self.filter.tells(c.conversation_id) && !self.ready.contains(&out) {
                    self.ready.push_back(out);
                }
                if self.filter.lists() {
                    self.pending_list = true;
                    self.pending_queue |= c.topic == Topic::Mode;
                }
            }
            Item::Resync(seq) => {
                self.seen = self.seen.max(seq);
                self.ready.clear();
                self.ready.push_back(Out::Resync(seq));
                self.pending_list = false;
                self.pending_queue = false;
            }
        }
    }

    /// When the coalesced notices are due, if any is pending.
    fn flush_due(&self, now: Instant) -> Option<Instant> {
        (self.pending_list || self.pending_queue).then(|| match self.last_flush {
            Some(at) => at + COALESCE,
            None => now,
        })
    }

    fn flush(&mut self, now: Instant) {
        if self.pending_list {
            self.ready.push_back(Out::Conversations(self.seen));
        }
        if self.pending_queue {
            self.ready.push_back(Out::Queue(self.seen));
        }
        self.pending_list = false;
        self.pending_queue = false;
        self.last_flush = Some(now);
    }

    /// New grants (the user's were checked again).
    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = filter;
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }
}

#[cfg(test)]
mod tests;
