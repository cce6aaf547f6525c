//! The web playground `vantage serve` answers on `/`, driven in a real
//! browser (playwright-core and Debian's Chromium, `tests/clients/playground.mjs`):
//! uploads, a precision sync followed stage by stage, the result playing
//! beside the source, the report, a download, a queued and a running
//! request cancelled, errors beside their fields, and a server with keys.
//! Screenshots of every state land in `target/test-artifacts/playground-*`.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vantage_e2e::http;
use vantage_e2e::server::{client, Server};
use vantage_e2e::tools::{self, s};

fn artifacts(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/test-artifacts/{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Run the browser script; its last stdout line is what it measured.
fn browse(server: &Server, args: &[&str], env: &[(&str, &str)], shots: &Path) -> Value {
    let mut env = env.to_vec();
    env.extend([
        ("VANTAGE_DIRECT", server.direct.as_str()),
        ("ARTIFACTS", s(shots)),
    ]);
    measured(&client("playground.mjs", args, &env), shots, server)
}

/// What a browser script that succeeded measured (its last stdout line).
fn measured(out: &std::process::Output, shots: &Path, server: &Server) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nscreenshots: {}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        shots.display(),
        server.log()
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("measured JSON")
}

fn pngs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("artifacts")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    for name in &names {
        let bytes = std::fs::read(dir.join(name)).expect("screenshot");
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000,
            "{name}"
        );
    }
    names
}

#[test]
fn the_playground_syncs_follows_cancels_and_explains_errors_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = tools::slowed_clip(dir.path());
    let other_words = tools::unrelated_narration(dir.path(), "other-words.wav");
    let long = dir.path().join("long");
    std::fs::create_dir_all(&long).unwrap();
    let (long_video, long_target) =
        tools::slowed_clip_of(&long, 24, "testsrc2=size=320x180:rate=24");
    // Private URLs allowed: the failed download is one to a loopback port nothing listens on.
    let server = Server::start(
        &dir.path().join("data"),
        &["--max-running", "1", "--allow-private-urls"],
    );

    // The page, its assets and the API it uses, before any browser.
    let page = http::get(&format!("{}/", server.direct));
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(page
        .header("content-security-policy")
        .unwrap_or("")
        .contains("script-src 'self'"));
    assert!(
        page.text().contains("\"models\":[\"base\",\"tiny.en\"]"),
        "{}",
        page.text()
    );
    assert_eq!(
        http::get(&format!("{}/playground", server.direct)).text(),
        page.text()
    );
    assert_eq!(
        http::get(&format!("{}/playground/app.js", server.direct)).status,
        200
    );
    assert_eq!(
        http::get(&format!("{}/playground/nothing.js", server.direct)).status,
        404
    );
    // POST / is still the sync endpoint.
    assert_eq!(
        http::post(&format!("{}/", server.direct), &json!({})).status,
        422
    );

    let shots = artifacts("playground-run");
    let measured = browse(
        &server,
        &[
            "run",
            s(&video),
            s(&target),
            s(&other_words),
            s(&long_video),
            s(&long_target),
        ],
        &[],
        &shots,
    );

    // The result video is as long as the narration, within a frame.
    let fps = 24.0;
    let duration = measured["result_duration"].as_f64().expect("duration");
    let expected = tools::duration(&target);
    assert!(
        (duration - expected).abs() <= 1.0 / fps + 1e-3,
        "video {duration} s, narration {expected} s"
    );
    // The downloaded timecodes are the server's file: one line per source frame.
    let timecodes = measured["timecodes"].as_str().expect("timecodes");
    assert!(timecodes.starts_with("# timecode format v2"), "{timecodes}");
    let frames = tools::frame_count(&video) as usize;
    assert_eq!(timecodes.lines().count(), frames + 1);
    let downloads: Vec<&str> = measured["downloads"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(downloads.len(), 6, "{downloads:?}");

    // The queue's durable state agrees with what the page showed.
    let recent = http::get(&format!("{}/requests", server.direct)).json();
    let requests = recent["requests"].as_array().expect("requests");
    let state = |id: &Value| {
        requests
            .iter()
            .find(|r| r["request_id"] == *id)
            .cloned()
            .expect("listed")
    };
    for id in measured["cancelled"].as_array().expect("cancelled") {
        assert_eq!(state(id)["error_type"], "client_cancelled", "{}", state(id));
    }
    let done: Vec<&Value> = requests
        .iter()
        .filter(|r| r["status"] == "COMPLETED" && r["error"].is_null())
        .collect();
    let modes: Vec<&Value> = done.iter().map(|r| &r["rife_mode"]).collect();
    assert_eq!(modes, [&json!("off"), &json!("precision")], "{recent}");
    assert!(done.iter().all(|r| r["endpoint"] == "sync"));
    let mismatched = requests
        .iter()
        .find(|r| r["error_type"] == "different_content")
        .expect("the mismatch is listed");
    assert!(mismatched["audio_url"]
        .as_str()
        .unwrap()
        .ends_with("/other-words.wav"));

    let names = pngs(&shots);
    for state in [
        "empty",
        "bad-frame-rate",
        "missing-file",
        "download-failed",
        "running",
        "result-playing",
        "diagnostic",
        "reloaded",
        "mismatch",
        "queued",
        "cancelled-while-queued",
        "cancelled-while-running",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(&format!("-{state}.png"))),
            "{state}: {names:?}"
        );
    }
}

