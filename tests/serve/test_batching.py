"""Web sessions batched through the policy (issue 14/19): concurrent turns and openings of many
sessions are answered by one batched policy call."""

from __future__ import annotations

import asyncio

import pytest

from textrec.errors import InputError
from textrec.logs import check_log
from textrec.logs.append import SessionLog
from textrec.logs.reader import list_shards, read_experience
from textrec.serve.app import PickBatcher, ServeConfig, Service, steps_run
from textrec.serve.session import Context, Conversation


class _Counting:
    """A picker that counts its calls (and can fail)."""

    def __init__(self, picker) -> None:
        self.picker, self.catalog, self.reader = picker, picker.catalog, picker.reader
        self.calls: list[int] = []

    def pick(self, contexts):
        self.calls.append(len(contexts))
        return self.picker.pick(contexts)


def test_concurrent_choices_are_one_policy_call_with_the_same_answers(slot_picker):
    contexts = [Context(v, (), ()) for v in ["boots", "sandals", "shoes", "for men"] * 8]
    expected = [slot_picker.pick([c])[0] for c in contexts]
    counting = _Counting(slot_picker)
    batcher = PickBatcher(counting, max_batch=64)

    async def burst() -> list[str]:
        return list(await asyncio.gather(*(batcher.pick(c) for c in contexts)))

    assert asyncio.run(burst()) == expected
    assert counting.calls == [len(contexts)] and batcher.batch_sizes == {len(contexts): 1}

    small = PickBatcher(_Counting(slot_picker), max_batch=8)

    async def burst_small() -> list[str]:
        return list(await asyncio.gather(*(small.pick(c) for c in contexts)))

    assert asyncio.run(burst_small()) == expected
    assert small.batch_sizes == {8: 4}
    with pytest.raises(InputError, match="max_wait"):
        PickBatcher(slot_picker, max_wait=-1)


def test_a_failed_batch_fails_its_requests_and_serving_goes_on(slot_picker):
    batcher = PickBatcher(slot_picker)

    async def both() -> str:
        with pytest.raises(KeyError):
            await batcher.pick(Context("", ("not-an-item",), ("boots",)))
        return await batcher.pick(Context("boots", (), ()))

    assert asyncio.run(both())


def test_sessions_opened_and_answered_together_share_batches(slot_picker):
    """A burst of openings and then of turns through the service: two policy calls in all (and
    the start-up's, which chooses the opening of a session with nothing said), and each session
    shows what it would have shown alone."""
    counting = _Counting(slot_picker)
    service = Service(counting, config=ServeConfig(batch_wait=1.0))  # all join each batch
    openings = ["boots", "sandals", "for men", "", "shoes"] * 4

    async def burst() -> list[Conversation]:
        opened = await asyncio.gather(*(service.start(o) for o in openings))
        tokens = [t for t, _ in opened]
        return list(await asyncio.gather(*(service.say(t, "for women") for t in tokens)))

    talks = asyncio.run(burst())
    assert counting.calls == [1, len(openings), len(openings)]
    for o, c in zip(openings, talks, strict=True):
        alone = Conversation(slot_picker, "web", o)
        alone.say("for women")
        assert alone.shown == c.shown and alone.reply == c.reply


def test_steps_run_drives_a_conversation_like_say(slot_picker):
    batcher = PickBatcher(slot_picker)
    c = Conversation(slot_picker, "web", "boots", defer=True)
    assert not c.shown
    asyncio.run(steps_run(c.opened, batcher))
    d = Conversation(slot_picker, "web", "boots")
    assert c.shown == d.shown and c.reply == d.reply


def test_sessions_ending_together_are_logged_in_one_shard(tmp_path, toy_catalog, slot_picker):
    """Ends that arrive together are one append (one shard of their chunks), every session in
    it once; the answers wait for it (a session answered as ended is in a listed shard)."""
    log = SessionLog(tmp_path / "log", toy_catalog)
    service = Service(slot_picker, log)
    openings = ["boots", "sandals", "for men", "shoes"] * 5

    async def burst() -> list[Conversation]:
        opened = await asyncio.gather(*(service.start(o) for o in openings))
        ended = [service.end(t, found=i % 2 == 0) for i, (t, _) in enumerate(opened)]
        return list(await asyncio.gather(*ended))

    ended = asyncio.run(burst())
    service.close()
    shards = list_shards(tmp_path / "log")
    assert len(shards) < len(openings) and max(service.logs.batch_sizes) > 1
    assert sum(service.logs.batch_sizes.elements()) == len(openings)
    report = check_log(tmp_path / "log", toy_catalog)
    assert report.ok and report.n_sessions == len(openings), report.problems
    ids = [str(i) for p in shards for i in dict.fromkeys(read_experience(p).session_id)]
    assert sorted(ids) == sorted(c.session_id for c in ended)
