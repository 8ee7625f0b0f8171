"""One person's conversation with a recommender: the next item from the conversation so far.

Written once for every front end (``textrec chat``, ``textrec serve``, the load benchmark):

* a :class:`Picker` chooses the next item from what was said and shown so far: every policy is
  served through :class:`PolicyPicker`, which replays a batch of conversations to the very
  :class:`~textrec.simulator.policy.Policy` object ``evaluate`` scores, as the simulator would
  hand them (the slot-filler: :class:`~textrec.simulator.baselines.ReaderSlotFillerPolicy`; a
  saved recommender: its :class:`~textrec.agent.RecommenderPolicy`);
* a :class:`Conversation` holds one session: the opening sentence, the items shown and what the
  person said about each, until it ends as a :class:`~textrec.logs.append.FinishedSession`;
* :func:`clean_text` is the one check of what a person types (length, encoding, control
  characters); what a sentence does ("that's the one", "go back", "start over") is read by
  :class:`~textrec.language.acts.ActReader`.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import threading
import unicodedata
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from textrec.catalog.catalog import Catalog
from textrec.catalog.retrieval import Action, Retriever
from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.language.acts import ActReader, ActReading
from textrec.language.reader import Reader, Reading, load_reader
from textrec.language.tokenizer import Vocabulary
from textrec.logs.append import FinishedSession, new_session_id
from textrec.serve.replies import reply, unsupported
from textrec.serve.standing import Change, Understood, Want, satisfying, update
from textrec.simulator.baselines import ReaderSlotFillerPolicy
from textrec.simulator.engine import StepResult
from textrec.simulator.policy import Memory, Policy, Resumable, memory_rows, stack_memories
from textrec.simulator.task import TaskConfig

__all__ = [
    "DEFAULT_READER",
    "MAX_TEXT_CHARS",
    "SLOT_FILLER",
    "Context",
    "Picker",
    "PolicyMemory",
    "PolicyPicker",
    "ItemView",
    "MemoReader",
    "Conversation",
    "act_reader",
    "clean_text",
    "describe",
    "item_positions",
    "load_picker",
    "slot_filler",
]

MAX_TEXT_CHARS = 300
"""Longest sentence accepted, in characters (a feedback sentence is a few words)."""
SLOT_FILLER = "slot-filler"
"""``--policy`` value of the slot-filler."""
DEFAULT_READER = "lexicon"
"""The slot-filler's reader unless told otherwise (no training, typo-tolerant)."""
_READ_MEMO = 20000
"""Sentences whose reading a slot-filler remembers before it starts afresh."""
_OPENINGS = 4096
"""Openings whose first item a :class:`PolicyPicker` remembers before it starts afresh."""


