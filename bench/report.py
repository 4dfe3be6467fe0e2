"""Every benchmark in one go, written to ``bench/REPORT.md``: run it as ``bench/run``.

    bench/run [--quick] [--output bench/REPORT.md] [--dir PATH] [--skip postgres,...]

Runs, in this order and each beside its baseline measured in the same run:
``ledger`` (bench/ledger.py), ``redpackets`` (bench/redpackets.py), ``e2e``
(bench/e2e.py), ``balance`` (bench/balance.py), ``footprint`` (bench/footprint.py) and
``postgres`` (bench/postgres.py, in a process of its own; its output is quoted). The
report describes the machine (with its load average: the machines are shared, so
figures move between runs), gives the command that made it, and prints every figure
beside its baseline, the ratio, and the target the issues and DESIGN.md state (met or
not met). ``--quick`` uses tiny sizes (about a minute; for the test that the benches
still run: its figures mean nothing). Each bench also runs on its own.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

PARTS = ("ledger", "redpackets", "e2e", "balance", "footprint", "postgres")
PROFILES = {
    "full": {
        "ledger": {"n": 6_400},
        "redpackets": {"rounds": 5, "grabbers": 1_000, "shares": 100},
        "e2e": {"sizes": [300, 1_000], "rounds": 5},
        "balance": {"sizes": [300, 1_000], "rounds": 3},
        "footprint": {"users": 10_000, "packets": 1_000, "transfers": 100_000, "burst": 300},
        "postgres": [],
    },
    "quick": {
        "ledger": {"n": 256},
        "redpackets": {"rounds": 1, "grabbers": 120, "shares": 40},
        "e2e": {"sizes": [20], "rounds": 1},
        "balance": {"sizes": [20], "rounds": 1},
        "footprint": {"users": 200, "packets": 20, "transfers": 1_000, "burst": 20},
        "postgres": None,  # not run
    },
}
POSTGRES_TIMEOUT_S = 30 * 60


# -- the machine ---------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> list[str]:
    """Lines describing this machine and the software measured."""
    import aiosqlite
    import telegram

    models = [
        line.split(":", 1)[1].strip()
        for line in _read("/proc/cpuinfo").splitlines()
        if line.startswith("model name")
    ]
    model = models[0] if models else platform.processor() or "unknown"
    memory = next(
        (line.split()[1] for line in _read("/proc/meminfo").splitlines() if "MemTotal" in line),
        None,
    )
    ram = f"{int(memory) / 2**20:.1f} GiB" if memory else "unknown"
    load = " ".join(_read("/proc/loadavg").split()[:3]) or "unknown"
    return [
        f"- CPU: {model}, {os.cpu_count()} logical cores (`os.cpu_count()`)",
        f"- RAM: {ram}",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version},"
        f" python-telegram-bot {telegram.__version__}, aiosqlite {aiosqlite.__version__}",
        f"- load average (1, 5, 15 min) at the start: {load}",
    ]


# -- the figures ---------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def rate(value: float) -> str:
    return f"{value:,.0f}/s"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def ledger_section(size: dict, directory: Path) -> list[str]:
    import ledger

    f = ledger.measure(size["n"], directory)
    single, grouped, bound = f["single"], f["grouped"], statistics.median(f["ratios"])
    rows = [
        ["core, 1 caller", rate(f["core1"]), "plain sqlite3, 1 row a commit", rate(single),
         f"{f['core1'] / single:.2f}x", "—"],
        ["core, 64 callers", rate(f["core64"]), "plain sqlite3, 1 row a commit (ceiling"
         " without grouping)", rate(single), f"{f['core64'] / single:.2f}x",
         f"≥ 5x (issue 2): {verdict(f['core64'] / single >= 5)}"],
        ["core, 64 callers", rate(f["core64"]), "plain sqlite3, 64 rows + balance updates a"
         " commit (bound of the core)", rate(grouped), f"{bound:.2f}x",
         f"≥ 0.6x (issue 11): {verdict(bound >= 0.6)}"],
    ]
    raw = [
        ["plain sqlite3, 64 rows a commit (rows only)", rate(f["grouped_rows"])],
        ["plain sqlite3, all rows in 1 commit (floor cost a row)", rate(f["batched"])],
    ]
    return [
        f"Durable transfers a second (WAL, synchronous=FULL, the garbage collector as the"
        f" bot sets it), {size['n']:,} transfers with"
        f" 64 callers ({f['group']:.1f} a commit), {max(size['n'] // 8, 200):,} with 1;"
        f" the 64-caller core and its bound are the medians of {len(f['ratios'])} runs, each"
        " core run followed at once by its bound, and their ratio the median of the pairs'.",
        "",
        *table(["figure", "value", "baseline", "value", "ratio", "target"], rows),
        "",
        "Raw SQLite ceilings of the same rows:",
        "",
        *table(["plain sqlite3", "transfers/s"], [[a, b] for a, b in raw]),
    ]


def redpackets_section(size: dict, directory: Path) -> list[str]:
    import redpackets

    f = redpackets.measure(size["rounds"], size["grabbers"], size["shares"], directory)
    core, plain, ratio = f["core"], f["plain"], statistics.median(f["ratios"])
    each = ", ".join(f"{r:.2f}" for r in f["ratios"])
    drains = {who: f["drains"][who] for who in ("known", "new")}

    def drain(who: str, index: int) -> float:
        return statistics.median(d[index] for d in drains[who])

    g, s = size["grabbers"], size["shares"]
    rows = [
        [f"core grabs/s ({g} members, {g // s} packets at once, every grab wins;"
         f" {f['per_commit']:.0f} a commit; the median of {len(f['ratios'])} runs)", rate(core),
         "plain sqlite3, the same rows and commits, right after each run", rate(plain),
         f"{ratio:.2f}x (pairs: {each})",
         f"≥ 0.5x: {verdict(ratio >= 0.5)}; ≥ 10,000/s: {verdict(core >= 10_000)}"
         " (issue 11)"],
    ]
    for who, label in (("known", "members it knows"), ("new", "members never seen")):
        rows.append(
            [f"drain: {g} {label} grab a {s}-share packet, last share taken",
             f"{drain(who, 0):.1f} ms", "everyone answered", f"{drain(who, 1):.1f} ms", "—",
             f"< 20 ms (issue 11): {verdict(drain(who, 0) < 20)}" if who == "known" else "—"]
        )
    return [
        f"Red-packet grabs in the core (WAL, synchronous=FULL, the garbage collector as the"
        f" bot sets it), the median of"
        f" {size['rounds']} rounds.",
        "",
        *table(["figure", "value", "baseline", "value", "ratio", "target"], rows),
    ]


def e2e_section(size: dict, directory: Path) -> list[str]:
    import asyncio

    import e2e

    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-", dir=directory))
    bench = e2e.Bench(workdir, size["rounds"], profile=False)
    try:
        results = asyncio.run(bench.run(size["sizes"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for tappers, found in results.items():
        bare = found["aiohttp"]
        for key in ("httpx", "aiohttp", "new", "known"):
            row = found[key]
            ratio, target = "—", "—"
            if key in ("new", "known"):
                target = f"p99 ≤ 1 s (DESIGN.md): {verdict(row.p99_ms <= 1000)}"
                taps, p99 = row.taps_per_s / bare.taps_per_s, row.p99_ms / bare.p99_ms
                ratio = f"{taps:.2f}x taps/s, {p99:.2f}x p99"
                target = (
                    f"≥ {e2e.TAPS_TARGET}x taps/s: {verdict(taps >= e2e.TAPS_TARGET)};"
                    f" p99 ≤ {e2e.P99_TARGET}x: {verdict(p99 <= e2e.P99_TARGET)} (issue 11); "
                    + target
                )
            elif key == "httpx":
                ratio = f"aiohttp/httpx {bare.taps_per_s / row.taps_per_s:.2f}x taps/s"
            rows.append(_burst_row(tappers, row, ratio, target))
    errors = bench.errors
    return [
        "Callback answers end to end: each bot polls an emulator in a process of its own,"
        " which makes the taps; the median burst of"
        f" {size['rounds']} (slowest–fastest taps/s beside it). Ratios are to the bare PTB bot"
        " on the same aiohttp transport in the same run.",
        "",
        *table(
            ["tappers", "bot", "taps/s", "p50", "p99", "bot CPU/tap", "CPU bot · emulator ·"
             " others", "ratio to bare aiohttp", "target"],
            rows,
        ),
        "",
        f"Unhandled handler errors in the product: {errors.handler_errors} (target 0, issue"
        f" 11: {verdict(errors.handler_errors == 0)});"
        f" other ERROR log records: {errors.other}. Unanswered taps:"
        f" {sum(row.unanswered for found in results.values() for row in found.values())}.",
        *_busy_note([row for found in results.values() for row in found.values()]),
    ]


def _busy_note(rows: list) -> list[str]:
    """A warning when the rest of the machine took a good share of a core during bursts."""
    import math

    import e2e

    shares = [row.others_cpu_share for row in rows if not math.isnan(row.others_cpu_share)]
    busiest = max(shares, default=0.0)
    if busiest <= e2e.BUSY_MACHINE:
        return []
    return [
        "",
        f"**Other processes used up to {busiest:.0%} of a core during these bursts** (the"
        " \"others\" column): the bots and the emulator shared the two cores with other work,"
        " so these figures are lower and noisier than on a quiet machine; the ratios, measured"
        " minutes apart under the same conditions, are the figures to read.",
    ]


def _burst_row(size: int, row, ratio: str, target: str) -> list[str]:
    import e2e

    slowest, fastest = row.spread
    return [
        str(size), row.bot, f"{row.taps_per_s:,.0f} ({slowest:,.0f}–{fastest:,.0f})",
        f"{row.p50_ms:.0f} ms", f"{row.p99_ms:.0f} ms", f"{row.bot_cpu_ms_per_tap:.2f} ms",
        f"{row.bot_cpu_share:.0%} · {row.emulator_cpu_share:.0%} ·"
        f" {e2e._share(row.others_cpu_share)}",
        ratio, target,
    ]


def balance_section(size: dict, directory: Path) -> list[str]:
    import balance

    results, bench = balance.measure(size["sizes"], size["rounds"], directory)
    rows = []
    for senders, found in results.items():
        bare, product = found["bare"], found["product"]
        rows.append(_burst_row(senders, bare, "—", "—"))
        ratio = (f"{product.taps_per_s / bare.taps_per_s:.2f}x replies/s,"
                 f" {product.p99_ms / bare.p99_ms:.2f}x p99")
        rows.append(_burst_row(senders, product, ratio, "none stated"))
    return [
        "`/balance` replies end to end: that many new people write to the bot in private at"
        " once (the emulator in a process of its own, as above); the bare PTB bot answers a"
        " plain text message with one line. Both bots' overall send limit (Telegram's ~30"
        " messages a second) is lifted, so this is what the bot can do, not what Telegram"
        f" lets through. The median burst of {size['rounds']}.",
        "",
        *table(
            ["senders", "bot", "replies/s", "p50", "p99", "bot CPU/reply", "CPU bot · emulator"
             " · others", "ratio to bare", "target"],
            rows,
        ),
        "",
        f"Unhandled handler errors in the product: {bench.errors.handler_errors} (0 expected).",
        *_busy_note([row for found in results.values() for row in found.values()]),
    ]


def footprint_section(size: dict, directory: Path) -> list[str]:
    import footprint

    f = footprint.measure(
        size["users"], size["packets"], size["transfers"], size["burst"], directory
    )
    empty, big = f["empty"], f["big"]
    held = ", ".join(f"{value:,} {name}" for name, value in f["rows"].items())
    rows = []
    for label, field, unit in (
        ("start-up: process start to the first answered update", "start_s", "s"),
        ("RSS after start-up", "rss_started_mb", "MB"),
        (f"RSS after a burst of {size['burst']} `/balance` (warm-up)", "rss_warm_mb", "MB"),
        ("RSS after a second burst", "rss_burst_mb", "MB"),
        ("**peak RSS** (VmHWM)", "peak_mb", "MB"),
    ):
        a, b = getattr(empty, field), getattr(big, field)
        rows.append([label, f"{b:.1f} {unit}", f"{a:.1f} {unit}", f"{b / a:.2f}x", "none stated"])
    return [
        f"The bot as deployed (`python -m bot run`, a child process polling the emulator)"
        f" against a wallet of {held} ({f['size_mb']:.1f} MB of SQLite, built through the"
        f" core in {f['built_s']:.1f} s), beside the same against an empty wallet. The bot"
        " keeps Telegram's 30 messages a second here, so a burst's replies are spread over"
        f" {size['burst'] / 30:.0f} s or more.",
        "",
        *table(["figure", "big wallet", "empty wallet (baseline)", "ratio", "target"], rows),
        "",
        f"Unanswered in the measured bursts: {empty.unanswered + big.unanswered};"
        f" ERROR lines in the bots' logs: {empty.log_errors + big.log_errors} (0 expected).",
    ]


def postgres_section(args: list[str] | None, directory: Path) -> list[str]:
    script = BENCH / "postgres.py"
    if args is None:
        return ["Not run (`--quick`)."]
    if not script.exists():
        return ["Not run: there is no PostgreSQL bench (`bench/postgres.py`) in this tree."]
    folder = Path(tempfile.mkdtemp(prefix="bench-postgres-", dir=directory))
    command = [sys.executable, str(script), "--dir", str(folder), *args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=POSTGRES_TIMEOUT_S, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return [f"Not run to the end: `bench/postgres.py` took over {POSTGRES_TIMEOUT_S} s."]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-12:]
        return [
            f"Not run: `bench/postgres.py` failed (exit status {done.returncode}):",
            "",
            "```",
            *tail,
            "```",
        ]
    return [
        "`bench/postgres.py` (its own baselines: SQLite in the same run), quoted as printed:",
        "",
        "```",
        *done.stdout.rstrip().splitlines(),
        "```",
    ]


SECTIONS: dict[str, tuple[str, str, Callable[[object, Path], list[str]]]] = {
    "ledger": ("Ledger transfers", "bench/ledger.py", ledger_section),
    "redpackets": ("Red-packet grabs in the core", "bench/redpackets.py", redpackets_section),
    "e2e": ("Taps end to end", "bench/e2e.py", e2e_section),
    "balance": ("/balance replies end to end", "bench/balance.py", balance_section),
    "footprint": ("Memory and start-up", "bench/footprint.py", footprint_section),
    "postgres": ("PostgreSQL", "bench/postgres.py", postgres_section),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (about a minute)")
    parser.add_argument("--output", type=Path, default=BENCH / "REPORT.md")
    parser.add_argument("--dir", type=Path, default=None, help="where the work files go")
    parser.add_argument("--skip", default="", help=f"parts not to run: {', '.join(PARTS)}")
    args = parser.parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    if skip - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(skip - set(PARTS)))}")
    profile = "quick" if args.quick else "full"
    sizes = PROFILES[profile]
    directory = args.dir or Path(tempfile.gettempdir())
    command = "bench/run" + (" --quick" if args.quick else "") + (
        f" --skip {args.skip}" if skip else ""
    )
    started = time.perf_counter()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark report",
        "",
        f"Made by `{command}` on {when} ({profile} profile). To reproduce: `make bench` (the"
        " full profile), or `bench/run` with the options above; each bench also runs on its"
        " own (`.venv/bin/python bench/<name>.py --help`). Every figure stands beside a"
        " baseline measured in the same run on the same machine, with the ratio and the"
        " target the issues or DESIGN.md state.",
        "",
    ]
    if args.quick:
        lines += ["**Quick profile: tiny sizes, to check that every bench runs. These figures"
                  " mean nothing.**", ""]
    lines += [
        "## Machine",
        "",
        *machine(),
        "",
        "The machine is shared with other work and noisy: the same bench moves by ±20 % or"
        " more from run to run, which is why each figure is compared with a baseline"
        " measured minutes apart in the same run rather than with another day's figures.",
        "",
    ]
    for part, (title, source, section) in SECTIONS.items():
        print(f"running {part} ...", file=sys.stderr, flush=True)
        lines += [f"## {title} (`{source}`)", ""]
        if part in skip:
            lines += [f"Not run (`--skip {part}`).", ""]
            continue
        begun = time.perf_counter()
        lines += section(sizes[part], directory)
        lines += ["", f"_{time.perf_counter() - begun:.0f} s._", ""]
    load = " ".join(_read("/proc/loadavg").split()[:3]) or "unknown"
    lines += [
        "## The run",
        "",
        f"Took {(time.perf_counter() - started) / 60:.1f} min; load average at the end: {load}.",
        "",
    ]
    args.output.write_text("\n".join(lines))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
