"""GPU pre-processing: the CPU fallback (runs everywhere) and GPU equivalence (needs CUDA)."""
import types

import numpy as np
import pytest

from alpr.errors import EngineError, FrameDecodeError
from engines.preprocess_cpu import (ENCODER_MEAN, ENCODER_STD, clamp_boxes, crops_normalized_cpu,
                                    crops_u8_cpu, letterbox_reference, letterbox_geometry)
from engines.preprocess_cuda import (CpuPreprocessor, CudaPreprocessor, cuda_backend_available,
                                     make_preprocessor)

FILL = 114 / 255.0


def _frame(h, w, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)


@pytest.mark.parametrize("h,w", [(480, 640), (1080, 1920), (640, 481), (2160, 3840), (7, 5)])
def test_letterbox_cpu_places_frame_and_pads_with_114(h, w):
    out, geo = letterbox_reference(_frame(h, w), 640, 640)
    assert out.shape == (1, 3, 640, 640) and out.dtype == np.float32
    assert geo == letterbox_geometry(h, w, 640, 640)
    assert max(geo.new_w, geo.new_h) == 640
    inside = np.zeros((640, 640), bool)
    inside[geo.top:geo.top + geo.new_h, geo.left:geo.left + geo.new_w] = True
    assert np.all(out[0][:, ~inside] == np.float32(FILL))
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_letterbox_cpu_matches_platedets_own_preprocess():
    platedet = pytest.importorskip("platedet.platedet", reason="platedet (and PIL) not installed")
    frame = _frame(481, 643, seed=3)
    model = types.SimpleNamespace(model_height=640, model_width=640)
    # platedet is fed RGB images (PIL); our path takes BGR and swaps, so give it the swapped frame
    ref, _, (pad_w, pad_h) = platedet.Platedet.preprocess(model, frame[:, :, ::-1].copy())
    out, geo = letterbox_reference(frame, 640, 640)
    assert (geo.pad_w, geo.pad_h) == (pad_w, pad_h)
    assert np.abs(out - ref).max() < 1e-6


@pytest.mark.parametrize("h,w", [(480, 640), (1080, 1920), (333, 1001)])
def test_cpu_fallback_is_the_pipelines_letterbox_and_matches_the_reference(h, w):
    frame = _frame(h, w, seed=h)
    fast, geo = CpuPreprocessor().letterbox(frame, 640, 640)
    ref, ref_geo = letterbox_reference(frame, 640, 640)
    assert geo == ref_geo
    assert np.abs(fast - ref).max() < 1e-6


def test_letterbox_keeps_bgr_order_when_asked():
    frame = np.zeros((10, 10, 3), np.uint8)
    frame[:, :, 0] = 200  # blue
    rgb, _ = CpuPreprocessor().letterbox(frame, 16, 16)
    bgr, _ = CpuPreprocessor(swap_rb=False).letterbox(frame, 16, 16)
    assert rgb[0, 2, 8, 8] == pytest.approx(200 / 255.0) and rgb[0, 0, 8, 8] == 0
    assert bgr[0, 0, 8, 8] == pytest.approx(200 / 255.0)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32),
                                 np.zeros((0, 4, 3), np.uint8), np.zeros((4, 4, 4), np.uint8)])
def test_bad_frames_raise_frame_decode_error(bad):
    with pytest.raises(FrameDecodeError):
        CpuPreprocessor().letterbox(bad, 64, 64)


def test_clamp_boxes_keeps_boxes_inside_and_at_least_one_pixel():
    boxes = clamp_boxes([[-5, -5, 10.2, 3.1], [95, 45, 200, 300], [50, 20, 50, 20]], 50, 100)
    assert boxes.tolist() == [[0, 0, 11, 4], [95, 45, 100, 50], [50, 20, 51, 21]]


def test_crops_have_requested_shapes_and_values():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:] = (30, 60, 90)  # BGR
    boxes = [[10, 10, 80, 40], [150, 60, 199, 99]]
    rgb = crops_u8_cpu(frame, boxes, 32, 96)
    grey = crops_u8_cpu(frame, boxes, 32, 96, grey=True)
    norm = crops_normalized_cpu(frame, boxes)
    assert rgb.shape == (2, 32, 96, 3) and tuple(rgb[1, 5, 5]) == (90, 60, 30)
    assert grey.shape == (2, 32, 96, 1)
    assert int(grey[0, 0, 0, 0]) == int(round(0.299 * 90 + 0.587 * 60 + 0.114 * 30))
    assert norm.shape == (2, 3, 224, 224) and norm.dtype == np.float32
    want = (np.array([90, 60, 30]) / 255.0 - np.array(ENCODER_MEAN)) / np.array(ENCODER_STD)
    assert np.allclose(norm[0, :, 7, 7], want, atol=1e-5)


