//! Where a finished job's files go (`--output-store`): kept on this server
//! and served at `/files/...` (the default), or uploaded to an S3 bucket
//! (presigned or public URLs) or to the fal CDN, so that results outlive
//! the replica that made them. Uploaded files are removed locally.

use crate::error::ApiError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vantage_s3::Bucket;

pub enum OutputStore {
    Local,
    S3 {
        bucket: Box<Bucket>,
        /// How long presigned URLs stay valid.
        expiry: Duration,
        /// `https://cdn.example.com/base`: URLs are `{public}/{key}` instead
        /// of presigned ones.
        public: Option<String>,
    },
    /// fal's storage: `POST {rest}/storage/upload/initiate`, then PUT.
    FalCdn {
        rest: String,
        key: String,
        client: reqwest::Client,
    },
}

/// `--output-store`'s settings.
#[derive(Clone, Debug)]
pub struct OutputConfig {
    /// `local`, `s3://BUCKET/PREFIX` or `fal`.
    pub store: String,
    pub expiry: Duration,
    pub public_url: Option<String>,
    /// fal's REST host, for `fal`.
    pub fal_rest: String,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            store: "local".into(),
            expiry: Duration::from_secs(24 * 3600),
            public_url: None,
            fal_rest: "https://rest.fal.ai".into(),
        }
    }
}

impl OutputStore {
    /// The store `cfg` names, checked now (bucket reachable, keys accepted).
    pub fn open(cfg: &OutputConfig) -> Result<OutputStore, String> {
        let store = cfg.store.as_str();
        if store == "local" {
            return Ok(OutputStore::Local);
        }
        if store.starts_with("s3://") {
            if cfg.expiry > Duration::from_secs(7 * 86_400) {
                return Err("--output-url-hours: presigned URLs last at most 168 hours".into());
            }
            let bucket = Bucket::from_url(store)
                .and_then(|b| b.check().map(|()| b))
                .map_err(|e| format!("--output-store: {e}"))?;
            let public = cfg
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string());
            return Ok(OutputStore::S3 {
                bucket: Box::new(bucket),
                expiry: cfg.expiry,
                public,
            });
        }
        if store == "fal" {
            let key = std::env::var("FAL_KEY")
                .ok()
                .filter(|k| !k.is_empty())
                .ok_or("--output-store fal needs FAL_KEY in the environment (a fal secret)")?;
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())?;
            return Ok(OutputStore::FalCdn {
                rest: cfg.fal_rest.trim_end_matches('/').to_string(),
                key,
                client,
            });
        }
        Err(format!(
            "--output-store '{store}': expected local, s3://BUCKET/PREFIX or fal"
        ))
    }

    /// `result` with every URL of a file under `files_root` (written as
    /// `{link_base}/files/REL`) replaced by the file's URL in the store.
    pub async fn publish(
        &self,
        result: Value,
        files_root: &Path,
        link_base: &str,
    ) -> Result<Value, ApiError> {
        if matches!(self, OutputStore::Local) {
            return Ok(result);
        }
        let prefix = format!("{link_base}/files/");
        let mut uploaded = Vec::new();
        let published = self
            .rewrite(result, files_root, &prefix, &mut uploaded)
            .await;
        if published.is_ok() {
            for path in uploaded {
                let _ = tokio::fs::remove_file(path).await;
            }
        }
        published
    }

    fn rewrite<'a>(
        &'a self,
        value: Value,
        root: &'a Path,
        prefix: &'a str,
        uploaded: &'a mut Vec<PathBuf>,
    ) -> futures_util::future::BoxFuture<'a, Result<Value, ApiError>> {
        Box::pin(async move {
            Ok(match value {
                Value::String(s) => match s.strip_prefix(prefix) {
                    Some(rel) if !rel.contains("..") && root.join(rel).is_file() => {
                        let path = root.join(rel);
                        let url = self.upload(&path, rel).await?;
                        uploaded.push(path);
                        Value::String(url)
                    }
                    _ => Value::String(s),
                },
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for v in items {
                        out.push(self.rewrite(v, root, prefix, uploaded).await?);
                    }
                    Value::Array(out)
                }
                Value::Object(map) => {
                    let mut out = serde_json::Map::new();
                    for (k, v) in map {
                        out.insert(k, self.rewrite(v, root, prefix, uploaded).await?);
                    }
                    Value::Object(out)
                }
                other => other,
            })
        })
    }

    /// Upload one file as `rel` (`{request id}/{name}`); its URL.
    async fn upload(&self, path: &Path, rel: &str) -> Result<String, ApiError> {
        let failed = |e: String| {
            ApiError::new(
                500,
                "output_upload_failed",
                format!("storing the output {rel}: {e}"),
            )
        };
        match self {
            OutputStore::Local => Ok(format!("/files/{rel}")),
            OutputStore::S3 {
                bucket,
                expiry,
                public,
            } => {
                let (b, p, key) = (bucket.as_ref().clone(), path.to_path_buf(), rel.to_string());
                tokio::task::spawn_blocking(move || b.put_file(&key, &p, false))
                    .await
                    .map_err(|e| failed(e.to_string()))?
                    .map_err(|e| failed(e.to_string()))?;
                Ok(match public {
                    Some(base) => format!("{base}/{}{rel}", bucket.prefix),
                    None => bucket.presign_get(rel, *expiry),
                })
            }
            OutputStore::FalCdn { rest, key, client } => {
                fal_upload(client, rest, key, path).await.map_err(failed)
            }
        }
    }
}

/// fal's two-step upload: initiate (which names the file's URL), then PUT
/// the bytes, streamed from disk.
async fn fal_upload(
    client: &reqwest::Client,
    rest: &str,
    key: &str,
    path: &Path,
) -> Result<String, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("output");
    let content_type = vantage_s3::content_type(name);
    let initiate = client
        .post(format!(
            "{rest}/storage/upload/initiate?storage_type=fal-cdn-v3"
        ))
        .header("authorization", format!("Key {key}"))
        .json(&json!({"content_type": content_type, "file_name": name}))
        .send()
        .await
        .map_err(|e| format!("initiate: {e}"))?;
    if !initiate.status().is_success() {
        return Err(format!("initiate: HTTP {}", initiate.status()));
    }
    let urls: Value = initiate
        .json()
        .await
        .map_err(|e| format!("initiate: {e}"))?;
    let (Some(upload), Some(file)) = (urls["upload_url"].as_str(), urls["file_url"].as_str())
    else {
        return Err(format!("initiate answered {urls} (no upload_url/file_url)"));
    };
    let bytes = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    let size = bytes.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(bytes));
    let put = client
        .put(upload)
        .header("content-type", content_type)
        .header("content-length", size)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("upload: {e}"))?;
    if !put.status().is_success() {
        return Err(format!("upload: HTTP {}", put.status()));
    }
    Ok(file.to_string())
}
