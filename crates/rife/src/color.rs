//! YUV 4:2:0 frames ↔ RGB tensors for the model (limited range, in the
//! source's own matrix). Only synthesised frames make the round trip; real
//! frames are copied as decoded.

use candle_core::{DType, Device, Result, Tensor};
use vantage_media::{Frame, Matrix, RgbImage};

/// Planes of a frame: (luma h×w, chroma (h/2)×(w/2) for U and V, rounded up).
fn planes(f: &Frame) -> (usize, usize, usize, usize) {
    let (w, h) = (f.width as usize, f.height as usize);
    (w, h, w.div_ceil(2), h.div_ceil(2))
}

/// An image (interleaved RGB) as a (1, 3, H, W) tensor on `device`.
pub fn image_to_tensor(img: &RgbImage, device: &Device) -> Result<Tensor> {
    let (w, h) = (img.width as usize, img.height as usize);
    Tensor::from_slice(&img.data, (1, h, w, 3), device)?
        .permute((0, 3, 1, 2))?
        .contiguous()
}

/// A (1, 3, H, W) tensor back to an interleaved RGB image.
pub fn tensor_to_image(t: &Tensor) -> Result<RgbImage> {
    let (_, _, h, w) = t.dims4()?;
    let data = t.permute((0, 2, 3, 1))?.flatten_all()?.to_vec1()?;
    Ok(RgbImage {
        width: w as u32,
        height: h as u32,
        data,
    })
}

/// A frame as a (1, 3, H, W) RGB tensor in 0..1 (not clamped).
pub fn to_rgb(f: &Frame, m: Matrix, device: &Device) -> Result<Tensor> {
    let (kr, kb) = (m.kr, m.kb);
    let kg = 1.0 - kr - kb;
    let (w, h, cw, ch) = planes(f);
    let plane = |start: usize, ph: usize, pw: usize| -> Result<Tensor> {
        Tensor::from_slice(&f.data[start..start + ph * pw], (1, 1, ph, pw), device)?
            .to_dtype(DType::F32)
    };
    let y = ((plane(0, h, w)? - 16.0)? / 219.0)?;
    let chroma = |start: usize| -> Result<Tensor> {
        let c = ((plane(start, ch, cw)? - 128.0)? / 224.0)?;
        c.upsample_nearest2d(2 * ch, 2 * cw)?
            .narrow(2, 0, h)?
            .narrow(3, 0, w)
    };
    let (cb, cr) = (chroma(w * h)?, chroma(w * h + cw * ch)?);
    let r = (&y + (&cr * (2.0 * (1.0 - kr)))?)?;
    let b = (&y + (&cb * (2.0 * (1.0 - kb)))?)?;
    let g =
        ((&y - (&cb * (2.0 * (1.0 - kb) * kb / kg))?)? - (&cr * (2.0 * (1.0 - kr) * kr / kg))?)?;
    Tensor::cat(&[r, g, b], 1)
}

/// Write a (1, 3, H, W) RGB tensor into `out` (same size) as YUV 4:2:0;
/// chroma is the mean of each 2×2 block.
pub fn to_yuv(rgb: &Tensor, m: Matrix, out: &mut Frame) -> Result<()> {
    let (kr, kb) = (m.kr, m.kb);
    let (w, h, cw, ch) = planes(out);
    let (r, g, b) = (
        rgb.narrow(1, 0, 1)?,
        rgb.narrow(1, 1, 1)?,
        rgb.narrow(1, 2, 1)?,
    );
    let y = (((&r * kr)? + (&g * (1.0 - kr - kb))?)? + (&b * kb)?)?;
    let cb = ((&b - &y)? / (2.0 * (1.0 - kb)))?;
    let cr = ((&r - &y)? / (2.0 * (1.0 - kr)))?;
    let to_u8 = |t: Tensor| -> Result<Vec<u8>> {
        t.round()?
            .clamp(0f32, 255f32)?
            .to_dtype(DType::U8)?
            .flatten_all()?
            .to_vec1()
    };
    let luma = to_u8(((y * 219.0)? + 16.0)?)?;
    // Odd sizes: repeat the last row/column so every 2×2 block is full.
    let pool = |c: Tensor| -> Result<Vec<u8>> {
        let c = c
            .pad_with_same(2, 0, 2 * ch - h)?
            .pad_with_same(3, 0, 2 * cw - w)?;
        to_u8(((c.avg_pool2d(2)? * 224.0)? + 128.0)?)
    };
    let (u, v) = (pool(cb)?, pool(cr)?);
    out.data[..w * h].copy_from_slice(&luma);
    out.data[w * h..w * h + cw * ch].copy_from_slice(&u);
    out.data[w * h + cw * ch..].copy_from_slice(&v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_the_frame() {
        let (w, h) = (6u32, 5u32);
        let mut f = Frame::black(w, h);
        for (i, v) in f.data.iter_mut().enumerate() {
            *v = (40 + (i * 37) % 170) as u8;
        }
        // Flat chroma per 2×2 block survives exactly; luma within rounding.
        let rgb = to_rgb(&f, Matrix::BT601, &Device::Cpu).unwrap();
        assert_eq!(rgb.dims4().unwrap(), (1, 3, 5, 6));
        let mut back = Frame::black(w, h);
        to_yuv(&rgb, Matrix::BT601, &mut back).unwrap();
        for (a, b) in f.data.iter().zip(&back.data) {
            assert!((*a as i32 - *b as i32).abs() <= 1, "{a} vs {b}");
        }
    }

    #[test]
    fn grey_is_grey() {
        let f = Frame::black(4, 4);
        let rgb = to_rgb(&f, Matrix::BT709, &Device::Cpu).unwrap();
        let v: Vec<f32> = rgb.flatten_all().unwrap().to_vec1().unwrap();
        assert!(
            v.iter().all(|x| x.abs() < 1e-6),
            "black is 0 in every channel: {v:?}"
        );
    }

    #[test]
    fn each_matrix_reads_its_own_numbers() {
        // (192, 64, 32) as ffmpeg codes it at limited range in each matrix
        // (within a code value: 3 levels of RGB).
        for (m, yuv) in [
            (Matrix::BT601, [101, 95, 187]),
            (Matrix::BT709, [92, 100, 185]),
        ] {
            let mut f = Frame::black(2, 2);
            f.data = [[yuv[0]; 4].as_slice(), &yuv[1..]].concat();
            let rgb = to_rgb(&f, m, &Device::Cpu).unwrap();
            let v: Vec<f32> = rgb.flatten_all().unwrap().to_vec1().unwrap();
            for (got, want) in [v[0], v[4], v[8]].iter().zip([192.0, 64.0, 32.0]) {
                assert!((got * 255.0 - want).abs() < 3.0, "{m:?}: {v:?}");
            }
        }
    }
}
