"""The default models, prepared on this interpreter, run on its onnxruntime and match.

On the Nano's Python 3.6 (onnx 1.11, onnxruntime 1.10) this is the acceptance check:
prepare works there, the ort1.10 copies load in ORT 1.10, the PP-OCR recogniser (its
plate-head copy, opset 11, IR 7) and text detector (opset 12) and platerec (opset 15)
match their originals directly; platedet's original (opset 17) cannot load in ORT 1.10, so its ort1.10
copy is shown node-for-node identical to the original and matched against the
independently converted fp32 trt8.2 copy. Conversions are cached once per session.
"""
import importlib.util

import numpy as np
import onnx
import pytest

from engines.prepare import convert, equivalence as eq

pytestmark = pytest.mark.node


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


@pytest.fixture(scope="session")
def default_models():
    for package in ("platedet", "platerec", "rapidocr", "rapidocr_onnxruntime"):
        if not _installed(package):
            pytest.skip("%s not installed (make venv installs the model wheels --no-deps)" % package)
    from engines.models import default_file
    from engines.models_cli import default_model_paths

    out = default_model_paths()
    for label in ("platerec-encoder", "platerec-decoder"):  # selectable with --ocr platerec
        out[label] = default_file(label)
    return out


@pytest.fixture(scope="session")
def prepared(default_models, tmp_path_factory):
    """label -> target -> prepared path, converted once per session."""
    out_dir = tmp_path_factory.mktemp("prepared")
    out = {}
    for label, path in default_models.items():
        out[label] = {}
        for target in ("ort1.10", "trt8.2"):
            out[label][target] = convert.prepare(
                path, target, str(out_dir / ("%s.%s.onnx" % (label, target)))).path
    return out


def _can_load(path: str) -> bool:
    try:
        eq.ort_session(path)
        return True
    except Exception:
        return False


@pytest.mark.parametrize("label", ["ppocr-rec", "ppocr-det", "platerec-encoder",
                                   "platerec-decoder"])
@pytest.mark.parametrize("target", ["ort1.10", "trt8.2"])
def test_ocr_copies_match_the_originals(default_models, prepared, label, target):
    original = onnx.load(default_models[label])
    converted = onnx.load(prepared[label][target])
    assert max(i.version for i in converted.opset_import) <= convert.TARGETS[target].max_opset
    rows = eq.compare(converted, eq.reference_runs(original, converted), 5e-3, 1e-4)
    assert len(rows) == 2 and all(r.ok for r in rows), eq.format_rows(rows)
    if target == "ort1.10":
        assert max(r.max_rel for r in rows) < 1e-6  # same graph, same runtime


def test_platedet_copy_loads_and_matches(default_models, prepared):
    original_path = default_models["platedet"]
    copy_path = prepared["platedet"]["ort1.10"]
    original, copy = onnx.load(original_path), onnx.load(copy_path)
    assert max(i.version for i in copy.opset_import) == 15 and copy.ir_version <= 8
    # only the opset import changed: every node and weight is the original's
    assert [n.SerializeToString() for n in copy.graph.node] == \
           [n.SerializeToString() for n in original.graph.node]
    assert [t.SerializeToString() for t in copy.graph.initializer] == \
           [t.SerializeToString() for t in original.graph.initializer]
    feeds = eq.make_feeds(original, "real")
    got = eq.run_model(copy_path, feeds)
    assert got["output0"].shape == (1, 37, 8400) and np.isfinite(got["output0"].astype(np.float32)).all()
    if _can_load(original_path):  # onnxruntime >= 1.12: compare with the original directly
        rows = eq.compare(copy, eq.reference_runs(original, copy), 5e-3, 1e-4)
    else:  # ORT 1.10 refuses opset 17: compare with the independently built fp32 trt8.2 copy
        fp32 = prepared["platedet"]["trt8.2"]
        runs = eq.reference_runs(onnx.load(fp32), copy)
        rows = eq.compare(copy, runs, 5e-3, 1e-4)
    assert all(r.ok for r in rows), eq.format_rows(rows)


def test_prepare_default_goes_on_where_the_proof_cannot_run(default_models, tmp_path, monkeypatch):
    """A node's first start: `alpr models prepare --default` exits 0 when this onnxruntime
    cannot run an original to prove the copy (the Nano's 1.10 and platedet's opset 17), says
    so, and writes every copy; --strict keeps the old exit 2."""
    from click.testing import CliRunner

    from engines.models_cli import models_group

    if _can_load(default_models["platedet"]):
        pytest.skip("this onnxruntime runs platedet's original: every proof runs here")
    monkeypatch.setenv("ALPR_ENGINE_CACHE_DIR", str(tmp_path / "cache"))
    args = ["prepare", "--default", "--target", "trt8.2"]
    result = CliRunner().invoke(models_group, args + ["--out-dir", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert "not proven here" in result.output and "not proven on this node" in result.output
    from engines.models_cli import DEFAULT_MODELS

    assert len(list((tmp_path / "a").glob("*.trt8.2.onnx"))) == len(DEFAULT_MODELS)
    strict = CliRunner().invoke(models_group, args + ["--out-dir", str(tmp_path / "b"), "--strict"])
    assert strict.exit_code == 2
