//! A small S3 client for what Vantage keeps in object storage: outputs,
//! the shared cache tier and weights. Objects are PUT from files (streamed,
//! their SHA-256 signed so the server rejects a damaged upload), written
//! once with `If-None-Match: *` where asked, read to files, and shared as
//! presigned GET URLs.
//!
//! Why not `aws-sdk-s3` or `opendal`: four operations do not justify a
//! hundred crates on a 2-core build; SigV4 is a page, and TLS and hashing
//! come from the `ring`/rustls stack the server already links.
//!
//! * this file: [`Bucket`] (where, who) and its operations.
//! * `sign`: SigV4 headers and presigned query strings.
//! * `time`: UTC timestamps without a date crate.

mod sign;
mod time;

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{method} {key}: {detail}")]
    Http {
        method: &'static str,
        key: String,
        detail: String,
    },
}

/// Credentials, from the usual AWS environment variables.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, secret hidden)", self.access_key)
    }
}

/// A bucket and key prefix on an S3-compatible endpoint.
#[derive(Clone, Debug)]
pub struct Bucket {
    /// `scheme://host[:port]`, no trailing slash.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// Prepended to every key (`a/b/` or empty).
    pub prefix: String,
    /// `endpoint/bucket/key` instead of `bucket.endpoint/key`: what
    /// S3-compatible servers expect.
    pub path_style: bool,
    pub credentials: Credentials,
    agent: ureq::Agent,
}

/// What a conditional PUT found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    Created,
    /// `If-None-Match: *` and the key already holds an object.
    Exists,
}

impl Bucket {
    /// `s3://BUCKET[/PREFIX]`, with the endpoint, region and credentials from
    /// `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    /// A custom endpoint uses path-style addressing unless
    /// `AWS_S3_ADDRESSING_STYLE=virtual`.
    pub fn from_url(url: &str) -> Result<Bucket, S3Error> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| S3Error::Config(format!("'{url}' is not an s3://BUCKET/PREFIX URL")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty()
            || !bucket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        {
            return Err(S3Error::Config(format!(
                "'{url}': '{bucket}' is not a bucket name (letters, digits, '.', '-', '_')"
            )));
        }
        let region = env("AWS_REGION")
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let custom = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL"));
        let path_style =
            custom.is_some() && env("AWS_S3_ADDRESSING_STYLE").as_deref() != Some("virtual");
        let endpoint = custom.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let missing = |k: &str| {
            S3Error::Config(format!(
                "{url} needs {k} (and AWS_SECRET_ACCESS_KEY) in the environment"
            ))
        };
        let credentials = Credentials {
            access_key: env("AWS_ACCESS_KEY_ID").ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?,
            secret_key: env("AWS_SECRET_ACCESS_KEY")
                .ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?,
            session_token: env("AWS_SESSION_TOKEN"),
        };
        Bucket::new(&endpoint, &region, bucket, prefix, path_style, credentials)
    }

