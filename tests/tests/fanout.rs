//! A long render fanned out across two `vantage serve` replicas that share
//! an s3s-fs remote cache: the leader hands segments to its peer's queue,
//! the joined video has the frames of the same render on one machine
//! (decoded frames equal: each segment is encoded on its own either way),
//! and a peer killed mid-render costs only its segment.

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use vantage_e2e::http;
use vantage_e2e::s3::S3;
use vantage_e2e::server::Server;
use vantage_e2e::tools::{self, s, slowed_clip};
use vantage_e2e::vantage::{run, stderr, sync_args};

/// The log lines of queued request `status_url` so far, and its status.
fn status(status_url: &str) -> (String, Vec<String>) {
    let st = http::get(&format!("{status_url}?logs=1")).json();
    let logs = st["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["message"].as_str().map(str::to_string))
        .collect();
    (st["status"].as_str().unwrap_or("").to_string(), logs)
}

fn count(logs: &[String], needle: &str) -> usize {
    logs.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn a_render_fanned_out_to_a_peer_that_dies_has_the_frames_of_one_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, target) = slowed_clip(dir.path());

    // The reference: the same render on one machine, no remote tier.
    let alone = dir.path().join("alone.mp4");
    let alone_log = dir.path().join("alone.json");
    let args = sync_args(
        &video,
        &target,
        &alone,
        &[
            "--mode",
            "precision",
            "--set",
            "interpolate.segment_seconds=1",
            "--frames",
            s(&alone_log),
        ],
    );
    let o = run(&dir.path().join("cli-cache"), &args);
    assert!(o.status.success(), "{}", stderr(&o));

    let s3 = S3::start(&dir.path().join("s3"));
    let env = s3.env();
    let cache = s3.url("shared/cache");
    let common = [
        "--allow-dir",
        s(dir.path()),
        "--cache-remote",
        cache.as_str(),
    ];
    let peer = Server::start_env(&dir.path().join("peer"), &common, &env);
    let mut lead_args = common.to_vec();
    lead_args.extend(["--peer", peer.queue.as_str()]);
    let lead = Server::start_env(&dir.path().join("lead"), &lead_args, &env);

    let input = json!({
        "inputs": {
            "video": format!("file://{}", video.display()),
            "audio": format!("file://{}", target.display()),
        },
        "params": {"interpolate.mode": "precision", "interpolate.segment_seconds": 1},
    });
    let submitted = http::post(&format!("{}/pipelines/sync", lead.queue), &input);
    assert_eq!(submitted.status, 200, "{}", submitted.text());
    let submitted = submitted.json();
    let status_url = submitted["status_url"].as_str().expect("status url");
    let peer_url = peer.queue.clone();
    let sent = format!("sent to {peer_url}");

    // The peer renders one segment, takes the next, and dies in it.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (state, logs) = status(status_url);
        assert_ne!(
            state, "COMPLETED",
            "finished before the peer was killed: {logs:?}"
        );
        if count(&logs, &sent) >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no second segment for the peer: {logs:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    peer.kill();

    let (state, logs) = loop {
        let (state, logs) = status(status_url);
        if state == "COMPLETED" || Instant::now() > deadline {
            break (state, logs);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(state, "COMPLETED", "{logs:?}");
    let result = http::get(submitted["response_url"].as_str().expect("response url"));
    assert_eq!(
        result.status,
        200,
        "{}\n{logs:#?}\n{}",
        result.text(),
        lead.log()
    );
    let result: Value = result.json();

    let by_peer = format!("rendered by {peer_url}");
    assert!(
        count(&logs, &by_peer) >= 1,
        "the peer made a segment: {logs:#?}"
    );
    assert!(
        count(&logs, "it is rendered elsewhere") == 1,
        "the killed peer's segment was made here: {logs:#?}"
    );

    let url = result["outputs"]["video"].as_str().expect("video url");
    let fanned = dir.path().join("fanned.mp4");
    std::fs::write(&fanned, http::get(url).body).expect("writing");
    let log: Value = http::get(result["outputs"]["frames"].as_str().expect("frames url")).json();
    let alone_log: Value =
        serde_json::from_slice(&std::fs::read(&alone_log).expect("frames")).expect("json");
    assert_eq!(
        log["frames"], alone_log["frames"],
        "each frame made the same way"
    );
    let (a, b) = (tools::luma_frames(&alone), tools::luma_frames(&fanned));
    assert_eq!(a.len(), b.len(), "the same number of frames");
    let differ: Vec<usize> = (0..a.len()).filter(|&k| a[k] != b[k]).collect();
    assert!(
        differ.is_empty(),
        "frames differ from one machine's render: {differ:?}\n{logs:#?}"
    );
}

#[test]
fn a_piece_the_replica_cannot_make_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let piece = json!({
        "kind": "interpolate",
        "key": "0".repeat(64),
        "params": {"mode": "off"},
        "inputs": {},
        "piece": {"segment": 0, "frames": [0, 24]},
    });
    let refused = |server: &Server, body: &Value| {
        let answer = http::post(&format!("{}/pieces", server.direct), body);
        assert_eq!(answer.status, 422, "{}", answer.text());
        answer.json()["detail"].as_str().unwrap_or("").to_string()
    };

    let alone = Server::start(&dir.path().join("alone"), &[]);
    let why = refused(&alone, &piece);
    assert!(why.contains("no remote cache tier"), "{why}");

    let s3 = S3::start(&dir.path().join("s3"));
    let cache = s3.url("c");
    let shared = Server::start_env(
        &dir.path().join("shared"),
        &["--cache-remote", cache.as_str()],
        &s3.env(),
    );
    let why = refused(&shared, &piece);
    assert!(why.contains("different versions or weights"), "{why}");
    let mut unknown = piece.clone();
    unknown["kind"] = json!("paint");
    assert!(refused(&shared, &unknown).contains("no such stage"));
    let mut garbled = piece.clone();
    garbled["inputs"] = json!({"video": "not a blob"});
    let answer = http::post(&format!("{}/pieces", shared.direct), &garbled);
    assert_eq!(answer.status, 422, "{}", answer.text());
    assert_eq!(
        answer.json()["detail"][0]["loc"],
        json!(["body", "inputs", "video"])
    );
}
