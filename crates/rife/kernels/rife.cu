// RIFE's image operations on the GPU: the warp, the resize and the
// convolutions' epilogue, for f32 and f16 tensors (NCHW, contiguous).
//
// Each kernel is the same arithmetic as its CPU twin in src/cpu.rs (Warp,
// Resize) or the tensor-op path in src/ops.rs (the epilogue), in the same
// order, so that the CPU tests of those pin down what these compute. Values
// are loaded to f32, mixed in f32 and stored in the tensor's type; pixel
// coordinates are always f32 (f16 cannot place a pixel of a wide frame to
// better than half a pixel).
#include <cuda_fp16.h>
#include <stdint.h>

__device__ __forceinline__ float load(const float *p) { return *p; }
__device__ __forceinline__ float load(const __half *p) { return __half2float(*p); }
__device__ __forceinline__ void store(float *p, float v) { *p = v; }
__device__ __forceinline__ void store(__half *p, float v) { *p = __float2half_rn(v); }

// Backward warp: out(x, y) = img sampled bilinearly at (x, y) + flow(x, y),
// clamped to the image (grid_sample, border, align_corners=True, on RIFE's
// grid). One thread per output pixel (x: threads, y: blockIdx.y, batch:
// blockIdx.z); the four taps are found once and serve every channel.
template <typename T>
__device__ void warp(const T *img, const T *flow, T *out, int c, int h, int w) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y;
    if (x >= w) return;
    const size_t plane = (size_t)h * w, at = (size_t)y * w + x;
    const T *f = flow + (size_t)blockIdx.z * 2 * plane;
    const T *src = img + (size_t)blockIdx.z * c * plane;
    T *dst = out + (size_t)blockIdx.z * c * plane;
    const float sx = fminf(fmaxf((float)x + load(f + at), 0.f), (float)(w - 1));
    const float sy = fminf(fmaxf((float)y + load(f + plane + at), 0.f), (float)(h - 1));
    // Clamped to the image, so truncation is floor.
    const int x0 = (int)sx, y0 = (int)sy;
    const int x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1);
    const float ax = sx - (float)x0, ay = sy - (float)y0;
    const size_t tl = (size_t)y0 * w + x0, tr = (size_t)y0 * w + x1;
    const size_t bl = (size_t)y1 * w + x0, br = (size_t)y1 * w + x1;
    for (int ch = 0; ch < c; ++ch) {
        const T *p = src + ch * plane;
        const float top = load(p + tl) * (1.f - ax) + load(p + tr) * ax;
        const float bottom = load(p + bl) * (1.f - ax) + load(p + br) * ax;
        store(dst + ch * plane + at, top * (1.f - ay) + bottom * ay);
    }
}

extern "C" __global__ void warp_f32(const float *img, const float *flow, float *out, int c, int h, int w) {
    warp(img, flow, out, c, h, w);
}
extern "C" __global__ void warp_f16(const __half *img, const __half *flow, __half *out, int c, int h, int w) {
    warp(img, flow, out, c, h, w);
}

// One output index's two input indices and the second's weight (PyTorch's
// half-pixel centres), in f64 like the CPU kernel.
__device__ __forceinline__ void tap(int o, int input, double scale, int *i0, int *i1, float *a) {
    const double src = fmax(((double)o + 0.5) / scale - 0.5, 0.0);
    const int lo = min((int)floor(src), input - 1);
    *i0 = lo;
    *i1 = min(lo + 1, input - 1);
    *a = (float)fmin(fmax(src - (double)lo, 0.0), 1.0);
}

// Bilinear resize by `scale` (interpolate(bilinear, align_corners=False)),
// the first `gained` channels of each item multiplied by `gain` (flows are
// in pixels). Rows are mixed first, then columns, as on the CPU. One thread
// per output pixel (x: threads, y: blockIdx.y, item and channel: blockIdx.z).
template <typename T>
__device__ void resize(const T *x, T *out, int c, int h, int w, int ho, int wo, double scale,
                       int gained, float gain) {
    const int ox = blockIdx.x * blockDim.x + threadIdx.x;
    const int oy = blockIdx.y;
    if (ox >= wo) return;
    const float g = (int)(blockIdx.z % c) < gained ? gain : 1.f;
    int y0, y1, x0, x1;
    float ay, ax;
    tap(oy, h, scale, &y0, &y1, &ay);
    tap(ox, w, scale, &x0, &x1, &ax);
    const T *p = x + (size_t)blockIdx.z * h * w;
    const float left = (load(p + (size_t)y0 * w + x0) * (1.f - ay) + load(p + (size_t)y1 * w + x0) * ay) * g;
    const float right = (load(p + (size_t)y0 * w + x1) * (1.f - ay) + load(p + (size_t)y1 * w + x1) * ay) * g;
    store(out + ((size_t)blockIdx.z * ho + oy) * wo + ox, left * (1.f - ax) + right * ax);
}

extern "C" __global__ void resize_f32(const float *x, float *out, int c, int h, int w, int ho, int wo,
                                      double scale, int gained, float gain) {
    resize(x, out, c, h, w, ho, wo, scale, gained, gain);
}
extern "C" __global__ void resize_f16(const __half *x, __half *out, int c, int h, int w, int ho, int wo,
                                      double scale, int gained, float gain) {
    resize(x, out, c, h, w, ho, wo, scale, gained, gain);
}

// A convolution's epilogue, in place on its output y (N, C, H, W): plus the
// bias (one per channel), plus the layer's input where it is residual
// (`residual` non-null, the same shape as y), then leaky ReLU (slope 0.2).
// One pass over y instead of candle's three (add, add, maximum of a product).
template <typename T>
__device__ void bias_leaky(T *y, const T *bias, const T *residual, int c, int64_t plane, int64_t total) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    float v = load(y + i) + load(bias + (i / plane) % c);
    if (residual != nullptr) v += load(residual + i);
    store(y + i, fmaxf(v, v * 0.2f));
}

extern "C" __global__ void bias_leaky_f32(float *y, const float *bias, const float *residual, int c,
                                          int64_t plane, int64_t total) {
    bias_leaky(y, bias, residual, c, plane, total);
}
extern "C" __global__ void bias_leaky_f16(__half *y, const __half *bias, const __half *residual, int c,
                                          int64_t plane, int64_t total) {
    bias_leaky(y, bias, residual, c, plane, total);
}
