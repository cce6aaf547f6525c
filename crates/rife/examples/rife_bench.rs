//! RIFE's speed and parity on one device, for the GPU measurement
//! (`scripts/gpu/bench.sh`) and for trying the same on the CPU:
//!
//!   rife_bench speed  --weights flownet.pkl --device cuda [--sizes 1280x720,1920x1080]
//!                     [--precisions f32,f16] [--batches 1,2,4,8] [--seconds 3]
//!   rife_bench parity --weights flownet.pkl --device cuda --out DIR [--size 1280x720]
//!
//! `speed` prints one JSON line per (size, precision, batch): frames per
//! second for the whole network on a pair (both frames encoded, as the
//! PyTorch reference's forward does) and for the step a render repeats per
//! output frame (the pair prepared once). `parity` writes the input pair
//! and our frames at t = 0.5 as raw f32 (3 x H x W, planar) for the
//! PyTorch side to compare, and prints the device's PSNR against our CPU
//! kernels. Inputs are synthetic (a texture and the same texture moved), so
//! nothing needs decoding where this runs.

use candle_core::{Device, Tensor};
use std::path::PathBuf;
use std::time::Instant;
use vantage_rife::{Kernels, Rife};

fn main() {
    if let Err(e) = run() {
        eprintln!("rife_bench: {e}");
        std::process::exit(1);
    }
}

type Error = Box<dyn std::error::Error>;

struct Args {
    command: String,
    weights: PathBuf,
    device: String,
    sizes: Vec<(usize, usize)>,
    precisions: Vec<String>,
    batches: Vec<usize>,
    seconds: f64,
    out: Option<PathBuf>,
}

fn parse() -> Result<Args, Error> {
    let mut it = std::env::args().skip(1);
    let command = it
        .next()
        .ok_or("usage: rife_bench speed|parity --weights FILE [...]")?;
    let mut args = Args {
        command,
        weights: PathBuf::new(),
        device: "cuda".into(),
        sizes: vec![(1280, 720), (1920, 1080)],
        precisions: vec!["f32".into(), "f16".into()],
        batches: vec![1, 2, 4, 8],
        seconds: 3.0,
        out: None,
    };
    let size = |s: &str| -> Result<(usize, usize), Error> {
        let (w, h) = s
            .split_once('x')
            .ok_or_else(|| format!("size '{s}' is not WxH"))?;
        Ok((w.parse()?, h.parse()?))
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let list = || value.split(',').map(str::to_string).collect::<Vec<_>>();
        match flag.as_str() {
            "--weights" => args.weights = value.into(),
            "--device" => args.device = value,
            "--sizes" | "--size" => {
                args.sizes = list().iter().map(|s| size(s)).collect::<Result<_, _>>()?
            }
            "--precisions" => args.precisions = list(),
            "--batches" => {
                args.batches = list().iter().map(|b| b.parse()).collect::<Result<_, _>>()?
            }
            "--seconds" => args.seconds = value.parse()?,
            "--out" => args.out = Some(value.into()),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if args.weights.as_os_str().is_empty() {
        return Err("--weights FILE (flownet.pkl) is required".into());
    }
    Ok(args)
}

fn run() -> Result<(), Error> {
    let args = parse()?;
    let device = vantage_rife::device(&args.device)?;
    match args.command.as_str() {
        "speed" => speed(&args, &device),
        "parity" => parity(&args, &device),
        other => Err(format!("unknown command {other} (speed or parity)").into()),
    }
}

/// A smooth texture, and the same texture moved right and down by a few
/// pixels with a bulge in the middle (so the flow is not one translation).
fn pair(w: usize, h: usize) -> (Vec<f32>, Vec<f32>) {
    let texture = |x: f64, y: f64, c: usize| -> f32 {
        let c = c as f64;
        let v = 0.5
            + 0.2 * ((x * 0.031 + c).sin() * (y * 0.023 - c).cos())
            + 0.15 * ((x + y) * 0.011 + 2.0 * c).sin()
            + 0.1 * ((x * 0.17).sin() * (y * 0.13).sin());
        v.clamp(0.0, 1.0) as f32
    };
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let mut a = Vec::with_capacity(3 * w * h);
    let mut b = Vec::with_capacity(3 * w * h);
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f64, y as f64);
                let r = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt() / w as f64;
                let push = 6.0 + 10.0 * (-r * r * 40.0).exp();
                a.push(texture(fx, fy, c));
                b.push(texture(fx - push, fy - push * 0.5, c));
            }
        }
    }
    (a, b)
}

fn tensor(v: &[f32], w: usize, h: usize, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_slice(v, (1, 3, h, w), device)
}

