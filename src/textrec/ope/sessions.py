"""The logged sessions OPE reads, and the one join of the log with the oracle sidecar.

:func:`load_sessions` reads every session of a log directory as one
:class:`~textrec.logs.reader.EpisodeBatch` (right-padded, ``N`` sessions × ``T`` rows) through the
streaming reader, in the log's own order. Estimators see only these experience rows.

:func:`oracle_log_probs` is the only place in textrec that joins the experience rows with the
oracle sidecar's behaviour log-probabilities. It is called only for the *privileged* reference
rows (``behaviour="oracle"``), which no real log could produce.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from textrec.catalog import Catalog
from textrec.errors import InputError
from textrec.language.bank import SentenceBank
from textrec.logs.reader import EpisodeBatch, ExperienceReader, list_shards, read_oracle
from textrec.logs.schema import OracleBatch
from textrec.logs.writer import ORACLE_DIR, read_manifest
from textrec.ope.policies import decision_mask

__all__ = ["load_sessions", "log_bank", "oracle_log_probs"]

_ALL = 1 << 40
"""A batch size no log reaches: the reader hands back the whole log at once."""


def load_sessions(log_dir: str | Path, catalog: Catalog) -> EpisodeBatch:
    """Every session of ``log_dir`` (in shard and row order), errors naming the shard."""
    reader = ExperienceReader(log_dir, catalog, batch_size=_ALL, buffer_size=_ALL)
    parts = list(reader.episodes())
    if not parts:
        raise InputError(f"{log_dir}: the log holds no sessions")
    return parts[0] if len(parts) == 1 else EpisodeBatch.concat(parts)


def log_bank(log_dir: str | Path, catalog: Catalog) -> SentenceBank:
    """The sentence bank the log's users spoke from (its manifest's source and seed)."""
    from textrec.language.speech import build_sentence_bank
    from textrec.simulator.task import TaskConfig

    manifest = read_manifest(log_dir)
    task = TaskConfig(**manifest.task)
    return build_sentence_bank(
        catalog.schema, source=task.utterances, seed=int(manifest.sentences.get("seed", 0))
    )


def oracle_log_probs(log_dir: str | Path, episodes: EpisodeBatch) -> np.ndarray:
    """``(R, K) float64``: the behaviour policy's true ``log π_β,k(a_k | h_t)`` per decision row.

    Rows follow :func:`~textrec.ope.policies.decision_mask` order. PRIVILEGED: a real log has no
    oracle sidecar; use it only for reference rows.

    Raises:
        InputError: naming the log when a decision row has no oracle row.
    """
    shards = list_shards(log_dir, ORACLE_DIR)
    if not shards:
        raise InputError(f"{log_dir}: no oracle shards; the privileged reference needs them")
    oracle = OracleBatch.concat([read_oracle(p) for p in shards])
    index = pd.MultiIndex.from_arrays([oracle.session_id, oracle.turn.astype(np.int64)])
    decide = decision_mask(episodes)
    sessions = np.broadcast_to(episodes.session_id[:, None], decide.shape)[decide]
    turns = episodes.turn[decide].astype(np.int64)
    at = index.get_indexer(pd.MultiIndex.from_arrays([sessions, turns]))
    if (at < 0).any():
        row = int(np.flatnonzero(at < 0)[0])
        raise InputError(
            f"{log_dir}: session {sessions[row]!r} turn {int(turns[row])} has no oracle row"
        )
    return oracle.log_probs[at].astype(np.float64)
