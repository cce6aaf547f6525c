//! `vantage serve` over plain HTTP: every direct endpoint on real media,
//! the errors a caller meets, address checks, keys, webhooks, a restart.

use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use vantage_e2e::http::{self, Listener};
use vantage_e2e::server::Server;
use vantage_e2e::tools::{self, s};

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// Download `url` into `dir/name`.
fn download(url: &str, dir: &Path, name: &str) -> std::path::PathBuf {
    let a = http::get(url);
    assert_eq!(a.status, 200, "{url}");
    let path = dir.join(name);
    std::fs::write(&path, &a.body).unwrap();
    path
}

fn detail(a: &http::Answer) -> (Value, String) {
    let j = a.json();
    (
        j["detail"][0]["loc"].clone(),
        j["detail"][0]["type"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn direct_endpoints_sync_diagnose_batch_stream_and_compose() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = tools::slowed_clip(dir.path());
    // The video comes over HTTP from a server of the test's own, the audio from a file.
    let media = std::fs::read(&video).unwrap();
    let origin = Listener::start(move |_, _| (200, "video/mp4", media.clone()));
    let server = Server::start(
        &dir.path().join("data"),
        &["--allow-private-urls", "--allow-dir", s(dir.path())],
    );
    let api = &server.direct;
    let input = json!({"video_url": format!("{}/clip.mp4", origin.url), "audio_url": file_url(&target), "rife_mode": "off"});

    let a = http::post(&format!("{api}/sync"), &input);
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(a.header("x-fal-request-id").is_some());
    let r = a.json();
    let out = r["synchronized_video_url"].as_str().unwrap();
    assert!(out.starts_with(&format!("{api}/files/")), "{out}");
    let got = download(out, dir.path(), "synced.mp4");
    let meta = &r["metadata"];
    assert_eq!(
        tools::frame_count(&got),
        meta["output_frames"].as_u64().unwrap()
    );
    assert!(
        (tools::duration(&got) - meta["target_duration"].as_f64().unwrap()).abs() < 0.15,
        "{meta}"
    );
    assert!(
        meta["repeated_frames"].as_u64().unwrap() > 0,
        "a slowed picture repeats frames in mode off: {meta}"
    );
    assert!(meta["anchors_used"].as_u64().unwrap() >= 2, "{meta}");
    assert_eq!(origin.count(), 1);

    // A browser can scrub: ranges and the content type.
    let part = http::request("GET", out, &[("range", "bytes=0-99")], None);
    assert_eq!((part.status, part.body.len()), (206, 100));
    assert_eq!(part.header("content-type"), Some("video/mp4"));
    let timecodes = http::get(r["timecodes_url"].as_str().unwrap()).text();
    assert!(timecodes.starts_with("# timecode format v2"), "{timecodes}");

    // The diagnostic under an app prefix reuses every cached stage of the sync.
    let a = http::post(&format!("{api}/local/vantage/diagnostic"), &input);
    assert_eq!(a.status, 200, "{}", a.text());
    let d = a.json();
    let cached = d["metadata"]["cache_hits"].as_u64().unwrap();
    assert!(cached >= 6, "{}", d["metadata"]);
    let diag = download(
        d["diagnostic_video_url"].as_str().unwrap(),
        dir.path(),
        "diag.mp4",
    );
    assert_eq!(
        tools::frame_count(&diag),
        meta["output_frames"].as_u64().unwrap()
    );
    let report = http::get(d["report_url"].as_str().unwrap());
    assert!(report
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));

    // A batch: each item its own result or its own error.
    let silence = dir.path().join("silence.wav");
    tools::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-t",
        "3",
        s(&silence),
    ]);
    let bad =
        json!({"video_url": file_url(&video), "audio_url": file_url(&silence), "rife_mode": "off"});
    let a = http::post(&format!("{api}/batch"), &json!({"inputs": [input, bad]}));
    assert_eq!(a.status, 200, "{}", a.text());
    let outputs = a.json()["outputs"].clone();
    assert!(
        outputs[0]["synchronized_video_url"].is_string(),
        "{outputs}"
    );
    assert_eq!(outputs[1]["error_type"], "invalid_input", "{outputs}");
    assert!(
        outputs[1]["detail"].as_str().unwrap().contains("speech"),
        "{outputs}"
    );

    // /stream: progress events, then the result as the last one.
    let a = http::post(
        &format!("{api}/stream"),
        &json!({"video_url": file_url(&video), "audio_url": file_url(&target), "rife_mode": "blend"}),
    );
    assert_eq!(a.status, 200);
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let events: Vec<Value> = a
        .text()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "progress" && e["stage"] == "interpolate"),
        "{events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "result", "{last}");
    assert!(
        last["metadata"]["blended_frames"].as_u64().unwrap() > 0,
        "{last}"
    );

    // Any allowed pipeline, inputs by URL, typed parameters.
    let body = json!({"inputs": {"video": file_url(&video), "audio": file_url(&target)}, "params": {"analyze.on_mismatch": "fail"}, "outputs": ["video", "timecodes"]});
    let a = http::post(&format!("{api}/pipelines/sync-vfr"), &body);
    assert_eq!(a.status, 200, "{}", a.text());
    let p = a.json();
    assert!(
        p["outputs"]["video"]
            .as_str()
            .unwrap()
            .ends_with("/video.mp4"),
        "{p}"
    );
    assert!(
        p["outputs"]["timecodes"]
            .as_str()
            .unwrap()
            .ends_with("/timecodes.txt"),
        "{p}"
    );
    let vfr = download(
        p["outputs"]["video"].as_str().unwrap(),
        dir.path(),
        "vfr.mp4",
    );
    assert_eq!(
        tools::frame_count(&vfr),
        tools::frame_count(&video),
        "vfr keeps every source frame"
    );
    let a = http::post(&format!("{api}/pipelines/nope"), &body);
    assert_eq!(a.status, 404);
    let a = http::post(
        &format!("{api}/pipelines/sync"),
        &json!({"inputs": {"video": file_url(&video)}, "params": {"analyze.colour": 1}}),
    );
    assert_eq!(a.status, 422, "{}", a.text());

    // The queue without an app prefix: the URLs it hands out work.
    let a = http::post(&format!("{}/sync", server.queue), &input);
    assert_eq!(a.status, 200, "{}", a.text());
    let submitted = a.json();
    let status_url = submitted["status_url"].as_str().unwrap();
    let start = Instant::now();
    while http::get(status_url).json()["status"] != "COMPLETED" {
        assert!(start.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = http::get(submitted["response_url"].as_str().unwrap());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["metadata"]["output_frames"], meta["output_frames"]);

    let health = http::get(&format!("{api}/health/ready"));
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (200, json!("ready"))
    );
}

