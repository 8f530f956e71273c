"""The TensorRT Runtime against the fake TensorRT 8.2 and 10.x modules and fake pycuda.

The fakes execute the engine's ONNX with onnxruntime on the bytes at the bound device
pointers when the stream is synchronised, so these tests check real data flow: pointers,
buffer sizes, dtypes (8.2's INT64->INT32, fp16 I/O) and the one-sync-per-call sequence.
"""
import os

import numpy as np
import pytest

import fake_pycuda
import fake_tensorrt8
import fake_tensorrt10
import onnx_builders as build
from trt_calls import calls, clear_calls

from alpr.errors import EngineError
from engines.prepare import equivalence as eq
from engines.tensorrt.build import BuildOptions, build_engine
from engines.tensorrt.cuda_context import shared_context
from engines.tensorrt.runtime import Trt8Runtime, Trt10Runtime, runtime_class

RUN_CALLS = {"trt.IExecutionContext.set_binding_shape", "trt.IExecutionContext.set_input_shape",
             "memcpy_htod_async", "memcpy_dtoh_async", "trt.IExecutionContext.execute_async_v2",
             "trt.IExecutionContext.execute_async_v3", "Stream.synchronize"}


def _engine(trt, onnx_path, **options):
    return build_engine(onnx_path, BuildOptions(**options), trt, fake_pycuda).engine


def _open(trt, engine, zero_copy="auto"):
    ctx = shared_context(0, fake_pycuda)
    return runtime_class(trt)(engine, trt, ctx, zero_copy=zero_copy, owns_context=True)


@pytest.fixture
def pair_model(tmp_path):
    return build.trt_pair(str(tmp_path / "pair.onnx"))


def _feeds(batch, seq, seed=0):
    rng = np.random.RandomState(seed)
    return {"x": rng.rand(batch, 3, 8, 16).astype(np.float32),
            "tokens": rng.randint(0, 40, size=(batch, seq)).astype(np.int64)}


def test_fakes_expose_only_their_own_generation():
    assert runtime_class(fake_tensorrt8) is Trt8Runtime
    assert runtime_class(fake_tensorrt10) is Trt10Runtime
    for name in ("num_io_tensors", "get_tensor_name", "get_tensor_shape", "get_tensor_profile_shape"):
        assert not hasattr(fake_tensorrt8.ICudaEngine, name) and hasattr(fake_tensorrt10.ICudaEngine, name)
    for name in ("num_bindings", "get_binding_shape", "binding_is_input", "get_profile_shape"):
        assert hasattr(fake_tensorrt8.ICudaEngine, name) and not hasattr(fake_tensorrt10.ICudaEngine, name)
    for name in ("execute_async_v3", "set_tensor_address", "set_input_shape"):
        assert not hasattr(fake_tensorrt8.IExecutionContext, name)
    for name in ("execute_async_v2", "set_binding_shape"):
        assert not hasattr(fake_tensorrt10.IExecutionContext, name)
    assert not hasattr(fake_tensorrt8.IBuilderConfig, "set_memory_pool_limit")
    assert not hasattr(fake_tensorrt10.Builder, "build_engine")
    with pytest.raises(AttributeError):
        fake_tensorrt10.IBuilderConfig().max_workspace_size = 1 << 28  # gone in 10.x


def test_dynamic_batch_runs_match_onnxruntime_with_one_sync_per_call(trt, pair_model):
    runtime = _open(trt, _engine(trt, pair_model))
    int_dtype = np.int32 if trt is fake_tensorrt8 else np.int64  # 8.2 casts INT64 down
    assert [(s.name, s.shape, s.dtype) for s in runtime.inputs] == [
        ("x", (None, 3, 8, 16), np.float32), ("tokens", (None, None), int_dtype)]
    assert [(s.name, s.shape, s.dtype) for s in runtime.outputs] == [
        ("probs", (None, 5), np.float32), ("tok_sum", (None, 1), int_dtype)]
    for batch, seq in ((3, 5), (1, 2), (8, 16)):
        clear_calls()
        feeds = _feeds(batch, seq, seed=batch)
        got = runtime.run(feeds)
        want = eq.run_model(pair_model, feeds)
        np.testing.assert_allclose(got["probs"], want["probs"], rtol=1e-6)
        np.testing.assert_array_equal(got["tok_sum"], want["tok_sum"])
        assert got["tok_sum"].dtype == int_dtype and got["probs"].shape == (batch, 5)
        names = [c[0] for c in calls(RUN_CALLS)]
        if trt is fake_tensorrt8:
            expect = ["trt.IExecutionContext.set_binding_shape", "memcpy_htod_async"] * 2 + \
                     ["trt.IExecutionContext.execute_async_v2"]
        else:
            expect = ["trt.IExecutionContext.set_input_shape", "memcpy_htod_async"] * 2 + \
                     ["trt.IExecutionContext.execute_async_v3"]
        assert names == expect + ["memcpy_dtoh_async"] * 2 + ["Stream.synchronize"]
        # only the bytes of this call's shapes move, not the whole max-shape buffer
        copies = [c[1] for c in calls({"memcpy_htod_async"})]
        assert copies == [batch * 3 * 8 * 16 * 4, batch * seq * np.dtype(int_dtype).itemsize]
    clear_calls()
    runtime.run(_feeds(8, 16, seed=8))  # same shapes again: no shape calls
    assert "trt.IExecutionContext.set_binding_shape" not in [c[0] for c in calls()]
    assert "trt.IExecutionContext.set_input_shape" not in [c[0] for c in calls()]
    runtime.close()


