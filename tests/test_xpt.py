"""Tests of the SAS XPORT v5 writer.

Every written file is read back with pandas.read_sas (an independent XPORT reader: pandas' own
parser, not ReadStat) for the values, and with pyreadstat.read_xport for the metadata.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itp_adam import xpt
from itp_adam.xpt import XptLimitError, XptProblem, check_xpt, write_xpt

# pandas' XPORT reader decodes the IBM zero (8 zero bytes) as 16**-65 instead of 0.0
# (pandas-dev/pandas#50670, still open in pandas 3.1); the file itself is right, see
# test_zero_is_an_ibm_zero.
_PANDAS_ZERO = 16.0**-65


def labels_for(df: pd.DataFrame) -> dict[str, str]:
    return {name: f"{name} label" for name in df.columns}


def read_pandas(path: Path, nrows: int | None = None) -> pd.DataFrame:
    """Read with pandas' own XPORT parser.

    pandas counts every 8-byte blank word of the last 80-byte record as padding, so it drops
    rows when that record holds blank text values (pandas 3.1); ``nrows`` supplies the true
    count for such data, leaving the parsing of every value to pandas.
    """
    with pd.read_sas(path, format="xport", encoding="ascii", iterator=True) as reader:
        if nrows is not None:
            reader.nobs = nrows
        frame = reader.read()
    numbers = frame.select_dtypes("number").columns
    frame[numbers] = frame[numbers].replace(_PANDAS_ZERO, 0.0)
    return frame


def read_pandas_fields(path: Path) -> dict[str, dict]:
    """NAMESTR records as parsed by pandas' reader: field_length, nform, nfl, label per variable."""
    with pd.read_sas(path, format="xport", encoding="ascii", iterator=True) as reader:
        return {field["name"].decode(): field for field in reader.fields}


def sas_days(day: dt.date) -> float:
    return float((day - dt.date(1960, 1, 1)).days)


@pytest.fixture
def adsl() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["ITP-01", "ITP-01", "ITP-01", "ITP-01"],
            "USUBJID": ["AB", "ABCDE", "", None],
            "ARM": ["Placebo", np.nan, "  lead blank", "Drug X  "],
            "BLANK": ["", None, "", np.nan],
            "AGE": [34.0, np.nan, -0.5, 0.0],
            "BIG": [1e20, -123456.789, 2.0**53, 1e-70],
            "COUNT": pd.array([1, None, 2**40, -7], dtype="Int64"),
            "TRTSDT": pd.to_datetime(["2020-01-02", None, "1959-12-31", "1960-01-01"]),
            "TRTEDT": pd.to_datetime(["2021-06-30", "2021-07-01", None, "2262-04-11"]).astype(
                "datetime64[s]"
            ),
            "RANDDT": [dt.date(2019, 12, 1), None, pd.NaT, dt.date(1900, 2, 28)],
        }
    )


def test_values_round_trip_through_an_independent_reader(tmp_path: Path, adsl: pd.DataFrame):
    path = tmp_path / "adsl.xpt"
    write_xpt(adsl, path, "adsl", "Subject-Level Analysis Dataset", labels_for(adsl))
    back = read_pandas(path)

    assert list(back.columns) == list(adsl.columns)
    assert back["STUDYID"].tolist() == ["ITP-01"] * 4
    assert back["USUBJID"].tolist() == ["AB", "ABCDE", "", ""]
    assert back["ARM"].tolist() == ["Placebo", "", "  lead blank", "Drug X"]
    assert back["BLANK"].tolist() == ["", "", "", ""]
    np.testing.assert_array_equal(back["AGE"], [34.0, np.nan, -0.5, 0.0])
    np.testing.assert_array_equal(back["BIG"], [1e20, -123456.789, 2.0**53, 1e-70])
    np.testing.assert_array_equal(back["COUNT"], [1.0, np.nan, 2.0**40, -7.0])
    # SAS dates: days since 1960-01-01, worked out by hand for the first column
    np.testing.assert_array_equal(back["TRTSDT"], [21916.0, np.nan, -1.0, 0.0])
    np.testing.assert_array_equal(
        back["TRTEDT"],
        [sas_days(dt.date(2021, 6, 30)), sas_days(dt.date(2021, 7, 1)), np.nan, 110_404.0],
    )
    np.testing.assert_array_equal(
        back["RANDDT"], [sas_days(dt.date(2019, 12, 1)), np.nan, np.nan, -21_856.0]
    )


