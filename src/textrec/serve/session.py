"""One person's conversation with a recommender: the next item from the conversation so far.

Written once for every front end (``textrec chat``, ``textrec serve``, the load benchmark):

* a :class:`Picker` chooses the next item from what was said and shown so far. A saved
  :class:`~textrec.agent.Recommender` reads the sentences itself (:class:`RecommenderPicker`); the
  slot-filler (:class:`SlotFillerPicker`) fills its slots from what a :class:`Reader` finds in
  each sentence, and refuses the values a person turned down;
* a :class:`Conversation` holds one session: the opening sentence, the items shown and what the
  person said about each, until it ends as a :class:`~textrec.logs.append.FinishedSession`;
* :func:`clean_text` is the one check of what a person types (length, encoding, control
  characters), :func:`is_done` recognises "that's it", "perfect" and the like.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from textrec.catalog.catalog import Catalog
from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.logs.append import FinishedSession, new_session_id
from textrec.simulator.baselines import SlotFillerPolicy
from textrec.simulator.task import TaskConfig

__all__ = [
    "MAX_TEXT_CHARS",
    "SLOT_FILLER",
    "Wish",
    "Reader",
    "InterpretReader",
    "Picker",
    "SlotFillerPicker",
    "RecommenderPicker",
    "ItemView",
    "Conversation",
    "clean_text",
    "describe",
    "is_done",
    "item_positions",
    "load_picker",
]

MAX_TEXT_CHARS = 300
"""Longest sentence accepted, in characters (a feedback sentence is a few words)."""
SLOT_FILLER = "slot-filler"
"""``--policy`` value of the slot-filler."""
_READ_MEMO = 20000
"""Sentences whose reading a slot-filler remembers before it starts afresh."""

_DONE = re.compile(
    r"^(?:(?:yes|yeah|yep|great|ok|okay|oh)[ ,]+)*"
    r"(?:that'?s it|this is it|that is it|that'?s the one|this is the one|that one|this one|"
    r"perfect|found it|i'?ll take it|i will take it|i'?ll take this one|love it|exactly|"
    r"done|i'?m done|that'?s perfect|bingo|spot on)"
    r"(?:[ ,]+(?:thanks|thank you|thx|thanks a lot|cheers))?$"
)


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


def is_done(text: str) -> bool:
    """Whether ``text`` says the shown item is the one ("that's it", "perfect!", "yes, this one").

    Only a sentence that says nothing else counts: "perfect but in black" is feedback.
    """
    words = re.sub(r"[^\w' ,]", " ", text.lower().replace("\u2019", "'"))
    return _DONE.match(" ".join(words.split()).strip(" ,")) is not None


# ---------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Wish:
    """One thing a sentence asks for, on the catalog's schema."""

    attribute: int
    """Attribute index."""
    value: int
    """Local value index within the attribute."""
    negated: bool = False
    """The person does not want this value ("anything but heels")."""


class Reader(Protocol):
    """Reads people's sentences into :class:`Wish` lists (the slot-filler's ears)."""

    def read_batch(self, texts: Sequence[str]) -> list[list[Wish]]:
        """What each of ``texts`` asks for (possibly nothing)."""


class InterpretReader:
    """The pretrained text encoder's reading (:func:`textrec.language.interpret.interpret_batch`).

    One wish per sentence: its best value, kept only when at least ``min_confidence`` sure. The
    encoder's "negated" mode still names the wanted value ("not without X"), so it is a wish for
    that value.
    """

    def __init__(
        self, catalog: Catalog, backend: str = "lstm", seed: int = 0, min_confidence: float = 0.3
    ) -> None:
        from textrec.language.interpret import load_interpreter

        self.schema = catalog.schema
        self.min_confidence = min_confidence
        self.interpreter = load_interpreter(catalog, backend, seed=seed)

    def read_batch(self, texts: Sequence[str]) -> list[list[Wish]]:
        """One batched pass over ``texts``."""
        from textrec.language.interpret import interpret_batch

        out: list[list[Wish]] = []
        for r in interpret_batch(list(texts), self.schema, interpreter=self.interpreter, top_k=1):
            if r.confidence < self.min_confidence:
                out.append([])
                continue
            k = self.schema.index(r.attribute)
            out.append([Wish(k, self.schema.local_value_index(k, r.value))])
        return out


