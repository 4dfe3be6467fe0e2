"""The benchmarks still run (tiny sizes; their figures are read by people, not asserted)."""

import itertools
import os
import re
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
        ("balance.py", ["--senders", "20", "--rounds", "1"], "product /balance / bare reply"),
        (
            "footprint.py",
            ["--users", "50", "--packets", "5", "--transfers", "200", "--burst", "5"],
            "peak RSS (VmHWM)",
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


SECTIONS = (
    "## Machine",
    "## Ledger transfers",
    "## Red-packet grabs in the core",
    "## Taps end to end",
    "## /balance replies end to end",
    "## Memory and start-up",
    "## PostgreSQL",
)


def test_bench_run_quick_writes_a_report_with_every_section(tmp_path):
    report = tmp_path / "REPORT.md"
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [str(ROOT / "bench" / "run"), "--quick", "--output", str(report), "--dir", str(work)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr
    text = report.read_text()
    positions = [text.find(section) for section in SECTIONS]
    assert -1 not in positions, [s for s, at in zip(SECTIONS, positions, strict=True) if at < 0]
    assert positions == sorted(positions)  # in the order of the run
    assert "bench/run --quick" in text  # the command that made it
    assert "load average" in text and "python-telegram-bot 22." in text
    # each measured part gives its figures beside a baseline, with a ratio
    for section, following in itertools.pairwise(SECTIONS[1:]):
        body = text[text.find(section) : text.find(following)]
        assert "|---|" in body and re.search(r"\| \d+\.\d\dx", body), section
    assert "Not run (`--quick`)." in text[text.find("## PostgreSQL") :]
    assert "Unhandled handler errors in the product: 0" in text
    assert list(work.iterdir()) == []  # its files are cleaned up
