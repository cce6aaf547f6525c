//! RIFE on candle against the PyTorch reference of the same weights
//! (`scripts/dev/rife-reference.py` wrote the fixtures). Needs the rife
//! weights (`vantage weights fetch rife`; scripts/test.sh does it).

use candle_core::{Device, Tensor};
use std::path::{Path, PathBuf};
use vantage_media::{read_image, RgbImage};
use vantage_rife::image_to_tensor;
use vantage_rife::{Kernels, Rife};
use vantage_weights::{Kind, Store};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tensor(img: &RgbImage) -> Tensor {
    image_to_tensor(img, &Device::Cpu).unwrap()
}

/// Checks `model` against the three reference frames.
fn check(model: &Rife, label: &str) {
    let a = tensor(&read_image(&fixture("frame0.png")).unwrap());
    let b = tensor(&read_image(&fixture("frame1.png")).unwrap());
    // As a render does: each frame prepared once, shared by all three times.
    let (pa, pb) = (model.prepare(&a).unwrap(), model.prepare(&b).unwrap());
    for (t, name) in [
        (0.25, "reference-t25.png"),
        (0.5, "reference-t50.png"),
        (0.75, "reference-t75.png"),
    ] {
        let ours = model.between(&pa, &pb, t).unwrap();
        if t == 0.5 {
            let once = model.interpolate(&a, &b, t).unwrap();
            let same = (&ours - once).unwrap().abs().unwrap().max_all().unwrap();
            assert_eq!(same.to_scalar::<f32>().unwrap(), 0.0, "prepared or not");
        }
        let reference = tensor(&read_image(&fixture(name)).unwrap());
        let diff = (ours - reference)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap();
        let max: f32 = diff.max(0).unwrap().to_scalar().unwrap();
        let mse: f32 = diff.sqr().unwrap().mean_all().unwrap().to_scalar().unwrap();
        let psnr = 10.0 * (1.0 / mse.max(1e-12)).log10();
        eprintln!("{label}, t = {t}: max abs error {max:.2e}, PSNR {psnr:.1} dB");
        assert!(max <= 2e-3, "{label}, t = {t}: max abs error {max}");
        assert!(psnr >= 50.0, "{label}, t = {t}: PSNR {psnr} dB");
    }
}

fn weights() -> PathBuf {
    Store::open_default()
        .resolve("rife", Kind::Rife)
        .expect("rife weights installed (vantage weights fetch rife)")
        .path
}

#[test]
fn cpu_kernels_match_the_pytorch_reference() {
    check(
        &Rife::load(&weights(), &Device::Cpu).unwrap(),
        "cpu kernels",
    );
}

/// The tensor-op path is what CUDA runs; on the CPU its arithmetic is
/// checked against the same reference.
#[test]
fn portable_ops_match_the_pytorch_reference() {
    let model = Rife::load_with(&weights(), &Device::Cpu, Kernels::Portable).unwrap();
    check(&model, "portable ops");
}
