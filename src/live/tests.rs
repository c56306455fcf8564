//! The hub and its feeds, without HTTP.

use super::*;
use crate::auth::Accounts;
use std::collections::BTreeSet;

fn change(tenant_id: i64, account_id: i64, conversation_id: i64, topic: Topic) -> Change {
    Change {
        tenant_id,
        account_id,
        conversation_id,
        topic,
    }
}

/// A staff filter of tenant 1, accounts 10 and 11, of a list page.
fn staff() -> Filter {
    Filter::Staff {
        tenant_id: 1,
        accounts: Accounts::Only(BTreeSet::from([10, 11])),
        watching: None,
    }
}

/// The same on the page of conversation `id`.
fn staff_on(id: i64) -> Filter {
    Filter::Staff {
        tenant_id: 1,
        accounts: Accounts::Only(BTreeSet::from([10, 11])),
        watching: Some(id),
    }
}

/// What the feed has to send now (without waiting for more).
async fn ready(feed: &mut Feed) -> Vec<Out> {
    let mut out = Vec::new();
    while let Ok(Some(o)) = tokio::time::timeout(Duration::from_millis(150), feed.next()).await {
        out.push(o);
    }
    out
}

fn small() -> Hub {
    Hub::with_capacity(Capacity {
        broadcast: 8,
        ring: 4,
        forward: 8,
    })
}

#[tokio::test]
async fn a_feed_tells_its_page_s_conversation_once_and_the_list_coalesced() {
    let hub = Hub::new();
    let mut feed = hub.feed(staff_on(100), None);
    assert_eq!(ready(&mut feed).await, vec![Out::Mark(0)]);
    hub.publish(change(1, 10, 100, Topic::Message));
    hub.publish(change(1, 10, 100, Topic::Status));
    // Another conversation of its accounts: in the list and queue notices
    // only.
    hub.publish(change(1, 11, 101, Topic::Mode));
    // Another account, another tenant: never told.
    hub.publish(change(1, 12, 102, Topic::Mode));
    hub.publish(change(2, 10, 103, Topic::Message));
    assert_eq!(
        ready(&mut feed).await,
        vec![Out::Conversation(100), Out::Conversations(5), Out::Queue(5)]
    );
    // Within the second: the conversation at once, the list later.
    let start = Instant::now();
    hub.publish(change(1, 10, 100, Topic::Message));
    assert_eq!(feed.next().await, Some(Out::Conversation(100)));
    assert_eq!(feed.next().await, Some(Out::Conversations(6)));
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );
    // Only changes of other accounts: nothing at all.
    hub.publish(change(1, 12, 102, Topic::Message));
    assert_eq!(ready(&mut feed).await, vec![]);
}

#[tokio::test]
async fn a_list_page_s_feed_tells_no_conversation_one_by_one() {
    let hub = Hub::new();
    let mut feed = hub.feed(staff(), None);
    assert_eq!(feed.next().await, Some(Out::Mark(0)));
    for n in 0..50 {
        hub.publish(change(1, 10 + n % 2, n, Topic::Message));
    }
    hub.publish(change(1, 10, 7, Topic::Mode));
    assert_eq!(
        ready(&mut feed).await,
        vec![Out::Conversations(51), Out::Queue(51)]
    );
}

