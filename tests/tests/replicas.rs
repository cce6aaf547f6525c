//! Several `vantage serve` replicas over shared object storage (s3s-fs on
//! loopback): the remote cache tier makes one replica's work free on the
//! next, and outputs go to the bucket (presigned URLs) or through fal's
//! CDN upload flow (tested against our own server's implementation of it).

use serde_json::{json, Value};
use vantage_e2e::http;
use vantage_e2e::s3::S3;
use vantage_e2e::server::Server;
use vantage_e2e::tools::{self, s};

fn ran_stages(result: &Value) -> Vec<String> {
    result["metadata"]["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|st| st["status"] == "ran")
        .filter_map(|st| st["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn replicas_share_the_cache_and_store_outputs_off_the_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (video, target) = tools::slowed_clip(dir.path());
    let s3 = S3::start(&dir.path().join("s3"));
    let env = s3.env();
    let cache = s3.url("shared/cache");
    let common = [
        "--allow-dir",
        s(dir.path()),
        "--cache-remote",
        cache.as_str(),
    ];

    // Replica A keeps outputs in the bucket, behind presigned URLs.
    let out = s3.url("shared/outputs");
    let mut a_args = common.to_vec();
    a_args.extend(["--output-store", out.as_str()]);
    let a = Server::start_env(&dir.path().join("a"), &a_args, &env);
    // Replica B uploads its outputs the way it would to the fal CDN: here, to A.
    let mut b_args = common.to_vec();
    b_args.extend(["--output-store", "fal", "--fal-rest-url", a.direct.as_str()]);
    let mut b_env = env.clone();
    b_env.push(("FAL_KEY", "test-key".into()));
    let b = Server::start_env(&dir.path().join("b"), &b_args, &b_env);

    let input = json!({
        "video_url": format!("file://{}", video.display()),
        "audio_url": format!("file://{}", target.display()),
        "rife_mode": "off",
    });
    let first = http::post(&format!("{}/sync", a.direct), &input);
    assert_eq!(first.status, 200, "{}", first.text());
    let first = first.json();
    assert!(ran_stages(&first).len() >= 5, "A ran the pipeline: {first}");
    let url = first["synchronized_video_url"].as_str().expect("video url");
    assert!(
        url.starts_with(&s3.endpoint) && url.contains("X-Amz-Signature="),
        "{url}"
    );
    let from_s3 = http::get(url);
    assert_eq!(from_s3.status, 200);
    let path = dir.path().join("from-s3.mp4");
    std::fs::write(&path, &from_s3.body).expect("writing");
    assert_eq!(
        tools::frame_count(&path),
        first["metadata"]["output_frames"].as_u64().expect("frames")
    );
    // Stored off the machine: A keeps no local copy of the request's files.
    let a_files: Vec<_> = std::fs::read_dir(dir.path().join("a/files"))
        .expect("files dir")
        .flatten()
        .filter(|e| e.file_name() != "uploads")
        .collect();
    assert!(
        a_files
            .iter()
            .all(|e| std::fs::read_dir(e.path()).map_or(true, |mut d| d.next().is_none())),
        "{a_files:?}"
    );

    // B runs the same request without computing anything.
    let second = http::post(&format!("{}/sync", b.direct), &input);
    assert_eq!(second.status, 200, "{}", second.text());
    let second = second.json();
    assert_eq!(
        ran_stages(&second),
        Vec::<String>::new(),
        "B ran nothing: {second}"
    );
    let url = second["synchronized_video_url"]
        .as_str()
        .expect("video url");
    assert!(
        url.starts_with(&format!("{}/files/uploads/", a.direct)),
        "{url}"
    );
    let via_cdn = http::get(url);
    assert_eq!(via_cdn.status, 200);
    assert_eq!(
        via_cdn.body, from_s3.body,
        "the same video from both replicas"
    );
    let timecodes = http::get(second["timecodes_url"].as_str().expect("timecodes"));
    assert_eq!(timecodes.status, 200);
    assert!(!timecodes.body.is_empty());
}

#[test]
fn a_bad_output_store_stops_the_server_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        vantage_e2e::vantage::command()
            .args([
                "serve",
                "--data",
                s(&dir.path().join("d")),
                "--listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env_remove("FAL_KEY")
            .envs(env.iter().copied())
            .output()
            .expect("running vantage serve")
    };
    let fal = run(&["--output-store", "fal"], &[]);
    assert_eq!(fal.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&fal.stderr).contains("FAL_KEY"),
        "{}",
        String::from_utf8_lossy(&fal.stderr)
    );
    let odd = run(&["--output-store", "ftp://x"], &[]);
    assert!(String::from_utf8_lossy(&odd.stderr).contains("local, s3://BUCKET/PREFIX or fal"));
    let no_keys = run(
        &["--output-store", "s3://bucket/out"],
        &[("AWS_ACCESS_KEY_ID", "")],
    );
    assert!(String::from_utf8_lossy(&no_keys.stderr).contains("AWS_ACCESS_KEY_ID"));
}
