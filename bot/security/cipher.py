"""Encryption of sensitive columns at rest, blind indexes, and the master key.

One 32-byte master key serves everything; HKDF-SHA256 derives a separate subkey for
each use, so a leak of one (say, the PIN pepper in a crash dump) reveals nothing of the
others:

* field encryption: AES-256-GCM with a random 96-bit nonce per value;
* blind indexes: HMAC-SHA256, to find a row by an encrypted value without decrypting;
* the PIN pepper (see :mod:`bot.security.pin`).

An encrypted value is a token ``v1.<key_id>.<base64url(nonce + ciphertext)>``. The key
id (8 hex digits) is derived from the key and reveals nothing of it; it lets a
:class:`Keyring` hold old keys beside the current one, so values can be re-encrypted
(:meth:`Keyring.rotate`) one by one after the master key changes. The associated data
binds each value to its place (:func:`field_aad`, e.g. ``b"users.real_name:12345"``):
a value copied into another row or column no longer decrypts.

The master key comes from ``WALLET_MASTER_KEY`` (or ``WALLET_MASTER_KEY_FILE``), else from
``<key folder>/master.key`` (base64 text, created on first start with mode 0600). The key
folder (``WALLET_KEY_DIR``, by default ``<data folder>-keys`` beside the data folder) is
never the data folder, so a copy of the data is not also the key that opens it; a key
found in the data folder, where it used to be, is moved there (:func:`relocate_key_files`).
To rotate: rename
``master.key`` to ``master.key.old`` (older ones ``master.key.old2``, ...) and restart;
a new key is created, old tokens still decrypt, and a job rewrites them with
:meth:`Keyring.rotate`. Blind indexes and PIN peppers belong to one key, so that job
also recomputes blind indexes from the decrypted values, and PIN hashes are re-made
with the new pepper when each user next enters a correct PIN (``pin_pepper(old_id)``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.domain.security_errors import (
    DecryptionFailed,
    MasterKeyError,
    MasterKeyFileUnsafe,
    WrongMasterKey,
)

__all__ = [
    "KEY_BYTES",
    "KEY_FILE",
    "Keyring",
    "field_aad",
    "key_check",
    "key_id",
    "load_keyring",
    "load_master_key",
    "load_old_master_keys",
    "relocate_key_files",
    "verify_key_check",
]

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE = "master.key"
OLD_KEY_FILES = "master.key.old*"
_VERSION = "v1"
_INFO = b"wallet-bot/v1/"
_NAME = re.compile(r"[a-z][a-z0-9_]*", re.ASCII)
_PURPOSE = re.compile(r"[a-z][a-z0-9_.]*", re.ASCII)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def _subkey(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=_INFO + purpose).derive(
        master
    )


def _check_key(master: bytes) -> bytes:
    if not isinstance(master, bytes) or len(master) != KEY_BYTES:
        raise MasterKeyError(f"a master key is exactly {KEY_BYTES} bytes")
    return master


def key_id(master: bytes) -> str:
    """Eight hex digits naming ``master`` in tokens; a hash of a subkey, not the key."""
    return hashlib.sha256(_subkey(_check_key(master), b"key-id")).hexdigest()[:8]


def key_check(master: bytes) -> str:
    """A value to save once beside the data, so a wrong key is noticed at start-up."""
    return "kcv1." + _subkey(_check_key(master), b"key-check").hex()


def verify_key_check(master: bytes, saved: str) -> None:
    """Raise :class:`WrongMasterKey` unless ``saved`` came from :func:`key_check` of ``master``.

    Starting with another key would otherwise fail on every encrypted value, one by one,
    long after start-up; this makes it fail at once with a message to the operator.
    """
    if not hmac.compare_digest(key_check(master).encode(), str(saved).encode()):
        raise WrongMasterKey(
            f"the master key (id {key_id(master)}) is not the one this data was encrypted"
            " with; set WALLET_MASTER_KEY or restore data_dir/master.key"
        )


def field_aad(table: str, column: str, row_id: int | str) -> bytes:
    """Associated data binding a value to one place: ``b"users.real_name:12345"``."""
    if not (_NAME.fullmatch(table) and _NAME.fullmatch(column)):
        raise ValueError("table and column are lower-case identifiers")
    return f"{table}.{column}:{row_id}".encode()


@dataclass(frozen=True, repr=False)
class _Key:
    id: str
    encryption: AESGCM
    blind_index: bytes
    pin_pepper: bytes
    check: str


def _make_key(master: bytes) -> _Key:
    _check_key(master)
    return _Key(
        id=key_id(master),
        encryption=AESGCM(_subkey(master, b"field-encryption")),
        blind_index=_subkey(master, b"blind-index"),
        pin_pepper=_subkey(master, b"pin-pepper"),
        check=key_check(master),
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not _BASE64URL.fullmatch(text):  # b64decode would skip stray characters silently
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Keyring:
    """The current master key, which encrypts, and older ones, which only decrypt."""

    def __init__(self, current: bytes, old: Iterable[bytes] = ()) -> None:
        self._current = _make_key(current)
        self._keys = {self._current.id: self._current}
        for master in old:
            key = _make_key(master)
            known = self._keys.get(key.id)
            if known is not None and known.check != key.check:
                raise MasterKeyError(f"two master keys share the id {key.id}; replace one")
            self._keys.setdefault(key.id, key)

    def __repr__(self) -> str:  # never the keys themselves
        return f"Keyring(current={self._current.id!r}, ids={sorted(self._keys)})"

    @property
    def current_key_id(self) -> str:
        return self._current.id

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def encrypt(self, plaintext: bytes, aad: bytes) -> str:
        """A token for ``plaintext`` under the current key, bound to ``aad``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.encryption.encrypt(nonce, bytes(plaintext), aad)
        return f"{_VERSION}.{self._current.id}.{_b64(nonce + sealed)}"

    def encrypt_text(self, plaintext: str, aad: bytes) -> str:
        return self.encrypt(plaintext.encode("utf-8"), aad)

    def _split(self, token: str) -> tuple[_Key, bytes]:
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != _VERSION:
            raise DecryptionFailed(reason="not_a_token")
        key = self._keys.get(parts[1])
        if key is None:
            raise DecryptionFailed(reason="unknown_key_id", key_id=parts[1])
        try:
            blob = _unb64(parts[2])
        except (binascii.Error, ValueError) as exc:
            raise DecryptionFailed(reason="not_a_token") from exc
        return key, blob

    def decrypt(self, token: str, aad: bytes) -> bytes:
        """The plaintext of ``token``, checked against ``aad``.

        Raises :class:`DecryptionFailed` if the token was altered, belongs to other
        associated data, or was made with a key this ring lacks; never returns garbage.
        """
        key, blob = self._split(token)
        if len(blob) < NONCE_BYTES + 16:
            raise DecryptionFailed(reason="not_a_token")
        try:
            return key.encryption.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise DecryptionFailed(reason="authentication_failed") from exc

    def decrypt_text(self, token: str, aad: bytes) -> str:
        try:
            return self.decrypt(token, aad).decode("utf-8")
        except UnicodeDecodeError as exc:  # authentic, so written as bytes: a caller's bug
            raise DecryptionFailed(reason="not_text") from exc

    def needs_rotation(self, token: str) -> bool:
        """Whether ``token`` was made with another key than the current one."""
        return self._split(token)[0] is not self._current

    def rotate(self, token: str, aad: bytes) -> str:
        """``token`` re-encrypted under the current key (checked and unchanged if it is)."""
        plaintext = self.decrypt(token, aad)
        return self.encrypt(plaintext, aad) if self.needs_rotation(token) else token

    def _key(self, key_id: str | None) -> _Key:
        if key_id is None:
            return self._current
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyError(f"no master key with id {key_id!r} in this keyring") from None

    def blind_index(self, value: str, purpose: str, *, key_id: str | None = None) -> str:
        """A keyed hash of ``value`` to look rows up by, in hex.

        ``purpose`` (``"id_number"``, ``"card_number"``) separates indexes, so equal
        values in two columns do not reveal that they are equal. The value is NFKC
        folded, trimmed and case folded; callers normalise further (digits only) first.
        """
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError("purpose is a lower-case identifier such as 'id_number'")
        normalised = unicodedata.normalize("NFKC", value).strip().casefold()
        message = purpose.encode("ascii") + b"\x00" + normalised.encode("utf-8")
        return hmac.new(self._key(key_id).blind_index, message, hashlib.sha256).hexdigest()

    def pin_pepper(self, key_id: str | None = None) -> bytes:
        """The server secret mixed into PIN hashes (of the current key, or of ``key_id``)."""
        return self._key(key_id).pin_pepper

    def key_check(self) -> str:
        """:func:`key_check` of the current key, to save when the data is first written."""
        return self._current.check

    def key_id_for_check(self, saved: str) -> str | None:
        """The id of the key in this ring whose :func:`key_check` is ``saved``, if any.

        At start-up: the current key's id means all is well; an old key's id means a
        rotation has begun (save the new :meth:`key_check` once tokens are rewritten);
        ``None`` means the wrong key was configured (see :func:`verify_key_check`).
        """
        found = None
        for key in self._keys.values():
            if hmac.compare_digest(key.check.encode(), str(saved).encode()):
                found = key.id
        return found