#[tokio::test]
async fn many_changes_at_once_make_one_list_notice_a_second() {
    let hub = Hub::new();
    let mut feed = hub.feed(staff_on(1), None);
    assert_eq!(feed.next().await, Some(Out::Mark(0)));
    let start = Instant::now();
    let mut lists = 0;
    let mut conversations = BTreeSet::new();
    for n in 0..30 {
        hub.publish(change(1, 10, n % 3, Topic::Message));
        while let Ok(Some(o)) = tokio::time::timeout(Duration::from_millis(50), feed.next()).await {
            match o {
                Out::Conversations(_) => lists += 1,
                Out::Conversation(id) => {
                    conversations.insert(id);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    assert!(lists >= 1, "{lists}");
    assert!(
        f64::from(lists) <= seconds.ceil() + 1.0,
        "{lists} in {seconds}s"
    );
    assert_eq!(conversations, BTreeSet::from([1]));
}

#[tokio::test]
async fn a_reconnection_is_caught_up_from_the_ring_or_told_to_resync() {
    let hub = small();
    let mut feed = hub.feed(staff(), None);
    assert_eq!(feed.next().await, Some(Out::Mark(0)));
    drop(feed);
    hub.publish(change(1, 10, 100, Topic::Message));
    hub.publish(change(1, 11, 101, Topic::Mode));
    hub.publish(change(2, 10, 103, Topic::Message));
    // Caught up from 0: what it may see, coalesced, up to now.
    let id = hub.event_id(0);
    let mut again = hub.feed(staff_on(101), Some(&id));
    assert_eq!(
        ready(&mut again).await,
        vec![Out::Conversation(101), Out::Conversations(3), Out::Queue(3)]
    );
    // Nothing missed: only its position.
    let id = hub.event_id(3);
    assert_eq!(
        ready(&mut hub.feed(staff(), Some(&id))).await,
        vec![Out::Mark(3)]
    );
    // The ring holds 4: once 6 are published, it keeps 3..6, so a stream
    // that saw 2 is caught up and one that saw 0 or 1 is not.
    hub.publish(change(1, 10, 104, Topic::Message));
    hub.publish(change(1, 10, 105, Topic::Message));
    hub.publish(change(1, 10, 106, Topic::Message));
    for evicted in [0, 1] {
        let id = hub.event_id(evicted);
        assert_eq!(
            ready(&mut hub.feed(staff(), Some(&id))).await,
            vec![Out::Resync(6)],
            "{evicted}"
        );
    }
    let id = hub.event_id(2);
    assert_eq!(
        ready(&mut hub.feed(staff_on(105), Some(&id))).await,
        vec![Out::Conversation(105), Out::Conversations(6)]
    );
}

#[tokio::test]
async fn an_id_not_of_this_process_or_not_an_id_is_told_to_resync() {
    let hub = Hub::new();
    hub.publish(change(1, 10, 100, Topic::Message));
    let other = Hub::new();
    let long = format!("{}-1", "a".repeat(10_000));
    let ours = hub.event_id(1);
    let future = hub.event_id(99);
    let garbage = [
        "",
        "garbage",
        "-",
        "-1",
        &other.event_id(1),
        &long,
        "\0",
        &future,
        &format!("{ours}0000000000000000000000000"),
        &format!("{}-+1", hub.instance()),
        &format!("{}- 1", hub.instance()),
        &format!("{}-1\n", hub.instance()),
    ];
    for id in garbage {
        assert_eq!(
            ready(&mut hub.feed(staff(), Some(id))).await,
            vec![Out::Resync(1)],
            "{id:?}"
        );
    }
}

#[tokio::test]
async fn a_feed_that_falls_behind_ends() {
    let hub = small();
    let mut feed = hub.feed(staff(), None);
    assert_eq!(feed.next().await, Some(Out::Mark(0)));
    // More than the channel holds before the feed reads.
    for n in 0..20 {
        hub.publish(change(1, 10, n, Topic::Message));
    }
    assert_eq!(feed.next().await, None);
    assert_eq!(feed.next().await, None);
    // The ring does not hold its place either: a reconnection resyncs.
    let id = hub.event_id(0);
    assert_eq!(
        ready(&mut hub.feed(staff(), Some(&id))).await,
        vec![Out::Resync(20)]
    );
}

#[tokio::test]
async fn a_gap_resyncs_open_feeds_and_ids_from_before_it() {
    let hub = Hub::new();
    let mut feed = hub.feed(staff_on(101), None);
    assert_eq!(feed.next().await, Some(Out::Mark(0)));
    hub.publish(change(1, 10, 100, Topic::Message));
    hub.resync();
    hub.publish(change(1, 10, 101, Topic::Message));
    let got = ready(&mut feed).await;
    // What came before the gap is covered by the resync.
    assert_eq!(got[0], Out::Resync(1), "{got:?}");
    assert!(got.contains(&Out::Conversation(101)), "{got:?}");
    let id = hub.event_id(0);
    assert_eq!(
        ready(&mut hub.feed(staff(), Some(&id))).await,
        vec![Out::Resync(2)]
    );
    let id = hub.event_id(1);
    assert_eq!(
        ready(&mut hub.feed(staff_on(101), Some(&id))).await,
        vec![Out::Conversation(101), Out::Conversations(2)]
    );
}

#[tokio::test]
async fn feeds_end_when_the_server_stops_and_are_counted_while_open() {
    let hub = Hub::new();
    let mut a = hub.feed(staff(), None);
    let b = hub.feed(staff(), None);
    assert_eq!(hub.connections(), 2);
    drop(b);
    assert_eq!(hub.connections(), 1);
    assert_eq!(a.next().await, Some(Out::Mark(0)));
    let waiting = tokio::spawn(async move { (a.next().await, a) });
    tokio::time::sleep(Duration::from_millis(50)).await;
    hub.stop();
    let (next, a) = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, None);
    drop(a);
    assert_eq!(hub.connections(), 0);
}

#[tokio::test]
async fn a_conversation_filter_tells_only_new_messages_of_that_conversation() {
    let hub = Hub::new();
    let mut feed = hub.feed(
        Filter::Conversation {
            tenant_id: 1,
            conversation_id: None,
        },
        None,
    );
    assert_eq!(feed.next().await, Some(Out::Mark(0)));
    hub.publish(change(1, 10, 100, Topic::Message));
    assert_eq!(ready(&mut feed).await, vec![]);
    feed.set_filter(Filter::Conversation {
        tenant_id: 1,
        conversation_id: Some(100),
    });
    hub.publish(change(1, 10, 100, Topic::Mode));
    hub.publish(change(1, 10, 100, Topic::Status));
    hub.publish(change(2, 10, 100, Topic::Message));
    hub.publish(change(1, 10, 101, Topic::Message));
    assert_eq!(ready(&mut feed).await, vec![]);
    hub.publish(change(1, 10, 100, Topic::Message));
    // No list or queue notices for the simulator.
    assert_eq!(ready(&mut feed).await, vec![Out::Conversation(100)]);
}

#[test]
fn publishing_never_waits_for_a_full_bridge() {
    let hub = small();
    let mut rx = hub.bridge().unwrap();
    assert!(hub.bridge().is_none(), "one bridge");
    for n in 0..20 {
        hub.publish(change(1, 10, n, Topic::Message));
    }
    assert_eq!(hub.seq(), 20);
    assert!(hub.take_forward_lost());
    assert!(!hub.take_forward_lost());
    let mut got = 0;
    while rx.try_recv().is_ok() {
        got += 1;
    }
    assert_eq!(got, 8);
}
