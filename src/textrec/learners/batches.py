"""Batch sources of whole dialogues: fresh simulated episodes, or dialogues from an experience log.

Both hand out a :class:`DialogueBatch` from ``sample(rng)``, so a run resumed from a checkpoint
draws exactly the batches the uninterrupted run would have drawn: the loop derives ``rng`` from
``(seed, step)``, and tells a streamed log its position (:meth:`LogDialogues.position`).

* :class:`SimulatorEpisodes` plays ``n_sessions`` new simulated sessions with the learner's
  acting policy (on-policy learning).
* :class:`LogDialogues` draws ``n_dialogues`` logged sessions of an experience log (offline
  learning), from memory or, for a log larger than its shuffle buffer, streamed. It reads what a
  device uploads and nothing else: the shown item id, the user's text, reward, terminated,
  truncated and the device id -- never the oracle sidecar nor the simulator's structured
  feedback. The action is the shown item's attribute vector
  (:func:`textrec.logs.reader.shown_actions`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textrec.agent.tracker import Dialogues
from textrec.catalog.catalog import Catalog
from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.language.bank import SentenceBank
from textrec.language.front import TextFront
from textrec.language.tokenizer import Vocabulary, pad_ids
from textrec.logs.info import check_log
from textrec.logs.reader import (
    EpisodeBatch,
    ExperienceReader,
    ItemIndex,
    read_experience,
    scan_log,
    shown_actions,
)
from textrec.logs.schema import ExperienceBatch
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.policy import Policy
from textrec.simulator.rollout import Step, play

__all__ = ["DialogueBatch", "SimulatorEpisodes", "LogDialogues"]


@dataclass(frozen=True, eq=False)
class DialogueBatch:
    """Whole dialogues: what was said and shown, the action taken at each turn and what it earned.

    Shapes (``B`` dialogues, ``T`` turns, ``K`` attribute heads); turns past a dialogue's end are
    padding (``dialogues.mask`` false):

    * ``actions``    ``(B, T, K) int64`` value chosen per head at turn ``t`` (``-1``: none)
    * ``rewards``    ``(B, T) float32``
    * ``terminated`` ``(B, T) bool`` the item of turn ``t`` was the one the user wanted
    * ``truncated``  ``(B, T) bool`` turn ``t`` was the last allowed and failed
    """

    dialogues: Dialogues
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    def __post_init__(self) -> None:
        b, t = self.dialogues.items.shape
        for name in ("rewards", "terminated", "truncated"):
            if getattr(self, name).shape != (b, t):
                raise InputError(
                    f"DialogueBatch: {name} has shape {getattr(self, name).shape}, "
                    f"expected {(b, t)}"
                )
        if self.actions.shape[:2] != (b, t) or self.actions.ndim != 3:
            raise InputError(
                f"DialogueBatch: actions has shape {self.actions.shape}, expected ({b}, {t}, K)"
            )

    @property
    def dones(self) -> np.ndarray:
        """``(B, T) bool``: the dialogue ended at turn ``t`` (success or turn limit)."""
        return self.terminated | self.truncated

    @property
    def n_turns(self) -> int:
        """Real (unpadded) turns in the batch."""
        return int(self.dialogues.n_turns.sum())


class SimulatorEpisodes:
    """A batch source of fresh episodes: ``n_sessions`` simulated sessions played to the end.

    The policy must choose values (``Action.values``, e.g. ``Recommender.policy(sample=True)``):
    they are the recorded actions, and :meth:`Retriever.by_values` shows the best unseen item with
    them. All randomness (targets, users, the policy's draws) comes from the ``rng`` of
    :meth:`sample`.

    Args:
        simulator: The users and the pool episodes are played on.
        policy: The acting policy (reads the learner's current weights at every call).
        n_sessions: Episodes per batch.
        front: How the learner hears the users' sentences: the batches' sentence table holds its
            token ids. Default: the policy's own (``policy.front``, a
            :class:`~textrec.agent.recommender.RecommenderPolicy`'s, so the learner reads what the
            acting policy read), else, for a policy that reads no text, the simulator's.
    """

    def __init__(
        self,
        simulator: BatchedSimulator,
        policy: Policy,
        n_sessions: int,
        front: TextFront | None = None,
    ) -> None:
        if n_sessions < 1:
            raise InputError(f"n_sessions must be >= 1, got {n_sessions}")
        self.simulator, self.policy, self.n_sessions = simulator, policy, n_sessions
        front = front if front is not None else getattr(policy, "front", None)
        self.bank = simulator.bank if front is None else front.bank(simulator.bank)
        self.retriever = Retriever(simulator.catalog, simulator.pool)

    def sample(self, rng: np.random.Generator) -> DialogueBatch:
        """Play ``n_sessions`` new sessions to the end and return them as one batch."""
        sim, b = self.simulator, self.n_sessions
        episodes = _Episodes(b, sim.config.max_turns, sim.catalog.schema.n_attributes)
        result = sim.reset(b, rng)
        self.policy.reset(b, rng)
        play(self.policy, sim, self.retriever, result, [episodes])
        return episodes.batch(self.bank)


class _Episodes:
    """Recorder of :func:`~textrec.simulator.rollout.play`: every turn of ``B`` sessions, as
    padded arrays ``(B, T)`` (the turn's item, action, sentence, reward, end)."""

    def __init__(self, b: int, t_max: int, k: int) -> None:
        self.items = np.full((b, t_max), -1, dtype=np.int64)
        self.sentence = np.full((b, t_max), -1, dtype=np.int64)
        self.actions = np.full((b, t_max, k), -1, dtype=np.int64)
        self.rewards = np.zeros((b, t_max), dtype=np.float32)
        self.terminated = np.zeros((b, t_max), dtype=bool)
        self.truncated = np.zeros((b, t_max), dtype=bool)
        self.t = 0

    def record(self, step: Step) -> None:
        """Keep turn ``t`` of the sessions that took it (their chosen values are the actions)."""
        if step.action.values is None:
            raise InputError("SimulatorEpisodes needs a policy that chooses values (Action.values)")
        rows, t, after = step.rows, self.t, step.after
        self.items[rows, t], self.actions[rows, t] = step.items[rows], step.action.values[rows]
        self.sentence[rows, t], self.rewards[rows, t] = after.sentence[rows], after.reward[rows]
        self.terminated[rows, t] = after.terminated[rows]
        self.truncated[rows, t] = after.truncated[rows]
        self.t += 1

    def batch(self, bank: SentenceBank) -> DialogueBatch:
        """The recorded episodes (sentences from ``bank``), cut to the longest."""
        t = self.t
        dialogues = Dialogues(
            items=self.items[:, :t],
            feedback=self.sentence[:, :t],
            opening=np.full(len(self.items), -1, dtype=np.int64),
            n_turns=(self.items >= 0).sum(axis=1),
            tokens=bank.tokens,
            lengths=bank.lengths,
        ).compact()
        return DialogueBatch(
            dialogues,
            self.actions[:, :t],
            self.rewards[:, :t],
            self.terminated[:, :t],
            self.truncated[:, :t],
        )


@dataclass(frozen=True, eq=False)
class _LoggedTurns:
    """The log as flat arrays: logged turns (turn >= 1) in session order and per-session offsets."""

    item: np.ndarray
    """``(N,) int64`` catalog index of the item shown at each logged turn."""
    sentence: np.ndarray
    """``(N,) int64`` row of the sentence table said after it (``-1``: nothing, e.g. success)."""
    reward: np.ndarray
    """``(N,) float32``."""
    terminated: np.ndarray
    """``(N,) bool``."""
    truncated: np.ndarray
    """``(N,) bool``."""
    start: np.ndarray
    """``(S,) int64`` first logged turn of each session."""
    n_turns: np.ndarray
    """``(S,) int64`` logged turns of each session (>= 1)."""
    opening: np.ndarray
    """``(S,) int64`` sentence said before the first item (``-1``: none)."""
    device_id: np.ndarray
    """``(S,) int32`` device that served the session."""


BUFFER_DIALOGUES = 100_000
"""Default shuffle-buffer size of :class:`LogDialogues` in dialogues: a log of at most this many
sessions is held in memory and drawn from uniformly; a larger one is streamed."""


class LogDialogues:
    """A batch source of whole logged dialogues, ``n_dialogues`` sessions per batch.

    A log of at most ``buffer_dialogues`` sessions is read once into memory (each shard
    validated, every session whole, every item id of ``catalog``) and :meth:`sample` draws
    sessions uniformly with replacement, using only ``rng``, with array indexing only.

    A larger log is **streamed**: :class:`~textrec.logs.reader.ExperienceReader` reads the shards
    in a shuffled order, a row block at a time, through a bounded shuffle buffer of
    ``buffer_dialogues`` whole dialogues, and each batch is the next ``n_dialogues`` sessions of
    that stream (every session once per epoch, the last short batch dropped). Epoch ``e``'s order
    is drawn from ``(seed, e)`` of the run; :meth:`position` (called by the training loop) sets
    the seed and the batches already drawn, so a resumed run draws the batches the
    uninterrupted one would have (by re-reading the current epoch up to that point). The
    draw differs from the in-memory one (without replacement, mixed within the buffer only).

    Either way each distinct sentence is tokenised once (through the agent's
    :class:`~textrec.language.front.TextFront`: rewritten first when it rewrites) into one
    sentence table
    (for a streamed log, from a first pass over the ``feedback`` column), and every batch shares
    that table (the same ``tokens`` array), so a learner with a frozen text encoder encodes each
    distinct sentence once per run. The source reads what a device uploads and nothing else.

    Args:
        log_dir: A log directory (``manifest.json`` + ``experience/``), as ``textrec collect``
            writes it, or several (their sessions pooled).
        catalog: The catalog the log was collected on (its fingerprint must match the manifest's).
        vocab: The agent's text front (``Recommender.front``), or the pretrained text encoder's
            vocabulary (the sentences as said).
        n_dialogues: Dialogues per batch.
        buffer_dialogues: Dialogues held in memory at most (>= ``n_dialogues``).

    Raises:
        InputError: naming the manifest and both catalogs when the log was collected on another
            catalog; naming the shard, row and value for damaged rows or unknown item ids.
        FileNotFoundError: naming the path when the manifest or the shard folder is missing.
    """

    def __init__(
        self,
        log_dir: str | Path | Sequence[str | Path],
        catalog: Catalog,
        vocab: TextFront | Vocabulary,
        n_dialogues: int = 128,
        buffer_dialogues: int = BUFFER_DIALOGUES,
    ) -> None:
        if n_dialogues < 1:
            raise InputError(f"n_dialogues must be >= 1, got {n_dialogues}")
        if buffer_dialogues < n_dialogues:
            raise InputError(
                f"buffer_dialogues must be >= n_dialogues ({n_dialogues}), got {buffer_dialogues}"
            )
        roots = [Path(log_dir)] if isinstance(log_dir, str | Path) else [Path(p) for p in log_dir]
        shards = [
            p for r in roots for p in check_log(r, catalog, rows=False).sound_shards()
        ]  # D ∪ D′
        self.log_dir, self.n_dialogues = roots[0], n_dialogues
        self.catalog_fingerprint = catalog.fingerprint
        self._actions = shown_actions(catalog)
        scan = scan_log(shards)
        self.n_sessions, self.n_logged_turns = scan.n_sessions, scan.n_logged_turns
        self._stream: _DialogueStream | None = None
        front = vocab if isinstance(vocab, TextFront) else TextFront(vocab)
        if self.n_sessions <= buffer_dialogues:
            self.turns, self.tokens, self.lengths = _read_turns(shards, catalog, front)
        else:
            self.tokens, self.lengths, rows = _sentence_table(scan.sentences, front)
            self._stream = _DialogueStream(
                ExperienceReader(
                    roots,
                    catalog,
                    batch_size=n_dialogues,
                    buffer_size=buffer_dialogues,
                    read_rows=_READ_ROWS,
                    drop_last=True,
                ),
                pd.Index(scan.sentences),
                rows,
                self.n_sessions // n_dialogues,
            )

    @property
    def streamed(self) -> bool:
        """The log is streamed through the shuffle buffer (it holds more sessions than it)."""
        return self._stream is not None

    def position(self, seed: int, step: int) -> None:
        """Continue the stream of a run seeded with ``seed`` after ``step`` batches (in memory:
        nothing to do, each draw depends on its ``rng`` only)."""
        if self._stream is not None:
            self._stream.position(seed, step)

    def sample(self, rng: np.random.Generator) -> DialogueBatch:
        """The next batch: ``n_dialogues`` sessions padded to the longest (drawn uniformly with
        ``rng`` in memory; the next of the stream when streamed)."""
        if self._stream is not None:
            return self._dialogues(self._stream.next())
        lt = self.turns
        pick = rng.integers(self.n_sessions, size=self.n_dialogues)
        n = lt.n_turns[pick]
        t = int(n.max())
        mask = np.arange(t)[None, :] < n[:, None]
        src = np.where(mask, lt.start[pick, None] + np.arange(t)[None, :], 0)
        items = np.where(mask, lt.item[src], -1)
        return self._batch(
            items,
            np.where(mask, lt.sentence[src], -1),
            lt.opening[pick],
            n,
            np.where(mask, lt.reward[src], 0.0).astype(np.float32),
            mask & lt.terminated[src],
            mask & lt.truncated[src],
        )

    def _dialogues(self, ep: tuple[EpisodeBatch, np.ndarray]) -> DialogueBatch:
        """A streamed batch of episodes (opening row included) as dialogues of shown items."""
        episodes, sentence = ep
        opened = (episodes.items[:, 0] < 0).astype(np.int64)  # row 0 is an opening utterance
        n = episodes.length.astype(np.int64) - opened
        if (n == 0).any():
            bad = int(np.flatnonzero(n == 0)[0])
            raise InputError(
                f"session {episodes.session_id[bad]!r} shows no item (only an opening utterance)"
            )
        t = int(n.max())
        mask = np.arange(t)[None, :] < n[:, None]
        src = np.where(mask, opened[:, None] + np.arange(t)[None, :], 0)

        def turns(a: np.ndarray) -> np.ndarray:
            return np.take_along_axis(a, src, axis=1)

        return self._batch(
            np.where(mask, turns(episodes.items), -1),
            np.where(mask, turns(sentence), -1),
            np.where(opened > 0, sentence[:, 0], -1),
            n,
            np.where(mask, turns(episodes.reward), 0.0).astype(np.float32),
            mask & turns(episodes.terminated),
            mask & turns(episodes.truncated),
        )

    def _batch(
        self,
        items: np.ndarray,
        sentence: np.ndarray,
        opening: np.ndarray,
        n_turns: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> DialogueBatch:
        valid = items >= 0
        actions = np.where(valid[..., None], self._actions[items.clip(0)], -1)
        dialogues = Dialogues(
            items=items,
            feedback=sentence,
            opening=opening,
            n_turns=n_turns,
            tokens=self.tokens,
            lengths=self.lengths,
        )
        return DialogueBatch(dialogues, actions, rewards, terminated, truncated)


_READ_ROWS = 65_536
"""Rows a streamed log reads from a shard at a time (fewer, larger shuffle-buffer refills)."""


class _DialogueStream:
    """A streamed log's epochs as ``(episodes, sentence rows)`` batches, positioned by step."""

    def __init__(
        self, reader: ExperienceReader, texts: pd.Index, rows: np.ndarray, per_epoch: int
    ) -> None:
        self.reader, self.texts, self.rows, self.per_epoch = reader, texts, rows, per_epoch
        self.seed, self.drawn = 0, 0
        self._epoch: Iterator[EpisodeBatch] | None = None

    def position(self, seed: int, step: int) -> None:
        self.seed, self.drawn, self._epoch = seed, step, None

    def next(self) -> tuple[EpisodeBatch, np.ndarray]:
        epoch, done = divmod(self.drawn, self.per_epoch)
        if self._epoch is None or done == 0:
            order = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(epoch,)))
            self._epoch = self.reader.episodes(order)
            for _ in range(done):  # resumed mid-epoch: re-read the batches already drawn
                next(self._epoch)
        episodes = next(self._epoch)
        self.drawn += 1
        sentence = self.rows[self.texts.get_indexer(episodes.feedback.ravel())]
        return episodes, sentence.reshape(episodes.feedback.shape)


def _read_turns(
    shards: Sequence[Path], catalog: Catalog, front: TextFront
) -> tuple[_LoggedTurns, np.ndarray, np.ndarray]:
    """Every shard read into memory (one read per shard; errors name the shard), with the
    sentence table: ``(turns, tokens, lengths)``."""
    index = ItemIndex(catalog)
    parts, items, offsets, base = [], [], [], 0
    for path in shards:
        part = read_experience(path)
        offsets.append(part.check_complete(str(path))[:-1] + base)
        items.append(index(part.item_id, str(path)))
        parts.append(part)
        base += part.n_rows
    rows = ExperienceBatch.concat(parts)
    tokens, lengths, sentence = _sentence_table(rows.feedback, front)
    turns = _logged_turns(
        rows, np.concatenate(items), sentence, np.append(np.concatenate(offsets), base)
    )
    return turns, tokens, lengths


def _sentence_table(
    feedback: np.ndarray, front: TextFront
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenise each distinct sentence once: ``(tokens (U, L), lengths (U,), row (R,))``.

    ``row`` is each log row's sentence (``-1`` for ``""`` and for text without a single token).
    """
    inverse, texts = pd.factorize(feedback)  # hashing: O(rows), in order of first appearance
    ids = front.ids([str(t) for t in texts.tolist()])  # once per distinct sentence
    tokens, lengths = pad_ids(ids, dtype=np.int64)
    said = lengths > 0
    new_row = np.where(said, np.cumsum(said) - 1, -1)
    return tokens[said], lengths[said], new_row[inverse]


def _logged_turns(
    rows: ExperienceBatch, items: np.ndarray, sentence: np.ndarray, offsets: np.ndarray
) -> _LoggedTurns:
    """Split the rows into logged turns (turn >= 1) and per-session openings (turn 0)."""
    starts = offsets[:-1]
    session = np.repeat(np.arange(len(starts)), np.diff(offsets))
    is_open = rows.turn == 0
    opening = np.full(len(starts), -1, dtype=np.int64)
    opening[session[is_open]] = sentence[is_open]
    turn = ~is_open
    n_turns = np.bincount(session[turn], minlength=len(starts)).astype(np.int64)
    if (n_turns == 0).any():
        bad = int(starts[np.flatnonzero(n_turns == 0)[0]])
        raise InputError(
            f"experience row {bad}: session {rows.session_id[bad]!r} shows no item (only an "
            "opening utterance)"
        )
    return _LoggedTurns(
        item=items[turn],
        sentence=sentence[turn],
        reward=rows.reward[turn],
        terminated=rows.terminated[turn],
        truncated=rows.truncated[turn],
        start=np.concatenate([[0], np.cumsum(n_turns)[:-1]]).astype(np.int64),
        n_turns=n_turns,
        opening=opening,
        device_id=rows.device_id[starts],
    )