def _read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise MasterKeyError(f"{path}: cannot be read ({exc.strerror})") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyFileUnsafe(
            f"{path}: other users may read it (mode {stat.S_IMODE(mode):04o});"
            f" run: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="ascii").strip()
        key = base64.b64decode(text, validate=True)
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError) as exc:
        raise MasterKeyError(f"{path}: not a base64 master key") from exc
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{path}: holds {len(key)} bytes, a master key is {KEY_BYTES}")
    return key


def _write_key_file(path: Path, key: bytes) -> None:
    # O_EXCL: never overwrite a key; mode 0600 from the first instant, whatever the umask.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_key_file(path: Path) -> bytes:
    key = os.urandom(KEY_BYTES)
    _write_key_file(path, key)
    return key


def load_master_key(env_key: bytes | None, data_dir: Path) -> bytes:
    """The master key: ``env_key`` if set, else ``data_dir/master.key``, made if missing.

    A key file that group or others may read is refused (:class:`MasterKeyFileUnsafe`).
    """
    if env_key is not None:
        return _check_key(env_key)
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        try:
            Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            return _create_key_file(path)
        except FileExistsError:
            if not path.is_file():
                raise MasterKeyError(
                    f"the key folder {Path(data_dir).resolve()} (WALLET_KEY_DIR) is not a folder"
                ) from None
            # else another process made it first: use theirs
        except OSError as exc:
            raise MasterKeyError(
                f"cannot create the master key in {Path(data_dir).resolve()} (WALLET_KEY_DIR):"
                f" {exc.strerror or exc}"
            ) from exc
    return _read_key_file(path)


