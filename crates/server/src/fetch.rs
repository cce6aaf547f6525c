//! Inputs by URL: `https://`/`http://` downloads streamed to disk, `data:`
//! URIs, `file://` under an allowed directory, and this server's own files.
//!
//! Addresses are checked after DNS resolution and on every redirect: a URL
//! that leads to loopback, link-local, private or cloud-metadata addresses is
//! refused unless the server was started with `--allow-private-urls`.

use base64::Engine as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// What inputs may be.
#[derive(Clone, Debug)]
pub struct Policy {
    pub allow_private: bool,
    /// When not empty, http(s) inputs must come from these hosts (or
    /// their subdomains): e.g. only the team's own bucket.
    pub allow_hosts: Vec<String>,
    /// `file://` URLs must resolve inside one of these (none: refused).
    pub allow_dirs: Vec<PathBuf>,
    /// Largest download or decoded `data:` URI.
    pub max_bytes: u64,
    /// Where `/files/...` URLs of this server live on disk.
    pub files_dir: PathBuf,
}

type Refusal = (String, &'static str);

impl Policy {
    /// Whether `url` may be fetched at all (before any network traffic).
    pub fn check(&self, url: &str) -> Result<(), Refusal> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("http") | Some("https") => self.check_host(url),
            Some("data") => data_uri(url).map(|_| ()).map_err(|m| (m, "data_uri")),
            Some("file") => self.file_path(url).map(|_| ()),
            _ => Err((
                format!(
                    "unsupported URL '{}': use https://, http://, data: or file://",
                    clip(url)
                ),
                "url_scheme",
            )),
        }
    }

    /// The local file of one of this server's `/files/...` URLs (`own`
    /// lists the bases the server is known by), if `url` is one.
    pub fn own_file(&self, url: &str, own: &[String]) -> Option<PathBuf> {
        let rest = own_path(url, own)?;
        let rest = rest.split(['?', '#']).next()?;
        let safe = !rest.is_empty()
            && rest
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != "..");
        let path = self.files_dir.join(rest);
        (safe && path.is_file()).then_some(path)
    }

    /// [`Policy::check`], letting this server's own file URLs through
    /// (an upload's URL is on the server's own, often loopback, address).
    pub fn check_input(&self, url: &str, own: &[String]) -> Result<(), Refusal> {
        match self.own_file(url, own) {
            Some(_) => Ok(()),
            None if own_path(url, own).is_some() => Err((
                format!("this server has no file at '{}': uploads and results are kept for --keep-hours, so upload it again", clip(url)),
                "file_not_found",
            )),
            None => self.check(url),
        }
    }

    fn check_host(&self, url: &str) -> Result<(), Refusal> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| (format!("'{}': {e}", clip(url)), "url_parsing"))?;
        let host = parsed
            .host_str()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let listed = |h: &String| host == *h || host.ends_with(&format!(".{h}"));
        if !self.allow_hosts.is_empty() && !self.allow_hosts.iter().any(listed) {
            return Err((
                format!(
                    "'{}': this server fetches only from {} (--allow-host)",
                    clip(url),
                    self.allow_hosts.join(", ")
                ),
                "url_not_allowed",
            ));
        }
        if self.allow_private {
            return Ok(());
        }
        let refused = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => !public(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => !public(IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost") || d == "metadata.google.internal"
            }
            None => true,
        };
        if refused {
            return Err((private_refusal(url), "url_not_allowed"));
        }
        Ok(())
    }

    /// The local path of a `file://` URL, if it lies under an allowed directory.
    fn file_path(&self, url: &str) -> Result<PathBuf, Refusal> {
        let path = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.to_file_path().ok())
            .ok_or_else(|| {
                (
                    format!("'{}' is not a file URL (file:///absolute/path)", clip(url)),
                    "url_parsing",
                )
            })?;
        let real = std::fs::canonicalize(&path)
            .map_err(|e| (format!("{}: {e}", path.display()), "file_not_found"))?;
        let allowed = self
            .allow_dirs
            .iter()
            .any(|d| std::fs::canonicalize(d).is_ok_and(|d| real.starts_with(d)));
        if !allowed {
            return Err((
                format!(
                    "file URLs are refused outside the server's --allow-dir ({} is not under one)",
                    path.display()
                ),
                "file_not_allowed",
            ));
        }
        Ok(real)
    }
}

