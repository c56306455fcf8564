//! The media endpoints: upload, retrieve, delete, and the download URLs.

use axum::http::header;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{replies::*, requests::*, state::*, tokens::*};

// ---------------------------------------------------------------------------
// Media

pub(super) struct Part {
    pub(super) name: String,
    pub(super) filename: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) data: Vec<u8>,
}

pub(super) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let at = hay.get(i..)?.iter().position(|b| *b == first)? + i;
        if hay.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

fn parse_multipart(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let boundary = content_type
        .split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    if boundary.is_empty() {
        return None;
    }
    let delim = format!("--{boundary}").into_bytes();
    let next_delim = [b"\r\n".as_slice(), &delim].concat();
    let mut pos = find(body, &delim, 0)? + delim.len();
    let mut parts = Vec::new();
    loop {
        let rest = body.get(pos..)?;
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return None;
        }
        pos += 2;
        let head_end = find(body, b"\r\n\r\n", pos)?;
        let head = std::str::from_utf8(body.get(pos..head_end)?).ok()?;
        let data_start = head_end + 4;
        let data_end = find(body, &next_delim, data_start)?;
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            data: body.get(data_start..data_end)?.to_vec(),
        };
        for line in head.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            if name == "content-type" {
                part.content_type = Some(value.trim().to_string());
            } else if name == "content-disposition" {
                for param in value.split(';').skip(1) {
                    let Some((k, v)) = param.trim().split_once('=') else {
                        continue;
                    };
                    let v = v.trim().trim_matches('"').to_string();
                    match k.trim() {
                        "name" => part.name = v,
                        "filename" => part.filename = Some(v),
                        _ => {}
                    }
                }
            }
        }
        parts.push(part);
        pos = data_end + next_delim.len();
    }
}

/// Size limit of a supported MIME type (A.6), `None` if unsupported.
fn media_limit(mime: &str) -> Option<usize> {
    const MB: usize = 1024 * 1024;
    Some(match mime {
        "image/jpeg" | "image/png" => 5 * MB,
        "image/webp" => 500 * 1024,
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => 16 * MB,
        "video/mp4" | "video/3gpp" => 16 * MB,
        "text/plain"
        | "application/pdf"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => 100 * MB,
        _ => return None,
    })
}

fn base_mime(m: &str) -> String {
    m.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

pub(super) fn upload_media(inner: &mut Inner, r: &Req, pnid: &str) -> Reply {
    if let Err(e) = inner.authorize_number(r.token.as_deref(), pnid, "post") {
        return e;
    }
    let ct = r
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if base_mime(ct) != "multipart/form-data" {
        return wa_error(100, "Media uploads must be multipart/form-data.");
    }
    let Some(parts) = parse_multipart(ct, r.body) else {
        return wa_error(100, "The multipart/form-data body could not be parsed.");
    };
    let text_field = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).trim().to_string())
    };
    match text_field("messaging_product").as_deref() {
        None => return missing("messaging_product"),
        Some("whatsapp") => {}
        Some(_) => return invalid("messaging_product", "must be 'whatsapp'."),
    }
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return missing("file");
    };
    let Some(filename) = file.filename.clone().filter(|f| !f.is_empty()) else {
        return wa_error(131008, "The parameter file must be a file with a filename.");
    };
    let Some(declared) = text_field("type").filter(|t| !t.is_empty()) else {
        return missing("type");
    };
    let declared = base_mime(&declared);
    let Some(limit) = media_limit(&declared) else {
        return wa_error(
            131053,
            format!("Param type: unsupported media type '{declared}'."),
        );
    };
    let file_type = file.content_type.as_deref().map(base_mime);
    if file_type.as_deref() != Some(declared.as_str()) {
        return wa_error(
            131053,
            format!(
                "Param file must be a file of type '{declared}'. Received file of type '{}'.",
                file_type.unwrap_or_else(|| "unknown".into())
            ),
        );
    }
    let magic_ok = match declared.as_str() {
        "image/jpeg" => file.data.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => file.data.starts_with(b"\x89PNG\r\n\x1a\n"),
        _ => true,
    };
    if !magic_ok {
        return wa_error(
            131053,
            format!("Param file: the file content is not a valid '{declared}'."),
        );
    }
    if file.data.is_empty() || file.data.len() > limit {
        return wa_error(
            131053,
            format!(
                "Param file: size {} bytes is outside the allowed range for '{declared}' (max {limit} bytes).",
                file.data.len()
            ),
        );
    }
    let id = inner.fresh_media_id();
    inner.media.push(UploadedMedia {
        id: id.clone(),
        phone_number_id: pnid.to_string(),
        mime: declared,
        filename,
        bytes: file.data.clone(),
        deleted: false,
    });
    Reply::json(200, &json!({ "id": id }))
}

