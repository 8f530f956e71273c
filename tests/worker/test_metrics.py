"""/metrics: prometheus_client renders and serves it where installed; the hand-written
fallback (a box without the library) writes the same names, labels and values."""
import sys
import urllib.request

import pytest

from worker import metrics as mod
from worker.metrics import Metrics, render_text, serve_metrics

INFO = {"node": "nano-1", "engine": "onnx", "rq-version": "1.15.1"}


def filled() -> Metrics:
    m = Metrics()
    for i in range(20):
        m.frame_done("done", {"total": 10.0 + i, "detect": 4.0})
    m.frame_done("failed:bad_frame", {"total": 1.0})
    m.refusal("pickle")
    m.job_done(drained=3)
    return m


def samples(text: str) -> dict:
    """{(sample name, sorted labels): value} of a text exposition, parsed by hand."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, rest = head.partition("{")
        labels = tuple(sorted(p.split("=", 1)[0] + "=" + p.split("=", 1)[1].strip('"')
                              for p in rest.rstrip("}").split(",") if p))
        out[(name, labels)] = float(value)
    return out


STABLE = ("alpr_uptime_seconds", "alpr_frames_per_second")  # move between two renders


def test_fallback_writes_the_expected_series():
    text = render_text(filled().families(INFO))
    got = samples(text)
    assert got[("alpr_frames_total", ("status=done",))] == 20
    assert got[("alpr_frames_total", ("status=failed:bad_frame",))] == 1
    assert got[("alpr_refused_jobs_total", ("kind=pickle",))] == 1
    assert got[("alpr_rq_jobs_total", ())] == 1 and got[("alpr_drained_jobs_total", ())] == 3
    assert got[("alpr_stage_ms", ("quantile=0.5", "stage=total"))] == 19.0  # 1, 10..29
    assert got[("alpr_stage_ms_count", ("stage=total",))] == 21
    assert got[("alpr_worker_info", ("engine=onnx", "node=nano-1", "rq_version=1.15.1"))] == 1
    assert "# TYPE alpr_frames_total counter" in text and "# TYPE alpr_stage_ms summary" in text


def test_prometheus_client_renders_the_same_series_as_the_fallback():
    pytest.importorskip("prometheus_client")
    m = filled()
    lib = samples(m.render(INFO))
    own = samples(render_text(m.families(INFO)))
    lib = {k: v for k, v in lib.items() if not k[0].startswith(STABLE)}
    own = {k: v for k, v in own.items() if not k[0].startswith(STABLE)}
    assert lib.keys() == own.keys()
    for key, value in own.items():
        assert lib[key] == pytest.approx(value, abs=1e-3), key
    from prometheus_client.parser import text_string_to_metric_families

    names = {f.name for f in text_string_to_metric_families(m.render(INFO))}
    assert {"alpr_frames", "alpr_stage_ms", "alpr_worker_info"} <= names


def test_render_falls_back_without_prometheus_client(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # an import now fails
    assert mod._prometheus_client() is None
    text = filled().render(INFO)
    assert samples(text)[("alpr_frames_total", ("status=done",))] == 20
    assert "alpr_frames_total{status=\"done\"} 20\n" in text  # our own integer format


@pytest.mark.parametrize("library", [True, False])
def test_metrics_endpoint_is_scrapable(monkeypatch, library):
    if library:
        pytest.importorskip("prometheus_client")
    else:
        monkeypatch.setitem(sys.modules, "prometheus_client", None)
    server, port = serve_metrics(filled(), 0, host="127.0.0.1", info=INFO)
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            body = resp.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert samples(body)[("alpr_frames_total", ("status=done",))] == 20