fn private_refusal(url: &str) -> String {
    format!(
        "'{}' leads to a loopback, private, link-local or metadata address; such URLs are refused unless the server runs with --allow-private-urls",
        clip(url)
    )
}

fn clip(url: &str) -> String {
    if url.len() > 80 {
        format!("{}...", &url[..url.floor_char_boundary(80)])
    } else {
        url.to_string()
    }
}

/// A routable public address (not loopback, private, link-local, CGNAT,
/// unique-local, multicast, or unspecified; IPv4-mapped addresses are judged
/// as the IPv4 address they carry).
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)))
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

/// Standard base64, padded or not (encoders differ).
const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The bytes of a `data:` URI.
fn data_uri(url: &str) -> Result<Vec<u8>, String> {
    let rest = &url[5..];
    let (meta, payload) = rest.split_once(',').ok_or_else(|| {
        "a data: URI needs a ',' before its data (data:<type>;base64,<data>)".to_string()
    })?;
    if meta.split(';').any(|p| p.eq_ignore_ascii_case("base64")) {
        let clean: String = payload
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        LENIENT
            .decode(clean)
            .map_err(|e| format!("the data: URI's base64 does not decode: {e}"))
    } else {
        Ok(percent_decode(payload))
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// What follows `/files/` in one of this server's own URLs.
fn own_path<'a>(url: &'a str, own: &[String]) -> Option<&'a str> {
    own.iter()
        .find_map(|base| url.strip_prefix(&format!("{base}/files/")))
}

/// Downloads with the policy's checks on every hop.
#[derive(Clone)]
pub struct Fetcher {
    policy: Arc<Policy>,
    client: reqwest::Client,
}

impl Fetcher {
    pub fn new(policy: Policy) -> Result<Self, String> {
        let allow_private = policy.allow_private;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("more than 5 redirects");
            }
            let url = attempt.url().clone();
            if !matches!(url.scheme(), "http" | "https") {
                return attempt.error(format!(
                    "a redirect to {} (only http and https are followed)",
                    url.scheme()
                ));
            }
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if !allow_private && literal.is_some_and(|ip| !public(ip)) {
                return attempt.error(private_refusal(url.as_str()));
            }
            attempt.follow()
        });
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .redirect(redirects)
            .dns_resolver(Arc::new(Resolver { allow_private }))
            .user_agent(concat!("vantage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client: {e}"))?;
        Ok(Fetcher {
            policy: Arc::new(policy),
            client,
        })
    }

    /// The HTTP client with the address checks (webhooks use it too).
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Bring `url` to `dir/name(.ext)`; `own` lists this server's base URLs
    /// (its `/files/...` URLs are read from disk, not downloaded).
    pub async fn fetch(
        &self,
        url: &str,
        dir: &Path,
        name: &str,
        own: &[String],
    ) -> Result<PathBuf, String> {
        if let Some(path) = self.policy.own_file(url, own) {
            return Ok(path);
        }
        let dest = dir.join(format!("{name}{}", extension(url)));
        // Each arm makes its scheme's own check (a data: URI is decoded once).
        match url
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .as_deref()
        {
            Some("data") => {
                let bytes = data_uri(url)?;
                self.limit(bytes.len() as u64)?;
                tokio::fs::write(&dest, bytes)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(dest)
            }
            Some("file") => self.policy.file_path(url).map_err(|(m, _)| m),
            Some("http" | "https") => {
                self.policy.check_host(url).map_err(|(m, _)| m)?;
                self.download(url, &dest).await.map(|()| dest)
            }
            _ => self.policy.check(url).map(|()| dest).map_err(|(m, _)| m),
        }
    }

    fn limit(&self, bytes: u64) -> Result<(), String> {
        if bytes > self.policy.max_bytes {
            return Err(format!(
                "the file is larger than this server accepts ({} MB)",
                self.policy.max_bytes / 1_000_000
            ));
        }
        Ok(())
    }

    async fn download(&self, url: &str, dest: &Path) -> Result<(), String> {
        let mut resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| describe(url, &e))?;
        if !resp.status().is_success() {
            return Err(format!(
                "downloading {}: the server answered {}",
                clip(url),
                resp.status()
            ));
        }
        if let Some(len) = resp.content_length() {
            self.limit(len)?;
        }
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| e.to_string())?;
        let mut written = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(url, &e))? {
            written += chunk.len() as u64;
            self.limit(written)?;
            file.write_all(&chunk).await.map_err(|e| e.to_string())?;
        }
        file.flush().await.map_err(|e| e.to_string())
    }
}

