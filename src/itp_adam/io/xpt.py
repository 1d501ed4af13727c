"""SAS XPORT version 5 writer with FDA submission checks, in the spirit of R's xportr.

FDA accepts study data only as SAS transport files, version 5 (SAS technical note TS-140). That
format has hard limits (8-character names, 40-character labels, 200-byte character values) and
the FDA adds more (ASCII only). :func:`check_xpt` finds every problem first and :func:`write_xpt`
refuses to write a file that would not match its frame. The file itself is written by a
vectorised numpy writer (IBM 370 doubles, fixed-width records) whose output is byte-identical to
pyreadstat 1.3.7's ``write_xport(..., file_format_version=5)`` apart from the header timestamps,
about 35 times faster. See ``docs/xpt.md``.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pandas as pd

from .pieces import write_in_pieces

__all__ = ["XptLimitError", "XptMeta", "XptProblem", "check_xpt", "ibm_doubles", "read_xpt", "write_xpt"]

MAX_NAME_LENGTH = 8
MAX_LABEL_LENGTH = 40
MAX_CHAR_BYTES = 200
DATE_FORMAT = "DATE9."
DATETIME_FORMAT = "DATETIME20."

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SAS_EPOCH_DAYS = 3653  # 1960-01-01 is 3653 days before 1970-01-01 (numpy's epoch)
# Magnitudes an XPT number (IBM 370 double: 7-bit base-16 exponent) holds exactly: from 2**249
# up (and for +-inf) the conversion writes the largest IBM number, which reads back as inf;
# non-zero magnitudes below the smallest IBM double (16**-65) are written as 0.
_MAX_MAGNITUDE = 2.0**249
_MIN_MAGNITUDE = 16.0**-65

_RECORD = 80  # every XPT record is 80 bytes; the last one of a section is padded with blanks
_CHUNK_BYTES = 1 << 23  # observations are built and written in blocks of about this size
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# NAMESTR record (TS-140, 140 bytes, big-endian): ntype nhfun nlng nvar0 nname nlabel nform nfl
# nfd nfj nfill niform nifl nifd npos rest
_NAMESTR = struct.Struct(">hhhh8s40s8shhh2s8shhi52s")

_SIGN = np.uint64(1 << 63)
_FRACTION = np.uint64((1 << 52) - 1)
_HIDDEN_BIT = np.uint64(1 << 52)
_IBM_MISSING = np.uint64(0x2E << 56)  # SAS missing ".": 0x2E then seven zero bytes
_IBM_LARGEST = np.uint64(0x7FFF_FFFF_FFFF_FFFF)

_Kind = Literal["char", "num", "date", "datetime"]


@dataclass(frozen=True)
class XptProblem:
    """One broken FDA / XPT v5 limit; ``variable`` is None for dataset-level problems."""

    dataset: str
    variable: str | None
    rule: str
    detail: str

    def __str__(self) -> str:
        where = self.dataset if self.variable is None else f"{self.dataset}.{self.variable}"
        return f"{where} [{self.rule}]: {self.detail}"


class XptLimitError(ValueError):
    """Raised by :func:`write_xpt` when the frame breaks limits; lists every problem found."""

    def __init__(self, problems: Iterable[XptProblem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        datasets = ", ".join(dict.fromkeys(p.dataset for p in self.problems))
        super().__init__(
            f"{datasets}: {len(self.problems)} problem(s) prevent writing SAS XPORT v5:\n{lines}"
        )

    def __reduce__(self):  # whole, from a process that wrote a dataset (pipeline._XptFiles)
        return (type(self), (self.problems,))


@dataclass
class _Column:
    """One variable ready to write: numbers (num, date) as float64 per row, or text (char) as
    ``texts``, one value per row with trailing blanks removed (null: missing)."""

    name: str
    label: str
    kind: _Kind
    width: int
    numbers: np.ndarray | None = None
    texts: object = None  # pyarrow large_string array


def check_xpt(
    df: pd.DataFrame, dataset: str, label: str, column_labels: Mapping[str, str]
) -> list[XptProblem]:
    """All FDA/XPT v5 problems of this frame, without writing anything."""
    return _prepare(df, dataset, label, column_labels, ())[0]


def write_xpt(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    dataset: str,
    label: str,
    column_labels: Mapping[str, str],
    date_columns: Iterable[str] = (),
    datetime_columns: Iterable[str] = (),
) -> str:
    """Check, then write `df` as XPT v5 to `path`; raises XptLimitError (and writes nothing) on
    any problem. Returns the SHA-256 of the file (:meth:`PreparedXpt.write`).

    datetime64 and ``datetime.date`` columns are written as SAS dates (``DATE9.``, whole days
    only); ``date_columns`` also makes an all-missing column (e.g. all-None) a date, and is
    checked to hold dates only. ``datetime_columns`` are written as SAS datetimes (seconds
    since 1960-01-01 00:00:00, ``DATETIME20.``; fractions of a second are a problem).
    """
    return prepare_xpt(df, dataset, label, column_labels, date_columns,
                       datetime_columns).write(path)


def prepare_xpt(
    df: pd.DataFrame,
    dataset: str,
    label: str,
    column_labels: Mapping[str, str],
    date_columns: Iterable[str] = (),
    datetime_columns: Iterable[str] = (),
    layout: XptLayout | None = None,
) -> PreparedXpt:
    """The checks and the conversion of :func:`write_xpt`, without writing: raises
    XptLimitError on any problem. The result holds numpy and pyarrow arrays only, so its
    ``write`` can run in another thread while pandas work goes on (``stages/pipeline.py``).
    ``layout``: ``df`` is a stretch of rows of a larger frame, prepared with that frame's
    types and text widths (:func:`xpt_layout`) and written with :class:`XptWriter`."""
    problems, columns = _prepare(df, dataset, label, column_labels, tuple(date_columns),
                                 tuple(datetime_columns), layout)
    if problems:
        raise XptLimitError(problems)
    return PreparedXpt(dataset.upper(), label, columns, len(df))


@dataclass(frozen=True)
class XptLayout:
    """A whole frame's XPT types and text widths, for preparing it a stretch of rows at a time
    (each stretch then gets the widths of the whole, and the last-row check only the last)."""

    kinds: dict[str, _Kind | None]
    widths: dict[str, int]  # text columns: the longest value after trimming, at least 1
    last: bool = True  # the stretch holds the frame's last row

    def stretch(self, last: bool) -> XptLayout:
        """The layout for one stretch (``last``: it holds the frame's last row)."""
        return XptLayout(self.kinds, self.widths, last)


STRETCH_ROWS = 262_144
"""Rows prepared at a time when a large frame is written a stretch at a time (:class:`XptWriter`)."""


def xpt_layout(df: pd.DataFrame) -> XptLayout:
    """The XPT type of every column and the width of every text column of ``df``, computed
    on the whole frame (a chunk of the column at a time: no copy of its text)."""
    kinds = {str(name): _kind(df.iloc[:, pos]) for pos, name in enumerate(df.columns)}
    widths = {str(name): _text_width(df.iloc[:, pos])
              for pos, name in enumerate(df.columns) if kinds[str(name)] == "char"}
    return XptLayout(kinds, widths)


def _text_width(series: pd.Series) -> int:
    """The width :func:`_as_char` gives a text column: its longest value after trimming
    trailing blanks, at least 1."""
    import pyarrow as pa

    values = getattr(series.array, "_pa_array", None)
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [_arrow_text(series)]
    longest = 0
    for chunk in chunks:
        texts = chunk if chunk.type == pa.large_string() else chunk.cast(pa.large_string())
        longest = max(longest, int(_trimmed(texts)[1].max(initial=0)))
    return max(1, longest)


def _trimmed(texts) -> tuple[object, np.ndarray, np.ndarray]:
    """``(texts, lengths, data)`` of a large_string array with trailing blanks removed (only
    copied when a value ends with a blank, read off each value's last byte)."""
    import pyarrow.compute as pc

    lengths, data = _byte_lengths(texts)
    ends = _offsets(texts)[1:]
    if (data[ends[lengths > 0] - 1] == ord(" ")).any():  # a value ends with a blank: trim all
        texts = pc.utf8_rtrim(texts, characters=" ")
        lengths, data = _byte_lengths(texts)
    return texts, lengths, data


@dataclass
class PreparedXpt:
    """A checked dataset converted for writing (:func:`prepare_xpt`)."""

    dataset: str
    label: str
    columns: list[_Column]
    nrows: int

    @property
    def nbytes(self) -> int:
        """The size of its records (about what its converted columns hold)."""
        return self.nrows * sum(c.width for c in self.columns)

    def write(self, path: str | os.PathLike[str]) -> str:
        """Write the file; returns the SHA-256 of its bytes, computed while they are written
        (so ``run.json`` need not read gigabytes back). The file is written to a temporary
        name next to ``path``, fsynced and renamed into place, so a failed write leaves no
        partial file and keeps any previous file at ``path``."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as fh:
                hashing = _HashingWriter(fh)
                _write_file(hashing, self.dataset, self.label, self.columns, self.nrows,
                            _timestamp())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return hashing.sha256.hexdigest()


class XptWriter:
    """One XPT file written a stretch of rows at a time: ``add`` each stretch (prepared with
    one :class:`XptLayout`, in order), then ``close``. Like :meth:`PreparedXpt.write`, the
    bytes go to a temporary file beside ``path``, renamed into place by ``close``; a failed
    ``add`` removes it, and ``close`` then raises that failure. Not thread-safe: its calls
    must follow one another (``add`` from the writing thread, ``abort`` after those ended)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.target = Path(path)
        self.tmp = self.target.with_name(f".{self.target.name}.{uuid.uuid4().hex}.tmp")
        self.fh: BinaryIO | None = None
        self.hashing: _HashingWriter | None = None
        self.rows = 0
        self.reclen = 0
        self.failed: BaseException | None = None

    def add(self, prepared: PreparedXpt) -> None:
        if self.failed is not None:
            return
        try:
            if self.fh is None:
                self.fh = open(self.tmp, "wb")
                self.hashing = _HashingWriter(self.fh)
                self.hashing.write(_header(prepared.dataset, prepared.label, prepared.columns,
                                           _timestamp()))
                self.reclen = sum(c.width for c in prepared.columns)
            _write_records(self.hashing, prepared.columns, prepared.nrows)
            self.rows += prepared.nrows
        except BaseException as exc:
            self.failed = exc
            self.abort()
            raise

    def close(self) -> str:
        """Pad, sync and rename the file into place; returns its SHA-256."""
        if self.failed is not None:
            raise self.failed
        if self.fh is None:
            raise ValueError(f"{self.target}: no rows were added, not even an empty stretch")
        try:
            self.hashing.write(b" " * (-(self.rows * self.reclen) % _RECORD))
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            os.replace(self.tmp, self.target)
        except BaseException:
            self.abort()
            raise
        return self.hashing.sha256.hexdigest()

    def abort(self) -> None:
        """Drop the temporary file (the run failed)."""
        if self.fh is not None:
            self.fh.close()
        self.tmp.unlink(missing_ok=True)


class _HashingWriter:
    """A binary file that also feeds every byte written to a SHA-256 (``hashlib`` releases
    the GIL on large buffers, so hashing runs in the writer thread of ``_write_file``)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.sha256 = hashlib.sha256()

    def write(self, data) -> int:
        self.sha256.update(data)
        return write_in_pieces(self.fh, data)


def ibm_doubles(values: np.ndarray) -> np.ndarray:
    """IEEE doubles -> the 8 bytes of XPT numbers (IBM 370 hex doubles), as native uint64.

    The conversion of TS-140's ``ieee2xpt`` (as in ReadStat), on whole arrays: the 53-bit
    significand is shifted left by the binary exponent mod 4 (at most 3 bits, into the 56-bit
    IBM fraction: exact), the exponent becomes base 16 excess 64. NaN is the SAS missing value
    ".", magnitudes below 2**-260 (zero, -0.0, subnormals) become the IBM zero, and from 2**249
    up (and +-inf) the largest IBM number with the sign kept.
    """
    x = np.ascontiguousarray(values, dtype=np.float64)
    bits = x.view(np.uint64)
    exponent = (bits >> np.uint64(52)) & np.uint64(0x7FF)  # biased by 1023
    # exponent + 1 = 4 * (IBM exponent + 191) + shift, as (e - 1023) = 4 * (e' - 65) + shift
    step = exponent + np.uint64(1)
    out = bits & _FRACTION
    out |= _HIDDEN_BIT
    out <<= step & np.uint64(3)
    step >>= np.uint64(2)
    step -= np.uint64(191)  # IBM exponent (wraps below 2**-260; those are set below)
    step <<= np.uint64(56)
    out |= step
    out |= bits & _SIGN
    odd = (exponent < np.uint64(1023 - 260)) | (exponent > np.uint64(1023 + 248))
    if odd.any():  # zeros, subnormals, too small or too large, inf, NaN
        tiny = odd & (exponent < np.uint64(1023 - 260))
        out[tiny] = 0
        big = odd & ~tiny
        out[big] = (bits[big] & _SIGN) | _IBM_LARGEST
        out[np.isnan(x)] = _IBM_MISSING
    return out


def _prepare(
    df: pd.DataFrame,
    dataset: str,
    label: str,
    column_labels: Mapping[str, str],
    date_columns: tuple[str, ...],
    datetime_columns: tuple[str, ...] = (),
    layout: XptLayout | None = None,
) -> tuple[list[XptProblem], list[_Column]]:
    """Check the frame and convert its columns for writing (text as distinct values plus codes,
    numbers and dates as float64 with dates as SAS day counts); one pass serves both.
    ``layout``: the frame is a stretch of a larger one (:func:`prepare_xpt`)."""
    problems = _check_dataset(dataset, label)
    problems += _check_names(df.columns, dataset)
    if df.shape[1] == 0:
        problems.append(XptProblem(dataset, None, "no-variables", "the frame has no columns"))
    names = set(df.columns)
    problems += [
        XptProblem(dataset, name, "date-column", "listed in date_columns but not in the frame")
        for name in date_columns
        if name not in names
    ]
    problems += [
        XptProblem(dataset, name, "date-column", "listed in datetime_columns but not in the frame")
        for name in datetime_columns
        if name not in names
    ]
    columns: list[_Column] = []
    # one thread: each column costs a few numpy passes over its buffers (no hashing), less
    # than handing it to a thread pool, while the XPT writes run in other threads
    converted = [_column(df.iloc[:, pos], df.index, dataset, str(name), name in date_columns,
                         name in datetime_columns, layout)
                 for pos, name in enumerate(df.columns)]
    for name, (column, found) in zip(df.columns, converted):
        var = str(name)
        problems += _check_label(column_labels.get(name), dataset, var)
        problems += found
        if column is not None:
            column.label = str(column_labels.get(name) or "")
            columns.append(column)
    char_only = len(columns) == df.shape[1] and all(c.kind == "char" for c in columns)
    if char_only and len(df) and (layout is None or layout.last) and all(_blank_at(c, len(df) - 1) for c in columns):
        problems.append(
            XptProblem(
                dataset,
                None,
                "trailing-blank-row",
                f"the last row (index {_row(df.index, len(df) - 1)}) is blank in every column "
                "and the frame has no numeric column: XPT readers cannot tell it from record "
                "padding and drop it",
            )
        )
    return problems, columns


def _column(
    series: pd.Series, index: pd.Index, dataset: str, var: str, as_date: bool,
    as_datetime: bool = False, layout: XptLayout | None = None,
) -> tuple[_Column | None, list[XptProblem]]:
    """Converted values and problems of one column (None: it cannot be written)."""
    kind = _kind(series) if layout is None else layout.kinds[var]
    problems = []
    if (as_date or as_datetime) and kind != "date":
        listed = "datetime_columns" if as_datetime else "date_columns"
        if series.notna().any():
            detail = (
                f"listed in {listed} but holds {kind or 'unsupported'} values, "
                "not dates (datetime64 or datetime.date)"
            )
            problems.append(XptProblem(dataset, var, "date-column", detail))
        else:
            kind = "date"
    if kind == "date" and as_datetime:
        stamps = _as_datetime(series)
        if stamps is not None:
            found, seconds = _as_seconds(stamps, index, dataset, var)
            return _Column(var, "", "datetime", 8, numbers=seconds), problems + found
    if kind == "char":
        column, found = _as_char(series, index, dataset, var,
                                 None if layout is None else layout.widths[var])
        return column, problems + found
    if kind == "num":
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if series.dtype == np.float64:  # NaN is missing already: no copy
            numbers = series.to_numpy()
        else:
            numbers = series.to_numpy(dtype="float64", na_value=np.nan)
        column = _Column(var, "", "num", 8, numbers=numbers)
        return column, problems + _check_num(numbers, index, dataset, var)
    if kind == "date":
        stamps = _as_datetime(series)
        if stamps is not None:
            found, days = _as_days(stamps, index, dataset, var)
            return _Column(var, "", "date", 8, numbers=days), problems + found
        detail = "timezone-aware datetimes are not SAS dates; convert to naive dates first"
    else:
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        detail = f"dtype {series.dtype} (values: {inferred}) is not character, numeric or date"
    return None, problems + [XptProblem(dataset, var, "column-type", detail)]


def _check_dataset(dataset: str, label: str) -> list[XptProblem]:
    """Dataset name and label limits."""
    problems = []
    if not 1 <= len(dataset) <= MAX_NAME_LENGTH:
        problems.append(
            XptProblem(
                dataset,
                None,
                "dataset-name-length",
                f"dataset name {dataset!r} has {len(dataset)} characters; "
                f"must be 1-{MAX_NAME_LENGTH}",
            )
        )
    if dataset and not _NAME.fullmatch(dataset):
        problems.append(
            XptProblem(
                dataset,
                None,
                "dataset-name-chars",
                f"dataset name {dataset!r} must start with a letter and use only ASCII "
                "letters, digits and underscores",
            )
        )
    problems += [
        XptProblem(dataset, None, f"dataset-{p.rule}", p.detail)
        for p in _check_label(label, dataset, None)
    ]
    return problems


def _check_names(columns: pd.Index, dataset: str) -> list[XptProblem]:
    """Variable name length, characters and case-insensitive uniqueness."""
    problems = []
    seen: dict[str, str] = {}
    for name in columns:
        var = str(name)
        if len(var) > MAX_NAME_LENGTH:
            problems.append(
                XptProblem(
                    dataset,
                    var,
                    "name-length",
                    f"variable name has {len(var)} characters; limit is {MAX_NAME_LENGTH}",
                )
            )
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.append(
                XptProblem(
                    dataset,
                    var,
                    "name-chars",
                    "variable name must start with a letter and use only ASCII letters, "
                    "digits and underscores",
                )
            )
        first = seen.get(var.upper())
        if first is None:
            seen[var.upper()] = var
        else:
            problems.append(
                XptProblem(
                    dataset,
                    var,
                    "name-duplicate",
                    f"same name as column {first!r} (SAS names are case-insensitive)",
                )
            )
    return problems


def _check_label(label: object, dataset: str, var: str | None) -> list[XptProblem]:
    """Label present, at most 40 characters and ASCII (variable or, with var=None, dataset)."""
    what = "dataset" if var is None else "variable"
    if not isinstance(label, str) or not label.strip():
        return [XptProblem(dataset, var, "label-missing", f"no {what} label (got {label!r})")]
    problems = []
    if len(label) > MAX_LABEL_LENGTH:
        problems.append(
            XptProblem(
                dataset,
                var,
                "label-length",
                f"{what} label has {len(label)} characters; limit is {MAX_LABEL_LENGTH}: "
                f"{label!r}",
            )
        )
    if not label.isascii():
        problems.append(
            XptProblem(
                dataset, var, "label-ascii", f"{what} label is not ASCII: {_non_ascii(label)}"
            )
        )
    return problems


def _kind(series: pd.Series) -> _Kind | None:
    """XPT type of a column: character, numeric, date, or None when it is none of them."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _kind(series.astype(object))
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        return None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if pd.api.types.is_numeric_dtype(dtype):
        return "num"
    if pd.api.types.is_string_dtype(dtype) or dtype == object:
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred in ("string", "empty"):
            return "char"
        if inferred in ("date", "datetime", "datetime64"):
            return "date"
        if inferred in ("integer", "floating", "mixed-integer-float"):
            return "num"
    return None


def _as_char(
    series: pd.Series, index: pd.Index, dataset: str, var: str, width: int | None = None
) -> tuple[_Column, list[XptProblem]]:
    """Text column as one pyarrow string per row, and its problems (ASCII only, no NUL, at most
    200 bytes). Missing values are written as "" and trailing blanks are removed: XPT pads
    values with blanks anyway, so they cannot survive a round trip, and keeping them would
    inflate the stored length. The checks scan the column's byte buffer and offsets with numpy
    (no hashing, no Python value per row); only a column that breaks a limit is looked at value
    by value, for the message."""
    import pyarrow.compute as pc

    texts, lengths, data = _trimmed(_arrow_text(series))
    longest = max(1, int(lengths.max(initial=0)))
    if width is not None and longest > width:
        raise ValueError(f"{dataset}.{var}: a value of {longest} bytes in a stretch of a column "
                         f"laid out {width} bytes wide")
    column = _Column(var, "", "char", longest if width is None else width, texts=texts)
    problems = []

    def flagged(flags: np.ndarray, rule: str, what: str, shown) -> None:
        """One problem for the flagged values: how many, and the first one (``shown(pos)``)."""
        if flags.any():
            count, pos = _first(flags)
            problems.append(XptProblem(dataset, var, rule, f"{count} value(s) {what}; first at "
                                                           f"row {_row(index, pos)}: {shown(pos)}"))

    # a byte >= 0x80 or a 0 byte anywhere in the buffer (which may also hold the bytes of
    # null slots) is looked for value by value
    if data.size and int(data.max()) >= 0x80:
        flagged(_flags(pc.invert(pc.string_is_ascii(texts))), "value-ascii", "not ASCII",
                lambda pos: _non_ascii(texts[pos].as_py()))
    if data.size and int(data.min()) == 0:
        flagged(_flags(pc.match_substring(texts, "\x00")), "value-nul",
                "hold a NUL character, which ends a text value in SAS and C readers",
                lambda pos: _show(texts[pos].as_py()))
    flagged(lengths > MAX_CHAR_BYTES, "value-length",
            f"longer than {MAX_CHAR_BYTES} bytes (longest {int(lengths.max(initial=0))})",
            lambda pos: f"{int(lengths[pos])} bytes, {_show(texts[pos].as_py())}")
    return column, problems


def _arrow_text(series: pd.Series):
    """The column as one pyarrow large_string array (null: missing), without copying a
    pyarrow-backed column that is one chunk already."""
    import pyarrow as pa

    values = getattr(series.array, "_pa_array", None)
    if values is None:  # object, categorical or python-backed strings
        values = pa.array(np.asarray(series.astype(object), dtype=object), from_pandas=True,
                          type=pa.large_string())
    if isinstance(values, pa.ChunkedArray):
        values = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values if values.type == pa.large_string() else values.cast(pa.large_string())


def _offsets(texts) -> np.ndarray:
    """The int64 offsets of a large_string array's values (len + 1 of them)."""
    buffer = texts.buffers()[1]
    return np.frombuffer(buffer, dtype=np.int64)[texts.offset:texts.offset + len(texts) + 1]


def _byte_lengths(texts) -> tuple[np.ndarray, np.ndarray]:
    """Bytes per value (0 for missing) and the bytes of all values, as numpy views of the
    array's buffers."""
    import pyarrow.compute as pc

    offsets = _offsets(texts)
    lengths = np.diff(offsets)
    if texts.null_count:
        lengths[_flags(pc.is_null(texts))] = 0
    buffer = texts.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    if len(offsets):
        data = data[: int(offsets[-1])]
    return lengths, data


def _flags(values) -> np.ndarray:
    """A pyarrow boolean array as numpy, null as False."""
    return values.fill_null(False).to_numpy(zero_copy_only=False)


def _blank_at(column: _Column, pos: int) -> bool:
    """Whether a text column is blank (missing, or "" after trimming) at row position ``pos``."""
    return not column.texts[pos].as_py()


def _as_datetime(series: pd.Series) -> pd.Series | None:
    """Naive datetime64 values of a date column, or None if it is timezone-aware."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = series
    else:
        stamps = pd.to_datetime(series.astype(object).where(series.notna(), None))
    return None if isinstance(stamps.dtype, pd.DatetimeTZDtype) else stamps


def _as_seconds(
    stamps: pd.Series, index: pd.Index, dataset: str, var: str
) -> tuple[list[XptProblem], np.ndarray]:
    """SAS datetimes (seconds since 1960-01-01 00:00:00, NaN for NaT) of whole-second
    datetimes, and the problem of fractions of a second, which DATETIME20. would drop."""
    moments = stamps.to_numpy()
    seconds = moments.astype("datetime64[s]")
    missing = np.isnat(moments)
    numbers = seconds.astype(np.int64).astype(np.float64) + _SAS_EPOCH_DAYS * 86400.0
    numbers[missing] = np.nan
    fraction = (moments != seconds) & ~missing
    if not fraction.any():
        return [], numbers
    count, pos = _first(fraction)
    return [XptProblem(dataset, var, "fraction-of-second",
                       f"{count} value(s) have a fraction of a second, e.g. row "
                       f"{_row(index, pos)}: {moments[pos]}; DATETIME20. keeps whole seconds")], numbers


def _as_days(
    stamps: pd.Series, index: pd.Index, dataset: str, var: str
) -> tuple[list[XptProblem], np.ndarray]:
    """SAS day numbers (days since 1960-01-01, NaN for NaT) of whole-day datetimes, and the
    problem of values with a time of day, which DATE9. would silently drop."""
    moments = stamps.to_numpy()
    days = moments.astype("datetime64[D]")
    missing = np.isnat(moments)
    numbers = days.astype(np.int64).astype(np.float64) + _SAS_EPOCH_DAYS
    numbers[missing] = np.nan
    has_time = (moments != days) & ~missing
    if not has_time.any():
        return [], numbers
    count, pos = _first(has_time)
    return [
        XptProblem(
            dataset,
            var,
            "date-time-of-day",
            f"{count} value(s) carry a time of day, which a SAS date cannot hold; "
            f"first at row {_row(index, pos)}: {stamps.iloc[pos]}",
        )
    ], numbers


def _check_num(values: np.ndarray, index: pd.Index, dataset: str, var: str) -> list[XptProblem]:
    """Numbers that survive the IEEE -> IBM double conversion of XPT."""
    magnitude = np.abs(values)
    bad = (magnitude >= _MAX_MAGNITUDE) | ((magnitude > 0) & (magnitude < _MIN_MAGNITUDE))
    if not bad.any():
        return []
    count, pos = _first(bad)
    return [
        XptProblem(
            dataset,
            var,
            "numeric-range",
            f"{count} value(s) outside the XPT number range (non-zero magnitude "
            f"{_MIN_MAGNITUDE:.4g} to below 2**249, finite); first at row {_row(index, pos)}: "
            f"{float(values[pos])!r}",
        )
    ]


def _first(flags: np.ndarray) -> tuple[int, int]:
    """Number of set flags and position of the first one."""
    return int(flags.sum()), int(np.argmax(flags))


def _timestamp() -> str:
    """Local time as XPT headers show it, e.g. ``23NOV26:21:08:35`` (as ReadStat writes it)."""
    now = time.localtime()
    return (f"{now.tm_mday:02d}{_MONTHS[now.tm_mon - 1]}{now.tm_year % 100:02d}:"
            f"{now.tm_hour:02d}:{now.tm_min:02d}:{now.tm_sec:02d}")


def _header(dataset: str, label: str, columns: list[_Column], stamp: str) -> bytes:
    """Every record before the observations: library, member, descriptor, NAMESTR (TS-140),
    with the values ReadStat (pyreadstat 1.3.7) writes for version 5."""

    def record(text: str) -> bytes:
        return text.ljust(_RECORD).encode("ascii")

    def header(name: str, *numbers: int) -> bytes:
        counts = "".join(f"{n:05d}" for n in (numbers + (0,) * 6)[:6])
        return record(f"HEADER RECORD*******{name:<8}HEADER RECORD!!!!!!!{counts}")

    parts = [
        header("LIBRARY"),
        record(f"{'SAS':<8}{'SAS':<8}{'SASLIB':<8}{'6.06':<8}{'bsd4.2':<8}{'':<24}{stamp:>16}"),
        record(stamp),
        header("MEMBER", 0, 0, 0, 160, 0, 140),
        header("DSCRPTR"),
        record(f"{'SAS':<8}{dataset:<8}{'SASDATA':<8}{'6.06':<8}{'bsd4.2':<8}{'':<24}{stamp:>16}"),
        record(f"{stamp:>16}{'':16}{label:<40}{'':8}"),
        header("NAMESTR", 0, len(columns)),
    ]
    namestrs = bytearray()
    position = 0
    for number, column in enumerate(columns, start=1):
        numeric = column.kind != "char"
        date = column.kind == "date"
        stamp_kind = column.kind == "datetime"
        namestrs += _NAMESTR.pack(
            1 if numeric else 2,  # ntype
            0,  # nhfun
            column.width,  # nlng
            number,  # nvar0
            column.name.ljust(8).encode("ascii"),
            column.label.ljust(40).encode("ascii"),
            (b"DATE" if date else b"DATETIME" if stamp_kind else b"").ljust(8),  # nform
            9 if date else 20 if stamp_kind else 0,  # nfl
            0,  # nfd
            1 if numeric else 0,  # nfj: right-justified numbers
            b"",  # nfill
            b" " * 8,  # niform
            0,  # nifl
            0,  # nifd
            position,  # npos
            b"",  # rest
        )
        position += column.width
    parts.append(_pad(bytes(namestrs)))
    parts.append(header("OBS"))
    return b"".join(parts)


def _pad(data: bytes) -> bytes:
    """Blank-pad a section to whole 80-byte records."""
    return data + b" " * (-len(data) % _RECORD)


def _write_file(
    fh: BinaryIO, dataset: str, label: str, columns: list[_Column], nrows: int, stamp: str
) -> None:
    """Write the headers, then the observations in blocks of rows: each block is one uint8
    array of fixed-width records, filled a column at a time (IBM doubles for numbers, text
    values blank-padded to the column width by pyarrow)."""
    fh.write(_header(dataset, label, columns, stamp))
    _write_records(fh, columns, nrows)
    fh.write(b" " * (-(nrows * sum(c.width for c in columns)) % _RECORD))


def _write_records(fh: BinaryIO, columns: list[_Column], nrows: int) -> None:
    """The observations of ``columns`` (``nrows`` rows), without the final padding."""
    offsets = np.cumsum([0] + [c.width for c in columns])
    reclen = int(offsets[-1])
    block_rows = max(1, _CHUNK_BYTES // reclen)
    blocks = [np.empty((min(block_rows, nrows), reclen), dtype=np.uint8) for _ in range(2)]
    # two blocks: one is built here while the other is written by a thread (I/O in parallel)
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending: list[Future | None] = [None, None]
        for number, first in enumerate(range(0, nrows, block_rows)):  # blocks, not records
            last = min(first + block_rows, nrows)
            slot = number % 2
            if pending[slot] is not None:
                pending[slot].result()
            rows = blocks[slot][: last - first]
            for column, offset in zip(columns, offsets):
                if column.kind == "char":
                    rows[:, offset:offset + column.width] = _fixed_width(
                        column.texts.slice(first, last - first), column.width)
                else:
                    rows[:, offset:offset + 8].view(">u8")[:, 0] = ibm_doubles(
                        column.numbers[first:last])
            pending[slot] = writer.submit(fh.write, rows)
        for job in pending:
            if job is not None:
                job.result()


def _fixed_width(texts, width: int) -> np.ndarray:
    """ASCII values (null: "") blank-padded to ``width`` bytes, as a (rows, width) uint8 view
    of the padded array's data buffer."""
    import pyarrow.compute as pc

    offsets = _offsets(texts)
    if texts.null_count or offsets[-1] - offsets[0] != len(texts) * width:  # not all full width
        # padded by bytes (the values are ASCII, checked by prepare_xpt): 5x faster than
        # utf8_rpad, which counts characters
        texts = pc.ascii_rpad(texts.fill_null(""), width=width, padding=" ")
        offsets = _offsets(texts)
    data = np.frombuffer(texts.buffers()[2] or b"", dtype=np.uint8)
    start = int(offsets[0])
    return data[start:start + len(texts) * width].reshape(len(texts), width)


def _row(index: pd.Index, pos: int) -> str:
    """Index label of a row, for messages (numpy scalars shown as plain Python values)."""
    label = index[pos]
    return repr(label.item() if isinstance(label, np.generic) else label)


def _show(value: str, limit: int = 40) -> str:
    """repr of a value, shortened for messages."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}..."


def _non_ascii(text: str) -> str:
    """The text with its first non-ASCII character and position, for messages."""
    pos, char = next((i, c) for i, c in enumerate(text) if not c.isascii())
    return f"{_show(text)} has {char!r} (U+{ord(char):04X}) at position {pos}"


@dataclass(frozen=True)
class XptMeta:
    """What an XPT file says about its dataset and variables (per variable name)."""

    name: str
    label: str
    labels: dict[str, str]
    types: dict[str, Literal["Char", "Num"]]
    lengths: dict[str, int]
    formats: dict[str, str]  # e.g. "DATE9", "" when none


def read_xpt(path: str | Path, *, dates: bool = True) -> tuple[pd.DataFrame, XptMeta]:
    """Read an XPT file back, with its metadata, through pyreadstat (an independent reader);
    a ``.sas7bdat`` file (a SAS data set, e.g. a QC programmer's) is read the same way.

    Character columns come back as ``str`` with ``""`` for missing; ``dates`` True gives
    DATE-formatted numbers as datetime64, False leaves them SAS day numbers. A file that cannot
    be read is bad input (:class:`~itp_adam.errors.InputError`)."""
    import pyreadstat

    from ..errors import InputError

    from .xpt_read import one_member

    sas7bdat = Path(path).suffix.lower() == ".sas7bdat"
    reader = pyreadstat.read_sas7bdat if sas7bdat else pyreadstat.read_xport
    if not sas7bdat:
        one_member(path)  # pyreadstat would read a second member's records as the first's
    try:
        if dates:
            frame, meta = reader(str(path), dates_as_pandas_datetime=True)
        else:
            frame, meta = reader(str(path), disable_datetime_conversion=True)
    except Exception as exc:  # pyreadstat raises its own error types
        what = "a SAS data set (sas7bdat)" if sas7bdat else "a SAS transport file"
        raise InputError(f"cannot be read as {what} ({exc})", file=str(path),
                         expected="a sas7bdat file" if sas7bdat else "an XPT v5 file") from exc
    types = {k: "Char" if v == "string" else "Num" for k, v in meta.readstat_variable_types.items()}
    for name in frame.columns:
        if types[name] == "Char":
            frame[name] = frame[name].astype("string").fillna("").astype(str)
    labels = meta.column_names_to_labels or {}
    return frame, XptMeta(
        name=meta.table_name or "", label=meta.file_label or "",
        labels={name: labels.get(name) or "" for name in meta.column_names}, types=types,
        lengths={k: int(v) for k, v in meta.variable_storage_width.items()},
        formats={k: _format_name(v) for k, v in meta.original_variable_types.items()})


def _format_name(text: str | None) -> str:
    """A format as pyreadstat reports it, spelled one way: ``DATE9`` whether the reader says
    ``DATE9`` (1.3.7), ``DATE9.`` (1.3.8) or, for none, ``NULL`` (1.2.7) or nothing."""
    text = (text or "").strip().upper()
    return "" if text == "NULL" else text.rstrip(".")
