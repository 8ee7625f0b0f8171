"""The experience log: row schema, shard writer, streaming reader, behaviour devices, collection.

A log directory is what devices would upload (``experience/``: one row per turn, no behaviour
probabilities) plus an oracle sidecar (``oracle/``: targets and true behaviour log-probabilities,
used only to score off-policy estimators) and ``manifest.json``. See :mod:`textrec.logs.schema`.
Collection lives in :mod:`textrec.logs.collect` (``from textrec.logs.collect import collect``; the
function is not re-exported here, so that the module name stays the module).
"""

from textrec.logs.info import CheckReport, LogSummary, check_log, summarize
from textrec.logs.policies import DeviceConfig, DevicePolicy, default_devices
from textrec.logs.reader import EpisodeBatch, ExperienceReader, TransitionBatch, shown_actions
from textrec.logs.schema import SCHEMA_VERSION, ExperienceBatch, OracleBatch
from textrec.logs.writer import Manifest, read_manifest, write_chunk, write_shard

__all__ = [
    "SCHEMA_VERSION",
    "CheckReport",
    "DeviceConfig",
    "DevicePolicy",
    "EpisodeBatch",
    "ExperienceBatch",
    "ExperienceReader",
    "LogSummary",
    "Manifest",
    "OracleBatch",
    "TransitionBatch",
    "check_log",
    "default_devices",
    "read_manifest",
    "shown_actions",
    "summarize",
    "write_chunk",
    "write_shard",
]
