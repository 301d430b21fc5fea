"""Data for the network path: IDX files (MNIST, Fashion-MNIST; gzipped or not), Debian's
``dataset-fashion-mnist`` package, and a small built-in data set that needs no download.

Nothing is fetched from the internet. Images are returned as float arrays in [0, 1] of shape (n, 784)
and labels as int64 arrays of shape (n,).
"""
from __future__ import annotations

import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

DEBIAN_DIRS = ("/usr/share/dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist",
               "/usr/share/fashion-mnist")
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_IDX_BYTES = 1 << 30     # data of one IDX file (Fashion-MNIST's largest: 47 MB); larger is refused before reading
_HEADER_MAX = 4 + 4 * 4     # magic and up to four dimension sizes
_SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
           "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_inputs(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def read_idx(path, max_bytes: int | None = None) -> np.ndarray:
    """One IDX file (optionally gzipped): magic 0x0000TTDD (TT = type code, DD = dimensions), then the
    big-endian dimension sizes, then the data. Truncated or malformed files, corrupt gzip streams and files
    whose declared size exceeds ``max_bytes`` (default :data:`MAX_IDX_BYTES`) or the available memory are an
    InputError naming the file; the size is checked from the header before the data is read or
    decompressed (a small gzip file may declare gigabytes), and no more than the declared size is read."""
    from .runtime import check_bytes
    path = Path(path)
    cap = MAX_IDX_BYTES if max_bytes is None else int(max_bytes)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError("dataset", f"cannot read {path}: {exc.strerror}") from None
    with fh:
        try:
            reader = _Reader(fh, path)
            head = reader.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES or not 1 <= head[3] <= 4:
                raise InputError("dataset", f"{path}: wrong magic number {head[:4].hex() or 'none'} (an IDX file "
                                              "starts with 00 00, a type code 08-0e and 1-4 dimensions)")
            ndim = head[3]
            dims = reader.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise InputError("dataset", f"{path} is truncated (no room for its {ndim} dimension sizes)")
            shape = tuple(int.from_bytes(dims[4 * k: 4 + 4 * k], "big") for k in range(ndim))
            dtype = np.dtype(_IDX_TYPES[head[2]])
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if need > cap:
                raise InputError("dataset", f"{path} declares {shape} ({need:,} bytes of data), more than the limit of "
                                              f"{cap:,} bytes for one IDX file")
            check_bytes("dataset", need + 8 * need // dtype.itemsize,
                        f"{path.name} ({shape}, read and converted to float64)")
            body = reader.read(need + 1)           # one byte more: trailing data is an error too
        except OSError as exc:
            raise InputError("dataset", f"cannot read {path}: {exc.strerror or exc}") from None
    if len(body) != need:
        raise InputError("dataset", f"{path} is truncated or has trailing bytes: header says {shape} "
                                      f"({need} bytes of data), the file has {len(body)}{'+' if len(body) > need else ''}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


class _Reader:
    """Reads a file, through a gzip decompressor when it starts with the gzip magic, never more than asked:
    the decompressor's output is bounded by ``max_length`` (a gzip bomb stops at the size asked for)."""

    def __init__(self, fh, path):
        self.fh, self.path = fh, path
        first = fh.read(2)
        self.gz = first == b"\x1f\x8b"
        self.pending = first          # compressed input not yet fed (gz) or raw bytes not yet returned
        self.out = b""
        self.d = zlib.decompressobj(16 + zlib.MAX_WBITS) if self.gz else None

    def read(self, n: int) -> bytes:
        if not self.gz:
            data = self.pending[:n]
            self.pending = self.pending[n:]
            if len(data) < n:
                data += self.fh.read(n - len(data))
            return data
        chunks, have = [self.out[:n]], min(len(self.out), n)
        self.out = self.out[n:]
        while have < n:
            if self.d.eof:                                     # a further gzip member, or trailing garbage
                rest = self.d.unused_data
                if not rest:
                    rest = self.fh.read(1 << 16)
                if not rest:
                    break
                self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self.pending = rest
            if self.d.unconsumed_tail:
                src = self.d.unconsumed_tail
            elif self.pending:
                src, self.pending = self.pending, b""
            else:
                src = self.fh.read(1 << 16)
                if not src:
                    if not self.d.eof:
                        raise InputError("dataset", f"{self.path} is not a valid gzip file (the stream ends early)")
                    break
            try:
                piece = self.d.decompress(src, n - have)
            except zlib.error as exc:
                raise InputError("dataset", f"{self.path} is not a valid gzip file ({exc})") from None
            chunks.append(piece)
            have += len(piece)
        return b"".join(chunks)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    return None


def load_idx_dir(directory, name: str | None = None) -> Dataset:
    """MNIST-layout directory: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-... ."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("dataset", f"{directory} is not a directory with IDX files")
    parts = {}
    for split, (img, lab) in _SPLITS.items():
        fi, fl = _find(directory, img), _find(directory, lab)
        if fi is None or fl is None:
            missing = img if fi is None else lab
            raise InputError("dataset", f"{directory} has no {missing}[.gz] (MNIST file names expected)")
        x, y = read_idx(fi), read_idx(fl)
        if x.ndim != 3 or y.ndim != 1:
            raise InputError("dataset", f"{fi.name} must hold n x rows x cols images and {fl.name} n labels "
                                          f"(got shapes {x.shape} and {y.shape})")
        if x.shape[0] != y.shape[0]:
            raise InputError("dataset", f"{fi.name} has {x.shape[0]} images but {fl.name} has {y.shape[0]} labels")
        if x.shape[0] == 0:
            raise InputError("dataset", f"{fi} holds no images")
        if x.shape[1] < 2 or x.shape[2] < 2:
            raise InputError("dataset", f"{fi} holds {x.shape[1]}x{x.shape[2]} images; at least 2x2 pixels")
        parts[split] = (_pixels(x, fi), _labels(y, fl))
    check_labels(parts["train"][1], parts["test"][1], directory)
    return Dataset(name or directory.name, *parts["train"], *parts["test"])


def check_labels(y_train: np.ndarray, y_test: np.ndarray, where="") -> int:
    """Labels are the classes 0..K-1 (the network gets K outputs, K = the largest training label + 1): no
    negative label, no test label beyond the training set's classes, and most classes present in the training
    set (a stray label 200 among 0..9 would make a 201-class network, 190 of whose classes never occur);
    returns K."""
    classes = np.unique(y_train)
    if classes[0] < 0:
        raise InputError("dataset", f"{where}: labels must be the classes 0..K-1 (got {classes[0]} in the training set)")
    k = int(classes[-1]) + 1
    if k < 2:
        raise InputError("dataset", f"{where}: the training labels hold a single class; a classifier needs two or more")
    if k - classes.size > classes.size:
        raise InputError("dataset", f"{where}: labels must be the classes 0..K-1; the training labels span 0..{k - 1} "
                                    f"but only {classes.size} of those {k} classes occur (a stray label "
                                    f"{classes[-1]}?)")
    if y_test.size and (y_test.min() < 0 or y_test.max() >= k):
        raise InputError("dataset", f"{where}: test labels must lie in 0..{k - 1}, the classes of the training set "
                                    f"(got {y_test.min()}..{y_test.max()})")
    return k


def _pixels(x: np.ndarray, path: Path) -> np.ndarray:
    """Integer images are grey levels 0..255, scaled to [0, 1]; float images are intensities in [0, 1], kept.
    Values outside (a 32-bit image up to 2^31, negative int8 levels, NaN) are an InputError."""
    if x.dtype.kind in "iu":
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise InputError("dataset", f"{path}: integer pixels must be grey levels 0..255 (got {lo}..{hi})")
        return x.reshape(x.shape[0], -1).astype(np.float64) / 255.0
    xf = x.reshape(x.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(xf)) or xf.min() < 0.0 or xf.max() > 1.0:
        raise InputError("dataset", f"{path}: float pixels must be finite intensities in [0, 1] (got "
                                      f"{np.nanmin(xf):g}..{np.nanmax(xf):g}{', NaN or inf' if not np.all(np.isfinite(xf)) else ''})")
    return xf


def _labels(y: np.ndarray, path: Path) -> np.ndarray:
    if y.dtype.kind not in "iu":
        raise InputError("dataset", f"{path}: labels must be integers (the file holds {y.dtype})")
    return y.astype(np.int64)


def fashion_mnist() -> Dataset:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package."""
    for d in DEBIAN_DIRS:
        if Path(d).is_dir():
            for sub in (Path(d), *sorted(p for p in Path(d).rglob("*") if p.is_dir())):
                if _find(sub, _SPLITS["train"][0]) is not None:
                    return load_idx_dir(sub, "fashion-mnist")
    raise InputError("dataset", "Fashion-MNIST not found; install it with `sudo apt-get install "
                                  "dataset-fashion-mnist` (Debian/Ubuntu) or pass the directory of its IDX files")


# -- built-in data: seven-segment digits (no download) -------------------------------------------------

_SEGMENTS = {  # a..g of a seven-segment display, per digit
    0: "abcdef", 1: "bc", 2: "abged", 3: "abgcd", 4: "fgbc", 5: "afgcd", 6: "afgedc", 7: "abc", 8: "abcdefg",
    9: "abcdfg"}


def _segment_image(digit: int, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """A 28x28 seven-segment digit with a random shift, scale, slant and stroke width, plus pixel noise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    h = rng.uniform(14, 20)
    w = h * rng.uniform(0.45, 0.6)
    cx, cy = size / 2 + rng.uniform(-3, 3), size / 2 + rng.uniform(-2, 2)
    slant = rng.uniform(-0.25, 0.25)
    x = xx - cx - slant * (yy - cy)
    y = yy - cy
    t = rng.uniform(1.0, 1.8)
    top, mid, bot, left, right = -h / 2, 0.0, h / 2, -w / 2, w / 2
    segs = {"a": (top, top, left, right), "g": (mid, mid, left, right), "d": (bot, bot, left, right),
            "f": (top, mid, left, left), "b": (top, mid, right, right), "e": (mid, bot, left, left),
            "c": (mid, bot, right, right)}
    img = np.zeros((size, size))
    for s in _SEGMENTS[digit]:
        y0, y1, x0, x1 = segs[s]
        px = np.clip(x, min(x0, x1), max(x0, x1))
        py = np.clip(y, min(y0, y1), max(y0, y1))
        dist = np.hypot(x - px, y - py)
        img = np.maximum(img, np.clip(1.0 - (dist - t) / 1.0, 0.0, 1.0))
    img += 0.08 * rng.standard_normal(img.shape)
    return np.clip(img, 0.0, 1.0)


_DIGITS_KEPT: dict = {}        # (n_train, n_test, seed) -> the arrays of digits(), the last few small sets
_DIGITS_KEEP, _DIGITS_KEEP_IMAGES = 4, 2500      # at most ~63 MB
_DIGITS_LOCK = threading.Lock()


def digits(n_train: int = 2000, n_test: int = 500, seed: int = 0) -> Dataset:
    """The built-in data set: seven-segment digits 0-9 drawn on 28x28 pixels with random geometry and noise
    (deterministic for a seed). Small and easy, for tests and a first run; not a benchmark."""
    # drawing the default 2500 images costs ~0.5 s of CPU: the last few small sets are kept (every call gets
    # copies of the same bits, as drawn anew)
    key = (n_train, n_test, seed)
    keep = all(type(v) is int for v in key) and min(n_train, n_test) >= 0 \
        and n_train + n_test <= _DIGITS_KEEP_IMAGES
    kept = _DIGITS_KEPT.get(key) if keep else None
    if kept is not None:
        with _DIGITS_LOCK:                       # the most recently used last: the first to go is the oldest
            _DIGITS_KEPT[key] = _DIGITS_KEPT.pop(key, kept)
        return Dataset("digits", *(a.copy() for a in kept))
    ds = _draw_digits(n_train, n_test, seed)
    if keep:
        with _DIGITS_LOCK:
            while len(_DIGITS_KEPT) >= _DIGITS_KEEP:
                del _DIGITS_KEPT[next(iter(_DIGITS_KEPT))]
            _DIGITS_KEPT[key] = tuple(a.copy() for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    return ds


def _draw_digits(n_train: int, n_test: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = np.arange(n) % 10
    rng.shuffle(y)
    x = np.stack([_segment_image(int(d), rng).ravel() for d in y])
    return Dataset("digits", x[:n_train], y[:n_train].astype(np.int64), x[n_train:], y[n_train:].astype(np.int64))


SUBSET_SEED = 2025      # the reference runs' seed: numpy default_rng(2025) (10000 train / 2000 test of Fashion-MNIST)


REFERENCE_SIZES = (10000, 2000)     # the reference runs' subset (train, test)


def cut(dataset, train_size: int | None = None, test_size: int | None = None, subset_seed: int = SUBSET_SEED,
        default: tuple[int, int] = REFERENCE_SIZES) -> tuple["Dataset", int | None]:
    """The data set (a name, a directory of IDX files, or a :class:`Dataset`) cut to ``train_size``/``test_size``
    (None: ``default``, or the whole split where it is smaller) by :func:`subset`; returns (the data, the subset
    seed, or None when the whole set runs). The published-table reruns share it."""
    from .errors import require_int
    ds = dataset if isinstance(dataset, Dataset) else load(dataset)
    n_tr = min(default[0], ds.x_train.shape[0]) if train_size is None else require_int("train_size", train_size)
    n_te = min(default[1], ds.x_test.shape[0]) if test_size is None else require_int("test_size", test_size)
    if n_tr == ds.x_train.shape[0] and n_te == ds.x_test.shape[0]:
        return ds, None
    return subset(ds, n_tr, n_te, subset_seed), subset_seed


def subset(dataset: Dataset, n_train: int | None = None, n_test: int | None = None, seed: int = SUBSET_SEED,
           stratified: bool = True) -> Dataset:
    """A seeded subset of a data set: ``n_train`` training and ``n_test`` test samples drawn without replacement.

    Parameters
    ----------
    dataset : Dataset
    n_train, n_test : int or None
        Samples kept of each split, at most the split's size and at least 1 (test) or the number of classes
        (train) (None: the whole split).
    seed : int
        ``numpy.random.default_rng(seed)`` draws the training subset, then the test subset (default 2025, the
        seed of the reference simulator's runs of arXiv 2502.06309 Table 8).
    stratified : bool
        True (default): every class keeps its share, n_c = n N_c / N rounded by largest remainder (ties to the
        lower class), at least one sample of every class present when n allows, the n_c drawn uniformly within
        the class.
        False: ``rng.choice(N, n, replace=False)`` over the whole split (the plain draw).

    Returns
    -------
    Dataset
        The chosen samples in their original order, named ``NAME-NTRAIN-NTEST``.

    The reference runs drew 10000 / 2000 samples of Fashion-MNIST "without replacement with default_rng(2025)";
    which call they used is not recorded, so neither mode is claimed to give their exact indices.
    """
    idx = []
    rng = np.random.default_rng(seed)
    k = np.unique(dataset.y_train).size
    for name, y, n, lo in (("train_size", dataset.y_train, n_train, k), ("test_size", dataset.y_test, n_test, 1)):
        N = y.shape[0]
        if n is None:
            idx.append(np.arange(N))
            continue
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not lo <= n <= N:
            raise InputError(name, f"must be an integer in [{lo}, {N:,}]: at most the {name.split('_')[0]} split of "
                                   f"{dataset.name}{f', at least its {k} classes' if lo > 1 else ''} (got {n!r})")
        n = int(n)
        idx.append(np.sort(_stratified(y, n, rng) if stratified else rng.choice(N, n, replace=False)))
    tr, te = idx
    if n_train is None and n_test is None:
        return dataset
    return Dataset(f"{dataset.name}-{tr.size}-{te.size}", dataset.x_train[tr], dataset.y_train[tr],
                   dataset.x_test[te], dataset.y_test[te])


def _stratified(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    classes, counts = np.unique(y, return_counts=True)
    share = n * counts / y.shape[0]
    quota = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - quota), kind="stable")          # largest remainders first, ties to lower class
    quota[order[:n - quota.sum()]] += 1
    while (quota == 0).any() and n >= classes.size:                # every class present keeps a sample
        quota[np.argmax(quota)] -= 1
        quota[np.flatnonzero(quota == 0)[0]] += 1
    return np.concatenate([rng.choice(np.flatnonzero(y == c), q, replace=False) for c, q in zip(classes, quota)])


def load(spec: str) -> Dataset:
    """A classification data set by name.

    Parameters
    ----------
    spec : str
        ``digits`` (built in: 28x28 seven-segment digits, no download), ``fashion-mnist`` (the Debian
        package dataset-fashion-mnist) or a directory of IDX files.

    Returns
    -------
    Dataset
        Inputs scaled to [0, 1], integer labels, train and test split.
    """
    if spec == "digits":
        return digits()
    if spec == "fashion-mnist":
        return fashion_mnist()
    if spec and os.path.isdir(spec):
        return load_idx_dir(spec)
    raise InputError("dataset", f"must be digits, fashion-mnist or a directory of IDX files (got {spec!r})")