#[test]
fn the_playground_asks_for_a_key_and_says_when_it_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "the-right-key\n").unwrap();
    let server = Server::start(&dir.path().join("data"), &["--keys-file", s(&keys)]);
    // The page itself needs no key (it asks for one); the API does.
    assert_eq!(http::get(&format!("{}/", server.direct)).status, 200);
    assert_eq!(
        http::get(&format!("{}/requests", server.direct)).status,
        401
    );
    let ok = http::request(
        "GET",
        &format!("{}/requests", server.direct),
        &[("authorization", "Key the-right-key")],
        None,
    );
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["requests"], json!([]));

    let shots = artifacts("playground-keys");
    let measured = browse(&server, &["keys"], &[("KEY", "the-right-key")], &shots);
    assert!(measured["missing"]
        .as_str()
        .unwrap()
        .contains("needs an API key"));
    assert!(measured["wrong"].as_str().unwrap().contains("refused"));
    assert_eq!(pngs(&shots).len(), 3);
}

/// The server dies while the page follows a running request; restarted on
/// the same address and data, it runs the request again from its cached
/// stages, and the page, which kept asking, shows the result.
#[test]
fn the_playground_follows_a_request_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (video, target) = tools::slowed_clip_of(dir.path(), 16, "testsrc2=size=320x180:rate=24");
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut server = Server::start_at(&data, port, &[]);
    let shots = artifacts("playground-restart");
    let (pid, direct) = (server.pid().to_string(), server.direct.clone());
    let env = [
        ("VANTAGE_DIRECT", direct.as_str()),
        ("ARTIFACTS", s(&shots)),
        ("SERVER_PID", pid.as_str()),
    ];
    let (out, restarted) = std::thread::scope(|scope| {
        let browser =
            scope.spawn(|| client("playground.mjs", &["restart", s(&video), s(&target)], &env));
        // The page kills the server once the request runs.
        let deadline = Instant::now() + Duration::from_secs(300);
        while !server.exited() {
            assert!(
                Instant::now() < deadline,
                "the page never killed the server"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let restarted = Server::start_at(&data, port, &[]);
        (browser.join().expect("the browser thread"), restarted)
    });
    let measured = measured(&out, &shots, &restarted);
    assert!(
        measured["away"]
            .as_str()
            .unwrap_or("")
            .contains("does not answer"),
        "{measured}"
    );
    let duration = measured["result_duration"].as_f64().expect("duration");
    let expected = tools::duration(&target);
    assert!(
        (duration - expected).abs() <= 1.0 / 24.0 + 1e-3,
        "video {duration} s, narration {expected} s"
    );
}