#[test]
fn bad_requests_get_422_naming_the_field_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = tools::slowed_clip(dir.path());
    let server = Server::start(&dir.path().join("data"), &["--allow-dir", s(dir.path())]);
    let sync = format!("{}/sync", server.direct);
    let base = json!({"video_url": file_url(&video), "audio_url": file_url(&target)});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, loc, kind) in [
        (
            with("colour", json!("red")),
            json!(["body", "colour"]),
            "extra_forbidden",
        ),
        (
            with("rife_mode", json!("fast")),
            json!(["body", "rife_mode"]),
            "enum",
        ),
        (
            with("diagnostic_mode", json!("yes")),
            json!(["body", "diagnostic_mode"]),
            "type_error",
        ),
        (
            with("fps", json!("fast")),
            json!(["body", "fps"]),
            "value_error",
        ),
        (
            with("whisper_model", json!("../../etc/passwd")),
            json!(["body", "whisper_model"]),
            "value_error",
        ),
        (
            with("video_url", json!("ftp://x/y.mp4")),
            json!(["body", "video_url"]),
            "url_scheme",
        ),
        (
            with("video_url", json!("file:///etc/hostname")),
            json!(["body", "video_url"]),
            "file_not_allowed",
        ),
        (
            with("audio_url", json!("data:audio/wav;base64,@@@")),
            json!(["body", "audio_url"]),
            "data_uri",
        ),
        (
            json!({"audio_url": "https://example.com/a.wav"}),
            json!(["body", "video_url"]),
            "missing",
        ),
    ] {
        let a = http::post(&sync, &body);
        assert_eq!(a.status, 422, "{body}: {}", a.text());
        assert_eq!(detail(&a), (loc, kind.to_string()), "{body}");
    }
    let a = http::request(
        "POST",
        &sync,
        &[("content-type", "application/json")],
        Some(b"{not json"),
    );
    assert_eq!((a.status, detail(&a).1.as_str()), (422, "json_invalid"));
    // Addresses: loopback, private and metadata URLs are refused before any traffic.
    let origin = Listener::start(|_, _| (200, "video/mp4", b"x".to_vec()));
    for url in [
        format!("{}/clip.mp4", origin.url),
        "http://localhost:9/x.mp4".into(),
        "http://169.254.169.254/latest".into(),
        "http://[::1]/x".into(),
    ] {
        let a = http::post(&sync, &with("video_url", json!(url)));
        assert_eq!(detail(&a).1, "url_not_allowed", "{url}: {}", a.text());
    }
    assert_eq!(origin.count(), 0, "nothing was fetched");
    // Media that cannot work is a finished request with its error, not a 500.
    let different = tools::unrelated_narration(dir.path(), "different.wav");
    let a = http::post(&sync, &with("audio_url", json!(file_url(&different))));
    assert_eq!(a.status, 422, "{}", a.text());
    let e = a.json();
    assert_eq!(e["error_type"], "different_content", "{e}");
    assert_eq!(e["remedies"][0]["field"], "on_mismatch", "{e}");
    assert_eq!(a.header("x-fal-error-type"), Some("different_content"));
    let a = http::post(
        &sync,
        &with("audio_url", json!(file_url(&video.with_extension("none")))),
    );
    assert_eq!(a.status, 422, "{}", a.text());
}

