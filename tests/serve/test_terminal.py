"""Pictures in the terminal: protocol detection and the escape sequences."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from textrec.serve.terminal import detect, inline_image, sixel


def _png(w: int = 40, h: int = 30) -> bytes:
    rgb = np.zeros((h, w, 3), dtype=np.uint8)
    rgb[:, : w // 2] = (255, 0, 0)
    rgb[h // 2 :, w // 2 :] = (0, 0, 255)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({"TERM": "xterm-kitty"}, True, "kitty"),
        ({"KITTY_WINDOW_ID": "1", "TERM": "xterm-256color"}, True, "kitty"),
        ({"TERM_PROGRAM": "iTerm.app"}, True, "iterm"),
        ({"TERM": "foot"}, True, "sixel"),
        ({"TERM": "xterm-256color"}, True, "path"),
        ({"TERM": "xterm-kitty"}, False, "path"),  # not a terminal: print where it is
        ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, True, "path"),
    ],
)
def test_detect(env, tty, expected):
    assert detect(env, tty) == expected


def test_kitty_sends_the_png_in_chunks():
    out = inline_image("kitty", _png(300, 200))
    parts = re.findall(r"\x1b_G([^;]*);([A-Za-z0-9+/=]*)\x1b\\", out)
    assert parts[0][0].startswith("a=T,f=100")
    assert [p[0].endswith("m=0") for p in parts] == [False] * (len(parts) - 1) + [True]
    data = base64.b64decode("".join(p[1] for p in parts))
    assert Image.open(io.BytesIO(data)).size == (300, 200)


def test_iterm_inline_image():
    out = inline_image("iterm", _png())
    assert out.startswith("\x1b]1337;File=inline=1;") and out.rstrip("\n").endswith("\x07")


def test_sixel_has_palette_and_one_band_per_six_rows():
    rgb = np.zeros((13, 8, 3), dtype=np.uint8)
    rgb[:, 4:] = 255
    out = sixel(rgb)
    assert out.startswith('\x1bPq"1;1;8;13') and out.endswith("\x1b\\\n")
    assert len(re.findall(r"#\d+;2;\d+;\d+;\d+", out)) == 2  # two colours used
    assert out.count("-") == 3  # ceil(13 / 6) bands
    # a run of 4 identical columns is run-length encoded ("!4" then the sixel character)
    assert "!4~" in out


def test_path_and_none_print_nothing():
    assert inline_image("path", _png()) == "" and inline_image("none", _png()) == ""
