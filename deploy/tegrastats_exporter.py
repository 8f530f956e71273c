#!/usr/bin/env python3
"""tegrastats lines -> Prometheus text, for a Jetson node's RAM, swap, CPU, GPU, temperatures, power.

Pipe tegrastats into it; it rewrites a node_exporter textfile (atomically) per line, and/or
serves the latest sample on --port. prometheus_client renders, writes and serves it where it is
installed (0.17.1 is the last for Python 3.6, JetPack 4.6); without it, the standard-library
fallback below writes the same names, labels and values.
  tegrastats --interval 5000 | tegrastats_exporter.py --textfile /var/lib/node_exporter/tegrastats.prom
"""
import argparse
import os
import re
import sys
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

Sample = List[Tuple[str, Dict[str, str], float]]  # (metric, labels, value)
Family = Tuple[str, str, str, List[Tuple[Dict[str, str], float]]]  # (name, type, help, series)

HELP = {
    "jetson_ram_used_bytes": "RAM in use (tegrastats RAM X/Y)",
    "jetson_ram_total_bytes": "RAM available to applications",
    "jetson_swap_used_bytes": "swap in use",
    "jetson_swap_total_bytes": "swap size",
    "jetson_swap_cached_bytes": "swap cached",
    "jetson_cpu_load_percent": "per-core load relative to the current frequency",
    "jetson_cpu_freq_mhz": "per-core frequency",
    "jetson_cpu_online": "1 when the core is on, 0 when tegrastats reports it off",
    "jetson_emc_load_percent": "memory controller load",
    "jetson_emc_freq_mhz": "memory controller frequency (printed when run as root)",
    "jetson_gpu_load_percent": "GR3D (GPU) load",
    "jetson_gpu_freq_mhz": "GR3D frequency (printed when run as root)",
    "jetson_temperature_celsius": "thermal zone temperature",
    "jetson_power_milliwatts": "power rail, instantaneous",
    "jetson_power_average_milliwatts": "power rail, running average",
    "jetson_tegrastats_lines_total": "tegrastats lines read",
    "jetson_tegrastats_bad_lines_total": "lines that held no RAM field (ignored)",
}

#: "zones" tegrastats prints that are no sensor: the Nano's PMIC@100C is a constant placeholder
#: of its thermal driver, and an alert on "temperature > 90" would fire forever
NOT_SENSORS = ("pmic",)

_MB = 1024 * 1024
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB(?: \(cached (\d+)MB\))?")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_EMC = re.compile(r"\bEMC_FREQ (\d+)%(?:@(\d+))?")
_GR3D = re.compile(r"\bGR3D_FREQ (\d+)%(?:@\[?(\d+)[^ ]*)?")
_TEMP = re.compile(r"(?<![%\w])([A-Za-z][\w]*)@(-?\d+(?:\.\d+)?)C\b")
_RAIL = re.compile(r"\b((?:VDD|POM|VIN|VDDQ)_[A-Z0-9_]+) (\d+(?:\.\d+)?)(mW|W)?"
                   r"(?:/(\d+(?:\.\d+)?)(mW|W)?)?")


def _mw(value: str, unit: Optional[str]) -> float:
    return float(value) * (1000.0 if unit == "W" else 1.0)


def parse_line(line: str) -> Sample:
    """Every metric in one tegrastats line (Nano r32, Xavier, Orin r35/r36 formats)."""
    out = []  # type: Sample
    ram = _RAM.search(line)
    if ram:
        out.append(("jetson_ram_used_bytes", {}, float(ram.group(1)) * _MB))
        out.append(("jetson_ram_total_bytes", {}, float(ram.group(2)) * _MB))
    swap = _SWAP.search(line)
    if swap:
        out.append(("jetson_swap_used_bytes", {}, float(swap.group(1)) * _MB))
        out.append(("jetson_swap_total_bytes", {}, float(swap.group(2)) * _MB))
        if swap.group(3) is not None:
            out.append(("jetson_swap_cached_bytes", {}, float(swap.group(3)) * _MB))
    cpu = _CPU.search(line)
    if cpu:
        for i, core in enumerate(cpu.group(1).split(",")):
            core, label = core.strip(), {"core": str(i)}
            if core == "off":
                out.append(("jetson_cpu_online", label, 0.0))
                continue
            load, _, freq = core.partition("@")
            out.append(("jetson_cpu_online", label, 1.0))
            if load.endswith("%"):
                out.append(("jetson_cpu_load_percent", label, float(load[:-1])))
            if freq:
                out.append(("jetson_cpu_freq_mhz", label, float(freq)))
    emc = _EMC.search(line)
    if emc:
        out.append(("jetson_emc_load_percent", {}, float(emc.group(1))))
        if emc.group(2):
            out.append(("jetson_emc_freq_mhz", {}, float(emc.group(2))))
    gpu = _GR3D.search(line)
    if gpu:
        out.append(("jetson_gpu_load_percent", {}, float(gpu.group(1))))
        if gpu.group(2):
            out.append(("jetson_gpu_freq_mhz", {}, float(gpu.group(2))))
    rest = _CPU.sub(" ", line)  # per-core "12%@1479" must not look like a thermal zone
    for zone, celsius in _TEMP.findall(rest):
        if zone.lower() in NOT_SENSORS:
            continue
        out.append(("jetson_temperature_celsius", {"zone": zone.lower()}, float(celsius)))
    for name, now, unit, avg, avg_unit in _RAIL.findall(line):
        out.append(("jetson_power_milliwatts", {"rail": name}, _mw(now, unit or None)))
        if avg:
            out.append(("jetson_power_average_milliwatts", {"rail": name},
                        _mw(avg, avg_unit or unit or None)))
    return out


