//! The hub and a feed, without HTTP.

use super::*;

fn change(tenant_id: i64, account_id: i64, conversation_id: i64, topic: Topic) -> Change {
    Change {
        tenant_id,
        account_id,
        conversation_id,
        topic,
    }
}

#[test]
fn a_change_is_numbered_and_kept_for_catch_up() {
    let hub = Hub::new();
    hub.publish(change(1, 2, 3, Topic::Message));
    assert_eq!(hub.seq(), 1);
}
