//! Plain HTTP to a test server: every status is an answer, not an error.

use std::time::Duration;

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One agent for the process: it keeps connections alive between requests.
fn agent() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into()
    })
}

/// `METHOD url` with `headers` and an optional body.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.map(<[u8]>::to_vec).unwrap_or_default())
        .expect("request");
    let mut resp = agent()
        .run(req)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

pub fn get(url: &str) -> Answer {
    request("GET", url, &[], None)
}

/// POST a JSON body.
pub fn post(url: &str, body: &serde_json::Value) -> Answer {
    let bytes = serde_json::to_vec(body).expect("json");
    request(
        "POST",
        url,
        &[("content-type", "application/json")],
        Some(&bytes),
    )
}

/// What a [`Listener`] received: method, path, body.
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A minimal HTTP server on a free loopback port, for the server under test
/// to talk to (input downloads, webhooks). `answer` makes each response
/// (status, content type, body) from the request's path and its index.
pub struct Listener {
    pub url: String,
    pub received: Received,
}

impl Listener {
    pub fn start<F>(answer: F) -> Listener
    where
        F: Fn(&str, usize) -> (u16, &'static str, Vec<u8>) + Send + 'static,
    {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let received: Received = Default::default();
        let log = received.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break 0,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                };
                if head_end == 0 {
                    continue;
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let mut first = head.lines().next().unwrap_or("").split(' ');
                let (method, path) = (
                    first.next().unwrap_or("").to_string(),
                    first.next().unwrap_or("").to_string(),
                );
                let body = buf[head_end..].to_vec();
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((method, path.clone(), body));
                let (status, kind, out) = answer(&path, n);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    out.len()
                );
                let _ = stream.write_all(&out);
            }
        });
        Listener { url, received }
    }

    pub fn count(&self) -> usize {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// The first server-sent event of `url` (plain http), waiting at most
/// `within` for it: the event's `data:` JSON.
pub fn first_event(url: &str, within: Duration) -> serde_json::Value {
    use std::io::{BufRead, BufReader, Write};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut conn = std::net::TcpStream::connect(host).expect("connecting");
    conn.set_read_timeout(Some(within)).expect("timeout");
    write!(
        conn,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("sending");
    let mut lines = BufReader::new(conn).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{url}: the stream ended before an event"))
            .unwrap_or_else(|e| panic!("{url}: no event within {within:?} ({e})"));
        if let Some(data) = line.strip_prefix("data:") {
            return serde_json::from_str(data.trim()).expect("event JSON");
        }
    }
}
