//! Placeholder, replaced by the client's UID module.
use rand::RngExt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uid(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidError;

impl Uid {
    pub fn parse(s: &str) -> Result<Uid, UidError> {
        let b = s.as_bytes();
        if b.len() == 11 && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric) {
            Ok(Uid(s.to_string()))
        } else {
            Err(UidError)
        }
    }
    pub fn generate() -> Uid {
        const L: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut r = rand::rng();
        let mut s = String::new();
        s.push(L[r.random_range(0..L.len())] as char);
        for _ in 0..10 {
            s.push(A[r.random_range(0..A.len())] as char);
        }
        Uid(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
