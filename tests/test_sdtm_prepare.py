"""The raw-data rules of ``sdtm.prepare_forms`` on small hand-made forms, and the duplicate
finder it uses checked against a plain Python one on generated frames.

The rules work on masks, on integer codes of whole columns and on the distinct raw dates;
these tests pin down the edge cases that must behave as a row-by-row reading of the rules
would: missing against blank, blanks inside values, lower case, partial and impossible dates,
a date repeated on several rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from itp_adam import issues
from itp_adam.io.raw import RawExport
from itp_adam.stages.sdtm import _repeated_rows, prepare_forms

NA = pd.NA


def _text(values: list) -> pd.Series:
    return pd.Series(values, dtype="str")


@pytest.fixture(scope="module")
def prepared(shipped):
    """DM with three subjects and a BLEED form with one planted case per row (data cut-off of
    the shipped study.yaml: 2025-04-14)."""
    specs = shipped.specs
    assert str(specs.study.cutoff_date) == "2025-04-14"
    assert specs.study.cutoff_columns["BLEED"] == "ASMDAT"
    dm = pd.DataFrame({
        "_ROW": [2, 3, 4], "STUDYID": _text(["S"] * 3), "SITEID": _text(["01"] * 3),
        "SUBJID": _text(["01-001", "01-002", "01-003"]), "ICDAT": _text(["01 JAN 2025"] * 3),
        "BRTHDAT": _text(["1970"] * 3), "AGE": pd.array([55, 55, 55], dtype="Int64"),
        "SEX": _text(["F"] * 3), "RACE": _text(["Asian"] * 3), "ETHNIC": _text(["Han"] * 3)})
    rows = [  # _ROW, SUBJID, VISIT, ASMDAT, WHOGR
        (2, "01-001", "WEEK 1", "10 APR 2025", 1),
        (3, "01-001", "WEEK 1", "10 APR 2025", 1),      # same as row 2
        (4, "01-001", "WEEK 1", "10 APR 2025", NA),     # missing grade: not row 2
        (5, "01-001", "WEEK 1", "10 APR 2025", NA),     # same as row 4 (missing = missing)
        (6, "01-001", "WEEK 1 ", "10 APR 2025", 1),     # trailing blank: not row 2
        (7, "01-002", "", "", NA),                      # a subject only: a record
        (8, "", "", "", NA),                            # empty
        (9, "", "", "", NA),                            # empty (not a duplicate of row 8)
        (10, "", "WEEK 2", "11 APR 2025", 2),           # no SUBJID
        (11, "09-999", "WEEK 2", "11 APR 2025", 2),     # not in DM
        (12, "01-002", "WEEK 2", "15 APR 2025", 2),     # after the cut-off
        (13, "01-002", "WEEK 3", "un apr 2025", 2),     # earliest 1 Apr: kept
        (14, "01-002", "WEEK 4", "UN MAY 2025", 2),     # earliest 1 May: after
        (15, "01-003", "WEEK 4", " 14 APR 2025 ", 2),   # on the cut-off day: kept
        (16, "01-003", "WEEK 5", "31 FEB 2025", 2),     # impossible date: never after
        (17, "01-003", "WEEK 6", "UN UNK 2026", 2),     # earliest 1 Jan 2026: after
        (18, "01-003", "WEEK 7", "15 APR 2025", 3),     # same raw date as row 12: after
        (19, "01-002", "WEEK 2", "15 APR 2025", 2),     # same as row 12
    ]
    columns = list(zip(*rows))
    bleed = pd.DataFrame({"_ROW": list(columns[0]), "SUBJID": _text(list(columns[1])),
                          "VISIT": _text(list(columns[2])), "ASMDAT": _text(list(columns[3])),
                          "WHOGR": pd.array(list(columns[4]), dtype="Int64")})
    export = RawExport(source=Path("hand-made"), kind="csv", forms={"DM": dm, "BLEED": bleed},
                       files={})
    with issues.collect() as log:
        forms = prepare_forms(export, specs)
    return forms, log.frame()


def test_records_kept(prepared):
    forms, _ = prepared
    assert forms["BLEED"]["_ROW"].tolist() == [2, 4, 6, 7, 13, 15, 16]
    assert forms["BLEED"].index.equals(pd.RangeIndex(7))
    assert (forms["BLEED"]["_FORM"] == "BLEED").all()
    assert forms["BLEED"]["WHOGR"].dtype == "Int64" and forms["BLEED"]["VISIT"].dtype == "str"
    assert forms["DM"]["_ROW"].tolist() == [2, 3, 4]


def test_every_row_left_out_is_reported_once(prepared):
    _, log = prepared
    got = {(int(r.row), r.rule, r.value) for r in log[log["form"] == "BLEED"].itertuples()}
    cutoff = "dated after the data cut-off 2025-04-14: record left out of SDTM"
    duplicate = "exact duplicate row: collapsed to the first"
    empty = "empty row (blank in every column): left out of SDTM"
    assert got == {
        (3, duplicate, "same as row 2"), (5, duplicate, "same as row 4"),
        (19, duplicate, "same as row 12"),
        (8, empty, ""), (9, empty, ""),
        (10, "no SUBJID: record left out of SDTM", ""),
        (11, "subject not in DM: record left out of SDTM", "09-999"),
        (12, cutoff, "15 APR 2025"), (14, cutoff, "UN MAY 2025"),
        (17, cutoff, "UN UNK 2026"), (18, cutoff, "15 APR 2025"),
    }
    assert len(log[log["form"] == "BLEED"]) == 11


# --------------------------------------------------------------------------------------------
# the duplicate finder against a plain Python one


def _python_repeats(frame: pd.DataFrame, columns: list[str], rows: np.ndarray):
    """Row by row: a dictionary from the row's values (missing as one marker) to the first
    position that had them."""
    first: dict[tuple, int] = {}
    repeats, firsts = [], []
    values = frame[columns].astype(object).to_numpy()
    for position in rows:
        key = tuple("<missing>" if pd.isna(v) else (type(v).__name__, v) for v in values[position])
        if key in first:
            repeats.append(position)
            firsts.append(first[key])
        else:
            first[key] = position
    return repeats, firsts


def _generated(seed: int, rows: int, distinct: int) -> pd.DataFrame:
    """Random text, integer and decimal columns with missing values, blanks and near-blanks,
    plus copies of earlier rows (some with one value changed)."""
    rng = np.random.default_rng(seed)
    words = np.array(["", " ", "a", "A", "a ", *[f"w{i}" for i in range(distinct)]], dtype=object)

    def text() -> pd.Series:
        values = words[rng.integers(0, len(words), rows)]
        values[rng.random(rows) < 0.05] = None
        return pd.Series(values, dtype="str")

    def integers() -> pd.Series:
        values = pd.array(rng.integers(-distinct, distinct, rows), dtype="Int64")
        values[rng.random(rows) < 0.05] = NA
        return pd.Series(values)

    def decimals() -> pd.Series:
        values = pd.array(rng.integers(0, distinct, rows) / 4, dtype="Float64")
        values[rng.random(rows) < 0.05] = NA
        return pd.Series(values)

    frame = pd.DataFrame({"T1": text(), "I1": integers(), "T2": text(), "F1": decimals(),
                          "T3": text(), "I2": integers(), "T4": text(), "F2": decimals()})
    source = rng.integers(0, rows, rows // 5)
    target = rng.integers(0, rows, rows // 5)
    frame.iloc[target] = frame.iloc[source].to_numpy()  # copies (of whatever is there)
    changed = target[: len(target) // 4]
    frame.loc[changed, "F2"] = NA  # some copies differ in one value
    return frame


@pytest.mark.parametrize("seed, rows, distinct", [
    (1, 3000, 2),      # few distinct values: keys stay small and are counted directly
    (2, 4000, 40),     # keys grow past 4x the rows: hashed into buckets
    (3, 5000, 3000),   # keys would pass 2**62: renumbered on the way
    (4, 1, 5), (5, 0, 5),
])
def test_repeated_rows_match_a_row_by_row_reading(seed, rows, distinct):
    frame = _generated(seed, rows, distinct)
    columns = list(frame.columns)
    keep = np.random.default_rng(seed + 100).random(rows) < 0.9  # some rows already left out
    positions = np.flatnonzero(keep)
    repeats, firsts = _repeated_rows(frame, columns, positions, {})
    expected = _python_repeats(frame, columns, positions)
    assert (repeats.tolist(), firsts.tolist()) == expected
    # and pandas agrees on which rows repeat an earlier one
    duplicated = frame.iloc[positions].duplicated(columns).to_numpy()
    assert repeats.tolist() == positions[duplicated].tolist()
    if rows > 1000:
        assert len(repeats) > 50  # the copies are found, not only the chance repeats


def test_repeated_rows_use_given_codes():
    frame = pd.DataFrame({"A": _text(["x", "y", "x", "x"]), "B": _text(["1", "1", "1", "2"])})
    coded = {"A": pd.factorize(frame["A"])}
    repeats, firsts = _repeated_rows(frame, ["A", "B"], np.arange(4), coded)
    assert (repeats.tolist(), firsts.tolist()) == ([2], [0])


def test_kept_rows_equal_pandas_boolean_indexing():
    """``_keep_rows`` (pyarrow filter of text columns) against ``frame[keep]``: text in two
    chunks with missing values, nullable integers with NA, floats, objects, a category."""
    from itp_adam.stages.sdtm import _keep_rows

    halves = [pd.DataFrame({
        "_ROW": pd.array([1, None, 3], dtype="Int64"), "T": _text(["a ", None, ""]),
        "X": [1.5, np.nan, 3.0], "O": pd.Series(["p", None, 7], dtype=object),
        "C": pd.Series(["u", "v", None], dtype="category")}) for _ in range(2)]
    frame = pd.concat(halves, ignore_index=True)
    assert frame["T"].array._pa_array.num_chunks == 2
    keep = np.array([True, False, True, True, True, False])
    got = _keep_rows(frame, keep)
    want = frame[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["T"].isna().tolist() == [False, False, False, True] and got.equals(want)
    assert _keep_rows(frame, np.ones(6, dtype=bool)).equals(frame)
