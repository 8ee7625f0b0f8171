"""Batch sources of whole dialogues: fresh simulated episodes, or dialogues from an experience log.

Both hand out a :class:`DialogueBatch` from ``sample(rng)``, using only ``rng`` for randomness, so
a run resumed from a checkpoint draws exactly the batches the uninterrupted run would have drawn
(the loop derives ``rng`` from ``(seed, step)``).

* :class:`SimulatorEpisodes` plays ``n_sessions`` new simulated sessions with the learner's
  acting policy (on-policy learning).
* :class:`LogDialogues` draws ``n_dialogues`` logged sessions of an experience log (offline
  learning). It reads what a device uploads and nothing else: the shown item id, the user's text,
  reward, terminated, truncated and the device id -- never the oracle sidecar nor the simulator's
  structured feedback. The action is the shown item's attribute vector
  (:func:`textrec.logs.reader.shown_actions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textrec.agent.tracker import Dialogues
from textrec.catalog.catalog import Catalog
from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.language.bank import SentenceBank
from textrec.language.tokenizer import Vocabulary
from textrec.logs.info import check_log
from textrec.logs.reader import ItemIndex, read_experience, shown_actions
from textrec.logs.schema import ExperienceBatch
from textrec.simulator.baselines import Policy
from textrec.simulator.engine import BatchedSimulator
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
    """

    def __init__(self, simulator: BatchedSimulator, policy: Policy, n_sessions: int) -> None:
        if n_sessions < 1:
            raise InputError(f"n_sessions must be >= 1, got {n_sessions}")
        self.simulator, self.policy, self.n_sessions = simulator, policy, n_sessions
        self.retriever = Retriever(simulator.catalog, simulator.pool)

    def sample(self, rng: np.random.Generator) -> DialogueBatch:
        """Play ``n_sessions`` new sessions to the end and return them as one batch."""
        sim, b = self.simulator, self.n_sessions
        episodes = _Episodes(b, sim.config.max_turns, sim.catalog.schema.n_attributes)
        result = sim.reset(b, rng)
        self.policy.reset(b, rng)
        play(self.policy, sim, self.retriever, result, [episodes])
        return episodes.batch(sim.bank)


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


class LogDialogues:
    """A batch source of whole logged dialogues: ``n_dialogues`` sessions drawn with replacement.

    The experience shards of ``log_dir`` are read once (each validated, every session whole, every
    item id of ``catalog``); each distinct sentence is tokenised once with ``vocab`` into one
    sentence table, and :meth:`sample` gathers padded dialogues with array indexing only. Every
    batch shares that one table (the same ``tokens`` array), so a learner with a frozen text
    encoder encodes each distinct sentence once per run. The draw
    is uniform over sessions using only ``rng``, so a resumed run draws the batches the
    uninterrupted one would have. The in-memory table is per-shard data concatenated; a sharded
    or streaming source (1M-session logs) can hand out the same :class:`DialogueBatch`.

    Args:
        log_dir: A log directory (``manifest.json`` + ``experience/``), as ``textrec collect``
            writes it, or several (their sessions pooled).
        catalog: The catalog the log was collected on (its fingerprint must match the manifest's).
        vocab: The agent's vocabulary (the pretrained text encoder's).
        n_dialogues: Dialogues per batch.

    Raises:
        InputError: naming the manifest and both catalogs when the log was collected on another
            catalog; naming the shard, row and value for damaged rows or unknown item ids.
        FileNotFoundError: naming the path when the manifest or the shard folder is missing.
    """

    def __init__(
        self,
        log_dir: str | Path | Sequence[str | Path],
        catalog: Catalog,
        vocab: Vocabulary,
        n_dialogues: int = 128,
    ) -> None:
        if n_dialogues < 1:
            raise InputError(f"n_dialogues must be >= 1, got {n_dialogues}")
        roots = [Path(log_dir)] if isinstance(log_dir, str | Path) else [Path(p) for p in log_dir]
        shards = [
            p for r in roots for p in check_log(r, catalog, rows=False).sound_shards()
        ]  # D ∪ D′
        self.log_dir, self.n_dialogues = roots[0], n_dialogues
        self.catalog_fingerprint = catalog.fingerprint
        index = ItemIndex(catalog)
        parts, items, offsets, base = [], [], [], 0
        for path in shards:  # one read per shard; errors name the shard
            part = read_experience(path)
            offsets.append(part.check_complete(str(path))[:-1] + base)
            items.append(index(part.item_id, str(path)))
            parts.append(part)
            base += part.n_rows
        rows = ExperienceBatch.concat(parts)
        self._actions = shown_actions(catalog)
        self.tokens, self.lengths, sentence = _sentence_table(rows.feedback, vocab)
        self.turns = _logged_turns(
            rows, np.concatenate(items), sentence, np.append(np.concatenate(offsets), base)
        )

    @property
    def n_sessions(self) -> int:
        """Sessions in the log."""
        return len(self.turns.n_turns)

    @property
    def n_logged_turns(self) -> int:
        """Logged turns (shown items) in the log."""
        return len(self.turns.item)

    def sample(self, rng: np.random.Generator) -> DialogueBatch:
        """``n_dialogues`` sessions drawn uniformly (with replacement), padded to the longest."""
        lt = self.turns
        pick = rng.integers(self.n_sessions, size=self.n_dialogues)
        n = lt.n_turns[pick]
        t = int(n.max())
        mask = np.arange(t)[None, :] < n[:, None]
        src = np.where(mask, lt.start[pick, None] + np.arange(t)[None, :], 0)
        items = np.where(mask, lt.item[src], -1)
        actions = np.where(mask[..., None], self._actions[items.clip(0)], -1)
        dialogues = Dialogues(
            items=items,
            feedback=np.where(mask, lt.sentence[src], -1),
            opening=lt.opening[pick],
            n_turns=n,
            tokens=self.tokens,
            lengths=self.lengths,
        )
        return DialogueBatch(
            dialogues,
            actions,
            np.where(mask, lt.reward[src], 0.0).astype(np.float32),
            mask & lt.terminated[src],
            mask & lt.truncated[src],
        )


def _sentence_table(
    feedback: np.ndarray, vocab: Vocabulary
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenise each distinct sentence once: ``(tokens (U, L), lengths (U,), row (R,))``.

    ``row`` is each log row's sentence (``-1`` for ``""`` and for text without a single token).
    """
    inverse, texts = pd.factorize(feedback)  # hashing: O(rows), in order of first appearance
    ids = [vocab.encode(str(t)) for t in texts.tolist()]  # once per distinct sentence
    lengths = np.array([len(i) for i in ids], dtype=np.int64)
    tokens = np.zeros((len(ids), max(int(lengths.max(initial=0)), 1)), dtype=np.int64)
    for u, seq in enumerate(ids):
        tokens[u, : len(seq)] = seq
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
