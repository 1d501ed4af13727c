"""SAS XPORT version 5 writer with FDA submission checks, in the spirit of R's xportr.

FDA accepts study data only as SAS transport files, version 5 (TS-140 layout). That format has
hard limits (8-character names, 40-character labels, 200-byte character values) and the FDA adds
more (ASCII only). pyreadstat silently truncates or corrupts some of these instead of failing, so
:func:`check_xpt` finds every problem first and :func:`write_xpt` refuses to write a file that
would not match its frame. See ``docs/xpt.md``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyreadstat

__all__ = ["XptLimitError", "XptProblem", "check_xpt", "write_xpt"]

MAX_NAME_LENGTH = 8
MAX_LABEL_LENGTH = 40
MAX_CHAR_BYTES = 200
DATE_FORMAT = "DATE9."

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SAS_EPOCH = pd.Timestamp("1960-01-01")
# Magnitudes pyreadstat 1.3.7 (ReadStat) writes faithfully as IBM doubles, measured by round trip:
# from 2**249 up (and for +-inf) it writes the largest IBM number, which reads back as inf;
# non-zero magnitudes below the smallest IBM double (16**-65) are written as 0.
_MAX_MAGNITUDE = 2.0**249
_MIN_MAGNITUDE = 16.0**-65

_Kind = Literal["char", "num", "date"]


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
) -> None:
    """Check, then write `df` as XPT v5 to `path`; raises XptLimitError (and writes nothing) on
    any problem.

    datetime64 and ``datetime.date`` columns are always written as SAS dates; ``date_columns``
    also makes an all-missing column (e.g. all-None) a date, and is checked to hold dates only.
    The file is written to a temporary name next to ``path`` and renamed into place, so a failed
    write leaves no partial file and keeps any previous file at ``path``.
    """
    problems, out, dates = _prepare(df, dataset, label, column_labels, tuple(date_columns))
    if problems:
        raise XptLimitError(problems)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        pyreadstat.write_xport(
            out,
            tmp,
            file_label=label,
            column_labels=[column_labels[name] for name in out.columns],
            table_name=dataset.upper(),
            file_format_version=5,
            variable_format={name: DATE_FORMAT for name in dates} or None,
        )
        with open(tmp, "r+b") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _prepare(
    df: pd.DataFrame,
    dataset: str,
    label: str,
    column_labels: Mapping[str, str],
    date_columns: tuple[str, ...],
) -> tuple[list[XptProblem], pd.DataFrame, list[str]]:
    """Check the frame and build what pyreadstat writes (blank-filled text, float numbers, dates
    as SAS day counts) plus the names of the date columns; one pass serves both."""
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
    out: dict[str, pd.Series] = {}
    kinds: list[_Kind] = []
    for pos, name in enumerate(df.columns):
        var = str(name)
        problems += _check_label(column_labels.get(name), dataset, var)
        kind, values, found = _column(
            df.iloc[:, pos].reset_index(drop=True), df.index, dataset, var, name in date_columns
        )
        problems += found
        if kind is not None:
            out[var] = values
            kinds.append(kind)
    char_only = kinds == ["char"] * df.shape[1]
    if char_only and len(df) and all(v.iloc[-1] == "" for v in out.values()):
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
    dates = [var for var, kind in zip(out, kinds) if kind == "date"]
    return problems, pd.DataFrame(out), dates


def _column(
    series: pd.Series, index: pd.Index, dataset: str, var: str, as_date: bool
) -> tuple[_Kind | None, pd.Series, list[XptProblem]]:
    """Type, converted values and problems of one column (kind None: it cannot be written)."""
    kind = _kind(series)
    problems = []
    if as_date and kind != "date":
        if series.notna().any():
            detail = (
                f"listed in date_columns but holds {kind or 'unsupported'} values, "
                "not dates (datetime64 or datetime.date)"
            )
            problems.append(XptProblem(dataset, var, "date-column", detail))
        else:
            kind = "date"
    if kind == "char":
        values = _as_char(series)
        return kind, values, problems + _check_char(values, index, dataset, var)
    if kind == "num":
        values = pd.Series(series.to_numpy(dtype="float64", na_value=np.nan))
        return kind, values, problems + _check_num(values, index, dataset, var)
    if kind == "date":
        stamps = _as_datetime(series)
        if stamps is not None:
            days = (stamps - _SAS_EPOCH) / pd.Timedelta(days=1)
            return kind, days, problems + _check_date(stamps, index, dataset, var)
        detail = "timezone-aware datetimes are not SAS dates; convert to naive dates first"
    else:
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        detail = f"dtype {series.dtype} (values: {inferred}) is not character, numeric or date"
    return None, series, problems + [XptProblem(dataset, var, "column-type", detail)]


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


def _as_char(series: pd.Series) -> pd.Series:
    """Text with missing values as "" and trailing blanks removed (XPT pads with blanks anyway,
    so they cannot survive a round trip, and keeping them would inflate the stored length)."""
    return series.astype(object).where(series.notna(), "").astype("str").str.rstrip(" ")


def _as_datetime(series: pd.Series) -> pd.Series | None:
    """Naive datetime64 values of a date column, or None if it is timezone-aware."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = series
    else:
        stamps = pd.to_datetime(series.astype(object).where(series.notna(), None))
    return None if isinstance(stamps.dtype, pd.DatetimeTZDtype) else stamps