def load_old_master_keys(data_dir: Path) -> list[bytes]:
    """The keys in ``data_dir/master.key.old*``, by file name; they only decrypt."""
    return [_read_key_file(path) for path in sorted(Path(data_dir).glob(OLD_KEY_FILES))]


def load_keyring(
    env_key: bytes | None, key_dir: Path, *, legacy_dir: Path | None = None
) -> Keyring:
    """The keyring for this start: the master key and any old keys beside it. Key files
    still in ``legacy_dir`` (the data folder, their old place) are moved first."""
    if legacy_dir is not None:
        relocate_key_files(legacy_dir, key_dir)
    return Keyring(load_master_key(env_key, key_dir), load_old_master_keys(key_dir))


def relocate_key_files(old_dir: Path, key_dir: Path) -> list[Path]:
    """Move ``master.key`` and ``master.key.old*`` from ``old_dir`` into ``key_dir``
    (made with mode 0700), each with a warning; return where they went.

    A key already in ``key_dir`` is never overwritten: the same key in both places is
    only named in a warning (the copy in ``old_dir`` should be deleted), a different one
    stops the start with :class:`MasterKeyError`, since one of them does not open the data.
    """
    old_dir, key_dir = Path(old_dir), Path(key_dir)
    if old_dir.resolve() == key_dir.resolve():
        return []
    found = [p for p in [old_dir / KEY_FILE, *sorted(old_dir.glob(OLD_KEY_FILES))] if p.is_file()]
    moved = []
    for source in found:
        target = key_dir / source.name
        if target.exists():
            if _read_key_file(target) != _read_key_file(source):
                raise MasterKeyError(
                    f"{source} and {target} hold different keys; keep the one the data was"
                    f" written with in {key_dir} and remove the other"
                )
            log.warning("%s is a copy of %s: delete it from the data folder", source, target)
            continue
        key = _read_key_file(source)  # refuses an unsafe or broken file before moving it
        try:
            key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_key_file(target, key)
            source.unlink()
        except OSError as exc:
            raise MasterKeyError(
                f"{source}: keys no longer live in the data folder, and it cannot be moved to"
                f" {key_dir} ({exc.strerror or exc}); move it there by hand (mode 0600), or"
                " set WALLET_KEY_DIR to a folder this process may write"
            ) from exc
        log.warning(
            "moved the key file %s to %s: keys no longer live in the data folder", source, target
        )
        moved.append(target)
    return moved