def test_buffers_are_sized_once_for_the_profile_max(trt, pair_model):
    engine = _engine(trt, pair_model, max_batch=4, max_seq=6)
    clear_calls()
    runtime = _open(trt, engine)
    itemsize = 4 if trt is fake_tensorrt8 else 8
    assert sorted(c[1] for c in calls({"mem_alloc"})) == sorted(
        [4 * 3 * 8 * 16 * 4, 4 * 6 * itemsize, 4 * 5 * 4, 4 * 1 * itemsize])
    assert all(c[1][2] == 0 for c in calls({"pagelocked_empty"}))  # cached pinned memory
    clear_calls()
    runtime.run(_feeds(2, 3))
    assert not calls({"mem_alloc", "pagelocked_empty"})  # nothing allocated per call
    with pytest.raises(EngineError, match="outside the engine's profile"):
        runtime.run(_feeds(5, 3))
    assert runtime.run(_feeds(4, 6))["probs"].shape == (4, 5)  # still usable after a bad call
    runtime.close()


def test_fp16_io_keeps_half_bindings(trt, tmp_path):
    src = build.fp16_detector(str(tmp_path / "det.onnx"))
    runtime = _open(trt, _engine(trt, src))
    assert runtime.input().dtype == np.float16 and runtime.output().dtype == np.float16
    image = np.random.RandomState(1).rand(1, 3, 16, 16).astype(np.float32)
    got = runtime.run({"images": image})["output"]  # float32 feed is cast to the binding dtype
    want = eq.run_model(src, {"images": image.astype(np.float16)})["output"]
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, want)
    runtime.close()


def test_zero_copy_inputs_on_unified_memory(trt, pair_model):
    engine = _engine(trt, pair_model)
    fake_pycuda.STATE["integrated"] = True  # a Jetson
    clear_calls()
    runtime = _open(trt, engine)
    flags = [c[1][2] for c in calls({"pagelocked_empty"})]
    assert flags == [fake_pycuda.host_alloc_flags.DEVICEMAP] * 2 + [0, 0]  # inputs mapped, outputs cached
    assert len(calls({"mem_alloc"})) == 2  # device memory only for the outputs
    clear_calls()
    feeds = _feeds(2, 4)
    got = runtime.run(feeds)
    assert not calls({"memcpy_htod_async"}) and len(calls({"memcpy_dtoh_async"})) == 2
    np.testing.assert_allclose(got["probs"], eq.run_model(pair_model, feeds)["probs"], rtol=1e-6)
    runtime.close()
    runtime = _open(trt, engine, zero_copy="never")
    assert not calls({"pagelocked_empty"})[-1][1][2]
    runtime.close()


def test_close_frees_buffers_and_the_last_runtime_releases_the_context(trt, pair_model):
    engine = _engine(trt, pair_model)
    first, second = _open(trt, engine), _open(trt, engine)
    assert len(fake_pycuda.CONTEXT_STACK) == 1  # one context per process, shared
    clear_calls()
    first.close()
    assert len(calls({"DeviceAllocation.free"})) == 4 and len(calls({"HostAllocation.free"})) == 4
    assert not calls({"Context.pop", "Context.detach"})
    with pytest.raises(EngineError, match="closed"):
        first.run(_feeds(1, 1))
    assert second.run(_feeds(1, 1))["probs"].shape == (1, 5)
    second.close()
    assert [c[0] for c in calls({"Context.pop", "Context.detach"})] == ["Context.pop", "Context.detach"]
    assert not fake_pycuda.CONTEXT_STACK
    with _open(trt, engine) as runtime:  # a fresh context after the last one was released
        assert runtime.run(_feeds(2, 2))["tok_sum"].shape == (2, 1)
    assert not fake_pycuda.CONTEXT_STACK


def test_context_refuses_use_across_a_fork(trt, pair_model):
    runtime = _open(trt, _engine(trt, pair_model))
    runtime._cuda_ctx.pid = os.getpid() + 1  # as if created before a fork
    with pytest.raises(EngineError, match="after forking"):
        runtime.run(_feeds(1, 1))
    runtime._cuda_ctx.pid = os.getpid()
    runtime.close()


def test_engine_from_the_other_generation_is_refused(gpu, pair_model):
    engine8 = _engine(fake_tensorrt8, pair_model)
    ctx = shared_context(0, fake_pycuda)
    with pytest.raises(EngineError, match="could not deserialize"):
        Trt10Runtime(engine8, fake_tensorrt10, ctx)
    assert not fake_pycuda.MEMORY  # nothing leaked


def test_data_dependent_nms_output_is_refused_with_a_hint(gpu, tmp_path):
    src = build.yolo_end2end(str(tmp_path / "e2e.onnx"), 13, input_type=1)
    engine = _engine(fake_tensorrt10, src)
    with pytest.raises(EngineError, match="cut before NMS"):
        _open(fake_tensorrt10, engine)
