"""One export, one transaction: every file it writes appears whole, or none does.

Each file is first written under a temporary name in its final folder
(``.fuzzy-people-<id>-<n>.part``), flushed and checked. Committing writes a
journal listing the renames (``.fuzzy-people-<id>.journal``, itself written
whole, then renamed into place), then renames every file, then deletes the
journal. An export that spans two folders (the shareable export folder and
the private review folder) writes a secondary journal into the second folder
first, pointing at the primary one; the primary journal's appearance is the
commit point.

:func:`recover` puts a folder right after a crash or a kill (SIGKILL
included): a transaction whose primary journal exists is completed, any
other temporary file of ours is removed. :func:`locked` keeps two processes
from exporting into the same folder at once, so that a temporary file found
under the lock always belongs to a dead process.

Nothing here follows a symbolic link at the final name: such a name is
refused, and temporary files are created with ``O_EXCL | O_NOFOLLOW``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import ExportError

__all__ = ["Transaction", "final_path", "fsync_folder", "locked", "naming", "recover"]

_PREFIX = ".fuzzy-people-"
_PART = re.compile(r"^\.fuzzy-people-([0-9a-f]{12})-(\d+|j\d*)\.part$")
_JOURNAL = re.compile(r"^\.fuzzy-people-([0-9a-f]{12})\.journal$")
# Version 0.1 wrote `.<final name>.<8 random characters>.part` and never cleaned up.
_LEGACY_PART = re.compile(
    r"^\..+_fuzzy\.(png|jpe?g|tiff?)(\.people\.png|\.record\.json)?\.[a-z0-9_]{8}\.part$"
)
_OPEN_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def final_path(path) -> Path:
    """``path`` with its folder resolved and its own name kept, safe to be written.

    The folder may be reached through a link (the user chose it); the file
    itself may not be one: a symbolic link at the final name is refused, as
    is anything that is not a regular file.

    Raises
    ------
    ExportError
        The name is a link, a folder or a device.
    OSError
        The path cannot be looked at (its folder is a file, say).
    """
    path = Path(path)
    final = path.parent.resolve() / path.name
    try:
        mode = os.lstat(final).st_mode
    except FileNotFoundError:
        return final  # a missing folder fails where the file is created, as an OSError
    except OSError as err:  # the folder is a file, say
        raise naming(err, final) from err
    if stat.S_ISLNK(mode):
        raise ExportError(
            f"{final}: is a symbolic link; refusing to write through it or replace it "
            "(remove the link, or export to another folder)"
        )
    if not stat.S_ISREG(mode):
        raise ExportError(f"{final}: exists and is not a regular file")
    return final


class Transaction:
    """Files written under temporary names, then all renamed at once by :meth:`commit`.

    Use as a context manager: leaving it without a commit (an exception,
    Ctrl+C) removes every temporary file.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with Transaction() as tx:
    ...     _ = tx.stage(folder / "a.txt", lambda f: f.write(b"a"))
    ...     _ = tx.stage(folder / "b.txt", lambda f: f.write(b"b"))
    ...     tx.commit()
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt', 'b.txt']
    """

    def __init__(self):
        self.id = secrets.token_hex(6)
        self._staged: list[tuple[Path, Path]] = []
        self._checks: list[Callable[[], None]] = []
        self._open = True

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, *exc) -> None:
        if self._open:
            self.rollback()

    def stage(
        self,
        path,
        write: Callable,
        *,
        verify: Callable[[Path], None] | None = None,
        check: Callable[[Path], None] | None = None,
    ) -> Path:
        """Write a file under a temporary name next to ``path``; return its final path.

        ``write(f)`` writes the bytes to a binary file object; ``verify(tmp)``
        reads the temporary file back and raises if it is wrong; ``check(final)``
        runs now and again just before the commit (is the name still free?).
        """
        final = final_path(path)
        if check is not None:
            check(final)
        tmp = final.parent / f"{_PREFIX}{self.id}-{len(self._staged)}.part"
        try:
            fd = os.open(tmp, _OPEN_FLAGS, 0o666)
        except OSError as err:
            raise naming(err, final) from err
        self._staged.append((tmp, final))
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            if verify is not None:
                verify(tmp)
        except ExportError:
            raise
        except OSError as err:
            raise naming(err, final) from err
        except Exception as err:
            raise ExportError(
                f"{final}: writing failed ({type(err).__name__}: {err}); nothing was written"
            ) from err
        if check is not None:
            self._checks.append(lambda: check(final_path(final)))
        return final

    def temporary(self, final: Path) -> Path:
        """The temporary file staged for ``final`` (complete and checked)."""
        for tmp, staged in self._staged:
            if staged == final:
                return tmp
        raise KeyError(final)

    def commit(self) -> list[Path]:
        """Rename every staged file to its final name; returns the final paths."""
        if not self._open:
            raise RuntimeError("this transaction is already finished")
        for check in self._checks:
            check()
        pairs = list(self._staged)
        folders = list(dict.fromkeys(final.parent for _, final in pairs))
        journals: list[Path] = []
        if len(pairs) > 1:
            primary = folders[0] / f"{_PREFIX}{self.id}.journal"
            for folder in folders[1:]:
                mine = [(t, f) for t, f in pairs if f.parent == folder]
                journals.append(_write_journal(folder, self.id, mine, primary=primary))
            journals.append(_write_journal(folders[0], self.id, pairs))
        self._open = False  # from here on the transaction is committed: finish, never undo
        try:
            _finish(pairs, journals)
        except BaseException:
            # Ctrl+C mid-way: finish now if we can; else the journal lets the next run.
            with contextlib.suppress(Exception):
                _finish(pairs, journals)
            raise
        return [final for _, final in pairs]

    def rollback(self) -> None:
        """Remove every temporary file (the final names were never touched)."""
        self._open = False
        for tmp, _ in self._staged:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def _write_journal(folder: Path, txid: str, pairs, primary: Path | None = None) -> Path:
    entry = {"id": txid, "files": [[str(t), str(f)] for t, f in pairs]}
    if primary is not None:
        entry["primary"] = str(primary)
    path = folder / f"{_PREFIX}{txid}.journal"
    tmp = folder / f"{_PREFIX}{txid}-j{1 if primary is None else 0}.part"
    fd = os.open(tmp, _OPEN_FLAGS, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(json.dumps(entry).encode())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_folder(folder)
    return path


def _finish(pairs, journals: list[Path]) -> None:
    """Rename what is still staged, then drop the journals (the primary last)."""
    # Interrupted here (Ctrl+C, a kill), the journal lets the next run finish the job.
    for tmp, final in pairs:
        if os.path.lexists(tmp):
            os.replace(tmp, final)
    for folder in dict.fromkeys(Path(f).parent for _, f in pairs):
        fsync_folder(folder)
    for journal in journals:
        Path(journal).unlink(missing_ok=True)
        fsync_folder(Path(journal).parent)


def recover(folder) -> int:
    """Finish or undo what a killed export left in ``folder``; returns how many files it touched.

    Call it holding :func:`locked` on the folder: a temporary file found then
    belongs to a dead process.

    Raises
    ------
    ExportError
        A journal that cannot be read (it is never half-written, so this
        means outside damage); it names the file to look at.
    """
    folder = Path(folder)
    touched = 0
    names = [e.name for e in os.scandir(folder)]
    keep: set[str] = set()
    for name in names:
        found = _JOURNAL.match(name)
        if not found:
            continue
        journal = folder / name
        entry = _read_journal(journal)
        pairs = [(Path(t), Path(f)) for t, f in entry["files"]]
        if "primary" not in entry:
            seconds = [Path(p) / name for p in {str(f.parent) for _, f in pairs}]
            touched += sum(os.path.lexists(t) for t, _ in pairs)
            _finish(pairs, [*(j for j in seconds if j != journal), journal])
        elif Path(entry["primary"]).exists():
            keep.add(found.group(1))  # committed: its export folder's next run finishes it
        else:
            touched += _unlink([t for t, _ in pairs] + [journal])
    for name in names:
        part = _PART.match(name)
        if (part and part.group(1) not in keep) or _LEGACY_PART.match(name):
            touched += _unlink([folder / name])
    return touched


def _read_journal(path: Path) -> dict:
    try:
        entry = json.loads(path.read_bytes())
        files = entry["files"]
        if not all(isinstance(p, list) and len(p) == 2 for p in files):
            raise ValueError("bad file list")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ExportError(
            f"{path}: an unreadable export journal ({err}); look at the files it names "
            "and remove it by hand"
        ) from err
    return entry


def _unlink(paths) -> int:
    count = 0
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()
            count += 1
    return count


@contextlib.contextmanager
def locked(*folders, wait: float = 60.0) -> Iterator[None]:
    """Hold an exclusive lock on each folder (POSIX ``flock`` on the folder itself).

    Waits up to ``wait`` seconds for another export to finish its writes
    (parallel workers take turns at the folder). No lock file is left behind.
    Where the system or file system has no such locks, it goes on unguarded.

    Raises
    ------
    ExportError
        Another process (or another export of this one) held a folder for
        longer than ``wait``.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    fds: list[int] = []
    try:
        for folder in sorted({Path(f).resolve() for f in folders}):  # one order: no deadlock
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            fds.append(fd)
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ExportError(
                            f"{folder}: another export is writing into this folder right "
                            "now; wait for it to finish"
                        ) from None
                    time.sleep(0.02)
                except OSError:
                    break
        yield
    finally:
        for fd in fds:
            os.close(fd)


def naming(err: OSError, target: Path) -> OSError:
    """The same kind of OSError, saying which export it broke."""
    reason = err.strerror or str(err) or type(err).__name__
    message = f"could not write {target}: {reason}; nothing was written"
    if err.errno is None:
        return OSError(message)
    return OSError(err.errno, message)  # picks the subclass (PermissionError, ...)


def fsync_folder(folder) -> None:
    """Make renames in ``folder`` durable, where the system can (POSIX)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # the files are complete and in place; only durability is not assured
    finally:
        os.close(fd)
