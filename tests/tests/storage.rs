//! Object storage against a real S3-compatible server (s3s-fs on loopback):
//! the S3 client itself, and the cache's shared remote tier through the CLI
//! (a second machine's run is served from the bucket; a damaged object is
//! refused and the stage runs again).

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use vantage_e2e::s3::S3;
use vantage_e2e::tools::{s, slowed_clip};
use vantage_s3::Put;

#[test]
fn s3_client_puts_gets_and_presigns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3::start(&dir.path().join("s3"));
    let bucket = s3.bucket("client");
    bucket.check().expect("the bucket answers");
    let file = dir.path().join("object.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &bytes).expect("writing");

    assert_eq!(
        bucket.put_file("a/object.bin", &file, true).expect("put"),
        Put::Created
    );
    assert_eq!(
        std::fs::read(s3.object("client/a/object.bin")).expect("stored"),
        bytes
    );
    // Written once: a second conditional PUT leaves the object alone.
    std::fs::write(&file, b"other").expect("writing");
    assert_eq!(
        bucket.put_file("a/object.bin", &file, true).expect("put"),
        Put::Exists
    );
    let back = dir.path().join("back.bin");
    assert!(bucket.get_file("a/object.bin", &back).expect("get"));
    assert_eq!(std::fs::read(&back).expect("read"), bytes);
    assert!(!bucket.get_file("a/missing", &back).expect("get missing"));
    assert!(bucket.exists("a/object.bin").expect("head"));
    assert!(!bucket.exists("a/nothing").expect("head"));

    // A key that needs escaping round-trips.
    bucket
        .put_bytes("b/name with spaces+plus.json", b"{}", false)
        .expect("put");
    assert_eq!(
        bucket
            .get_bytes("b/name with spaces+plus.json", 100)
            .expect("get"),
        Some(b"{}".to_vec())
    );

    // A presigned URL works without credentials; tampering with it does not.
    let url = bucket.presign_get("a/object.bin", Duration::from_secs(600));
    let got = ureq::get(&url)
        .call()
        .expect("presigned GET")
        .into_body()
        .read_to_vec();
    assert_eq!(got.expect("body").len(), bytes.len());
    let tampered = url.replace("a/object.bin", "a/other.bin");
    let status = ureq::get(&tampered)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .map(|r| r.status().as_u16());
    assert_eq!(
        status.ok(),
        Some(403),
        "a presigned URL is for its own key only"
    );

    // A wrong secret is refused, with S3's reason in the message.
    let err = s3
        .bucket_with("client", "wrong-secret")
        .check()
        .expect_err("refused");
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
}

/// `vantage --json sync` with the cache in `cache` over the remote `remote`:
/// its events.
fn sync_events(
    s3: &S3,
    remote: &str,
    cache: &Path,
    video: &Path,
    audio: &Path,
    out: &Path,
) -> Vec<Value> {
    let out = vantage_e2e::vantage::command()
        .args(["--cache-dir", s(cache), "--cache-remote", remote])
        .args([
            "sync",
            s(video),
            s(audio),
            "-o",
            s(out),
            "--mode",
            "off",
            "--json",
        ])
        .envs(s3.env())
        .env("VANTAGE_LOG", "warn")
        .output()
        .expect("running vantage");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn stages_with(events: &[Value], kind: &str) -> Vec<String> {
    let mut names: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == kind)
        .filter_map(|e| e["stage"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn remote_cache_serves_a_second_machine_and_refuses_damaged_blobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, audio) = slowed_clip(dir.path());
    let s3 = S3::start(&dir.path().join("s3"));
    let remote = s3.url("team/cache");
    // A machine of its own: an empty local cache over the shared bucket.
    let machine = |name: &str| {
        let out = dir.path().join(format!("{name}.mp4"));
        let cache = dir.path().join(format!("cache-{name}"));
        (sync_events(&s3, &remote, &cache, &video, &audio, &out), out)
    };

    // Machine A runs everything and shares it.
    let (a, first) = machine("a");
    let ran = stages_with(&a, "done");
    assert!(ran.len() >= 5, "every stage ran on A: {ran:?}");
    let blobs = s3.keys("team/cache/cas");
    let manifests = s3.keys("team/cache/ac");
    assert_eq!(
        manifests.len(),
        ran.len(),
        "one manifest per stage: {manifests:?}"
    );
    assert!(!blobs.is_empty());

    // Machine B (an empty local cache) runs nothing: every stage comes from the bucket.
    let (b, second) = machine("b");
    assert_eq!(
        stages_with(&b, "done"),
        Vec::<String>::new(),
        "nothing ran on B"
    );
    assert_eq!(stages_with(&b, "cached"), ran);
    assert_eq!(stages_with(&b, "remote"), ran);
    assert_eq!(
        std::fs::read(&first).expect("A's video"),
        std::fs::read(&second).expect("B's video")
    );

    // Damage every blob behind the server's back: machine C refuses them all,
    // says so, runs the stages itself and gets the same video.
    for key in &blobs {
        let path = s3.object(key);
        let mut bytes = std::fs::read(&path).expect("object");
        let at = bytes.len() / 2;
        bytes[at] ^= 0x55;
        std::fs::write(&path, bytes).expect("damaging");
    }
    let (c, third) = machine("c");
    let refused: Vec<&Value> = c
        .iter()
        .filter(|e| {
            e["event"] == "remote" && e["message"].as_str().is_some_and(|m| m.contains("damaged"))
        })
        .collect();
    assert!(!refused.is_empty(), "damaged blobs are reported: {c:?}");
    assert!(
        !stages_with(&c, "done").is_empty(),
        "the stages whose blobs were damaged ran again"
    );
    assert_eq!(
        std::fs::read(&first).expect("A's video"),
        std::fs::read(&third).expect("C's video")
    );
}

#[test]
fn a_bad_remote_fails_before_any_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3::start(&dir.path().join("s3"));
    let run = |remote: &str, secret: &str| {
        vantage_e2e::vantage::command()
            .args([
                "--cache-dir",
                s(&dir.path().join("cache")),
                "--cache-remote",
                remote,
            ])
            .args([
                "sync",
                "missing.mp4",
                "missing.wav",
                "-o",
                s(&dir.path().join("o.mp4")),
            ])
            .envs(s3.env())
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .output()
            .expect("running vantage")
    };
    let wrong_key = run(&s3.url("c"), "not-the-secret");
    let text = String::from_utf8_lossy(&wrong_key.stderr);
    assert!(!wrong_key.status.success());
    assert!(
        text.contains("--cache-remote") && text.contains("SignatureDoesNotMatch"),
        "{text}"
    );
    let not_s3 = run("http://example.invalid/cache", "x");
    let text = String::from_utf8_lossy(&not_s3.stderr);
    assert!(text.contains("s3://BUCKET/PREFIX"), "{text}");
    assert!(!dir.path().join("o.mp4").exists());
}
