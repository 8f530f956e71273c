"""`alpr bench store` end to end on tiny sizes (the 1 M run stays out of the suite)."""
import json
import pytest
from click.testing import CliRunner

from alpr.cli import main
from pg_server import pg_binary


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bench_store_reports_ingest_and_search_per_size(backend):
    if backend == "postgresql" and pg_binary("initdb") is None:
        pytest.skip("PostgreSQL is not installed (make postgresql)")
    out = CliRunner().invoke(main, ["bench", "store", "--sizes", "300,600", "--backends", backend,
                                    "--evidence-events", "200", "--queries", "10", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.strip().splitlines()[-1])
    result = summary["backends"][backend]
    assert [s["events"] for s in result["sizes"]] == [300, 600]
    assert result["ingest_with_evidence_per_s"] > 0 and result["ingest_without_evidence_per_s"] > 0
    assert all(s["fuzzy_found_rate"] == 1.0 for s in result["sizes"])  # misread-by-one: found
    assert all(s["fuzzy_p50_ms"] is not None and s["range_p99_ms"] is not None
               for s in result["sizes"])