def test_metadata_labels_formats_and_trimmed_widths(tmp_path: Path, adsl: pd.DataFrame):
    path = tmp_path / "adsl.xpt"
    labels = labels_for(adsl)
    write_xpt(adsl, path, "adsl", "Subject-Level Analysis Dataset", labels)
    data, meta = pyreadstat.read_xport(path)

    assert meta.table_name == "ADSL"
    assert meta.file_label == "Subject-Level Analysis Dataset"
    assert meta.column_labels == [labels[name] for name in adsl.columns]
    dates = {"TRTSDT", "TRTEDT", "RANDDT"}
    assert meta.original_variable_types == {
        name: ("DATE9" if name in dates else None) for name in adsl.columns
    }
    widths = {"STUDYID": 6, "USUBJID": 5, "ARM": 12, "BLANK": 1}  # by hand; "Drug X  " -> 6
    assert meta.variable_storage_width == widths | {
        name: 8 for name in adsl.columns if name not in widths
    }
    # pyreadstat turns DATE9 variables back into dates
    assert data["TRTSDT"].tolist()[0] == dt.date(2020, 1, 2)
    assert data["RANDDT"].tolist()[3] == dt.date(1900, 2, 28)

    fields = read_pandas_fields(path)
    assert {name: f["field_length"] for name, f in fields.items()} == meta.variable_storage_width
    assert (fields["TRTSDT"]["nform"], fields["TRTSDT"]["nfl"]) == (b"DATE", 9)
    assert fields["AGE"]["ntype"] == "numeric" and fields["ARM"]["ntype"] == "char"


def test_file_is_version_5(tmp_path: Path, adsl: pd.DataFrame):
    path = tmp_path / "adsl.xpt"
    write_xpt(adsl, path, "ADSL", "Subject-Level", labels_for(adsl))
    records = path.read_bytes()
    first = records[:80]
    assert first.startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!")
    assert b"LIBV8" not in first
    assert b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!" in records
    assert b"MEMBV8" not in records and b"OBSV8" not in records
    assert len(records) % 80 == 0


def test_zero_is_an_ibm_zero(tmp_path: Path):
    """The writer stores 0 and -0 as 8 zero bytes; only pandas' reader misreads them."""
    df = pd.DataFrame({"X": [0.0, -0.0, 1.0]})
    path = tmp_path / "zero.xpt"
    write_xpt(df, path, "ZERO", "Zero", {"X": "x"})
    raw = path.read_bytes()
    start = raw.index(b"HEADER RECORD*******OBS     HEADER RECORD") + 80
    assert raw[start : start + 16] == bytes(16)
    assert pyreadstat.read_xport(path)[0]["X"].tolist() == [0.0, 0.0, 1.0]


def test_limits_are_accepted_at_the_boundary(tmp_path: Path):
    df = pd.DataFrame({"ABCDEFGH": ["x" * 200, ""], "N": [1.0, 2.0**248]})
    path = tmp_path / "abcdefgh.xpt"
    write_xpt(df, path, "ABCDEFGH", "d" * 40, {"ABCDEFGH": "l" * 40, "N": "n"})
    assert pyreadstat.read_xport(path)[1].variable_storage_width["ABCDEFGH"] == 200
    back = read_pandas(path)
    assert back["ABCDEFGH"].tolist() == ["x" * 200, ""]
    assert back["N"].tolist() == [1.0, 2.0**248]


LIMIT_CASES = {
    "name-9-chars": (pd.DataFrame({"USUBJIDXX": ["A"]}), "ADSL", {}, "USUBJIDXX", "name-length"),
    "label-41-chars": (
        pd.DataFrame({"AGE": [1.0]}),
        "ADSL",
        {"AGE": "a" * 41},
        "AGE",
        "label-length",
    ),
    "non-ascii-value": (
        pd.DataFrame({"AETERM": ["HEADACHE", "NAUSÉE"]}),
        "ADAE",
        {},
        "AETERM",
        "value-ascii",
    ),
    "value-201-bytes": (
        pd.DataFrame({"AETERM": ["x", "y" * 201]}),
        "ADAE",
        {},
        "AETERM",
        "value-length",
    ),
    "missing-label": (pd.DataFrame({"AGE": [1.0]}), "ADSL", {"AGE": None}, "AGE", "label-missing"),
    "bad-dataset-name": (pd.DataFrame({"AGE": [1.0]}), "1ADSL", {}, None, "dataset-name-chars"),
}


