//! A `vantage serve` process for a test: its addresses, its data folder,
//! and the official clients pointed at it.

use crate::tools::s;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    /// `http(s)://127.0.0.1:PORT` of the direct API and of the queue.
    pub direct: String,
    pub queue: String,
    pub data: PathBuf,
    /// Everything the server printed so far.
    pub log: Arc<Mutex<String>>,
}

/// The weights `scripts/test.sh` installed for the tests.
pub fn weights() -> PathBuf {
    crate::vantage::weights_dir()
}

impl Server {
    /// Start `vantage serve` on free loopback ports with its data in `data`
    /// (`extra` adds options); returns once both listeners accept.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_env(data, extra, &[])
    }

    /// The same with `env` added to its environment.
    pub fn start_env(data: &Path, extra: &[&str], env: &[(&str, String)]) -> Server {
        let mut command = crate::vantage::command();
        command
            .args(["serve", "--data", s(data), "--weights", s(&weights())])
            .args(["--listen", "127.0.0.1:0", "--queue-listen", "127.0.0.1:0"])
            .args(extra)
            .env("VANTAGE_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)));
        Server::spawn(command, data)
    }

    /// [`Server::start`] with the direct listener on `127.0.0.1:port`
    /// (a server restarted where a page or client expects it).
    pub fn start_at(data: &Path, port: u16, extra: &[&str]) -> Server {
        let mut command = crate::vantage::command();
        let listen = format!("127.0.0.1:{port}");
        command
            .args(["serve", "--data", s(data), "--weights", s(&weights())])
            .args(["--listen", &listen, "--queue-listen", "127.0.0.1:0"])
            .args(extra)
            .env("VANTAGE_LOG", "warn");
        Server::spawn(command, data)
    }

    /// Whether the process has ended (killed from outside, crashed).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Run `command` (something that ends in `vantage serve` with both
    /// listeners) and wait until both accept.
    pub fn spawn(mut command: Command, data: &Path) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting vantage serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
                let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut urls = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        while urls.len() < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(url) => urls.push(url),
                Err(_) => {
                    let _ = child.kill();
                    panic!("vantage serve did not start: {}", log.lock().unwrap());
                }
            }
        }
        let pick = |kind: &str| {
            let line = urls
                .iter()
                .find(|u| u.ends_with(&format!("({kind})")))
                .expect("listener");
            // A server bound to every interface is reached on loopback.
            let url = line.split(' ').next().unwrap_or_default();
            url.replace("://0.0.0.0:", "://127.0.0.1:")
        };
        Server {
            direct: pick("direct"),
            queue: pick("queue"),
            data: data.to_path_buf(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process dies mid-work, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the process to exit; returns how long it took.
    pub fn terminate(mut self) -> Duration {
        let start = Instant::now();
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        start.elapsed()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/clients`: the client scripts and their pinned installs.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// The venv's python with the pinned `fal-client` (made by `scripts/setup.sh --tests`).
pub fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/clients-venv/bin/python");
    assert!(
        venv.is_file(),
        "{} is missing: run scripts/setup.sh --tests",
        venv.display()
    );
    venv
}

/// Run `tests/clients/SCRIPT` (Python or Node by its extension) with `env`.
pub fn client(script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let path = clients_dir().join(script);
    let mut cmd = if script.ends_with(".py") {
        Command::new(python())
    } else {
        Command::new("node")
    };
    cmd.arg(&path).args(args).current_dir(clients_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running a client script")
}

/// A self-signed certificate for 127.0.0.1 in `dir`: (cert.pem, key.pem).
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-keyout", s(&key), "-out", s(&cert)])
        .output()
        .expect("running openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
