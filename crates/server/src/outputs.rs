//! Where a finished job's files go (`--output-store`): kept on this server
//! and served at `/files/...` (the default), or uploaded to an S3 bucket
//! (presigned or public URLs) or to the fal CDN, so that results outlive
//! the replica that made them. Uploaded files are removed locally.

use crate::error::ApiError;
use crate::job::map_strings;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use vantage_s3::Bucket;

pub enum OutputStore {
    Local,
    Remote(Remote),
}

/// A store off this machine.
pub enum Remote {
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
            return Ok(OutputStore::Remote(Remote::S3 {
                bucket: Box::new(bucket),
                expiry: cfg.expiry,
                public,
            }));
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
            return Ok(OutputStore::Remote(Remote::FalCdn {
                rest: cfg.fal_rest.trim_end_matches('/').to_string(),
                key,
                client,
            }));
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
        let OutputStore::Remote(remote) = self else {
            return Ok(result);
        };
        let prefix = format!("{link_base}/files/");
        let mut urls = BTreeMap::new();
        map_strings(&result, &mut |s| {
            let rel = s.strip_prefix(&prefix)?;
            if !rel.contains("..") && files_root.join(rel).is_file() {
                urls.insert(rel.to_string(), String::new());
            }
            None
        });
        for (rel, url) in urls.iter_mut() {
            *url = remote.upload(&files_root.join(rel), rel).await?;
        }
        for rel in urls.keys() {
            let _ = tokio::fs::remove_file(files_root.join(rel)).await;
        }
        Ok(map_strings(&result, &mut |s| {
            urls.get(s.strip_prefix(&prefix)?).cloned()
        }))
    }
}

impl Remote {
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
            Remote::S3 {
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
            Remote::FalCdn { rest, key, client } => {
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
