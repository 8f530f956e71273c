"""Benchmarks behind `alpr bench`: each verb prints a table, `--json` ends with one JSON object."""
