//! A real S3-compatible server for a test: `s3s-fs` (installed by
//! `scripts/setup.sh --tests` into `target/tools/bin`) on a free loopback
//! port, storing objects as plain files under a temporary root, which is
//! how integrity tests damage an object behind the server's back.

use crate::tools::s;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "vantage";
const ACCESS_KEY: &str = "vantage-test";
const SECRET_KEY: &str = "vantage-test-secret";

pub struct S3 {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Objects live at `root/BUCKET/KEY`.
    pub root: PathBuf,
}

/// The s3s-fs binary: `$S3S_FS`, or where setup installs it.
pub fn binary() -> PathBuf {
    std::env::var_os("S3S_FS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/s3s-fs"))
}

impl S3 {
    /// Start s3s-fs with its objects under `root` and the bucket created.
    pub fn start(root: &Path) -> S3 {
        std::fs::create_dir_all(root.join(BUCKET)).expect("creating the bucket folder");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(s(root))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting {} (scripts/setup.sh --tests installs it): {e}",
                    binary().display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not open port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3 {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            root: root.to_path_buf(),
        }
    }

    /// The environment a client of this server needs (the usual AWS variables).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// `s3://vantage/PREFIX`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// A client for `prefix` on this server.
    pub fn bucket(&self, prefix: &str) -> vantage_s3::Bucket {
        self.bucket_with(prefix, SECRET_KEY)
    }

    /// The same with another secret key (which the server must refuse).
    pub fn bucket_with(&self, prefix: &str, secret: &str) -> vantage_s3::Bucket {
        let credentials = vantage_s3::Credentials {
            access_key: ACCESS_KEY.into(),
            secret_key: secret.into(),
            session_token: None,
        };
        vantage_s3::Bucket::new(
            &self.endpoint,
            "us-east-1",
            BUCKET,
            prefix,
            true,
            credentials,
        )
        .expect("a valid endpoint")
    }

    /// The file holding object `key` (a full key, prefix included).
    pub fn object(&self, key: &str) -> PathBuf {
        self.root.join(BUCKET).join(key)
    }

    /// Every object key under `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else if let Ok(rel) = path.strip_prefix(base) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        let base = self.root.join(BUCKET);
        let mut out = Vec::new();
        walk(&base.join(prefix), &base, &mut out);
        out.retain(|k| !k.contains(".s3s") && !k.ends_with(".json.meta"));
        out.sort();
        out
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
