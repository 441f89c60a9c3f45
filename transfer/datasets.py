"""Sequence-classification datasets: every sample is a sequence ``[T, F]`` of feature vectors.

:func:`load_dataset` returns a :class:`Dataset` with train, validation and test splits as
``X [N, T, F] float32`` and ``y [N] int64``. Built-in names:

``"digits"``
    scikit-learn's 8x8 handwritten digits (ships with scikit-learn). Each image row is one time
    step: ``T = 8`` steps of ``F = 8`` pixels, scaled to [0, 1].
``"fashion"``
    Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (IDX files under
    :data:`FASHION_DIR`, or the directory in the environment variable :data:`FASHION_ENV`).
    Row-wise, ``T = 28`` steps of ``F = 28`` pixels, scaled to [0, 1].
``"ecg"``
    Normal/abnormal windows of the labelled MIT-BIH ECG record shipped in
    ``transfer/data/mitdb.csv`` (origin in ``MITDB_SOURCE.txt``), in the spirit of He et al.
    2019 (reservoir ECG anomaly detection): ``T = 16`` steps of ``F = 4`` samples, scored by
    balanced accuracy. **Caveat**: the record holds one anomalous episode, so there are few
    positive windows, all from one stretch of one patient, and none in validation; see
    :func:`ecg_window_starts`.
``"recall"``
    A synthetic store-and-recall task that needs memory far longer than a neuron's 20 ms:
    ``T = 24`` steps of ``F = 6`` channels. Channels 0-3 carry a one-hot pattern; a store
    signal (channel 4) marks one of the first 3 steps, and the pattern shown there is the
    label; the other steps show random distractor patterns (probability 0.5 each); the
    recall signal (channel 5) is on in the last step. At 20 ms per step the answer lies
    400-440 ms back. 4000 training and 1000 test sequences from fixed generator seeds
    (:func:`make_recall`); chance is 25 %.
``"<path>.npz"``
    Your own arrays ``X_train [N, T, F]`` and ``y_train [N]``; optionally ``X_val``/``y_val``,
    ``X_test``/``y_test``, ``class_names``, ``name`` and ``metric`` (what :meth:`Dataset.to_npz`
    writes). Missing splits are carved from the training data, seeded and stratified.

Every split is stratified by class where possible and driven by an explicit seed.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = [
    "DATASET_NAMES",
    "METRICS",
    "FASHION_DIR",
    "FASHION_ENV",
    "FASHION_CLASSES",
    "ECG_WINDOW",
    "ECG_STEPS",
    "ECG_STRIDE",
    "ECG_BLOCK",
    "Dataset",
    "DatasetError",
    "ecg_window_starts",
    "load_dataset",
    "make_recall",
    "score",
]

DATASET_NAMES = ("digits", "fashion", "ecg", "recall")
RECALL_STEPS = 24
RECALL_PATTERNS = 4
METRICS = ("accuracy", "balanced_accuracy")
SPLITS = ("train", "val", "test")
#: Fraction of the data held out for testing when a dataset has no test split of its own.
TEST_FRACTION = 0.2

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_ENV = "RNN2DYNAPSE_FASHION_DIR"
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801  # unsigned byte data, 3 or 1 dimensions

#: ECG window length in samples, steps per window, hop between windows, split block length.
ECG_WINDOW, ECG_STEPS, ECG_STRIDE, ECG_BLOCK = 64, 16, 4, 256


class DatasetError(ValueError):
    """A dataset is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/validation/test splits of a sequence-classification task.

    Attributes
    ----------
    name : str
        Short name (``"digits"``, ``"fashion"``, ``"ecg"`` or the stem of a ``.npz`` file).
    source : str
        Where the data came from: a file path, a directory or a package.
    class_names : tuple of str
        Name of each class; label ``k`` is ``class_names[k]``.
    X_train, X_val, X_test : numpy.ndarray
        ``[N, T, F]`` float32 sequences (``T`` steps of ``F`` features).
    y_train, y_val, y_test : numpy.ndarray
        ``[N]`` int64 labels in ``0 .. n_classes - 1``.
    metric : str
        ``"accuracy"`` or ``"balanced_accuracy"``: how :func:`score` should rate predictions.

    Raises
    ------
    DatasetError
        If dtypes, ranks, lengths, step/feature counts or labels are inconsistent, or a split
        is empty.
    """

    name: str
    source: str
    class_names: tuple[str, ...]
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    metric: str = "accuracy"

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        where = f"dataset {self.name!r} ({self.source})"
        if self.metric not in METRICS:
            raise DatasetError(f"{where} has metric {self.metric!r}; valid metrics: "
                               + ", ".join(METRICS))
        pairs = {s: (getattr(self, f"X_{s}"), getattr(self, f"y_{s}")) for s in SPLITS}
        for split, (X, y) in pairs.items():
            for key, arr, dtype in ((f"X_{split}", X, np.float32), (f"y_{split}", y, np.int64)):
                if not isinstance(arr, np.ndarray) or arr.dtype != dtype:
                    found = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
                    raise DatasetError(f"{where} has {key} of type {found} but needs a numpy "
                                       f"{np.dtype(dtype).name} array")
        _check_splits(pairs, len(self.class_names), where)

    @property
    def n_steps(self) -> int:
        """Number of time steps ``T`` per sequence."""
        return int(self.X_train.shape[1])

    @property
    def n_features(self) -> int:
        """Number of features ``F`` per time step."""
        return int(self.X_train.shape[2])

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)

    def subset(self, limit_train: int | None = None, limit_test: int | None = None,
               seed: int = 0) -> Dataset:
        """Return a seeded, class-stratified subsample.

        Parameters
        ----------
        limit_train : int or None
            Keep at most this many training sequences; the validation split shrinks in the same
            proportion (at least one sequence). ``None`` keeps both splits whole.
        limit_test : int or None
            Keep at most this many test sequences; ``None`` keeps all.
        seed : int
            Seed of the subsample; each split draws from its own child stream.

        Returns
        -------
        Dataset
            The subsample, sequences in their original order.
        """
        r_train, r_val, r_test = (np.random.default_rng(s)
                                  for s in np.random.SeedSequence(seed).spawn(3))
        picks: dict[str, np.ndarray] = {}
        n_train = self.y_train.size
        if limit_train is not None and _check_limit(limit_train, "limit_train") < n_train:
            picks["train"] = _stratified_take(self.y_train, limit_train, r_train)
            n_val = max(1, round(self.y_val.size * limit_train / n_train))
            if n_val < self.y_val.size:
                picks["val"] = _stratified_take(self.y_val, n_val, r_val)
        if limit_test is not None and _check_limit(limit_test, "limit_test") < self.y_test.size:
            picks["test"] = _stratified_take(self.y_test, limit_test, r_test)
        changes = {}
        for split, idx in picks.items():
            changes[f"X_{split}"] = getattr(self, f"X_{split}")[idx]
            changes[f"y_{split}"] = getattr(self, f"y_{split}")[idx]
        return dataclasses.replace(self, **changes)

    def to_npz(self, path: str | os.PathLike[str]) -> Path:
        """Write all splits, class names, name and metric to a compressed ``.npz`` file.

        :func:`load_dataset` reads the file back into an equal :class:`Dataset` (with
        ``source`` set to the file).

        Parameters
        ----------
        path : str or path-like
            Target file; ``.npz`` is appended when missing.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        target = Path(path)
        if target.suffix != ".npz":
            target = target.with_name(target.name + ".npz")
        arrays = {f"{k}_{s}": getattr(self, f"{k}_{s}") for s in SPLITS for k in ("X", "y")}
        np.savez_compressed(target, **arrays, class_names=np.array(self.class_names, dtype=str),
                            name=np.array(self.name), metric=np.array(self.metric))
        return target


