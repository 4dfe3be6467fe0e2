"""``--help`` names every command and every variable read; ``--version`` the version."""

from __future__ import annotations

import pytest

from bot.__main__ import _parser, main, version
from bot.config import _VARIABLES


def test_help_lists_every_command_and_every_environment_variable(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    commands = _parser()._subparsers._group_actions[0].choices
    assert set(commands) == {
        "run", "sandbox", "dispatch", "migrate", "audit", "rotate-keys", "backup", "restore"
    }
    for command in commands:
        assert f"    {command}" in text
    flat = " ".join(text.split())
    for variable in ["WALLET_CONFIG", *_VARIABLES]:
        assert variable in flat


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"wallet-bot {version()}"
    assert version() not in ("", "unknown")
