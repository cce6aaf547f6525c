//! Vantage as an HTTP API (`vantage serve`): the synchroniser as a
//! serverless GPU service that the official fal clients talk to unchanged.
//!
//! Two listeners over one engine: the run listener answers the direct
//! (synchronous) endpoints, the queue listener fal's queue protocol; both
//! serve files, uploads, health and the OpenAPI document. Every request
//! shares one cache, one model set and the process-wide CPU/GPU slots.
//!
//! * [`model`]: the wire types (inputs, results, errors), also the OpenAPI schemas.
//! * [`validate`]: bodies to typed inputs, or FastAPI-shaped 422s.
//! * [`fetch`]: inputs by URL, with address checks on every hop.
//! * [`job`]: one job: fetch, run on the engine, describe the outputs.
//! * [`queue`]: durable queued requests, their status, logs and results.
//! * [`routes`]: the HTTP routes of both listeners and the scheduler.
//! * [`stream`]: server-sent events (status stream, `/stream`).
//! * [`storage`]: the JS client's uploads.
//! * [`webhook`]: webhook delivery with retries.
//! * [`openapi`]: generates `/openapi.json`.
//! * [`outputs`]: where finished files go (here, S3, the fal CDN).
//! * [`playground`]: the web page `GET /` serves.
//! * [`error`]: errors as HTTP statuses and bodies.
//! * [`state`]: what every request shares, and the data folder's layout.

pub mod error;
pub mod fetch;
pub mod job;
pub mod model;
pub mod openapi;
pub mod outputs;
pub mod playground;
pub mod queue;
pub mod routes;
pub mod state;
pub mod storage;
pub mod stream;
pub mod validate;
pub mod webhook;

use axum_server::tls_rustls::RustlsConfig;
use routes::{Api, Listener};
use state::{Ctx, Data};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use vantage_app::EngineConfig;

/// `vantage serve`'s options.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Holds `weights/`, `cache/`, the queue's state and produced files.
    pub data: PathBuf,
    /// Where the models are (default `DATA/weights`).
    pub weights: Option<PathBuf>,
    pub listen: SocketAddr,
    pub queue_listen: Option<SocketAddr>,
    /// PEM certificate chain and key: both listeners speak HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// One accepted key per line; required unless every listener is loopback.
    pub keys_file: Option<PathBuf>,
    /// Keys are checked by a gateway in front (fal's private auth).
    pub gateway_auth: bool,
    pub max_queue: usize,
    pub max_running: usize,
    pub allow_private_urls: bool,
    /// When not empty, input URLs must come from these hosts.
    pub allow_hosts: Vec<String>,
    pub allow_dirs: Vec<PathBuf>,
    /// Pipeline files `/pipelines/{name}` may run besides the built-in ones.
    pub pipelines: Vec<PathBuf>,
    /// `scheme://host[:port]` for produced URLs, when clients reach the
    /// server through a gateway under another name.
    pub public_url: Option<String>,
    /// Whisper models loaded and warmed before the listeners open.
    pub warm_models: Vec<String>,
    /// Where every request's Whisper and RIFE run.
    pub device: vantage_app::Device,
    /// How long finished requests and their files are kept.
    pub keep_results: Duration,
    /// On SIGTERM, how long running requests may take to finish.
    pub grace: Duration,
    pub max_body_bytes: usize,
    pub max_download_bytes: u64,
    pub max_upload_bytes: u64,
    /// Delay before a webhook's second attempt (doubling after).
    pub webhook_backoff: Duration,
    pub cpu_slots: Option<usize>,
    /// A shared cache tier under `DATA/cache`: `s3://BUCKET/PREFIX`.
    pub cache_remote: Option<String>,
    /// Where finished files go.
    pub outputs: outputs::OutputConfig,
    /// Other replicas' queue URLs that long renders hand segments to.
    pub peers: Vec<String>,
    /// The key sent to them (`Authorization: Key ...`).
    pub peer_key: Option<String>,
}