def _check_char(values: pd.Series, index: pd.Index, dataset: str, var: str) -> list[XptProblem]:
    """ASCII-only values of at most 200 bytes."""
    problems = []
    non_ascii = ~values.str.isascii().to_numpy(dtype=bool)
    if non_ascii.any():
        pos = int(np.flatnonzero(non_ascii)[0])
        problems.append(
            XptProblem(
                dataset,
                var,
                "value-ascii",
                f"{int(non_ascii.sum())} value(s) not ASCII; first at row {_row(index, pos)}: "
                f"{_non_ascii(values.iloc[pos])}",
            )
        )
    nbytes = values.str.encode("utf-8").str.len().to_numpy(dtype=np.int64)
    too_long = nbytes > MAX_CHAR_BYTES
    if too_long.any():
        pos = int(np.flatnonzero(too_long)[0])
        problems.append(
            XptProblem(
                dataset,
                var,
                "value-length",
                f"{int(too_long.sum())} value(s) longer than {MAX_CHAR_BYTES} bytes (longest "
                f"{int(nbytes.max())}); first at row {_row(index, pos)}: {int(nbytes[pos])} bytes, "
                f"{_show(values.iloc[pos])}",
            )
        )
    return problems


def _check_num(values: pd.Series, index: pd.Index, dataset: str, var: str) -> list[XptProblem]:
    """Numbers that survive the IEEE -> IBM double conversion of XPT."""
    magnitude = np.abs(values.to_numpy())
    bad = (magnitude >= _MAX_MAGNITUDE) | ((magnitude > 0) & (magnitude < _MIN_MAGNITUDE))
    if not bad.any():
        return []
    pos = int(np.flatnonzero(bad)[0])
    return [
        XptProblem(
            dataset,
            var,
            "numeric-range",
            f"{int(bad.sum())} value(s) outside the XPT number range (non-zero magnitude "
            f"{_MIN_MAGNITUDE:.4g} to below 2**249, finite); first at row {_row(index, pos)}: "
            f"{float(values.iloc[pos])!r}",
        )
    ]


def _check_date(stamps: pd.Series, index: pd.Index, dataset: str, var: str) -> list[XptProblem]:
    """Date values must be whole days: a time of day would be silently dropped by DATE9."""
    has_time = (stamps.notna() & (stamps != stamps.dt.normalize())).to_numpy(dtype=bool)
    if not has_time.any():
        return []
    pos = int(np.flatnonzero(has_time)[0])
    return [
        XptProblem(
            dataset,
            var,
            "date-time-of-day",
            f"{int(has_time.sum())} value(s) carry a time of day, which a SAS date cannot hold; "
            f"first at row {_row(index, pos)}: {stamps.iloc[pos]}",
        )
    ]


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