#[test]
fn keys_are_checked_and_required_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "# team keys\nsecret-1\nsecret-2\n").unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--keys-file", s(&keys), "--max-body-mb", "1"],
    );
    let url = format!("{}/sync", server.direct);
    for auth in [None, Some("Key wrong")] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
        let a = http::request("POST", &url, &headers, Some(b"{}"));
        assert_eq!(a.status, 401, "{auth:?}");
        assert_eq!(a.json()["error_type"], "unauthorized", "{}", a.text());
    }
    let a = http::request(
        "POST",
        &url,
        &[("authorization", "Key secret-2")],
        Some(b"{}"),
    );
    assert_eq!(a.status, 422, "authorised, then validated: {}", a.text());
    assert_eq!(
        http::get(&format!("{}/health", server.direct)).status,
        200,
        "health needs no key"
    );
    // A body over the limit is a JSON 413, before anything is parsed.
    let big = vec![b' '; 2 << 20];
    let a = http::request(
        "POST",
        &url,
        &[("authorization", "Key secret-1")],
        Some(&big),
    );
    assert_eq!(a.status, 413);
    assert_eq!(a.json()["error_type"], "request_too_large");
    drop(server);
    let out = vantage_e2e::vantage::run(
        dir.path(),
        &[
            "serve",
            "--data",
            s(&dir.path().join("d2")),
            "--listen",
            "0.0.0.0:0",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        vantage_e2e::vantage::stderr(&out).contains("--keys-file"),
        "{}",
        vantage_e2e::vantage::stderr(&out)
    );
}

