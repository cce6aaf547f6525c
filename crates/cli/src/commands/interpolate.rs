//! `vantage interpolate A B --t T -o OUT`: one RIFE frame between two images.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use vantage_media::{read_image, write_image};
use vantage_rife::{self as rife, image_to_tensor, tensor_to_image};
use vantage_weights::{Kind, Store};

#[derive(Args)]
pub struct InterpolateArgs {
    /// The frame at t = 0 (PNG, JPEG, ...).
    a: PathBuf,
    /// The frame at t = 1, the same size as A.
    b: PathBuf,
    /// Time of the new frame, strictly between 0 and 1.
    #[arg(long, default_value_t = 0.5)]
    t: f64,
    /// Output image (format from the extension; .png keeps 16 bits with --deep).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// cpu, or cuda in builds with the cuda feature.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Installed RIFE weights name or a flownet.pkl path.
    #[arg(long, default_value = "rife")]
    model: String,
    /// Compute the frame both ways (A→B at t and B→A at 1−t) and average: better, twice the time.
    #[arg(long)]
    both_ways: bool,
    /// Write 16 bits per channel.
    #[arg(long)]
    deep: bool,
}

pub fn run(args: InterpolateArgs) -> Result<ExitCode> {
    if !(args.t > 0.0 && args.t < 1.0) {
        bail!(
            "--t must be strictly between 0 and 1 (got {}); 0 and 1 are the inputs themselves",
            args.t
        );
    }
    let weights = Store::open_default()
        .resolve(&args.model, Kind::Rife)
        .map_err(crate::failure::weights)?;
    let device = rife::device(&args.device).map_err(crate::failure::unusable)?;
    let (a, b) = (read_image(&args.a)?, read_image(&args.b)?);
    if (a.width, a.height) != (b.width, b.height) {
        bail!(
            "{} is {}x{} but {} is {}x{}: the two frames must be the same size",
            args.a.display(),
            a.width,
            a.height,
            args.b.display(),
            b.width,
            b.height
        );
    }
    let model = rife::shared(&weights.path, &weights.blake3, &device, rife::DType::F32)
        .with_context(|| format!("loading {}", weights.path.display()))?;
    let started = std::time::Instant::now();
    let (ta, tb) = (image_to_tensor(&a, &device)?, image_to_tensor(&b, &device)?);
    let out = if args.both_ways {
        model.interpolate_both_ways(&ta, &tb, args.t)?
    } else {
        model.interpolate(&ta, &tb, args.t)?
    };
    let image = tensor_to_image(&out)?;
    let elapsed = started.elapsed();
    write_image(&args.output, &image, args.deep)?;
    eprintln!(
        "{} ({}x{}, t = {}) in {:.2} s",
        args.output.display(),
        a.width,
        a.height,
        args.t,
        elapsed.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
