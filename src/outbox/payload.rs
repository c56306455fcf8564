//! What an outbox row carries (`outbox.payload`, JSON): the contract between
//! the inbox, which writes a row with the reply it belongs to, and the
//! worker, which reads it back to build the Graph API message.
//!
//! The JSON is the one rows have always been stored with, so rows written
//! before this type existed (and rows still queued across an upgrade)
//! decode:
//!
//! - a bot reply: `{"to": "+243…", "reply": {"text": "…", "choices": […]},
//!   "list_button": "Choisir"}` (`choices` absent without choices);
//! - a QR image: `{"to": "+243…", "qr": "MBEIBR7DA1", "caption": "MBEIBR7DA1"}`;
//! - a plain text: `{"to": "+243…", "text": "…"}`.
//!
//! A row that does not decode is failed by the worker with the reason given
//! here (no recipient, unknown kind, or what serde found wrong).

use crate::flow::Reply;
use serde::{Deserialize, Serialize};

/// Label of a list's button when a reply row does not say (rows written
/// before the label followed the account's language).
const DEFAULT_LIST_BUTTON: &str = "Choisir";

/// One message to send through the Graph API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub enum Payload {
    /// A reply of the bot: a text, or a text with buttons or a list.
    Reply {
        /// E.164 with `+`.
        to: String,
        reply: Reply,
        /// The list's button label, in the account's language.
        list_button: String,
    },
    /// The QR image of an issued code, uploaded when it is sent.
    Qr {
        to: String,
        /// The code, as issued (checked again when the image is drawn).
        uic: String,
        caption: Option<String>,
    },
    /// A plain text.
    Text { to: String, text: String },
}

impl Payload {
    /// Reads a stored row's payload; the error is the reason the row fails.
    pub fn decode(value: &serde_json::Value) -> Result<Payload, String> {
        Payload::deserialize(value).map_err(|e| e.to_string())
    }

    /// The recipient, E.164 with `+`.
    pub fn to(&self) -> &str {
        match self {
            Payload::Reply { to, .. } | Payload::Qr { to, .. } | Payload::Text { to, .. } => to,
        }
    }
}

/// The stored JSON, every key optional: decoding goes through it so that a
/// bad row gets a precise reason rather than serde's "did not match any
/// variant".
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply: Option<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    list_button: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    qr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

impl TryFrom<Stored> for Payload {
    type Error = String;

    fn try_from(s: Stored) -> Result<Payload, String> {
        let to = s.to.ok_or("outbox payload without a recipient")?;
        // The order the worker has always read them in.
        if let Some(reply) = s.reply {
            return Ok(Payload::Reply {
                to,
                reply,
                list_button: s
                    .list_button
                    .unwrap_or_else(|| DEFAULT_LIST_BUTTON.to_string()),
            });
        }
        if let Some(uic) = s.qr {
            return Ok(Payload::Qr {
                to,
                uic,
                caption: s.caption,
            });
        }
        if let Some(text) = s.text {
            return Ok(Payload::Text { to, text });
        }
        Err("outbox payload of an unknown kind".into())
    }
}

impl From<Payload> for Stored {
    fn from(p: Payload) -> Stored {
        let empty = Stored {
            to: None,
            reply: None,
            list_button: None,
            qr: None,
            caption: None,
            text: None,
        };
        match p {
            Payload::Reply {
                to,
                reply,
                list_button,
            } => Stored {
                to: Some(to),
                reply: Some(reply),
                list_button: Some(list_button),
                ..empty
            },
            Payload::Qr { to, uic, caption } => Stored {
                to: Some(to),
                qr: Some(uic),
                caption,
                ..empty
            },
            Payload::Text { to, text } => Stored {
                to: Some(to),
                text: Some(text),
                ..empty
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Choice;
    use serde_json::json;

    fn reply(text: &str, choices: &[(&str, &str)]) -> Reply {
        Reply {
            text: text.into(),
            choices: choices
                .iter()
                .map(|(id, title)| Choice {
                    id: (*id).into(),
                    title: (*title).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn every_kind_reads_back_as_written() {
        for p in [
            Payload::Reply {
                to: "+243990000001".into(),
                reply: reply("Bonjour", &[]),
                list_button: "Choose".into(),
            },
            Payload::Reply {
                to: "+243990000001".into(),
                reply: reply("Genre ?", &[("g1", "Homme"), ("g2", "Femme")]),
                list_button: "Choisir".into(),
            },
            Payload::Qr {
                to: "+243990000001".into(),
                uic: "MBEIBR7DA1".into(),
                caption: Some("MBEIBR7DA1".into()),
            },
            Payload::Qr {
                to: "+243990000001".into(),
                uic: "MBEIBR7DA1".into(),
                caption: None,
            },
            Payload::Text {
                to: "+243990000001".into(),
                text: "Bonjour".into(),
            },
        ] {
            let stored = serde_json::to_value(&p).unwrap();
            assert_eq!(Payload::decode(&stored), Ok(p.clone()), "{stored}");
            // Through the text a database column holds, too.
            let text = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Payload>(&text).unwrap(), p);
        }
    }

    #[test]
    fn the_json_of_rows_already_stored_decodes_and_is_written_the_same() {
        // What the inbox wrote with `serde_json::json!` before this type.
        let stored = json!({"to": "+243990000001", "reply": {"text": "Genre ?", "choices": [
            {"id": "g1", "title": "Homme"}, {"id": "g2", "title": "Femme"}]}, "list_button": "Choisir"});
        let p = Payload::decode(&stored).unwrap();
        assert_eq!(
            p,
            Payload::Reply {
                to: "+243990000001".into(),
                reply: reply("Genre ?", &[("g1", "Homme"), ("g2", "Femme")]),
                list_button: "Choisir".into(),
            }
        );
        assert_eq!(serde_json::to_value(&p).unwrap(), stored);

        let stored =
            json!({"to": "+243990000001", "reply": {"text": "Bonjour"}, "list_button": "Choose"});
        let p = Payload::decode(&stored).unwrap();
        assert_eq!(p.to(), "+243990000001");
        assert_eq!(serde_json::to_value(&p).unwrap(), stored);

        let stored = json!({"to": "+243990000001", "qr": "MBEIBR7DA1", "caption": "MBEIBR7DA1"});
        let p = Payload::decode(&stored).unwrap();
        assert_eq!(
            p,
            Payload::Qr {
                to: "+243990000001".into(),
                uic: "MBEIBR7DA1".into(),
                caption: Some("MBEIBR7DA1".into()),
            }
        );
        assert_eq!(serde_json::to_value(&p).unwrap(), stored);

        let stored = json!({"to": "+243990000001", "text": "Bonjour"});
        assert_eq!(
            serde_json::to_value(Payload::decode(&stored).unwrap()).unwrap(),
            stored
        );

        // A reply row without a label (older rows) gets the French one.
        let p = Payload::decode(&json!({"to": "1", "reply": {"text": "x"}})).unwrap();
        assert!(matches!(p, Payload::Reply { list_button, .. } if list_button == "Choisir"));
    }

    #[test]
    fn a_row_that_does_not_decode_says_why() {
        assert_eq!(
            Payload::decode(&json!({"reply": {"text": "x"}})),
            Err("outbox payload without a recipient".into())
        );
        assert_eq!(
            Payload::decode(&json!({"to": "1"})),
            Err("outbox payload of an unknown kind".into())
        );
        let e = Payload::decode(&json!({"to": "1", "qr": 7})).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        assert!(Payload::decode(&json!("text")).is_err());
    }
}
