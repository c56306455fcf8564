//! The Graph API client: [`GraphClient`] and the HTTP call it makes.

use super::{SendError, mark_read};
use crate::channel::http::{describe, error_chain, redact, retry_after};
use serde_json::Value;
use std::time::Duration;

/// The production Graph API host.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";

/// The fields `phone_number_info` asks for (the credential check adds the
/// messaging limit).
pub(super) const PHONE_NUMBER_FIELDS: &str = "display_phone_number,verified_name,quality_rating,code_verification_status,platform_type,throughput";

/// A client for the Graph API calls the bot makes. Cheap to clone; the
/// access token is given per call (each account has its own).
#[derive(Debug, Clone)]
pub struct GraphClient {
    /// The HTTP client, or why it could not be built (every call then
    /// fails with that reason instead of panicking).
    http: Result<reqwest::Client, String>,
    /// `{base}/{version}` without a trailing slash.
    root: String,
}

impl GraphClient {
    /// `base_url` like `https://graph.facebook.com` (a trailing slash is
    /// fine), `api_version` like `v21.0`; `timeout` bounds each call.
    pub fn new(base_url: &str, api_version: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("uic-inbox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {}", error_chain(&e)));
        GraphClient {
            http,
            root: format!(
                "{}/{}",
                base_url.trim().trim_end_matches('/'),
                api_version.trim().trim_matches('/')
            ),
        }
    }

    /// `{root}/{segment}/…`, each segment percent-encoded so that an id
    /// can never change the path; an empty or dot segment is refused.
    fn url(&self, segments: &[&str]) -> Result<String, SendError> {
        // RFC 3986 unreserved characters stay as they are.
        const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let mut url = self.root.clone();
        for s in segments {
            if matches!(*s, "" | "." | "..") {
                return Err(SendError::Invalid(format!(
                    "{s:?} is not a valid id in a Graph API path"
                )));
            }
            url.push('/');
            url.extend(percent_encoding::utf8_percent_encode(s, SEGMENT));
        }
        Ok(url)
    }

    fn http(&self) -> Result<&reqwest::Client, SendError> {
        self.http
            .as_ref()
            .map_err(|e| SendError::Network(e.clone()))
    }

    /// Sends a message payload (see [`text_message`](super::text_message)
    /// and the others) and returns its wamid, the key of its later status
    /// webhooks.
    pub async fn send_message(
        &self,
        phone_number_id: &str,
        token: &str,
        payload: &Value,
    ) -> Result<String, SendError> {
        let request = self
            .http()?
            .post(self.url(&[phone_number_id, "messages"])?)
            .json(payload);
        let answer = call(request, Some(token), &[token]).await?;
        answer
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| SendError::BadResponse("no messages[0].id in the send answer".into()))
    }

    /// Uploads media (`multipart/form-data`) and returns its id, valid 30
    /// days for sends.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        token: &str,
        bytes: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> Result<String, SendError> {
        let file = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str(mime)
            .map_err(|_| SendError::Invalid(format!("{mime:?} is not a valid MIME type")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.to_string())
            .part("file", file);
        let request = self
            .http()?
            .post(self.url(&[phone_number_id, "media"])?)
            .multipart(form);
        let answer = call(request, Some(token), &[token]).await?;
        answer
            .get("id")
            .and_then(|id| match id {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| SendError::BadResponse("no id in the media upload answer".into()))
    }

    /// Marks the message `wamid` (and earlier ones) as read.
    pub async fn mark_read(
        &self,
        phone_number_id: &str,
        token: &str,
        wamid: &str,
    ) -> Result<(), SendError> {
        let request = self
            .http()?
            .post(self.url(&[phone_number_id, "messages"])?)
            .json(&mark_read(wamid));
        let answer = call(request, Some(token), &[token]).await?;
        match answer.get("success") {
            Some(Value::Bool(true)) => Ok(()),
            _ => Err(SendError::BadResponse(
                "the mark-as-read answer is not {\"success\": true}".into(),
            )),
        }
    }

    /// The number's display number, verified name, quality rating,
    /// verification status, platform and throughput: a good check that a
    /// token can use the number.
    pub async fn phone_number_info(
        &self,
        phone_number_id: &str,
        token: &str,
    ) -> Result<Value, SendError> {
        let url = format!(
            "{}?fields={PHONE_NUMBER_FIELDS}",
            self.url(&[phone_number_id])?
        );
        let request = self.http()?.get(url);
        let answer = call(request, Some(token), &[token]).await?;
        if answer.is_object() {
            Ok(answer)
        } else {
            Err(SendError::BadResponse(
                "the phone number answer is not a JSON object".into(),
            ))
        }
    }

    /// `GET {root}/{segments}?{query}` and its JSON object: the credential
    /// checks' call. `bearer` authenticates when given; every string of
    /// `secrets` (what the query or header carries) is scrubbed from error
    /// texts, which never show the URL.
    pub(crate) async fn get_object(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        bearer: Option<&str>,
        secrets: &[&str],
    ) -> Result<Value, SendError> {
        let mut url = self.url(segments)?;
        if !query.is_empty() {
            url.push('?');
            url.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(query)
                    .finish(),
            );
        }
        let answer = call(self.http()?.get(url), bearer, secrets).await?;
        if answer.is_object() {
            Ok(answer)
        } else {
            Err(SendError::BadResponse(
                "the answer is not a JSON object".into(),
            ))
        }
    }
}

