"""The session store: unguessable ids, expiry after inactivity, eviction at the bound."""

from __future__ import annotations

import pytest

from textrec.errors import InputError
from textrec.serve.session import Conversation
from textrec.serve.store import TOKEN_RE, SessionStore, StoreConfig, UnknownSession


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ids_are_random_and_unknown_ones_are_refused(slot_picker):
    store = SessionStore()
    tokens = {store.add(Conversation(slot_picker, "web"))[0] for _ in range(20)}
    assert len(tokens) == 20 and all(TOKEN_RE.match(t) for t in tokens)
    for bad in ["", "x" * 32, "../../etc/passwd", "a" * 10_000]:
        with pytest.raises(UnknownSession):
            store.get(bad)


def test_oldest_idle_session_is_evicted_at_the_bound(slot_picker):
    clock = Clock()
    store = SessionStore(StoreConfig(max_sessions=3), clock)
    made = []
    for i in range(3):
        clock.now = i
        c = Conversation(slot_picker, "web")
        made.append((store.add(c)[0], c))
    clock.now = 10
    store.get(made[0][0])  # the first is used again: the second is now the longest idle
    token, gone = store.add(Conversation(slot_picker, "web"))
    assert gone == [made[1][1]] and len(store) == 3
    with pytest.raises(UnknownSession):
        store.get(made[1][0])
    assert store.get(made[0][0]) is made[0][1] and store.get(token) is not None


def test_idle_sessions_expire_and_are_handed_back(slot_picker):
    clock = Clock()
    store = SessionStore(StoreConfig(idle_seconds=60), clock)
    c_old = Conversation(slot_picker, "web")
    old, _ = store.add(c_old)
    clock.now = 50
    new, _ = store.add(Conversation(slot_picker, "web"))
    clock.now = 61
    with pytest.raises(UnknownSession):
        store.get(old)
    assert store.expire() == [c_old] and len(store) == 1
    assert store.get(new) is not None
    assert store.pop(new) is not None and len(store) == 0
    with pytest.raises(UnknownSession):
        store.pop(new)


def test_config_is_checked():
    with pytest.raises(InputError, match="max_sessions"):
        StoreConfig(max_sessions=0)
    with pytest.raises(InputError, match="idle_seconds"):
        StoreConfig(idle_seconds=0)
