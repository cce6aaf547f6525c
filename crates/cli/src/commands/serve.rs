//! `vantage serve`: the HTTP API (a thin call into `vantage-server`).

use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use vantage_server::{ServeConfig, ServeError};

#[derive(Args)]
pub struct ServeArgs {
    /// Holds weights/, cache/, the queue's state and produced files (/data in the container)
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The direct (synchronous) API, files, health and /openapi.json
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// fal's queue protocol (the official clients need a second address for it)
    #[arg(long, value_name = "ADDR")]
    pub queue_listen: Option<SocketAddr>,
    /// Serve HTTPS on both listeners with this PEM certificate chain...
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// ...and this PEM private key
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accepted keys, one per line (clients send `Authorization: Key <key>`); required off loopback
    #[arg(long, value_name = "FILE")]
    pub keys_file: Option<PathBuf>,
    /// Queued requests past which a submit gets 429
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_queue: usize,
    /// Pipelines running at once (direct and queued together)
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_running: usize,
    /// Fetch input URLs that lead to loopback, private or link-local addresses
    #[arg(long)]
    pub allow_private_urls: bool,
    /// Fetch input URLs only from this host or its subdomains (repeatable; default: any public host)
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Accept file:// inputs under this directory (repeatable)
    #[arg(long, value_name = "DIR")]
    pub allow_dir: Vec<PathBuf>,
    /// Let /pipelines/{name} run this pipeline file too, named by its stem (repeatable)
    #[arg(long = "pipeline", value_name = "FILE")]
    pub pipelines: Vec<PathBuf>,
    /// Model weights [default: DIR/weights]
    #[arg(long, value_name = "DIR")]
    pub weights: Option<PathBuf>,
    /// Base of produced URLs (scheme://host[:port]) when clients come through a gateway
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Where Whisper and RIFE run for every request
    #[arg(long, value_enum, default_value_t = super::sync::Device::Cpu, env = "VANTAGE_DEVICE")]
    pub device: super::sync::Device,
    /// Whisper models to load and warm up before listening (repeatable)
    #[arg(long = "warm", value_name = "MODEL", default_values_t = vec!["tiny.en".to_string()])]
    pub warm: Vec<String>,
    /// Hours finished requests and their files are kept
    #[arg(long, value_name = "HOURS", default_value_t = 24.0)]
    pub keep_hours: f64,
    /// Seconds running requests get to finish on SIGTERM
    #[arg(long, value_name = "SECONDS", default_value_t = 25.0)]
    pub grace: f64,
    /// Seconds before a failed webhook's second attempt (each later one waits twice as long; 10 attempts)
    #[arg(long, value_name = "SECONDS", default_value_t = 14.0)]
    pub webhook_backoff: f64,
    /// Largest request body (JSON, data: URIs included), in MiB
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub max_body_mb: usize,
    /// Largest input download or upload, in MB
    #[arg(long, value_name = "MB", default_value_t = 4096)]
    pub max_file_mb: u64,
    /// A gateway in front checks the callers' keys (fal's `auth = "private"`):
    /// listen off loopback without --keys-file
    #[arg(long, conflicts_with = "keys_file")]
    pub gateway_auth: bool,
    /// Another replica's queue URL that long renders hand segments to
    /// (repeatable, or comma-separated in VANTAGE_PEERS; needs
    /// --cache-remote, which carries inputs and segments)
    #[arg(
        long = "peer",
        value_name = "URL",
        env = "VANTAGE_PEERS",
        value_delimiter = ','
    )]
    pub peers: Vec<String>,
    /// Key sent to the peers as `Authorization: Key ...`
    #[arg(
        long,
        value_name = "KEY",
        env = "VANTAGE_PEER_KEY",
        hide_env_values = true
    )]
    pub peer_key: Option<String>,
    /// CPU slots for concurrent stages [default: number of cores]
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where finished files go: local (served at /files), s3://BUCKET/PREFIX
    /// (keys from the AWS_* environment variables), or fal (the fal CDN, with FAL_KEY)
    #[arg(
        long,
        value_name = "STORE",
        default_value = "local",
        env = "VANTAGE_OUTPUT_STORE"
    )]
    pub output_store: String,
    /// Hours the presigned URLs of an s3:// output store stay valid (at most 168)
    #[arg(long, value_name = "HOURS", default_value_t = 24.0)]
    pub output_url_hours: f64,
    /// Public base URL of an s3:// output store's bucket: plain URLs instead of presigned ones
    #[arg(long, value_name = "URL", env = "VANTAGE_OUTPUT_PUBLIC_URL")]
    pub output_public_url: Option<String>,
    /// fal's REST host, for --output-store fal
    #[arg(long, value_name = "URL", default_value = "https://rest.fal.ai")]
    pub fal_rest_url: String,
}

impl ServeArgs {
    fn config(&self) -> Result<ServeConfig> {
        let secs = |s: f64, flag: &str| {
            Duration::try_from_secs_f64(s)
                .with_context(|| format!("{flag} {s}: not a number of seconds"))
        };
        let mut cfg = ServeConfig::new(self.data.clone(), self.listen);
        cfg.weights = self.weights.clone();
        cfg.queue_listen = self.queue_listen;
        cfg.tls = self.tls_cert.clone().zip(self.tls_key.clone());
        cfg.keys_file = self.keys_file.clone();
        cfg.gateway_auth = self.gateway_auth;
        cfg.peers = self.peers.clone();
        cfg.peer_key = self.peer_key.clone();
        cfg.max_queue = self.max_queue;
        cfg.max_running = self.max_running.max(1);
        cfg.allow_private_urls = self.allow_private_urls;
        cfg.allow_hosts = self.allow_hosts.clone();
        cfg.allow_dirs = self.allow_dir.clone();
        cfg.pipelines = self.pipelines.clone();
        cfg.public_url = self
            .public_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_string());
        cfg.warm_models = self.warm.clone();
        cfg.device = self.device.app();
        cfg.keep_results = secs(self.keep_hours * 3600.0, "--keep-hours")?;
        cfg.grace = secs(self.grace, "--grace")?;
        cfg.webhook_backoff = secs(self.webhook_backoff, "--webhook-backoff")?;
        cfg.max_download_bytes = self.max_file_mb * 1_000_000;
        cfg.max_upload_bytes = self.max_file_mb * 1_000_000;
        cfg.max_body_bytes = self.max_body_mb << 20;
        cfg.cpu_slots = self.jobs;
        cfg.outputs = vantage_server::outputs::OutputConfig {
            store: self.output_store.clone(),
            expiry: secs(self.output_url_hours * 3600.0, "--output-url-hours")?,
            public_url: self.output_public_url.clone(),
            fal_rest: self.fal_rest_url.clone(),
        };
        Ok(cfg)
    }
}

/// Exit codes: 0 after a clean shutdown, 1 options or I/O, 2 the models.
pub fn serve(args: ServeArgs, cache_remote: Option<String>) -> Result<ExitCode> {
    let mut cfg = args.config()?;
    cfg.cache_remote = cache_remote;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let served = runtime.block_on(vantage_server::serve(
        cfg,
        vantage_server::shutdown_signal(),
        |urls| {
            for url in urls {
                eprintln!("listening on {url}");
            }
        },
    ));
    // Stages still running past the grace period stay queued for the next start.
    vantage_core::process::kill_children();
    match served {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ ServeError::Models(_)) => {
            eprintln!("error: {e}");
            eprintln!("  install them with `vantage weights fetch tiny.en rife` (into --weights or DIR/weights)");
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
