"""A run's ingredients, each assembled in one place from the run's settings.

Every stage that simulates users or reads text needs the same few parts, made from the same few
settings (the catalog, the users' sentence source ``utterances`` and the ``seed``):

* the **sentence bank** the simulated users speak (:func:`~textrec.language.speech.
  build_sentence_bank`, source ``utterances``, drawn with ``seed``), built once;
* the **simulated users** of a pool, speaking that bank under :attr:`Ingredients.task`'s rules
  (a fresh :class:`~textrec.simulator.engine.BatchedSimulator` per call: it holds the state of
  the sessions it runs);
* the **pretrained text encoder** an agent reads with (a fresh copy per call, since a
  recommender may fine-tune its own; pretrained once and cached on disk);
* a **text reader** of each kind (the slot-filler's), loaded once.

``textrec train`` / :func:`textrec.learners.run.train_agent`, ``iterative``, ``reproduce``,
``evaluate``, ``simulate``, ``chat`` and ``serve`` take an :class:`Ingredients` instead of
building these parts again; the learners receive the parts ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from textrec.catalog.catalog import Catalog
from textrec.errors import InputError
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.task import UTTERANCE_SOURCES, TaskConfig

if TYPE_CHECKING:
    from textrec.language.bank import SentenceBank
    from textrec.language.encoder import PretrainedTextEncoder
    from textrec.language.reader import Reader

__all__ = ["Ingredients", "POOLS"]

POOLS = ("test", "train")
"""Item pools simulated users may come from: 'test' (unlabeled items, AttrNet's predictions) or
'train' (labeled items)."""


@dataclass(frozen=True, eq=False)
class Ingredients:
    """The parts of one run over ``catalog``, each built once (see the module docstring)."""

    catalog: Catalog
    """The items."""
    utterances: str = "templates"
    """The simulated users' sentence source (one of
    :data:`~textrec.simulator.task.UTTERANCE_SOURCES`)."""
    seed: int = 0
    """Seed of the sentence bank, of the text encoder's pretraining and of a learned reader's
    training (the last two only when not cached yet)."""
    progress: bool = False
    """Show progress bars while pretraining the text encoder."""
    _readers: dict[str, Reader] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.utterances not in UTTERANCE_SOURCES:
            raise InputError(
                f"--utterances must be one of {list(UTTERANCE_SOURCES)}, got {self.utterances!r}"
            )

    @cached_property
    def task(self) -> TaskConfig:
        """The task rules the simulated users follow (default rules, :attr:`utterances`)."""
        return TaskConfig(utterances=self.utterances)

    @cached_property
    def bank(self) -> SentenceBank:
        """Every sentence the simulated users can say, from :attr:`utterances` with :attr:`seed`
        (the same bank ``train``, ``collect`` and ``evaluate`` use)."""
        from textrec.language.speech import build_sentence_bank

        return build_sentence_bank(self.catalog.schema, source=self.utterances, seed=self.seed)

    def users(self, pool: str = "test") -> BatchedSimulator:
        """Simulated users of ``pool`` (:data:`POOLS`) speaking :attr:`bank`; a new simulator
        each call."""
        if pool not in POOLS:
            raise InputError(f"--pool must be one of {list(POOLS)}, got {pool!r}")
        return BatchedSimulator(self.catalog, pool, self.bank, self.task)

    def text_encoder(self) -> PretrainedTextEncoder:
        """The pretrained text encoder of the catalog's schema: a new copy each call (loaded from
        the cache; pretrained with :attr:`seed` and cached the first time)."""
        from textrec.language.encoder import load_or_pretrain

        return load_or_pretrain(self.catalog.schema, seed=self.seed, progress=self.progress)

    def reader(self, kind: str = "lexicon") -> Reader:
        """The text reader ``kind`` (:data:`~textrec.language.reader.READERS`), loaded once."""
        if kind not in self._readers:
            from textrec.language.reader import load_reader

            self._readers[kind] = load_reader(self.catalog, kind, seed=self.seed)
        return self._readers[kind]
