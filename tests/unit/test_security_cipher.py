"""Field encryption: AES-GCM tokens bound to their row, key rotation, blind indexes, key files."""

import base64
import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.security_errors import (
    DecryptionFailed,
    MasterKeyError,
    MasterKeyFileUnsafe,
    WrongMasterKey,
)
from bot.security.cipher import (
    KEY_FILE,
    Keyring,
    field_aad,
    key_check,
    key_id,
    load_keyring,
    load_master_key,
    load_old_master_keys,
    verify_key_check,
)

OLD = bytes(range(32))
NEW = bytes(range(32, 64))
AAD = field_aad("users", "real_name", 12345)


def reason(exc_info) -> str:
    return exc_info.value.params["reason"]


def test_aad_names_table_column_and_row():
    assert AAD == b"users.real_name:12345"
    with pytest.raises(ValueError):
        field_aad("users", "real_name:1", 2)  # would be ambiguous


def test_round_trip_of_text_and_bytes():
    ring = Keyring(NEW)
    assert ring.decrypt_text(ring.encrypt_text("张三", AAD), AAD) == "张三"
    assert ring.decrypt(ring.encrypt(b"\x00\xff", AAD), AAD) == b"\x00\xff"


def test_token_names_version_and_key_id_not_the_key():
    ring = Keyring(NEW)
    token = ring.encrypt_text("张三", AAD)
    version, kid, body = token.split(".")
    assert (version, kid) == ("v1", key_id(NEW)) and len(kid) == 8
    assert NEW.hex()[:8] != kid
    assert "张三".encode() not in base64.urlsafe_b64decode(body + "==")


def test_each_encryption_uses_a_fresh_nonce():
    ring = Keyring(NEW)
    tokens = {ring.encrypt_text("same", AAD) for _ in range(50)}
    assert len(tokens) == 50
    nonces = {base64.urlsafe_b64decode(t.split(".")[2] + "==")[:12] for t in tokens}
    assert len(nonces) == 50


def flip_bit(token: str, index: int) -> str:
    prefix, body = token.rsplit(".", 1)
    blob = bytearray(base64.urlsafe_b64decode(body + "=="))
    blob[index] ^= 0x01
    return prefix + "." + base64.urlsafe_b64encode(bytes(blob)).decode().rstrip("=")


@pytest.mark.parametrize("index", [0, 11, 12, -1])  # nonce, ciphertext, tag
def test_a_tampered_token_is_refused(index):
    ring = Keyring(NEW)
    token = ring.encrypt_text("张三", AAD)
    with pytest.raises(DecryptionFailed) as caught:
        ring.decrypt(flip_bit(token, index), AAD)
    assert caught.value.code == "encrypted_value_invalid"
    assert reason(caught) == "authentication_failed"


def test_stray_characters_in_a_token_are_not_skipped():
    ring = Keyring(NEW)
    token = ring.encrypt_text("张三", AAD)
    with pytest.raises(DecryptionFailed):
        ring.decrypt(token[:20] + "!" + token[20:], AAD)


def test_a_value_moved_to_another_row_or_column_is_refused():
    ring = Keyring(NEW)
    token = ring.encrypt_text("张三", AAD)
    for other in (field_aad("users", "real_name", 12346), field_aad("users", "id_number", 12345)):
        with pytest.raises(DecryptionFailed):
            ring.decrypt(token, other)


@pytest.mark.parametrize(
    "token",
    ["", "v1", "v2.abcdef01.AAAA", "v1.abcdef01.AAAA.x", "v1.{kid}.!!!!", "v1.{kid}.AAAA"],
)
def test_malformed_tokens_are_refused(token):
    with pytest.raises(DecryptionFailed) as caught:
        Keyring(NEW).decrypt(token.format(kid=key_id(NEW)), AAD)
    assert reason(caught) == "not_a_token"


def test_a_token_of_an_unknown_key_is_refused():
    token = Keyring(OLD).encrypt_text("张三", AAD)
    with pytest.raises(DecryptionFailed) as caught:
        Keyring(NEW).decrypt(token, AAD)
    assert caught.value.params == {"reason": "unknown_key_id", "key_id": key_id(OLD)}


def test_rotation_moves_a_token_to_the_current_key():
    old_token = Keyring(OLD).encrypt_text("张三", AAD)
    ring = Keyring(NEW, old=[OLD])
    assert ring.key_ids == {key_id(NEW), key_id(OLD)}
    assert ring.decrypt_text(old_token, AAD) == "张三"
    assert ring.needs_rotation(old_token)

    new_token = ring.rotate(old_token, AAD)
    assert new_token.split(".")[1] == ring.current_key_id == key_id(NEW)
    assert not ring.needs_rotation(new_token)
    assert ring.decrypt_text(new_token, AAD) == "张三"
    assert Keyring(NEW).decrypt_text(new_token, AAD) == "张三"  # old key no longer needed
    with pytest.raises(DecryptionFailed):
        Keyring(OLD).decrypt(new_token, AAD)