def test_no_boxes_gives_empty_batches():
    pre = CpuPreprocessor()
    assert pre.crops_u8(_frame(20, 20), [], 8, 16).shape == (0, 8, 16, 3)
    assert pre.crops_normalized(_frame(20, 20), []).shape == (0, 3, 224, 224)


def test_make_preprocessor_falls_back_to_cpu_without_pycuda():
    reason = cuda_backend_available("pycuda")
    pre = make_preprocessor("pycuda")
    if reason is None:
        assert isinstance(pre, CudaPreprocessor)
    else:
        assert isinstance(pre, CpuPreprocessor) and "pycuda" in reason
    assert isinstance(make_preprocessor("cpu"), CpuPreprocessor)
    assert "unknown" in cuda_backend_available("opencl")


def test_cuda_preprocessor_refuses_use_before_open():
    pre = CudaPreprocessor("cupy")
    with pytest.raises(EngineError):
        pre.letterbox(_frame(8, 8), 16, 16)


# --- GPU equivalence: only where a CUDA backend and a GPU exist --------------------------------

def _gpu(backend, zero_copy=False):
    reason = cuda_backend_available(backend)
    if reason is not None:
        pytest.skip("no GPU path here: %s" % reason)
    return CudaPreprocessor(backend, zero_copy=zero_copy)


@pytest.mark.parametrize("zero_copy", [False, True])
@pytest.mark.parametrize("backend", ["pycuda", "cupy"])
def test_gpu_kernels_match_cpu_within_one_level(backend, zero_copy):
    rng = np.random.RandomState(5)
    with _gpu(backend, zero_copy) as pre:
        for i, (h, w) in enumerate([(480, 640), (1080, 1920), (777, 1333), (2160, 3840)]):
            frame = _frame(h, w, seed=i)
            got, geo = pre.letterbox(frame, 640, 640)
            ref, ref_geo = letterbox_reference(frame, 640, 640)
            assert geo == ref_geo
            assert np.abs(got - ref).max() <= 1.0 / 255 + 1e-6
            boxes = np.array([[rng.uniform(0, w - 60), rng.uniform(0, h - 30), 0, 0]
                              for _ in range(3)])
            boxes[:, 2:] = boxes[:, :2] + [[120, 40]]
            for grey in (False, True):
                diff = (pre.crops_u8(frame, boxes, 48, 144, grey).astype(int)
                        - crops_u8_cpu(frame, boxes, 48, 144, grey).astype(int))
                assert np.abs(diff).max() <= 1
            diff = pre.crops_normalized(frame, boxes) - crops_normalized_cpu(frame, boxes)
            scale = np.asarray(ENCODER_STD, np.float32)[None, :, None, None] * 255
            assert (np.abs(diff) * scale).max() <= 1.0 + 1e-3


@pytest.mark.parametrize("backend", ["pycuda", "cupy"])
def test_gpu_letterbox_to_device_and_close_release(backend):
    pre = _gpu(backend).open()
    frame = _frame(300, 500)
    host, geo = pre.letterbox(frame, 320, 320)
    assert host.shape == (1, 3, 320, 320) and geo.new_w == 320
    pre.close()
    with pytest.raises(EngineError):
        pre.letterbox(frame, 320, 320)


def test_pycuda_borrows_the_current_context_and_leaves_it_current():
    reason = cuda_backend_available("pycuda")
    if reason is not None:
        pytest.skip("no GPU path here: %s" % reason)
    import pycuda.driver as cuda

    ctx = cuda.Device(0).make_context()  # what the TensorRT runtime does
    try:
        binding = cuda.mem_alloc(3 * 64 * 64 * 4)
        with CudaPreprocessor("pycuda") as pre:
            geo = pre.letterbox_to_device(_frame(48, 64), 64, 64, int(binding))
        out = np.empty((3, 64, 64), np.float32)
        cuda.memcpy_dtoh(out, binding)
        ref, ref_geo = letterbox_reference(_frame(48, 64), 64, 64)
        assert geo == ref_geo and np.abs(out - ref[0]).max() <= 1.0 / 255
        assert cuda.Context.get_current().handle == ctx.handle
        binding.free()
    finally:
        ctx.pop()
        ctx.detach()
