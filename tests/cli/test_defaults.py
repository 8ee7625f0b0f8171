"""The command line's defaults are the configs' defaults.

The commands cannot read them from the configs (``train --help`` and ``reproduce --help`` must not
import torch, which ``textrec.agent`` does), so each default is written twice; this test is what
keeps the two the same when a default changes (as ``rewrite`` did).
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from textrec.agent import RecommenderConfig
from textrec.cli.reproduce import reproduce
from textrec.cli.train import _train
from textrec.reproduce import ReproduceConfig


def _cli_default(command, name):
    return inspect.signature(command).parameters[name].default.default


def _config_default(config, name):
    return {f.name: f.default for f in dataclasses.fields(config)}[name]


@pytest.mark.parametrize(
    ("command", "config", "name"),
    [
        (_train, RecommenderConfig, "finetune_text"),
        (_train, RecommenderConfig, "readout"),
        (_train, RecommenderConfig, "slot_features"),
        (_train, RecommenderConfig, "rewrite"),
        (reproduce, ReproduceConfig, "rewrite"),
        (reproduce, ReproduceConfig, "coverage_tracking"),
        (reproduce, ReproduceConfig, "workers"),
        (reproduce, ReproduceConfig, "backend"),
        (reproduce, ReproduceConfig, "utterances"),
        (reproduce, ReproduceConfig, "study"),
    ],
)
def test_a_command_line_default_is_its_configs(command, config, name):
    assert _cli_default(command, name) == _config_default(config, name)


def test_reproduce_trains_agents_with_the_agents_default_hearing():
    assert _config_default(ReproduceConfig, "rewrite") == _config_default(
        RecommenderConfig, "rewrite"
    )