def score(y_true: np.ndarray, y_pred: np.ndarray, metric: str) -> float:
    """Rate predicted labels.

    Parameters
    ----------
    y_true, y_pred : array_like
        ``[N]`` true and predicted labels.
    metric : str
        ``"accuracy"``: fraction correct. ``"balanced_accuracy"``: mean over the classes present
        in ``y_true`` of the fraction of that class predicted correctly (recall), as
        ``sklearn.metrics.balanced_accuracy_score``.

    Returns
    -------
    float
        The score in [0, 1].
    """
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if metric not in METRICS:
        raise DatasetError(f"unknown metric {metric!r}; valid metrics: " + ", ".join(METRICS))
    if yt.ndim != 1 or yp.shape != yt.shape:
        raise DatasetError(f"score needs y_true and y_pred of the same shape (N,), got "
                           f"{yt.shape} and {yp.shape}")
    if yt.size == 0:
        raise DatasetError("score needs at least one label, got empty arrays")
    correct = yt == yp
    if metric == "accuracy":
        return float(correct.mean())
    _, inverse = np.unique(yt, return_inverse=True)
    recall = np.bincount(inverse, weights=correct) / np.bincount(inverse)
    return float(recall.mean())


def load_dataset(name_or_path: str | os.PathLike[str], *, seed: int = 0,
                 val_fraction: float = 0.1) -> Dataset:
    """Load a built-in dataset by name or the user's own ``.npz`` file.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"digits"``, ``"fashion"``, ``"ecg"`` or a path ending in ``.npz`` (see the module
        docstring for the layouts).
    seed : int
        Seed of every random split.
    val_fraction : float
        Fraction in (0, 1) of the training data carved off for validation (for ``"ecg"``:
        fraction of the normal blocks).

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        Unknown name, missing or malformed file; the message names the file and the problem.
    """
    key = os.fspath(name_or_path)
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if key.endswith(".npz"):
        return _load_npz(Path(key), seed, val_fraction)
    loaders = {"digits": _load_digits, "fashion": _load_fashion, "ecg": _load_ecg,
               "recall": _load_recall}
    if key not in loaders:
        raise DatasetError(f"unknown dataset {key!r}; valid names are "
                           + ", ".join(DATASET_NAMES) + ", or a path to a .npz file")
    return loaders[key](seed, val_fraction)


