"""`alpr bench store`: event ingest (with evidence writes) and search latency, SQLite and PostgreSQL.

Per backend, the store is filled in steps up to each size (10 k, 100 k, ... events): events
are written as the dispatcher writes them (StoreSink.write: evidence files, then one
transaction per batch). Ingest is timed twice: with evidence (crop + frame of the sizes the
worker makes) on the first `--evidence-events`, and without pictures for the fill. At each
size: a fuzzy plate search (a stored plate with one look-alike swap or one misread
character) and a camera + time-range search, p50/p99 over `--queries`.
"""
import os
import random
import shutil
import string
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

import click

from alpr.stats import percentile
from bench.probes import rounded
from bench.report import emit, report_options

CROP_BYTES = 2600  # `alpr bench pipeline`'s mean plate crop (160 px, quality 80)
FRAME_BYTES = 43000  # its mean 640 px snapshot at quality 70
LOOK_ALIKES = {"O": "0", "0": "O", "I": "1", "1": "I", "B": "8", "8": "B", "S": "5", "5": "S",
               "Z": "2", "2": "Z", "G": "6", "6": "G", "D": "0", "Q": "0"}
INGEST_TARGET = 2000.0  # events/s into each backend (the evidence issue)
SEARCH_P50_TARGET_MS = 50.0  # fuzzy search p50 at 1 M events


def random_plate(rng: random.Random) -> str:
    """Mercosul-shaped: LLL N L NN."""
    letters, digits = string.ascii_uppercase, string.digits
    return "".join([rng.choice(letters) for _ in range(3)] + [rng.choice(digits),
                    rng.choice(letters), rng.choice(digits), rng.choice(digits)])


def make_event(i: int, rng: random.Random, t0: float, span_s: float) -> Dict[str, Any]:
    plate = random_plate(rng)
    first = t0 + rng.random() * span_s
    camera = "cam%d" % rng.randrange(8)
    return {"id": "%s:b%09d" % (camera, i), "plate": plate, "confidence": 0.9,
            "camera": camera, "site": "bench", "first_seen": first, "last_seen": first + 3.0,
            "frames": 4, "reads": 4, "box": [100, 200, 260, 250], "region": "br",
            "candidates": [{"text": plate, "count": 3, "confidence": 0.93,
                            "mean_confidence": 0.9},
                           {"text": plate[:-1] + "7", "count": 1, "confidence": 0.6,
                            "mean_confidence": 0.6}],
            "best_frame": "b%09d" % i, "truth": [], "label": "", "note": "",
            "emitted": first + 6.0}


def misread(plate: str, rng: random.Random) -> str:
    """One look-alike swap when the plate has one, else one character replaced."""
    spots = [i for i, c in enumerate(plate) if c in LOOK_ALIKES]
    chars = list(plate)
    if spots and rng.random() < 0.5:
        i = rng.choice(spots)
        chars[i] = LOOK_ALIKES[chars[i]]
    else:
        i = rng.randrange(len(chars))
        chars[i] = rng.choice(string.ascii_uppercase.replace(chars[i], ""))
    return "".join(chars)


def bench_backend(url: str, sizes: Sequence[int], evidence_events: int, batch: int,
                  queries: int, seed: int, workdir: str, frame_bytes: int = FRAME_BYTES,
                  fill_batch: int = 0) -> Dict[str, Any]:
    from store import open_store
    from store.evidence import EvidenceDir
    from store.search import Query, search
    from store.sink import StoreSink

    rng = random.Random(seed)
    store = open_store(url)
    evidence_root = os.path.join(workdir, "evidence")
    sink = StoreSink(store, EvidenceDir(evidence_root, 0, 0))
    bare = StoreSink(store, None)
    crop, frame = os.urandom(CROP_BYTES), os.urandom(frame_bytes) if frame_bytes else None
    t0, span = time.time() - 30 * 86400, 30 * 86400.0
    written = 0
    plates = []  # type: List[str]
    fill_batch = fill_batch or batch
    out = {"url": store.url, "batch": batch, "fill_batch": fill_batch,
           "sizes": []}  # type: Dict[str, Any]
    ev_s = fill_s = 0.0
    ev_n = fill_n = 0
    for size in sizes:
        while written < size:
            with_evidence = written < evidence_events
            n = min(batch if with_evidence else fill_batch, size - written)
            items = [make_event(written + k, rng, t0, span) for k in range(n)]
            plates.extend(e["plate"] for e in items[:1])
            start = time.perf_counter()
            if with_evidence:
                sink.write([(e, {"crop": crop, "frame": frame}) for e in items])
            else:
                bare.write([(e, {}) for e in items])
            took = time.perf_counter() - start
            if with_evidence:
                ev_s, ev_n = ev_s + took, ev_n + n
            else:
                fill_s, fill_n = fill_s + took, fill_n + n
            written += n
        fuzzy, ranged, found = [], [], 0
        for _ in range(queries):
            target = rng.choice(plates)
            start = time.perf_counter()
            hits = search(store, Query(plate=misread(target, rng), limit=20))
            fuzzy.append((time.perf_counter() - start) * 1000.0)
            found += any(h["plate"] == target for h in hits)
            since = t0 + rng.random() * (span - 86400)
            start = time.perf_counter()
            search(store, Query(camera="cam%d" % rng.randrange(8), since=since,
                                until=since + 3600, limit=50))
            ranged.append((time.perf_counter() - start) * 1000.0)
        out["sizes"].append({
            "events": store.count(),
            "fuzzy_p50_ms": rounded(percentile(fuzzy, 50), 3),
            "fuzzy_p99_ms": rounded(percentile(fuzzy, 99), 3),
            "fuzzy_found_rate": round(found / float(queries), 3) if queries else None,
            "range_p50_ms": rounded(percentile(ranged, 50), 3),
            "range_p99_ms": rounded(percentile(ranged, 99), 3)})
    out["ingest_with_evidence_per_s"] = round(ev_n / ev_s, 1) if ev_s else None
    out["ingest_with_evidence_events"] = ev_n
    out["ingest_without_evidence_per_s"] = round(fill_n / fill_s, 1) if fill_s else None
    out["evidence_bytes_per_event"] = CROP_BYTES + frame_bytes
    store.close()
    shutil.rmtree(evidence_root, ignore_errors=True)
    return out


