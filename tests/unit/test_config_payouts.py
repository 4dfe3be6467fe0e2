"""How withdrawals are paid out is a setting: the sandbox without a token, the operator's
choice with one; the http gateway needs its URL and secret."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"
SECRET = "0123456789abcdef0123456789abcdef"
HTTP = {
    "WALLET_PAYOUT_GATEWAY": "http",
    "WALLET_PAYOUT_URL": "https://bank.example/payouts/v1",
    "WALLET_PAYOUT_SECRET": SECRET,
}


@pytest.fixture(autouse=True)
def _no_wallet_toml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def problems(env: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return caught.value.problems


def test_without_a_token_the_sandbox_pays_and_nothing_else_is_needed():
    settings = load_settings({})
    assert (settings.payout_gateway, settings.payout_url, settings.payout_secret) == (
        "sandbox",
        None,
        None,
    )


def test_with_a_token_the_operator_must_choose_a_gateway():
    (problem,) = problems({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert problem.startswith("WALLET_PAYOUT_GATEWAY: must be set when TELEGRAM_BOT_TOKEN is set")
    assert "manual" in problem and "http" in problem and "--allow-sandbox-payouts" in problem


@pytest.mark.parametrize("choice", ["sandbox", "manual", "Manual", " http "])
def test_each_gateway_can_be_chosen_with_a_token(choice):
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, **HTTP, "WALLET_PAYOUT_GATEWAY": choice}
    assert load_settings(env).payout_gateway == choice.strip().lower()


@pytest.mark.parametrize("choice", ["bank", "alipay", "sandbox,manual"])
def test_an_unknown_gateway_is_refused_by_name(choice):
    assert problems({"WALLET_PAYOUT_GATEWAY": choice}) == [
        f"WALLET_PAYOUT_GATEWAY: {choice!r} is not one of sandbox, manual, http"
    ]


def test_the_http_gateway_reads_its_url_and_secret():
    settings = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, **HTTP})
    assert settings.payout_url == "https://bank.example/payouts/v1"
    assert settings.payout_secret == SECRET.encode()
    assert SECRET not in repr(settings)


def test_the_http_gateway_needs_a_url_and_a_secret():
    found = problems({"WALLET_PAYOUT_GATEWAY": "http"})
    assert found == [
        "WALLET_PAYOUT_URL: must be set when WALLET_PAYOUT_GATEWAY is http",
        "WALLET_PAYOUT_SECRET: must be set (or WALLET_PAYOUT_SECRET_FILE) when"
        " WALLET_PAYOUT_GATEWAY is http",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://bank.example/payouts",  # plain http to another machine
        "http://localhost:8080/payouts",  # only 127.0.0.1 may be plain http
        "http://127.0.0.2/payouts",
        "ftp://bank.example/payouts",
        "bank.example/payouts",
        "https://",
    ],
)
def test_a_payout_url_must_be_https_or_plain_http_to_127_0_0_1(url):
    (problem,) = problems({**HTTP, "WALLET_PAYOUT_URL": url})
    assert problem.startswith("WALLET_PAYOUT_URL: ") and "is not an https:// URL" in problem


def test_plain_http_to_127_0_0_1_is_accepted():
    url = "http://127.0.0.1:9090/bank/v1"
    assert load_settings({**HTTP, "WALLET_PAYOUT_URL": url}).payout_url == url


def test_a_payout_url_with_a_query_is_refused_and_a_password_is_not_repeated():
    (problem,) = problems({**HTTP, "WALLET_PAYOUT_URL": "https://u:hunter2@bank.example/?k=v"})
    assert "query or fragment" in problem and "hunter2" not in problem


def test_the_secret_can_come_from_a_file(tmp_path):
    path = tmp_path / "payout.secret"
    path.write_bytes(SECRET.encode() + b"\n")
    env = {**HTTP, "WALLET_PAYOUT_SECRET_FILE": str(path)}
    del env["WALLET_PAYOUT_SECRET"]
    assert load_settings(env).payout_secret == SECRET.encode()


def test_a_secret_file_that_cannot_be_read_is_named(tmp_path):
    env = {**HTTP, "WALLET_PAYOUT_SECRET_FILE": str(tmp_path / "missing")}
    del env["WALLET_PAYOUT_SECRET"]
    (problem,) = problems(env)
    assert problem.startswith(f"WALLET_PAYOUT_SECRET_FILE: cannot read {tmp_path / 'missing'}")


def test_the_secret_and_its_file_together_are_refused(tmp_path):
    path = tmp_path / "payout.secret"
    path.write_text(SECRET)
    (problem,) = problems({**HTTP, "WALLET_PAYOUT_SECRET_FILE": str(path)})
    assert problem == "WALLET_PAYOUT_SECRET: set it or WALLET_PAYOUT_SECRET_FILE, not both"


def test_a_short_secret_is_refused_without_showing_it():
    (problem,) = problems({**HTTP, "WALLET_PAYOUT_SECRET": "letmein"})
    assert problem.startswith("WALLET_PAYOUT_SECRET: the secret is too short")
    assert "letmein" not in problem


def test_the_payout_settings_come_from_wallet_toml_too(tmp_path):
    (tmp_path / "wallet.toml").write_text(
        'payout_gateway = "http"\npayout_url = "https://bank.example/v1"\n'
        f'payout_secret = "{SECRET}"\n',
        encoding="utf-8",
    )
    (tmp_path / "wallet.toml").chmod(0o600)  # it holds a secret
    settings = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert (settings.payout_gateway, settings.payout_url) == ("http", "https://bank.example/v1")
