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
from collections.abc import Iterator

import numpy as np
import pandas as pd

SUBJECT = "SUBJID"
"""The log's subject column; a working frame's subject id is read from a column of this name."""
COLUMNS = ["severity", "form", SUBJECT, "row", "column", "value", "rule", "dataset"]
SEVERITIES = ("info", "warning", "error")


class IssueLog:
    """Collected data issues of one run."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(self, rows: pd.DataFrame, *, rule: str, severity: str, column: str = "",
            values: pd.Series | str | None = None, dataset: str = "") -> None:
        """Report one issue per row of ``rows`` (a slice of a working frame with ``_FORM``,
        ``SUBJID`` and ``_ROW`` columns where known); ``values`` are the offending values.
        ``dataset`` defaults to the rows' ``DOMAIN`` when the frame has one."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")
        if len(rows) == 0:
            return
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
        datasets = dataset if dataset else col("DOMAIN")
        self._parts.append(pd.DataFrame({
            "severity": severity, "form": col("_FORM"), "SUBJID": col("SUBJID"),
            "row": pd.array(row, dtype="Int64"), "column": column, "value": shown,
            "rule": rule, "dataset": datasets,
        }))

    def frame(self) -> pd.DataFrame:
        """All issues, sorted by form, row and column (a stable order for reviewers and diffs)."""
        if not self._parts:
            return pd.DataFrame({name: pd.Series(dtype="Int64" if name == "row" else "str")
                                 for name in COLUMNS})
        out = pd.concat(self._parts, ignore_index=True)
        return out.sort_values(["form", "row", "column", "rule"], kind="stable",
                               na_position="last").reset_index(drop=True)[COLUMNS]

    def counts(self) -> dict[str, int]:
        """Number of issues per severity."""
        frame = pd.concat(self._parts) if self._parts else pd.DataFrame({"severity": []})
        return {severity: int((frame["severity"] == severity).sum()) for severity in SEVERITIES}


def _text(values: pd.Series) -> pd.api.extensions.ExtensionArray:
    """Values as ``str`` text, "" for missing. A ``str`` column stays the pyarrow array it is
    (no round trip through Python objects); other dtypes are formatted by ``astype("string")``."""
    if values.dtype != "str":
        values = values.astype("string")
    return values.fillna("").astype("str").array


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


def report(rows: pd.DataFrame, *, rule: str, severity: str, column: str = "",
           values: pd.Series | str | None = None, dataset: str = "") -> None:
    """Report issues into the open log (see :meth:`IssueLog.add`); no-op outside :func:`collect`."""
    log = _CURRENT.get()
    if log is not None:
        log.add(rows, rule=rule, severity=severity, column=column, values=values, dataset=dataset)
