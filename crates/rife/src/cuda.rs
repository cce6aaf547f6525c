//! Our CUDA kernels (`kernels/rife.cu`): the warp, the resize and the
//! convolutions' fused epilogue, which candle either lacks (there is no grid
//! sample) or runs as several passes over memory. They are the `cuda_fwd`
//! of the same custom ops whose `cpu_fwd` are our CPU kernels (`cpu::Warp`,
//! `cpu::Resize`, `ops::BiasLeaky`); the convolutions are candle's (cuBLAS).
//!
//! Their arithmetic is the CPU forms', operation for operation, and the
//! CPU tests pin those down.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaModule, CudaView, DeviceRepr, LaunchConfig, PushKernelArg,
};
use candle_core::cuda_backend::{CudaDType, WrapErr};
use candle_core::{bail, CudaDevice, CudaStorage, DType, Layout, Result, Shape};
use half::f16;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// sm_90 machine code and compute_80 PTX (see build.rs).
static FATBIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rife.fatbin"));

/// Threads per block: each thread makes one output pixel along a row.
const ROW_THREADS: u32 = 128;

/// `name` + `_f32` / `_f16` from the kernels, loaded once per device.
fn function(dev: &CudaDevice, name: &str, dtype: DType) -> Result<CudaFunction> {
    static MODULES: Mutex<Option<HashMap<candle_core::cuda_backend::DeviceId, Arc<CudaModule>>>> =
        Mutex::new(None);
    let suffix = match dtype {
        DType::F32 => "f32",
        DType::F16 => "f16",
        other => bail!("the RIFE CUDA kernels take f32 or f16 tensors, not {other:?}"),
    };
    let module = {
        let mut modules = MODULES.lock().unwrap_or_else(|p| p.into_inner());
        let modules = modules.get_or_insert_with(HashMap::new);
        match modules.get(&dev.id()) {
            Some(m) => m.clone(),
            None => {
                let image =
                    candle_core::cuda_backend::cudarc::nvrtc::Ptx::from_binary(FATBIN.to_vec());
                let m = dev.cuda_stream().context().load_module(image).w()?;
                modules.insert(dev.id(), m.clone());
                m
            }
        }
    };
    module.load_function(&format!("{name}_{suffix}")).w()
}

/// A contiguous NCHW tensor's elements from its layout's offset.
fn view<'a, T: CudaDType + DeviceRepr>(
    s: &'a CudaStorage,
    l: &Layout,
    what: &str,
) -> Result<CudaView<'a, T>> {
    let Some((start, end)) = l.contiguous_offsets() else {
        bail!("{what}: expected a contiguous tensor");
    };
    Ok(s.as_cuda_slice::<T>()?.slice(start..end))
}

fn dims(l: &Layout) -> Result<(usize, usize, usize, usize)> {
    l.shape().dims4()
}

