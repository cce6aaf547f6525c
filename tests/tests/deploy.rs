//! The container image and the fal deployment, checked without a Docker
//! engine: hadolint on the Dockerfile, the fal SDK's own parser on
//! `deploy/fal/pyproject.toml`, and the image's entry command run the way
//! the image runs it (its ENV, a temporary /data, a non-root user).

use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vantage_e2e::http;
use vantage_e2e::server::{python, weights, Server};
use vantage_e2e::tools::{self, s};

/// The user the image runs as (`APP_UID` in the Dockerfile).
const APP_UID: u32 = 10001;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dockerfile() -> String {
    std::fs::read_to_string(root().join("Dockerfile")).expect("reading the Dockerfile")
}

#[test]
fn the_dockerfile_lints_clean() {
    let hadolint = python().with_file_name("hadolint");
    let out = Command::new(&hadolint)
        .args(["--config", ".hadolint.yaml", "Dockerfile"])
        .current_dir(root())
        .output()
        .expect("running hadolint (scripts/setup.sh --tests installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every path the Dockerfile COPYs from the context exists and survives
/// `.dockerignore` (which, on fal, replaces the default ignore list).
#[test]
fn the_build_context_keeps_what_the_dockerfile_copies() {
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    let kept: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    assert!(
        ignore.lines().any(|l| l.trim() == "*"),
        "the context starts empty"
    );
    let mut sources = Vec::new();
    for line in dockerfile().lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() != Some(&"COPY") || words.iter().any(|w| w.starts_with("--from")) {
            continue;
        }
        sources.extend(words[1..words.len() - 1].iter().map(|w| w.to_string()));
    }
    assert!(sources.len() >= 8, "{sources:?}");
    for src in &sources {
        assert!(root().join(src).exists(), "COPY {src}: no such path");
        assert!(
            kept.contains(&src.trim_end_matches('/')),
            "COPY {src} is not kept by .dockerignore"
        );
    }
    // The built-in pipelines and the weights manifest are compiled in.
    for compiled_in in ["pipelines", "weights"] {
        assert!(
            sources.iter().any(|s| s == compiled_in),
            "{compiled_in} is copied"
        );
    }
}

#[test]
fn the_fal_app_parses_with_the_fal_sdk() {
    let script = r#"
import json
from fal.cli._utils import get_app_data_from_toml
d = get_app_data_from_toml("vantage")
o = d.options
hc = o.host["health_check_config"]
print(json.dumps({
    "ref": d.ref, "entry": d.python_entry_point, "auth": d.auth,
    "kind": o.environment["kind"], "image": o.environment["image"],
    "port": o.gateway["exposed_port"], "machine": o.host["machine_type"],
    "keep_alive": o.host["keep_alive"], "min": o.host["min_concurrency"],
    "max": o.host["max_concurrency"], "mux": o.host["max_multiplexing"],
    "data": o.host["data_mounts"], "health": [hc.path, hc.method],
}))
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .current_dir(root().join("deploy/fal"))
        .output()
        .expect("running the fal SDK");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app: Value = serde_json::from_slice(
        out.stdout
            .rsplit(|b| *b == b'\n')
            .find(|l| !l.is_empty())
            .unwrap_or(b""),
    )
    .expect("the SDK's reading as JSON");
    // A container whose own entry command is the server, not a Python app.
    assert_eq!(app["ref"], Value::Null);
    assert_eq!(app["entry"], Value::Null);
    assert_eq!(app["kind"], "container");
    assert_eq!(app["image"]["use_isolate"], false);
    assert_eq!(app["auth"], "private");
    assert_eq!(app["port"], 8080);
    assert_eq!(app["machine"], json!(["GPU-H100", "GPU-A100"]));
    assert_eq!(app["keep_alive"], 300);
    assert_eq!(app["min"], 0);
    assert_eq!(app["max"], 5);
    assert_eq!(app["data"], json!(["/data"]));
    assert_eq!(app["health"], json!(["/health/ready", "GET"]));
    // The port and health path are the ones the image serves.
    let file = dockerfile();
    assert!(file.contains("EXPOSE 8080") && file.contains("VANTAGE_PORT=8080"));
    assert!(file.contains("/health/ready"));
    // Behind fal's gateway the server leaves key checks to it.
    let cmd: Vec<&str> = app["image"]["cmd"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(cmd.contains(&"--gateway-auth"), "{cmd:?}");
}

/// The final stage's `ENV` settings, as the image's processes see them.
fn image_env() -> Vec<(String, String)> {
    let file = dockerfile();
    let last_stage = file.rsplit("\nFROM ").next().unwrap_or("");
    let joined = last_stage.replace("\\\n", " ");
    let mut env = Vec::new();
    for line in joined.lines().filter_map(|l| l.trim().strip_prefix("ENV ")) {
        let mut rest = line.trim();
        while let Some((key, value)) = rest.split_once('=') {
            let (value, tail) = match value.strip_prefix('"') {
                Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
                None => value.split_once(' ').unwrap_or((value, "")),
            };
            env.push((key.trim().to_string(), value.to_string()));
            rest = tail.trim();
        }
    }
    env
}

/// `deploy/docker/entrypoint.sh ARGS` as uid APP_UID with the image's
/// environment, `data` as /data, and the debug `vantage` on the PATH.
fn entry_command(data: &Path, port: u16, extra_env: &[(&str, String)], args: &[&str]) -> Command {
    let bin = vantage_e2e::vantage::binary();
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        bin.parent().map(s).unwrap_or("")
    );
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid",
        &APP_UID.to_string(),
        "--regid",
        &APP_UID.to_string(),
        "--clear-groups",
    ])
    .arg(root().join("deploy/docker/entrypoint.sh"))
    .args(args)
    .env_clear()
    .envs(image_env())
    .env("PATH", path)
    .env("HOME", data)
    .env("VANTAGE_DATA", data)
    .env("VANTAGE_PORT", port.to_string())
    .env("VANTAGE_LOG", "warn")
    .envs(extra_env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// A port whose next one is free too (the entry command uses both).
fn two_free_ports() -> u16 {
    loop {
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = a.local_addr().expect("addr").port();
        if port < 65535 && std::net::TcpListener::bind(("0.0.0.0", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Make `path` (and what is under it) belong to the image's user.
fn give_to_app_user(path: &Path) {
    let ok = Command::new("chown")
        .args(["-R", &format!("{APP_UID}:{APP_UID}"), s(path)])
        .status()
        .expect("chown");
    assert!(ok.success());
}

#[test]
fn the_image_entry_command_serves_as_a_non_root_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).expect("media dir");
    let (video, target) = tools::slowed_clip(&media);
    // /data as a replica finds it after another one fetched the weights.
    let data = dir.path().join("data");
    let models = image_env()
        .into_iter()
        .find(|(k, _)| k == "VANTAGE_MODELS")
        .map(|(_, v)| v)
        .expect("VANTAGE_MODELS in the Dockerfile");
    std::fs::create_dir_all(data.join("weights")).expect("weights dir");
    for model in models.split_whitespace() {
        let copied = Command::new("cp")
            .args(["-r", s(&weights().join(model)), s(&data.join("weights"))])
            .status()
            .expect("cp");
        assert!(
            copied.success(),
            "{model} is installed (scripts/test.sh fetches it)"
        );
    }
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "smoke-key\n").expect("keys");
    give_to_app_user(dir.path());

    let port = two_free_ports();
    let env = [("VANTAGE_KEYS_FILE", s(&keys).to_string())];
    let cmd = entry_command(&data, port, &env, &["--allow-dir", s(&media)]);
    let server = Server::spawn(cmd, &data);
    assert!(
        server.direct.ends_with(&format!(":{port}")),
        "{}",
        server.direct
    );
    let ready = http::get(&format!("{}/health/ready", server.direct));
    assert_eq!(ready.status, 200, "{}", ready.text());

    let auth = [
        ("authorization", "Key smoke-key"),
        ("content-type", "application/json"),
    ];
    let body = json!({
        "video_url": format!("file://{}", video.display()),
        "audio_url": format!("file://{}", target.display()),
        "rife_mode": "off",
    });
    let bytes = serde_json::to_vec(&body).expect("json");
    let synced = http::request(
        "POST",
        &format!("{}/sync", server.direct),
        &auth,
        Some(&bytes),
    );
    assert_eq!(synced.status, 200, "{}\n{}", synced.text(), server.log());
    let result = synced.json();
    let video_url = result["synchronized_video_url"].as_str().expect("url");
    let got = http::request("GET", video_url, &auth[..1], None);
    assert_eq!(got.status, 200);
    let out = dir.path().join("out.mp4");
    std::fs::write(&out, &got.body).expect("writing");
    assert!(
        (tools::duration(&out)
            - result["metadata"]["target_duration"]
                .as_f64()
                .expect("duration"))
        .abs()
            < 0.15
    );
    // Everything it wrote belongs to the image's user, under /data.
    let cache_owner =
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(data.join("cache")).expect("cache"));
    assert_eq!(cache_owner, APP_UID);

    // SIGTERM reaches the server itself (the script exec'd it) and it drains.
    let took = server.terminate();
    assert!(took < Duration::from_secs(20), "stopped in {took:?}");
}

#[test]
fn an_unwritable_data_folder_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    // Owned by root, mode 755: the image's user cannot write it.
    let out = entry_command(&data, two_free_ports(), &[], &[])
        .output()
        .expect("running the entry command");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(
        text.contains("not writable by uid 10001") && text.contains("VANTAGE_DATA"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(&data).expect("data").count(),
        0,
        "nothing written"
    );
}
