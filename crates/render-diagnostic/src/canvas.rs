//! Panels into one YUV 4:2:0 frame, and the coloured outlines and bars that
//! mark them. Every offset and size is even, so chroma lines up.

use vantage_media::Frame;

/// A colour as limited-range BT.709 Y, U, V.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Yuv(pub u8, pub u8, pub u8);

impl Yuv {
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        // Integer BT.709 (limited range), as const arithmetic.
        let (r, g, b) = (r as i32, g as i32, b as i32);
        let y = 16 + (47 * r + 157 * g + 16 * b + 128) / 256;
        let u = 128 + (-26 * r - 87 * g + 112 * b + 128) / 256;
        let v = 128 + (112 * r - 102 * g - 10 * b + 128) / 256;
        Self(y as u8, u as u8, v as u8)
    }
}

/// A freeze's colour.
pub fn severity(s: vantage_core::Severity) -> Yuv {
    let (r, g, b) = s.rgb();
    Yuv::rgb(r, g, b)
}
pub const SYNTHESISED: Yuv = Yuv::rgb(0, 200, 80);
pub const GUARDED: Yuv = Yuv::rgb(0, 200, 230);
pub const DROPPED: Yuv = Yuv::rgb(220, 0, 220);
pub const CUT: Yuv = Yuv::rgb(40, 90, 255);

/// An even-aligned rectangle in the canvas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Copy `panel` into `canvas` with its top-left corner at (`x`, `y`).
pub fn blit(canvas: &mut Frame, panel: &Frame, x: u32, y: u32) {
    let (cw, ch) = (canvas.width as usize, canvas.height as usize);
    let (pw, ph) = (panel.width as usize, panel.height as usize);
    let (x, y) = (x as usize, y as usize);
    let w = pw.min(cw.saturating_sub(x));
    for row in 0..ph.min(ch.saturating_sub(y)) {
        let src = row * pw;
        let dst = (y + row) * cw + x;
        canvas.data[dst..dst + w].copy_from_slice(&panel.data[src..src + w]);
    }
    let (ccw, cch) = (cw.div_ceil(2), ch.div_ceil(2));
    let (cpw, cph) = (pw.div_ceil(2), ph.div_ceil(2));
    let (cx, cy, w) = (x / 2, y / 2, cpw.min(ccw.saturating_sub(x / 2)));
    for plane in 0..2 {
        let (c_base, p_base) = (cw * ch + plane * ccw * cch, pw * ph + plane * cpw * cph);
        for row in 0..cph.min(cch.saturating_sub(cy)) {
            let src = p_base + row * cpw;
            let dst = c_base + (cy + row) * ccw + cx;
            canvas.data[dst..dst + w].copy_from_slice(&panel.data[src..src + w]);
        }
    }
}

/// Fill `r` (clipped to the canvas) with `colour`.
pub fn fill(canvas: &mut Frame, r: Rect, colour: Yuv) {
    let (cw, ch) = (canvas.width as usize, canvas.height as usize);
    let x1 = ((r.x + r.w) as usize).min(cw);
    let y1 = ((r.y + r.h) as usize).min(ch);
    let (x0, y0) = ((r.x as usize).min(x1), (r.y as usize).min(y1));
    for row in y0..y1 {
        canvas.data[row * cw + x0..row * cw + x1].fill(colour.0);
    }
    let (ccw, cch) = (cw.div_ceil(2), ch.div_ceil(2));
    for (plane, value) in [colour.1, colour.2].into_iter().enumerate() {
        let base = cw * ch + plane * ccw * cch;
        for row in y0 / 2..y1.div_ceil(2) {
            canvas.data[base + row * ccw + x0 / 2..base + row * ccw + x1.div_ceil(2)].fill(value);
        }
    }
}

/// A border `thickness` wide just inside `r`.
pub fn outline(canvas: &mut Frame, r: Rect, thickness: u32, colour: Yuv) {
    let t = thickness.min(r.w / 2).min(r.h / 2);
    fill(canvas, Rect { h: t, ..r }, colour);
    fill(
        canvas,
        Rect {
            y: r.y + r.h - t,
            h: t,
            ..r
        },
        colour,
    );
    fill(canvas, Rect { w: t, ..r }, colour);
    fill(
        canvas,
        Rect {
            x: r.x + r.w - t,
            w: t,
            ..r
        },
        colour,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_match_bt709_limited_range() {
        assert_eq!(Yuv::rgb(0, 0, 0), Yuv(16, 128, 128));
        assert_eq!(Yuv::rgb(255, 255, 255), Yuv(235, 128, 128));
        let red = Yuv::rgb(255, 0, 0);
        assert!((red.0 as i32 - 63).abs() <= 1 && red.2 > 230, "{red:?}");
    }

    #[test]
    fn panels_and_outlines_land_where_asked() {
        let mut canvas = Frame::black(16, 8);
        let mut panel = Frame::black(4, 4);
        panel.data[..16].fill(200);
        let (cu, cv) = (16, 20);
        panel.data[cu..cu + 4].fill(90);
        panel.data[cv..cv + 4].fill(170);
        blit(&mut canvas, &panel, 8, 2);
        let luma = |c: &Frame, x: usize, y: usize| c.data[y * 16 + x];
        assert_eq!((luma(&canvas, 8, 2), luma(&canvas, 11, 5)), (200, 200));
        assert_eq!((luma(&canvas, 7, 2), luma(&canvas, 12, 2)), (16, 16));
        // Chroma of the panel at (4..6, 1..3) in the 8x4 chroma planes.
        let u = 16 * 8;
        assert_eq!(canvas.data[u + 8 + 4], 90);
        assert_eq!(canvas.data[u + 32 + 8 + 4], 170);
        let red = severity(vantage_core::Severity::Severe);
        let r = Rect {
            x: 8,
            y: 2,
            w: 4,
            h: 4,
        };
        outline(&mut canvas, r, 2, red);
        assert_eq!(luma(&canvas, 8, 2), red.0);
        assert_eq!(luma(&canvas, 11, 5), red.0);
        assert_eq!(luma(&canvas, 0, 0), 16, "outside untouched");
    }
}
