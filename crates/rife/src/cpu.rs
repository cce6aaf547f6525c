//! IFNet's heavy operations as CPU kernels (candle custom ops).
//!
//! candle's own CPU convolution is 5-30x slower than oneDNN on these shapes,
//! its transposed convolution is a naive loop, and its resize and gathers are
//! single-threaded (see shared/notes/candle-facts.md). Here a convolution is
//! im2col over a cache-sized tile of output pixels followed by one gemm call,
//! with the op that follows it in the network (bias, leaky ReLU, residual
//! add, pixel shuffle) applied while the tile is still in cache; warp and
//! resize are plain loops spread over the cores with rayon.

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape};
use gemm::Parallelism;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Floats of im2col buffer per tile (1 MiB): big enough to feed gemm, small
/// enough to stay in a core's L2 while it is multiplied.
const COL_BUDGET: usize = 1 << 18;

/// Makes glibc serve large allocations from the heap and keep freed memory
/// for reuse. Every candle op allocates its output afresh, and IFNet's
/// full-resolution tensors (about 100 MB at 720p) are above glibc's mmap
/// threshold: each would be mapped, page-faulted, zeroed and unmapped again,
/// dozens of times per frame, which costs more than a tenth of the frame
/// time. The process keeps its peak heap instead, which is bounded by the
/// largest frame size it works on. Process-wide, set once.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only changes allocator tuning parameters.
        ONCE.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            libc::mallopt(libc::M_TOP_PAD, 256 << 20);
        });
    }
}

/// Give the heap kept by [`keep_freed_memory`] back to the system (a
/// long-lived process calls it when it goes idle after a large render).
/// Returns whether glibc released anything.
pub fn return_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free heap pages to the kernel.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Channels, height and width.
type Dims = (usize, usize, usize);

/// The contiguous f32 data of a (1, C, H, W) tensor, and its dims.
fn image<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<(&'a [f32], Dims)> {
    let CpuStorage::F32(data) = storage else {
        bail!("{what}: expected f32 data");
    };
    let (n, c, h, w) = layout.shape().dims4()?;
    if n != 1 {
        bail!("{what}: handles one image at a time, got a batch of {n}");
    }
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!("{what}: expected a contiguous tensor");
    };
    Ok((&data[start..end], (c, h, w)))
}

/// What a convolution's raw output goes through before it is stored.
#[derive(Clone, Debug)]
pub enum Post {
    /// `leaky_relu(+ bias)`
    LeakyRelu,
    /// `leaky_relu(+ bias + input)` (same channels, stride 1)
    ResidualLeakyRelu,
    /// `+ bias`, then each output channel `r` goes to channel `to[r].0` of an
    /// image `factor` times larger, at offset (`to[r].1`, `to[r].2`) of each
    /// `factor`x`factor` cell: a pixel shuffle, fused.
    Scatter {
        factor: usize,
        to: Vec<(usize, usize, usize)>,
    },
}

/// A 3x3 convolution with padding 1, weights as a (rows, cin·9) matrix.
#[derive(Clone, Debug)]
pub struct Conv3x3 {
    weight: Vec<f32>,
    bias: Vec<f32>,
    cin: usize,
    stride: usize,
    post: Post,
}

