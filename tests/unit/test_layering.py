"""The wallet core and the security layer know nothing of Telegram or the chat layer."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "bot"
FORBIDDEN = ("telegram", "bot.handlers", "bot.render", "bot.sandbox", "aiohttp")
CORE_PACKAGES = ("wallet", "security")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def core_files() -> list[Path]:
    return [p for package in CORE_PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]


def test_the_core_packages_exist():
    assert (ROOT / "wallet" / "ledger.py").is_file()
    assert len(core_files()) >= 5


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_no_chat_code(path):
    bad = {
        name
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_checker_itself_catches_a_telegram_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from telegram import Update\nimport bot.handlers.start\n")
    assert {"telegram", "bot.handlers.start"} <= imported_modules(sample)
