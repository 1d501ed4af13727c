"""Build one dataset from its spec: the evaluator of the spec language (``docs/specs.md``).

The same evaluator builds SDTM and ADaM datasets. In order:

1. **Records.** The working frame starts as the dataset's raw ``forms`` (SDTM), its
   ``records`` groups stacked (the rows of the group's form passing its optional filter,
   column ``_GROUP`` naming the group), its ``input`` dataset with the optional filter, or
   its literal ``rows`` (a table written in the spec: TS, TA, TE, TV, TI).
2. **Direct variables**, in spec order: ``form``/``column``, ``constant`` (a literal or a
   study parameter), ``derivation`` (a function returning one value per record), ``from`` (a
   variable of this dataset, of the input dataset, or of another dataset matched by
   ``USUBJID``), ``row`` (a key of the literal rows) and ``cases`` (one of those per record
   group). Each is added to the working frame, so later ones can use it.
3. **Steps**, in order: admiral-style functions taking and returning the whole frame.
4. **Step variables**: ``{step: S}`` takes the column of that name made by step ``S``.
5. Types are enforced (Char -> text with ``""`` missing, Num -> float), records are sorted
   by ``sort``, and the keys are checked to be unique.

The returned frame holds the spec's variables in spec order plus the trace columns
``_FORM`` and ``_ROW`` (raw form and row of each SDTM record) when the records came from
raw forms. A raw value outside its codelist is kept as collected and reported.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import issues
from ..derive.columns import (
    TEXT,
    arrow_array,
    arrow_text,
    as_str,
    encode,
    group_codes,
    has_duplicates,
    positions,
    sort_order,
    sort_order_unique,
    spread_text,
)
from ..derive.checks import MissingVariable
from ..errors import InputError
from .expr import compile_expression
from .registry import get_derivation
from .model import (
    CasesSource,
    Codelist,
    CodelistRef,
    ColumnSource,
    ConstantSource,
    CopySource,
    Dataset,
    DatasetRef,
    DerivationSource,
    FormRef,
    RowSource,
    StepSource,
    Study,
    StudyRef,
    value_text,
)

TRACE = ["_FORM", "_ROW"]
SUBJECT_KEY = "USUBJID"


class BuildError(InputError):
    """A dataset could not be built from its spec and the data (names the spec place)."""


def build_dataset(spec: Dataset, *, forms: dict[str, pd.DataFrame], built: dict[str, pd.DataFrame],
                  study: Study, codelists: dict[str, Codelist]) -> pd.DataFrame:
    """Evaluate ``spec`` over the prepared raw ``forms`` and the datasets ``built`` so far."""
    context = _Context(spec, forms, built, study, codelists)
    work = context.records()
    for index, var in enumerate(spec.variables):
        if isinstance(var.source, StepSource):
            continue
        work[var.name] = context.values(work, index)
    for index, step in enumerate(spec.steps):
        function = get_derivation(step.derivation)
        result = context.call(function, work, step.args, ("steps", index), f"step {step.id}")
        if not isinstance(result, pd.DataFrame):
            raise context.error(("steps", index), f"step {step.id}: derivation {step.derivation} "
                                "returns values for one variable, not a data frame; use it as a "
                                "variable source")
        work = result
    for index, var in enumerate(spec.variables):
        if isinstance(var.source, StepSource) and var.name not in work:
            raise context.error(("variables", index, "source"),
                                f"step {var.source.step} did not make variable {var.name}")
    return context.finish(work)


class _Context:
    """What the evaluation of one dataset needs, and the errors it raises."""

    def __init__(self, spec: Dataset, forms: dict[str, pd.DataFrame], built: dict[str, pd.DataFrame],
                 study: Study, codelists: dict[str, Codelist]) -> None:
        self.spec, self.forms, self.built = spec, forms, built
        self.study, self.codelists = study, codelists
        self._rows: dict[str, tuple[object, np.ndarray]] = {}  # see _subject_rows

    def call(self, function: Any, work: pd.DataFrame, args: dict[str, Any], at: tuple,
             what: str) -> Any:
        """``function(work, **args)`` with references resolved; a failure names the spec place
        (the cause stays attached for ``--debug``)."""
        try:
            return function(work, **self.args(args))
        except MissingVariable as exc:  # an InputError without the spec place: add it
            raise self.error(at, f"{what}: {exc}") from exc
        except (InputError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001
            raise self.error(at, f"{what}: {type(exc).__name__}: {exc}") from exc

    def error(self, path: tuple[str | int, ...], message: str) -> BuildError:
        spec = self.spec
        variable = None
        if len(path) >= 2 and path[0] == "variables":
            variable = spec.variables[int(path[1])].name
        line = spec.line_of(*path)
        where = spec.spec_file + (f", line {line}" if line else "")
        what = f"dataset {spec.name}" + (f", variable {variable}" if variable else "")
        return BuildError(f"{where}: {what}: {message}", file=None)

    # -- records -------------------------------------------------------------------------

    def records(self) -> pd.DataFrame:
        spec = self.spec
        if spec.records:
            parts = []
            for index, group in enumerate(spec.records):
                part = self.forms[group.form]
                if group.filter:
                    part = part[self._mask(part, group.filter, ("records", index, "filter"))]
                parts.append(part.assign(_GROUP=group.group))
            return pd.concat(parts, ignore_index=True)
        if spec.input is not None:
            frame = self.built[spec.input.dataset]
            if spec.input.filter:
                frame = frame[self._mask(frame, spec.input.filter, ("input", "filter"))]
            return frame.reset_index(drop=True).copy(deep=False)
        if spec.forms:
            parts = [self.forms[form] for form in spec.forms]
            # shallow copy: copy-on-write keeps the form as it was when columns are added
            return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy(deep=False)
        if spec.rows:
            return self._literal_records()
        raise self.error(("name",), "needs forms, records, input or rows to say where its records "
                         "come from")

    def _literal_records(self) -> pd.DataFrame:
        """The ``rows`` of the spec as a frame: one column per key, typed by its variable (Char:
        text, ``""`` for blank, numbers written without a trailing ``.0``, dates ISO 8601; Num:
        float), ``{study: P}`` resolved. A key a row leaves out is blank there. The rows are
        the spec's own table (tens of records), so they are read value by value."""
        spec, index = self.spec, pd.RangeIndex(len(self.spec.rows))
        kinds = {var.name: var.type for var in spec.variables}
        keys = list(dict.fromkeys(key for row in spec.rows for key in row))
        columns: dict[str, pd.Series] = {}
        for key in keys:
            values = [self._literal(row.get(key)) for row in spec.rows]
            if kinds.get(key) == "Num":
                try:
                    columns[key] = pd.Series(np.array([np.nan if v is None or v == "" else v
                                                       for v in values], dtype="float64"), index=index)
                except (TypeError, ValueError) as exc:
                    number = next(n for n, v in enumerate(values)
                                  if not isinstance(v, (int, float, type(None))))
                    raise self.error(("rows", number, key), f"row {number + 1}: {key} is Num, "
                                     f"but the value is not a number ({exc})") from exc
            else:
                columns[key] = as_str(pa.array([value_text(v) for v in values], TEXT), index)
        return pd.DataFrame(columns, index=index)

    def _literal(self, value: Any) -> Any:
        """A row value or constant as written, a ``{study: P}`` resolved to its parameter."""
        return self.study.resolve(value.study) if isinstance(value, StudyRef) else value

    def _mask(self, frame: pd.DataFrame, expression: str, at: tuple) -> np.ndarray:
        """Rows where the filter ``expression`` (``itp_adam.spec.expr``) holds (missing -> False)."""
        try:
            return compile_expression(expression).mask(frame)
        except Exception as exc:  # noqa: BLE001 - an expression not computable on the data
            raise self.error(at, f"filter {expression!r} cannot be evaluated: {exc}") from exc

    # -- direct variables ----------------------------------------------------------------

    def values(self, work: pd.DataFrame, index: int) -> pd.Series:
        var = self.spec.variables[index]
        at: tuple[str | int, ...] = ("variables", index, "source")
        if isinstance(var.source, CasesSource):
            out = _missing(var.type, len(work), work.index)
            for group, source in var.source.cases.items():
                rows = (work["_GROUP"] == group).to_numpy(dtype=bool)
                if rows.any():  # each group's source sees only that group's records
                    part = self._one(work[rows], index, source, (*at, "cases", group))
                    out = _assign(out, rows, part)
            values = out
        else:
            values = self._one(work, index, var.source, at)
        return self._typed(values, index, work)

    def _one(self, work: pd.DataFrame, index: int, source: Any, at: tuple) -> pd.Series:
        var = self.spec.variables[index]
        if isinstance(source, ColumnSource):
            values = work[source.column] if source.column in work else self.forms[source.form][source.column]
            if var.codelist is not None:
                return self._decode(work, values, var.codelist, source.column)
            return values
        if isinstance(source, ConstantSource):
            constant = self._literal(source.constant)
            if isinstance(source.constant, StudyRef) and (isinstance(constant, dt.date)
                                                          or var.type == "Char"):
                constant = value_text(constant)  # a study parameter, e.g. the cut-off date
            if isinstance(constant, str):  # one pyarrow buffer, not n Python strings
                return as_str(pa.repeat(pa.scalar(constant, TEXT), len(work)), work.index)
            return pd.Series([constant] * len(work), index=work.index)
        if isinstance(source, RowSource):
            return work[source.row]
        if isinstance(source, DerivationSource):
            function = get_derivation(source.derivation)
            result = self.call(function, work, source.args, at, f"derivation {source.derivation}")
            if isinstance(result, pd.DataFrame):
                raise self.error(at, f"derivation {source.derivation} returns a data frame; "
                                 "list it under steps and use {step: ...} as the source")
            values = pd.Series(np.asarray(result), index=work.index) if not isinstance(
                result, pd.Series) else result.set_axis(work.index)
            if var.codelist is not None:
                self._check_terms(work, values, var.codelist, var.name)
            return values
        if isinstance(source, CopySource):
            return self._copy(work, source, at)
        raise self.error(at, f"a {type(source).__name__} cannot be used here")

    def _copy(self, work: pd.DataFrame, source: CopySource, at: tuple) -> pd.Series:
        name = source.variable
        same = source.dataset is None or (self.spec.input is not None
                                          and source.dataset == self.spec.input.dataset)
        if same:
            if name not in work:
                given = self.built.get(source.dataset) if source.dataset is not None else None
                if given is not None and name not in given:  # e.g. an SDTM input without it
                    raise self.error(at, f"from {source.from_}: dataset {source.dataset} has no "
                                     f"variable {name} (it has {', '.join(map(str, given.columns))})")
                raise self.error(at, f"from {source.from_}: not (yet) made; a variable can copy "
                                 "only variables above it or of the input dataset")
            return work[name]
        other = self.built[source.dataset]
        if SUBJECT_KEY not in work or SUBJECT_KEY not in other:
            raise self.error(at, f"from {source.from_}: both datasets need {SUBJECT_KEY} "
                             f"(define {SUBJECT_KEY} above this variable)")
        rows = self._subject_rows(work, source.dataset, other, at, source.from_)
        if rows.min(initial=0) >= 0:  # every subject found: take keeping the column's type
            return pd.Series(other[name].array.take(rows), index=work.index, copy=False)
        values = other[name].to_numpy()  # subjects not in the other dataset get a missing value
        values = np.append(values.astype(object) if values.dtype.kind in "OUTS" else values,
                           _missing_value(values))
        return pd.Series(values[rows], index=work.index)

    def _subject_rows(self, work: pd.DataFrame, dataset: str, other: pd.DataFrame, at: tuple,
                      source: str) -> np.ndarray:
        """Per record of ``work``, the row of its subject in ``other`` (-1: none). Computed
        once per other dataset while the records' USUBJID column stays the same (every
        ``from`` of that dataset reuses it: one hash of the subjects, not one per variable)."""
        subjects = work[SUBJECT_KEY].array
        cached = self._rows.get(dataset)
        if cached is not None and cached[0] is subjects:
            return cached[1]
        keys = other[SUBJECT_KEY]
        if has_duplicates(keys):
            raise self.error(at, f"from {source}: {dataset} has more than one record "
                             f"per {SUBJECT_KEY}; use a derivation that picks one")
        rows = positions(work[SUBJECT_KEY], keys)
        self._rows[dataset] = (subjects, rows)
        return rows

    def _decode(self, work: pd.DataFrame, values: pd.Series, codelist: str, column: str) -> pd.Series:
        """Raw values -> submission values; a value outside the codelist is kept and reported."""
        mapping = self.codelists[codelist].value_map()
        # decoded once per distinct raw value (stripped, missing as ""), then taken back by code
        codes, distinct = encode(arrow_text(values))
        text = as_str(distinct, pd.RangeIndex(len(distinct)))
        mapped = text.str.casefold().map(mapping)
        decoded = mapped.fillna(text).astype("str")
        unknown = (mapped.isna() & text.ne("")).to_numpy(dtype=bool)[codes]
        if unknown.any():
            shown = spread_text(distinct, codes, values.index)
            issues.report(work[unknown], column=column, values=shown[unknown], severity="error",
                          dataset=self.spec.name,
                          rule=f"value not in codelist {codelist}: kept as collected")
        return spread_text(arrow_array(decoded), codes, values.index)

    def _check_terms(self, work: pd.DataFrame, values: pd.Series, codelist: str, name: str) -> None:
        allowed = {term.value for term in self.codelists[codelist].terms}
        text = values.astype("string").fillna("")
        unknown = ~text.isin(allowed) & text.ne("")
        if unknown.any():
            issues.report(work[unknown.to_numpy(dtype=bool)], column=name, values=text[unknown],
                          severity="error", dataset=self.spec.name,
                          rule=f"value not in codelist {codelist}")

    def _typed(self, values: pd.Series, index: int, work: pd.DataFrame) -> pd.Series:
        var = self.spec.variables[index]
        if var.type == "Num":
            if values.dtype == np.float64:
                return values
            if pd.api.types.is_datetime64_any_dtype(values):
                return values.astype("datetime64[us]")
            if pd.api.types.infer_dtype(values, skipna=True) == "date":
                return pd.to_datetime(values).astype("datetime64[us]")
            if pd.api.types.is_string_dtype(values):  # text: a blank is a missing value, as
                values = values.where(values.str.strip().ne(""))  # SAS reads one
            try:
                return pd.to_numeric(values).astype("float64")
            except (TypeError, ValueError) as exc:
                raise self.error(("variables", index, "type"),
                                 f"type Num, but {self._not_numbers(values, work)}") from exc
        if values.dtype == "str" and not values.hasnans:  # already typed: the same array, so
            return pd.Series(values.array, index=work.index, copy=False)  # its codes are kept
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return _number_text(values, work.index)
        array = arrow_array(values)  # as astype("string"), then "" for missing
        return as_str(pc.fill_null(array, "") if array.null_count else array, work.index)

    @staticmethod
    def _not_numbers(values: pd.Series, work: pd.DataFrame) -> str:
        """How many values are not numbers, and the first few with their subjects."""
        numbers = pd.to_numeric(values, errors="coerce")
        bad = (numbers.isna() & values.notna()).to_numpy(dtype=bool)
        shown = [f"{value!r}" + (f" ({SUBJECT_KEY} {subject})" if subject is not None else "")
                 for value, subject in zip(
                     values[bad].head(3),
                     work.loc[bad, SUBJECT_KEY].head(3) if SUBJECT_KEY in work else [None] * 3)]
        return (f"{int(bad.sum())} value(s) are not numbers: {', '.join(shown)}"
                + (", ..." if bad.sum() > 3 else ""))

    # -- arguments -----------------------------------------------------------------------

    def args(self, args: dict[str, Any]) -> dict[str, Any]:
        """Resolve ``{form: F}``, ``{study: P}``, ``{dataset: D}`` and ``{codelist: C, field: F}``
        references, also inside mappings and lists (``filter_values: {dose: {study: dose}}``)."""
        return {name: self._resolve(value) for name, value in args.items()}

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            (key, ref), = value.items()
            if key in ("form", "study", "dataset") and isinstance(ref, str):
                value = {"form": FormRef, "study": StudyRef, "dataset": DatasetRef}[key](**value)
        if isinstance(value, FormRef):
            return self.forms[value.form]
        if isinstance(value, StudyRef):
            return self.study.resolve(value.study)
        if isinstance(value, DatasetRef):
            return self.built[value.dataset]
        if isinstance(value, CodelistRef):
            return value.mapping(self.codelists)
        if isinstance(value, dict):
            return {key: self._resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._resolve(item) for item in value]
        return value

    # -- finish --------------------------------------------------------------------------

    def finish(self, work: pd.DataFrame) -> pd.DataFrame:
        spec = self.spec
        names = [var.name for var in spec.variables]
        for index, var in enumerate(spec.variables):
            if isinstance(var.source, StepSource):
                work[var.name] = self._typed(work[var.name], index, work)
        trace = [column for column in TRACE if column in work]
        out = work[names + trace]
        # sorted as sort_values(spec.sort, kind="stable"), on integer ranks of the columns; rows
        # already in order are not copied. Keys equal to the sort columns are unique when no
        # two neighbours in that order are equal; other keys are checked on group codes.
        if list(spec.keys) == list(spec.sort):
            order, unique = sort_order_unique([out[name] for name in spec.sort], len(out))
        else:
            unique = group_codes(out, spec.keys).max(initial=-1) + 1 == len(out)  # ids 0, 1, ...
            order = sort_order([(out[name], True) for name in spec.sort], len(out))
        if np.array_equal(order, np.arange(len(out))):
            out = out.reset_index(drop=True)
        else:
            out = out.take(order).reset_index(drop=True)
        if not unique:
            duplicated = out.duplicated(spec.keys, keep=False)
            first = out.loc[duplicated, spec.keys].head(3).to_dict("records")
            raise self.error(("keys",), f"keys {', '.join(spec.keys)} are not unique, e.g. {first}")
        return out


