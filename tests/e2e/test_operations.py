"""/metrics and /healthz of the running bot, scraped during an e2e run."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import aiohttp
import pytest

from bot.ops.operations import OPS_KEY
from tests.e2e.test_send import ALICE, enter_pin, fund, tap_and_wait

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def parse(text: str) -> dict[str, float]:
    """``name{labels}`` → value, for every sample of a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, labels, value = _SAMPLE.match(line).groups()
            samples[name + (labels or "")] = float(value)
    return samples


@pytest.fixture
async def endpoint(running):
    ops = running.bot_data[OPS_KEY]
    port = await ops.serve("127.0.0.1", 0)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
        yield session
    await ops.stop()


async def scrape(endpoint) -> dict[str, float]:
    async with endpoint.get("/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(await response.text())


def moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


async def test_the_counters_move_by_what_the_run_did(
    emulator, wallet, endpoint, monkeypatch, caplog
):
    await fund(wallet, ALICE, 100_00)
    await emulator.send_text("alice", "/balance")
    await emulator.wait_for_message("alice")
    before = await scrape(endpoint)

    await emulator.send_text("alice", "/send @bob 12.50 lunch")  # Bob never used the bot
    await emulator.wait_for_message("alice", text="know that person")  # refused: no money
    await emulator.send_text("bob", "/start")
    await emulator.wait_for_message("bob")
    await emulator.send_text("alice", "/send @bob 12.50 lunch")
    card = await emulator.wait_for_message("alice", text="Send ¥12.50 to Bob?")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    done = await enter_pin(emulator, "alice", card)
    assert done.text.startswith("✅ Sent ¥12.50 to Bob")

    async def broken(*args, **kwargs):
        raise RuntimeError("the history is broken")

    monkeypatch.setattr(wallet.history, "page", broken)
    await emulator.send_text("alice", "/history")
    await emulator.wait_for_message("alice", text="went wrong")
    after = await scrape(endpoint)
    delta = moved(before, after)

    cny = '{currency="CNY",kind="transfer"}'
    assert delta[f"wallet_transfers_total{cny}"] == 1
    assert delta[f"wallet_transfer_volume_fen_total{cny}"] == 12_50
    assert not any(k.startswith("wallet_transfers_total") and k != f"wallet_transfers_total{cny}"
                   for k in delta)  # the refused send and the funding before moved nothing new
    # four messages (two /send, /start, /history); the Confirm tap and the six PIN digits
    assert delta['wallet_updates_total{type="message"}'] == 4
    assert delta['wallet_updates_total{type="callback_query"}'] == 7
    assert delta['wallet_update_seconds_count{type="callback_query"}'] == 7
    assert delta['wallet_errors_total{error="RuntimeError"}'] == 1
    decisions = {k: v for k, v in delta.items() if k.startswith("wallet_risk_decisions_total")}
    assert sum(decisions.values()) >= 1
    assert all('kind="transfer"' in k for k in decisions), decisions
    assert after['wallet_held_payments'] == 0 and after["wallet_payout_queue"] == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["error while handling an update"]


@pytest.mark.sqlite_only
async def test_healthz_is_unhealthy_while_the_database_file_is_read_only(
    emulator, wallet, endpoint, settings
):
    async with endpoint.get("/healthz") as response:
        body = await response.json()
        assert response.status == 200, body
    assert body == {"ok": True, "checks": {"database": "ok", "bot_api": "ok", "job_queue": "ok"}}

    path = Path(settings.database_url.removeprefix("sqlite:///"))
    path.chmod(0o444)  # noqa: ASYNC240
    try:
        async with endpoint.get("/healthz") as response:
            body = await response.json()
            assert response.status == 503
        assert "read-only" in body["checks"]["database"]
        assert body["checks"]["bot_api"] == "ok" and not body["ok"]
    finally:
        path.chmod(0o644)  # noqa: ASYNC240
    async with endpoint.get("/healthz") as response:
        assert response.status == 200


async def test_healthz_is_unhealthy_when_the_job_queue_stops_beating(
    emulator, running, endpoint
):
    ops = running.bot_data[OPS_KEY]
    await emulator.send_text("alice", "/balance")
    await emulator.wait_for_message("alice")
    ops.last_beat = time.monotonic() - 60  # as if the job queue had stalled a minute ago
    async with endpoint.get("/healthz") as response:
        body = await response.json()
        assert response.status == 503
    assert body["checks"]["job_queue"] == "the heartbeat job has not run lately"
    assert body["checks"]["database"] == "ok"


@pytest.mark.sqlite_only
async def test_the_scheduled_backup_job_writes_a_backup_and_counts_it(
    emulator, wallet, running, endpoint, settings, tmp_path
):
    from dataclasses import replace

    from bot.app import build_application

    scheduled = build_application(replace(settings, backup_dir=tmp_path / "backups"))
    assert [job.name for job in scheduled.job_queue.jobs() if job.name == "ops.backup"]

    ops = running.bot_data[OPS_KEY]
    ops.settings = replace(ops.settings, backup_dir=tmp_path / "backups")
    await ops._backup(None)
    (made,) = (tmp_path / "backups").iterdir()
    assert made.name.startswith("wallet-") and made.suffix == ".db"
    samples = await scrape(endpoint)
    assert samples['wallet_backups_total{outcome="ok"}'] == 1
    assert samples["wallet_last_backup_timestamp_seconds"] > time.time() - 60

    ops.settings = replace(ops.settings, backup_dir=settings.master_key_dir)  # holds the key
    await ops._backup(None)
    samples = await scrape(endpoint)
    assert samples['wallet_backups_total{outcome="failed"}'] == 1


async def test_red_packets_and_their_grabs_are_counted(emulator, wallet, endpoint, caplog):
    from tests.e2e.test_redpacket import fen_of, grab, send_packet
    from tests.e2e.test_send import start_private

    await fund(wallet, ALICE, 100_00)
    await start_private(emulator, "alice")
    before = await scrape(endpoint)
    _, posted = await send_packet(emulator, "/redpacket 10 3 恭喜发财")
    grabbed = fen_of(await grab(emulator, "bob", posted))
    grabbed += fen_of(await grab(emulator, "xiaoming", posted))
    await grab(emulator, "bob", posted)  # a second tap: refused, nothing moves
    middle = await scrape(endpoint)
    delta = moved(before, middle)
    assert delta['wallet_transfers_total{currency="CNY",kind="red_packet"}'] == 1
    assert delta['wallet_transfer_volume_fen_total{currency="CNY",kind="red_packet"}'] == 10_00
    assert delta['wallet_transfers_total{currency="CNY",kind="redpacket_grab"}'] == 2
    assert delta['wallet_transfer_volume_fen_total{currency="CNY",kind="redpacket_grab"}'] == (
        grabbed
    )
    assert delta["wallet_redpacket_grabs_total"] == 2
    assert delta['wallet_red_packets{state="open"}'] == 1
    # the packet was assessed for its card and again at its PIN; a grab's own rule runs in
    # the grab's write (bot/storage), not through the guard
    risk = {k: v for k, v in delta.items() if k.startswith("wallet_risk_decisions_total")}
    assert risk == {'wallet_risk_decisions_total{kind="red_packet",outcome="step_up_pin"}': 2}

    await grab(emulator, "wangfang", posted)  # the last share: the packet is finished
    delta = moved(middle, await scrape(endpoint))
    assert delta["wallet_redpacket_grabs_total"] == 1
    assert delta['wallet_red_packets{state="open"}'] == -1
    assert delta['wallet_red_packets{state="finished"}'] == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
