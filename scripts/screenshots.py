"""Take a screenshot of each main screen of the sandbox page, for the README.

    .venv/bin/python scripts/screenshots.py [--out docs/screens]

Starts the sandbox and the bot on a throwaway database, drives headless Chromium (Debian's
``chromium``, see ``scripts/install-chromium.sh``) through the page as Alice would — the
menu, paying a neighbour with the contact picker, the number pad, the PIN keypad, a red
packet sent into the group by inline mode, a payment request's QR code, the history and
the security menu — and saves one PNG per screen. Nothing is typed after /start.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import build_application, open_wallet  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.domain.model import SystemAccount  # noqa: E402
from bot.domain.users import Profile  # noqa: E402
from bot.handlers.outbox import outbox  # noqa: E402
from bot.sandbox.server import start_sandbox  # noqa: E402
from bot.sandbox.testing import polling  # noqa: E402
from tests.e2e.test_sandbox_browser import Browser, chromium_or_skip  # noqa: E402

ALICE, LAOLI = 100_002, 100_005
PIN = "739201"
# a button with exactly this text, in the last message of a pane that has it
CLICK_JS = """(pane, text) => {
  const messages = [...document.querySelectorAll(`#${pane} .msg`)].reverse();
  for (const message of messages) {
    const button = [...message.querySelectorAll(".keyboard button")]
      .find((b) => b.textContent.trim().replace(/ ↪$/, "") === text);
    if (button) {
      button.scrollIntoView({block: "center"});
      const r = button.getBoundingClientRect();
      return {x: r.x + r.width / 2, y: r.y + r.height / 2};
    }
  }
  return null;
}"""


class Page:
    def __init__(self, browser: Browser, out: Path) -> None:
        self.browser, self.out, self.shots = browser, out, []

    async def tap(self, pane: str, text: str) -> None:
        """Click the button ``text`` of the latest message in ``pane`` that shows it."""
        for _ in range(80):
            point = await self.browser.call(CLICK_JS, pane, text)
            if point:
                break
            await asyncio.sleep(0.1)
        else:
            raise LookupError(f"no button {text!r} in the {pane} pane")
        for kind in ("mousePressed", "mouseReleased"):
            await self.browser.send(
                "Input.dispatchMouseEvent", type=kind, button="left", clickCount=1, **point
            )

    async def pin(self, digits: str, entered: int = 0) -> None:
        """Tap PIN digits on the keypad, each once the one before shows as a dot."""
        for digit in digits:
            await self.tap("private", digit)
            entered += 1
            if entered < len(PIN):
                await self.browser.wait("#private .msg .text", "●" * entered + "○")

    async def shot(self, name: str) -> None:
        await asyncio.sleep(0.6)  # the page draws the last events
        path = self.out / f"{len(self.shots) + 1:02d}-{name}.png"
        await self.browser.screenshot(path)
        self.shots.append(path)
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


async def walk(page: Page, sandbox_url: str) -> None:
    browser = page.browser
    await browser.send("Page.navigate", url=sandbox_url)
    await browser.click(f'[data-resident="{ALICE}"]')
    await browser.click("#private .start-button")
    await browser.wait("#private .msg .text", "Welcome")
    await page.shot("menu")

    await page.tap("private", "💸 Send")
    await browser.wait("#private .reply-keyboard button.request-users")
    await browser.click("#private .reply-keyboard button.request-users")
    await browser.wait("#picker .picker-person")
    await page.shot("contact-picker")
    await browser.click(f'#picker .picker-person[data-resident="{LAOLI}"]')
    await browser.wait("#private .msg .text", "To: 老李")
    for key in ("2", "8", ".", "8"):
        await page.tap("private", key)
    await browser.wait("#private .msg .text", "Amount: ¥28.8")
    await page.shot("number-pad")
    await page.tap("private", "✅ OK")
    await browser.wait("#private .msg .text", "Add a note?")
    await page.tap("private", "Skip ➡")
    await browser.wait("#private .msg .text", "Send ¥28.80 to 老李?")
    await page.tap("private", "✅ Confirm")
    await browser.wait("#private .msg .text", "payment PIN")
    await page.pin(PIN[:3])
    await page.shot("pin-keypad")
    await page.pin(PIN[3:], entered=3)
    await browser.wait("#private .msg .text", "Sent ¥28.80")

    await page.tap("private", "🧧 Red packet")
    await browser.wait("#private .msg .text", "How much in the packet")
    await page.tap("private", "¥20")
    await browser.wait("#private .msg .text", "How many shares?")
    await page.tap("private", "5")
    await browser.wait("#private .msg .text", "A greeting?")
    await page.tap("private", "Skip ➡")
    await browser.wait("#private .msg .text", "Tap “Send to a group”")
    await page.tap("private", "🧧 Send to a group")
    await browser.click("#group .composer .send")
    await browser.wait("#group .inline-results button")
    await browser.click("#group .inline-results button")
    await browser.wait("#private .msg .text", "Send a random red packet")
    await page.tap("private", "✅ Confirm")
    await browser.wait("#private .msg .text", "payment PIN")
    await page.pin(PIN)
    await browser.wait("#group .msg .text", "sent a red packet")
    await page.shot("red-packet-in-the-group")

    await page.tap("private", "📥 Request (QR)")
    await browser.wait("#private .msg .text", "How much do you ask for")
    await page.tap("private", "¥50")
    await browser.wait("#private .msg .text", "Add a note?")
    await page.tap("private", "Skip ➡")
    await browser.wait("#private .msg img.photo")
    await page.shot("request-qr")

    await page.tap("private", "🧾 History")
    await browser.wait("#private .msg .text", "28.80")
    await page.shot("history")

    await page.tap("private", "🔐 Security")
    await browser.wait("#private .msg .text", "Security:")
    await page.shot("security-menu")


async def main(out: Path) -> int:
    chromium = chromium_or_skip()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        async with await start_sandbox() as sandbox:
            emulator = sandbox.emulator
            emulator.add_user("老李", None, "zh-hans", user_id=LAOLI)
            emulator.group.member_ids.append(LAOLI)
            await emulator.send_text("xiaoming", "大家好！今晚发红包 🧧", emulator.group)
            settings = Settings(
                telegram_bot_token=sandbox.token,
                telegram_api_base_url=sandbox.url,
                database_url=f"sqlite:///{data / 'wallet.db'}",
                data_dir=data,
            )
            wallet = await open_wallet(settings)
            try:
                alice = await wallet.users.seen(Profile(ALICE, "alice", "Alice", "en"))
                external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
                await wallet.ledger.transfer("fund", external, alice.account_id, 200_00, "topup")
                await wallet.pins.set_pin(ALICE, PIN)
                application = build_application(settings, wallet=wallet)
                async with polling(application):
                    browser = await Browser.launch(chromium, data / "profile")
                    try:
                        await walk(Page(browser, out), sandbox.page_url)
                    finally:
                        await browser.close()
                    await outbox(application).close(grace=5)
            finally:
                await wallet.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screens")
    sys.exit(asyncio.run(main(parser.parse_args().out.resolve())))