def _number_text(values: pd.Series, index: pd.Index) -> pd.Series:
    """Numbers put into a Char variable, as R's ``as.character`` and SAS's BEST. write them
    (``35``, ``7.5``, ``0.3``; not Python's ``35.0`` or ``0.30000000000000004``): the rule of
    :func:`value_text`, worked out once per distinct value; ``""`` for missing."""
    codes, distinct = pd.factorize(values.to_numpy(dtype="float64", na_value=np.nan) + 0.0,
                                   use_na_sentinel=True)  # + 0.0: -0.0 is 0
    text = np.array([value_text(float(value)) for value in distinct] + [""], dtype=object)
    return as_str(pa.array(text[codes], type=pa.large_string()), index)


def _missing_value(values: np.ndarray) -> object:
    """The missing value of an array's kind: NaT for dates, NaN for numbers, else None."""
    if values.dtype.kind == "M":
        return np.datetime64("NaT")
    return np.nan if values.dtype.kind in "fiub" else None


def _missing(kind: str, n: int, index: pd.Index) -> pd.Series:
    """A column of missing values: NaN (Num) or ``""`` (Char, as ``str``)."""
    if kind == "Num":
        return pd.Series(np.full(n, np.nan), index=index)
    return as_str(pa.repeat(pa.scalar("", TEXT), n), index)


def _assign(out: pd.Series, rows: np.ndarray, part: pd.Series) -> pd.Series:
    """``out`` with the values of ``part`` (the records of ``rows``, a boolean mask, in order)
    put in place: text into text and numbers into numbers on whole buffers (pyarrow's
    ``replace_with_mask``, NumPy), other mixes through Python objects."""
    if out.dtype == np.float64 and part.dtype == np.float64:
        values = out.to_numpy(copy=True)
        values[rows] = part.to_numpy()
        return pd.Series(values, index=out.index)
    if out.dtype == "str" and part.dtype == "str":
        return as_str(pc.replace_with_mask(arrow_array(out), pa.array(rows, pa.bool_()),
                                           arrow_array(part)), out.index)
    values = out.to_numpy(dtype=object, copy=True)
    values[rows] = part.to_numpy(dtype=object)
    return pd.Series(values, index=out.index)
