"""Server-side sessions: unguessable ids, expiry after inactivity, a bound on their number.

A session id is ``secrets.token_urlsafe(24)`` (192 random bits): it is the only credential of a
web session, so it never appears in the log (which has its own session ids). The store keeps
sessions in least-recently-used order; adding one beyond ``max_sessions`` evicts the one idle the
longest, and a session idle for more than ``idle_seconds`` is expired. Evicted and expired
sessions are handed back to the caller (to be logged as abandoned), never dropped silently.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from textrec.errors import InputError
from textrec.serve.session import Conversation

__all__ = ["StoreConfig", "SessionStore", "UnknownSession", "TOKEN_RE"]

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
"""What a session id looks like (``token_urlsafe(24)``: 32 URL-safe characters)."""


class UnknownSession(KeyError):
    """No session has this id (never made, ended, expired or evicted)."""


@dataclass(frozen=True)
class StoreConfig:
    """Limits of the session store."""

    max_sessions: int = 1000
    """Sessions held at once; a new one beyond it evicts the one idle the longest."""
    idle_seconds: float = 1800.0
    """A session without a request for this long is expired (and logged as abandoned)."""

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise InputError(f"StoreConfig.max_sessions must be >= 1, got {self.max_sessions}")
        if not self.idle_seconds > 0:
            raise InputError(f"StoreConfig.idle_seconds must be > 0, got {self.idle_seconds}")


class SessionStore:
    """Thread-safe map from session id to :class:`Conversation`, LRU-ordered.

    Args:
        config: the limits.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self, config: StoreConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or StoreConfig()
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[Conversation, float]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def add(self, conversation: Conversation) -> tuple[str, list[Conversation]]:
        """Hold ``conversation`` under a fresh id; return the id and the sessions pushed out."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            gone = self._expire_locked()
            while len(self._sessions) >= self.config.max_sessions:
                gone.append(self._sessions.popitem(last=False)[1][0])
            self._sessions[token] = (conversation, self._clock())
        return token, gone

    def get(self, token: str) -> Conversation:
        """The session ``token`` (now the most recently used).

        Raises:
            UnknownSession: no live session has this id.
        """
        with self._lock:
            entry = self._live_locked(token)
            self._sessions[token] = (entry[0], self._clock())
            self._sessions.move_to_end(token)
            return entry[0]

    def pop(self, token: str) -> Conversation:
        """Remove and return the session ``token`` (UnknownSession when there is none)."""
        with self._lock:
            entry = self._live_locked(token)
            del self._sessions[token]
            return entry[0]

    def expire(self) -> list[Conversation]:
        """Remove and return every session idle for longer than ``idle_seconds``."""
        with self._lock:
            return self._expire_locked()

    def drain(self) -> list[Conversation]:
        """Remove and return every session (server shutdown)."""
        with self._lock:
            out = [c for c, _ in self._sessions.values()]
            self._sessions.clear()
            return out

    def _live_locked(self, token: str) -> tuple[Conversation, float]:
        entry = self._sessions.get(token) if TOKEN_RE.match(token) else None
        if entry is None or self._clock() - entry[1] > self.config.idle_seconds:
            raise UnknownSession(token)
        return entry

    def _expire_locked(self) -> list[Conversation]:
        now, out = self._clock(), []
        while self._sessions:
            token, (conversation, seen) = next(iter(self._sessions.items()))
            if now - seen <= self.config.idle_seconds:
                break
            del self._sessions[token]
            out.append(conversation)
        return out