impl ServeConfig {
    pub fn new(data: PathBuf, listen: SocketAddr) -> Self {
        ServeConfig {
            data,
            weights: None,
            listen,
            queue_listen: None,
            tls: None,
            keys_file: None,
            gateway_auth: false,
            max_queue: 1000,
            max_running: 2,
            allow_private_urls: false,
            allow_hosts: Vec::new(),
            allow_dirs: Vec::new(),
            pipelines: Vec::new(),
            public_url: None,
            warm_models: vec!["tiny.en".into()],
            device: vantage_app::Device::Cpu,
            keep_results: Duration::from_secs(24 * 3600),
            grace: Duration::from_secs(25),
            max_body_bytes: 256 << 20,
            max_download_bytes: 4 << 30,
            max_upload_bytes: 4 << 30,
            // 14 s doubling: the 10th attempt comes 14 x 511 s ≈ 2 h after the first.
            webhook_backoff: Duration::from_secs(14),
            cpu_slots: None,
            cache_remote: None,
            outputs: Default::default(),
            peers: Vec::new(),
            peer_key: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The options cannot work (no keys on a public address, a bad certificate, ...).
    #[error("{0}")]
    Config(String),
    /// The models could not be loaded.
    #[error("{0}")]
    Models(String),
    #[error("{0}")]
    Io(String),
}

/// Serve until `shutdown` resolves, then stop taking work, let running
/// requests finish within the grace period and leave the rest queued.
/// `on_listening` is called with the listeners' URLs once they accept.
pub async fn serve(
    cfg: ServeConfig,
    shutdown: impl Future<Output = ()>,
    on_listening: impl FnOnce(&[String]),
) -> Result<(), ServeError> {
    let keys = read_keys(&cfg)?;
    let tls = match &cfg.tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = RustlsConfig::from_pem_file(cert, key).await.map_err(|e| {
                ServeError::Config(format!(
                    "--tls-cert {} / --tls-key {}: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
            Some(config)
        }
        None => None,
    };
    let api = Arc::new(open(&cfg, keys, tls.is_some()).await?);
    tokio::spawn(routes::schedule(api.clone()));
    tokio::spawn(routes::expire_deadlines(api.clone()));
    tokio::spawn(housekeeping(api.clone(), cfg.keep_results));
    for entry in api.queue.undelivered() {
        api.webhooks.send(api.queue.clone(), entry);
    }
    let handle = axum_server::Handle::new();
    let mut listeners = vec![(cfg.listen, Listener::Run)];
    listeners.extend(cfg.queue_listen.map(|a| (a, Listener::Queue)));
    let mut urls = Vec::new();
    let mut servers = Vec::new();
    for (addr, listener) in listeners {
        let std_listener = std::net::TcpListener::bind(addr)
            .map_err(|e| ServeError::Config(format!("listening on {addr}: {e}")))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| ServeError::Io(e.to_string()))?;
        let local = std_listener
            .local_addr()
            .map_err(|e| ServeError::Io(e.to_string()))?;
        queue::lock(&api.ctx.listeners).push(local);
        urls.push(format!(
            "{}://{local} ({})",
            if tls.is_some() { "https" } else { "http" },
            match listener {
                Listener::Run => "direct",
                Listener::Queue => "queue",
            }
        ));
        let app = routes::router(api.clone(), listener).into_make_service();
        let handle = handle.clone();
        servers.push(match &tls {
            Some(config) => tokio::spawn({
                let server =
                    axum_server::from_tcp_rustls(std_listener, config.clone()).handle(handle);
                async move { server.serve(app).await }
            }),
            None => tokio::spawn({
                let server = axum_server::from_tcp(std_listener).handle(handle);
                async move { server.serve(app).await }
            }),
        });
    }
    on_listening(&urls);
    shutdown.await;
    tracing::info!(
        "shutting down: no new work; running requests get {:?}",
        cfg.grace
    );
    api.queue.drain();
    handle.graceful_shutdown(Some(cfg.grace));
    let deadline = tokio::time::Instant::now() + cfg.grace;
    while api.ctx.active.load(std::sync::atomic::Ordering::SeqCst) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in servers {
        s.abort();
    }
    Ok(())
}

fn read_keys(cfg: &ServeConfig) -> Result<Vec<String>, ServeError> {
    let keys: Vec<String> = match &cfg.keys_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| ServeError::Config(format!("--keys-file {}: {e}", path.display())))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    if let Some(path) = cfg.keys_file.as_ref().filter(|_| keys.is_empty()) {
        return Err(ServeError::Config(format!(
            "--keys-file {} holds no key (one per line)",
            path.display()
        )));
    }
    let public = std::iter::once(cfg.listen)
        .chain(cfg.queue_listen)
        .find(|a| !a.ip().is_loopback());
    if let (Some(addr), true) = (public, keys.is_empty() && !cfg.gateway_auth) {
        return Err(ServeError::Config(format!(
            "listening on {addr} (not loopback) needs keys: pass --keys-file FILE with one key per line (clients send 'Authorization: Key <key>'), or --gateway-auth when a gateway in front checks them"
        )));
    }
    Ok(keys)
}

/// The engine, warm models, the queue and the fetcher.
async fn open(cfg: &ServeConfig, keys: Vec<String>, tls: bool) -> Result<Api, ServeError> {
    let data = Data(cfg.data.clone());
    let outputs = outputs::OutputStore::open(&cfg.outputs).map_err(ServeError::Config)?;
    for dir in [data.files(), data.work(), data.queue()] {
        std::fs::create_dir_all(&dir)
            .map_err(|e| ServeError::Io(format!("{}: {e}", dir.display())))?;
    }
    let weights =
        vantage_weights::Store::open(cfg.weights.clone().unwrap_or_else(|| data.weights()));
    let engine_cfg = EngineConfig {
        weights: weights.clone(),
        cpu_slots: cfg.cpu_slots,
        lock_wait: Duration::from_secs(60),
        cache_remote: cfg.cache_remote.clone(),
        peers: cfg.peers.clone(),
        peer_key: cfg.peer_key.clone(),
        ..EngineConfig::new(data.cache())
    };
    let warm: Vec<String> = cfg.warm_models.clone();
    let device = cfg.device;
    let (engine, warmed) = tokio::task::spawn_blocking(move || {
        let registry = vantage_app::registry::registry(&engine_cfg.weights);
        let engine = vantage_app::open_engine(&engine_cfg, registry, &mut || {
            tracing::warn!("waiting for the cache: another vantage process is using it")
        });
        let models: Vec<&str> = warm.iter().map(String::as_str).collect();
        let warmed = vantage_app::warm_up(&engine_cfg.weights, &models, device);
        (engine, warmed)
    })
    .await
    .map_err(|e| ServeError::Io(format!("opening the engine: {e}")))?;
    let engine = engine.map_err(|e| ServeError::Io(e.to_string()))?;
    warmed.map_err(|e| ServeError::Models(e.to_string()))?;
    let policy = fetch::Policy {
        allow_private: cfg.allow_private_urls,
        allow_hosts: cfg
            .allow_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        allow_dirs: cfg.allow_dirs.clone(),
        max_bytes: cfg.max_download_bytes,
        files_dir: data.files(),
    };
    let fetcher = fetch::Fetcher::new(policy).map_err(ServeError::Io)?;
    let queue = queue::Queue::open(&data.queue(), cfg.max_queue)
        .map_err(|e| ServeError::Io(format!("{}: {e}", data.queue().display())))?;
    let ctx = Ctx {
        engine,
        fetcher: fetcher.clone(),
        data: data.clone(),
        running: Arc::new(tokio::sync::Semaphore::new(cfg.max_running)),
        max_running: cfg.max_running,
        device: cfg.device,
        public_url: cfg.public_url.clone(),
        pipelines: allowed_pipelines(&cfg.pipelines)?,
        listeners: Default::default(),
        scheme: if tls { "https" } else { "http" },
        active: Default::default(),
        direct: Default::default(),
        outputs,
    };
    Ok(Api {
        ctx: Arc::new(ctx),
        queue: Arc::new(queue),
        webhooks: webhook::Webhooks::new(fetcher.client(), cfg.webhook_backoff),
        uploads: storage::Uploads::new(data.files(), cfg.max_upload_bytes),
        weights,
        keys,
        ready: true.into(),
        tls,
        max_body: cfg.max_body_bytes,
    })
}

/// `/pipelines/{name}`'s allow-list: the built-in pipelines and `files`
/// (named by their file stem).
fn allowed_pipelines(files: &[PathBuf]) -> Result<BTreeMap<String, String>, ServeError> {
    let mut allowed: BTreeMap<String, String> = vantage_app::pipelines::BUILT_IN
        .iter()
        .map(|(name, _)| (name.to_string(), name.to_string()))
        .collect();
    for file in files {
        let name = file.file_stem().and_then(|s| s.to_str()).ok_or_else(|| {
            ServeError::Config(format!("--pipeline {}: not a file name", file.display()))
        })?;
        if !file.is_file() {
            return Err(ServeError::Config(format!(
                "--pipeline {}: no such file",
                file.display()
            )));
        }
        allowed.insert(name.to_string(), file.display().to_string());
    }
    Ok(allowed)
}

/// Every minute: forget finished requests older than `keep`, with their files.
async fn housekeeping(api: Arc<Api>, keep: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        for id in api.queue.collect(keep.as_secs_f64()) {
            let _ = tokio::fs::remove_dir_all(api.ctx.data.files().join(&id)).await;
        }
    }
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// A random request id in UUID form (128 random bits: ids are also the
/// capability that guards a request's files).
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    if filled.is_err() {
        // No /dev/urandom: hash the time, the pid and a counter instead.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seed = format!(
            "{:?}{}{}",
            std::time::SystemTime::now(),
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        b.copy_from_slice(&blake3::hash(seed.as_bytes()).as_bytes()[..16]);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