impl Conv3x3 {
    /// From PyTorch's (cout, cin, 3, 3) weight layout.
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, cin: usize, stride: usize, post: Post) -> Self {
        debug_assert_eq!(weight.len(), bias.len() * cin * 9);
        Self {
            weight,
            bias,
            cin,
            stride,
            post,
        }
    }

    /// A 4x4 transposed convolution with stride 2 and padding 1 from
    /// PyTorch's (cin, cout, 4, 4) weights, rewritten exactly as a 3x3
    /// convolution to 4·cout channels (one per output phase) whose outputs
    /// scatter into the doubled image; `shuffle` > 1 applies a pixel shuffle
    /// of that factor to the result as part of the same scatter.
    pub fn transposed(weight: &[f32], bias: &[f32], cin: usize, shuffle: usize) -> Self {
        let cout = bias.len();
        // Output row 2m+i takes input rows m+d for the offsets d and kernel
        // taps listed here (from oy = 2·iy - 1 + ky).
        let taps = |phase: usize| -> [(usize, usize); 2] {
            // (index in the 3x3 window = d + 1, tap of the 4x4 kernel)
            if phase == 0 {
                [(0, 3), (1, 1)]
            } else {
                [(1, 2), (2, 0)]
            }
        };
        let k = cin * 9;
        let mut packed = vec![0f32; 4 * cout * k];
        let mut packed_bias = Vec::with_capacity(4 * cout);
        let mut to = Vec::with_capacity(4 * cout);
        for co in 0..cout {
            for i in 0..2 {
                for j in 0..2 {
                    let row = co * 4 + i * 2 + j;
                    for ci in 0..cin {
                        for (wy, ky) in taps(i) {
                            for (wx, kx) in taps(j) {
                                packed[row * k + ci * 9 + wy * 3 + wx] =
                                    weight[((ci * cout + co) * 4 + ky) * 4 + kx];
                            }
                        }
                    }
                    packed_bias.push(bias[co]);
                    // Channel co at (2y+i, 2x+j); a pixel shuffle by s then
                    // sends channel co to co / s² at offset (co % s² / s, co % s).
                    let s = shuffle;
                    let (c, sy, sx) = (co / (s * s), co % (s * s) / s, co % s);
                    to.push((c, i * s + sy, j * s + sx));
                }
            }
        }
        Self {
            weight: packed,
            bias: packed_bias,
            cin,
            stride: 1,
            post: Post::Scatter {
                factor: 2 * shuffle,
                to,
            },
        }
    }

    fn rows(&self) -> usize {
        self.bias.len()
    }

    /// Fill `col` (cin·9 rows of `p1 - p0` pixels) with the input patches of
    /// output pixels `p0..p1` (row-major over an output `wo` wide).
    #[allow(clippy::too_many_arguments)]
    fn im2col(
        &self,
        x: &[f32],
        h: usize,
        w: usize,
        wo: usize,
        p0: usize,
        p1: usize,
        col: &mut [f32],
    ) {
        let (s, n) = (self.stride, p1 - p0);
        for ci in 0..self.cin {
            let plane = &x[ci * h * w..(ci + 1) * h * w];
            for ky in 0..3 {
                for kx in 0..3 {
                    let dst = &mut col[(ci * 9 + ky * 3 + kx) * n..][..n];
                    let mut p = p0;
                    while p < p1 {
                        let (oy, ox0) = (p / wo, p % wo);
                        let ox1 = wo.min(ox0 + p1 - p);
                        let seg = &mut dst[p - p0..p - p0 + ox1 - ox0];
                        p += ox1 - ox0;
                        let iy = oy * s + ky;
                        if iy == 0 || iy > h {
                            seg.fill(0.0);
                            continue;
                        }
                        let src = &plane[(iy - 1) * w..iy * w];
                        // Output columns whose input column ox·s + kx - 1 is inside.
                        let lo = usize::from(kx == 0).clamp(ox0, ox1);
                        let hi = (w + 1 - kx).div_ceil(s).clamp(lo, ox1);
                        seg[..lo - ox0].fill(0.0);
                        seg[hi - ox0..].fill(0.0);
                        if lo == hi {
                            continue;
                        }
                        let first = lo * s + kx - 1;
                        let inside = &mut seg[lo - ox0..hi - ox0];
                        if s == 1 {
                            inside.copy_from_slice(&src[first..first + inside.len()]);
                        } else {
                            for (d, v) in inside.iter_mut().zip(src[first..].iter().step_by(s)) {
                                *d = *v;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Output pixels `p0..p1` of every output channel.
    #[allow(clippy::too_many_arguments)]
    fn tile(
        &self,
        x: &[f32],
        (h, w): (usize, usize),
        (ho, wo): (usize, usize),
        (p0, p1): (usize, usize),
        col: &mut Vec<f32>,
        acc: &mut Vec<f32>,
        out: OutPtr,
        parallelism: Parallelism,
    ) {
        let (k, m, n, px) = (self.cin * 9, self.rows(), p1 - p0, ho * wo);
        col.resize(k * n, 0.0);
        self.im2col(x, h, w, wo, p0, p1, col);
        // Plain convolutions multiply straight into the (C, H, W) output;
        // scattered ones into a scratch tile first.
        let (dst, dst_rs) = match self.post {
            Post::Scatter { .. } => {
                acc.resize(m * n, 0.0);
                (acc.as_mut_ptr(), n)
            }
            // SAFETY: p0 < px, so the offset is inside the output.
            _ => (unsafe { out.at(p0) }, px),
        };
        // SAFETY: every matrix lies inside its buffer: weight is m×k, col is
        // k×n, and dst is m rows of n (row stride dst_rs) within the output
        // or scratch tile; tiles write disjoint pixel ranges.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                dst_rs as isize,
                false,
                self.weight.as_ptr(),
                1,
                k as isize,
                col.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        let leaky = |v: f32| if v < 0.0 { 0.2 * v } else { v };
        for (r, &b) in self.bias.iter().enumerate() {
            match &self.post {
                Post::Scatter { factor, to } => {
                    let (c, dy, dx) = to[r];
                    let (wf, plane) = (wo * factor, px * factor * factor);
                    let src = &acc[r * n..(r + 1) * n];
                    // Row segment by row segment of the output pixels.
                    let mut i = 0;
                    while i < n {
                        let (oy, ox0) = ((p0 + i) / wo, (p0 + i) % wo);
                        let len = (wo - ox0).min(n - i);
                        let start = c * plane + (oy * factor + dy) * wf + ox0 * factor + dx;
                        for (j, v) in src[i..i + len].iter().enumerate() {
                            // SAFETY: inside the scattered image, and each
                            // (pixel, row) pair maps to its own position.
                            unsafe { *out.at(start + j * factor) = v + b };
                        }
                        i += len;
                    }
                }
                post => {
                    // SAFETY: row r's pixels p0..p1 of the output, written by
                    // this tile only.
                    let row = unsafe { std::slice::from_raw_parts_mut(out.at(r * px + p0), n) };
                    match post {
                        Post::LeakyRelu => row.iter_mut().for_each(|v| *v = leaky(*v + b)),
                        Post::ResidualLeakyRelu => {
                            let input = &x[r * px + p0..r * px + p1];
                            for (v, i) in row.iter_mut().zip(input) {
                                *v = leaky(*v + b + i);
                            }
                        }
                        Post::Scatter { .. } => unreachable!(),
                    }
                }
            }
        }
    }
}

/// The output buffer, shared by tiles that write disjoint parts of it.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tiles never write the same element, and the buffer outlives them.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The element `offset` places in (a method, so closures capture the
    /// whole `OutPtr` rather than the bare pointer).
    ///
    /// # Safety
    /// `offset` must be inside the buffer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

impl CustomOp1 for Conv3x3 {
    fn name(&self) -> &'static str {
        "rife-conv3x3"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, (c, h, w)) = image(storage, layout, "conv3x3")?;
        if c != self.cin {
            bail!("conv3x3: expected {} input channels, got {c}", self.cin);
        }
        let s = self.stride;
        let (ho, wo) = ((h - 1) / s + 1, (w - 1) / s + 1);
        if matches!(self.post, Post::ResidualLeakyRelu) && (s != 1 || c != self.rows()) {
            bail!("conv3x3: a residual needs stride 1 and as many outputs as inputs");
        }
        let (channels, scale) = match &self.post {
            Post::Scatter { factor, .. } => (self.rows() / (factor * factor), *factor),
            _ => (self.rows(), 1),
        };
        let shape = Shape::from((1, channels, ho * scale, wo * scale));
        // Every element is written below (gemm does not read its output),
        // so the buffer is not zeroed first.
        let mut out = Vec::<f32>::with_capacity(shape.elem_count());
        let ptr = OutPtr(out.as_mut_ptr());
        let px = ho * wo;
        let tile = (COL_BUDGET / (self.cin * 9)).max(64).min(px);
        let tiles = px.div_ceil(tile);
        let threads = rayon::current_num_threads();
        let bounds = |t: usize| (t * tile, ((t + 1) * tile).min(px));
        if tiles >= 2 * threads {
            (0..tiles).into_par_iter().for_each_init(
                || (Vec::new(), Vec::new()),
                |(col, acc), t| {
                    self.tile(
                        x,
                        (h, w),
                        (ho, wo),
                        bounds(t),
                        col,
                        acc,
                        ptr,
                        Parallelism::None,
                    )
                },
            );
        } else {
            // Too few tiles to share out: let gemm split each one instead.
            let (mut col, mut acc) = (Vec::new(), Vec::new());
            for t in 0..tiles {
                let par = Parallelism::Rayon(threads);
                self.tile(x, (h, w), (ho, wo), bounds(t), &mut col, &mut acc, ptr, par);
            }
        }
        // SAFETY: the tiles wrote every output element (they cover all
        // pixels, and every row of the matrix, or of the scatter's cells).
        unsafe { out.set_len(shape.elem_count()) };
        Ok((CpuStorage::F32(out), shape))
    }
}

/// Backward warp (see `ops::warp`) of an image by a 2-channel flow.
pub struct Warp;

/// The four neighbours a warped pixel blends (row offsets and columns) and
/// the weights of the bottom and right ones.
struct Tap {
    top: usize,
    bottom: usize,
    left: usize,
    right: usize,
    ax: f32,
    ay: f32,
}

impl CustomOp2 for Warp {
    fn name(&self) -> &'static str {
        "rife-warp"
    }

    fn cpu_fwd(
        &self,
        img: &CpuStorage,
        img_layout: &Layout,
        flow: &CpuStorage,
        flow_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (img, (c, h, w)) = image(img, img_layout, "warp")?;
        let (flow, (fc, fh, fw)) = image(flow, flow_layout, "warp flow")?;
        if (fc, fh, fw) != (2, h, w) {
            bail!("warp: flow is {fc}x{fh}x{fw}, expected 2x{h}x{w}");
        }
        let (xmax, ymax) = ((w - 1) as f32, (h - 1) as f32);
        let mut out = Vec::<f32>::with_capacity(c * h * w);
        let out_ptr = OutPtr(out.as_mut_ptr());
        let plane = h * w;
        (0..h).into_par_iter().for_each_init(
            || Vec::with_capacity(w),
            |taps: &mut Vec<Tap>, y| {
                // Where each pixel of the row samples, shared by all channels.
                taps.clear();
                for x in 0..w {
                    // Clamped to the image, so truncation is floor.
                    let sx = (x as f32 + flow[y * w + x]).clamp(0.0, xmax);
                    let sy = (y as f32 + flow[plane + y * w + x]).clamp(0.0, ymax);
                    let (x0, y0) = (sx as usize, sy as usize);
                    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                    taps.push(Tap {
                        top: y0 * w,
                        bottom: y1 * w,
                        left: x0,
                        right: x1,
                        ax: sx - x0 as f32,
                        ay: sy - y0 as f32,
                    });
                }
                for ch in 0..c {
                    let src = &img[ch * plane..(ch + 1) * plane];
                    // SAFETY: row y of channel ch (not yet initialised),
                    // written by this task only.
                    let dst = unsafe {
                        let row = out_ptr.at(ch * plane + y * w);
                        std::slice::from_raw_parts_mut(row.cast::<MaybeUninit<f32>>(), w)
                    };
                    for (d, t) in dst.iter_mut().zip(taps.iter()) {
                        let top = src[t.top + t.left] * (1.0 - t.ax) + src[t.top + t.right] * t.ax;
                        let bottom =
                            src[t.bottom + t.left] * (1.0 - t.ax) + src[t.bottom + t.right] * t.ax;
                        d.write(top * (1.0 - t.ay) + bottom * t.ay);
                    }
                }
            },
        );
        // SAFETY: every row of every channel was written.
        unsafe { out.set_len(c * h * w) };
        Ok((CpuStorage::F32(out), Shape::from((1, c, h, w))))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        img: &candle_core::CudaStorage,
        img_layout: &Layout,
        flow: &candle_core::CudaStorage,
        flow_layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::warp(img, img_layout, flow, flow_layout)
    }
}

/// Bilinear resize by `scale` as PyTorch's `interpolate(scale_factor=scale,
/// mode="bilinear", align_corners=False)` (the same index arithmetic as
/// candle's, which matches it), with the first `gained` channels multiplied
/// by `gain` (flows are in pixels, so they scale with the image).
pub struct Resize {
    pub scale: f64,
    pub gained: usize,
    pub gain: f32,
}

/// For each output index along one axis: the two input indices and the
/// weight of the second.
fn bilinear_taps(input: usize, output: usize, scale: f64) -> Vec<(usize, usize, f32)> {
    (0..output)
        .map(|o| {
            let src = ((o as f64 + 0.5) / scale - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(input - 1);
            let i1 = (i0 + 1).min(input - 1);
            (i0, i1, (src - i0 as f64).clamp(0.0, 1.0) as f32)
        })
        .collect()
}

impl CustomOp1 for Resize {
    fn name(&self) -> &'static str {
        "rife-resize"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, (c, h, w)) = image(storage, layout, "resize")?;
        let (ho, wo) = (
            (h as f64 * self.scale).floor() as usize,
            (w as f64 * self.scale).floor() as usize,
        );
        if ho == 0 || wo == 0 {
            bail!("resize: {h}x{w} by {} leaves nothing", self.scale);
        }
        let (rows, cols) = (
            bilinear_taps(h, ho, self.scale),
            bilinear_taps(w, wo, self.scale),
        );
        let mut out = Vec::<f32>::with_capacity(c * ho * wo);
        out.spare_capacity_mut()[..c * ho * wo]
            .par_chunks_mut(wo)
            .enumerate()
            .for_each_init(
                || vec![0f32; w],
                |mixed, (row, dst)| {
                    let (ch, oy) = (row / ho, row % ho);
                    let gain = if ch < self.gained { self.gain } else { 1.0 };
                    let (y0, y1, ay) = rows[oy];
                    let plane = &x[ch * h * w..(ch + 1) * h * w];
                    let (top, bottom) =
                        (&plane[y0 * w..(y0 + 1) * w], &plane[y1 * w..(y1 + 1) * w]);
                    // Rows first, once per input column, then columns per output
                    // pixel (most of the work when enlarging 16x).
                    for ((m, t), b) in mixed.iter_mut().zip(top).zip(bottom) {
                        *m = (t * (1.0 - ay) + b * ay) * gain;
                    }
                    for (d, &(x0, x1, ax)) in dst.iter_mut().zip(&cols) {
                        d.write(mixed[x0] * (1.0 - ax) + mixed[x1] * ax);
                    }
                },
            );
        // SAFETY: every output row was written.
        unsafe { out.set_len(c * ho * wo) };
        Ok((CpuStorage::F32(out), Shape::from((1, c, ho, wo))))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::resize(x, layout, self.scale, self.gained, self.gain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Deterministic values in -1..1.
    fn noise(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let values: Vec<f32> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 20_001) as f32 / 10_000.0 - 1.0
            })
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn max_difference(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let (a, b) = (values(a), values(b));
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn leaky(t: &Tensor) -> Tensor {
        t.maximum(&(t * 0.2).unwrap()).unwrap()
    }

    #[test]
    fn convolution_matches_candle_for_both_strides_and_odd_sizes() {
        // Sizes that are not multiples of anything, and enough pixels for
        // several tiles (the parallel path) as well as a single tile.
        for (cin, cout, h, w, stride) in [(3, 5, 7, 9, 1), (4, 6, 13, 11, 2), (2, 3, 300, 301, 1)] {
            let x = noise(&[1, cin, h, w], 1);
            let weight = noise(&[cout, cin, 3, 3], 2);
            let bias = noise(&[cout], 3);
            let conv = Conv3x3::new(values(&weight), values(&bias), cin, stride, Post::LeakyRelu);
            let ours = x.apply_op1_no_bwd(&conv).unwrap();
            let reference = x
                .conv2d(&weight, 1, stride, 1, 1)
                .unwrap()
                .broadcast_add(&bias.reshape((1, cout, 1, 1)).unwrap())
                .unwrap();
            let d = max_difference(&ours, &leaky(&reference));
            assert!(d < 1e-4, "{cin}->{cout} {h}x{w} stride {stride}: {d}");
        }
    }

    #[test]
    fn residual_convolution_adds_its_input_before_the_activation() {
        let x = noise(&[1, 4, 10, 12], 4);
        let weight = noise(&[4, 4, 3, 3], 5);
        let bias = noise(&[4], 6);
        let conv = Conv3x3::new(
            values(&weight),
            values(&bias),
            4,
            1,
            Post::ResidualLeakyRelu,
        );
        let reference = (x.conv2d(&weight, 1, 1, 1, 1).unwrap()
            + bias
                .reshape((1, 4, 1, 1))
                .unwrap()
                .broadcast_as((1, 4, 10, 12))
                .unwrap()
            + &x)
            .unwrap();
        let d = max_difference(&x.apply_op1_no_bwd(&conv).unwrap(), &leaky(&reference));
        assert!(d < 1e-4, "{d}");
    }

    #[test]
    fn transposed_convolution_with_and_without_shuffle_matches_candle() {
        let x = noise(&[1, 5, 6, 7], 7);
        for (cout, shuffle) in [(3, 1), (8, 2)] {
            let weight = noise(&[5, cout, 4, 4], 8);
            let bias = noise(&[cout], 9);
            let conv = Conv3x3::transposed(&values(&weight), &values(&bias), 5, shuffle);
            let mut reference = x
                .conv_transpose2d(&weight, 1, 0, 2, 1)
                .unwrap()
                .broadcast_add(&bias.reshape((1, cout, 1, 1)).unwrap())
                .unwrap();
            if shuffle > 1 {
                reference = super::super::ops::pixel_shuffle(&reference, shuffle).unwrap();
            }
            let d = max_difference(&x.apply_op1_no_bwd(&conv).unwrap(), &reference);
            assert!(d < 1e-4, "cout {cout}, shuffle {shuffle}: {d}");
        }
    }

    #[test]
    fn resize_matches_candle_both_ways_and_applies_the_gain() {
        let x = noise(&[1, 3, 48, 80], 10);
        for scale in [1.0 / 16.0, 0.25, 0.5, 2.0, 16.0] {
            let op = Resize {
                scale,
                gained: 2,
                gain: 3.0,
            };
            let ours = x.apply_op1_no_bwd(&op).unwrap();
            let reference = x
                .upsample_bilinear2d_with_scale(scale, scale, false)
                .unwrap();
            let gained = (reference.narrow(1, 0, 2).unwrap() * 3.0).unwrap();
            let reference = Tensor::cat(&[gained, reference.narrow(1, 2, 1).unwrap()], 1).unwrap();
            let d = max_difference(&ours, &reference);
            assert!(d < 1e-5, "scale {scale}: {d}");
        }
    }

    #[test]
    fn warp_matches_the_tensor_op_version() {
        let img = noise(&[1, 4, 20, 30], 11);
        // Flows of up to ±8 px, so many samples fall outside and clamp.
        let flow = (noise(&[1, 2, 20, 30], 12) * 8.0).unwrap();
        let ours = img.apply_op2_no_bwd(&flow, &Warp).unwrap();
        let reference = super::super::ops::warp(&img, &flow, crate::Kernels::Portable).unwrap();
        let d = max_difference(&ours, &reference);
        assert!(d < 1e-5, "{d}");
    }
}
