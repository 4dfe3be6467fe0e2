"""Without PostgreSQL its test cases are skipped with the reason, except in CI."""

from __future__ import annotations

import pytest

from tests.postgres import _unavailable


def test_without_postgresql_the_cases_are_skipped_here_but_fail_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not available here: no apt-get"):
        _unavailable("no apt-get")

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI: no apt-get"):
        _unavailable("no apt-get")
