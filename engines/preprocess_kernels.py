"""CUDA C source of the pre-processing kernels, shared by the pycuda and CuPy launchers.

One source string, compiled by pycuda's SourceModule (nvcc) on a node and by CuPy's
RawKernel (NVRTC) where the kernels are checked, so both paths run the same code.
Bilinear sampling follows cv2.INTER_LINEAR: source = (dst + 0.5) * scale - 0.5, clamped.
"""
from typing import Tuple

#: threads per block (x, y); 256 threads keeps a Maxwell SM (Nano) and a Hopper SM busy
BLOCK = (32, 8, 1)

KERNEL_NAMES = ("letterbox_chw", "crop_resize_u8", "crop_resize_norm_chw")

KERNEL_SOURCE = r"""
extern "C" {

/* cv2.INTER_LINEAR coordinate: nearest-left source index, its neighbour and the weight. */
__device__ __forceinline__ void lin_coord(int d, float scale, int size,
                                          int* i0, int* i1, float* w)
{
    float f = ((float)d + 0.5f) * scale - 0.5f;
    int i = (int)floorf(f);
    float a = f - (float)i;
    if (i < 0) { i = 0; a = 0.0f; }
    if (i >= size - 1) { i = size - 1; a = 0.0f; }
    *i0 = i;
    *i1 = min(i + 1, size - 1);
    *w = a;
}

/* Bilinear sample of the 3 interleaved channels at (x0..x1, y0..y1); src rows are `pitch` bytes. */
__device__ __forceinline__ void sample3(const unsigned char* __restrict__ src, int pitch,
                                        int x0, int x1, float ax, int y0, int y1, float ay,
                                        float* c)
{
    const unsigned char* r0 = src + (size_t)y0 * pitch;
    const unsigned char* r1 = src + (size_t)y1 * pitch;
    #pragma unroll
    for (int k = 0; k < 3; ++k) {
        float p00 = (float)r0[x0 * 3 + k], p01 = (float)r0[x1 * 3 + k];
        float p10 = (float)r1[x0 * 3 + k], p11 = (float)r1[x1 * 3 + k];
        float t = p00 + ax * (p01 - p00);
        float b = p10 + ax * (p11 - p10);
        c[k] = t + ay * (b - t);
    }
}

/* Detector input: letterbox resize + BGR->RGB + /255 + HWC->CHW + pad, one thread per pixel,
   written straight into a float32 [3, out_h, out_w] buffer (e.g. a TensorRT input binding). */
__global__ void letterbox_chw(const unsigned char* __restrict__ src, int src_h, int src_w,
                              int src_pitch, float* __restrict__ dst, int out_h, int out_w,
                              int new_h, int new_w, int top, int left,
                              float scale_y, float scale_x, float pad, int swap_rb)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= out_w || y >= out_h) return;
    size_t plane = (size_t)out_h * out_w;
    size_t o = (size_t)y * out_w + x;
    int rx = x - left, ry = y - top;
    if (rx < 0 || ry < 0 || rx >= new_w || ry >= new_h) {
        dst[o] = pad; dst[plane + o] = pad; dst[2 * plane + o] = pad;
        return;
    }
    int x0, x1, y0, y1; float ax, ay, c[3];
    lin_coord(rx, scale_x, src_w, &x0, &x1, &ax);
    lin_coord(ry, scale_y, src_h, &y0, &y1, &ay);
    sample3(src, src_pitch, x0, x1, ax, y0, y1, ay, c);
    const float inv = 1.0f / 255.0f;
    int first = swap_rb ? 2 : 0;
    dst[o] = c[first] * inv;
    dst[plane + o] = c[1] * inv;
    dst[2 * plane + o] = c[2 - first] * inv;
}

/* Shared by the crop kernels: crop box of blockIdx.z, clamped source coordinates. */
__device__ __forceinline__ void crop_coords(const int* __restrict__ boxes, int x, int y,
                                            int out_h, int out_w, int* x0, int* x1, float* ax,
                                            int* y0, int* y1, float* ay)
{
    const int* b = boxes + 4 * blockIdx.z;
    int cw = b[2] - b[0], ch = b[3] - b[1];
    lin_coord(x, (float)cw / (float)out_w, cw, x0, x1, ax);
    lin_coord(y, (float)ch / (float)out_h, ch, y0, y1, ay);
    *x0 += b[0]; *x1 += b[0]; *y0 += b[1]; *y1 += b[1];
}

/* Slot-OCR input: crop + resize to uint8 NHWC, grey (channels 1) or RGB/BGR (channels 3). */
__global__ void crop_resize_u8(const unsigned char* __restrict__ src, int src_pitch,
                               const int* __restrict__ boxes, unsigned char* __restrict__ dst,
                               int out_h, int out_w, int channels, int swap_rb)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= out_w || y >= out_h) return;
    int x0, x1, y0, y1; float ax, ay, c[3];
    crop_coords(boxes, x, y, out_h, out_w, &x0, &x1, &ax, &y0, &y1, &ay);
    sample3(src, src_pitch, x0, x1, ax, y0, y1, ay, c);
    size_t o = (((size_t)blockIdx.z * out_h + y) * out_w + x) * channels;
    if (channels == 1) {
        /* BT.601 luma on the rounded BGR values, as cv2.cvtColor(BGR2GRAY) after cv2.resize */
        float g = 0.114f * rintf(c[0]) + 0.587f * rintf(c[1]) + 0.299f * rintf(c[2]);
        dst[o] = (unsigned char)fminf(fmaxf(rintf(g), 0.0f), 255.0f);
        return;
    }
    int first = swap_rb ? 2 : 0;
    dst[o] = (unsigned char)rintf(c[first]);
    dst[o + 1] = (unsigned char)rintf(c[1]);
    dst[o + 2] = (unsigned char)rintf(c[2 - first]);
}

/* Encoder-OCR input: crop + resize + RGB + (v/255 - mean) / std, float32 [n, 3, out_h, out_w]. */
__global__ void crop_resize_norm_chw(const unsigned char* __restrict__ src, int src_pitch,
                                     const int* __restrict__ boxes, float* __restrict__ dst,
                                     int out_h, int out_w, float m0, float m1, float m2,
                                     float s0, float s1, float s2, int swap_rb)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= out_w || y >= out_h) return;
    int x0, x1, y0, y1; float ax, ay, c[3];
    crop_coords(boxes, x, y, out_h, out_w, &x0, &x1, &ax, &y0, &y1, &ay);
    sample3(src, src_pitch, x0, x1, ax, y0, y1, ay, c);
    size_t plane = (size_t)out_h * out_w;
    size_t o = (size_t)blockIdx.z * 3 * plane + (size_t)y * out_w + x;
    int first = swap_rb ? 2 : 0;
    const float inv = 1.0f / 255.0f;
    dst[o] = (c[first] * inv - m0) / s0;
    dst[plane + o] = (c[1] * inv - m1) / s1;
    dst[2 * plane + o] = (c[2 - first] * inv - m2) / s2;
}

}  /* extern "C" */
"""


def grid_for(out_h: int, out_w: int, depth: int = 1) -> Tuple[int, int, int]:
    """Launch grid covering an out_h x out_w image (depth = crops) with BLOCK threads."""
    return ((out_w + BLOCK[0] - 1) // BLOCK[0], (out_h + BLOCK[1] - 1) // BLOCK[1], int(depth))
