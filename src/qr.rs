//! QR codes of issued codes: rendered on demand as PNG, never stored as
//! files. Twilio fetches the image from a signed link that expires; Meta
//! gets it uploaded by the outbox worker. The image's route is in the web layer.

use crate::config::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use image::{ImageEncoder, Luma};
use qrcode::QrCode;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::uic::Uic;

/// How long a QR link handed to Twilio stays valid: long enough for its
/// fetch (and a few retries), short enough not to be a lasting address.
pub const LINK_LIFETIME: time::Duration = time::Duration::minutes(15);

/// The code as a PNG image (black on white, with the quiet zone), about
/// 300 pixels wide: readable from a phone screen, a few hundred bytes.
pub fn render_png(uic: &Uic) -> Result<Vec<u8>, String> {
    let code = QrCode::new(uic.as_str().as_bytes()).map_err(|e| format!("QR encoding: {e}"))?;
    let img = code.render::<Luma<u8>>().min_dimensions(300, 300).build();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| format!("PNG encoding: {e}"))?;
    Ok(png)
}

/// Signs and checks the QR links: `/qr/{token}.png`, where the token holds
/// the code and an expiry, with an HMAC keyed by a key derived from the
/// server's salt. A link cannot be made up for another code, and stops
/// working after `LINK_LIFETIME`.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl LinkSigner {
    pub fn new(salt: &Secret) -> LinkSigner {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(salt.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(b"uic-inbox qr link key v1");
        LinkSigner {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, message: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(message.as_bytes());
        mac
    }

    /// The token of a link to `uic`'s QR code, valid until `expires`.
    pub fn token(&self, uic: &Uic, expires: OffsetDateTime) -> String {
        let message = format!("{}.{}", uic.as_str(), expires.unix_timestamp());
        let sig = self.mac(&message).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(message.as_bytes()),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// The path of a link to `uic`'s QR image, valid for `LINK_LIFETIME`
    /// from `now` (served by the web layer).
    pub fn path(&self, uic: &Uic, now: OffsetDateTime) -> String {
        format!("/qr/{}.png", self.token(uic, now + LINK_LIFETIME))
    }

    /// The code a token stands for, if its signature holds and it has not
    /// expired at `now`.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Uic, LinkError> {
        let (payload, sig) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let message = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(LinkError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| LinkError::Malformed)?;
        self.mac(&message)
            .verify_slice(&sig)
            .map_err(|_| LinkError::BadSignature)?;
        let (uic, expires) = message.split_once('.').ok_or(LinkError::Malformed)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
        if now.unix_timestamp() > expires {
            return Err(LinkError::Expired);
        }
        Uic::parse(uic).map_err(|_| LinkError::Malformed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this QR link is not valid")]
    Malformed,
    #[error("this QR link is not valid")]
    BadSignature,
    #[error("this QR link has expired; ask the bot for your code again")]
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(&Secret::new("a-test-salt-of-some-length"))
    }

    #[test]
    fn a_png_is_rendered_that_decodes_as_an_image() {
        let uic = Uic::parse("MBEIBR7DA1").unwrap();
        let png = render_png(&uic).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
        assert!(img.width() >= 300 && img.width() == img.height());
    }

    #[test]
    fn a_link_is_valid_until_it_expires() {
        let uic = Uic::parse("MBEIBR7DA1").unwrap();
        let now = OffsetDateTime::now_utc();
        let token = signer().token(&uic, now + LINK_LIFETIME);
        assert_eq!(signer().verify(&token, now), Ok(uic.clone()));
        assert_eq!(
            signer().verify(&token, now + LINK_LIFETIME + time::Duration::seconds(1)),
            Err(LinkError::Expired)
        );
        // Another salt (another server) does not accept it.
        let other = LinkSigner::new(&Secret::new("another-salt-entirely-here"));
        assert_eq!(other.verify(&token, now), Err(LinkError::BadSignature));
    }

    #[test]
    fn a_link_cannot_be_changed_to_another_code_or_expiry() {
        let now = OffsetDateTime::now_utc();
        let token = signer().token(&Uic::parse("MBEIBR7DA1").unwrap(), now);
        let (_, sig) = token.split_once('.').unwrap();
        let forged = format!(
            "{}.{sig}",
            URL_SAFE_NO_PAD.encode(format!("XXXIBR7DA1.{}", now.unix_timestamp() + 99999))
        );
        assert_eq!(signer().verify(&forged, now), Err(LinkError::BadSignature));
        assert_eq!(signer().verify("garbage", now), Err(LinkError::Malformed));
        assert_eq!(signer().verify("a.b.c", now), Err(LinkError::Malformed));
    }
}
