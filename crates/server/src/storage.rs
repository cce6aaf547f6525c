//! The JS client's uploads (`fal.storage.upload`): `initiate` hands out a
//! one-time upload URL on this server and the URL the file will have; the
//! client PUTs the bytes there, then passes the file URL as an input.

use crate::error::ApiError;
use crate::queue::lock;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// How long an upload URL stays valid.
const UPLOAD_TTL: Duration = Duration::from_secs(3600);

pub struct Uploads {
    dir: PathBuf,
    pub max_bytes: u64,
    /// token -> (destination, expiry)
    pending: Mutex<HashMap<String, (PathBuf, Instant)>>,
}

/// `{file_name, content_type}`: only the name is kept (the content type
/// comes back from the file's extension when it is served).
#[derive(Deserialize)]
struct Initiate {
    #[serde(default)]
    file_name: Option<String>,
}

impl Uploads {
    /// Uploads land in `files/uploads/{token}/{name}`.
    pub fn new(files: PathBuf, max_bytes: u64) -> Self {
        Uploads {
            dir: files.join("uploads"),
            max_bytes,
            pending: Mutex::new(HashMap::new()),
        }
    }

    pub fn initiate(&self, base: &str, body: &[u8]) -> Response {
        let req: Initiate = match serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        {
            Ok(r) => r,
            Err(e) => {
                return ApiError::new(
                    422,
                    "validation_error",
                    format!("initiate takes {{file_name, content_type}}: {e}"),
                )
                .into_response()
            }
        };
        let name = sanitize(req.file_name.as_deref().unwrap_or("upload"));
        let token = crate::new_id();
        let dest = self.dir.join(&token).join(&name);
        let mut pending = lock(&self.pending);
        pending.retain(|_, (_, expiry)| *expiry > Instant::now());
        pending.insert(token.clone(), (dest, Instant::now() + UPLOAD_TTL));
        Json(json!({
            "upload_url": format!("{base}/storage/upload/{token}"),
            "file_url": format!("{base}/files/uploads/{token}/{name}"),
        }))
        .into_response()
    }
}

/// A file name safe to put on disk and in a URL.
fn sanitize(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = clean.trim_start_matches('.');
    if clean.is_empty() {
        "upload".into()
    } else {
        clean.chars().take(100).collect()
    }
}

/// `PUT /storage/upload/{token}`: the bytes, streamed to disk within the limit.
pub async fn put_upload(
    State(at): State<crate::routes::At>,
    UrlPath(token): UrlPath<String>,
    body: Body,
) -> Response {
    let uploads = &at.api.uploads;
    let dest = lock(&uploads.pending)
        .remove(&token)
        .filter(|(_, e)| *e > Instant::now());
    let Some((dest, _)) = dest else {
        return ApiError::new(
            404,
            "not_found",
            "no such upload (or it expired): call /storage/upload/initiate again",
        )
        .into_response();
    };
    match write(uploads, &dest, body).await {
        Ok(size) => Json(json!({"file_size": size})).into_response(),
        Err(e) => {
            let _ = tokio::fs::remove_file(&dest).await;
            e.into_response()
        }
    }
}

async fn write(uploads: &Uploads, dest: &std::path::Path, body: Body) -> Result<u64, ApiError> {
    let io = |e: std::io::Error| ApiError::new(500, "internal_error", e.to_string());
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io)?;
    }
    let part = dest.with_extension("part");
    let mut file = tokio::fs::File::create(&part).await.map_err(io)?;
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(400, "upload_failed", e.to_string()))?;
        size += chunk.len() as u64;
        if size > uploads.max_bytes {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(ApiError::new(
                413,
                "file_too_large",
                format!(
                    "uploads are limited to {} MB",
                    uploads.max_bytes / 1_000_000
                ),
            ));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    tokio::fs::rename(&part, dest).await.map_err(io)?;
    Ok(size)
}
