"""The sandbox page in a real browser: a resident sends /start, taps a button, sees the reply.

Headless Chromium (Debian's ``chromium``) is driven over the DevTools protocol; the test
installs it with ``scripts/install-chromium.sh`` when missing and it can, and is skipped
with the reason otherwise. With ``WALLET_UPDATE_SCREENSHOT=1`` it refreshes the README's
picture, ``docs/sandbox.png``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import subprocess
from pathlib import Path

import aiohttp
import pytest

from bot.domain.model import SystemAccount
from bot.domain.users import Profile
from bot.sandbox.testing import polling

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "sandbox.png"
SCREENSHOT_ENV = "WALLET_UPDATE_SCREENSHOT"  # set to 1 to refresh the README's picture
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=1280,860",
]
WAIT_JS = """(selector, text, ms) => new Promise((resolve, reject) => {
  const find = () => [...document.querySelectorAll(selector)]
    .find((el) => !text || el.textContent.includes(text));
  const done = () => { const el = find(); if (el) { observer.disconnect(); resolve(true); } };
  const observer = new MutationObserver(done);
  observer.observe(document, {subtree: true, childList: true, characterData: true,
                              attributes: true});
  done();
  setTimeout(() => { observer.disconnect(); reject(new Error(`no ${selector} ${text}`)); }, ms);
})"""
RECT_JS = """(selector, text) => {
  const el = [...document.querySelectorAll(selector)]
    .find((e) => !text || e.textContent.includes(text));
  el.scrollIntoView({block: "center"});
  const r = el.getBoundingClientRect();
  return {x: r.x + r.width / 2, y: r.y + r.height / 2};
}"""


def chromium_or_skip() -> Path:
    if not CHROMIUM.exists():
        script = ROOT / "scripts" / "install-chromium.sh"
        result = subprocess.run(["bash", str(script)], capture_output=True, text=True)
        if result.returncode != 0 or not CHROMIUM.exists():
            pytest.skip(
                f"Chromium is not at {CHROMIUM} and could not be installed "
                f"(scripts/install-chromium.sh: {result.stderr.strip() or result.returncode})"
            )
    return CHROMIUM


class Browser:
    """Just enough of the DevTools protocol: one page, wait, click, type, screenshot."""

    def __init__(self, process, session: aiohttp.ClientSession, ws) -> None:
        self.process, self._http, self._ws = process, session, ws
        self._next_id, self._pending, self.session_id = 0, {}, None
        self.tasks = [asyncio.create_task(self._read())]

    @classmethod
    async def launch(cls, executable: Path, profile: Path) -> Browser:
        process = await asyncio.create_subprocess_exec(
            str(executable),
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        url = None
        async with asyncio.timeout(30):
            while url is None:
                line = (await process.stderr.readline()).decode()
                if not line:
                    raise RuntimeError("Chromium exited before it listened for DevTools")
                match = re.search(r"DevTools listening on (ws://\S+)", line)
                url = match[1] if match else None
        drain = asyncio.create_task(cls._drain(process.stderr))
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(url, max_msg_size=0)
        browser = cls(process, http, ws)
        browser.tasks.append(drain)
        target = await browser.send("Target.createTarget", url="about:blank")
        attached = await browser.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        browser.session_id = attached["sessionId"]
        await browser.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=860,
            deviceScaleFactor=1,
            mobile=False,
        )
        return browser

    @staticmethod
    async def _drain(stream) -> None:
        while await stream.readline():
            pass

    async def _read(self) -> None:
        async for frame in self._ws:
            message = json.loads(frame.data)
            waiter = self._pending.pop(message.get("id"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    async def send(self, method: str, **params):
        self._next_id += 1
        waiter = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = waiter
        command = {"id": self._next_id, "method": method, "params": params}
        if self.session_id and not method.startswith("Target."):
            command["sessionId"] = self.session_id
        await self._ws.send_str(json.dumps(command))
        reply = await asyncio.wait_for(waiter, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def call(self, function: str, *args):
        result = await self.send(
            "Runtime.evaluate",
            expression=f"({function})(...{json.dumps(list(args))})",
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(result["exceptionDetails"].get("exception", {}).get("description"))
        return result["result"].get("value")

    async def wait(self, selector: str, text: str = "", timeout_ms: int = 8000) -> None:
        await self.call(WAIT_JS, selector, text, timeout_ms)

    async def click(self, selector: str, text: str = "") -> None:
        await self.wait(selector, text)
        point = await self.call(RECT_JS, selector, text)
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, button="left", clickCount=1, **point
            )

    async def type(self, selector: str, text: str) -> None:
        await self.click(selector)
        await self.send("Input.insertText", text=text)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.send("Browser.close")
        for task in self.tasks:
            task.cancel()
        await self._http.close()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


@pytest.fixture
def chromium() -> Path:
    return chromium_or_skip()


async def test_resident_starts_the_wallet_and_taps_a_button_in_the_page(
    chromium, tmp_path, sandbox, wallet, application
):
    alice = await wallet.users.seen(Profile(100_002, "alice", "Alice", "en"))
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    await wallet.ledger.transfer("topup-alice", external, alice.account_id, 12_34, "topup")
    emulator = sandbox.emulator
    await emulator.send_text("xiaoming", "大家好！今晚发红包 🧧", emulator.group)
    async with polling(application):
        browser = await Browser.launch(chromium, tmp_path / "profile")
        try:
            await browser.send("Page.navigate", url=sandbox.page_url)
            await browser.click('[data-resident="100002"]')  # Alice
            await browser.wait("#group .msg", "今晚发红包")
            await browser.click("#private .start-button")
            await browser.wait("#private .msg .text", "Welcome to the community wallet, Alice!")
            await browser.click("#private .keyboard button", "Balance")
            await browser.wait("#toasts .toast", "Balance: ¥12.34")
            await browser.wait("#private .msg .text", "Balance: ¥12.34")
            await browser.click("#private .keyboard button", "Support")
            await browser.wait("#private .msg .text", "What can we help you with?")
            await browser.wait("#private .replying:not([hidden])", "Replying to")  # as in Telegram
            await browser.type("#private .composer input[type=text]", "Where is my top-up?")
            await browser.click("#private .composer .send")
            await browser.wait("#private .msg .text", "Your ticket is open")
            await browser.type("#group .composer input[type=text]", "Thanks 小明!")
            await browser.click("#group .composer .send")
            await browser.wait("#group .msg.own .text", "Thanks 小明!")
            await browser.screenshot(
                SCREENSHOT if os.environ.get(SCREENSHOT_ENV) else tmp_path / "s.png"
            )
        finally:
            await browser.close()
    assert "余额 Balance: ¥12.34" in [m.text for m in emulator.messages("alice")]
    answers = [e.text for e in emulator.bot_events("callback_answer") if e.text]
    assert answers == ["余额 Balance: ¥12.34"]
    assert emulator.last_message(emulator.group, from_bot=False).text == "Thanks 小明!"
    (ticket,) = await wallet.support.open_tickets()
    assert ticket.text == "Where is my top-up?"
