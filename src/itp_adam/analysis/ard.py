"""The analysis results data (ARD): every analysis of a reporting event computed into the rows
of one long table, one row per analysis, group, variable level and statistic.

Columns (:data:`ARD_COLUMNS`, with ``group1``... as many as the analysis with the most
groupings needs):

``analysis_id``, ``dataset``, ``analysis_set``, ``data_subset``, ``method``
    the analysis and the ids of its analysis set, data subset and method (``ars.json`` holds
    their definitions);
``group1``, ``group1_level``, ``group1_label``, ``group2``, ...
    the grouping variable of each grouping factor, in the analysis' order, the group's value
    (text; ``6`` for 6.0) and its label (the ``all`` label for the group of everyone). A shift
    adds its baseline variable as the last grouping, a hierarchy the outer variables of a
    record's level;
``variable``, ``variable_level``
    the analysis variable and, for a count, the level counted (empty: the subjects of the data
    subset);
``operation_id``, ``stat_name``, ``stat_label``, ``stat``, ``stat_fmt``
    the method's operation, its statistic (n, N, pct, ci_low, ci_high, mean, sd, median, q1,
    q3, min, max), the value unrounded (``pct``, ``ci_low``, ``ci_high`` in percent) and as
    shown: rounded by the method's ``rounding`` to the operation's ``decimals`` (``pct`` from
    the exact fraction n / N), empty when missing (a percent of N = 0).

Rows come in the order of the analyses (files in name order, then their order in the file),
then the groups (each grouping's levels in order, the last grouping varying fastest), then the
variable's levels, then the method's operations. Every combination of groups is a row,
including groups nobody is in (N = 0); only a hierarchy's levels are the combinations found.

How the numbers are made: the analysis set is a condition on the subject-level dataset; the
analysed records are those of the analysis dataset in the data subset whose subject is in the
analysis set (variables of the subject-level dataset are taken by USUBJID). Subjects are
counted distinct per group, with whole-array operations (integer group codes, ``bincount``
and hashing of (group, subject) pairs): no loop over subjects or records.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..derive.columns import column_codes, positions
from ..spec.expr import ExpressionError
from ..spec.model import SpecError, SpecProblem
from . import stats
from .model import SUBJECT, Analysis, Grouping, Method, ReportingEvent, _Conditioned, _Item, level_text

META_COLUMNS = ["analysis_id", "dataset", "analysis_set", "data_subset", "method"]
STAT_COLUMNS = ["variable", "variable_level", "operation_id", "stat_name", "stat_label", "stat",
                "stat_fmt"]


def group_columns(count: int) -> list[str]:
    """``group1, group1_level, group1_label, group2, ...`` for ``count`` groupings."""
    return [f"group{k}{suffix}" for k in range(1, count + 1) for suffix in ("", "_level", "_label")]


def ard_columns(groups: int) -> list[str]:
    return META_COLUMNS + group_columns(groups) + STAT_COLUMNS


ARD_COLUMNS = ard_columns(2)
"""The columns of an ARD whose analyses have at most two groupings (more add group3...)."""


# --------------------------------------------------------------------------------------------
# Errors while computing (the specs were checked; the data may still not fit them)


def _error(item: _Item, message: str, *keys: str | int) -> SpecError:
    return SpecError([SpecProblem(item.spec_file, item.line_of(*keys), message,
                                  context=item.context())])


# --------------------------------------------------------------------------------------------
# Data access: datasets, subjects, conditions


class _Data:
    """The built datasets, with what several analyses share computed once: each dataset's
    subject positions in a subject-level dataset, the masks of analysis sets and subsets."""

    def __init__(self, event: ReportingEvent, datasets: Mapping[str, pd.DataFrame]) -> None:
        self.event, self.datasets = event, datasets
        self._positions: dict[tuple[str, str], np.ndarray] = {}
        self._masks: dict[tuple[str, str, str], np.ndarray] = {}
        self.records: dict[tuple[str, str, str | None], _Records] = {}  # (dataset, analysis
        # set, data subset): analyses of the same records share them
        self._factorized: dict[tuple[str, str], tuple[np.ndarray, list] | None] = {}

    def frame(self, name: str, item: _Item, *keys: str | int) -> pd.DataFrame:
        if name not in self.datasets:
            known = ", ".join(sorted(self.datasets)) or "none"
            raise _error(item, f"dataset {name} was not built (built: {known})", *keys)
        return self.datasets[name]

    def subject_rows(self, name: str, subjects: str, item: _Item) -> np.ndarray:
        """Per record of dataset ``name``, its row in the subject-level dataset (-1: none)."""
        key = (name, subjects)
        if key not in self._positions:
            frame, table = self.frame(name, item), self.frame(subjects, item)
            for dataset, data in ((name, frame), (subjects, table)):
                if SUBJECT not in data.columns:
                    raise _error(item, f"dataset {dataset} has no {SUBJECT}")
            ids = table[SUBJECT]
            if ids.duplicated().any():
                raise _error(item, f"dataset {subjects} has more than one row for subject "
                             f"{ids[ids.duplicated()].iloc[0]!r}: an analysis set's dataset has "
                             "one row per subject")
            self._positions[key] = (np.arange(len(table)) if name == subjects
                                    else positions(frame[SUBJECT], ids))
        return self._positions[key]

    def series(self, name: str, subjects: str, column: str, item: _Item, *keys: str | int) -> pd.Series:
        """A variable for the records of ``name``: its own, else the subject's value in the
        subject-level dataset (missing for a subject not in it)."""
        frame, table = self.frame(name, item), self.frame(subjects, item)
        if column in frame.columns:
            return frame[column].reset_index(drop=True)
        if column in table.columns:
            return _take(table[column], self.subject_rows(name, subjects, item))
        raise _error(item, f"no variable {column} in dataset {name} or {subjects}", *keys)

    def factorized(self, name: str, column: str) -> tuple[np.ndarray, list] | None:
        """A text variable of dataset ``name`` as (per record, the index of its value among
        the distinct values; the distinct values, a missing one as None), encoded once for
        every analysis (``columns.column_codes``: a merged column chunk by chunk, without
        joining its chunks first); None for a variable the dataset does not have or that is
        not text."""
        key = (name, column)
        if key not in self._factorized:
            frame = self.datasets.get(name)
            found = None
            if frame is not None and column in frame.columns \
                    and isinstance(frame[column].dtype, pd.StringDtype):
                codes, distinct = column_codes(frame[column])
                found = codes, distinct.to_pylist()
            self._factorized[key] = found
        return self._factorized[key]

    def columns(self, name: str, subjects: str, wanted: set[str], item: _Item,
                *keys: str | int) -> pd.DataFrame:
        """The ``wanted`` variables for the records of ``name`` (:meth:`series`); the dataset
        itself when it has them all."""
        frame = self.frame(name, item)
        if wanted <= set(frame.columns) and isinstance(frame.index, pd.RangeIndex) \
                and frame.index.start == 0 and frame.index.step == 1:
            return frame
        return pd.DataFrame({column: self.series(name, subjects, column, item, *keys)
                             for column in sorted(wanted)}, index=pd.RangeIndex(len(frame)))

    def mask(self, condition: _Conditioned, name: str, subjects: str) -> np.ndarray:
        """The rows of dataset ``name`` where the condition holds."""
        key = (condition.context(), name, subjects)
        if key not in self._masks:
            expression = condition.expression
            data = self.columns(name, subjects, set(expression.columns), condition, "condition")
            try:
                self._masks[key] = expression.mask(data, condition.values)
            except ExpressionError as exc:
                raise _error(condition, f"condition on dataset {name}: {exc}", "condition") from None
        return self._masks[key]


def _take(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """``values`` at ``rows`` (-1: missing): ``""`` for text, NaN / NaT otherwise."""
    found = rows >= 0
    if found.all():
        return pd.Series(values.take(rows).array, dtype=values.dtype)
    if pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        missing = pd.Series([""], dtype=values.dtype)
    else:
        missing = pd.Series([None], dtype=values.dtype)
    extended = pd.concat([values.reset_index(drop=True), missing], ignore_index=True)
    return pd.Series(extended.take(np.where(found, rows, len(values))).array, dtype=values.dtype)


# --------------------------------------------------------------------------------------------
# Levels: values -> integer codes


def _level_codes(values: pd.Series, levels: list[str] | None, want_first: bool = False
                 ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``(codes, levels, first)``: per value its level (-1: missing, or not one of ``levels``);
    the levels (``levels`` as given, or the distinct values found, sorted: numbers as numbers);
    with ``want_first``, per level the first position holding it (-1: not found; else all -1).
    Values are compared as text
    (:func:`level_text`, once per distinct value): ``3`` in a spec matches 3.0 and "3";
    missing is NaN, NaT or blank text."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    return _coded_levels(codes, distinct, pd.api.types.is_numeric_dtype(values.dtype), levels,
                         want_first)


def _coded_levels(codes: np.ndarray, distinct, numeric: bool, levels: list[str] | None,
                  want_first: bool = False, whole: bool = False
                  ) -> tuple[np.ndarray, list[str], np.ndarray] | None:
    """:func:`_level_codes` of values given as ``codes`` into ``distinct`` (-1: missing), in
    the order of their first use. ``whole``: ``distinct`` are a whole column's (for some of
    its records): the levels found are those of the values used, and None is returned when
    two of them have the same text (their order among the levels would be that of their first
    use, which a whole column's order does not give: then factorise the values themselves)."""
    texts = [_text(value) for value in distinct]
    if levels is None:
        keep = [i for i, text in enumerate(texts) if text != ""]
        if whole:  # only the values these records use, each text once
            used = np.zeros(len(texts), dtype=bool)
            used[codes[codes >= 0]] = True
            keep = [i for i in keep if used[i]]
            if len({texts[i] for i in keep}) < len(keep):
                return None
        if numeric:
            keep.sort(key=lambda i: float(distinct[i]))
        else:
            keep.sort(key=lambda i: texts[i])
        levels = [texts[i] for i in keep]
        mapping = np.full(len(distinct) + 1, -1, dtype=np.int64)
        mapping[np.array(keep, dtype=np.int64)] = np.arange(len(keep))
    else:
        where = {text: index for index, text in enumerate(levels)}
        mapping = np.array([where.get(text, -1) if text else -1 for text in texts] + [-1],
                           dtype=np.int64)
    out = mapping[codes]  # a missing value's code -1 takes mapping[-1], which is -1
    first = np.full(len(levels), len(out), dtype=np.int64)
    if want_first:
        hit = np.flatnonzero(out >= 0)
        np.minimum.at(first, out[hit], hit)
    return out, levels, np.where(first == len(out), -1, first)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return level_text(value)
    return str(value).strip()


# --------------------------------------------------------------------------------------------
# One analysis


@dataclass
class _Factor:
    """A grouping factor of one analysis: its codes per record and its groups."""

    variable: str
    codes: np.ndarray  # per analysed record: the group (-1: none of the levels)
    levels: list[str]  # the group values (text)
    labels: list[str]
    all: str | None  # the label of the group of everyone (first), if any
    subject_codes: np.ndarray | None  # per analysis-set subject, for a subject grouping

    @property
    def size(self) -> int:
        return len(self.levels) + (self.all is not None)

    def level_and_label(self, code: int) -> tuple[str, str]:
        if self.all is not None:
            if code == 0:
                return self.all, self.all
            code -= 1
        return self.levels[code], self.labels[code]


@dataclass
class _Records:
    """The analysed records of one analysis: their rows, subjects (rows of the subject-level
    dataset) and values."""

    rows: np.ndarray
    subjects: np.ndarray


def _stack(factors: list[_Factor], records: int, codes_of=lambda f: f.codes
           ) -> tuple[np.ndarray, np.ndarray]:
    """``(index, cell)``: every record once per group it is in (its own group of each factor,
    and the group of everyone where a factor has one), as record indexes and cell numbers
    (groups combined, the last factor varying fastest). A record outside a factor's levels
    is only in its group of everyone."""
    index = np.arange(records)
    cell = np.zeros(records, dtype=np.int64)
    for factor in factors:
        codes = codes_of(factor)[index]
        mine = codes >= 0
        if factor.all is not None:
            index = np.concatenate([index, index[mine]])
            cell = np.concatenate([cell * factor.size, cell[mine] * factor.size + codes[mine] + 1])
        else:
            index, cell = index[mine], cell[mine] * factor.size + codes[mine]
    return index, cell


FLAGS = 100_000_000
"""Distinct subjects per key are counted with one flag per key and subject, up to this many flags
at a time (bytes; 100,000 subjects in 1,000 groups)."""

BLOCKS = 16
"""Above ``FLAGS``, the keys are taken in blocks whose flags fit, one pass over the pairs per
block, up to this many blocks (1,000,000 subjects in up to 1,600 groups); beyond, the pairs
are hashed. Measured here on 30 million pairs of 1,000,000 subjects: hashing (``pd.unique``)
5.4-6.5 s; blocks 1.7 s (3 or 8 blocks), 3.9 s (20), 5.8 s (40). Every way gives the same
counts (tests/test_analyses.py)."""


def _distinct(keys: np.ndarray, subjects: np.ndarray, count: int, span: int) -> np.ndarray:
    """Per key 0 .. count - 1, the number of distinct subjects (0 .. span - 1) among the pairs."""
    if len(keys) == 0:
        return np.zeros(count, dtype=np.int64)
    keys, subjects = keys.astype(np.int64, copy=False), subjects.astype(np.int64, copy=False)
    per_block = max(1, FLAGS // max(span, 1))  # keys whose flags fit at once
    if -(-count // per_block) > BLOCKS:
        return np.bincount(pd.unique(keys * span + subjects) // span, minlength=count)
    out = np.zeros(count, dtype=np.int64)
    seen = np.zeros(min(count, per_block) * span, dtype=bool)
    for low in range(0, count, per_block):  # a few blocks of keys, each a pass over the pairs
        high = min(low + per_block, count)
        mine = slice(None) if high - low == count else (keys >= low) & (keys < high)
        flags = seen[: (high - low) * span]
        flags[:] = False
        flags[(keys[mine] - low) * span + subjects[mine]] = True
        out[low:high] = flags.reshape(high - low, span).sum(axis=1)
    return out


class _Analysis:
    """One analysis computed: its factors, cells, levels and statistics."""

    def __init__(self, data: _Data, analysis: Analysis) -> None:
        event = data.event
        self.data, self.analysis, self.event = data, analysis, event
        self.method: Method = event.methods[analysis.method]
        self.analysis_set = event.analysis_sets[analysis.analysis_set]
        self.subjects_name = self.analysis_set.dataset
        table = data.frame(self.subjects_name, self.analysis_set, "dataset")
        self.span = len(table)
        self.in_set = data.mask(self.analysis_set, self.subjects_name, self.subjects_name)
        self.records = self._records(analysis.dataset, analysis.data_subset)
        self.factors = [self._factor(event.groupings[name], index)
                        for index, name in enumerate(analysis.groupings)]

    # -- records -------------------------------------------------------------------------

    def _records(self, dataset: str, subset_id: str | None) -> _Records:
        data, analysis = self.data, self.analysis
        key = (dataset, analysis.analysis_set, subset_id)
        if key not in data.records:
            data.frame(dataset, analysis, "dataset")
            subjects = data.subject_rows(dataset, self.subjects_name, analysis)
            keep = np.append(self.in_set, False)[subjects]  # no subject (-1): the False at the end
            if subset_id is not None:
                keep &= data.mask(self.event.data_subsets[subset_id], dataset, self.subjects_name)
            rows = np.flatnonzero(keep)
            data.records[key] = _Records(rows, subjects[rows])
        return data.records[key]

    def values(self, variable: str, *keys: str | int) -> pd.Series:
        """``variable`` for the analysed records (from the analysis dataset, else by subject)."""
        values = self.data.series(self.analysis.dataset, self.subjects_name, variable,
                                  self.analysis, *keys)
        return values.take(self.records.rows).reset_index(drop=True)

    def level_codes(self, variable: str, levels: list[str] | None, want_first: bool,
                    *keys: str | int) -> tuple[np.ndarray, list[str], np.ndarray]:
        """:func:`_level_codes` of ``variable`` for the analysed records; a text variable of
        the analysis dataset from its codes factorised once (no text taken per analysis)."""
        found = self.data.factorized(self.analysis.dataset, variable)
        if found is not None:
            codes, distinct = found
            coded = _coded_levels(codes[self.records.rows], distinct, False, levels, want_first,
                                  whole=True)
            if coded is not None:
                return coded
        return _level_codes(self.values(variable, *keys), levels, want_first)

    # -- groupings -----------------------------------------------------------------------

    def _factor(self, grouping: Grouping, index: int) -> _Factor:
        subject_level = self.event.subject_grouping(self.analysis, grouping)
        declared = [level.text for level in grouping.levels] if grouping.levels is not None else None
        labels_given = [level.shown for level in grouping.levels] if grouping.levels else None
        if subject_level:
            table = self.data.frame(self.subjects_name, grouping, "dataset")
            if grouping.variable not in table.columns:
                raise _error(self.analysis, f"grouping {grouping.id}: no variable "
                             f"{grouping.variable} in dataset {self.subjects_name}", "groupings", index)
            members = np.flatnonzero(self.in_set)
            values = table[grouping.variable].take(members).reset_index(drop=True)
            codes, levels, first = _level_codes(values, declared, grouping.labels_from is not None)
            per_subject = np.full(self.span, -1, dtype=np.int64)
            per_subject[members] = codes
            record_codes = per_subject[self.records.subjects]
            label_source = (table[grouping.labels_from].take(members).reset_index(drop=True)
                            if grouping.labels_from else None)
            label_rows = first  # each level's first analysis-set subject
        else:
            record_codes, levels, first = self.level_codes(
                grouping.variable, declared, grouping.labels_from is not None, "groupings", index)
            per_subject = None
            label_source = (self.data.series(self.analysis.dataset, self.subjects_name,
                                             grouping.labels_from, self.analysis, "groupings", index)
                            if grouping.labels_from else None)
            label_rows = np.full(len(first), -1, dtype=np.int64)  # each level's first
            found = first >= 0  # analysed record, as a row of the dataset
            label_rows[found] = self.records.rows[first[found]]
        if labels_given is not None:
            labels = labels_given
        elif label_source is not None:
            labels = [_text(label_source.iloc[row]) if row >= 0 else level
                      for row, level in zip(label_rows, levels)]
        else:
            labels = list(levels)
        if grouping.all is not None and grouping.all in levels:
            raise _error(grouping, f"all: {grouping.all!r} is also a value of {grouping.variable} "
                         "in the data", "all")
        return _Factor(grouping.variable, record_codes, levels, labels, grouping.all, per_subject)

    # -- cells ---------------------------------------------------------------------------

    @property
    def cells(self) -> int:
        return int(np.prod([factor.size for factor in self.factors], dtype=np.int64))

    def denominators(self, index: np.ndarray, cell: np.ndarray, factors: list[_Factor]) -> np.ndarray:
        """N per cell: subjects of the analysis set in the cell's subject groups
        (``analysis_set``: a data grouping does not split it), or subjects with an analysed
        record in the cell (``data_subset``)."""
        cells = int(np.prod([f.size for f in factors], dtype=np.int64))
        if self.method.denominator == "data_subset":
            return _distinct(cell, self.records.subjects[index], cells, self.span)
        members = np.flatnonzero(self.in_set)
        by_subject = [f for f in factors if f.subject_codes is not None]
        _, sub_cell = _stack(by_subject, len(members), codes_of=lambda f: f.subject_codes[members])
        counts = np.bincount(sub_cell, minlength=int(np.prod([f.size for f in by_subject],
                                                              dtype=np.int64)))
        # the subject cell of each full cell: the subject factors' part of its number
        parts = np.unravel_index(np.arange(cells), [f.size for f in factors]) if factors else []
        sub = np.zeros(cells, dtype=np.int64)
        for factor, part in zip(factors, parts):
            if factor.subject_codes is not None:
                sub = sub * factor.size + part
        return counts[sub] if len(counts) else np.zeros(cells, dtype=np.int64)


def _cell_groups(factors: list[_Factor], cells: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per factor: its variable and, per cell, the group's value and label."""
    if not factors:
        return []
    parts = np.unravel_index(np.arange(cells), [f.size for f in factors])
    out = []
    for factor, part in zip(factors, parts):
        pairs = [factor.level_and_label(code) for code in range(factor.size)]
        levels = np.array([p[0] for p in pairs] or [""], dtype=object)
        labels = np.array([p[1] for p in pairs] or [""], dtype=object)
        out.append((factor.variable, levels[part], labels[part]))
    return out


@dataclass
class _Result:
    """What one analysis gives, before it becomes rows: per (cell, entry) the values of each
    statistic; an entry is a level of the variable (with its extra groups for a hierarchy)."""

    factors: list[_Factor]
    variable: list[str]  # per entry
    level: list[str]  # per entry
    extra: list[list[tuple[str, str, str]]]  # per entry: (variable, level, label) groups
    values: dict[str, np.ndarray]  # stat -> array (cells, entries)
    counts: tuple[np.ndarray, np.ndarray] | None  # (n, N) per (cell, entry), for pct's text


def _count_result(work: _Analysis, level_codes: np.ndarray, entries: int, factors: list[_Factor]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(n, N)`` per (cell, entry): distinct subjects with a record of that level in the
    cell, and the method's denominator."""
    index, cell = _stack(factors, len(work.records.rows))
    subjects = work.records.subjects[index]
    cells = int(np.prod([f.size for f in factors], dtype=np.int64))
    codes = level_codes[index]
    has = codes >= 0
    n = _distinct(cell[has] * entries + codes[has], subjects[has], cells * entries, work.span)
    total = work.denominators(index, cell, factors)
    return n.reshape(cells, entries), np.repeat(total[:, None], entries, axis=1)


def _proportions(method: Method, n: np.ndarray, total: np.ndarray) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(total > 0, 100 * n / np.where(total > 0, total, 1), np.nan)
    out = {"n": n.astype("float64"), "N": total.astype("float64"), "pct": pct}
    if method.confidence_level is not None:
        low, high = stats.exact_limits(n.ravel(), total.ravel(), method.confidence_level)
        out["ci_low"], out["ci_high"] = (100 * low).reshape(n.shape), (100 * high).reshape(n.shape)
    return out


def _analyse(data: _Data, analysis: Analysis) -> _Result:
    work = _Analysis(data, analysis)
    method, kind = work.method, work.method.calculation
    factors = work.factors
    variables = analysis.variables
    declared = [level_text(v) for v in analysis.levels] if analysis.levels is not None else None
    if kind == "summary":
        values = work.values(variables[0], "variable")
        if not (pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)):
            raise _error(analysis, f"method {method.id} (summary) needs a numeric variable; "
                         f"{variables[0]} holds {values.dtype}", "variable")
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        index, cell = _stack(factors, len(numbers))
        cells, x = work.cells, numbers[index]
        n, mean, sd = stats.grouped_moments(x, cell, cells)
        ordered = stats.sorted_by_group(x, cell, cells)
        lows = stats.grouped_quantile(ordered, 0.0, "linear")
        highs = stats.grouped_quantile(ordered, 1.0, "linear")
        found: dict[str, np.ndarray] = {"n": n, "mean": mean, "sd": sd,
                                        "median": stats.grouped_median(ordered), "min": lows,
                                        "max": highs}
        if method.quantiles is not None:
            found["q1"] = stats.grouped_quantile(ordered, 0.25, method.quantiles)
            found["q3"] = stats.grouped_quantile(ordered, 0.75, method.quantiles)
        return _Result(factors, [variables[0]], [""], [[]],
                       {k: v[:, None] for k, v in found.items()}, None)
    if kind == "count":
        if variables:
            codes, levels, _ = work.level_codes(variables[0], declared, False, "variable")
            if analysis.missing is not None:
                codes = np.where(codes < 0, len(levels), codes)
                levels = [*levels, analysis.missing]
            names = [variables[0]] * len(levels)
        else:
            codes, levels, names = np.zeros(len(work.records.rows), dtype=np.int64), [""], [""]
        if analysis.union_with:
            n, total = _union_counts(work, factors)
        else:
            n, total = _count_result(work, codes, len(levels), factors)
        return _Result(factors, names, levels, [[] for _ in levels], _proportions(method, n, total),
                       (n, total))
    if kind == "worst":
        codes, levels, _ = work.level_codes(variables[0], declared, False, "variable")
        index, cell = _stack(factors, len(codes))
        cells, entries = work.cells, len(levels)
        subjects = work.records.subjects[index]
        has = codes[index] >= 0
        key = cell[has] * work.span + subjects[has]
        worst = pd.Series(codes[index][has]).groupby(key).max()  # per (cell, subject)
        pairs = worst.index.to_numpy(dtype=np.int64)
        n = np.bincount((pairs // work.span) * entries + worst.to_numpy(dtype=np.int64),
                        minlength=cells * entries).reshape(cells, entries)
        total = work.denominators(index, cell, factors)
        if analysis.missing is not None:
            n = np.column_stack([n, np.maximum(total - n.sum(axis=1), 0)])
            levels = [*levels, analysis.missing]
        total = np.repeat(total[:, None], len(levels), axis=1)
        return _Result(factors, [variables[0]] * len(levels), levels, [[] for _ in levels],
                       _proportions(method, n, total), (n, total))
    if kind == "shift":
        base_codes, base_levels, _ = work.level_codes(analysis.baseline_variable, declared, False,
                                                      "baseline_variable")
        base_factor = _Factor(analysis.baseline_variable, base_codes, base_levels, list(base_levels),
                              None, None)
        factors = [*factors, base_factor]
        codes, levels, _ = work.level_codes(variables[0], declared, False, "variable")
        if analysis.missing is not None:
            codes = np.where(codes < 0, len(levels), codes)
            levels = [*levels, analysis.missing]
        n, total = _count_result(work, codes, len(levels), factors)
        return _Result(factors, [variables[0]] * len(levels), levels, [[] for _ in levels],
                       _proportions(method, n, total), (n, total))
    return _hierarchy(work, factors)


def _hierarchy(work: _Analysis, factors: list[_Factor]) -> _Result:
    """Subjects with a record per level of each variable of the hierarchy, a level of an
    inner variable within its outer ones (only the combinations found), outer level first."""
    variables = work.analysis.variables
    coded = [work.level_codes(name, None, False, "variable", depth)
             for depth, name in enumerate(variables)]
    records = len(work.records.rows)
    complete = np.ones(records, dtype=bool)
    key = np.zeros(records, dtype=np.int64)
    paths: list[tuple[int, ...]] = []
    entry_of: list[np.ndarray] = []
    for codes, levels, _ in coded:
        complete &= codes >= 0
        key = key * max(len(levels), 1) + np.maximum(codes, 0)
        inverse, found = pd.factorize(key[complete], sort=True)  # np.unique's, by hashing
        start = len(paths)
        sizes = [max(len(c[1]), 1) for c in coded[: len(entry_of) + 1]]
        paths += [tuple(int(p) for p in np.unravel_index(k, sizes)) for k in found]
        entry = np.full(records, -1, dtype=np.int64)
        entry[complete] = inverse.reshape(-1) + start
        entry_of.append(entry)
    order = sorted(range(len(paths)), key=lambda i: paths[i])  # a parent before its children
    rank = np.empty(len(paths), dtype=np.int64)
    rank[np.array(order, dtype=np.int64)] = np.arange(len(paths))
    entries = len(paths)
    index, cell = _stack(factors, records)
    codes = np.concatenate([np.where(e[index] >= 0, rank[np.maximum(e[index], 0)], -1)
                            if entries else e[index] for e in entry_of])
    stacked_cell = np.concatenate([cell] * len(variables))
    stacked_subject = np.concatenate([work.records.subjects[index]] * len(variables))
    has = codes >= 0
    cells, width = work.cells, max(entries, 1)
    n = _distinct(stacked_cell[has] * width + codes[has], stacked_subject[has], cells * width,
                  work.span).reshape(cells, width)[:, :entries]
    total = np.repeat(work.denominators(index, cell, factors)[:, None], entries, axis=1)
    named = [tuple(coded[d][1][p] for d, p in enumerate(paths[i])) for i in order]
    extra = [[(variables[d], path[d], path[d]) for d in range(len(path) - 1)] for path in named]
    return _Result(factors, [variables[len(p) - 1] for p in named], [p[-1] for p in named],
                   extra, _proportions(work.method, n, total), (n, total))


def _union_counts(work: _Analysis, factors: list[_Factor]) -> tuple[np.ndarray, np.ndarray]:
    """``(n, N)`` of a count whose subjects are those with a record in the analysis' data
    subset or in any ``union_with`` part (subject groupings only)."""
    subjects = [work.records.subjects]
    for part in work.analysis.union_with:
        subjects.append(work._records(part.dataset, part.data_subset).subjects)
    everyone = np.concatenate(subjects)
    by_subject = [_Factor(f.variable, f.subject_codes[everyone], f.levels, f.labels, f.all,
                          f.subject_codes) for f in factors]
    index, cell = _stack(by_subject, len(everyone))
    cells = int(np.prod([f.size for f in factors], dtype=np.int64))
    n = _distinct(cell, everyone[index], cells, work.span)
    total = work.denominators(*_stack(factors, len(work.records.rows)), factors)
    return n[:, None], total[:, None]


# --------------------------------------------------------------------------------------------
# Rows


def _rows(event: ReportingEvent, analysis: Analysis, result: _Result) -> dict[str, np.ndarray]:
    method = event.methods[analysis.method]
    ops = method.operations
    cells = int(np.prod([f.size for f in result.factors], dtype=np.int64))
    entries, count = len(result.level), len(ops)
    total = cells * entries * count
    cell = np.repeat(np.arange(cells), entries * count)
    entry = np.tile(np.repeat(np.arange(entries), count), cells)
    op = np.tile(np.arange(count), cells * entries)
    columns: dict[str, np.ndarray] = {
        "analysis_id": np.full(total, analysis.id, dtype=object),
        "dataset": np.full(total, analysis.dataset, dtype=object),
        "analysis_set": np.full(total, analysis.analysis_set, dtype=object),
        "data_subset": np.full(total, analysis.data_subset or "", dtype=object),
        "method": np.full(total, method.id, dtype=object),
    }
    groups = _cell_groups(result.factors, cells)
    for k, (variable, levels, labels) in enumerate(groups, start=1):
        columns[f"group{k}"] = np.full(total, variable, dtype=object)
        columns[f"group{k}_level"] = levels[cell]
        columns[f"group{k}_label"] = labels[cell]
    depth = max((len(e) for e in result.extra), default=0)
    for d in range(depth):
        k = len(groups) + d + 1
        for position, suffix in enumerate(("", "_level", "_label")):
            per_entry = np.array([e[d][position] if d < len(e) else "" for e in result.extra],
                                 dtype=object)
            columns[f"group{k}{suffix}"] = per_entry[entry] if entries else per_entry[:0]
    columns["variable"] = np.array(result.variable, dtype=object)[entry] if entries else np.empty(0, object)
    columns["variable_level"] = np.array(result.level, dtype=object)[entry] if entries else np.empty(0, object)
    columns["operation_id"] = np.array([method.operation_id(o) for o in ops], dtype=object)[op]
    columns["stat_name"] = np.array([o.stat for o in ops], dtype=object)[op]
    columns["stat_label"] = np.array([o.shown_label for o in ops], dtype=object)[op]
    stat = np.empty(total, dtype="float64")
    for position, operation in enumerate(ops):
        stat[op == position] = result.values[operation.stat].reshape(-1)
    columns["stat"] = stat
    columns["stat_fmt"] = _formatted(method, result, stat, cell, entry, op)
    return columns


def _formatted(method: Method, result: _Result, stat: np.ndarray, cell: np.ndarray,
               entry: np.ndarray, op: np.ndarray) -> np.ndarray:
    """The shown values: counts whole, pct from the exact fraction, others rounded."""
    out = np.empty(len(stat), dtype=object)
    rule = method.rounding
    for position, operation in enumerate(method.operations):
        rows = np.flatnonzero(op == position)
        if operation.stat == "pct" and result.counts is not None:
            n, total = result.counts
            out[rows] = [stats.percent_text(a, b, operation.decimals or 0, rule)
                         for a, b in zip(n[cell[rows], entry[rows]], total[cell[rows], entry[rows]])]
        elif operation.stat in ("n", "N") and operation.decimals is None:
            out[rows] = [stats.number_text(value, None) for value in stat[rows]]
        else:
            out[rows] = [stats.number_text(value, operation.decimals, rule) for value in stat[rows]]
    return out


# --------------------------------------------------------------------------------------------
# The table


def build_ard(event: ReportingEvent, datasets: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every analysis of ``event`` computed on the built ``datasets`` (name -> frame), as one
    long frame (see the module's docstring for the columns and order). Raises SpecError naming
    the analysis' spec when the data do not fit it (a dataset not built, a variable missing)."""
    data = _Data(event, datasets)
    parts = [_rows(event, analysis, _analyse(data, analysis)) for analysis in event.analyses]
    groups = max((sum(1 for key in part if key.startswith("group") and key[5:].isdigit())
                  for part in parts), default=0)
    columns = ard_columns(groups)
    out: dict[str, pd.Series] = {}
    for name in columns:
        pieces = [part.get(name) if name in part else np.full(len(part["stat"]), "", dtype=object)
                  for part in parts]
        if name == "stat":
            out[name] = pd.Series(np.concatenate(pieces) if pieces else np.empty(0), dtype="float64")
        else:
            out[name] = pd.Series(np.concatenate(pieces) if pieces else np.empty(0, dtype=object),
                                  dtype="str")
    return pd.DataFrame(out)


def write_ard(ard: pd.DataFrame, event: ReportingEvent, folder: Path) -> list[Path]:
    """``folder/ard.csv``, ``folder/ard.parquet`` and the reporting event's ARS JSON
    ``folder/ars.json`` (``ars.py``); returns the files written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .ars import write_ars

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv, parquet = folder / "ard.csv", folder / "ard.parquet"
    ard.to_csv(csv, index=False)
    pq.write_table(pa.Table.from_pandas(ard, preserve_index=False), parquet)
    return [csv, parquet, write_ars(event, ard, folder / "ars.json")]


_VIEWS: tuple[weakref.ref, dict[str, pd.DataFrame]] | None = None
"""The last ARD given to :func:`ard_views` (a weak reference) and its views: the display
engine and a results provider each ask for the views of the same ARD."""


def ard_views(ard: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """:func:`ard_view` of every analysis of the ARD, made in one pass (once per ARD frame:
    the same dictionary is returned again for the same frame, so it is read, never changed)."""
    global _VIEWS
    if _VIEWS is not None and _VIEWS[0]() is ard:
        return _VIEWS[1]
    views = _ard_views(ard)
    _VIEWS = (weakref.ref(ard), views)
    return views


def _ard_views(ard: pd.DataFrame) -> dict[str, pd.DataFrame]:
    if ard.empty:
        return {}
    group_columns = [c for c in ard.columns if c.startswith("group")]
    keys = ["analysis_id", *group_columns, "variable", "variable_level"]
    position = ard.groupby(keys, sort=False).ngroup().to_numpy()
    _, first = np.unique(position, return_index=True)
    wide = {key: ard[key].to_numpy(dtype=object)[first] for key in keys}
    names = ard["stat_name"].to_numpy(dtype=object)
    stat, shown = ard["stat"].to_numpy(), ard["stat_fmt"].to_numpy(dtype=object)
    columns: dict[str, np.ndarray] = {}
    for name in pd.unique(names):
        mine = names == name
        columns[name] = np.full(len(first), np.nan)
        columns[f"{name}_fmt"] = np.full(len(first), "", dtype=object)
        columns[name][position[mine]] = stat[mine]
        columns[f"{name}_fmt"][position[mine]] = shown[mine]
    numbers = sorted({int(c[5:]) for c in group_columns if c[5:].isdigit()})
    row_ids = ard["analysis_id"].to_numpy(dtype=object)
    out = {}
    for analysis_id in pd.unique(wide["analysis_id"]):
        rows = np.flatnonzero(wide["analysis_id"] == analysis_id)
        used = [k for k in numbers if (wide[f"group{k}"][rows] != "").any()]  # its groupings
        part = {f"group{k}{suffix}": wide[f"group{k}{suffix}"][rows]
                for k in used for suffix in ("", "_level", "_label")}
        part["variable"], part["variable_level"] = wide["variable"][rows], wide["variable_level"][rows]
        for name in pd.unique(names[row_ids == analysis_id]):  # the statistics it gives
            part[name], part[f"{name}_fmt"] = columns[name][rows], columns[f"{name}_fmt"][rows]
        out[analysis_id] = pd.DataFrame(part)
    return out


def ard_view(ard: pd.DataFrame, analysis_id: str) -> pd.DataFrame:
    """The rows of one analysis, one row per group and level with a column per statistic
    (``n``, ``N``, ... the values; ``n_fmt``, ... as shown) and the group columns the analysis
    uses (``group1``, ``group1_level``, ``group1_label``, ...)."""
    rows = ard.loc[ard["analysis_id"].eq(analysis_id)]
    found = ard_views(rows).get(analysis_id)
    if found is None:
        return pd.DataFrame(columns=["variable", "variable_level"])
    return found
