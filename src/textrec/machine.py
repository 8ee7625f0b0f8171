"""Where a result was made: the code (git commit, package versions) and the CPU kernels it ran on.

Learned numbers depend on the floating-point kernels torch picks for the CPU (AVX2, AVX-512 ...):
the same seed gives the same numbers on the same kind of machine, and other, equally valid numbers
on another. :func:`machine_record` is what a run writes beside its results so that a reader can
tell which machine a table came from.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from textrec import __version__

__all__ = ["MachineRecord", "machine_record"]


@dataclass(frozen=True)
class MachineRecord:
    """The code and machine of one run (JSON: :meth:`to_json`)."""

    git_commit: str | None
    """Commit of the textrec checkout that ran (``None``: not run from a git checkout)."""
    git_dirty: bool | None
    """Whether that checkout had uncommitted changes to tracked files."""
    versions: dict[str, str]
    """textrec, python, torch, numpy and pyarrow versions."""
    cpu_capability: str
    """torch's CPU kernel family (``torch.backends.cpu.get_cpu_capability()``: AVX2, AVX512 ...)."""
    torch_threads: int
    """``torch.get_num_threads()`` (intra-op threads)."""
    torch_interop_threads: int
    """``torch.get_num_interop_threads()``."""
    cpus: int
    """CPUs this process may run on."""
    platform: str
    """``platform.platform()`` and the machine type."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def summary(self) -> str:
        """One line for a report: commit, versions, CPU kernels and threads."""
        commit = "no git checkout" if self.git_commit is None else f"commit {self.git_commit[:12]}"
        if self.git_dirty:
            commit += " (uncommitted changes)"
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        return (
            f"{commit}; {versions}; torch CPU kernels {self.cpu_capability}, "
            f"{self.torch_threads} torch thread(s), {self.cpus} CPU(s); {self.platform}"
        )


def _git(*args: str) -> str | None:
    """Output of ``git args`` in textrec's source directory; ``None`` when git cannot say."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def machine_record() -> MachineRecord:
    """The record of this process: git commit (when run from a checkout), versions, CPU kernels."""
    import numpy
    import pyarrow
    import torch

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return MachineRecord(
        git_commit=commit,
        git_dirty=None if status is None else bool(status),
        versions={
            "textrec": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": numpy.__version__,
            "pyarrow": pyarrow.__version__,
        },
        cpu_capability=str(torch.backends.cpu.get_cpu_capability()),
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        cpus=len(os.sched_getaffinity(0)),
        platform=f"{platform.platform()} {platform.machine()}",
    )