def families(sample: Sample, lines: int = 0, bad: int = 0) -> List[Family]:
    """One sample plus the line counters as (name, type, help, [(labels, value)]), by name."""
    by_name = {}  # type: Dict[str, List[Tuple[Dict[str, str], float]]]
    for name, labels, value in sample:
        by_name.setdefault(name, []).append((labels, value))
    by_name["jetson_tegrastats_lines_total"] = [({}, float(lines))]
    by_name["jetson_tegrastats_bad_lines_total"] = [({}, float(bad))]
    return [(name, "counter" if name.endswith("_total") else "gauge", HELP.get(name, name),
             by_name[name]) for name in sorted(by_name)]


def render(sample: Sample, lines: int = 0, bad: int = 0) -> str:
    """Prometheus text exposition (0.0.4) of one sample plus the line counters."""
    client = _prometheus_client()
    if client is None:
        return render_text(families(sample, lines, bad))
    return client.generate_latest(registry(client, lambda: families(sample, lines, bad))).decode()


def render_text(fams: List[Family]) -> str:
    """The fallback renderer, for a Python without prometheus_client."""
    text = []
    for name, kind, doc, series in fams:
        text.append("# HELP %s %s" % (name, doc))
        text.append("# TYPE %s %s" % (name, kind))
        for labels, value in series:
            inner = ",".join('%s="%s"' % (k, v) for k, v in sorted(labels.items()))
            text.append("%s%s %s" % (name, "{%s}" % inner if inner else "", repr(value)))
    return "\n".join(text) + "\n"


def _prometheus_client() -> Any:
    """The prometheus_client module, or None where it is not installed."""
    try:
        import prometheus_client
    except ImportError:
        return None
    return prometheus_client


def registry(client: Any, latest: Callable[[], List[Family]]) -> Any:
    """A private registry whose collector yields ``latest()`` as client metrics."""
    from prometheus_client.core import Metric

    class Collector(object):
        def collect(self) -> Any:
            for name, kind, doc, series in latest():
                # the client adds "_total" to a counter's samples itself
                family = Metric(name[:-6] if kind == "counter" else name, doc, kind)
                for labels, value in series:
                    family.add_sample(name, labels, value)
                yield family

    reg = client.CollectorRegistry(auto_describe=False)
    reg.register(Collector())
    return reg


def write_textfile(path: str, text: str) -> None:
    """Replace path atomically so node_exporter never reads half a file."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write(text)
    os.rename(tmp, path)


class Exporter(object):
    """Keeps the latest sample; feeds the textfile and the optional HTTP endpoint."""

    def __init__(self, textfile: Optional[str] = None) -> None:
        self.textfile = textfile
        self.lines = self.bad = 0
        self.lock = threading.Lock()
        self.fams = families([], 0, 0)
        self.text = render([], 0, 0)

    def latest(self) -> List[Family]:
        with self.lock:
            return self.fams

    def feed(self, line: str) -> None:
        sample = parse_line(line)
        self.lines += 1
        if not any(name == "jetson_ram_used_bytes" for name, _, _ in sample):
            self.bad += 1
        fams = families(sample, self.lines, self.bad)
        client = _prometheus_client()
        text = render_text(fams) if client is None else \
            client.generate_latest(registry(client, lambda: fams)).decode()
        with self.lock:
            self.fams, self.text = fams, text
        if self.textfile:
            if client is None:
                write_textfile(self.textfile, text)
            else:  # the client's own atomic write (temporary file, then rename)
                client.write_to_textfile(self.textfile, registry(client, lambda: fams))

    def run(self, stream: Iterable[str]) -> None:
        for line in stream:
            if line.strip():
                self.feed(line)


def serve(exporter: Exporter, port: int, host: str = "0.0.0.0") -> Any:
    """Serve the latest sample at http://host:port/metrics in a daemon thread; the server."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            with exporter.lock:
                body = exporter.text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Quiet: one line per scrape would flood the journal."""

    client = _prometheus_client()
    handler = Handler if client is None else \
        client.MetricsHandler.factory(registry(client, exporter.latest))
    server = HTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--textfile", help="node_exporter textfile to rewrite per line")
    parser.add_argument("--port", type=int, default=0, help="also serve /metrics on this port")
    args = parser.parse_args(argv)
    exporter = Exporter(args.textfile)
    if args.port:
        serve(exporter, args.port)
    exporter.run(sys.stdin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
