//! `vantage`: re-time a video so its picture follows a new audio track.

mod commands;
mod failure;
mod progress;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "vantage",
    version,
    about = "Re-time a video so its picture follows a new audio track"
)]
struct Cli {
    /// Cache directory [default: $VANTAGE_HOME/cache, or ~/.cache/vantage/cache]
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// A shared cache tier under the local one, s3://BUCKET/PREFIX (endpoint,
    /// region and keys from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...)
    #[arg(long, global = true, value_name = "URL", env = "VANTAGE_CACHE_REMOTE")]
    cache_remote: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline (a YAML file or a built-in name such as `sync`).
    Run(commands::run::RunArgs),
    /// Synchronise SRC_VIDEO to TARGET_AUDIO (runs the built-in sync pipeline).
    Sync(commands::sync::SyncArgs),
    /// Serve the HTTP API: direct endpoints, fal's queue protocol, files, OpenAPI.
    Serve(commands::serve::ServeArgs),
    /// Show a pipeline's stage graph.
    Dag {
        pipeline: String,
        #[arg(long, value_enum, default_value_t = DagFormat::Text)]
        format: DagFormat,
    },
    /// List the stage types a pipeline can use, with their ports and parameters.
    Stages,
    /// Print the words of an audio or video file with their start and end times (Whisper).
    Transcribe(commands::transcribe::TranscribeArgs),
    /// Synthesise the frame at time T between two images with RIFE.
    Interpolate(commands::interpolate::InterpolateArgs),
    /// Install, list and verify model weights (Whisper, RIFE).
    Weights {
        #[command(subcommand)]
        action: commands::weights::WeightsAction,
    },
    /// Inspect and maintain the cache.
    Cache {
        #[command(subcommand)]
        action: commands::cache::CacheAction,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DagFormat {
    Text,
    Dot,
    Mermaid,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VANTAGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let cache = commands::CacheOpts {
        dir: cli.cache_dir.unwrap_or_else(commands::default_cache_dir),
        remote: cli.cache_remote,
    };
    let cache_dir = cache.dir.clone();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args, &cache),
        Command::Sync(args) => commands::sync::sync(args, &cache),
        Command::Serve(args) => commands::serve::serve(args, cache.remote),
        Command::Dag { pipeline, format } => commands::dag::dag(&pipeline, format),
        Command::Stages => commands::stages::stages(),
        Command::Transcribe(args) => commands::transcribe::run(args),
        Command::Interpolate(args) => commands::interpolate::run(args),
        Command::Weights { action } => commands::weights::weights(action),
        Command::Cache { action } => commands::cache::cache(action, &cache_dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            failure::exit_code(&e)
        }
    }
}