def clean_text(text: object, max_chars: int = MAX_TEXT_CHARS, what: str = "text") -> str:
    """``text`` checked and normalised: NFC, whitespace runs folded to one space, stripped.

    Raises:
        InputError: not a string, longer than ``max_chars``, not encodable as UTF-8 (lone
            surrogates) or holding control or format characters (other than whitespace).
    """
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        raise InputError(f"{what} is {len(text)} characters long; at most {max_chars} accepted")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what} is not valid Unicode text ({exc.reason})") from None
    folded = " ".join(text.split())
    bad = [c for c in folded if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")]
    if bad:
        raise InputError(f"{what} holds a control or unassigned character {bad[0]!r}")
    return unicodedata.normalize("NFC", folded)


# ---------------------------------------------------------------------------------------- picking
@dataclass(frozen=True)
class Context:
    """A conversation so far, as a picker sees it (``T`` shown items)."""

    opening: str
    """What the person said before the first item (``""``: nothing)."""
    shown: tuple[str, ...]
    """``(T,)`` ids of the items shown, in order."""
    feedback: tuple[str, ...]
    """``(T,)`` what the person said about each (``""``: nothing)."""
    allowed: np.ndarray | None = None
    """``(N,)`` the catalog items the next one must be among (None: any unseen item); never
    empty of unseen items."""
    structure: tuple[tuple[int, int, int], ...] = ()
    """``(T,)`` each feedback as structure, ``(attribute, global value, mode)`` (``-1``: none),
    when a simulated user said it; empty for a person's words (a policy reads them itself)."""
    memory: PolicyMemory | None = None
    """Where the picker keeps what its policy remembers of this conversation between picks, so
    that the next pick steps the policy through the new turns only (None: the conversation is
    replayed from its opening at every pick)."""


class PolicyMemory:
    """What a :class:`PolicyPicker`'s policy remembers of one conversation after a pick: the
    conversation carries it (``Context.memory``), the picker fills it.

    It holds the policy's memory row (:class:`~textrec.simulator.policy.Resumable`) after the
    steps of the opening and of the ``n`` items it has taken in (``shown``, with what was said
    about each: ``feedback``), and which policy object it belongs to. The picker goes on from it
    only while the conversation still begins with exactly those ``n`` turns and has more, and
    the policy is the same; otherwise it replays the conversation.
    """

    __slots__ = ("feedback", "opening", "owner", "row", "shown")

    def __init__(self) -> None:
        self.owner: object | None = None
        self.opening, self.shown, self.feedback = "", (), ()
        self.row: Memory = ()

    def steps_taken(self, policy: object, context: Context) -> int:
        """How many steps (the opening's, then one per item) of ``context`` this memory has
        taken for ``policy``; 0 when the picker must start from the opening."""
        n = len(self.shown)
        fits = (
            self.owner is policy
            and n < len(context.shown)
            and self.opening == context.opening
            and context.shown[:n] == self.shown
            and context.feedback[:n] == self.feedback
        )
        return n + 1 if fits else 0

    def keep(self, policy: object, context: Context, row: Memory) -> None:
        """Remember ``row``: ``policy``'s memory after every turn of ``context``."""
        self.owner, self.row = policy, row
        self.opening, self.shown, self.feedback = context.opening, context.shown, context.feedback


class Picker(Protocol):
    """Chooses the next item of each of a batch of conversations."""

    catalog: Catalog

    def pick(self, contexts: Sequence[Context]) -> list[str]:
        """Id of each conversation's next item, never one of its ``shown``."""


class PolicyPicker:
    """Any :class:`~textrec.simulator.policy.Policy` on people's conversations: the adapter of
    ``chat`` and ``serve``, so that what a person talks to is the object ``evaluate`` scores.

    A batch of ``B`` conversations is handed to the policy turn by turn as the simulator hands
    sessions to it (:func:`textrec.simulator.rollout.play`): step ``j = 0`` is turn 0 with the
    opening sentence (no item), step ``j >= 1`` shows the ``j``-th item with what was said about
    it; a conversation of ``T`` items is active through step ``T`` and finished after it, and
    its action is the one the policy took at step ``T``. Each distinct sentence gets one id
    (``StepResult.sentence``), so a policy that memoises by id reads it once; ``vocab`` gives
    the token ids a learned recommender reads. The action is retrieved for among the unseen,
    ``allowed`` items of the whole catalog (refusals, "no heels", are the conversation's standing
    requests: :func:`~textrec.serve.standing.satisfying` keeps them out of ``allowed``).

    Incremental: a :class:`~textrec.simulator.policy.Resumable` policy's memory of each
    conversation is kept after its pick (in the conversation's ``Context.memory``), and the next
    pick resumes it there: conversation ``b``, whose memory has taken steps ``0 .. n_b - 1``,
    takes steps ``n_b .. T_b`` only, all ``B`` together (step ``i`` of the batch is step
    ``n_b + i`` of conversation ``b``), so a turn costs one policy step, not ``T + 1``. A
    conversation without a memory that fits (a new one, or after the policy was rebuilt) starts
    at ``n_b = 0``: the replay, which is every pick of a policy that is not resumable. The policy
    steps each conversation through the same inputs either way, so the actions are the same.

    Openings are remembered: the first item of a conversation (nothing shown yet, a person's
    words) depends only on the policy, the opening sentence and the items allowed, so each
    distinct opening is chosen by the policy once and later sessions that open alike get its
    item and the policy's memory after it without a policy step or a retrieval (up to
    :data:`_OPENINGS` openings; forgotten with the policy when it is rebuilt). A new session
    with nothing said -- the same for everyone -- costs no policy work at all.

    Args:
        catalog: the items (pool position == catalog index).
        make_policy: builds the policy (called once, and again when the sentence memo is full:
            :data:`_READ_MEMO` sentences).
        reader: the policy's own reader, when it reads with one (the slot-filler's); the
            conversations' act reader reads requests with it (:func:`act_reader`).
        vocab: tokenises the sentences for a policy that reads token ids (a recommender).
    """

    def __init__(
        self,
        catalog: Catalog,
        make_policy: Callable[[], Policy],
        *,
        reader: Reader | None = None,
        vocab: Vocabulary | None = None,
    ) -> None:
        if reader is not None and reader.schema != catalog.schema:
            raise InputError(f"the reader reads another schema than catalog {catalog.name!r}'s")
        self.catalog, self.reader, self.vocab = catalog, reader, vocab
        self.make_policy = make_policy
        """Builds the policy (a fresh one when the sentence memo is full)."""
        self._new_policy()
        self.retriever = Retriever(catalog, "all")
        self._index = item_positions(catalog)
        self._ids: dict[str, int] = {}

    def _new_policy(self) -> None:
        self.policy = self.make_policy()
        """The policy acting now."""
        self._openings: dict[tuple[str, bytes], tuple[str, Memory | None]] = {}
        """First item and the policy's memory after it, per opening and items allowed."""
        self._blank: Memory | None = None
        if isinstance(self.policy, Resumable):  # the memory row of a session not begun
            self.policy.reset(1, np.random.default_rng(0))
            self._blank = self.policy.memory()

    def _make_room(self, contexts: Sequence[Context]) -> None:
        """A new policy (and sentence ids) when the sentences of ``contexts`` would take the
        memo beyond :data:`_READ_MEMO` distinct sentences."""
        texts = {t for c in contexts for t in (c.opening, *c.feedback) if t}
        if len(self._ids) + len(texts - self._ids.keys()) > _READ_MEMO:
            self._ids.clear()
            self._new_policy()

    def _sentence_ids(self, texts: list[str]) -> np.ndarray:
        """Each text's sentence id (``-1``: nothing said)."""
        ids = self._ids
        return np.array([ids.setdefault(t, len(ids)) if t else -1 for t in texts], dtype=np.int64)

    def _tokens(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, S, L)`` token ids and ``(B, S)`` lengths of ``texts (B, S)`` (L = 1, all
        padding, without a vocabulary)."""
        if self.vocab is None:
            return np.zeros((*texts.shape, 1), dtype=np.int32), np.zeros(texts.shape, np.int32)
        uniq, inverse = np.unique(texts.astype(str), return_inverse=True)
        width = max([len(self.vocab.encode(t)) for t in uniq] + [1])
        tokens, lengths = self.vocab.encode_batch(uniq.tolist(), width)
        inverse = inverse.reshape(texts.shape)
        return tokens[inverse], lengths[inverse]

    def _resume(self, contexts: Sequence[Context]) -> np.ndarray:
        """Put the policy in the state to go on with ``contexts``; ``(B,)`` the step each one
        goes on from (0: replayed from its opening)."""
        b, policy = len(contexts), self.policy
        start = np.zeros(b, dtype=np.int64)
        rng = np.random.default_rng(0)
        if self._blank is None:  # not resumable: every conversation is replayed
            policy.reset(b, rng)
            return start
        boxes = collections.Counter(id(c.memory) for c in contexts)
        rows = []
        for i, c in enumerate(contexts):
            if c.memory is not None and boxes[id(c.memory)] == 1:
                start[i] = c.memory.steps_taken(policy, c)
            rows.append(c.memory.row if start[i] else self._blank)
        policy.resume(stack_memories(rows), rng)
        return start

    def action(self, contexts: Sequence[Context]) -> Action:
        """The policy's action for the next item of every conversation (``B`` rows); each
        conversation's memory (``Context.memory``) is left after its last turn."""
        b = len(contexts)
        self._make_room(contexts)
        start = self._resume(contexts)
        turns = np.array([len(c.shown) for c in contexts], dtype=np.int64)
        n_steps = turns - start + 1
        width = int(n_steps.max()) if b else 0
        said = [
            [c.opening, *c.feedback][s:] + [""] * (width - n)
            for c, s, n in zip(contexts, start, n_steps, strict=True)
        ]
        sentence = self._sentence_ids([t for row in said for t in row]).reshape(b, width)
        texts = np.empty((b, width), dtype=object)
        texts[:] = said
        tokens, lengths = self._tokens(texts)
        shown = np.full((b, width), -1, dtype=np.int64)
        structure = np.full((3, b, width), -1, dtype=np.int64)
        for row, (c, s) in enumerate(zip(contexts, start, strict=True)):
            new = c.shown[max(s - 1, 0) :]
            at = 1 if s == 0 else 0  # step 0 (the opening) shows no item
            shown[row, at : at + len(new)] = [self._index[x] for x in new]
            if c.structure:
                told = np.array(c.structure[max(s - 1, 0) :], dtype=np.int64).reshape(-1, 3)
                structure[:, row, at : at + len(told)] = told.T
        chosen: dict[str, Any] = {}
        for j in range(width):
            live = n_steps > j
            action = self.policy.act(
                StepResult(
                    turn=(start + j).astype(np.int32),
                    items=shown[:, j],
                    reward=np.zeros(b, dtype=np.float32),
                    terminated=np.zeros(b, dtype=bool),
                    truncated=np.zeros(b, dtype=bool),
                    active=live,
                    feedback_attribute=np.where(live, structure[0, :, j], -1),
                    feedback_value=np.where(live, structure[1, :, j], -1),
                    feedback_mode=np.where(live, structure[2, :, j], -1),
                    sentence=np.where(live, sentence[:, j], -1),
                    texts=np.where(live, texts[:, j], ""),
                    tokens=np.where(live[:, None], tokens[:, j], 0),
                    lengths=np.where(live, lengths[:, j], 0),
                    violations=np.zeros(b, dtype=np.int32),
                )
            )
            _keep_rows(chosen, action, n_steps == j + 1)
        self._remember(contexts)
        return Action(**chosen)

    def _remember(self, contexts: Sequence[Context]) -> None:
        """Keep the policy's memory of each conversation in its ``Context.memory`` (one that
        appears once in the batch)."""
        if self._blank is None:
            return
        boxes = collections.Counter(id(c.memory) for c in contexts)
        keep = [
            i for i, c in enumerate(contexts) if c.memory is not None and boxes[id(c.memory)] == 1
        ]
        if keep:
            after = self.policy.memory()
            for i in keep:
                contexts[i].memory.keep(self.policy, contexts[i], memory_rows(after, [i]))

    def pick(self, contexts: Sequence[Context]) -> list[str]:
        """The best unseen (and ``allowed``) item for each conversation's action; an opening
        chosen before is handed out again (see the class docstring)."""
        keys = [_opening_key(c) for c in contexts]
        items: list[str | None] = [None] * len(contexts)
        for i, (c, key) in enumerate(zip(contexts, keys, strict=True)):
            known = None if key is None else self._openings.get(key)
            if known is not None:
                items[i] = known[0]
                if c.memory is not None and known[1] is not None:
                    c.memory.keep(self.policy, c, known[1])
        todo = [i for i, item in enumerate(items) if item is None]
        if todo:
            policy = self.policy
            chosen = self._choose([contexts[i] for i in todo])
            if self.policy is not policy or len(self._openings) + len(todo) > _OPENINGS:
                self._openings.clear()
            for i, item in zip(todo, chosen, strict=True):
                items[i], memory = item, contexts[i].memory
                if keys[i] is not None:
                    fits = memory is not None and memory.owner is self.policy
                    fits = fits and memory.opening == contexts[i].opening and not memory.shown
                    self._openings[keys[i]] = (item, memory.row if fits else None)
        return items  # type: ignore[return-value]

    def _choose(self, contexts: Sequence[Context]) -> list[str]:
        """The policy's best unseen (and ``allowed``) item for each conversation."""
        excluded = np.zeros((len(contexts), self.retriever.n_pool), dtype=bool)
        seen = [self._index[s] for c in contexts for s in c.shown]
        excluded[np.repeat(np.arange(len(contexts)), [len(c.shown) for c in contexts]), seen] = True
        for row, c in enumerate(contexts):
            if c.allowed is not None:
                excluded[row] |= ~c.allowed
        items = self.retriever.retrieve(self.action(contexts), excluded)
        return [str(i) for i in self.catalog.item_ids[items]]


def _opening_key(context: Context) -> tuple[str, bytes] | None:
    """What a conversation's first item depends on besides the policy: its opening sentence
    and the items allowed (a digest); None when it is not a person's opening (an item shown, or
    a simulated user's structured feedback)."""
    if context.shown or context.structure:
        return None
    allowed = b"" if context.allowed is None else np.packbits(context.allowed).tobytes()
    return context.opening, hashlib.blake2b(allowed, digest_size=16).digest()


def _keep_rows(chosen: dict[str, Any], action: Action, rows: np.ndarray) -> None:
    """Copy ``action``'s ``rows`` (a ``(B,)`` mask) into ``chosen``, the fields of an
    :class:`Action` of ``B`` sessions (allocated at the first call)."""
    fields = {"values": action.values, "weights": action.weights}
    for name, part in fields.items():
        if part is not None:
            out = chosen.setdefault(name, np.empty_like(part))
            out[rows] = part[rows]
    if action.head_probs is not None:
        heads = chosen.setdefault("head_probs", tuple(np.empty_like(p) for p in action.head_probs))
        for out, p in zip(heads, action.head_probs, strict=True):
            out[rows] = p[rows]


class MemoReader:
    """``reader`` remembering its readings of the last sentences (up to :data:`_READ_MEMO`):
    the act reader and the slot-filler read each of a person's sentences with the same reader,
    so the second reading is free. Safe to share between threads."""

    def __init__(self, reader: Reader) -> None:
        self.reader, self.schema = reader, reader.schema
        self._memo: dict[str, Reading] = {}

    def read_batch(self, texts: Sequence[str]) -> list[Reading]:
        """The readings of ``texts``, each new one read once (in one batch)."""
        memo = self._memo
        new = [t for t in dict.fromkeys(texts) if t not in memo]
        if new and len(memo) + len(new) > _READ_MEMO:  # a new table: readers of the old keep it
            memo = self._memo = {}
            new = list(dict.fromkeys(texts))
        if new:
            memo.update(zip(new, self.reader.read_batch(new), strict=True))
        return [memo[t] for t in texts]


def slot_filler(catalog: Catalog, reader: Reader) -> PolicyPicker:
    """The slot-filler served: :class:`~textrec.simulator.baselines.ReaderSlotFillerPolicy`
    reading with ``reader`` (``evaluate --policy reader`` with that reader; remembered by a
    :class:`MemoReader`, which the conversations' act reader shares)."""
    words = MemoReader(reader)
    return PolicyPicker(
        catalog, functools.partial(ReaderSlotFillerPolicy, catalog, reader=words), reader=words
    )


def load_picker(
    spec: str, catalog: Catalog, *, seed: int = 0, reader: str = DEFAULT_READER
) -> PolicyPicker:
    """The policy ``--policy`` names, adapted to conversations (:class:`PolicyPicker`):
    ``"slot-filler"``, the :class:`~textrec.simulator.baselines.ReaderSlotFillerPolicy` that
    ``evaluate --policy reader`` scores (reading with ``reader``), or the directory of a saved
    recommender (or a ``train --out`` run), as :func:`textrec.evaluation.load_policy` loads it
    (its :class:`~textrec.agent.RecommenderPolicy`, acting as it was evaluated).

    Args:
        spec: the ``--policy`` value.
        catalog: the catalog to recommend from (a recommender must have been trained on it).
        seed: seed of the reader's training when it is not cached yet.
        reader: how the slot-filler reads sentences (one of
            :data:`textrec.language.reader.READERS`).
    """
    if spec == SLOT_FILLER:
        return slot_filler(catalog, load_reader(catalog, reader, seed=seed))
    from textrec.agent import Recommender

    root = Path(spec)
    if (root / "final" / "recommender.json").is_file():
        root = root / "final"
    if not (root / "recommender.json").is_file():
        raise InputError(
            f"--policy {spec!r}: neither {SLOT_FILLER!r} nor a saved recommender directory "
            "(with recommender.json, or a 'textrec train --out' run with final/)"
        )
    recommender = Recommender.load(root, catalog)
    return PolicyPicker(catalog, recommender.policy, vocab=recommender.vocab)


# ---------------------------------------------------------------------------------------- sessions
@dataclass(frozen=True)
class ItemView:
    """What a person is shown of an item."""

    item_id: str
    """Catalog id."""
    attributes: dict[str, str]
    """Attribute label (e.g. ``"heel height"``) -> value(s), ``;``-joined; missing ones left out."""
    image_ref: str
    """Where the item's image lives in the data source (``builtin:<id>``: no image)."""


@functools.lru_cache(maxsize=4)
def item_positions(catalog: Catalog) -> dict[str, int]:
    """Item id -> catalog index (built once per catalog)."""
    return {item: i for i, item in enumerate(catalog.item_ids.tolist())}


@functools.lru_cache(maxsize=65536)
def describe(catalog: Catalog, item_id: str) -> ItemView:
    """The :class:`ItemView` of ``item_id`` (InputError when it is not in ``catalog``).

    Memoised: a server describes the whole conversation at every turn. The view is shared:
    do not change its ``attributes``.
    """
    i = item_positions(catalog).get(item_id)
    if i is None:
        raise InputError(f"item id {item_id!r} is not in catalog {catalog.name!r}")
    text = catalog.label_text(i)
    attrs = {a.label: text[a.name] for a in catalog.schema.attributes if text[a.name]}
    return ItemView(item_id=item_id, attributes=attrs, image_ref=str(catalog.image_refs[i]))


_ACT_READERS: dict[tuple[AttributeSchema, Reader | None], ActReader] = {}
_ACT_READERS_LOCK = threading.Lock()


def act_reader(picker: Picker) -> ActReader:
    """The act reader of ``picker``'s catalog, reading requests with the picker's own reader
    when it has one (the slot-filler's), else the lexicon. Built once, under a lock: the first
    sessions of a busy server wait for one construction instead of each making its own."""
    key = (picker.catalog.schema, getattr(picker, "reader", None))
    with _ACT_READERS_LOCK:
        if key not in _ACT_READERS:
            _ACT_READERS[key] = ActReader(*key)
        return _ACT_READERS[key]


Steps = Generator[Context, str, "str | None"]
"""What a conversation does with one sentence, as a generator: it yields the :class:`Context` of
each item it needs chosen, is sent the chosen item id, and returns the item on show next (None:
the session ended). :func:`run` drives it with a picker; a server drives the steps of many
sessions at once, so that their items are chosen in one batch."""


def run(steps: Generator[Context, str, Any], pick: Callable[[list[Context]], list[str]]) -> Any:
    """Drive ``steps`` to the end, choosing each item it asks for with ``pick``; its result."""
    try:
        context = next(steps)
        while True:
            context = steps.send(pick([context])[0])
    except StopIteration as done:
        return done.value


class Conversation:
    """One session: opening sentence, shown items and what was said about each.

    Each sentence is read for its dialogue act (:class:`~textrec.language.acts.ActReader`) and
    changes the standing requests (:func:`~textrec.serve.standing.update`); the next item comes
    from the picker among the unseen items that satisfy them
    (:func:`~textrec.serve.standing.satisfying`). "that's the one" ends the session as found with
    the item on show, "go back" shows the previous item again, "start over" clears the requests;
    a sentence with nothing understood shows no new item and the reply asks.

    Args:
        picker: chooses the items.
        device: the front end (``"chat"``, ``"web"``), recorded in the log.
        opening: what the person said before the first item (checked with :func:`clean_text`).
        task: the turn limit (``max_turns``) comes from it.
    """

    def __init__(
        self,
        picker: Picker,
        device: str,
        opening: str = "",
        task: TaskConfig | None = None,
        *,
        defer: bool = False,
    ) -> None:
        self.picker = picker
        self.catalog = picker.catalog
        self.device = device
        self.max_turns = (task or TaskConfig()).max_turns
        self.session_id = new_session_id(device)
        self.opening = clean_text(opening, what="opening sentence")
        self.acts = act_reader(picker)
        self.standing: tuple[Want, ...] = ()
        """Every request standing now, oldest first."""
        self.understood: Understood | None = None
        """What was taken from the last sentence (None before any)."""
        self.shown: list[str] = []
        self.feedback: list[str] = []
        self.turn_acts: list[str] = []
        """``(T,)`` the act of the last sentence said about each shown item (``""``: none)."""
        self.turn_understood: list[str] = []
        """``(T,)`` what was understood from it, as the reply said it."""
        self.opening_act = ""
        self.opening_understood = ""
        self.finished: FinishedSession | None = None
        self.memory = PolicyMemory()
        """What the picker's policy remembers of this conversation (filled at each pick)."""
        self.lock = threading.Lock()
        """Held by a server while it changes this conversation (one request at a time)."""
        reading = self.acts.read_batch([self.opening], opening=True)[0] if self.opening else None
        if reading is not None:
            self.opening_act = reading.act
        self.reply = ""
        """What the recommender says this turn (never empty once the first item is on show)."""
        self.opened = self._opening(reading)
        """The steps that show the first item (:data:`Steps`): run by the constructor, or by the
        caller with ``defer`` (a server choosing the first items of many sessions in a batch)."""
        if not defer:
            run(self.opened, picker.pick)

    def _opening(self, reading: ActReading | None) -> Steps:
        self.reply = yield from self._respond(reading, first=True)
        return self.current

    @property
    def current(self) -> str:
        """Id of the item on show."""
        return self.shown[-1]

    @property
    def turn(self) -> int:
        """Number of items shown so far (the current one included)."""
        return len(self.shown)

    def say(self, text: str) -> str | None:
        """Read what the person says about the item on show; the item on show next, or None
        when the session ended.

        It ends as found when ``text`` accepts the item, and as not found when the turn limit is
        reached; a sentence with nothing understood keeps the same item (the reply asks).
        """
        return run(self.saying(text), self.picker.pick)

    def saying(self, text: str) -> Steps:
        """:meth:`say` as :data:`Steps` (the item to show next is asked for, not picked here)."""
        self._require_open()
        text = clean_text(text, what="feedback")
        if not text:
            raise InputError("feedback is empty; say what to change, or that this is the one")
        reading = self.acts.read_batch([text])[0]
        self.turn_acts[-1] = reading.act
        if reading.act == "accept":
            self.understood = Understood("accept")
            self.reply = reply(self.catalog.schema, self.understood, ())
            self.finish(found=True)
            return None
        self.feedback[-1] = text
        said = yield from self._respond(reading)
        self.reply = said or "That was the last item I may show: goodbye."
        return None if self.finished is not None else self.current

    def show(self, item_id: str) -> str:
        """Show again ``item_id``, an item this session showed before; it is on show now."""
        self._require_open()
        if item_id not in self.shown:
            raise InputError(f"item id {item_id!r} was not shown in this session")
        if item_id != self.current:
            self._show(item_id)
        self.understood = Understood("go_back", unmet=self._unmet(item_id))
        self.reply = reply(self.catalog.schema, self.understood, ())
        return self.current

    def _respond(
        self, reading: ActReading | None, first: bool = False
    ) -> Generator[Context, str, str]:
        """Apply one sentence (None: no opening sentence); show the next item when it calls
        for one (ending the session at the turn limit); the reply."""
        schema = self.catalog.schema
        if reading is None:
            self._show((yield from self._pick(()))[0])
            return "Here is a first suggestion. Tell me what to change, or say it is the one."
        missing = unsupported(reading.missing)
        if reading.act == "go_back":
            earlier = [s for s in self.shown if s != self.current]
            self.understood = Understood("go_back")
            if not earlier:
                return reply(schema, self.understood, (), new_item=False)
            if self._at_limit():
                return ""
            self._show(earlier[-1])
            self.understood = Understood("go_back", unmet=self._unmet(earlier[-1]))
            return reply(schema, self.understood, ())
        change = update(schema, self.standing, reading, self._labels())
        self.standing = change.standing
        self._record(first, change, missing)
        moved = bool(change.kept or change.dropped) or reading.act in ("reject_all", "restart")
        if not first and not moved:  # nothing to act on: the same item, and a question
            self.understood = Understood(reading.act, unsupported=missing)
            return reply(
                schema, self.understood, change.notes, new_item=False, standing=self.standing
            )
        if self._at_limit():
            return ""
        item, unmet = yield from self._pick(self.standing)
        self._show(item)
        self.understood = Understood(reading.act, change.kept, change.dropped, missing, unmet)
        return reply(schema, self.understood, change.notes)

    def _at_limit(self) -> bool:
        """End the session as not found when no more items may be shown."""
        if len(self.shown) < self.max_turns:
            return False
        self.understood = Understood("not_understood")
        self.finish(found=False)
        return True

    def _record(self, first: bool, change: Change, missing: tuple[str, ...]) -> None:
        """What was understood from the sentence said about the item on show (for the log)."""

        def codes(wants: tuple[Want, ...]) -> list[str]:
            return [f"{w.attribute}{'!=' if w.negated else '='}{w.value}" for w in wants]

        said = json.dumps(
            {"kept": codes(change.kept), "dropped": codes(change.dropped), "unsupported": missing}
        )
        if first:
            self.opening_understood = said
        else:
            self.turn_understood[-1] = said

    def _labels(self) -> dict[str, str]:
        if not self.shown:
            return {}
        return self.catalog.label_text(item_positions(self.catalog)[self.current])

    def _pick(
        self, standing: tuple[Want, ...]
    ) -> Generator[Context, str, tuple[str, tuple[Want, ...]]]:
        """The next item among the unseen ones that satisfy ``standing`` (asked for as the
        conversation's :class:`Context`), and the requests left unmet."""
        positions = item_positions(self.catalog)
        excluded = np.zeros(self.catalog.n_items, dtype=bool)
        excluded[[positions[s] for s in self.shown]] = True
        allowed, unmet = satisfying(self.catalog, standing, excluded)
        if not allowed.any():  # every item shown
            allowed = ~excluded
        item = yield Context(
            self.opening, tuple(self.shown), tuple(self.feedback), allowed, memory=self.memory
        )
        self._require_open()  # ended (expired, evicted) while its item was being chosen
        return item, unmet

    def _unmet(self, item_id: str) -> tuple[Want, ...]:
        """The standing requests ``item_id`` does not satisfy."""
        others = np.ones(self.catalog.n_items, dtype=bool)
        others[item_positions(self.catalog)[item_id]] = False
        return satisfying(self.catalog, self.standing, others)[1]

    def _show(self, item: str) -> None:
        self.shown.append(item)
        self.feedback.append("")
        self.turn_acts.append("")
        self.turn_understood.append("")

    def finish(self, found: bool) -> FinishedSession:
        """End the session (found: the current item is the one) and return its record.

        A find's last row says nothing about the accepted item (what was said about it before
        led to no other item: a sentence not understood), as the log requires."""
        self._require_open()
        if found:
            self.feedback[-1] = ""
            self.turn_acts[-1] = "accept"
            self.turn_understood[-1] = ""
        self.finished = FinishedSession(
            session_id=self.session_id,
            device=self.device,
            opening=self.opening,
            shown=tuple(self.shown),
            feedback=tuple(self.feedback),
            found=found,
            acts=tuple(self.turn_acts),
            understood=tuple(self.turn_understood),
            opening_act=self.opening_act,
            opening_understood=self.opening_understood,
        )
        return self.finished

    def _require_open(self) -> None:
        if self.finished is not None:
            raise InputError(f"session {self.session_id!r} has ended")