def test_rotating_a_current_token_keeps_it_but_still_checks_it():
    ring = Keyring(NEW, old=[OLD])
    token = ring.encrypt_text("张三", AAD)
    assert ring.rotate(token, AAD) == token
    with pytest.raises(DecryptionFailed):
        ring.rotate(token, field_aad("users", "real_name", 1))


def test_blind_index_is_stable_normalised_and_separated_by_purpose_and_key():
    ring = Keyring(NEW)
    index = ring.blind_index("11010519491231002X", "id_number")
    assert index == Keyring(NEW).blind_index(" １１０１０５１９４９１２３１００２ｘ", "id_number")
    assert len(index) == 64 and int(index, 16) >= 0
    assert index != ring.blind_index("11010519491231002X", "card_number")
    assert index != ring.blind_index("11010519491231003X", "id_number")
    assert index != Keyring(OLD).blind_index("11010519491231002X", "id_number")
    assert ring.blind_index("b1", "id_a") != ring.blind_index("1", "id_ab")  # no run-together
    rotated = Keyring(NEW, old=[OLD])
    assert rotated.blind_index("a", "x", key_id=key_id(OLD)) == Keyring(OLD).blind_index("a", "x")


def test_subkeys_differ_from_each_other_and_from_the_master():
    ring = Keyring(NEW)
    pepper = ring.pin_pepper()
    assert len(pepper) == 32 and pepper not in (NEW, Keyring(OLD).pin_pepper())
    assert Keyring(NEW, old=[OLD]).pin_pepper(key_id(OLD)) == Keyring(OLD).pin_pepper()
    assert NEW.hex() not in repr(ring) and pepper.hex() not in repr(ring)
    with pytest.raises(KeyError):
        ring.pin_pepper("00000000")


def test_a_master_key_must_be_32_bytes():
    with pytest.raises(MasterKeyError):
        Keyring(b"short")
    with pytest.raises(MasterKeyError):
        load_master_key(b"x" * 31, "unused")


def test_key_check_catches_a_wrong_master_key():
    saved = key_check(OLD)
    verify_key_check(OLD, saved)
    with pytest.raises(WrongMasterKey) as caught:
        verify_key_check(NEW, saved)
    assert caught.value.code == "master_key_wrong"
    assert key_id(NEW) in str(caught.value)
    ring = Keyring(NEW, old=[OLD])
    assert ring.key_check() == key_check(NEW)
    assert ring.key_id_for_check(saved) == key_id(OLD)  # a rotation in progress
    assert ring.key_id_for_check(key_check(bytes(32))) is None


def test_configured_key_wins_and_no_file_is_written(tmp_path):
    assert load_master_key(NEW, tmp_path) == NEW
    assert not (tmp_path / KEY_FILE).exists()


def test_key_file_is_created_once_with_mode_0600_and_reused(tmp_path):
    data_dir = tmp_path / "data"
    previous = os.umask(0)  # even a careless umask must not widen the mode
    try:
        first = load_master_key(None, data_dir)
    finally:
        os.umask(previous)
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert base64.b64decode(path.read_text()) == first
    created = path.stat().st_mtime_ns
    assert load_master_key(None, data_dir) == first
    assert path.stat().st_mtime_ns == created


def test_key_file_is_opened_exclusively_and_private_from_the_start(tmp_path, monkeypatch):
    calls = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *args, **kwargs):
        calls.append((flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    load_master_key(None, tmp_path)
    [(flags, mode)] = calls
    assert flags & os.O_CREAT and flags & os.O_EXCL
    assert mode == 0o600


def test_a_key_file_others_can_read_is_refused(tmp_path):
    load_master_key(None, tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(MasterKeyFileUnsafe) as caught:
        load_master_key(None, tmp_path)
    assert caught.value.code == "master_key_file_unsafe"
    assert "chmod 600" in str(caught.value)


@pytest.mark.parametrize("content", ["", "not base64!", base64.b64encode(b"x" * 16).decode()])
def test_a_damaged_key_file_is_refused_not_replaced(tmp_path, content):
    path = tmp_path / KEY_FILE
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(MasterKeyError):
        load_master_key(None, tmp_path)
    assert path.read_text() == content


def test_old_key_files_join_the_keyring(tmp_path):
    for name, key in ((KEY_FILE, NEW), (KEY_FILE + ".old", OLD)):
        (tmp_path / name).write_text(base64.b64encode(key).decode() + "\n")
        (tmp_path / name).chmod(0o600)
    assert load_old_master_keys(tmp_path) == [OLD]
    ring = load_keyring(None, tmp_path)
    assert ring.current_key_id == key_id(NEW)
    assert ring.key_ids == {key_id(NEW), key_id(OLD)}
    (tmp_path / (KEY_FILE + ".old")).chmod(0o640)
    with pytest.raises(MasterKeyFileUnsafe):
        load_keyring(None, tmp_path)


@given(st.text(), st.binary(max_size=64))
def test_any_text_round_trips_only_with_its_own_aad(text, aad):
    ring = Keyring(NEW, old=[OLD])
    token = ring.encrypt_text(text, aad)
    assert ring.decrypt_text(token, aad) == text
    with pytest.raises(DecryptionFailed):
        ring.decrypt(token, aad + b"\x00")