/// Sends (with the bearer token, if any) and reads the answer: the JSON of
/// a 2xx, or the error. Every secret is scrubbed from every error text, and
/// a network error leaves the URL out (a query may hold secrets).
async fn call(
    request: reqwest::RequestBuilder,
    bearer: Option<&str>,
    secrets: &[&str],
) -> Result<Value, SendError> {
    let scrub = |text: String| secrets.iter().fold(text, |t, s| redact(t, s));
    let request = match bearer {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request.send().await.map_err(|e| {
        if e.is_builder() {
            SendError::Invalid("the request could not be built".into())
        } else {
            SendError::Network(scrub(describe(&e.without_url())))
        }
    })?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = response
        .bytes()
        .await
        .map_err(|e| SendError::Network(scrub(describe(&e.without_url()))))?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if let Some(error) = json.as_ref().and_then(|j| j.get("error"))
        && let Some(code) = error.get("code").and_then(|c| match c {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    {
        let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_string);
        return Err(SendError::Graph {
            http_status: status.as_u16(),
            code,
            message: scrub(text("message").unwrap_or_else(|| "(no message)".into())),
            details: error
                .pointer("/error_data/details")
                .and_then(Value::as_str)
                .map(|d| scrub(d.to_string())),
            retry_after,
        });
    }
    if !status.is_success() {
        return Err(SendError::Http {
            http_status: status.as_u16(),
            retry_after,
        });
    }
    json.ok_or_else(|| {
        SendError::BadResponse(format!(
            "HTTP {} with a body that is not JSON",
            status.as_u16()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::meta::{ErrorClass, text_message};
    use serde_json::json;

    // ----- Graph client against a local fake -----

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri, header};
    use axum::response::{IntoResponse, Response};
    use std::sync::{Arc, Mutex};

    const TOKEN: &str = "EAAGtest-access-token-0123456789";

    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        query: Option<String>,
        authorization: Option<String>,
        content_type: Option<String>,
        body: Vec<u8>,
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    fn graph_error_body(code: i64, message: &str, details: &str) -> String {
        json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}})
        .to_string()
    }

    async fn fake_graph(
        State(log): State<Log>,
        method: axum::http::Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let text = |h: header::HeaderName| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let authorization = text(header::AUTHORIZATION);
        log.lock().unwrap().push(Seen {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            authorization: authorization.clone(),
            content_type: text(header::CONTENT_TYPE),
            body: body.to_vec(),
        });
        let json_answer = |status: StatusCode, body: String| {
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        };
        let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        let pnid = segments.get(1).copied().unwrap_or("");
        if pnid == "leaky" {
            let message = format!("Invalid token {}", authorization.unwrap_or_default());
            return json_answer(
                StatusCode::UNAUTHORIZED,
                graph_error_body(190, &message, &message),
            );
        }
        if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
            return json_answer(
                StatusCode::UNAUTHORIZED,
                graph_error_body(190, "Invalid OAuth access token", "bad token"),
            );
        }
        match (pnid, segments.get(2).copied()) {
            ("window", _) => json_answer(
                StatusCode::BAD_REQUEST,
                graph_error_body(131047, "Re-engagement message", "more than 24 hours"),
            ),
            ("busy", _) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            ("limited", _) => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "30")],
                "slow down",
            )
                .into_response(),
            ("noid", _) => json_answer(StatusCode::OK, r#"{"messaging_product":"whatsapp"}"#.into()),
            ("slow", _) => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                StatusCode::OK.into_response()
            }
            (_, Some("media")) => json_answer(StatusCode::OK, r#"{"id":"1037543291543636"}"#.into()),
            (_, Some("messages")) => {
                let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
                if payload["status"] == "read" {
                    json_answer(StatusCode::OK, r#"{"success":true}"#.into())
                } else {
                    json_answer(
                        StatusCode::OK,
                        json!({"messaging_product":"whatsapp",
                            "contacts":[{"input": payload["to"], "wa_id": payload["to"]}],
                            "messages":[{"id":"wamid.HBgMMjQzOTkwMDAwMDAxFQIAERgSQjZG"}]})
                        .to_string(),
                    )
                }
            }
            (_, None) => json_answer(
                StatusCode::OK,
                json!({"display_phone_number":"+243 81 000 0000","verified_name":"ONG Sante","quality_rating":"GREEN",
                    "code_verification_status":"VERIFIED","platform_type":"CLOUD_API","throughput":{"level":"STANDARD"},
                    "id": pnid}).to_string(),
            ),
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }

    /// Starts the fake on a free port; returns a client (base URL with a
    /// trailing slash) and the request log.
    async fn spawn_fake(timeout: Duration) -> (GraphClient, Log) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Log::default();
        let app = Router::new().fallback(fake_graph).with_state(log.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (
            GraphClient::new(&format!("http://{addr}/"), "v21.0", timeout),
            log,
        )
    }

    fn last(log: &Log) -> Seen {
        log.lock().unwrap().last().cloned().unwrap()
    }

    #[tokio::test]
    async fn a_send_returns_the_wamid_and_posts_the_payload_with_the_token() {
        let (client, log) = spawn_fake(Duration::from_secs(5)).await;
        let payload = text_message("+243990000001", "Bonjour");
        let wamid = client
            .send_message("106540352242922", TOKEN, &payload)
            .await
            .unwrap();
        assert_eq!(wamid, "wamid.HBgMMjQzOTkwMDAwMDAxFQIAERgSQjZG");
        let seen = last(&log);
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/v21.0/106540352242922/messages");
        assert_eq!(seen.authorization, Some(format!("Bearer {TOKEN}")));
        assert_eq!(seen.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            serde_json::from_slice::<Value>(&seen.body).unwrap(),
            payload
        );
    }

    #[tokio::test]
    async fn a_graph_error_object_is_a_graph_error_with_its_code() {
        let (client, _log) = spawn_fake(Duration::from_secs(5)).await;
        let err = client
            .send_message("window", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SendError::Graph {
                http_status: 400,
                code: 131047,
                message: "Re-engagement message".into(),
                details: Some("more than 24 hours".into()),
                retry_after: None,
            }
        );
        assert_eq!(err.class(), ErrorClass::Window);
        assert_eq!(
            err.to_string(),
            "Graph API error 131047 (HTTP 400): Re-engagement message (more than 24 hours)"
        );
        let err = client
            .send_message(
                "106540352242922",
                "wrong-token-0000",
                &text_message("1", "x"),
            )
            .await
            .unwrap_err();
        assert_eq!((err.code(), err.class()), (Some(190), ErrorClass::Token));
    }

    #[tokio::test]
    async fn a_bare_503_is_an_http_error_and_a_429_keeps_its_retry_after() {
        let (client, _log) = spawn_fake(Duration::from_secs(5)).await;
        let err = client
            .send_message("busy", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SendError::Http {
                http_status: 503,
                retry_after: None
            }
        );
        assert!(err.class().retryable());
        let err = client
            .send_message("limited", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(err.class(), ErrorClass::Throughput);
    }

    #[tokio::test]
    async fn a_success_without_an_id_is_a_bad_response() {
        let (client, _log) = spawn_fake(Duration::from_secs(5)).await;
        let err = client
            .send_message("noid", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::BadResponse(_)), "{err:?}");
        assert!(!err.class().retryable());
    }

    #[tokio::test]
    async fn a_refused_connection_or_a_timeout_is_a_network_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = GraphClient::new(&format!("http://{addr}"), "v21.0", Duration::from_secs(5));
        let err = client
            .send_message("1", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Network(_)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("could not reach the Graph API: "),
            "{err}"
        );
        assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
        assert_eq!(err.class(), ErrorClass::Transient);

        let (client, _log) = spawn_fake(Duration::from_millis(300)).await;
        let err = client
            .send_message("slow", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SendError::Network(e) if e.contains("timed out")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn the_token_never_appears_in_an_error() {
        let (client, _log) = spawn_fake(Duration::from_secs(5)).await;
        let err = client
            .send_message("leaky", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(190));
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(TOKEN), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        let refused = GraphClient::new("http://127.0.0.1:9", "v21.0", Duration::from_secs(2));
        let err = refused.mark_read("1", TOKEN, "wamid.X").await.unwrap_err();
        assert!(!format!("{err} {err:?} {refused:?}").contains(TOKEN));
    }

    /// The parts of a multipart body: (headers, content).
    fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
        let boundary = content_type
            .split("boundary=")
            .nth(1)
            .unwrap()
            .trim_matches('"');
        let delimiter = format!("--{boundary}").into_bytes();
        let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
        let mut parts = vec![];
        let mut rest = body;
        while let Some(start) = find(rest, &delimiter) {
            rest = &rest[start + delimiter.len()..];
            if rest.starts_with(b"--") {
                break;
            }
            let end = find(rest, &delimiter).unwrap();
            let part = &rest[2..end - 2]; // strip the CRLF after the delimiter and before the next
            let split = find(part, b"\r\n\r\n").unwrap();
            parts.push((
                String::from_utf8_lossy(&part[..split]).to_string(),
                part[split + 4..].to_vec(),
            ));
        }
        parts
    }

    #[tokio::test]
    async fn an_upload_sends_the_three_multipart_fields() {
        let (client, log) = spawn_fake(Duration::from_secs(5)).await;
        let png = b"\x89PNG\r\n\x1a\n\x00\xffdata".to_vec();
        let id = client
            .upload_media("106540352242922", TOKEN, png.clone(), "image/png", "qr.png")
            .await
            .unwrap();
        assert_eq!(id, "1037543291543636");
        let seen = last(&log);
        assert_eq!(seen.path, "/v21.0/106540352242922/media");
        let content_type = seen.content_type.unwrap();
        assert!(
            content_type.starts_with("multipart/form-data; boundary="),
            "{content_type}"
        );
        let parts = multipart_parts(&content_type, &seen.body);
        assert_eq!(parts.len(), 3, "{parts:?}");
        let part = |name: &str| {
            parts
                .iter()
                .find(|(h, _)| h.contains(&format!("name=\"{name}\"")))
                .cloned()
                .unwrap()
        };
        assert_eq!(part("messaging_product").1, b"whatsapp");
        assert_eq!(part("type").1, b"image/png");
        let (headers, bytes) = part("file");
        assert!(headers.contains("filename=\"qr.png\""), "{headers}");
        assert!(
            headers.to_lowercase().contains("content-type: image/png"),
            "{headers}"
        );
        assert_eq!(bytes, png);
        let err = client
            .upload_media("1", TOKEN, vec![1], "not a mime", "x")
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Invalid(_)), "{err:?}");
    }

    #[tokio::test]
    async fn mark_read_and_phone_number_info_call_the_right_endpoints() {
        let (client, log) = spawn_fake(Duration::from_secs(5)).await;
        client
            .mark_read("106540352242922", TOKEN, "wamid.B2")
            .await
            .unwrap();
        let seen = last(&log);
        assert_eq!(seen.path, "/v21.0/106540352242922/messages");
        assert_eq!(
            serde_json::from_slice::<Value>(&seen.body).unwrap(),
            mark_read("wamid.B2")
        );
        let info = client
            .phone_number_info("106540352242922", TOKEN)
            .await
            .unwrap();
        assert_eq!(info["quality_rating"], "GREEN");
        let seen = last(&log);
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("GET", "/v21.0/106540352242922")
        );
        assert_eq!(
            seen.query.as_deref(),
            Some(
                "fields=display_phone_number,verified_name,quality_rating,code_verification_status,platform_type,throughput"
            )
        );
        // Path segments are encoded, never interpreted.
        let _ = client.phone_number_info("../x?y", TOKEN).await;
        assert_eq!(last(&log).path, "/v21.0/..%2Fx%3Fy");
        let calls = log.lock().unwrap().len();
        for id in ["", ".", ".."] {
            let err = client.phone_number_info(id, TOKEN).await.unwrap_err();
            assert!(matches!(err, SendError::Invalid(_)), "{err:?}");
        }
        assert_eq!(log.lock().unwrap().len(), calls, "nothing was sent");
    }
}