@pytest.mark.parametrize("case", list(LIMIT_CASES.values()), ids=list(LIMIT_CASES))
def test_each_limit_blocks_the_write(tmp_path: Path, case):
    df, dataset, label_overrides, variable, rule = case
    labels = labels_for(df) | label_overrides
    path = tmp_path / "out.xpt"
    with pytest.raises(XptLimitError) as raised:
        write_xpt(df, path, dataset, "A dataset", labels)

    assert [(p.dataset, p.variable, p.rule) for p in raised.value.problems] == [
        (dataset, variable, rule)
    ]
    message = str(raised.value)
    assert dataset in message and f"[{rule}]" in message
    if variable is not None:
        assert f"{dataset}.{variable}" in message
    assert list(tmp_path.iterdir()) == []


def test_value_problems_name_the_first_row_and_value():
    df = pd.DataFrame(
        {"AETERM": ["ok", "NAUSÉE", "FIÈVRE"], "AECOM": ["", "z" * 250, "ok"]},
        index=[10, 11, 12],
    )
    problems = {p.rule: p.detail for p in check_xpt(df, "ADAE", "AE", labels_for(df))}
    assert "2 value(s)" in problems["value-ascii"] and "row 11" in problems["value-ascii"]
    assert "'NAUSÉE'" in problems["value-ascii"] and "U+00C9" in problems["value-ascii"]
    assert "row 11: 250 bytes" in problems["value-length"]


def test_value_length_counts_bytes_not_characters():
    df = pd.DataFrame({"TERM": ["é" * 101]})  # 101 characters, 202 UTF-8 bytes
    rules = {p.rule for p in check_xpt(df, "ADAE", "AE", labels_for(df))}
    assert rules == {"value-ascii", "value-length"}


def test_every_problem_is_reported_at_once():
    df = pd.DataFrame(
        {
            "toolongname": ["a"],
            "sex": ["M"],
            "SEX": ["F"],
            "LIST": [[1, 2]],
            "FLAG": [True],
            "ADTM": pd.to_datetime(["2020-01-01 10:30"]),
            "TZDT": pd.to_datetime(["2020-01-01"]).tz_localize("UTC"),
            "X": [np.inf],
            "B-D": [1.0],
        }
    )
    labels = labels_for(df) | {"sex": "Séx", "SEX": ""}
    found = {(p.variable, p.rule) for p in check_xpt(df, "adsl_too_long", "L" * 41, labels)}
    assert found == {
        (None, "dataset-name-length"),
        (None, "dataset-label-length"),
        ("toolongname", "name-length"),
        ("sex", "label-ascii"),
        ("SEX", "name-duplicate"),
        ("SEX", "label-missing"),
        ("LIST", "column-type"),
        ("FLAG", "column-type"),
        ("ADTM", "date-time-of-day"),
        ("TZDT", "column-type"),
        ("X", "numeric-range"),
        ("B-D", "name-chars"),
    }


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e300, 2.0**249, -(2.0**249), 1e-80])
def test_numbers_the_xpt_format_would_change_are_refused(value: float):
    df = pd.DataFrame({"AVAL": [1.0, value]})
    (problem,) = check_xpt(df, "ADLB", "Lab", labels_for(df))
    assert (problem.variable, problem.rule) == ("AVAL", "numeric-range")
    assert "row 1" in problem.detail


def test_dataset_label_is_required_and_ascii():
    df = pd.DataFrame({"A": [1.0]})
    assert [p.rule for p in check_xpt(df, "ADSL", "", labels_for(df))] == ["dataset-label-missing"]
    assert [p.rule for p in check_xpt(df, "ADSL", "Sujet Ü", labels_for(df))] == [
        "dataset-label-ascii"
    ]


def test_check_xpt_writes_nothing_and_accepts_clean_frames(tmp_path: Path, adsl: pd.DataFrame):
    before = adsl.copy()
    assert check_xpt(adsl, "ADSL", "Subject-Level", labels_for(adsl)) == []
    pd.testing.assert_frame_equal(adsl, before)
    assert list(tmp_path.iterdir()) == []


def test_write_does_not_modify_the_frame(tmp_path: Path, adsl: pd.DataFrame):
    before = adsl.copy()
    write_xpt(adsl, tmp_path / "adsl.xpt", "ADSL", "Subject-Level", labels_for(adsl))
    pd.testing.assert_frame_equal(adsl, before)


