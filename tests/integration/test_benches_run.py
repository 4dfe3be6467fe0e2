"""The benchmarks still run (tiny sizes; their figures are read by people, not asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("ledger.py", ["--transfers", "256"], "core 64 callers / 1-row-commit ceiling"),
        (
            "redpackets.py",
            ["--rounds", "1", "--grabbers", "120", "--shares", "40"],
            "core / plain sqlite3 same rows",
        ),
        (
            "e2e.py",
            ["--tappers", "20", "--rounds", "1"],
            "product (known) / bare aiohttp",
        ),
    ],
)
def test_bench_runs_and_prints_its_ratios(tmp_path, script, args, expected):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout
    assert list(tmp_path.iterdir()) == []  # its files are cleaned up
