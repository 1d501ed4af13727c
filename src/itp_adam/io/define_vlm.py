"""Value-level metadata of define.xml: one definition per value of a dataset's topic variable.

Which datasets get it, and for which variables, follows from their variables alone (any
study, any dataset that exists):

- a Supplemental Qualifiers dataset (QNAM and QVAL): QVAL by QNAM;
- an ADaM dataset with PARAMCD (BDS): AVAL and AVALC by PARAMCD;
- an SDTM dataset with a --TESTCD variable (Findings): --ORRES, --STRESC and --STRESN by
  --TESTCD; with a --PARMCD variable (TS): --VAL by --PARMCD.

Each value present in the data gets the data type, length and significant digits of the
records with that value (a text result whose every value is a number is ``integer`` or
``float``), the units of those records (its --ORRESU/--STRESU/AVALU) in its description, and
the variable's origin, method and codelist; a value's own source in the spec (a ``cases``
source keyed by the record groups that set QNAM) gives its origin and comment. Values without
any data for a variable get no definition for it. Everything is computed on whole columns:
the records are grouped by the integer codes of the topic variable.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..spec.model import CasesSource, ColumnSource, ConstantSource, Dataset, Specs

_RESULTS = ("ORRES", "STRESC", "STRESN")
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"  # ASCII digits only
_UNIT = {"ORRES": "ORRESU", "STRESC": "STRESU", "STRESN": "STRESU"}


def vlm_plan(spec: Dataset, standard: str) -> tuple[str, list[str]] | None:
    """(the topic variable, the variables defined per value), or None for no value-level
    metadata."""
    names = [v.name for v in spec.variables]
    have = set(names)
    if {"QNAM", "QVAL"} <= have:
        return "QNAM", ["QVAL"]
    if standard == "ADaM":
        if "PARAMCD" in have:
            targets = [t for t in ("AVAL", "AVALC") if t in have]
            return ("PARAMCD", targets) if targets else None
        return None
    topic = next((n for n in names if n.endswith("TESTCD") and len(n) > 6), None)
    if topic is not None:
        prefix = topic[: -len("TESTCD")]
        targets = [prefix + r for r in _RESULTS if prefix + r in have]
        return (topic, targets) if targets else None
    parm = next((n for n in names if n.endswith("PARMCD") and len(n) > 6), None)
    if parm is not None and parm[: -len("PARMCD")] + "VAL" in have:
        return parm, [parm[: -len("PARMCD")] + "VAL"]
    return None


def oid_part(value: object) -> str:
    """A value as a part of an OID: letters, digits, '.', '_' and '-' kept, others '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", check_text(value)) or "_"


def check_text(value: object) -> str:
    """A value as a where clause's CheckValue: numbers without a needless '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _name_variable(by: str) -> str:
    return "QLABEL" if by == "QNAM" else by[:-2]  # PARAMCD -> PARAM, LBTESTCD -> LBTEST


def _unit_variable(target: str, have: set[str]) -> str | None:
    for suffix, unit in _UNIT.items():
        if target.endswith(suffix) and target[: -len(suffix)] + unit in have:
            return target[: -len(suffix)] + unit
    return "AVALU" if target in ("AVAL", "AVALC") and "AVALU" in have else None


def value_level(standard: str, spec: Dataset, frame: pd.DataFrame, specs: Specs,
                parents: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (variable, value) with data: the value-level metadata of ``spec``.

    ``parents``: the variable rows of the dataset (define.build_metadata), whose origin,
    method, codelist and mandatory flag a value's definition takes."""
    plan = vlm_plan(spec, standard)
    if plan is None:
        return []
    by, targets = plan
    targets = [t for t in targets if t in frame]
    if by not in frame or not targets or frame.empty:
        return []
    codes, values = _topic_codes(frame[by])
    n = len(values)
    if n == 0:
        return []
    have = set(frame.columns)
    names = _first_per_group(frame, _name_variable(by), codes, n)
    order = _value_order(spec, specs, by, values, frame, codes, n)
    cases = _value_cases(spec, by)
    rows = []
    units_of: dict[str, list[list[str]]] = {}  # per unit variable (STRESC and STRESN share one)
    for target in targets:
        var = spec.variable(target)
        parent = parents[target]
        types = _grouped_types(var.type, var.format, frame[target], codes, n)
        unit_var = _unit_variable(target, have)
        if unit_var and unit_var not in units_of:
            units_of[unit_var] = _units_per_group(frame[unit_var], codes, n)
        units = units_of[unit_var] if unit_var else [[] for _ in range(n)]
        rank = 0
        for group in order:
            data_type, length, digits, present = types[group]
            if not present:
                continue
            rank += 1
            value = values[group]
            origin, source, comment = parent["origin"], parent["source"], ""
            case = cases.get(check_text(value))
            if case is not None and isinstance(var.source, CasesSource):
                own = var.source.cases.get(case[0])
                if isinstance(own, ColumnSource):
                    origin, source = "Collected", "Investigator"
                elif isinstance(own, ConstantSource):
                    origin, source = "Assigned", "Sponsor"
                comment = case[1]
            label = names[group] or check_text(value)
            if units[group]:
                label = f"{label} ({', '.join(units[group])})"
            rows.append({
                "standard": standard, "dataset": spec.name, "variable": target,
                "value_list": f"VL.{spec.name}.{target}", "order": rank, "by_variable": by,
                "value": check_text(value),
                "where": f"WC.{spec.name}.{by}.{oid_part(value)}",
                "item": f"IT.{spec.name}.{target}.{oid_part(value)}",
                "description": label, "data_type": data_type, "length": length,
                "significant_digits": digits, "codelist": parent["codelist"], "origin": origin,
                "source": source, "predecessor": parent["predecessor"] if origin == parent[
                    "origin"] else "",
                "mandatory": parent["mandatory"],
                "method": parent["method"] if origin == "Derived" else "",
                "unit": ", ".join(units[group]), "comment_text": comment,
            })
    return rows


