"""PROC COMPARE-style comparison of two datasets, or of two folders of datasets.

Used for double programming: production ADaM against an independent QC derivation
(``tests/qc``), and by reviewers through ``itp-adam compare BASE COMPARE --keys ...``.
Records are matched on key variables (one merge), then each variable is compared as a whole
column. The report lists observations and variables found on one side only, attribute
differences (type, label, length, display format) and, per variable, how many values differ
with the first N differing records. Rules (``docs/qc.md``): missing equals missing (NaN, NaT,
blank text); trailing blanks of text do not count; numbers and dates are equal when
``|compare - base| <= tolerance``; a duplicate key is bad input, not a difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.sdtm import check_names, read_csv_text, upper_names
from ..io.xpt import read_xpt
from ..paths import TRACE_FILE

__all__ = [
    "Comparison",
    "DatasetMeta",
    "FolderComparison",
    "VarMeta",
    "command",
    "compare_files",
    "compare_folders",
    "compare_frames",
    "compare_paths",
    "frame_meta",
    "read_dataset",
]

SUFFIXES = (".xpt", ".sas7bdat", ".csv", ".parquet")
OBS = "_OBS_"  # the key when records are matched by observation number
_EPOCH = pd.Timestamp("1960-01-01")  # SAS dates count days from here
_Kind = Literal["char", "num", "date", "untyped"]


@dataclass(frozen=True)
class VarMeta:
    """Metadata of one variable; None means unknown (not compared), e.g. labels of a CSV."""

    type: Literal["Char", "Num"] | None = None
    label: str | None = None
    length: int | None = None
    format: str | None = None


@dataclass(frozen=True)
class DatasetMeta:
    """Metadata of a dataset: its name and label (None: unknown) and its variables."""

    name: str | None = None
    label: str | None = None
    variables: dict[str, VarMeta] = field(default_factory=dict)


@dataclass
class Comparison:
    """The result of comparing two datasets; every part is also a frame or list for tests."""

    name: str
    base_source: str
    compare_source: str
    keys: list[str]
    tolerance: float
    max_diffs: int
    n_base: int
    n_compare: int
    n_both: int
    #: key values of the records found only in base / only in compare (all of them)
    only_base: pd.DataFrame
    only_compare: pd.DataFrame
    vars_only_base: list[str]
    vars_only_compare: list[str]
    #: one row per differing attribute: variable, attribute, base, compare
    attributes: pd.DataFrame
    #: one row per compared variable: variable, type, n_diff, max_abs_diff (NaN for text)
    summary: pd.DataFrame
    #: per variable with differences: the first ``max_diffs`` records (keys, BASE, COMPARE, DIFF)
    diffs: dict[str, pd.DataFrame]
    #: records present on both sides with at least one compared variable unequal
    n_records_unequal: int

    @property
    def equal(self) -> bool:
        """True when nothing differs: observations, variables, attributes and values."""
        return not (len(self.only_base) or len(self.only_compare) or self.vars_only_base
                    or self.vars_only_compare or len(self.attributes) or self.diffs)

    def text(self) -> str:
        """The report, as plain text."""
        return _report(self)


@dataclass
class FolderComparison:
    """The result of comparing two folders: datasets matched by file name without extension."""

    base_source: str
    compare_source: str
    comparisons: list[Comparison]
    only_base: list[str]
    only_compare: list[str]
    #: files of the folders that are not datasets (a run's ``sdtm/trace.csv``), not compared
    not_datasets: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """True when both folders hold the same datasets and each pair is equal."""
        return not (self.only_base or self.only_compare) and all(c.equal for c in self.comparisons)

    def text(self) -> str:
        """The report of every dataset pair, after a summary of the folders."""
        lines = ["COMPARE folders", f"  base:    {self.base_source}",
                 f"  compare: {self.compare_source}",
                 f"  datasets in both: {len(self.comparisons)}"
                 f" ({', '.join(c.name for c in self.comparisons) or 'none'})",
                 f"  datasets only in base: {', '.join(self.only_base) or '(none)'}",
                 f"  datasets only in compare: {', '.join(self.only_compare) or '(none)'}"]
        if self.not_datasets:
            lines.append(f"  not datasets, not compared: {', '.join(self.not_datasets)}")
        lines.append("")
        for comparison in self.comparisons:
            lines += [comparison.text(), ""]
        unequal = [c.name for c in self.comparisons if not c.equal]
        if self.equal:
            lines.append(f"RESULT: folders EQUAL ({len(self.comparisons)} dataset(s))")
        else:
            lines.append("RESULT: folders NOT EQUAL: "
                         f"{len(unequal)} dataset(s) differ ({', '.join(unequal) or 'none'}), "
                         f"{len(self.only_base)} only in base, "
                         f"{len(self.only_compare)} only in compare")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Reading


def read_dataset(path: str | Path) -> tuple[pd.DataFrame, DatasetMeta]:
    """Read an .xpt or .sas7bdat (with its metadata), .csv (all text, untyped; NA as
    ``io.sdtm.read_csv_text`` decides) or .parquet dataset; variable names in upper case, as
    SAS matches them (``io.sdtm.upper_names``: a QC dataset written by R with ``usubjid``
    compares with production's USUBJID)."""
    frame, meta = _read_dataset(Path(path))
    frame = upper_names(frame, Path(path))
    return frame, dataclasses.replace(
        meta, variables={str(name).upper(): var for name, var in meta.variables.items()})


def _read_dataset(path: Path) -> tuple[pd.DataFrame, DatasetMeta]:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError("unsupported dataset file type", file=str(path), value=path.suffix,
                         expected="a file ending in " + ", ".join(SUFFIXES))
    if not path.is_file():
        raise InputError("no such file", file=str(path),
                         expected="an existing .xpt, .sas7bdat, .csv or .parquet dataset")
    name = path.stem.upper()
    try:
        if suffix in (".xpt", ".sas7bdat"):
            return _read_xpt(path)
        if suffix == ".csv":
            from pyarrow import csv

            table, _ = read_csv_text(path, lambda options: csv.read_csv(path,
                                                                        convert_options=options))
            check_names(table.column_names, path)  # before pandas, which refuses them its own way
            frame = table.to_pandas()
            return frame, DatasetMeta(name=name, variables={c: VarMeta() for c in frame.columns})
        frame = pd.read_parquet(path)
    except InputError:
        raise
    except Exception as exc:  # every reader has its own exception types; all mean bad input
        raise InputError(f"cannot read the file ({type(exc).__name__}: {exc})", file=str(path),
                         expected=f"a valid {suffix[1:].upper()} dataset") from exc
    return frame, frame_meta(frame, name)


def _read_xpt(path: Path) -> tuple[pd.DataFrame, DatasetMeta]:
    frame, meta = read_xpt(path)
    variables = {name: VarMeta(type=meta.types[name], label=meta.labels[name],
                               length=meta.lengths[name], format=meta.formats[name])
                 for name in frame.columns}
    return frame, DatasetMeta(name=meta.name or path.stem.upper(), label=meta.label,
                              variables=variables)


def _format(value: str | None) -> str:
    """A display format without its trailing dot, upper case ("" when none)."""
    return (value or "").strip().rstrip(".").upper()


def frame_meta(frame: pd.DataFrame, name: str | None = None) -> DatasetMeta:
    """Metadata of an in-memory frame: variable types from the dtypes, nothing else known."""
    types: dict[str, VarMeta] = {}
    for column in frame.columns:
        kind = _kind(frame[column], None)
        types[column] = VarMeta(type=None if kind == "untyped" else _sas_type(kind))
    return DatasetMeta(name=name, variables=types)


# ------------------------------------------------------------------------------------------
# Comparing


def compare_frames(base: pd.DataFrame, compare: pd.DataFrame, keys: Sequence[str] | None, *,
                   tolerance: float = 0.0, max_diffs: int = 10,
                   base_meta: DatasetMeta | None = None, compare_meta: DatasetMeta | None = None,
                   name: str = "dataset", base_source: str = "base",
                   compare_source: str = "compare") -> Comparison:
    """Compare two frames record by record, matched on ``keys`` (None: by observation number,
    as PROC COMPARE without an ID statement; the key is then called ``_OBS_``).

    Metadata (labels, lengths, formats) is compared where both sides know it; without
    ``*_meta`` only the types (from the dtypes) are. Raises InputError for an unknown key
    variable, duplicate key values, a negative tolerance or max_diffs.
    """
    if keys is None:
        base = base.assign(**{OBS: np.arange(1, len(base) + 1, dtype="float64")})
        compare = compare.assign(**{OBS: np.arange(1, len(compare) + 1, dtype="float64")})
        keys = [OBS]
    keys = list(keys)
    _check_options(keys, tolerance, max_diffs)
    base_meta = base_meta or frame_meta(base, name)
    compare_meta = compare_meta or frame_meta(compare, name)
    for frame, source in ((base, base_source), (compare, compare_source)):
        for key in keys:
            if key not in frame.columns:
                known = ", ".join(map(str, frame.columns))
                raise InputError("key variable not in the dataset", file=source, column=key,
                                 expected=f"one of its variables: {known}")
    common = [c for c in base.columns if c in set(compare.columns)]
    kinds = {c: _pair_kinds(base[c], compare[c], base_meta.variables.get(c),
                            compare_meta.variables.get(c)) for c in common}
    attributes = _attributes(common, base, compare, base_meta, compare_meta, kinds)
    mismatched_keys = [k for k in keys if kinds[k] is None]
    if mismatched_keys:
        raise InputError("key variable is character on one side and numeric on the other",
                         file=f"{base_source} / {compare_source}", column=mismatched_keys[0],
                         expected="the same type on both sides")

    key_b = pd.DataFrame({f"k{i}": _normalise(base[k], kinds[k][0], kinds[k][1])
                          for i, k in enumerate(keys)})
    key_c = pd.DataFrame({f"k{i}": _normalise(compare[k], kinds[k][1], kinds[k][0])
                          for i, k in enumerate(keys)})
    _check_unique(key_b, keys, base_source)
    _check_unique(key_c, keys, compare_source)
    key_cols = list(key_b.columns)
    merged = (key_b.assign(_b=np.arange(len(base)))
              .merge(key_c.assign(_c=np.arange(len(compare))), on=key_cols, how="outer",
                     sort=True))
    in_b, in_c = merged["_b"].notna().to_numpy(), merged["_c"].notna().to_numpy()
    both = merged[in_b & in_c]
    rows_b = both["_b"].to_numpy(dtype=np.int64)
    rows_c = both["_c"].to_numpy(dtype=np.int64)
    key_values = both[key_cols].set_axis(keys, axis=1).reset_index(drop=True)

    summary_rows, diffs = [], {}
    any_unequal = np.zeros(len(both), dtype=bool)
    for column in common:
        if column in keys:
            continue
        pair = kinds[column]
        if pair is None:
            summary_rows.append({"variable": column, "type": "type differs",
                                 "n_diff": np.nan, "max_abs_diff": np.nan})
            continue
        vb = _normalise(base[column], pair[0], pair[1]).iloc[rows_b].reset_index(drop=True)
        vc = _normalise(compare[column], pair[1], pair[0]).iloc[rows_c].reset_index(drop=True)
        unequal, delta = _unequal(vb, vc, pair[0] if pair[0] == pair[1] else "num", tolerance)
        n_diff = int(unequal.sum())
        numeric = delta is not None
        max_abs = float(np.nanmax(np.abs(delta[unequal]))) if numeric and n_diff and \
            np.isfinite(delta[unequal]).any() else np.nan
        shown_type = "Date" if pair == ("date", "date") else "Num" if numeric else "Char"
        summary_rows.append({"variable": column, "type": shown_type,
                             "n_diff": n_diff, "max_abs_diff": max_abs})
        if n_diff:
            any_unequal |= unequal
            first = np.flatnonzero(unequal)[:max_diffs]
            table = key_values.iloc[first].reset_index(drop=True)
            table["BASE"] = vb.iloc[first].to_numpy()
            table["COMPARE"] = vc.iloc[first].to_numpy()
            if numeric:
                table["DIFF"] = delta[first]
            diffs[column] = table
    summary = pd.DataFrame(summary_rows, columns=["variable", "type", "n_diff", "max_abs_diff"])

    def keys_of(mask: np.ndarray) -> pd.DataFrame:
        return merged.loc[mask, key_cols].set_axis(keys, axis=1).reset_index(drop=True)

    return Comparison(
        name=name, base_source=base_source, compare_source=compare_source, keys=keys,
        tolerance=float(tolerance), max_diffs=int(max_diffs), n_base=len(base),
        n_compare=len(compare), n_both=len(both), only_base=keys_of(in_b & ~in_c),
        only_compare=keys_of(in_c & ~in_b),
        vars_only_base=[str(c) for c in base.columns if c not in set(compare.columns)],
        vars_only_compare=[str(c) for c in compare.columns if c not in set(base.columns)],
        attributes=attributes, summary=summary, diffs=diffs,
        n_records_unequal=int(any_unequal.sum()),
    )


def compare_files(base: str | Path, compare: str | Path, keys: Sequence[str] | None = None, *,
                  tolerance: float = 0.0, max_diffs: int = 10,
                  specs_dir: str | Path | None = None) -> Comparison:
    """Compare two dataset files; without ``keys``, the keys of the dataset's spec are used,
    and records are matched by observation number when there is no such spec."""
    frame_b, meta_b = read_dataset(base)
    frame_c, meta_c = read_dataset(compare)
    name = meta_b.name or Path(base).stem.upper()
    if keys is None:
        keys = _spec_keys(name, specs_dir)
    else:  # the files' names are upper case (read_dataset), --keys usubjid is USUBJID
        keys = [key.upper() for key in keys]
    return compare_frames(frame_b, frame_c, keys, tolerance=tolerance, max_diffs=max_diffs,
                          base_meta=meta_b, compare_meta=meta_c, name=name,
                          base_source=str(base), compare_source=str(compare))


def compare_folders(base: str | Path, compare: str | Path, keys: Sequence[str] | None = None, *,
                    tolerance: float = 0.0, max_diffs: int = 10,
                    specs_dir: str | Path | None = None) -> FolderComparison:
    """Compare the datasets of two folders, matched by file name without extension (any case)."""
    _check_options(list(keys) if keys is not None else None, tolerance, max_diffs)
    files_b, skipped_b = _datasets_in(Path(base))
    files_c, skipped_c = _datasets_in(Path(compare))
    comparisons = [
        compare_files(files_b[stem], files_c[stem], keys, tolerance=tolerance,
                      max_diffs=max_diffs, specs_dir=specs_dir)
        for stem in sorted(files_b) if stem in files_c
    ]
    return FolderComparison(
        base_source=str(base), compare_source=str(compare), comparisons=comparisons,
        only_base=[files_b[s].name for s in sorted(files_b) if s not in files_c],
        only_compare=[files_c[s].name for s in sorted(files_c) if s not in files_b],
        not_datasets=[str(path) for path in skipped_b + skipped_c],
    )


def compare_paths(base: str | Path, compare: str | Path, keys: Sequence[str] | None = None, *,
                  tolerance: float = 0.0, max_diffs: int = 10,
                  specs_dir: str | Path | None = None) -> Comparison | FolderComparison:
    """Two files or two folders (what the command line takes)."""
    base, compare = Path(base), Path(compare)
    for path in (base, compare):
        if not path.exists():
            raise InputError("no such file or folder", file=str(path),
                             expected="a dataset file (.xpt, .sas7bdat, .csv, .parquet) or a "
                             "folder of them")
    if base.is_dir() != compare.is_dir():
        folder = base if base.is_dir() else compare
        raise InputError("is a folder but the other argument is a file", file=str(folder),
                         expected="two dataset files or two folders")
    run = compare_folders if base.is_dir() else compare_files
    return run(base, compare, keys, tolerance=tolerance, max_diffs=max_diffs, specs_dir=specs_dir)


def command(args: argparse.Namespace) -> int:
    """``itp-adam compare``: print the report (and write it to --report); 0 equal, 1 not."""
    from ..errors import check_replaceable, replace_own_file, report_errors

    def own(line: str | None) -> bool:  # an earlier report of compare
        return line is not None and line.startswith("COMPARE ")

    keys = None
    if args.keys:
        keys = [k.strip() for item in args.keys for k in item.split(",") if k.strip()]
    if args.report:  # a file of the user's there: refused before the comparison
        with report_errors(Path(args.report), "compare"):
            check_replaceable(Path(args.report), own)
    specs_dir = getattr(args, "specs", None)  # --specs DIR, or --study NAME's folder
    if specs_dir is None and keys is None and Path(args.base).exists():
        from .validate import run_folder_of, specs_of_run

        # BASE in a run's output folder: the keys of the specs that made it (run.json)
        folder = run_folder_of(Path(args.base))
        if folder is not None:
            specs_dir = specs_of_run(folder, expected="--keys, or --specs DIR or --study NAME "
                                     "for the keys of their specs")
    result = compare_paths(args.base, args.compare, keys, tolerance=args.tolerance,
                           max_diffs=args.max_diffs, specs_dir=specs_dir)
    text = result.text()
    print(text)
    if args.report:
        with report_errors(Path(args.report), "compare"):
            replace_own_file(Path(args.report), text + "\n", own)
    return 0 if result.equal else 1


# ------------------------------------------------------------------------------------------
# Helpers


def _check_options(keys: list[str] | None, tolerance: float, max_diffs: int) -> None:
    """Refuse an empty key list, a negative or NaN tolerance and a negative max_diffs."""
    if keys is not None and not keys:
        raise InputError("no key variables given", column="--keys",
                         expected="one or more variables that identify a record")
    if not tolerance >= 0:  # also refuses NaN
        raise InputError("must be zero or positive", column="--tolerance", value=str(tolerance))
    if max_diffs < 0:
        raise InputError("must be zero or positive", column="--max-diffs", value=str(max_diffs))


def _datasets_in(folder: Path) -> tuple[dict[str, Path], list[Path]]:
    """Dataset files of a folder by lower-case file stem (two files with one stem are refused),
    and the files left out: a run's record trace (``OUT/sdtm/trace.csv``, beside the run's
    ``run.json``) is a CSV file but not a dataset, which a QC folder does not have."""
    found: dict[str, Path] = {}
    run_trace = folder / TRACE_FILE if (folder.parent / "run.json").is_file() else None
    skipped = [run_trace] if run_trace is not None and run_trace.is_file() else []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in SUFFIXES and path not in skipped:
            stem = path.stem.lower()
            if stem in found:
                raise InputError("two datasets with the same name", file=str(path),
                                 value=found[stem].name,
                                 expected="one file per dataset name in a folder")
            found[stem] = path
    return found, skipped


def _spec_keys(name: str, specs_dir: str | Path | None) -> list[str] | None:
    """The keys of the SDTM or ADaM spec of dataset ``name`` (None when there is none)."""
    return _all_spec_keys(str(Path(specs_dir).absolute()) if specs_dir else "").get(name.upper())


@functools.lru_cache(maxsize=4)
def _all_spec_keys(specs_dir: str) -> dict[str, list[str]]:
    """Dataset name -> keys of every SDTM and ADaM spec (the shipped specs for "")."""
    from ..paths import default_specs_dir
    from ..spec.model import load_specs

    specs = load_specs(Path(specs_dir) if specs_dir else default_specs_dir())
    return {d.name.upper(): list(d.keys) for group in (specs.sdtm, specs.adam)
            for d in group.values()}


def _kind(series: pd.Series, meta: VarMeta | None) -> _Kind:
    """How a column is compared: text, number, date, or untyped text (a CSV column)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _kind(series.astype(object), meta)
    if meta is not None and meta.type is None and pd.api.types.is_string_dtype(dtype):
        return "untyped"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "num"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in ("date", "datetime", "datetime64"):
        return "date"
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal", "boolean"):
        return "num"
    if inferred == "empty" and meta is not None and meta.type == "Num":
        return "num"
    return "char"


def _sas_type(kind: _Kind) -> Literal["Char", "Num"] | None:
    return {"char": "Char", "num": "Num", "date": "Num"}.get(kind)


def _converts(series: pd.Series, kind: _Kind) -> bool:
    """Whether every non-blank text value converts to ``kind`` (number, or a date as
    :func:`_text_dates` reads one)."""
    text = _blank_to_none(series)
    filled = text.notna()
    if kind == "date":
        values = _text_dates(text)
    else:
        values = pd.to_numeric(text, errors="coerce")
    return bool((values.notna() | ~filled).all())


def _pair_kinds(base: pd.Series, compare: pd.Series, meta_b: VarMeta | None,
                meta_c: VarMeta | None) -> tuple[_Kind, _Kind] | None:
    """The kinds both sides are compared as; None when one is text and the other a number.

    An untyped (CSV) column takes the other side's kind when all its values convert to it;
    two untyped columns compare as numbers when both convert, else as text."""
    kb, kc = _kind(base, meta_b), _kind(compare, meta_c)
    if kb == "untyped" and kc == "untyped":
        both_num = _converts(base, "num") and _converts(compare, "num")
        return ("num", "num") if both_num else ("char", "char")
    if kb == "untyped":
        kb = kc if kc != "char" and _converts(base, kc) else "char"
    if kc == "untyped":
        kc = kb if kb != "char" and _converts(compare, kb) else "char"
    if (kb == "char") != (kc == "char"):
        return None
    return kb, kc


def _normalise(series: pd.Series, kind: _Kind, other: _Kind) -> pd.Series:
    """Values ready for comparison: text without trailing blanks ("" for missing), float
    numbers, datetime64 dates; a date compared with a plain number becomes SAS days."""
    series = series.reset_index(drop=True)
    if kind == "char":
        return series.astype(object).where(series.notna(), "").astype(str).str.rstrip(" ")
    if kind == "date":
        dates = _as_dates(series)
        if other == "num":
            return pd.Series(((dates - _EPOCH) / pd.Timedelta(days=1)).to_numpy(
                dtype="float64", na_value=np.nan))
        return dates
    if not pd.api.types.is_numeric_dtype(series.dtype):
        series = pd.to_numeric(_blank_to_none(series))
    return pd.Series(series.to_numpy(dtype="float64", na_value=np.nan))


def _blank_to_none(series: pd.Series) -> pd.Series:
    """Object values with missing and blank text as None."""
    values = series.astype(object)
    blank = series.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
    return values.where(~blank, None)


def _as_dates(series: pd.Series) -> pd.Series:
    """datetime64 values of a date column (datetime64, date objects, or text as
    :func:`_text_dates` reads it)."""
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = _blank_to_none(series)
        text = pd.api.types.infer_dtype(values, skipna=True) == "string"
        series = _text_dates(values) if text else pd.to_datetime(values)
    return pd.Series(series, dtype="datetime64[ns]")


# SAS's DATE9. and DATETIME20. as PROC EXPORT writes them: 02JAN2014, 02JAN2014:08:30:00
_SAS_DATE = (r"^\s*(?P<d>\d{1,2})(?P<m>[A-Za-z]{3})(?P<y>\d{4})"
             r"(?::(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}(?:\.\d+)?))?)?\s*$")
_MONTH = {name: f"{number:02d}" for number, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}


def _text_dates(values: pd.Series) -> pd.Series:
    """Dates (datetime64; NaT where a value is none) of text written in ISO 8601
    (``2014-01-02``, ``2014-01-02T08:30``) or as SAS's DATE9. and DATETIME20. formats write
    them (``02JAN2014``, ``02JAN2014:08:30:00``, what PROC EXPORT puts in a CSV file): a QC
    dataset exported from SAS compares its dates with production's. Month names from the
    package's table, never the locale's."""
    values = values.astype(object)
    dates = pd.to_datetime(values, errors="coerce", format="ISO8601")
    rest = values[dates.isna() & values.notna()]
    if rest.empty:
        return dates
    parts = rest.astype(str).str.extract(_SAS_DATE)
    month = parts["m"].str.upper().map(_MONTH)
    iso = (parts["y"] + "-" + month + "-" + parts["d"].str.zfill(2)
           + ("T" + parts["H"].str.zfill(2) + ":" + parts["M"] + ":"
              + parts["S"].fillna("00")).fillna(""))
    dates.loc[rest.index] = pd.to_datetime(iso, errors="coerce", format="ISO8601")
    return dates


def _unequal(vb: pd.Series, vc: pd.Series, kind: _Kind,
             tolerance: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Which values differ, and compare - base for numbers and dates (in days)."""
    if kind == "char":
        return (vb.to_numpy(dtype=object) != vc.to_numpy(dtype=object)), None
    if kind == "date":
        vb = (vb - _EPOCH) / pd.Timedelta(days=1)
        vc = (vc - _EPOCH) / pd.Timedelta(days=1)
    a = vb.to_numpy(dtype="float64", na_value=np.nan)
    b = vc.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        delta = b - a
        same = (a == b) | (np.isnan(a) & np.isnan(b)) | (np.abs(delta) <= tolerance)
    return ~same, delta


def _attributes(common: Iterable[str], base: pd.DataFrame, compare: pd.DataFrame,
                meta_b: DatasetMeta, meta_c: DatasetMeta,
                kinds: dict[str, tuple[_Kind, _Kind] | None]) -> pd.DataFrame:
    """Type, label, length and format differences (dataset label as variable "(dataset)")."""
    rows = []
    if meta_b.label is not None and meta_c.label is not None and meta_b.label != meta_c.label:
        rows.append({"variable": "(dataset)", "attribute": "label",
                     "base": meta_b.label, "compare": meta_c.label})
    for name in common:
        vb = meta_b.variables.get(name) or VarMeta()
        vc = meta_c.variables.get(name) or VarMeta()
        pair = kinds[name]
        type_b = vb.type or (_sas_type(pair[0]) if pair else "Char")
        type_c = vc.type or (_sas_type(pair[1]) if pair else "Char")
        if pair is None and type_b == type_c:  # an untyped side that did not convert
            type_b = _sas_type(_kind(base[name], None))
            type_c = _sas_type(_kind(compare[name], None))
        if type_b != type_c:
            rows.append({"variable": name, "attribute": "type", "base": type_b, "compare": type_c})
        for attribute in ("label", "length", "format"):
            a, b = getattr(vb, attribute), getattr(vc, attribute)
            if attribute == "format" and a is not None and b is not None:
                a, b = _format(a), _format(b)
            if a is not None and b is not None and a != b:
                rows.append({"variable": name, "attribute": attribute, "base": a, "compare": b})
    return pd.DataFrame(rows, columns=["variable", "attribute", "base", "compare"], dtype=object)


def _check_unique(keys: pd.DataFrame, names: list[str], source: str) -> None:
    """Duplicate key values are bad input: name them, with how many records share them."""
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    groups = (keys[dup].set_axis(names, axis=1).value_counts(dropna=False, sort=False)
              .reset_index(name="records"))
    shown = "; ".join(
        ", ".join(f"{n}={_show(row[n])}" for n in names) + f" ({row['records']} records)"
        for row in groups.head(5).to_dict("records"))
    more = f"; and {len(groups) - 5} more" if len(groups) > 5 else ""
    raise InputError(f"duplicate key values ({len(groups)} key value(s) on more than one "
                     f"record): {shown}{more}", file=source, column=",".join(names),
                     expected="key variables that identify each record once")


# ------------------------------------------------------------------------------------------
# Report


def _show(value: object) -> str:
    """One value as the report shows it: '.' for a missing number, "" for blank text."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return "."
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.isoformat()
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value)
    return '""' if text == "" else text


def _table(frame: pd.DataFrame, indent: str = "  ") -> list[str]:
    shown = frame.apply(lambda col: col.map(_show)) if len(frame) else frame
    text = shown.to_string(index=False) if len(frame) else "(none)"
    return [indent + line for line in text.splitlines()]


def _report(c: Comparison) -> str:
    lines = [
        f"COMPARE {c.name}",
        f"  base:    {c.base_source}",
        f"  compare: {c.compare_source}",
        f"  keys:    {' '.join(c.keys)}"
        + (" (observation number: no keys given and no spec of this dataset)"
           if c.keys == [OBS] else ""),
        f"  tolerance: {_show(c.tolerance)} (absolute; numbers, and dates in days)",
        "",
        "Observation summary",
        f"  base: {c.n_base}   compare: {c.n_compare}   in both: {c.n_both}   "
        f"only in base: {len(c.only_base)}   only in compare: {len(c.only_compare)}",
        f"  observations in both with some compared variable unequal: {c.n_records_unequal}",
        "",
        "Variable summary",
        f"  in both: {len(c.summary) + len(c.keys)} (keys {len(c.keys)}, compared "
        f"{len(c.summary)})   only in base: {len(c.vars_only_base)}   "
        f"only in compare: {len(c.vars_only_compare)}",
    ]
    if c.vars_only_base:
        lines.append(f"  only in base: {' '.join(c.vars_only_base)}")
    if c.vars_only_compare:
        lines.append(f"  only in compare: {' '.join(c.vars_only_compare)}")
    lines += ["", "Attribute differences (type, label, length, format)"] + _table(c.attributes)
    unequal = c.summary[c.summary["n_diff"].fillna(1) > 0]
    lines += ["", f"Variables with unequal values: {len(unequal)} of {len(c.summary)} compared"]
    lines += _table(unequal) if len(unequal) else []
    for variable, table in c.diffs.items():
        row = c.summary.loc[c.summary["variable"] == variable].iloc[0]
        lines += ["", f"Unequal values of {variable} ({row['type']}): {int(row['n_diff'])} "
                      f"record(s); first {len(table)}"] + _table(table)
    for label, frame in (("base", c.only_base), ("compare", c.only_compare)):
        if len(frame):
            lines += ["", f"Observations only in {label}: {len(frame)}; first "
                          f"{min(len(frame), c.max_diffs)}"] + _table(frame.head(c.max_diffs))
    lines.append("")
    if c.equal:
        lines.append(f"RESULT: {c.name} EQUAL ({c.n_both} observations, "
                     f"{len(c.summary)} variables compared)")
    else:
        lines.append(
            f"RESULT: {c.name} NOT EQUAL: {len(c.diffs)} variable(s) with unequal values, "
            f"{len(c.attributes)} attribute difference(s), {len(c.only_base)} + "
            f"{len(c.only_compare)} observation(s) only in base + compare, "
            f"{len(c.vars_only_base)} + {len(c.vars_only_compare)} variable(s) only in "
            "base + compare")
    return "\n".join(lines)
