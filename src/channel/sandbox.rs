//! The sandbox provider: messages go nowhere, replies come back in the HTTP
//! answer. Lets a newcomer talk to the bot with no WhatsApp account. The
//! route, `POST /sandbox/{account}/messages`, is in the web layer; the phone
//! simulator of the staff pages goes through [`exchange`] too.

use crate::config::is_e164;
use crate::flow::Reply;
use crate::inbox::{self, Handled, NewInbound};
use crate::qr::LinkSigner;
use crate::tenancy::Account;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What a simulated phone sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxMessage {
    /// The simulated sender, E.164 (`+243990000001`).
    pub from: String,
    pub text: String,
    /// Optional client id; a message sent twice with one id is handled once.
    #[serde(default)]
    pub id: Option<String>,
    /// Optional id of a tapped choice (`g2`).
    #[serde(default)]
    pub choice: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SandboxAnswer {
    pub duplicate: bool,
    pub replies: Vec<Reply>,
    /// A link (relative, expiring) to the QR image of the code just issued,
    /// when the account has QR codes on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_url: Option<String>,
}

/// Whether a request comes from this machine: the socket's peer only
/// (X-Forwarded-For is whatever the sender wrote), and not `relayed`: a
/// proxy on this machine connects from loopback on behalf of everyone, and
/// says so in a forwarding header. On a server reachable from the internet,
/// anyone could otherwise fill the registry with made-up codes.
pub fn is_local(peer: Option<IpAddr>, relayed: bool) -> bool {
    !relayed
        && peer.is_some_and(|ip| match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
            v4 => v4.is_loopback(),
        })
}

/// The message as the inbox reads it, or why it is refused (a field and
/// what it must be).
pub fn inbound(msg: SandboxMessage) -> Result<NewInbound, String> {
    if !is_e164(&msg.from) {
        return Err(format!(
            "from: {:?} is not an international number such as +243990000001",
            msg.from
        ));
    }
    if msg.text.chars().count() > 4096 {
        return Err("text: longer than 4096 characters (WhatsApp's limit)".into());
    }
    if let Some(id) = &msg.id
        && (id.is_empty() || id.len() > 128 || !crate::input::is_clean_identifier(id))
    {
        return Err("id: must be 1 to 128 characters, without control characters".into());
    }
    if let Some(choice) = &msg.choice
        && (choice.len() > 256 || !crate::input::is_clean_identifier(choice))
    {
        return Err("choice: must be at most 256 characters, without control characters".into());
    }
    Ok(NewInbound {
        provider_message_id: msg
            .id
            .unwrap_or_else(|| format!("sandbox-{}", uuid::Uuid::now_v7())),
        from: msg.from,
        profile_name: None,
        // Like WhatsApp's, a simulated person's text is cleaned, not refused.
        text: crate::input::strip_owned(msg.text),
        choice_id: msg.choice,
        kind: "text".into(),
        media_ref: None,
        sent_at: None,
    })
}

/// Runs one simulated message through the bot: the replies, and the QR link
/// of a code just issued (shared by the JSON endpoint and the web simulator).
pub async fn exchange(
    inputs: &inbox::Inputs<'_>,
    qr_links: &LinkSigner,
    account: &Account,
    inbound: &NewInbound,
) -> Result<SandboxAnswer, inbox::Error> {
    Ok(
        match inbox::handle_inbound(inputs, account, inbound).await? {
            Handled::Duplicate(_) => SandboxAnswer {
                duplicate: true,
                replies: Vec::new(),
                qr_url: None,
            },
            Handled::Processed {
                replies, events, ..
            } => SandboxAnswer {
                duplicate: false,
                replies,
                qr_url: crate::channel::webhook::issued(&events)
                    .filter(|_| account.flow_config(inputs.config).qr_enabled)
                    .map(|uic| qr_links.path(uic, time::OffsetDateTime::now_utc())),
            },
        },
    )
}
