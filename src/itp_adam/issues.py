"""The data-issues log: every data problem found in a run and the rule applied to it.

A run opens a log with :func:`collect`; any stage or derivation reports into it with
:func:`report`, a whole column of problems at a time (no loop over records). The log becomes
``data-issues.csv``: one row per problem with the raw form, SUBJID, raw row (line number in
the CSV file, or row in the sheet, header = 1), column, value, the rule applied and a severity:

- ``info``: a SAP rule did what it says (a record after the cut-off left out, an end date
  removed at the cut-off); listed so every raw row is accounted for.
- ``warning``: a data problem that a rule resolved (duplicate collapsed, unknown unit left
  without a standard value, record of a subject missing from DM left out).
- ``error``: a data problem kept as collected that the study team must look at (a value
  outside its codelist, an uncoded AE term).

Outside :func:`collect` (e.g. a derivation called from a unit test), reports are discarded.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from .derive.columns import sort_order

SUBJECT = "SUBJID"
"""The log's subject column: a working frame's SUBJID, or its USUBJID when it has no SUBJID."""
COLUMNS = ["severity", "form", SUBJECT, "row", "column", "value", "rule", "dataset"]
SEVERITIES = ("info", "warning", "error")


class IssueLog:
    """Collected data issues of one run."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []
        self._summaries: list[pd.DataFrame] = []  # COLUMNS + count; rule holds {count}

    def add(self, rows: pd.DataFrame, *, rule: str, severity: str, column: str = "",
            values: pd.Series | str | None = None, dataset: str = "") -> None:
        """Report one issue per row of ``rows`` (a slice of a working frame with ``_FORM``,
        ``SUBJID`` (or ``USUBJID``) and ``_ROW`` columns where known); ``values`` are the
        offending values. ``dataset`` defaults to the rows' ``DOMAIN`` when the frame has one."""
        if len(rows):
            self._parts.append(_entries(rows, rule=rule, severity=severity, column=column,
                                        values=values, dataset=dataset))
        else:
            _check_severity(severity)

    def add_summary(self, rows: pd.DataFrame, *, rule: str, severity: str, column: str = "",
                    values: str = "", dataset: str = "") -> None:
        """One entry for many records (``rows``: all of them), e.g. a whole parameter in a unit
        the grading cannot use: ``{count}`` in ``rule`` becomes the number of records, and the
        entry names the record of the first subject (smallest id, then row). Summaries with the
        same rule, value, column and dataset are one entry: the logs of two partitions of
        subjects merge into what one log would hold."""
        _check_severity(severity)
        if len(rows) == 0:
            return
        keys = [(_text(rows[name]) if name != "_ROW" else rows[name], True)
                for name in (_subject_column(rows), "_ROW") if name in rows]
        first = rows.iloc[sort_order(keys, len(rows))[:1]] if keys else rows.iloc[:1]
        entry = _entries(first, rule=rule, severity=severity, column=column, values=values,
                         dataset=dataset)
        self._summaries.append(entry.assign(count=len(rows)))

    def extend(self, other: IssueLog, keep: Callable[[pd.DataFrame], pd.Series] | None = None) -> None:
        """Add the issues of another log (a partition's); ``keep``: which of its entries."""
        for mine, theirs in ((self._parts, other._parts), (self._summaries, other._summaries)):
            for frame in theirs:
                mine.append(frame if keep is None else frame.loc[keep(frame)])

    def frame(self) -> pd.DataFrame:
        """All issues, sorted by form, row, dataset, subject and column (a stable order for
        reviewers and diffs, the same whatever the partitions: issues that tie are one
        subject's, reported in the order of the stages)."""
        parts = self._parts + ([self._summary_frame()] if self._summaries else [])
        if not parts:
            return pd.DataFrame({name: pd.Series(dtype="Int64" if name == "row" else "str")
                                 for name in COLUMNS})
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["form", "row", "dataset", "SUBJID", "column", "rule"], kind="stable",
                               na_position="last").reset_index(drop=True)[COLUMNS]

    def _summary_frame(self) -> pd.DataFrame:
        """The summaries merged: per rule, value, column and dataset the first subject's entry
        and the records counted in all of them."""
        whole = pd.concat(self._summaries, ignore_index=True)
        key = ["severity", "form", "column", "value", "rule", "dataset"]
        whole = whole.sort_values([*key, SUBJECT, "row"], kind="stable", na_position="last")
        first = whole.drop_duplicates(key).set_index(key)
        first["count"] = whole.groupby(key, sort=False)["count"].sum()
        first = first.reset_index()
        first["rule"] = [rule.replace("{count}", str(count))
                         for rule, count in zip(first["rule"], first["count"])]  # a few entries
        return first[COLUMNS]

    def counts(self) -> dict[str, int]:
        """Number of issues per severity."""
        parts = self._parts + ([self._summary_frame()] if self._summaries else [])
        frame = pd.concat(parts) if parts else pd.DataFrame({"severity": []})
        return {severity: int((frame["severity"] == severity).sum()) for severity in SEVERITIES}


