"""Pictures in a terminal: which inline-image protocol it speaks, and the escape sequence for it.

Protocols: ``kitty`` (kitty's graphics protocol, also ghostty and WezTerm), ``iterm`` (iTerm2's
inline images, also WezTerm) and ``sixel`` (DEC sixel graphics: foot, mlterm, xterm -ti vt340,
contour...). :func:`detect` reads the environment only (no terminal query, which would consume
what the person types); anything unknown, a terminal multiplexer, or output that is not a
terminal gets ``path``: the picture's location is printed instead.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping

import numpy as np
from PIL import Image

__all__ = ["PROTOCOLS", "detect", "inline_image", "sixel"]

PROTOCOLS = ("kitty", "iterm", "sixel", "path", "none")
"""``--image`` choices (``auto`` picks one with :func:`detect`)."""

_SIXEL_TERMS = ("foot", "foot-extra", "mlterm", "yaft-256color", "contour", "xterm-sixel")
_MAX_SIZE = (320, 240)
_CHUNK = 4096


def detect(env: Mapping[str, str], is_tty: bool) -> str:
    """The protocol a terminal with environment ``env`` speaks (``path`` when unsure)."""
    if not is_tty or env.get("TMUX") or env.get("STY"):
        return "path"
    term, program = env.get("TERM", ""), env.get("TERM_PROGRAM", "")
    if term == "xterm-kitty" or env.get("KITTY_WINDOW_ID") or program == "ghostty":
        return "kitty"
    if program in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm"
    if term in _SIXEL_TERMS:
        return "sixel"
    return "path"


def _small(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img.thumbnail(_MAX_SIZE)
    return img


def inline_image(protocol: str, data: bytes) -> str:
    """The escape sequence that shows encoded image ``data`` (JPEG or PNG) under ``protocol``.

    Returns ``""`` for ``path`` and ``none``.
    """
    if protocol in ("path", "none"):
        return ""
    img = _small(data)
    if protocol == "sixel":
        return sixel(np.asarray(img))
    png = io.BytesIO()
    img.save(png, format="PNG")
    payload = base64.standard_b64encode(png.getvalue()).decode("ascii")
    if protocol == "iterm":
        return f"\x1b]1337;File=inline=1;size={png.tell()};preserveAspectRatio=1:{payload}\x07\n"
    if protocol == "kitty":
        chunks = [payload[i : i + _CHUNK] for i in range(0, len(payload), _CHUNK)]
        out = []
        for i, chunk in enumerate(chunks):
            more = int(i < len(chunks) - 1)
            head = f"a=T,f=100,m={more}" if i == 0 else f"m={more}"
            out.append(f"\x1b_G{head};{chunk}\x1b\\")
        return "".join(out) + "\n"
    raise ValueError(f"unknown image protocol {protocol!r}; choose one of {PROTOCOLS}")


def _run_length(row: str) -> str:
    return re.sub(r"(.)\1{3,}", lambda m: f"!{len(m.group(0))}{m.group(1)}", row)


def sixel(rgb: np.ndarray, colours: int = 64) -> str:
    """DEC sixel encoding of an ``(H, W, 3) uint8`` image, quantised to ``colours`` colours."""
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    quantised = img.quantize(colours, method=Image.Quantize.MEDIANCUT)
    index = np.asarray(quantised)  # (H, W) palette indices
    h, w = index.shape
    palette = np.asarray(quantised.getpalette()[: 3 * colours]).reshape(-1, 3)
    out = [f'\x1bPq"1;1;{w};{h}']
    used = np.unique(index)
    out += [
        f"#{c};2;{r * 100 // 255};{g * 100 // 255};{b * 100 // 255}"
        for c, (r, g, b) in zip(used.tolist(), palette[used].tolist(), strict=True)
    ]
    weights = (1 << np.arange(6))[:, None]
    for top in range(0, h, 6):
        band = index[top : top + 6]  # (<=6, W)
        rows = []
        for c in np.unique(band).tolist():
            bits = ((band == c) * weights[: len(band)]).sum(axis=0) + 63
            rows.append(f"#{c}" + _run_length(bytes(bits.astype(np.uint8)).decode("ascii")))
        out.append("$".join(rows) + "-")
    return "".join(out) + "\x1b\\\n"