def _encoded(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """A text column as (per record, the index of its value in the distinct values; the
    distinct values): pyarrow's hash encoding, blank and missing as ``""``."""
    from .define import _arrow_text

    text = _arrow_text(values)
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    encoded = pc.dictionary_encode(text)
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def _topic_codes(keys: pd.Series) -> tuple[np.ndarray, list[object]]:
    """Per record the group number of its topic value (-1 when blank), and the values."""
    if pd.api.types.is_numeric_dtype(keys):
        codes, uniques = pd.factorize(keys, sort=False)
        return codes, list(uniques)
    codes, distinct = _encoded(keys)
    names = distinct.to_pylist()
    if "" in names:  # blank: no group; the other values renumbered
        blank = names.index("")
        codes = np.where(codes == blank, -1, codes - (codes > blank))
        names.pop(blank)
    return codes, names


def _pairs(codes: np.ndarray, index: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (group, value index) pairs of the records with a group, in order of first
    appearance: two small arrays."""
    valid = codes >= 0
    keys = pd.unique(codes[valid].astype(np.int64) * max(size, 1) + index[valid])
    return keys // max(size, 1), keys % max(size, 1)


def _first_per_group(frame: pd.DataFrame, name: str, codes: np.ndarray, n: int) -> list[str]:
    """The first non-blank value of ``name`` in each group ('' when none or no such column)."""
    found = [""] * n
    if name not in frame:
        return found
    index, distinct = _encoded(frame[name])
    names = distinct.to_pylist()
    for group, value in zip(*_pairs(codes, index, len(names))):
        if not found[group] and names[value]:
            found[group] = names[value]
    return found


def _units_per_group(units: pd.Series, codes: np.ndarray, n: int) -> list[list[str]]:
    """The distinct non-blank units of each group, in order of first appearance."""
    index, distinct = _encoded(units)
    names = distinct.to_pylist()
    found: list[list[str]] = [[] for _ in range(n)]
    for group, value in zip(*_pairs(codes, index, len(names))):
        if names[value]:
            found[group].append(names[value])
    return found


def _value_order(spec: Dataset, specs: Specs, by: str, values: list[object], frame: pd.DataFrame,
                 codes: np.ndarray, n: int) -> list[int]:
    """Group numbers in define order: the topic codelist's order, else the smallest PARAMN of
    each value, else the values sorted."""
    codelist = spec.variable(by).codelist
    if codelist and codelist in specs.codelists:
        listed = list(dict.fromkeys(t.value for t in specs.codelists[codelist].terms))
        rank = {value: i for i, value in enumerate(listed)}
        return sorted(range(n), key=lambda g: (rank.get(check_text(values[g]), len(rank)),
                                               check_text(values[g])))
    number = by[:-2] + "N" if by.endswith("CD") else ""
    if number in frame and pd.api.types.is_numeric_dtype(frame[number]):
        keep = codes >= 0
        smallest = pd.Series(frame[number].to_numpy(dtype=float)[keep]).groupby(codes[keep]).min()
        return sorted(range(n), key=lambda g: (np.nan_to_num(smallest.get(g, np.inf), nan=np.inf),
                                               check_text(values[g])))
    return sorted(range(n), key=lambda g: check_text(values[g]))


def _value_cases(spec: Dataset, by: str) -> dict[str, tuple[str, str]]:
    """Topic value -> (record group, the group's description) where the topic variable is a
    constant per record group (``cases``), e.g. SUPPDM's QNAM."""
    source = spec.variable(by).source
    if not isinstance(source, CasesSource):
        return {}
    described = {group.group: " ".join((group.description or "").split())
                 for group in spec.records}
    return {str(case.constant): (group, described.get(group, ""))
            for group, case in source.cases.items() if isinstance(case, ConstantSource)}


def _grouped_types(kind: str, sas_format: str | None, values: pd.Series, codes: np.ndarray,
                   n: int) -> list[tuple[str, int, object, bool]]:
    """Per group: (data type, length, significant digits, whether any record has a value).

    Char: length = the longest value; ``integer``/``float`` when every value is a number (ASCII
    digits, a sign, a decimal point, an exponent), else ``text``. Num: length 8; ``integer``
    for SAS dates and whole numbers, else ``float`` with the decimals the data need.
    Vectorised: a text column is hash-encoded once (pyarrow) and the tests run on its distinct
    values and on the distinct (group, value) pairs; a numeric column is grouped by integer
    codes, the decimals found on each group's distinct numbers."""
    from .define import _decimals

    if kind == "Char":
        index, distinct = _encoded(values)
        lengths = pc.utf8_length(distinct).to_numpy(zero_copy_only=False)
        numeric = pc.match_substring_regex(distinct, _NUMBER).to_numpy(zero_copy_only=False)
        numbers = np.full(len(distinct), np.nan)
        if numeric.any():
            numbers[numeric] = _parse_numbers(pc.filter(distinct, pa.array(numeric)))
        group, value = _pairs(codes, index, len(distinct))
        present = lengths[value] > 0
        longest = np.zeros(n, dtype=np.int64)
        np.maximum.at(longest, group, lengths[value])
        any_value = np.bincount(group[present], minlength=n) > 0
        textual = np.bincount(group[present & ~numeric[value]], minlength=n) > 0
        numeric_groups = any_value & ~textual
        rows = present & numeric_groups[group]
        kinds = _number_kinds(numbers[value[rows]], group[rows], n, _decimals)
        return [(kinds[g][0] if numeric_groups[g] else "text", max(1, int(longest[g])),
                 kinds[g][1] if numeric_groups[g] else "", bool(any_value[g]))
                for g in range(n)]
    if pd.api.types.is_datetime64_any_dtype(values):
        present = values.notna().to_numpy()
        numbers = np.zeros(len(values))
    else:
        if not pd.api.types.is_numeric_dtype(values):
            values = pd.to_numeric(values, errors="coerce")
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(numbers)
    rows = (codes >= 0) & present
    any_value = np.bincount(codes[rows], minlength=n) > 0
    if sas_format and sas_format.upper().startswith(("DATE", "TIME", "YYMMDD", "E8601")):
        return [("integer", 8, "", bool(any_value[g])) for g in range(n)]
    kinds = _number_kinds(numbers[rows], codes[rows], n, _decimals)
    return [(kinds[g][0], 8, kinds[g][1], bool(any_value[g])) for g in range(n)]


def _parse_numbers(text: pa.ChunkedArray) -> np.ndarray:
    """Number texts (matched by ``_NUMBER``) as floats: pyarrow's cast, else pandas'."""
    try:
        return pc.cast(text, pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(pd.Series(text.to_pylist()), errors="coerce").to_numpy(dtype=float)


def _number_kinds(numbers: np.ndarray, groups: np.ndarray, n: int,
                  decimals) -> list[tuple[str, object]]:
    """Per group: ("integer", "") when every finite number is whole, else ("float", the
    decimals of its distinct numbers)."""
    kinds: list[tuple[str, object]] = [("integer", "")] * n
    finite = np.isfinite(numbers)
    fraction = finite & (numbers != np.round(numbers))
    if not fraction.any():
        return kinds
    numbers, groups = numbers[finite], groups[finite]
    for g in np.unique(groups[fraction[finite]]).tolist():
        kinds[g] = ("float", decimals(pd.unique(numbers[groups == g])))
    return kinds