def _text(values: pd.Series) -> pd.api.extensions.ExtensionArray:
    """Values as ``str`` text, "" for missing. A ``str`` column stays the pyarrow array it is
    (no round trip through Python objects); other dtypes are formatted by ``astype("string")``."""
    if values.dtype != "str":
        values = values.astype("string")
    return values.fillna("").astype("str").array


def _check_severity(severity: str) -> None:
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")


def _subject_column(rows: pd.DataFrame) -> str:
    """Where a working frame holds the subject: SUBJID, else USUBJID."""
    return SUBJECT if SUBJECT in rows else "USUBJID"


def _entries(rows: pd.DataFrame, *, rule: str, severity: str, column: str = "",
             values: pd.Series | str | None = None, dataset: str = "") -> pd.DataFrame:
    """The log's rows for ``rows`` (one each): see :meth:`IssueLog.add`."""
    _check_severity(severity)
    n = len(rows)

    def col(name: str) -> pd.api.extensions.ExtensionArray | str:
        return _text(rows[name]) if name in rows else ""

    if values is None:
        shown = col(column) if column else ""
    elif isinstance(values, str):
        shown = values
    else:
        shown = _text(values)
    row = rows["_ROW"].to_numpy() if "_ROW" in rows else np.full(n, pd.NA)
    return pd.DataFrame({
        "severity": severity, "form": col("_FORM"), SUBJECT: col(_subject_column(rows)),
        "row": pd.array(row, dtype="Int64"), "column": column, "value": shown,
        "rule": rule, "dataset": dataset if dataset else col("DOMAIN"),
    })


_CURRENT: contextvars.ContextVar[IssueLog | None] = contextvars.ContextVar("itp_adam_issues",
                                                                            default=None)


@contextlib.contextmanager
def collect() -> Iterator[IssueLog]:
    """Open a log that :func:`report` writes into for the duration of the ``with`` block."""
    log = IssueLog()
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        _CURRENT.reset(token)


def report_summary(rows: pd.DataFrame, *, rule: str, severity: str, column: str = "",
                   values: str = "", dataset: str = "") -> None:
    """One entry for many records into the open log (see :meth:`IssueLog.add_summary`)."""
    log = _CURRENT.get()
    if log is not None:
        log.add_summary(rows, rule=rule, severity=severity, column=column, values=values,
                        dataset=dataset)


def report(rows: pd.DataFrame, *, rule: str, severity: str, column: str = "",
           values: pd.Series | str | None = None, dataset: str = "") -> None:
    """Report issues into the open log (see :meth:`IssueLog.add`); no-op outside :func:`collect`."""
    log = _CURRENT.get()
    if log is not None:
        log.add(rows, rule=rule, severity=severity, column=column, values=values, dataset=dataset)