/// Rows of `w` pixels, `rows` of them per item, `items` items.
fn row_grid(w: usize, rows: usize, items: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: ((w as u32).div_ceil(ROW_THREADS), rows as u32, items as u32),
        block_dim: (ROW_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn int(n: usize) -> i32 {
    n as i32
}

/// Backward warp of an image batch by a flow batch (`cpu::Warp` on CUDA).
pub fn warp(
    img: &CudaStorage,
    img_l: &Layout,
    flow: &CudaStorage,
    flow_l: &Layout,
) -> Result<(CudaStorage, Shape)> {
    let (n, c, h, w) = dims(img_l)?;
    if dims(flow_l)? != (n, 2, h, w) {
        bail!(
            "warp: flow is {:?}, expected {:?}",
            flow_l.dims(),
            (n, 2, h, w)
        );
    }
    if img.dtype() != flow.dtype() {
        bail!(
            "warp: image {:?} and flow {:?} differ",
            img.dtype(),
            flow.dtype()
        );
    }
    let dev = img.device().clone();
    let func = function(&dev, "warp", img.dtype())?;
    let cfg = row_grid(w, h, n);
    let stream = dev.cuda_stream();
    let (ci, hi, wi) = (int(c), int(h), int(w));
    macro_rules! launch {
        ($t:ty) => {{
            let src = view::<$t>(img, img_l, "warp")?;
            let f = view::<$t>(flow, flow_l, "warp flow")?;
            // SAFETY: the kernel below writes every element.
            let out = unsafe { dev.alloc::<$t>(n * c * h * w)? };
            let mut b = stream.launch_builder(&func);
            b.arg(&src).arg(&f).arg(&out).arg(&ci).arg(&hi).arg(&wi);
            // SAFETY: the arguments match the kernel's signature.
            unsafe { b.launch(cfg) }.w()?;
            CudaStorage::wrap_cuda_slice(out, dev.clone())
        }};
    }
    let out = match img.dtype() {
        DType::F16 => launch!(f16),
        _ => launch!(f32),
    };
    Ok((out, Shape::from((n, c, h, w))))
}

/// Bilinear resize by `scale`, the first `gained` channels times `gain`
/// (`cpu::Resize` on CUDA).
pub fn resize(
    x: &CudaStorage,
    l: &Layout,
    scale: f64,
    gained: usize,
    gain: f32,
) -> Result<(CudaStorage, Shape)> {
    let (n, c, h, w) = dims(l)?;
    let (ho, wo) = (
        (h as f64 * scale).floor() as usize,
        (w as f64 * scale).floor() as usize,
    );
    if ho == 0 || wo == 0 {
        bail!("resize: {h}x{w} by {scale} leaves nothing");
    }
    let dev = x.device().clone();
    let func = function(&dev, "resize", x.dtype())?;
    let cfg = row_grid(wo, ho, n * c);
    let stream = dev.cuda_stream();
    let (ci, hi, wi, hoi, woi, gi) = (int(c), int(h), int(w), int(ho), int(wo), int(gained));
    macro_rules! launch {
        ($t:ty) => {{
            let src = view::<$t>(x, l, "resize")?;
            // SAFETY: the kernel below writes every element.
            let out = unsafe { dev.alloc::<$t>(n * c * ho * wo)? };
            let mut b = stream.launch_builder(&func);
            b.arg(&src)
                .arg(&out)
                .arg(&ci)
                .arg(&hi)
                .arg(&wi)
                .arg(&hoi)
                .arg(&woi);
            b.arg(&scale).arg(&gi).arg(&gain);
            // SAFETY: the arguments match the kernel's signature.
            unsafe { b.launch(cfg) }.w()?;
            CudaStorage::wrap_cuda_slice(out, dev.clone())
        }};
    }
    let out = match x.dtype() {
        DType::F16 => launch!(f16),
        _ => launch!(f32),
    };
    Ok((out, Shape::from((n, c, ho, wo))))
}

/// In place on a convolution's output `y`: `+ bias`, `+ residual` if
/// given, then leaky ReLU (`ops::BiasLeaky` on CUDA).
pub fn bias_leaky(
    y: &mut CudaStorage,
    yl: &Layout,
    bias: &CudaStorage,
    bias_l: &Layout,
    residual: Option<(&CudaStorage, &Layout)>,
) -> Result<()> {
    let (n, c, h, w) = dims(yl)?;
    let total = n * c * h * w;
    if yl.contiguous_offsets() != Some((0, total)) {
        bail!("bias-leaky: the output must be a whole contiguous tensor");
    }
    if let Some((_, rl)) = residual {
        if rl.dims() != yl.dims() {
            bail!(
                "bias-leaky: residual {:?} beside output {:?}",
                rl.dims(),
                yl.dims()
            );
        }
    }
    let dev = y.device().clone();
    let func = function(&dev, "bias_leaky", y.dtype())?;
    let cfg = LaunchConfig::for_num_elems(total as u32);
    let stream = dev.cuda_stream();
    let (ci, plane, count) = (int(c), (h * w) as i64, total as i64);
    macro_rules! launch {
        ($t:ty) => {{
            let b_view = view::<$t>(bias, bias_l, "bias")?;
            let r_view = match residual {
                Some((r, rl)) => Some(view::<$t>(r, rl, "residual")?),
                None => None,
            };
            let out = y.as_cuda_slice_mut::<$t>()?;
            let mut b = stream.launch_builder(&func);
            b.arg(out).arg(&b_view);
            // A null residual pointer is the kernel's "no residual".
            let null: u64 = 0;
            match &r_view {
                Some(r) => b.arg(r),
                None => b.arg(&null),
            };
            b.arg(&ci).arg(&plane).arg(&count);
            // SAFETY: the arguments match the kernel's signature.
            unsafe { b.launch(cfg) }.w()?;
        }};
    }
    match y.dtype() {
        DType::F16 => launch!(f16),
        _ => launch!(f32),
    }
    Ok(())
}
