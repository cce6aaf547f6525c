//! The image operations IFNet needs beyond candle's convolutions. With our
//! own kernels they run as custom ops (`cpu.rs` on the CPU, `cuda.rs` on a
//! GPU); the portable path writes them as tensor operations, which run on
//! every candle device and are the reference the kernels are tested against.

use super::{cpu, Kernels};
use candle_core::{bail, CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Tensor, D};

pub fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    x.maximum(&(x * 0.2)?)
}

/// A convolution's epilogue, in place on its output: `+ bias` (1, C, 1, 1),
/// `+ input` in the residual form ([`InplaceOp3`]) or not ([`InplaceOp2`]),
/// then leaky ReLU: one pass instead of three. The CPU form is plain loops
/// (the CPU's own convolution fuses this itself); the CUDA form is
/// `cuda::bias_leaky`.
pub struct BiasLeaky;

impl BiasLeaky {
    /// `y` after a convolution of `x` (the residual form when `residual`).
    pub fn apply(y: Tensor, bias: &Tensor, x: Option<&Tensor>) -> Result<Tensor> {
        let y = y.contiguous()?;
        match x {
            Some(x) => y.inplace_op3(bias, &x.contiguous()?, &BiasLeaky)?,
            None => y.inplace_op2(bias, &BiasLeaky)?,
        }
        Ok(y)
    }

    fn on_cpu(
        y: &mut CpuStorage,
        yl: &Layout,
        bias: &CpuStorage,
        residual: Option<&CpuStorage>,
    ) -> Result<()> {
        let (_, c, h, w) = yl.shape().dims4()?;
        let (CpuStorage::F32(y), CpuStorage::F32(bias)) = (y, bias) else {
            bail!("bias-leaky on the CPU takes f32 tensors");
        };
        let residual = match residual {
            Some(CpuStorage::F32(r)) => Some(r),
            Some(_) => bail!("bias-leaky on the CPU takes f32 tensors"),
            None => None,
        };
        if yl.contiguous_offsets() != Some((0, y.len())) || bias.len() != c {
            bail!("bias-leaky: expected a whole contiguous output and {c} biases");
        }
        for (i, v) in y.iter_mut().enumerate() {
            let mut s = *v + bias[(i / (h * w)) % c];
            if let Some(r) = residual {
                s += r[i];
            }
            *v = s.max(s * 0.2);
        }
        Ok(())
    }
}

impl InplaceOp2 for BiasLeaky {
    fn name(&self) -> &'static str {
        "rife-bias-leaky"
    }

    fn cpu_fwd(
        &self,
        y: &mut CpuStorage,
        yl: &Layout,
        bias: &CpuStorage,
        _: &Layout,
    ) -> Result<()> {
        Self::on_cpu(y, yl, bias, None)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        y: &mut candle_core::CudaStorage,
        yl: &Layout,
        bias: &candle_core::CudaStorage,
        bl: &Layout,
    ) -> Result<()> {
        crate::cuda::bias_leaky(y, yl, bias, bl, None)
    }
}

impl InplaceOp3 for BiasLeaky {
    fn name(&self) -> &'static str {
        "rife-bias-residual-leaky"
    }

    fn cpu_fwd(
        &self,
        y: &mut CpuStorage,
        yl: &Layout,
        bias: &CpuStorage,
        _: &Layout,
        residual: &CpuStorage,
        _: &Layout,
    ) -> Result<()> {
        Self::on_cpu(y, yl, bias, Some(residual))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        y: &mut candle_core::CudaStorage,
        yl: &Layout,
        bias: &candle_core::CudaStorage,
        bl: &Layout,
        residual: &candle_core::CudaStorage,
        rl: &Layout,
    ) -> Result<()> {
        crate::cuda::bias_leaky(y, yl, bias, bl, Some((residual, rl)))
    }
}

/// Bilinear resize by `scale` (PyTorch `interpolate(scale_factor=scale,
/// mode="bilinear", align_corners=False)`), multiplying the first `gained`
/// channels by `gain` on the way.
pub fn resize(
    x: &Tensor,
    scale: f64,
    gained: usize,
    gain: f64,
    kernels: Kernels,
) -> Result<Tensor> {
    if scale == 1.0 && (gained == 0 || gain == 1.0) {
        return Ok(x.clone());
    }
    if kernels == Kernels::Own {
        let op = cpu::Resize {
            scale,
            gained,
            gain: gain as f32,
        };
        return x.contiguous()?.apply_op1_no_bwd(&op);
    }
    // candle's resize reproduces PyTorch's exactly.
    let y = x.upsample_bilinear2d_with_scale(scale, scale, false)?;
    if gained == 0 || gain == 1.0 {
        return Ok(y);
    }
    let channels = y.dim(1)?;
    let scaled = (y.narrow(1, 0, gained)? * gain)?;
    if gained == channels {
        return Ok(scaled);
    }
    Tensor::cat(&[&scaled, &y.narrow(1, gained, channels - gained)?], 1)
}

