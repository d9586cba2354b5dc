"""API tokens of the HTTP server, stored as hashes (``api_tokens``, migration m008).

A token is ``mlmk_`` followed by a random 32-byte URL-safe secret (`secrets.token_urlsafe`),
so it is recognisable in a leaked log or a secret scanner. Only its SHA-256 is stored
(`hash_token`). A fast hash is the right choice here: a slow password KDF (bcrypt, scrypt,
argon2) protects *low-entropy* secrets against guessing, whereas 256 random bits cannot be
guessed from their hash at any hashing speed; SHA-256 also keeps verification to microseconds,
which matters since every request is checked. The token string is returned once by
`create_token` and never written anywhere.

Rows are never deleted: a revoked token keeps its row (``revoked_at``) for the audit trail.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlmkit._validation import check_choice, check_int, check_name
from mlmkit.exceptions import NotFoundError
from mlmkit.store.database import Database

__all__ = ["PREFIX", "SCOPES", "ActiveToken", "TokenRecord", "active_tokens", "create_token",
           "hash_token", "list_tokens", "revoke_token", "touch_tokens"]

PREFIX = "mlmk_"
SCOPES = ("ingest", "read", "admin")

_COLUMNS = "token_id, name, scope, created_at, revoked_at, last_used_at"


@dataclass(frozen=True)
class TokenRecord:
    """What is known about a token, without its hash (what ``mlmkit tokens list`` shows)."""

    token_id: int
    name: str | None
    scope: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the token has not been revoked."""
        return self.revoked_at is None


@dataclass(frozen=True)
class ActiveToken:
    """A token the server accepts: its id, name, scope and hex SHA-256 (never the token)."""

    token_id: int
    name: str | None
    scope: str
    token_hash: str

    def __repr__(self) -> str:  # the hash is not a secret, but it has no place in logs either
        return f"ActiveToken(token_id={self.token_id}, name={self.name!r}, scope={self.scope!r})"


def hash_token(token: str) -> str:
    """The hex SHA-256 of ``token``: what the workspace stores and compares.

    Examples
    --------
    >>> hash_token("mlmk_example")[:16]
    '77881b8aa1aaff68'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(db: Database, *, scope: str, name: str | None, now: datetime
                 ) -> tuple[TokenRecord, str]:
    """Create a token; return its record and the token string (the only time it exists).

    Parameters
    ----------
    db : Database
        The workspace database (migrated to version 8 or later).
    scope : {"ingest", "read", "admin"}
        What the token may do; ``admin`` implies the others.
    name : str or None
        A label for people (``"php-frontend"``); not unique.
    now : datetime
        The creation time.
    """
    check_choice("scope", scope, SCOPES)
    if name is not None:
        check_name("name", name)
    token = PREFIX + secrets.token_urlsafe(32)
    row = db.execute(
        f"INSERT INTO api_tokens (name, scope, token_hash, created_at) VALUES (?, ?, ?, ?) "
        f"RETURNING {_COLUMNS}", [name, scope, hash_token(token), now])
    return _record(row[0]), token


def list_tokens(db: Database) -> list[TokenRecord]:
    """Every token, revoked ones included, oldest first (no hashes)."""
    return [_record(r) for r in db.execute(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY token_id")]


def revoke_token(db: Database, token_id: int, *, now: datetime) -> TokenRecord:
    """Revoke token ``token_id`` (idempotent: an earlier revocation time is kept).

    Raises
    ------
    NotFoundError
        No token has this id.
    """
    check_int("token_id", token_id, low=1)
    row = db.execute(
        f"UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE token_id = ? "
        f"RETURNING {_COLUMNS}", [now, token_id])
    if not row:
        raise NotFoundError(f"token_id {token_id} does not exist (`mlmkit tokens list` shows "
                            "the tokens)")
    return _record(row[0])


def active_tokens(db: Database) -> list[ActiveToken]:
    """The tokens not revoked, with their hashes: what a verifier compares against."""
    rows = db.execute("SELECT token_id, name, scope, token_hash FROM api_tokens "
                      "WHERE revoked_at IS NULL ORDER BY token_id")
    return [ActiveToken(int(r[0]), r[1], str(r[2]), str(r[3])) for r in rows]


def touch_tokens(db: Database, used: Mapping[int, datetime]) -> None:
    """Set ``last_used_at`` of each token id in ``used`` to its time (one transaction).

    A time older than the stored one is ignored; unknown ids are ignored.
    """
    if used:
        with db.transaction() as conn:
            for token_id, at in sorted(used.items()):
                conn.execute("UPDATE api_tokens SET last_used_at = greatest(coalesce("
                             "last_used_at, ?::TIMESTAMPTZ), ?::TIMESTAMPTZ) "
                             "WHERE token_id = ?", [at, at, int(token_id)])


def _record(row: Any) -> TokenRecord:
    return TokenRecord(int(row[0]), row[1], str(row[2]), row[3], row[4], row[5])
