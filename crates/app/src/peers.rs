//! Peers reached through the queue protocol `vantage serve` speaks (fal's):
//! a piece is submitted to `{peer}/pieces`, its status polled, its result
//! read; abandoning it cancels it there. A peer is another replica's queue
//! listener, or on fal the app's own queue (`https://queue.fal.run/OWNER/APP`).

use serde_json::Value;
use std::time::Duration;
use vantage_runner::{PeerLink, PieceRequest};

/// Status polls in a row that may fail (a restarting proxy, a dropped
/// connection) before the peer counts as gone.
const POLL_FAILURES: u32 = 3;

pub struct QueuePeer {
    base: String,
    /// Sent as `Authorization: Key ...` (the peer's key, or `FAL_KEY`).
    key: Option<String>,
    agent: ureq::Agent,
    poll: Duration,
}

impl QueuePeer {
    /// The peer whose queue is at `base` (`http(s)://host[:port][/owner/app]`).
    pub fn new(base: &str, key: Option<String>) -> Result<Self, String> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "--peer {base}: a peer is the http(s) URL of another replica's queue"
            ));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Ok(Self {
            base: base.to_string(),
            key,
            agent,
            poll: Duration::from_millis(200),
        })
    }

    /// `method url` with a JSON body: the status and the JSON answer.
    fn call(&self, method: &str, url: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json");
        if let Some(key) = &self.key {
            req = req.header("authorization", format!("Key {key}"));
        }
        let bytes = body.map(Value::to_string).unwrap_or_default().into_bytes();
        let req = req.body(bytes).map_err(|e| format!("{url}: {e}"))?;
        let mut resp = self.agent.run(req).map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let raw = resp
            .body_mut()
            .read_to_vec()
            .map_err(|e| format!("{url}: {e}"))?;
        Ok((status, serde_json::from_slice(&raw).unwrap_or(Value::Null)))
    }

    /// Poll `status_url` until COMPLETED; `Ok(false)` when `stop` said so.
    fn wait(&self, status_url: &str, stop: &dyn Fn() -> bool) -> Result<bool, String> {
        let mut failures = 0;
        loop {
            if stop() {
                return Ok(false);
            }
            match self.call("GET", status_url, None) {
                Ok((200..=299, body)) if body["status"] == "COMPLETED" => return Ok(true),
                Ok((200..=299, _)) => failures = 0,
                Ok((status, body)) => return Err(format!("status {status}: {}", detail(&body))),
                Err(_) if failures + 1 < POLL_FAILURES => failures += 1,
                Err(e) => return Err(e),
            }
            std::thread::sleep(self.poll);
        }
    }
}

impl PeerLink for QueuePeer {
    fn name(&self) -> String {
        self.base.clone()
    }

    fn run(&self, request: &PieceRequest, stop: &dyn Fn() -> bool) -> Result<(), String> {
        let body = serde_json::to_value(request).map_err(|e| e.to_string())?;
        let (status, submitted) =
            self.call("POST", &format!("{}/pieces", self.base), Some(&body))?;
        if !(200..300).contains(&status) {
            return Err(format!("refused ({status}): {}", detail(&submitted)));
        }
        let url = |name: &str| {
            submitted[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("its queue answered without a {name}: {submitted}"))
        };
        let (status_url, response_url) = (url("status_url")?, url("response_url")?);
        if !self.wait(&status_url, stop)? {
            if let Ok(cancel_url) = url("cancel_url") {
                let _ = self.call("PUT", &cancel_url, None);
            }
            return Err("abandoned".into());
        }
        match self.call("GET", &response_url, None)? {
            (200..=299, _) => Ok(()),
            (status, body) => Err(format!("failed ({status}): {}", detail(&body))),
        }
    }
}

/// The readable part of an error body (`detail`, fal's and ours).
fn detail(body: &Value) -> String {
    match &body["detail"] {
        Value::String(s) => s.clone(),
        Value::Null => body.to_string(),
        other => other.to_string(),
    }
}