fn model(args: &Args, device: &Device, precision: &str) -> Result<Rife, Error> {
    let dtype = vantage_rife::precision(precision, device)?;
    Ok(Rife::load_with(&args.weights, device, Kernels::Own, dtype)?)
}

/// Runs `f` for about `seconds` after two warm-ups; seconds per call (median of rounds).
fn time(
    device: &Device,
    seconds: f64,
    mut f: impl FnMut() -> candle_core::Result<()>,
) -> Result<f64, Error> {
    for _ in 0..2 {
        f()?;
    }
    device.synchronize()?;
    let mut rounds = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < seconds || rounds.len() < 3 {
        let t = Instant::now();
        f()?;
        device.synchronize()?;
        rounds.push(t.elapsed().as_secs_f64());
    }
    rounds.sort_by(f64::total_cmp);
    Ok(rounds[rounds.len() / 2])
}

fn speed(args: &Args, device: &Device) -> Result<(), Error> {
    for &(w, h) in &args.sizes {
        let (a, b) = pair(w, h);
        let (a, b) = (tensor(&a, w, h, device)?, tensor(&b, w, h, device)?);
        for precision in &args.precisions {
            let model = model(args, device, precision)?;
            for &batch in &args.batches {
                let (pa, pb) = (model.prepare(&a)?, model.prepare(&b)?);
                let times: Vec<f64> = (0..batch)
                    .map(|i| (i + 1) as f64 / (batch + 1) as f64)
                    .collect();
                // A render's step: the pair prepared once, one frame per time.
                let step = time(device, args.seconds, || {
                    let pairs: Vec<_> = times.iter().map(|&t| (&pa, &pb, t)).collect();
                    model.between_many(&pairs).map(drop)
                })?;
                // The whole network per frame: both frames encoded each time.
                let whole = time(device, args.seconds, || {
                    let prepared: Vec<_> = (0..batch)
                        .map(|_| Ok((model.prepare(&a)?, model.prepare(&b)?)))
                        .collect::<candle_core::Result<_>>()?;
                    let pairs: Vec<_> = prepared
                        .iter()
                        .zip(&times)
                        .map(|((x, y), &t)| (x, y, t))
                        .collect();
                    model.between_many(&pairs).map(drop)
                })?;
                println!(
                    "{{\"impl\":\"vantage\",\"device\":\"{}\",\"size\":\"{w}x{h}\",\"precision\":\"{precision}\",\"batch\":{batch},\"fps_whole\":{:.2},\"fps_step\":{:.2}}}",
                    args.device,
                    batch as f64 / whole,
                    batch as f64 / step
                );
            }
        }
    }
    Ok(())
}

fn psnr(a: &Tensor, b: &Tensor) -> Result<f64, Error> {
    let mse: f32 = (a - b)?.sqr()?.mean_all()?.to_scalar()?;
    Ok(10.0 * (1.0 / f64::from(mse).max(1e-12)).log10())
}

fn write_raw(path: &std::path::Path, t: &Tensor) -> Result<(), Error> {
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes)?;
    Ok(())
}

fn parity(args: &Args, device: &Device) -> Result<(), Error> {
    let out = args.out.as_ref().ok_or("parity needs --out DIR")?;
    std::fs::create_dir_all(out)?;
    let &(w, h) = args.sizes.first().ok_or("no size")?;
    let (a, b) = pair(w, h);
    write_raw(
        &out.join("pair.f32"),
        &Tensor::cat(
            &[
                tensor(&a, w, h, &Device::Cpu)?,
                tensor(&b, w, h, &Device::Cpu)?,
            ],
            0,
        )?,
    )?;
    let cpu = Rife::load(&args.weights, &Device::Cpu)?;
    let reference = cpu.interpolate(
        &tensor(&a, w, h, &Device::Cpu)?,
        &tensor(&b, w, h, &Device::Cpu)?,
        0.5,
    )?;
    write_raw(&out.join("vantage-cpu.f32"), &reference)?;
    for precision in &args.precisions {
        let model = model(args, device, precision)?;
        let frame = model
            .interpolate(&tensor(&a, w, h, device)?, &tensor(&b, w, h, device)?, 0.5)?
            .to_device(&Device::Cpu)?;
        write_raw(
            &out.join(format!("vantage-{}-{precision}.f32", args.device)),
            &frame,
        )?;
        println!(
            "{{\"parity\":\"vantage {} {precision} against vantage cpu f32\",\"size\":\"{w}x{h}\",\"psnr_db\":{:.2}}}",
            args.device,
            psnr(&frame, &reference)?
        );
    }
    Ok(())
}