pub(super) fn get_object(inner: &mut Inner, r: &Req, id: &str) -> Reply {
    let token = r.token.as_deref();
    if let Err(e) = inner.check_token(token) {
        return e;
    }
    if inner.numbers.contains_key(id) {
        if let Err(e) = inner.authorize_number(token, id, "get") {
            return e;
        }
        return number_fields(inner, r, id);
    }
    let Some(media) = inner
        .media
        .iter()
        .find(|m| m.id == id && !m.deleted && inner.token_can_use(token, &m.phone_number_id))
    else {
        return no_such_object("get", id);
    };
    if let Some(p) = r.q("phone_number_id")
        && p != media.phone_number_id
    {
        return wa_error(
            100,
            format!("Media {id} does not belong to phone number {p}."),
        );
    }
    let (mime, size, sha) = (
        media.mime.clone(),
        media.bytes.len(),
        hex::encode(Sha256::digest(&media.bytes)),
    );
    let hash = format!("{:032x}", rand::random::<u128>());
    let url = format!(
        "{}/lookaside/whatsapp_business/attachments/?mid={id}&ext={}&hash={hash}",
        inner.base_url,
        inner.now_unix()
    );
    let issued = inner.now();
    inner.media_urls.insert(
        hash,
        MediaUrl {
            media_id: id.to_string(),
            issued,
            revoked: false,
        },
    );
    Reply::json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": mime,
            "sha256": sha,
            "file_size": size,
            "id": id,
        }),
    )
}

pub(super) fn delete_object(inner: &mut Inner, r: &Req, id: &str) -> Reply {
    let token = r.token.as_deref();
    if let Err(e) = inner.check_token(token) {
        return e;
    }
    let allowed: Vec<bool> = inner
        .media
        .iter()
        .map(|m| m.id == id && !m.deleted && inner.token_can_use(token, &m.phone_number_id))
        .collect();
    match allowed.iter().position(|a| *a) {
        Some(n) => {
            inner.media[n].deleted = true;
            Reply::json(200, &json!({"success": true}))
        }
        None => no_such_object("delete", id),
    }
}

pub(super) fn lookaside(inner: &Inner, r: &Req, segs: &[&str]) -> Reply {
    let plain = |status: u16, text: &str| Reply::Http {
        status,
        content_type: "text/plain",
        body: text.as_bytes().to_vec(),
        retry_after: None,
    };
    if r.method != "GET" || segs != ["lookaside", "whatsapp_business", "attachments"] {
        return plain(404, "Not Found");
    }
    let token = r.token.as_deref();
    if token.is_none_or(|t| inner.token_state(t) != TokenState::Valid) {
        return token_error(&TokenState::Unknown, inner.now_unix());
    }
    let now = inner.now();
    let Some(url) = r.q("hash").and_then(|h| inner.media_urls.get(h)) else {
        return plain(404, "Not Found");
    };
    if url.revoked || now.saturating_sub(url.issued) >= MEDIA_URL_LIFETIME {
        return plain(404, "URL signature expired");
    }
    let Some(media) = inner
        .media
        .iter()
        .find(|m| m.id == url.media_id && !m.deleted)
    else {
        return plain(404, "Not Found");
    };
    if !inner.token_can_use(token, &media.phone_number_id) {
        return token_error(&TokenState::Unknown, inner.now_unix());
    }
    let content_type: &'static str = match media.mime.as_str() {
        "image/jpeg" => "image/jpeg",
        "image/png" => "image/png",
        "image/webp" => "image/webp",
        "audio/ogg" => "audio/ogg",
        "audio/mpeg" => "audio/mpeg",
        "audio/aac" => "audio/aac",
        "audio/amr" => "audio/amr",
        "audio/mp4" => "audio/mp4",
        "video/mp4" => "video/mp4",
        "video/3gpp" => "video/3gpp",
        "application/pdf" => "application/pdf",
        "text/plain" => "text/plain",
        _ => "application/octet-stream",
    };
    Reply::Http {
        status: 200,
        content_type,
        body: media.bytes.clone(),
        retry_after: None,
    }
}
