//! The image operations IFNet needs beyond candle's convolutions. On the
//! CPU they run as the kernels in `cpu.rs`; elsewhere they are written as
//! tensor operations, so they run on every candle device.

use super::{cpu, Kernels};
use candle_core::{DType, Result, Tensor, D};

pub fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    x.maximum(&(x * 0.2)?)
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
    if kernels == Kernels::Cpu {
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
/// The four neighbours are gathered with `index_select` over the flattened
/// image; batch size 1.
pub fn warp(img: &Tensor, flow: &Tensor, kernels: Kernels) -> Result<Tensor> {
    if kernels == Kernels::Cpu {
        return img
            .contiguous()?
            .apply_op2_no_bwd(&flow.contiguous()?, &cpu::Warp);
    }
    warp_with_tensor_ops(img, flow)
}

pub(super) fn warp_with_tensor_ops(img: &Tensor, flow: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = img.dims4()?;
    if n != 1 {
        candle_core::bail!("warp handles one image at a time, got a batch of {n}");
    }
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

    const BOTH: [Kernels; 2] = [Kernels::Cpu, Kernels::Portable];

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
