"""Files written whole or not at all, safely: an interrupted run leaves the previous report or figure intact.

Every report, table, point file and figure goes through :func:`open_atomic`: the text is written to a
fresh temporary file in the target's own directory, made by :func:`tempfile.mkstemp` (a random name,
created with ``O_CREAT | O_EXCL | O_NOFOLLOW``: a file or symlink planted under any name is never opened,
let alone followed), and renamed over the target with :func:`os.replace` (which replaces a symlink at the
target by the new file instead of writing through it). An error while writing (no permission, a full disk,
a read-only file system) removes the temporary file and is one :class:`~aimc_theory.errors.InputError`
line naming the parameter that chose the place (``out``) and the path.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
from pathlib import Path

from .errors import InputError

_UMASK: list = []


def _mode() -> int:
    """The permissions a plain ``open(path, "w")`` would give (mkstemp makes 0600 files)."""
    if not _UMASK:
        umask = None
        try:
            with open("/proc/self/status") as f:          # Linux: read without changing it
                for line in f:
                    if line.startswith("Umask:"):
                        umask = int(line.split()[1], 8)
        except (OSError, ValueError):
            pass
        if umask is None:
            umask = os.umask(0o022)
            os.umask(umask)
        _UMASK.append(umask)
    return 0o666 & ~_UMASK[0]


def _failed(path: Path, exc: OSError, param: str) -> InputError:
    why = exc.strerror or type(exc).__name__
    return InputError(param, f"cannot write {path}: {why}")


@contextlib.contextmanager
def open_atomic(path, mode: str = "w", *, param: str = "out"):
    """A file object whose contents replace ``path`` when the ``with`` block ends without an error.

    Parameters
    ----------
    path : path
        The target; its directory must exist.
    mode : str
        ``"w"`` (text, UTF-8) or ``"wb"``.
    param : str
        The parameter an error names (the output directory's).

    Raises
    ------
    InputError
        The target cannot be written (permission, no space, read-only file system, ...): one line naming
        ``param`` and the path; no partial or temporary file is left behind.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb' (got {mode!r})")
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _failed(path, exc, param) from None
    try:
        try:
            f = os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {}))
        except BaseException:
            os.close(fd)
            raise
        moded = False
        with f:
            yield f
            if not f.closed:                        # (a writer may have closed it already)
                f.flush()
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, _mode())
                    moded = True
        if not moded:
            os.chmod(tmp, _mode())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise _failed(path, exc, param) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def atomic_write_text(path, text: str, *, param: str = "out") -> None:
    """Write ``text`` to a fresh temporary file beside ``path``, then rename it over ``path``
    (:func:`open_atomic`)."""
    with open_atomic(path, "w", param=param) as f:
        f.write(text)


def atomic_write_bytes(path, data: bytes, *, param: str = "out") -> None:
    """:func:`atomic_write_text` for bytes."""
    with open_atomic(path, "wb", param=param) as f:
        f.write(data)


FIGURE_FORMATS = ("png", "pdf", "svg")
_FIGURE_FORMAT: contextvars.ContextVar = contextvars.ContextVar("figure_format", default=None)


@contextlib.contextmanager
def figure_format(fmt: str | None):
    """Within the block, :func:`save_figure` writes ``fmt`` (png, pdf or svg) where its caller gives no
    ``format``: a command's ``--format`` reaches figures drawn deep inside it (the claims' figures of
    ``check``) without a parameter through every drawing function. None: each path's own suffix."""
    if fmt is not None and fmt not in FIGURE_FORMATS:
        raise InputError("format", f"must be one of {', '.join(FIGURE_FORMATS)} (got {fmt!r})")
    token = _FIGURE_FORMAT.set(fmt)
    try:
        yield
    finally:
        _FIGURE_FORMAT.reset(token)


def figure_format_now() -> str | None:
    """The format of the innermost :func:`figure_format` block (None outside one): to hand on to a process that
    draws figures for this one."""
    return _FIGURE_FORMAT.get()


def save_figure(fig, path, dpi: int = 110, *, param: str = "out", format: str | None = None) -> Path:
    """``fig.savefig`` through a temporary file and a rename.

    Parameters
    ----------
    fig : matplotlib Figure
    path : path
        The target; with ``format`` (or inside :func:`figure_format`) its suffix is replaced by the format's.
    dpi : int
        Resolution of raster output (png); pdf and svg are vector graphics.
    param : str
        The parameter an error names (the output directory's).
    format : {"png", "pdf", "svg"} or None
        The file format; None: the one of :func:`figure_format`, else ``path``'s suffix (any format
        matplotlib writes; png without a suffix).

    Returns
    -------
    Path
        The file written (its suffix is the format's).
    """
    path = Path(path)
    fmt = format or _FIGURE_FORMAT.get()
    if fmt is None:
        fmt = path.suffix.lstrip(".").lower() or "png"      # as before: the suffix says (matplotlib checks it)
    elif fmt not in FIGURE_FORMATS:
        raise InputError("format", f"must be one of {', '.join(FIGURE_FORMATS)} (got {fmt!r})")
    elif path.suffix.lstrip(".").lower() != fmt:
        path = path.with_suffix("." + fmt)
    # pdf and svg carry no creation date: the same figure gives the same bytes (reproducible outputs)
    meta = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)
    with open_atomic(path, "wb", param=param) as f:
        fig.savefig(f, dpi=dpi, format=fmt, **({"metadata": meta} if meta else {}))
    return path
