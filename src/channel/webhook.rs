//! What the one inbound endpoint, `POST /whatsapp/webhook` (the seed's
//! URL), needs of the channels beyond parsing: a Twilio message as the
//! inbox's input, the code a message issued, numbers masked for logs. The
//! handler itself is in the web layer.

use crate::channel::twilio;
use crate::inbox::NewInbound;

/// A Twilio WhatsApp message as the inbox reads it.
pub fn twilio_message(inbound: &twilio::Inbound) -> NewInbound {
    NewInbound {
        provider_message_id: inbound.message_sid.clone(),
        from: twilio::bare_number(&inbound.from).to_string(),
        profile_name: inbound.profile_name.clone(),
        text: inbound.body.clone(),
        choice_id: inbound.button_payload.clone(),
        kind: if inbound.num_media > 0 {
            inbound
                .media
                .first()
                .map(|(_, t)| media_kind(t))
                .unwrap_or("media")
                .to_string()
        } else {
            "text".to_string()
        },
        media_ref: inbound.media.first().map(|(url, _)| url.clone()),
        sent_at: None,
    }
}

/// The code an inbound message issued, if any.
pub fn issued(events: &[crate::flow::Event]) -> Option<&crate::uic::Uic> {
    events.iter().find_map(|e| match e {
        crate::flow::Event::UicIssued { uic, .. } => Some(uic),
        _ => None,
    })
}

fn media_kind(content_type: &str) -> &'static str {
    match content_type.split('/').next().unwrap_or("") {
        "image" => "image",
        "audio" => "audio",
        "video" => "video",
        _ => "document",
    }
}

/// `+243990000001` -> `+2439******01`: enough to tell numbers apart in logs
/// and errors without exposing them.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..5].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_numbers_keep_only_the_country_prefix_and_two_last_digits() {
        assert_eq!(mask_phone("+243990000001"), "+2439******01");
        assert_eq!(mask_phone("+1415"), "*****");
    }
}