/// (N, C·r², H, W) → (N, C, H·r, W·r), PyTorch's channel order.
pub fn pixel_shuffle(x: &Tensor, r: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let c_out = c / (r * r);
    x.reshape((n, c_out, r, r, h, w))?
        .permute((0, 1, 4, 2, 5, 3))?
        .reshape((n, c_out, h * r, w * r))
}

/// Backward warp: sample `img` (N, C, H, W) at each pixel plus `flow`
/// (N, 2, H, W; x then y, in pixels), bilinearly, with coordinates clamped
/// to the image (PyTorch `grid_sample`, bilinear, border padding,
/// align_corners=True, with the grid built from the flow as RIFE does).
/// The tensor-op form gathers the four neighbours with `index_select` over
/// the flattened image, one batch item at a time, with coordinates in f32
/// whatever the tensors' type.
pub fn warp(img: &Tensor, flow: &Tensor, kernels: Kernels) -> Result<Tensor> {
    if kernels == Kernels::Own {
        return img
            .contiguous()?
            .apply_op2_no_bwd(&flow.contiguous()?, &cpu::Warp);
    }
    let n = img.dim(0)?;
    let items = (0..n)
        .map(|i| {
            let one = warp_with_tensor_ops(
                &img.narrow(0, i, 1)?.to_dtype(DType::F32)?,
                &flow.narrow(0, i, 1)?.to_dtype(DType::F32)?,
            )?;
            one.to_dtype(img.dtype())
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&items, 0)
}

fn warp_with_tensor_ops(img: &Tensor, flow: &Tensor) -> Result<Tensor> {
    let (_, c, h, w) = img.dims4()?;
    let dev = img.device();
    let cols = Tensor::arange(0u32, w as u32, dev)?
        .to_dtype(DType::F32)?
        .reshape((1, w))?
        .broadcast_as((h, w))?;
    let rows = Tensor::arange(0u32, h as u32, dev)?
        .to_dtype(DType::F32)?
        .reshape((h, 1))?
        .broadcast_as((h, w))?;
    let fx = flow.get(0)?.get(0)?;
    let fy = flow.get(0)?.get(1)?;
    let x = (cols + fx)?.clamp(0f32, (w - 1) as f32)?;
    let y = (rows + fy)?.clamp(0f32, (h - 1) as f32)?;
    let (x0, y0) = (x.floor()?, y.floor()?);
    let (wx, wy) = ((&x - &x0)?, (&y - &y0)?);
    let x1 = (&x0 + 1.0)?.clamp(0f32, (w - 1) as f32)?;
    let y1 = (&y0 + 1.0)?.clamp(0f32, (h - 1) as f32)?;
    let flat = img.reshape((c, h * w))?;
    let corner = |yy: &Tensor, xx: &Tensor| -> Result<Tensor> {
        let idx = ((yy * w as f64)? + xx)?
            .flatten_all()?
            .to_dtype(DType::U32)?;
        flat.index_select(&idx, D::Minus1)
    };
    let (ax, ay) = (
        wx.flatten_all()?.unsqueeze(0)?,
        wy.flatten_all()?.unsqueeze(0)?,
    );
    let (bx, by) = ((1.0 - &ax)?, (1.0 - &ay)?);
    let top = (corner(&y0, &x0)?.broadcast_mul(&bx)? + corner(&y0, &x1)?.broadcast_mul(&ax)?)?;
    let bottom = (corner(&y1, &x0)?.broadcast_mul(&bx)? + corner(&y1, &x1)?.broadcast_mul(&ax)?)?;
    (top.broadcast_mul(&by)? + bottom.broadcast_mul(&ay)?)?.reshape((1, c, h, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn image(values: &[f32], c: usize, h: usize, w: usize) -> Tensor {
        Tensor::from_slice(values, (1, c, h, w), &Device::Cpu).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    const BOTH: [Kernels; 2] = [Kernels::Own, Kernels::Portable];

    #[test]
    fn warp_samples_between_pixels_and_clamps_at_the_border() {
        for k in BOTH {
            // One row: 0 10 20 30.
            let img = image(&[0.0, 10.0, 20.0, 30.0], 1, 1, 4);
            // Half a pixel right everywhere: 5 15 25, then the border holds 30.
            let flow = image(&[0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0], 2, 1, 4);
            assert_eq!(
                values(&warp(&img, &flow, k).unwrap()),
                [5.0, 15.0, 25.0, 30.0]
            );
            // Far left of the image: the first pixel.
            let flow = image(&[-7.0, -1.25, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], 2, 1, 4);
            assert_eq!(
                values(&warp(&img, &flow, k).unwrap()),
                [0.0, 0.0, 20.0, 30.0]
            );
        }
    }

    #[test]
    fn warp_is_bilinear_in_two_dimensions() {
        for k in BOTH {
            // 2x2: 0 10 / 20 30; sampling the centre from the top-left pixel gives the mean.
            let img = image(&[0.0, 10.0, 20.0, 30.0], 1, 2, 2);
            let flow = image(&[0.5, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0], 2, 2, 2);
            assert_eq!(
                values(&warp(&img, &flow, k).unwrap()),
                [15.0, 10.0, 20.0, 30.0]
            );
        }
    }

    #[test]
    fn resize_matches_pytorch_half_pixel_centres() {
        // PyTorch: interpolate([[0, 10, 20, 30]], scale_factor=0.5) = [5, 25];
        // scale_factor=2 on [0, 10] = [0, 2.5, 7.5, 10].
        for k in BOTH {
            // Two equal rows, so only the horizontal taps matter.
            let rows = image(&[0.0, 10.0, 20.0, 30.0, 0.0, 10.0, 20.0, 30.0], 1, 2, 4);
            assert_eq!(values(&resize(&rows, 0.5, 0, 1.0, k).unwrap()), [5.0, 25.0]);
            let up = resize(&image(&[0.0, 10.0, 0.0, 10.0], 1, 2, 2), 2.0, 0, 1.0, k).unwrap();
            assert_eq!(values(&up)[..4], [0.0, 2.5, 7.5, 10.0]);
            // The gain scales the first channels only (flows are in pixels).
            let two = image(&[0.0, 10.0, 0.0, 10.0, 1.0, 1.0, 1.0, 1.0], 2, 2, 2);
            let up = resize(&two, 2.0, 1, 2.0, k).unwrap();
            assert_eq!(values(&up)[..4], [0.0, 5.0, 15.0, 20.0]);
            assert!(values(&up)[16..].iter().all(|&v| v == 1.0));
        }
    }

    #[test]
    fn the_fused_epilogue_is_bias_residual_and_leaky_relu() {
        // What the CUDA convolutions end with, against the tensor ops.
        let y = image(&[-2.0, -1.0, 0.5, 3.0, -0.5, 1.0, 2.0, -4.0], 2, 2, 2);
        let x = image(&[1.0, -3.0, 0.25, 0.0, 2.0, 0.5, -1.0, 1.5], 2, 2, 2);
        let bias = image(&[0.5, -1.0], 2, 1, 1);
        let plain = leaky_relu(&y.broadcast_add(&bias).unwrap()).unwrap();
        let fused = BiasLeaky::apply(y.copy().unwrap(), &bias, None).unwrap();
        assert_eq!(values(&fused), values(&plain));
        let residual = leaky_relu(&(y.broadcast_add(&bias).unwrap() + &x).unwrap()).unwrap();
        let fused = BiasLeaky::apply(y.copy().unwrap(), &bias, Some(&x)).unwrap();
        assert_eq!(values(&fused), values(&residual));
        // -2 + 0.5 + 1 = -0.5 → -0.1; negative values keep a fifth.
        assert!((values(&fused)[0] + 0.1).abs() < 1e-6);
        // The input it was computed from is left as it was.
        assert_eq!(values(&y)[0], -2.0);
    }

    #[test]
    fn pixel_shuffle_interleaves_channels() {
        // 4 channels of one pixel become a 2x2 block in channel order.
        let x = image(&[1.0, 2.0, 3.0, 4.0], 4, 1, 1);
        assert_eq!(values(&pixel_shuffle(&x, 2).unwrap()), [1.0, 2.0, 3.0, 4.0]);
        let x = image(&[1.0, 5.0, 2.0, 6.0, 3.0, 7.0, 4.0, 8.0], 4, 1, 2);
        // Row 0: c0 c1 of pixel 0, c0 c1 of pixel 1; row 1: c2 c3 ...
        assert_eq!(
            values(&pixel_shuffle(&x, 2).unwrap()),
            [1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0]
        );
    }
}
