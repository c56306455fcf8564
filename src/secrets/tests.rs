use super::*;
use proptest::prelude::*;

fn ring() -> Keyring {
    Keyring::new(Key::from_bytes([7; 32]), vec![])
}

#[test]
fn a_sealed_value_opens_to_what_was_sealed_and_hides_it() {
    let ring = ring();
    let sealed = ring.seal(Purpose::MetaAccessToken, "EAAG-secret-token");
    assert!(!sealed.as_str().contains("EAAG"));
    assert!(
        sealed
            .as_str()
            .starts_with(&format!("v1.{}.", ring.current_id()))
    );
    assert_eq!(sealed.key_id(), Ok(ring.current_id()));
    let opened = ring.open(Purpose::MetaAccessToken, &sealed).unwrap();
    assert_eq!(opened.expose_secret(), "EAAG-secret-token");
    // Printing shows the key id, never the ciphertext.
    let printed = format!("{sealed:?}");
    assert_eq!(printed, format!("Sealed(v1.{}.…)", ring.current_id()));
}

#[test]
fn two_seals_of_one_value_differ() {
    let ring = ring();
    let a = ring.seal(Purpose::TwilioAuthToken, "same");
    let b = ring.seal(Purpose::TwilioAuthToken, "same");
    assert_ne!(a, b);
}

#[test]
fn a_value_sealed_for_one_purpose_does_not_open_for_another() {
    let ring = ring();
    let sealed = ring.seal(Purpose::MetaAppSecret, "app-secret");
    for other in Purpose::ALL
        .iter()
        .filter(|p| **p != Purpose::MetaAppSecret)
    {
        assert_eq!(
            ring.open(*other, &sealed).map(|_| ()),
            Err(OpenError::Corrupt)
        );
    }
}

#[test]
fn a_flipped_byte_anywhere_in_the_body_fails() {
    let ring = ring();
    let sealed = ring.seal(Purpose::MetaVerifyToken, "verify-me");
    let (head, body) = sealed.as_str().rsplit_once('.').unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        let damaged = Sealed::parse(&format!("{head}.{}", URL_SAFE_NO_PAD.encode(b))).unwrap();
        assert_eq!(
            ring.open(Purpose::MetaVerifyToken, &damaged).map(|_| ()),
            Err(OpenError::Corrupt),
            "byte {i}"
        );
    }
}

#[test]
fn a_key_of_another_ring_is_named_and_earlier_keys_still_open() {
    let old = Keyring::new(Key::from_bytes([1; 32]), vec![]);
    let sealed = old.seal(Purpose::MetaAccessToken, "token");
    let other = Keyring::new(Key::from_bytes([2; 32]), vec![]);
    assert_eq!(
        other.open(Purpose::MetaAccessToken, &sealed).map(|_| ()),
        Err(OpenError::UnknownKey(old.current_id()))
    );
    let err = other.open(Purpose::MetaAccessToken, &sealed).unwrap_err();
    assert!(err.to_string().contains(&old.current_id().to_string()));
    // A ring that holds the old key among its others opens it, and seals
    // with its current key.
    let rotated = Keyring::new(Key::from_bytes([2; 32]), vec![Key::from_bytes([1; 32])]);
    assert_eq!(
        rotated
            .open(Purpose::MetaAccessToken, &sealed)
            .unwrap()
            .expose_secret(),
        "token"
    );
    assert_eq!(
        rotated.seal(Purpose::MetaAccessToken, "t").key_id(),
        Ok(other.current_id())
    );
}

#[test]
fn malformed_values_are_refused_without_echoing_them() {
    let ring = ring();
    let good = ring.seal(Purpose::MetaAccessToken, "x");
    let (_, body) = good.as_str().rsplit_once('.').unwrap();
    for bad in [
        String::new(),
        "plain-token".into(),
        "v1".into(),
        "v1..".into(),
        format!("v2.{}.{body}", ring.current_id()),
        format!("v1.ABCDEF12.{body}"),
        format!("v1.abcdef1.{body}"),
        format!("v1.{}.{body}=", ring.current_id()),
        format!("v1.{}.AAAA", ring.current_id()),
        format!("v1.{}.{body}\0", ring.current_id()),
    ] {
        assert_eq!(Sealed::parse(&bad), Err(OpenError::Malformed), "{bad:?}");
        let stored = Sealed(bad.clone());
        assert_eq!(
            ring.open(Purpose::MetaAccessToken, &stored).map(|_| ()),
            Err(OpenError::Malformed)
        );
        assert_eq!(format!("{stored:?}"), "Sealed(malformed)");
    }
}

#[test]
fn key_ids_are_stable_and_keys_print_only_their_id() {
    let key = Key::from_bytes([0xab; 32]);
    assert_eq!(key.id(), Key::from_bytes([0xab; 32]).id());
    assert_ne!(key.id(), Key::from_bytes([0xac; 32]).id());
    assert_eq!(key.id().to_string().len(), 8);
    assert_eq!(KeyId::parse(&key.id().to_string()), Some(key.id()));
    let printed = format!("{key:?} {:?}", Keyring::new(key.clone(), vec![]));
    assert!(!printed.contains(&"ab".repeat(8)), "{printed}");
    assert!(printed.contains(&key.id().to_string()));
}

#[test]
fn fingerprints_depend_on_purpose_and_value_only() {
    let a = fingerprint(Purpose::MetaAccessToken, "EAAG-token");
    assert_eq!(a, fingerprint(Purpose::MetaAccessToken, "EAAG-token"));
    assert_ne!(a, fingerprint(Purpose::TwilioAuthToken, "EAAG-token"));
    assert_ne!(a, fingerprint(Purpose::MetaAccessToken, "EAAG-tokem"));
    assert_eq!(a.len(), 32);
    assert!(!a.contains("EAAG"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_string_round_trips(plain in ".{0,200}", nul in any::<bool>()) {
        let ring = ring();
        let plain = if nul { format!("{plain}\0🙂") } else { plain };
        let sealed = ring.seal(Purpose::TwilioAuthToken, &plain);
        let parsed = Sealed::parse(sealed.as_str());
        prop_assert_eq!(parsed.as_ref(), Ok(&sealed));
        let opened = ring.open(Purpose::TwilioAuthToken, &sealed).unwrap();
        prop_assert_eq!(opened.expose_secret(), plain.as_str());
    }
}

#[test]
fn a_ten_kilobyte_value_round_trips() {
    let ring = ring();
    let plain = "é\0x".repeat(3_500);
    let sealed = ring.seal(Purpose::MetaAppSecret, &plain);
    assert_eq!(
        ring.open(Purpose::MetaAppSecret, &sealed)
            .unwrap()
            .expose_secret(),
        plain
    );
}
