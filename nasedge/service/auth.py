"""Bearer tokens: random secrets handed to clients, stored by the server only as salted scrypt hashes.

>>> token, stored = create_token()        # give `token` to the client, put `stored` in the settings
>>> TokenSet([stored]).verify(token)
True

A stored hash reads ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash in unpadded URL-safe base64).
scrypt is slow on purpose (tens of milliseconds), so a :class:`TokenSet` remembers the SHA-256 of the
tokens it has verified: a client pays the slow check once per process, not once per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path

from nasedge.errors import NasedgeError

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1  # the interactive-login parameters of the scrypt paper (16 MiB, ~50 ms)
_DKLEN = 32
_MAX_TOKEN_CHARS = 512


def _b64(data: bytes) -> str:
    # URL-safe and unpadded: the hash goes unquoted into command-line overrides (`=` would not)
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError(text)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_token(token: str, salt: bytes | None = None, n: int = N, r: int = R, p: int = P) -> str:
    """The stored form of ``token`` (a fresh random salt unless one is given)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(token.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def create_token() -> tuple[str, str]:
    """A new random token and its stored hash."""
    token = "nse_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


def _parse(stored: str, source: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.strip().split("$")
    try:
        if len(parts) != 6 or parts[0] != SCHEME:
            raise ValueError
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
        if n < 2 or n & (n - 1) or r < 1 or p < 1 or not salt or len(digest) != _DKLEN:
            raise ValueError
    except ValueError:
        raise NasedgeError(f"{source}: value {stored[:20]!r}... is not a token hash; expected "
                           f"'{SCHEME}$n$r$p$salt$hash' as `nasedge serve token create` prints it") from None
    return n, r, p, salt, digest


def read_token_file(path: str | Path) -> list[str]:
    """The hashes in a token file: one per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise NasedgeError(f"{path}: cannot read the token file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise NasedgeError(f"{path}: not a token file (not text); expected one hash per line, as "
                           f"`nasedge serve token create --file {path}` writes them") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


class TokenSet:
    """The tokens allowed for one kind of access, checked in constant time against their hashes."""

    def __init__(self, hashes: Iterable[str], source: str = "service.write_token_hashes"):
        self._hashes = [_parse(h, source) for h in hashes]
        self._verified: set[bytes] = set()  # SHA-256 of tokens already checked with scrypt
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def __len__(self) -> int:
        return len(self._hashes)

    def verify(self, token: str) -> bool:
        """Whether ``token`` matches one of the hashes."""
        if not token or len(token) > _MAX_TOKEN_CHARS:
            return False
        fast = hashlib.sha256(token.encode()).digest()
        with self._lock:
            if fast in self._verified:
                return True
        ok = False
        for n, r, p, salt, digest in self._hashes:
            candidate = hashlib.scrypt(token.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN,
                                       maxmem=64 * 1024 * 1024)
            ok |= hmac.compare_digest(candidate, digest)
        if ok:
            with self._lock:
                self._verified.add(fast)
        return ok


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