# --------------------------------------------------------------------------- built-in sets
def _load_digits(seed: int, val_fraction: float) -> Dataset:
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = bunch.images.astype(np.float32) / np.float32(16.0)
    y = bunch.target.astype(np.int64)
    where = "dataset 'digits'"
    rng = np.random.default_rng(seed)
    rest, test = _split(y, TEST_FRACTION, rng, where, "test")
    train, val = _split(y[rest], val_fraction, rng, where, "validation")
    train, val = rest[train], rest[val]
    return Dataset("digits", f"sklearn.datasets.load_digits (scikit-learn {sklearn.__version__})",
                   tuple(str(d) for d in range(10)), X[train], y[train], X[val], y[val],
                   X[test], y[test], "accuracy")


def make_recall(n: int, seed: int, steps: int = RECALL_STEPS, distractor_p: float = 0.5,
                store_window: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``n`` store-and-recall sequences ``X [n, steps, 6]`` and their labels (see ``"recall"``)."""
    if steps < store_window + 2:
        raise DatasetError(f"recall task needs at least {store_window + 2} steps, got {steps}")
    rng = np.random.default_rng(seed)
    K = RECALL_PATTERNS
    X = np.zeros((n, steps, K + 2), dtype=np.float32)
    shown = rng.integers(0, K, size=(n, steps))
    on = rng.random((n, steps)) < distractor_p
    store = rng.integers(0, store_window, size=n)
    rows = np.arange(n)
    on[rows, store] = True
    on[:, -1] = False
    n_idx, t_idx = np.nonzero(on)
    X[n_idx, t_idx, shown[n_idx, t_idx]] = 1.0
    X[rows, store, K] = 1.0
    X[:, -1, K + 1] = 1.0
    return X, shown[rows, store].astype(np.int64)


def _load_recall(seed: int, val_fraction: float) -> Dataset:
    X, y = make_recall(4000, seed=1001)
    X_test, y_test = make_recall(1000, seed=2002)
    train, val = _split(y, val_fraction, np.random.default_rng(seed), "dataset 'recall'", "validation")
    return Dataset("recall", "transfer.datasets.make_recall (synthetic, seeds 1001/2002)",
                   tuple(f"pattern {k}" for k in range(RECALL_PATTERNS)), X[train], y[train],
                   X[val], y[val], X_test, y_test, "accuracy")


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes; its magic number fixes the rank."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"Fashion-MNIST file {path} is not a readable gzip file ({exc}); "
                           "reinstall dataset-fashion-mnist") from exc
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic or len(raw) < header:
        shown = "none (file too short)" if found is None else f"0x{found:08x}"
        raise DatasetError(f"Fashion-MNIST file {path} has magic number {shown} but needs "
                           f"0x{magic:08x} (IDX of unsigned bytes, {ndim} dimensions); the file "
                           "is corrupt or not this IDX type")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    if len(raw) - header != int(np.prod(dims)):
        raise DatasetError(f"Fashion-MNIST file {path} holds {len(raw) - header} data bytes "
                           f"but its header shape {dims} needs {int(np.prod(dims))}; the file "
                           "is truncated or corrupt")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _load_fashion(seed: int, val_fraction: float) -> Dataset:
    directory = Path(os.environ.get(FASHION_ENV) or FASHION_DIR)
    missing = [f for pair in _FASHION_FILES.values() for f in pair
               if not (directory / f).is_file()]
    if missing:
        raise DatasetError(f"Fashion-MNIST files missing in {directory}: {', '.join(missing)}; "
                           "install them as root with `apt-get install dataset-fashion-mnist`, "
                           f"or set {FASHION_ENV} to a directory holding them")
    arrays = {}
    for split, (images_file, labels_file) in _FASHION_FILES.items():
        images = _read_idx(directory / images_file, _IDX_IMAGES)
        labels = _read_idx(directory / labels_file, _IDX_LABELS)
        if images.shape[0] != labels.shape[0]:
            raise DatasetError(f"Fashion-MNIST file {directory / images_file} has "
                               f"{images.shape[0]} images but {directory / labels_file} has "
                               f"{labels.shape[0]} labels")
        X = images.astype(np.float32)
        X *= np.float32(1.0 / 255.0)
        arrays[split] = (X, labels.astype(np.int64))
    (X, y), (X_test, y_test) = arrays["train"], arrays["test"]
    train, val = _split(y, val_fraction, np.random.default_rng(seed),
                        f"Fashion-MNIST in {directory}", "validation")
    return Dataset("fashion", str(directory), FASHION_CLASSES, X[train], y[train], X[val],
                   y[val], X_test, y_test, "accuracy")


def _read_mitdb() -> tuple[np.ndarray, np.ndarray, str]:
    """Return the ECG signal, its 0/1 anomaly labels and where they were read from."""
    resource = resources.files("transfer").joinpath("data").joinpath("mitdb.csv")
    try:
        text = resource.read_text(encoding="ascii")
    except OSError as exc:
        raise DatasetError(f"ECG record {resource} is missing ({exc}); it ships with "
                           "rnn2dynapse as transfer/data/mitdb.csv, reinstall the package") from exc
    header, _, body = text.partition("\n")
    table = np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2)
    if (header.strip() != "data,label" or table.shape[1] != 2
            or not np.isin(table[:, 1], (0, 1)).all()):
        raise DatasetError(f"ECG record {resource} needs columns 'data,label' with labels 0/1")
    return table[:, 0], table[:, 1].astype(np.int64), str(resource)


def _ecg_blocks(labels: np.ndarray, seed: int, val_fraction: float) -> dict[str, np.ndarray]:
    """Assign whole blocks of :data:`ECG_BLOCK` samples to train/val/test, seeded.

    Blocks holding anomalous samples are divided between train and test (at least one each);
    the normal blocks go ``TEST_FRACTION`` to test, ``val_fraction`` to validation and the rest
    to train. The tail shorter than one block is dropped.
    """
    n_blocks = labels.size // ECG_BLOCK
    anomalous = labels[: n_blocks * ECG_BLOCK].reshape(n_blocks, ECG_BLOCK).any(axis=1)
    rng = np.random.default_rng(seed)
    sick = rng.permutation(np.flatnonzero(anomalous))
    normal = rng.permutation(np.flatnonzero(~anomalous))
    n_sick_test = min(sick.size - 1, max(1, round(TEST_FRACTION * sick.size)))
    n_test = round(TEST_FRACTION * normal.size)
    n_val = max(1, round(val_fraction * normal.size))
    if sick.size < 2 or n_test < 1 or n_test + n_val >= normal.size:
        raise DatasetError(f"ECG record has {sick.size} anomalous and {normal.size} normal "
                           f"blocks of {ECG_BLOCK} samples; needs at least 2 anomalous and "
                           "enough normal blocks for train, validation and test")
    blocks = {
        "train": np.concatenate([sick[n_sick_test:], normal[n_test + n_val:]]),
        "val": normal[n_test:n_test + n_val],
        "test": np.concatenate([sick[:n_sick_test], normal[:n_test]]),
    }
    return {split: np.sort(b) for split, b in blocks.items()}


def _starts_in(blocks: np.ndarray) -> np.ndarray:
    offsets = np.arange(0, ECG_BLOCK - ECG_WINDOW + 1, ECG_STRIDE)
    return (blocks[:, None] * ECG_BLOCK + offsets[None, :]).ravel()


def ecg_window_starts(*, seed: int = 0, val_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """First sample of every window of the ``"ecg"`` dataset, per split.

    Parameters
    ----------
    seed, val_fraction
        As for :func:`load_dataset`.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{"train", "val", "test"}`` to the start indices, in the order of the windows in
        ``X_train``/``X_val``/``X_test``. Sample ``i`` lies in block ``i // ECG_BLOCK``.

    Notes
    -----
    The 7500-sample record gives 29 whole blocks of 256 samples (the last 76 samples are
    dropped) and 49 windows per block, 1421 windows in all. Its single anomalous episode
    (samples 6936..7287) touches blocks 27 (49 abnormal windows) and 28 (23 abnormal, 26
    normal windows); one of them goes to train and the other to test, depending on the seed.
    The 27 normal blocks split 19/3/5 into train/validation/test at ``val_fraction = 0.1``,
    so validation holds no abnormal window.
    """
    _, labels, _ = _read_mitdb()
    return {s: _starts_in(b) for s, b in _ecg_blocks(labels, seed, val_fraction).items()}


def _load_ecg(seed: int, val_fraction: float) -> Dataset:
    """ECG normal/abnormal windows, in the spirit of He et al. 2019 (reservoir ECG anomaly
    detection on a DYNAP-SE).

    Windows of ``ECG_WINDOW = 64`` samples, hop ``ECG_STRIDE = 4``, reshaped to
    ``ECG_STEPS = 16`` steps x 4 features (step ``t`` holds samples ``4t .. 4t + 3``); label 1
    ("abnormal") when at least half the window's samples are anomalous. The signal is scaled
    by the minimum and maximum of the training blocks; validation and test values outside
    that range are clipped to [0, 1]. Splits are made over whole blocks of 256 samples
    (:func:`_ecg_blocks`) and windows crossing a block boundary are dropped, so overlapping
    windows never leak between splits.

    Caveat: the record holds a single anomalous episode (samples 6936..7287), which touches
    two blocks; one goes to train and one to test, so the positives of each split come from
    one stretch of one episode, the validation split has none, and windows overlap by 15/16.
    Scores on this task say little about generalisation to other patients or arrhythmias.
    """
    signal, labels, source = _read_mitdb()
    blocks = _ecg_blocks(labels, seed, val_fraction)
    train_samples = signal[(blocks["train"][:, None] * ECG_BLOCK + np.arange(ECG_BLOCK)).ravel()]
    lo, hi = float(train_samples.min()), float(train_samples.max())
    scaled = np.clip((signal - lo) / (hi - lo), 0.0, 1.0)
    n_features = ECG_WINDOW // ECG_STEPS
    out = []
    for split in SPLITS:
        idx = _starts_in(blocks[split])[:, None] + np.arange(ECG_WINDOW)
        X = scaled[idx].reshape(-1, ECG_STEPS, n_features).astype(np.float32)
        y = (2 * labels[idx].sum(axis=1) >= ECG_WINDOW).astype(np.int64)
        out += [X, y]
    return Dataset("ecg", source, ("normal", "abnormal"), *out, "balanced_accuracy")


# --------------------------------------------------------------------------- user .npz files
def _load_npz(path: Path, seed: int, val_fraction: float) -> Dataset:
    where = f"dataset file {path}"
    if not path.is_file():
        raise DatasetError(f"{where} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            raw = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{where} is not a readable .npz archive of plain arrays ({exc}); "
                           "save it with numpy.savez and no object arrays") from exc
    for required in ("X_train", "y_train"):
        if required not in raw:
            raise DatasetError(f"{where} has no array {required!r} (found: "
                               f"{', '.join(sorted(raw)) or 'none'}); it needs X_train [N, T, F] "
                               "and y_train [N]")
    for split in ("val", "test"):
        if (f"X_{split}" in raw) != (f"y_{split}" in raw):
            have, lack = ((f"X_{split}", f"y_{split}") if f"X_{split}" in raw
                          else (f"y_{split}", f"X_{split}"))
            raise DatasetError(f"{where} has {have} but no {lack}; give both or neither")
    pairs = {s: (_as_features(raw[f"X_{s}"], f"X_{s}", where),
                 _as_labels(raw[f"y_{s}"], f"y_{s}", where)) for s in SPLITS if f"X_{s}" in raw}
    class_names = None
    if "class_names" in raw:
        names = raw["class_names"]
        if names.ndim != 1 or names.dtype.kind not in "US" or names.size == 0:
            raise DatasetError(f"{where} has class_names of shape {names.shape} and dtype "
                               f"{names.dtype} but needs a non-empty 1-D array of strings")
        class_names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist())
    n_classes = len(class_names) if class_names else 1 + max(
        (int(y.max()) for _, y in pairs.values() if y.ndim == 1 and y.size), default=0)
    _check_splits(pairs, n_classes, where)
    rng = np.random.default_rng(seed)
    X, y = pairs.pop("train")
    if "test" not in pairs:
        rest, test = _split(y, TEST_FRACTION, rng, where, "test")
        pairs["test"] = (X[test], y[test])
        X, y = X[rest], y[rest]
    if "val" not in pairs:
        train, val = _split(y, val_fraction, rng, where, "validation")
        pairs["val"] = (X[val], y[val])
        X, y = X[train], y[train]
    pairs["train"] = (X, y)
    name = _text_field(raw, "name", where) or path.stem
    metric = _text_field(raw, "metric", where) or "accuracy"
    if metric not in METRICS:
        raise DatasetError(f"{where} has metric {metric!r}; valid metrics: " + ", ".join(METRICS))
    return Dataset(name, str(path), class_names or tuple(str(k) for k in range(n_classes)),
                   *(a for s in SPLITS for a in pairs[s]), metric)


def _text_field(raw: Mapping[str, np.ndarray], key: str, where: str) -> str | None:
    if key not in raw:
        return None
    value = raw[key]
    if value.ndim != 0 or value.dtype.kind not in "US":
        raise DatasetError(f"{where} has {key} of shape {value.shape} and dtype {value.dtype} "
                           "but needs a single string")
    item = value.item()
    return item.decode() if isinstance(item, bytes) else str(item)


def _as_features(X: np.ndarray, key: str, where: str) -> np.ndarray:
    if X.dtype.kind not in "biuf":
        raise DatasetError(f"{where} has {key} of dtype {X.dtype} but needs a real numeric "
                           "dtype (bool, integer or float)")
    X32 = X.astype(np.float32)
    bad = X32.size - int(np.isfinite(X32).sum())
    if bad:
        raise DatasetError(f"{where} has {bad} non-finite values (NaN, inf, or beyond the "
                           f"float32 range) in {key}")
    return X32


def _as_labels(y: np.ndarray, key: str, where: str) -> np.ndarray:
    if y.dtype.kind == "f":
        bad = y[~(np.isfinite(y) & (y == np.round(y)))]
        if bad.size:
            raise DatasetError(f"{where} has non-integer labels in {key} (e.g. {bad.flat[0]!r}); "
                               "labels must be integers 0..C-1")
    elif y.dtype.kind not in "biu":
        raise DatasetError(f"{where} has {key} of dtype {y.dtype} but labels must be integers "
                           "0..C-1")
    return y.astype(np.int64)


# --------------------------------------------------------------------------- shared checks
def _check_splits(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], n_classes: int,
                  where: str) -> None:
    """Check ranks, lengths, non-emptiness, equal ``T``/``F`` and labels in ``0..n_classes-1``."""
    ref = None
    for split, (X, y) in pairs.items():
        if X.ndim != 3:
            raise DatasetError(f"{where} has X_{split} of shape {X.shape} but needs (N, T, F)")
        if y.ndim != 1:
            raise DatasetError(f"{where} has y_{split} of shape {y.shape} but needs (N,)")
        if X.shape[0] != y.shape[0]:
            raise DatasetError(f"{where} has {X.shape[0]} sequences in X_{split} but "
                               f"{y.shape[0]} labels in y_{split}")
        if 0 in X.shape:
            raise DatasetError(f"{where} has an empty {split} split (X_{split} of shape "
                               f"{X.shape})")
        if ref is None:
            ref = (split, X.shape[1:])
        elif X.shape[1:] != ref[1]:
            raise DatasetError(f"{where} has X_{split} with (T, F) = {X.shape[1:]} but "
                               f"X_{ref[0]} has (T, F) = {ref[1]}")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= n_classes:
            raise DatasetError(f"{where} has label {lo if lo < 0 else hi} in y_{split} but labels "
                               f"must be integers in 0..{n_classes - 1} ({n_classes} classes)")


def _check_limit(limit: int, what: str) -> int:
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise DatasetError(f"{what} must be a positive integer or None, got {limit!r}")
    return int(limit)


def _stratified_take(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``k < len(y)`` items, each class in proportion (largest remainder)."""
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = k * counts / y.size
    take = np.floor(quota).astype(np.int64)
    short = k - int(take.sum())
    take[np.argsort(take - quota, kind="stable")[:short]] += 1
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[:t] for c, t in enumerate(take)]
    return np.sort(np.concatenate(chosen))


def _split(y: np.ndarray, fraction: float, rng: np.random.Generator, where: str,
           what: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(kept, held_out)`` with ``round(fraction * N)`` (at least 1) held out."""
    n_held = max(1, round(fraction * y.size))
    if n_held >= y.size:
        raise DatasetError(f"{where} has only {y.size} training sequences, too few to carve "
                           f"a {what} split of {fraction:.0%}; an empty split is not allowed")
    held = _stratified_take(y, n_held, rng)
    kept = np.ones(y.size, dtype=bool)
    kept[held] = False
    return np.flatnonzero(kept), held