fn wait_completed(queue: &str, id: &str, within: Duration) -> Value {
    let start = Instant::now();
    loop {
        let st = http::get(&format!(
            "{queue}/local/vantage/requests/{id}/status?logs=1"
        ))
        .json();
        if st["status"] == "COMPLETED" {
            return st;
        }
        assert!(
            start.elapsed() < within,
            "{id} not completed after {within:?}: {st}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn submit(queue: &str, body: &Value, query: &str) -> http::Answer {
    http::post(&format!("{queue}/local/vantage/sync{query}"), body)
}

#[test]
fn webhooks_are_retried_until_the_receiver_takes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = tools::slowed_clip(dir.path());
    // The receiver fails twice, then accepts.
    let hook = Listener::start(|_, n| {
        (
            if n < 2 { 500 } else { 200 },
            "application/json",
            b"{}".to_vec(),
        )
    });
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--allow-dir",
            s(dir.path()),
            "--allow-private-urls",
            "--webhook-backoff",
            "0.2",
        ],
    );
    let body =
        json!({"video_url": file_url(&video), "audio_url": file_url(&target), "rife_mode": "off"});
    let q = format!(
        "?fal_webhook={}",
        url_escape(&format!("{}/hook?job=1", hook.url))
    );
    let a = submit(&server.queue, &body, &q);
    assert_eq!(a.status, 200, "{}", a.text());
    let id = a.json()["request_id"].as_str().unwrap().to_string();
    wait_completed(&server.queue, &id, Duration::from_secs(300));
    let start = Instant::now();
    while hook.count() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "webhook attempts: {}",
            hook.count()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(800));
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3, "no attempt after the receiver took it");
    let (method, path, bytes) = &received[2];
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/hook?job=1"));
    let hooked: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(hooked["request_id"], json!(id));
    assert_eq!(hooked["status"], "OK");
    assert!(
        hooked["payload"]["synchronized_video_url"].is_string(),
        "{hooked}"
    );
    // A webhook to a private address is refused when such URLs are.
    drop(server);
    let strict = Server::start(&dir.path().join("data2"), &["--allow-dir", s(dir.path())]);
    let a = submit(&strict.queue, &body, &q);
    assert_eq!(a.status, 422, "{}", a.text());
    assert_eq!(detail(&a).0, json!(["query", "fal_webhook"]));
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn queued_work_survives_a_crash_and_a_full_queue_says_when_to_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = tools::slowed_clip(dir.path());
    let data = dir.path().join("data");
    let opts = [
        "--allow-dir",
        s(dir.path()),
        "--max-running",
        "1",
        "--max-queue",
        "2",
        "--grace",
        "300",
    ];
    let server = Server::start(&data, &opts);
    let slow = json!({"video_url": file_url(&video), "audio_url": file_url(&target), "rife_mode": "maximum"});
    let quick =
        json!({"video_url": file_url(&video), "audio_url": file_url(&target), "rife_mode": "off"});
    let id = |a: http::Answer| {
        assert_eq!(a.status, 200, "{}", a.text());
        a.json()["request_id"].as_str().unwrap().to_string()
    };
    let running = id(submit(&server.queue, &slow, ""));
    let start = Instant::now();
    loop {
        let st = http::get(&format!(
            "{}/local/vantage/requests/{running}/status?logs=1",
            server.queue
        ))
        .json();
        let rendering = st["logs"].as_array().is_some_and(|l| {
            l.iter().any(|e| {
                e["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("interpolate:")
            })
        });
        if rendering {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A start deadline passes while the slot is taken: it times out.
    let late = http::request(
        "POST",
        &format!("{}/local/vantage/sync", server.queue),
        &[
            ("content-type", "application/json"),
            ("x-fal-request-timeout", "1.5"),
        ],
        Some(quick.to_string().as_bytes()),
    );
    let late = id(late);
    let st = wait_completed(&server.queue, &late, Duration::from_secs(10));
    assert_eq!(st["error_type"], "request_timeout", "{st}");
    let r = http::get(&format!("{}/local/vantage/requests/{late}", server.queue));
    assert_eq!(
        (r.status, r.header("x-fal-request-timeout-type")),
        (504, Some("user"))
    );
    let queued = [
        id(submit(&server.queue, &quick, "")),
        id(submit(&server.queue, &quick, "")),
    ];
    let st = http::get(&format!(
        "{}/local/vantage/requests/{}/status",
        server.queue, queued[1]
    ))
    .json();
    assert_eq!(
        (st["status"].as_str(), st["queue_position"].as_u64()),
        (Some("IN_QUEUE"), Some(1))
    );
    // The status stream says so at once, not at the next change.
    let url = format!(
        "{}/local/vantage/requests/{}/status/stream",
        server.queue, queued[1]
    );
    let first = http::first_event(&url, Duration::from_secs(5));
    assert_eq!(
        (first["status"].as_str(), first["queue_position"].as_u64()),
        (Some("IN_QUEUE"), Some(1))
    );
    let full = submit(&server.queue, &quick, "");
    assert_eq!(full.status, 429);
    assert!(full.header("retry-after").is_some());
    server.kill();

    let server = Server::start(&data, &opts);
    for id in queued.iter().chain([&running]) {
        let st = wait_completed(&server.queue, id, Duration::from_secs(600));
        assert!(st.get("error").is_none(), "{st}");
        let r = http::get(&format!("{}/local/vantage/requests/{id}", server.queue));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-fal-request-id"), Some(id.as_str()));
        assert!(r.json()["synchronized_video_url"]
            .as_str()
            .unwrap()
            .starts_with(&server.queue));
    }
    let st = wait_completed(&server.queue, &running, Duration::from_secs(1));
    let logs: Vec<&str> = st["logs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["message"].as_str())
        .collect();
    assert!(logs.iter().any(|m| m.contains("restarted")), "{logs:?}");
    // The stages it finished before the crash were reused.
    let cached = logs.iter().filter(|m| m.ends_with(": cached")).count();
    assert!(cached >= 4, "{logs:?}");

    // SIGTERM: the running request finishes within the grace period, the
    // queued one stays queued for the next start.
    let slow2 = json!({"video_url": file_url(&video), "audio_url": file_url(&target), "rife_mode": "precision"});
    let running = id(submit(&server.queue, &slow2, ""));
    let waiting = id(submit(&server.queue, &quick, "?x=1"));
    while http::get(&format!(
        "{}/local/vantage/requests/{running}/status",
        server.queue
    ))
    .json()["status"]
        != "IN_PROGRESS"
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let server_log = server.log();
    server.terminate();
    let record = |id: &str| -> Value {
        serde_json::from_slice(
            &std::fs::read(data.join("queue").join(format!("{id}.json"))).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(record(&running)["state"], "completed");
    assert_eq!(
        record(&running)["outcome"]["status"],
        200,
        "{}\n{}",
        record(&running),
        server_log
    );
    assert_eq!(record(&waiting)["state"], "queued");
}

/// The Python client over HTTPS with a self-signed certificate the test
/// makes, configured by environment variables only.
#[test]
fn the_official_python_client_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = tools::slowed_clip(dir.path());
    let (cert, key) = vantage_e2e::server::self_signed(dir.path());
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "test-key\n").unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&key),
            "--keys-file",
            s(&keys),
            "--max-running",
            "1",
        ],
    );
    let host = |url: &str| url.trim_start_matches("https://").to_string();
    let (run_host, queue_host) = (host(&server.direct), host(&server.queue));
    let out = vantage_e2e::server::client(
        "python_client.py",
        &[s(&video), s(&target)],
        &[
            ("FAL_KEY", "test-key"),
            ("FAL_RUN_HOST", &run_host),
            ("FAL_QUEUE_RUN_HOST", &queue_host),
            ("SSL_CERT_FILE", s(&cert)),
            ("NO_PROXY", "127.0.0.1,localhost"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let measured: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
    eprintln!("python client: {measured}");
    assert!(measured["cancel_seconds"].as_f64().unwrap() < 2.0);
}

/// The JavaScript client under Node through its proxy setting and a request
/// middleware, with its storage upload.
#[test]
fn the_official_javascript_client_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = tools::slowed_clip(dir.path());
    let server = Server::start(&dir.path().join("data"), &[]);
    let out = vantage_e2e::server::client(
        "js_client.mjs",
        &[s(&video), s(&target)],
        &[
            ("FAL_KEY", "any"),
            ("VANTAGE_DIRECT", &server.direct),
            ("VANTAGE_QUEUE", &server.queue),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let measured: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
    assert_eq!(measured["validation"], "enum");
}

/// `/openapi.json` passes an OpenAPI validator, and schemathesis, fuzzing
/// every endpoint from it, finds no 5xx and no response outside the schema.
#[test]
fn the_openapi_document_is_valid_and_the_api_keeps_to_it() {
    let dir = tempfile::tempdir().unwrap();
    // Input URLs may only name a host that does not exist: the fuzzer's
    // requests never leave the machine.
    let server = Server::start(&dir.path().join("data"), &["--allow-host", "media.invalid"]);
    let doc = format!("{}/openapi.json", server.direct);
    let python = vantage_e2e::server::python();
    let check = "import json, sys, urllib.request\nfrom openapi_spec_validator import validate\nd = json.load(urllib.request.urlopen(sys.argv[1]))\nvalidate(d)\nprint(d['openapi'], len(d['paths']))";
    let out = std::process::Command::new(&python)
        .args(["-c", check, &doc])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("3.1.0"));
    let st = python.with_file_name("st");
    let out = std::process::Command::new(st)
        .args(["run", &doc, "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        .args(["--max-examples", "30", "--request-timeout", "60", "--generation-deterministic"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}
