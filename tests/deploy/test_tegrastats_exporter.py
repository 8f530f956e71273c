"""tegrastats -> Prometheus text, on real tegrastats lines from Nano, Orin and a root run."""
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    "tegrastats_exporter", os.path.join(ROOT, "deploy", "tegrastats_exporter.py"))
tx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tx)

# Published tegrastats output: Jetson Nano 2 GB (JetPack 4.x), Orin (r36, as a user),
# Orin (r36, as root: EMC_FREQ and GR3D clocks appear, cores may be 'off').
NANO = ("RAM 1234/1979MB (lfb 4x4MB) SWAP 0/989MB (cached 0MB) "
        "CPU [12%@1479,17%@1479,16%@1479,11%@1479] EMC_FREQ 0%@1600 "
        "GR3D_FREQ 25%@921 PLL@29C CPU@29.5C PMIC@100C GPU@28C AO@33.5C thermal@29C "
        "POM_5V_IN 1812/1812")
ORIN = ("07-29-2026 18:00:27 RAM 2272/7620MB (lfb 4x4MB) SWAP 221/3810MB (cached 0MB) "
        "CPU [0%@729,0%@1036,0%@1036,0%@1036,0%@729,0%@729] GR3D_FREQ 0% cpu@54.937C "
        "soc2@55.562C soc0@56.156C gpu@55.468C tj@56.656C soc1@56.656C VDD_IN 4673mW/4673mW "
        "VDD_CPU_GPU_CV 527mW/527mW VDD_SOC 1339mW/1339mW")
ROOT_LINE = ("09-21-2026 16:47:06 RAM 1954/7620MB (lfb 4x4MB) SWAP 0/3810MB (cached 0MB) "
             "CPU [55%@1036,9%@1036,off,off,0%@729,0%@729] EMC_FREQ 0%@2133 GR3D_FREQ 7%@[305] "
             "NVDEC off NVJPG off VIC off APE 200 cpu@48.062C gpu@48.156C tj@48.218C "
             "VDD_IN 4523mW/4523mW VDD_SOC 1373mW/1373mW")
XAVIER_WATTS = ("RAM 3214/30536MB (lfb 4x4MB) SWAP 0/15268MB CPU [12%@1420,8%@1420] "
                "GR3D_FREQ 34% PLL@45.5C Tboard@42C VDD_GPU_SOC 5.2W VDD_CPU_CV 3.1W")


def _as_dict(sample):
    return {(name, tuple(sorted(labels.items()))): value for name, labels, value in sample}


def test_nano_line():
    m = _as_dict(tx.parse_line(NANO))
    assert m[("jetson_ram_used_bytes", ())] == 1234 * 1024 ** 2
    assert m[("jetson_ram_total_bytes", ())] == 1979 * 1024 ** 2
    assert m[("jetson_swap_total_bytes", ())] == 989 * 1024 ** 2
    assert m[("jetson_cpu_load_percent", (("core", "1"),))] == 17
    assert m[("jetson_cpu_freq_mhz", (("core", "3"),))] == 1479
    assert m[("jetson_emc_freq_mhz", ())] == 1600
    assert m[("jetson_gpu_load_percent", ())] == 25 and m[("jetson_gpu_freq_mhz", ())] == 921
    assert m[("jetson_temperature_celsius", (("zone", "cpu"),))] == 29.5
    assert m[("jetson_temperature_celsius", (("zone", "thermal"),))] == 29
    assert m[("jetson_power_milliwatts", (("rail", "POM_5V_IN"),))] == 1812
    assert ("jetson_temperature_celsius", (("zone", "gr3d_freq"),)) not in m
    assert ("jetson_temperature_celsius", (("zone", "pmic"),)) not in m  # a constant 100 C, no sensor
    assert "pmic" not in tx.render(tx.parse_line(NANO))


def test_orin_and_root_lines():
    m = _as_dict(tx.parse_line(ORIN))
    assert m[("jetson_swap_used_bytes", ())] == 221 * 1024 ** 2
    assert m[("jetson_gpu_load_percent", ())] == 0 and ("jetson_gpu_freq_mhz", ()) not in m
    assert m[("jetson_temperature_celsius", (("zone", "tj"),))] == 56.656
    assert m[("jetson_power_average_milliwatts", (("rail", "VDD_CPU_GPU_CV"),))] == 527
    r = _as_dict(tx.parse_line(ROOT_LINE))
    assert r[("jetson_cpu_online", (("core", "2"),))] == 0
    assert r[("jetson_cpu_online", (("core", "0"),))] == 1
    assert r[("jetson_gpu_freq_mhz", ())] == 305 and r[("jetson_emc_freq_mhz", ())] == 2133
    w = _as_dict(tx.parse_line(XAVIER_WATTS))
    assert w[("jetson_power_milliwatts", (("rail", "VDD_GPU_SOC"),))] == pytest.approx(5200)


def test_rendered_text_parses_with_prometheus_client(tmp_path):
    parser = pytest.importorskip("prometheus_client.parser")
    path = str(tmp_path / "tegrastats.prom")
    exporter = tx.Exporter(path)
    exporter.run(iter([NANO + "\n", "garbage line\n", ORIN + "\n"]))
    with open(path) as fh:
        families = {f.name: f for f in parser.text_string_to_metric_families(fh.read())}
    assert families["jetson_ram_used_bytes"].samples[0].value == 2272 * 1024 ** 2
    assert families["jetson_tegrastats_lines"].samples[0].value == 3
    assert families["jetson_tegrastats_bad_lines"].samples[0].value == 1
    cores = [s for s in families["jetson_cpu_freq_mhz"].samples]
    assert len(cores) == 6 and cores[1].labels == {"core": "1"} and cores[1].value == 1036
    assert not [p for p in os.listdir(str(tmp_path)) if p.endswith(".tmp")]


def _series(text):
    """{(name, labels): value} of a text exposition (either renderer)."""
    parser = pytest.importorskip("prometheus_client.parser")
    out = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_prometheus_client_and_the_fallback_write_the_same_series():
    pytest.importorskip("prometheus_client")
    sample = tx.parse_line(NANO)
    assert _series(tx.render(sample, 3, 1)) == _series(tx.render_text(tx.families(sample, 3, 1)))


@pytest.mark.parametrize("library", [True, False])
def test_served_and_written_without_or_with_the_library(tmp_path, monkeypatch, library):
    import sys
    import urllib.request

    if library:
        pytest.importorskip("prometheus_client")
    else:
        monkeypatch.setitem(sys.modules, "prometheus_client", None)  # an import now fails
    path = str(tmp_path / "tegrastats.prom")
    exporter = tx.Exporter(path)
    server = tx.serve(exporter, 0, host="127.0.0.1")
    try:
        exporter.run(iter([NANO + "\n"]))
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % server.server_address[1],
                                    timeout=5) as resp:
            body = resp.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    with open(path) as fh:
        written = fh.read()
    for text in (body, written):
        assert "jetson_gpu_load_percent 25" in text
        assert 'jetson_cpu_freq_mhz{core="3"} 1479' in text
        assert "jetson_tegrastats_lines_total 1" in text
