"""Where the project's files live: forge artifacts, npm binaries, and the commands' outputs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from keeper.errors import ConfigError

#: The checkout root (the directory holding ``foundry.toml``), for an editable install.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def artifacts_dir() -> Path:
    """Return forge's artifacts dir, ``build/forge/`` (override: ``KEEPER_ARTIFACTS_DIR``)."""
    return Path(os.environ.get("KEEPER_ARTIFACTS_DIR", PROJECT_ROOT / "build" / "forge"))


def node_bin(name: str) -> Path:
    """Return the path of an npm-installed executable such as ``anvil`` or ``forge``."""
    return PROJECT_ROOT / "node_modules" / ".bin" / name


def check_writable(path: Path) -> None:
    """Make ``path``'s missing parent directories and check that ``path`` can be written.

    The commands call it on their output files (``--json``, ``--plot``, ``--addresses``) before
    the work that fills them, so a bad path fails at once rather than after the run.

    Raises:
        ConfigError: The parent cannot be created, ``path`` is a directory, or this user may not
            write it.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {path.parent}: {exc.strerror}") from None
    if path.is_dir():
        raise ConfigError(f"{path} is a directory")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise ConfigError(f"cannot write {path}: permission denied")
    # Mode bits do not refuse root, nor show a read-only or pseudo file system: try it. An
    # existing file is opened to append (nothing written, nothing truncated); a new one is
    # probed by a temporary file beside it, removed at once.
    try:
        if path.exists():
            with path.open("ab"):
                pass
        else:
            fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def check_image_path(path: Path, flag: str) -> None:
    """Refuse a chart path that matplotlib would not write as named, before the run.

    matplotlib picks the format from the suffix: without one it writes ``path.png`` instead of
    the file named (``--plot -`` wrote ``-.png``), and an unknown one raised a ``ValueError``
    only once the chart was drawn, after the whole run.

    Raises:
        ConfigError: ``path`` has no suffix, or one that matplotlib does not write.
    """
    suffix = path.suffix.lower().lstrip(".")
    if not suffix:
        raise ConfigError(f"{flag} {path} has no file type: name it {path.name}.png (a PNG)")
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:  # without it the chart failed only after the run, in a traceback
        raise ConfigError(
            f"{flag} needs matplotlib, which is not installed: it comes with the optional "
            "devnet extra (make install, or pip install matplotlib)"
        ) from None
    types = FigureCanvasBase.get_supported_filetypes()
    if suffix not in types:
        raise ConfigError(
            f"{flag} {path}: '.{suffix}' is not an image type matplotlib writes "
            f"({', '.join(sorted(types))})"
        )


def read_utf8(path: Path, what: str) -> str:
    """The text of ``path``, which must be UTF-8 (a file saved as UTF-16 is a common slip).

    A UTF-8 byte-order mark (Notepad's, Excel's "CSV UTF-8") is dropped, not read as text.

    Raises:
        ConfigError: One line naming the file (as ``what path``) and the first bad byte.
        OSError: The file cannot be read (the caller says how: missing, a directory...).
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}): save it as UTF-8"
        ) from None
