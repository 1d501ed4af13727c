"""Errors for bad input: one clear message naming the place and what was expected.

The command line turns an :class:`InputError` into exit status 2 and one message, with no
traceback (unless ``--debug``). The reader collects every problem of the raw export into one
:class:`InputErrors`; the command line prints the first ones and writes them all to a CSV file
beside ``--out`` (:func:`write_error_file`, ``docs/bad-input.md``).
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable
from pathlib import Path


class InputError(Exception):
    """Bad input or bad usage: names the file, row/record, column, value and expectation.

    ``option``: the command-line option at fault (bad usage rather than bad data); the message
    then reads like argparse's, ``--subjects must be at least 1: found '0'``."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, value: str | None = None,
                 expected: str | None = None, option: str | None = None) -> None:
        self.file, self.row, self.column, self.value, self.expected = file, row, column, value, expected
        self.message = message  # the WHAT part alone (errors.csv)
        self.option = option
        parts = []
        if file is not None:
            parts.append(str(file))
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column {column}")
        where = ", ".join(parts)
        if option is not None:
            message = f"{option} {message}"
        text = f"{where}: {message}" if where else message
        if value is not None:
            text += f": found {value!r}"
        if expected is not None:
            text += f"; expected {expected}"
        super().__init__(text)

    def __reduce__(self):
        """Pickled as its class, text and attributes, without calling ``__init__`` again (a
        worker process's error, of any subclass, reaches the run whole)."""
        return (_restored, (type(self), self.args, self.__dict__))


def did_you_mean(name: str, known) -> str:
    """``; did you mean 'X'?`` for the known name nearest ``name`` when one is close (a typing
    slip: ``BASEX`` -> ``BASE``), else ``""``: the end of an unknown-name message."""
    import difflib

    near = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.8)
    return f"; did you mean {near[0]!r}?" if near else ""


class InputErrors(InputError):
    """Several problems of one input, all found in one pass (the raw export's checks).

    Behaves as its first error (message, ``file``, ``row`` ... are the first's), so code and
    tests that expect one :class:`InputError` see what a single error would have said;
    ``errors`` holds every error listed and ``count`` how many problems were found in all
    (more than listed when the reader caps the rows listed per column)."""

    def __init__(self, errors: list[InputError], count: int | None = None) -> None:
        if not errors:
            raise ValueError("InputErrors needs at least one error")
        first = errors[0]
        Exception.__init__(self, str(first))
        self.__dict__.update({k: v for k, v in vars(first).items() if not k.startswith("_")})
        self.errors = list(errors)
        self.count = max(count or 0, len(self.errors))


def _restored(cls: type, args: tuple, state: dict) -> InputError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


ERROR_COLUMNS = ("file", "row", "column", "value", "expected", "message")
"""The columns of the error file; its header line also marks the file as the tool's own."""
_HEADER = ",".join(ERROR_COLUMNS)


def error_file(out: Path) -> Path:
    """Where the errors of a run with output folder ``out`` go: ``OUT.errors.csv`` beside it."""
    out = Path(out).absolute()
    return out.with_name(f"{out.name}.errors.csv")


def first_line(path: Path) -> str | None:
    """The first line of the text file ``path`` (None: no such file, or not UTF-8 text)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return None


def _own_error_list(line: str | None) -> bool:
    """Whether a file's first line is the error list's header (``replace_own_file``)."""
    return line == _HEADER


def is_error_file(path: Path) -> bool:
    """True if ``path`` is a file this tool wrote (its first line is the error-file header)."""
    return _own_error_list(first_line(path))


def check_replaceable(path: Path, own: Callable[[str | None], bool]) -> None:
    """``FileExistsError`` when ``path`` exists and is not a file this tool wrote (``own`` of
    its first line): a command checks its report's path before the work, not after."""
    path = Path(path)
    if path.exists() and (path.is_dir() or not own(first_line(path))):
        raise FileExistsError(17, "exists and was not written by itp-adam; not replaced", str(path))


def new_beside(parent: Path, prefix: str, *, folder: bool = False) -> Path:
    """A new file or folder in ``parent`` named ``prefix`` and a random part, created with the
    permissions a plain create gives under the user's umask (as a rule 0644 and 0755), not
    tempfile's private 0600 and 0700: what is published from it (a run's output folder, a
    report) is then readable by the user's team as any file the user writes."""
    import secrets

    for _ in range(100):
        path = Path(parent) / f"{prefix}{secrets.token_hex(4)}"
        try:
            if folder:
                os.mkdir(path)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(17, "no free name for a temporary file", str(Path(parent) / prefix))


def replace_own_file(path: Path, text: str, own: Callable[[str | None], bool]) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, then renamed). An
    existing file is replaced only when ``own(its first line)`` says this tool wrote it (a
    report's header): a user's file of that name is never overwritten (``FileExistsError``).
    Other failures raise ``OSError`` and leave no partial file."""
    path = Path(path)
    check_replaceable(path, own)
    tmp = new_beside(path.parent, f".{path.name}.tmp-")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def report_errors(path: Path, command: str):
    """A failure to write ``itp-adam COMMAND``'s report at ``path`` as an :class:`InputError`
    naming the file (exit 2 with one message)."""
    try:
        yield
    except OSError as exc:
        # the report itself is a user's file (not a file where a parent folder should be)
        if isinstance(exc, FileExistsError) and exc.filename == str(path):
            raise InputError(f"exists and was not written by itp-adam {command}; not replaced",
                             file=str(path), expected=f"a new file name, or an earlier report "
                             f"of itp-adam {command}") from None
        raise InputError(f"cannot write the report ({exc.strerror})", file=str(path),
                         expected="a file path the user can write to") from exc


def write_error_file(errors: list[InputError], path: Path) -> None:
    """Write ``errors`` to ``path`` (:func:`replace_own_file`: an earlier list is replaced, a
    file the tool did not write is not: ``FileExistsError``)."""
    import io

    text = io.StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow(ERROR_COLUMNS)
    out.writerows([e.file, e.row, e.column, e.value, e.expected, getattr(e, "message", str(e))]
                  for e in errors)
    Path(path).parent.mkdir(parents=True, exist_ok=True)  # removed with a failed run's staging
    replace_own_file(path, text.getvalue(), _own_error_list)


def remove_error_file(path: Path) -> None:
    """Remove an earlier run's error file at ``path``; a file the tool did not write stays."""
    if is_error_file(path):
        Path(path).unlink(missing_ok=True)
