"""The Fashion-MNIST example: the loader finds the real data or says how to get it, and a short
PBT run improves validation accuracy and exploits. Needs Debian's dataset-fashion-mnist
(installed by .ci/run); without it these tests fail rather than skip."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

import popbt
from popbt._refs import load_file

fashion_mnist = load_file(Path(__file__).resolve().parent.parent / "examples" / "fashion_mnist.py")
FILES, DataNotFoundError = fashion_mnist.FILES, fashion_mnist.DataNotFoundError
find_data, read_arrays = fashion_mnist.find_data, fashion_mnist.read_arrays


def test_the_real_data_is_found_and_read():
    arrays = read_arrays()
    assert arrays["train_images"].shape == (60_000, 784)
    assert arrays["test_images"].shape == (10_000, 784)
    assert np.array_equal(np.bincount(arrays["train_labels"]), [6000] * 10)
    assert np.array_equal(np.bincount(arrays["test_labels"]), [1000] * 10)
    assert arrays["train_images"].max() == 255


def test_the_splits_are_fixed_and_disjoint():
    data = fashion_mnist.load_data()
    assert [len(data[s][1]) for s in ("train", "val", "test")] == [55_000, 5_000, 10_000]
    train, val = data["train"][0], data["val"][0]
    train_rows = {row.tobytes() for row in train[:5000].numpy()}
    assert not any(row.tobytes() in train_rows for row in val.numpy())
    assert abs(float(train.mean())) < 1e-3  # standardised with the training statistics


def test_missing_data_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "none")
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)
    with pytest.raises(DataNotFoundError, match="apt-get install dataset-fashion-mnist") as info:
        find_data(tmp_path)
    assert str(tmp_path) in str(info.value) and fashion_mnist.ENV_VAR in str(info.value)


def test_a_folder_from_the_environment_is_used(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch):
    for name in FILES.values():
        shutil.copy(find_data() / name, tmp_path / name)
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp_path))
    assert find_data() == tmp_path


def test_a_truncated_file_is_named(tmp_path: Path):
    for name in FILES.values():
        shutil.copy(find_data() / name, tmp_path / name)
    labels = tmp_path / FILES["test_labels"]
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:5000]))
    with pytest.raises(DataNotFoundError, match="t10k-labels-idx1-ubyte.gz: .* truncated"):
        read_arrays(tmp_path)
    labels.write_bytes(b"not gzip")
    with pytest.raises(DataNotFoundError, match="cannot read it as a gzip file"):
        read_arrays(tmp_path)


def test_short_pbt_run_improves_and_exploits(tmp_path: Path):
    pop = popbt.create_population(
        name="fashion", storage=f"sqlite:///{tmp_path / 'f.db'}", space=fashion_mnist.space,
        size=4, metric=fashion_mnist.metric, seed=0, ready=popbt.Every(steps=50),
        exploit=popbt.Truncation(0.25))
    best = pop.train(fashion_mnist.FashionMLP, steps=300, workers=2)
    first = [s.score for s in pop.scores() if s.step == 50]
    assert len(first) == 4 and best.score > max(first)
    assert pop.events(kinds=[popbt.EventKind.EXPLOIT])
    assert best.score > 0.75
    model = pop.load(best.member_id)
    assert model.step == 300 and model.test_accuracy() > 0.7