/// A reqwest error with its causes (the refusal of a private address is one).
fn describe(url: &str, e: &reqwest::Error) -> String {
    let mut msg = format!("downloading {}: {e}", clip(url));
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    msg
}

/// The URL path's extension, if it looks like one (ffmpeg probes content,
/// but the extension helps a person reading the work folder).
fn extension(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    match last.rsplit_once('.') {
        Some((_, ext))
            if !url.starts_with("data:")
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!(".{ext}")
        }
        _ => String::new(),
    }
}

/// DNS that refuses names resolving to non-public addresses (checked on
/// every connection, so on every redirect too).
struct Resolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && addrs.iter().any(|a| !public(a.ip())) {
                let e = std::io::Error::other(format!(
                    "{host} resolves to a loopback, private or link-local address; refused (--allow-private-urls allows it)"
                ));
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            allow_private: false,
            allow_hosts: Vec::new(),
            allow_dirs: Vec::new(),
            max_bytes: 1 << 20,
            files_dir: PathBuf::from("/nonexistent"),
        }
    }

    #[test]
    fn private_and_metadata_addresses_are_refused() {
        let p = policy();
        for url in [
            "http://127.0.0.1/x.mp4",
            "http://localhost:8080/x",
            "http://10.1.2.3/x",
            "http://192.168.0.1/x",
            "http://172.16.5.4/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/x",
            "http://[fd00:ec2::254]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://100.64.0.1/x",
            "http://0.0.0.0/x",
            "http://metadata.google.internal/x",
        ] {
            assert_eq!(
                p.check(url).map_err(|e| e.1),
                Err("url_not_allowed"),
                "{url}"
            );
        }
        assert!(p.check("https://93.184.215.14/clip.mp4").is_ok());
        assert!(p.check("https://example.com/clip.mp4").is_ok());
        let open = Policy {
            allow_private: true,
            ..policy()
        };
        assert!(open.check("http://127.0.0.1/x.mp4").is_ok());
        let listed = Policy {
            allow_hosts: vec!["media.example.org".into()],
            ..policy()
        };
        assert!(listed.check("https://media.example.org/a.mp4").is_ok());
        assert!(listed.check("https://eu.media.example.org/a.mp4").is_ok());
        assert_eq!(
            listed.check("https://example.org/a.mp4").map_err(|e| e.1),
            Err("url_not_allowed")
        );
        assert_eq!(
            listed
                .check("https://evilmedia.example.org/a.mp4")
                .map_err(|e| e.1),
            Err("url_not_allowed")
        );
    }

    #[test]
    fn schemes_and_files() {
        let p = policy();
        assert_eq!(p.check("ftp://x/y").map_err(|e| e.1), Err("url_scheme"));
        assert_eq!(p.check("/etc/passwd").map_err(|e| e.1), Err("url_scheme"));
        assert_eq!(
            p.check("file:///etc/passwd").map_err(|e| e.1),
            Err("file_not_allowed")
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.wav"), b"x").unwrap();
        let p = Policy {
            allow_dirs: vec![dir.path().into()],
            ..policy()
        };
        let url = format!("file://{}/a.wav", dir.path().display());
        assert!(p.check(&url).is_ok());
        // No escaping the allowed directory with `..`.
        let url = format!("file://{}/../../etc/passwd", dir.path().display());
        assert_eq!(p.check(&url).map_err(|e| e.1), Err("file_not_allowed"));
    }

    #[test]
    fn data_uris() {
        assert_eq!(
            data_uri("data:text/plain;base64,aGVsbG8K").unwrap(),
            b"hello\n"
        );
        assert_eq!(
            data_uri("data:text/plain;base64,aGVsbG8").unwrap(),
            b"hello"
        );
        assert_eq!(data_uri("data:,a%20b").unwrap(), b"a b");
        assert!(data_uri("data:text/plain;base64,@@@").is_err());
        assert!(data_uri("data:nocomma").is_err());
    }
}