@click.command("store")
@click.option("--sizes", default="10000,100000", show_default=True,
              help="Store sizes to measure at, comma-separated (e.g. 10000,100000,1000000).")
@click.option("--backends", default="sqlite,postgresql", show_default=True)
@click.option("--pg-url", default=None,
              help="PostgreSQL to use (its tables are created); default: a throwaway server.")
@click.option("--evidence-events", type=int, default=5000, show_default=True,
              help="Events written with evidence files (the rest are written without).")
@click.option("--frame-bytes", type=int, default=FRAME_BYTES, show_default=True,
              help="Snapshot size written per event (0: crop only).")
@click.option("--batch", type=int, default=50, show_default=True,
              help="Events per transaction with evidence (the dispatcher's batches are small).")
@click.option("--fill-batch", type=int, default=0,
              help="Events per transaction for the fill without pictures (default: --batch).")
@click.option("--queries", type=int, default=200, show_default=True, help="Searches per size.")
@click.option("--seed", type=int, default=0, show_default=True)
@report_options
def store_cmd(sizes: str, backends: str, pg_url: Optional[str], evidence_events: int,
              frame_bytes: int, batch: int, fill_batch: int, queries: int, seed: int,
              as_json: bool, plot_path: Optional[str]) -> None:
    """Ingest events/s (with evidence writes) and search p50/p99 as the store grows."""
    steps = sorted(set(int(s) for s in sizes.split(",") if s.strip()))
    if not steps or steps[0] < 1:
        raise click.BadParameter("sizes must be positive", param_hint="--sizes")
    results = {}  # type: Dict[str, Any]
    workdir = tempfile.mkdtemp(prefix="alpr-bench-store-")
    server = None
    try:
        for backend in [b.strip() for b in backends.split(",") if b.strip()]:
            if backend == "sqlite":
                url = "sqlite:///" + os.path.join(workdir, "events.db")
            elif backend == "postgresql":
                url = pg_url
                if url is None:
                    from bench.pg_server import PostgresServer

                    server = PostgresServer(fsync=True).start()
                    url = server.url
            else:
                raise click.BadParameter("sqlite or postgresql", param_hint="--backends")
            results[backend] = bench_backend(url, steps, evidence_events, max(1, batch),
                                             queries, seed, workdir, max(0, frame_bytes),
                                             max(0, fill_batch))
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {"backends": results, "targets": {"ingest_per_s": INGEST_TARGET,
                                                "fuzzy_p50_ms_at_1m": SEARCH_P50_TARGET_MS},
               "cpu_count": os.cpu_count()}
    rows = []
    for backend, r in results.items():
        for step in r["sizes"]:
            rows.append([backend, step["events"], r["ingest_with_evidence_per_s"],
                         r["ingest_without_evidence_per_s"], step["fuzzy_p50_ms"],
                         step["fuzzy_p99_ms"], step["fuzzy_found_rate"], step["range_p50_ms"],
                         step["range_p99_ms"]])
    emit(summary, ["backend", "events", "ingest/s (evidence)", "ingest/s (bare)",
                   "fuzzy p50 ms", "fuzzy p99 ms", "found", "range p50 ms", "range p99 ms"],
         rows, as_json, title="event store")