# ---------------------------------------------------------------------------------------- picking
class Picker(Protocol):
    """Chooses the next item of one conversation."""

    catalog: Catalog

    def pick(self, opening: str, shown: Sequence[str], feedback: Sequence[str]) -> str:
        """Id of the next item, never one of ``shown``; ``feedback[i]`` was said of ``shown[i]``."""


class SlotFillerPicker:
    """The slot-filler (:class:`~textrec.simulator.baselines.SlotFillerPolicy`) on people's words.

    Its slots hold the latest value asked for per attribute, read from every sentence so far;
    a refused value ("no heels") is given no weight on an attribute without a slot, and that
    attribute then counts as known (weight 1), so items with the refused value rank last.
    """

    def __init__(self, catalog: Catalog, reader: Reader) -> None:
        self.catalog, self.reader = catalog, reader
        self.policy = SlotFillerPolicy(catalog)
        self.retriever = Retriever(catalog, "all")
        self._index = item_positions(catalog)
        self._memo: dict[str, list[Wish]] = {}

    def slots(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(K,)`` slots (local value, -1: empty) and ``(V,)`` refused values of ``texts``."""
        schema = self.catalog.schema
        slots = np.full(schema.n_attributes, -1, dtype=np.int64)
        refused = np.zeros(schema.n_values, dtype=bool)
        for wishes in self._read([t for t in texts if t]):
            for w in wishes:
                g = int(schema.offsets[w.attribute]) + w.value
                refused[g] = w.negated
                if not w.negated:
                    slots[w.attribute] = w.value
                elif slots[w.attribute] == w.value:
                    slots[w.attribute] = -1
        return slots, refused

    def _read(self, texts: list[str]) -> list[list[Wish]]:
        """The reader's wishes for ``texts``; each sentence is read once (a conversation's
        sentences are read again at every turn), the memo bounded by :data:`_READ_MEMO`."""
        new = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if new and len(self._memo) + len(new) > _READ_MEMO:
            self._memo.clear()
            new = list(dict.fromkeys(texts))
        if new:
            self._memo.update(zip(new, self.reader.read_batch(new), strict=True))
        return [self._memo[t] for t in texts]

    def pick(self, opening: str, shown: Sequence[str], feedback: Sequence[str]) -> str:
        """Fill the slots from every sentence; the best unseen item for slots and refusals."""
        schema = self.catalog.schema
        slots, refused = self.slots([opening, *feedback])
        heads = list(self.policy.head_probs(slots[None, :]))
        weights = np.where(slots >= 0, 1.0, self.policy.guess_weight).astype(np.float32)
        for k, (lo, hi) in enumerate(zip(schema.offsets[:-1], schema.offsets[1:], strict=True)):
            no = refused[lo:hi]
            if slots[k] < 0 and no.any():
                head = np.where(no, 0.0, heads[k][0])
                heads[k] = (head / head.sum() if head.sum() > 0 else (~no) / (~no).sum())[None]
                weights[k] = 1.0
        excluded = np.isin(self.retriever.pool, [self._index[s] for s in shown])[None, :]
        action_heads = tuple(h.astype(np.float32) for h in heads)
        item = self.retriever.by_probs(action_heads, excluded, weights[None, :])[0]
        return str(self.catalog.item_ids[item])


class RecommenderPicker:
    """A saved learned recommender: it reads the sentences with its own text encoder."""

    def __init__(self, recommender: object) -> None:
        from textrec.agent import Recommender

        if not isinstance(recommender, Recommender):
            raise InputError(f"expected a Recommender, got {type(recommender).__name__}")
        self.recommender = recommender
        self.catalog = recommender.catalog

    def pick(self, opening: str, shown: Sequence[str], feedback: Sequence[str]) -> str:
        """:meth:`Recommender.recommend` over the whole catalog."""
        return self.recommender.recommend(list(shown), list(feedback), opening, pool="all")


def load_picker(spec: str, catalog: Catalog, *, seed: int = 0, reader: str = "lstm") -> Picker:
    """``"slot-filler"``, or the directory of a saved recommender (or a ``train --out`` run).

    Args:
        spec: the ``--policy`` value.
        catalog: the catalog to recommend from (a recommender must have been trained on it).
        seed: seed of the reader's training when it is not cached yet.
        reader: the slot-filler's reader backend (``"lstm"`` or ``"minilm"``).
    """
    if spec == SLOT_FILLER:
        return SlotFillerPicker(catalog, InterpretReader(catalog, reader, seed=seed))
    from textrec.agent import Recommender

    root = Path(spec)
    if (root / "final" / "recommender.json").is_file():
        root = root / "final"
    if not (root / "recommender.json").is_file():
        raise InputError(
            f"--policy {spec!r}: neither {SLOT_FILLER!r} nor a saved recommender directory "
            "(with recommender.json, or a 'textrec train --out' run with final/)"
        )
    return RecommenderPicker(Recommender.load(root, catalog))


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


def describe(catalog: Catalog, item_id: str) -> ItemView:
    """The :class:`ItemView` of ``item_id`` (InputError when it is not in ``catalog``)."""
    i = item_positions(catalog).get(item_id)
    if i is None:
        raise InputError(f"item id {item_id!r} is not in catalog {catalog.name!r}")
    text = catalog.label_text(i)
    attrs = {a.label: text[a.name] for a in catalog.schema.attributes if text[a.name]}
    return ItemView(item_id=item_id, attributes=attrs, image_ref=str(catalog.image_refs[i]))


class Conversation:
    """One session: opening sentence, shown items and what was said about each.

    Args:
        picker: chooses the items.
        device: the front end (``"chat"``, ``"web"``), recorded in the log.
        opening: what the person said before the first item (checked with :func:`clean_text`).
        task: the turn limit (``max_turns``) comes from it.
    """

    def __init__(
        self, picker: Picker, device: str, opening: str = "", task: TaskConfig | None = None
    ) -> None:
        self.picker = picker
        self.device = device
        self.max_turns = (task or TaskConfig()).max_turns
        self.session_id = new_session_id(device)
        self.opening = clean_text(opening, what="opening sentence")
        self.shown: list[str] = [picker.pick(self.opening, [], [])]
        self.feedback: list[str] = [""]
        self.finished: FinishedSession | None = None

    @property
    def current(self) -> str:
        """Id of the item on show."""
        return self.shown[-1]

    @property
    def turn(self) -> int:
        """Number of items shown so far (the current one included)."""
        return len(self.shown)

    def say(self, text: str) -> str | None:
        """Record feedback on the current item; the next item, or None when the session ended.

        It ends as found when ``text`` says the item is the one (:func:`is_done`), and as not
        found when the turn limit is reached.
        """
        self._require_open()
        text = clean_text(text, what="feedback")
        if not text:
            raise InputError("feedback is empty; say what to change, or that this is the one")
        if is_done(text):
            self.finish(found=True)
            return None
        self.feedback[-1] = text
        if len(self.shown) >= self.max_turns:
            self.finish(found=False)
            return None
        self.shown.append(self.picker.pick(self.opening, self.shown, self.feedback))
        self.feedback.append("")
        return self.current

    def finish(self, found: bool) -> FinishedSession:
        """End the session (found: the current item is the one) and return its record."""
        self._require_open()
        self.finished = FinishedSession(
            session_id=self.session_id,
            device=self.device,
            opening=self.opening,
            shown=tuple(self.shown),
            feedback=tuple(self.feedback),
            found=found,
        )
        return self.finished

    def _require_open(self) -> None:
        if self.finished is not None:
            raise InputError(f"session {self.session_id!r} has ended")