    pub fn new(
        endpoint: &str,
        region: &str,
        bucket: &str,
        prefix: &str,
        path_style: bool,
        credentials: Credentials,
    ) -> Result<Bucket, S3Error> {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(S3Error::Config(format!(
                "S3 endpoint '{endpoint}' must start with http:// or https://"
            )));
        }
        let prefix = prefix.trim_matches('/');
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .max_redirects(0)
            .build();
        Ok(Bucket {
            endpoint,
            region: region.to_string(),
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            path_style,
            credentials,
            agent: config.into(),
        })
    }

    /// `s3://bucket/prefix`, for messages.
    pub fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Host and path of `key` (under the prefix), URI-encoded.
    fn locate(&self, key: &str) -> (String, String) {
        let (scheme, host) = self
            .endpoint
            .split_once("://")
            .unwrap_or(("https", &self.endpoint));
        let full = sign::uri_encode_path(&format!("{}{key}", self.prefix));
        if self.path_style {
            (
                format!("{scheme}://{host}"),
                format!("/{}/{full}", self.bucket),
            )
        } else {
            (
                format!("{scheme}://{}.{host}", self.bucket),
                format!("/{full}"),
            )
        }
    }

    fn signed(
        &self,
        method: &'static str,
        key: &str,
        payload_sha256: &str,
        extra: &[(&str, String)],
    ) -> (String, Vec<(String, String)>) {
        let (origin, path) = self.locate(key);
        let host = origin.split_once("://").map_or(origin.as_str(), |(_, h)| h);
        let headers = sign::headers(
            self,
            method,
            host,
            &path,
            payload_sha256,
            extra,
            time::now(),
        );
        (format!("{origin}{path}"), headers)
    }

    /// Upload `file` to `key`. With `only_new`, an existing object is left
    /// alone and [`Put::Exists`] returned.
    pub fn put_file(&self, key: &str, file: &Path, only_new: bool) -> Result<Put, S3Error> {
        let sha = sha256_file(file)?;
        let body = fs::File::open(file).map_err(|source| S3Error::Io {
            what: format!("reading {}", file.display()),
            source,
        })?;
        self.put(key, body, &sha, only_new)
    }

    /// Upload `bytes` to `key` (small objects: manifests).
    pub fn put_bytes(&self, key: &str, bytes: &[u8], only_new: bool) -> Result<Put, S3Error> {
        let sha = sign::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
        self.put(key, bytes, &sha, only_new)
    }

    fn put(
        &self,
        key: &str,
        body: impl ureq::AsSendBody,
        sha: &str,
        only_new: bool,
    ) -> Result<Put, S3Error> {
        let mut extra = vec![("content-type", content_type(key).to_string())];
        if only_new {
            extra.push(("if-none-match", "*".to_string()));
        }
        let (url, headers) = self.signed("PUT", key, sha, &extra);
        let mut req = self.agent.put(&url);
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        let resp = req
            .send(body)
            .map_err(|e| http("PUT", key, e.to_string()))?;
        match resp.status().as_u16() {
            200..=299 => Ok(Put::Created),
            412 if only_new => Ok(Put::Exists),
            _ => Err(http("PUT", key, failure(resp))),
        }
    }

    /// Download `key` into `dest` (written whole, then renamed into place);
    /// `false` when there is no such object.
    pub fn get_file(&self, key: &str, dest: &Path) -> Result<bool, S3Error> {
        let Some(resp) = self.get(key)? else {
            return Ok(false);
        };
        let part = dest.with_extension("part");
        let io = |what: &str, source| S3Error::Io {
            what: format!("{what} {}", part.display()),
            source,
        };
        let mut out = fs::File::create(&part).map_err(|e| io("creating", e))?;
        let mut reader = resp.into_body().into_reader();
        let copied = io::copy(&mut reader, &mut out).and_then(|_| out.flush());
        if let Err(e) = copied {
            let _ = fs::remove_file(&part);
            return Err(http("GET", key, format!("reading the body: {e}")));
        }
        fs::rename(&part, dest).map_err(|e| io("renaming", e))?;
        Ok(true)
    }

    /// The bytes of `key` (at most `limit`), or `None` when there is no such object.
    pub fn get_bytes(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, S3Error> {
        let Some(resp) = self.get(key)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        resp.into_body()
            .into_reader()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| http("GET", key, format!("reading the body: {e}")))?;
        Ok(Some(bytes))
    }

    fn get(&self, key: &str) -> Result<Option<ureq::http::Response<ureq::Body>>, S3Error> {
        let resp = self.call("GET", key)?;
        match resp.status().as_u16() {
            200..=299 => Ok(Some(resp)),
            404 => Ok(None),
            _ => Err(http("GET", key, failure(resp))),
        }
    }

    /// Whether `key` holds an object.
    pub fn exists(&self, key: &str) -> Result<bool, S3Error> {
        let resp = self.call("HEAD", key)?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            s => Err(http("HEAD", key, format!("HTTP {s}"))),
        }
    }

    /// A signed GET or HEAD of `key`, whatever its status.
    fn call(
        &self,
        method: &'static str,
        key: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, S3Error> {
        let (url, headers) = self.signed(method, key, sign::EMPTY_SHA256, &[]);
        let mut req = if method == "HEAD" {
            self.agent.head(&url)
        } else {
            self.agent.get(&url)
        };
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        req.call().map_err(|e| http(method, key, e.to_string()))
    }

    /// Fail early, with S3's reason, when the bucket cannot be reached or
    /// the credentials are refused (a missing object is fine).
    pub fn check(&self) -> Result<(), S3Error> {
        // A GET, not a HEAD: a refusal then carries S3's error code.
        self.get_bytes(".vantage-check", 0)
            .map(|_| ())
            .map_err(|e| match e {
                S3Error::Http { detail, .. } => S3Error::Config(format!(
                    "{}: {detail} (check the bucket, AWS_ENDPOINT_URL and the AWS_* keys)",
                    self.describe()
                )),
                other => other,
            })
    }

    /// A URL anyone may GET `key` with until `expires` from now (at most 7 days).
    pub fn presign_get(&self, key: &str, expires: Duration) -> String {
        let (origin, path) = self.locate(key);
        let host = origin.split_once("://").map_or(origin.as_str(), |(_, h)| h);
        let query = sign::presigned_query(self, "GET", host, &path, expires, time::now());
        format!("{origin}{path}?{query}")
    }
}

fn http(method: &'static str, key: &str, detail: String) -> S3Error {
    S3Error::Http {
        method,
        key: key.to_string(),
        detail,
    }
}

/// The status and S3's error code from a failed response.
fn failure(resp: ureq::http::Response<ureq::Body>) -> String {
    let status = resp.status().as_u16();
    let mut body = String::new();
    let _ = resp
        .into_body()
        .into_reader()
        .take(4096)
        .read_to_string(&mut body);
    let code = body
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_string());
    match code {
        Some(code) => format!("HTTP {status} {code}"),
        None => format!("HTTP {status}"),
    }
}

/// The content type of an object, from its name's extension.
pub fn content_type(key: &str) -> &'static str {
    match key.rsplit('.').next().unwrap_or("") {
        "mp4" => "video/mp4",
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        "wav" => "audio/wav",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// Hex SHA-256 of a file's bytes, streamed.
pub fn sha256_file(path: &Path) -> Result<String, S3Error> {
    let io = |source| S3Error::Io {
        what: format!("reading {}", path.display()),
        source,
    };
    let mut file = fs::File::open(path).map_err(io)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(sign::hex(ctx.finish().as_ref()))
}
