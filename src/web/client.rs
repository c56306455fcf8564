//! Who is asking: the client's address (believing `X-Forwarded-For` only
//! from a trusted proxy), a visitor's language, whether cookies are Secure.

use crate::AppState;
use crate::auth::Lang;
use crate::auth::session::keys;
use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};
use tower_sessions::Session;

/// The address of the client: the socket's peer, or, when that peer is a
/// trusted proxy (`TRUSTED_PROXIES`, loopback by default), the address the
/// proxy appended last to `X-Forwarded-For`. Any other peer could write
/// whatever it likes in that header, and a private address proves nothing
/// (a container network, or a proxy that adds no header).
pub fn client_ip(parts: &Parts, trusted: &[ipnet::IpNet]) -> String {
    let peer = peer_ip(parts);
    forwarded_ip(peer, &parts.headers, trusted)
        .or(peer)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The socket's peer address, whatever the headers say.
pub fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn forwarded_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    // An IPv4 peer on an IPv6 socket shows as ::ffff:a.b.c.d.
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return None;
    }
    headers
        .get("x-forwarded-for")?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The language of a visitor not logged in: the one chosen on the login
/// page (kept in the session, or in the visitor cookie when there is no
/// session), else French (the product's first language, whatever the
/// browser).
pub async fn visitor_lang(session: &Session, visitor: Option<&crate::auth::csrf::Visitor>) -> Lang {
    match session.get::<String>(keys::LANG).await {
        Ok(Some(l)) => Lang::parse(&l).unwrap_or_default(),
        _ => visitor.and_then(|v| v.lang).unwrap_or_default(),
    }
}

/// Whether cookies are marked `Secure` (`PUBLIC_URL` is https).
pub fn secure_cookies(state: &AppState) -> bool {
    state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 41.243.1.2"),
        );
        let loopback = crate::config::default_trusted_proxies();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let lan: IpAddr = "172.18.0.3".parse().unwrap();
        let internet: IpAddr = "41.243.9.9".parse().unwrap();
        let last: IpAddr = "41.243.1.2".parse().unwrap();
        assert_eq!(forwarded_ip(Some(local), &h, &loopback), Some(last));
        assert_eq!(forwarded_ip(Some(mapped), &h, &loopback), Some(last));
        // A container network or LAN peer is not believed unless listed.
        assert_eq!(forwarded_ip(Some(lan), &h, &loopback), None);
        let docker: Vec<ipnet::IpNet> = vec!["172.16.0.0/12".parse().unwrap()];
        assert_eq!(forwarded_ip(Some(lan), &h, &docker), Some(last));
        assert_eq!(forwarded_ip(Some(local), &h, &docker), None);
        assert_eq!(forwarded_ip(Some(internet), &h, &loopback), None);
        assert_eq!(
            forwarded_ip(Some(local), &HeaderMap::new(), &loopback),
            None
        );
    }
}