def test_date_columns_makes_all_missing_columns_dates(tmp_path: Path):
    df = pd.DataFrame({"USUBJID": ["1", "2"], "DTHDT": [None, None], "LSTDT": [np.nan, np.nan]})
    path = tmp_path / "adsl.xpt"
    write_xpt(df, path, "ADSL", "Subject-Level", labels_for(df), date_columns=["DTHDT", "LSTDT"])
    meta = pyreadstat.read_xport(path, metadataonly=True)[1]
    assert meta.original_variable_types == {"USUBJID": None, "DTHDT": "DATE9", "LSTDT": "DATE9"}
    assert meta.variable_storage_width["DTHDT"] == 8
    assert read_pandas(path)["DTHDT"].isna().all()


def test_date_columns_must_hold_dates(tmp_path: Path):
    df = pd.DataFrame({"ADT": ["2020-01-01"], "AVAL": [1.0]})
    with pytest.raises(XptLimitError) as raised:
        write_xpt(
            df, tmp_path / "x.xpt", "ADLB", "Lab", labels_for(df), date_columns=["ADT", "XDT"]
        )
    assert {(p.variable, p.rule) for p in raised.value.problems} == {
        ("ADT", "date-column"),
        ("XDT", "date-column"),
    }
    assert list(tmp_path.iterdir()) == []


def test_trailing_all_blank_row_of_a_character_only_frame_is_refused():
    df = pd.DataFrame({"A": ["x", ""], "B": ["y", None]})
    assert [p.rule for p in check_xpt(df, "SUPP", "Supp", labels_for(df))] == ["trailing-blank-row"]
    with_number = df.assign(N=[1.0, np.nan])
    assert check_xpt(with_number, "SUPP", "Supp", labels_for(with_number)) == []


def test_failed_check_keeps_the_previous_file(tmp_path: Path, adsl: pd.DataFrame):
    path = tmp_path / "adsl.xpt"
    write_xpt(adsl, path, "ADSL", "Subject-Level", labels_for(adsl))
    before = path.read_bytes()
    with pytest.raises(XptLimitError):
        write_xpt(adsl.assign(ARM="é"), path, "ADSL", "Subject-Level", labels_for(adsl))
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_writer_failure_leaves_no_partial_file(tmp_path: Path, adsl: pd.DataFrame, monkeypatch):
    def broken_write(df, dst_path, **kwargs):
        Path(dst_path).write_bytes(b"HEADER RECORD" + bytes(50))
        raise OSError("disk full")

    monkeypatch.setattr(xpt.pyreadstat, "write_xport", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_xpt(adsl, tmp_path / "adsl.xpt", "ADSL", "Subject-Level", labels_for(adsl))
    assert list(tmp_path.iterdir()) == []


def test_passes_version_5_and_metadata_to_pyreadstat(tmp_path: Path, monkeypatch):
    calls = []

    def fake_write(df, dst_path, **kwargs):
        calls.append(kwargs)
        Path(dst_path).touch()

    monkeypatch.setattr(xpt.pyreadstat, "write_xport", fake_write)
    df = pd.DataFrame({"B": [1.0], "A": ["x"], "ADT": pd.to_datetime(["2020-01-01"])})
    write_xpt(df, tmp_path / "adxx.xpt", "adxx", "X", {"A": "a", "B": "b", "ADT": "d"})
    assert calls == [
        {
            "file_label": "X",
            "column_labels": ["b", "a", "d"],
            "table_name": "ADXX",
            "file_format_version": 5,
            "variable_format": {"ADT": "DATE9."},
        }
    ]


def test_problem_and_error_text():
    problem = XptProblem("ADSL", "AGE", "label-missing", "no variable label")
    error = XptLimitError([problem, XptProblem("ADSL", None, "dataset-label-missing", "none")])
    assert str(problem) == "ADSL.AGE [label-missing]: no variable label"
    assert "ADSL: 2 problem(s)" in str(error) and "ADSL [dataset-label-missing]: none" in str(error)
    assert isinstance(error, ValueError)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=200),
        min_size=1,
        max_size=6,
    )
)
def test_width_is_the_longest_trimmed_value(tmp_path_factory, values: list[str]):
    df = pd.DataFrame({"TXT": values, "N": np.arange(len(values), dtype=float)})
    path = tmp_path_factory.mktemp("w") / "w.xpt"
    write_xpt(df, path, "W", "Widths", labels_for(df))
    trimmed = [v.rstrip(" ") for v in values]
    data, meta = pyreadstat.read_xport(path)
    assert meta.variable_storage_width["TXT"] == max(1, *map(len, trimmed))
    assert data["TXT"].tolist() == trimmed
    assert read_pandas(path, nrows=len(values))["TXT"].tolist() == trimmed
