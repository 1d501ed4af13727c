"""Tests of the SAS XPORT v5 writer.

Every written file is read back with pandas.read_sas (an independent XPORT reader: pandas' own
parser, not ReadStat) for the values, and with pyreadstat.read_xport for the metadata.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itp_adam.io import xpt
from itp_adam.io.xpt import XptLimitError, XptProblem, check_xpt, write_xpt

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


def sas_format(text: str | None) -> tuple[str, int, int] | None:
    """A SAS format as (name, width, decimals): what the file stores, whatever a reader's
    spelling (pyreadstat 1.3.7 reports ``DATE9``, 1.3.8 ``DATE9.``; 1.2.7 ``NULL`` for none)."""
    if not text or text.strip().upper() == "NULL":
        return None
    match = re.fullmatch(r"(\$?[A-Z_]*?)(\d*)\.?(\d*)", text.strip().upper())
    assert match, f"not a SAS format: {text!r}"
    name, width, decimals = match.groups()
    return name, int(width or 0), int(decimals or 0)


def formats_of(meta) -> dict[str, tuple[str, int, int] | None]:
    """Every variable's format as pyreadstat reads it, normalised by :func:`sas_format`."""
    return {name: sas_format(fmt) for name, fmt in meta.original_variable_types.items()}


def test_sas_format_reads_every_spelling():
    assert sas_format("DATE9") == sas_format("DATE9.") == sas_format("date9.") == ("DATE", 9, 0)
    assert sas_format("8.2") == ("", 8, 2)
    assert sas_format("$CHAR20.") == ("$CHAR", 20, 0)
    assert sas_format(None) is None and sas_format("") is None and sas_format("NULL") is None


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


def test_the_returned_checksum_is_the_sha256_of_the_file(tmp_path: Path, adsl: pd.DataFrame,
                                                         monkeypatch):
    import hashlib

    monkeypatch.setattr(xpt, "_CHUNK_BYTES", 1)  # one row per block: many writes to hash
    big = pd.concat([adsl] * 50, ignore_index=True)
    path = tmp_path / "adsl.xpt"
    digest = write_xpt(big, path, "ADSL", "Subject-Level", labels_for(big))
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(read_pandas(path)) == 200


def test_metadata_labels_formats_and_trimmed_widths(tmp_path: Path, adsl: pd.DataFrame):
    path = tmp_path / "adsl.xpt"
    labels = labels_for(adsl)
    write_xpt(adsl, path, "adsl", "Subject-Level Analysis Dataset", labels)
    data, meta = pyreadstat.read_xport(path)

    assert meta.table_name == "ADSL"
    assert meta.file_label == "Subject-Level Analysis Dataset"
    assert meta.column_labels == [labels[name] for name in adsl.columns]
    dates = {"TRTSDT", "TRTEDT", "RANDDT"}
    assert formats_of(meta) == {
        name: (("DATE", 9, 0) if name in dates else None) for name in adsl.columns
    }
    fields = read_pandas_fields(path)  # the NAMESTR bytes, read by a second parser
    assert {name: (f["nform"].decode().strip(), f["nfl"]) for name, f in fields.items()
            if name in dates} == {name: ("DATE", 9) for name in dates}
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
    assert formats_of(meta) == {"USUBJID": None, "DTHDT": ("DATE", 9, 0), "LSTDT": ("DATE", 9, 0)}
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
    def broken_write(fh, *args):
        fh.write(b"HEADER RECORD" + bytes(50))
        raise OSError("disk full")

    monkeypatch.setattr(xpt, "_write_file", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_xpt(adsl, tmp_path / "adsl.xpt", "ADSL", "Subject-Level", labels_for(adsl))
    assert list(tmp_path.iterdir()) == []


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


def test_value_with_a_nul_character_is_refused():
    df = pd.DataFrame({"TERM": ["ok", "a\x00b"], "N": [1.0, 2.0]})
    (problem,) = check_xpt(df, "ADAE", "AE", labels_for(df))
    assert (problem.variable, problem.rule) == ("TERM", "value-nul")
    assert "row 1" in problem.detail


# --- Byte identity with pyreadstat ---------------------------------------------------------
# The writer is a vectorised numpy implementation of the layout pyreadstat (ReadStat) writes.
# Each file below is compared, byte for byte, with pyreadstat.write_xport's file for the same
# data. pyreadstat gets its input from `_pyreadstat_input`, a per-value Python conversion
# written independently of the writer. The only difference allowed is the header timestamp
# (local time of writing), so the writer is given pyreadstat's own timestamp before comparing.

_EPOCH = dt.date(1960, 1, 1)
_PRINTABLE = np.array([chr(c) for c in range(32, 127)])
_SUBNORMAL = 5e-324


def ibm_reference(value: float) -> int:
    """The 8 XPT bytes of one number as an integer, by exact arithmetic (not bit twiddling):
    sign, exponent E + 64 with 16**(E-1) <= |x| < 16**E, and the 56-bit fraction |x| / 16**E.
    ReadStat's limits: |x| >= 2**249 or inf -> largest IBM number; |x| < 2**-260 -> 0."""
    from fractions import Fraction

    if np.isnan(value):
        return 0x2E << 56
    sign = (1 << 63) if np.signbit(value) else 0
    magnitude = abs(value)
    if magnitude < 2.0**-260:
        return 0
    if magnitude >= 2.0**249:
        return sign | 0x7FFF_FFFF_FFFF_FFFF
    exact = Fraction(magnitude)
    exponent = -64
    while exact >= Fraction(16) ** exponent:
        exponent += 1
    fraction = exact / Fraction(16) ** exponent * 2**56
    assert fraction.denominator == 1 and 2**52 <= fraction < 2**56
    return sign | ((exponent + 64) << 56) | int(fraction)


def test_ibm_doubles_match_exact_arithmetic():
    rng = np.random.default_rng(7)
    special = [0.0, -0.0, 1.0, -1.0, 0.5, 1 / 3, -118.625, 2.0**53, 1e20, -123456.789, 1e-70,
               16.0**-65, -(16.0**-65), np.nextafter(16.0**-65, 0), 2.0**-261, _SUBNORMAL,
               -1e-310, 2.0**248, np.nextafter(2.0**249, 0), 2.0**249, -(2.0**249), 1e300,
               np.inf, -np.inf, np.nan, np.finfo(float).max, np.finfo(float).tiny]
    mantissas = rng.uniform(-1, 1, 3000)
    scaled = mantissas * 2.0 ** rng.integers(-270, 260, mantissas.size).astype(float)
    values = np.concatenate([special, scaled, rng.integers(-(2**53), 2**53, 500).astype(float)])
    got = xpt.ibm_doubles(values)
    assert got.dtype == np.uint64
    assert [int(v) for v in got] == [ibm_reference(float(v)) for v in values]
    # 1.0 and -118.625 as published in SAS TS-140 (IBM hex 41100000 00000000, C276A000 ...)
    assert got[2] == 0x4110_0000_0000_0000 and got[6] == 0xC276_A000_0000_0000


def _pyreadstat_input(df: pd.DataFrame, date_columns: list[str]) -> tuple[pd.DataFrame, dict]:
    """What pyreadstat must be given for the same file, value by value: text with missing as
    "" and trailing blanks removed, numbers as floats, dates as days since 1960-01-01."""
    out, formats = {}, {}
    for name in df.columns:
        values = df[name].astype(object).tolist()
        missing = [v is None or v is pd.NA or v is pd.NaT or v != v for v in values]
        dtype = df[name].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            dtype = dtype.categories.dtype
        is_date = name in date_columns or pd.api.types.is_datetime64_any_dtype(dtype) or any(
            isinstance(v, dt.date) for v in values)
        if is_date:
            days = [np.nan if m else float((pd.Timestamp(v).date() - _EPOCH).days)
                    for v, m in zip(values, missing)]
            out[name] = pd.Series(days, dtype="float64")
            formats[name] = "DATE9."
        elif pd.api.types.is_numeric_dtype(dtype):
            out[name] = pd.Series([np.nan if m else float(v) for v, m in zip(values, missing)],
                                  dtype="float64")
        else:
            out[name] = pd.Series([("" if m else v).rstrip(" ") for v, m in zip(values, missing)],
                                  dtype="str")
    frame = pd.DataFrame(out, columns=list(df.columns))
    return frame, formats


def _random_name(rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        first = rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
        rest = rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ab"), rng.integers(0, 8))
        name = first + "".join(rest)
        if name.upper() not in taken:
            taken.add(name.upper())
            return name


def _random_text(rng: np.random.Generator, n: int, longest: int) -> list[str]:
    lengths = rng.integers(0, longest + 1, n)
    chars = rng.choice(_PRINTABLE, lengths.sum())
    cuts = np.cumsum(lengths)[:-1]
    return ["".join(part) for part in np.split(chars, cuts)]


def _random_column(rng: np.random.Generator, kind: str, n: int):
    """One column of the given kind with missing values sprinkled in."""
    holes = rng.random(n) < rng.choice([0.0, 0.1, 0.5])
    if kind == "text":
        values = np.array(_random_text(rng, n, int(rng.choice([1, 8, 40, 200]))), dtype=object)
        values[holes] = rng.choice([None, np.nan, ""])
        return pd.Series(values, dtype=rng.choice(["str", "object"]))
    if kind == "codes":  # few distinct values, some with trailing blanks, as a category
        pool = ["Y", "N", "", "Drug X  ", "  lead", "x" * 200]
        values = pd.Series(rng.choice(pool, n), dtype="object").where(~holes, None)
        return values.astype("category") if rng.random() < 0.5 else values.astype("str")
    if kind == "blank":
        return pd.Series(rng.choice(["", None, "   "], n), dtype="str")
    if kind == "number":
        scale = 10.0 ** rng.integers(-60, 60, n).astype(float)
        values = rng.normal(size=n) * scale
        values[rng.random(n) < 0.05] = -0.0
        values[rng.random(n) < 0.05] = 0.0
        extremes = [16.0**-65, -(16.0**-65), np.nextafter(2.0**249, 0), -(2.0**248), 1e-70]
        pick = rng.random(n) < 0.05
        values[pick] = rng.choice(extremes, pick.sum())
        values[holes] = np.nan
        return pd.Series(values)
    if kind == "integer":
        values = pd.Series(rng.integers(-(2**53), 2**53, n), dtype="Int64")
        return values.mask(holes) if holes.any() else values.astype("int64")
    if kind == "nan":
        return pd.Series(np.full(n, np.nan))
    days = rng.integers(-80_000, 100_000, n)  # 1741 to 2233
    stamps = pd.Series(np.datetime64("1960-01-01", "D") + days).astype(
        f"datetime64[{rng.choice(['s', 'ms', 'us', 'ns'])}]").mask(holes)
    if kind == "date-object":
        return pd.Series([None if h else s.date() for s, h in zip(stamps, holes)], dtype=object)
    return stamps


_KINDS = ["text", "codes", "blank", "number", "integer", "nan", "date", "date-object",
          "all-missing-date"]


def _random_frame(seed: int):
    """A frame mixing every column kind, with its labels and date columns."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([0, 1, 2, 3, 9, 10, 11, 100, 997]))
    ncol = int(rng.choice([1, 2, 5, 12, 300] if seed % 10 == 0 else [1, 2, 5, 12]))
    taken: set[str] = set()
    columns, dates = {}, []
    for _ in range(ncol):
        kind = str(rng.choice(_KINDS))
        name = _random_name(rng, taken)
        if kind == "all-missing-date":
            columns[name] = pd.Series([None] * n, dtype=object)
            dates.append(name)
        else:
            columns[name] = _random_column(rng, kind, n)
    df = pd.DataFrame(columns)
    char_only = all(not pd.api.types.is_numeric_dtype(df[c].dtype) and c not in dates
                    and not pd.api.types.is_datetime64_any_dtype(df[c].dtype)
                    and not any(isinstance(v, dt.date) for v in df[c]) for c in df.columns)
    if char_only and n:  # a blank last row there is refused (see trailing-blank-row)
        first = df.columns[0]
        df[first] = df[first].astype(object)
        df.loc[n - 1, first] = "LAST"
    labels = {c: "".join(rng.choice(_PRINTABLE[1:], rng.integers(1, 41))) for c in df.columns}
    label = "".join(rng.choice(_PRINTABLE, rng.integers(1, 41))).strip() or "L"
    return df, labels, label, dates


def _write_both(df, labels, label, dates, folder: Path, monkeypatch) -> tuple[bytes, bytes]:
    """The file pyreadstat writes and the file write_xpt writes, with pyreadstat's stamp."""
    given, formats = _pyreadstat_input(df, dates)
    reference = folder / "pyreadstat.xpt"
    pyreadstat.write_xport(given, reference, file_label=label,
                           column_labels=[labels[c] for c in df.columns], table_name="DS",
                           file_format_version=5, variable_format=formats or None)
    expected = reference.read_bytes()
    stamp = expected[80 + 64 : 80 + 80].decode()
    monkeypatch.setattr(xpt, "_timestamp", lambda: stamp)
    ours = folder / "ds.xpt"
    write_xpt(df, ours, "ds", label, labels, date_columns=dates)
    return expected, ours.read_bytes()


@pytest.mark.parametrize("seed", range(60))
def test_files_are_byte_identical_to_pyreadstat(tmp_path: Path, monkeypatch, seed: int):
    df, labels, label, dates = _random_frame(seed)
    if seed % 3 == 0:  # many small blocks: block boundaries fall inside records
        monkeypatch.setattr(xpt, "_CHUNK_BYTES", 97)
    expected, got = _write_both(df, labels, label, dates, tmp_path, monkeypatch)
    assert len(got) == len(expected)
    assert got == expected

    # read back by both readers: the values pyreadstat was given
    given, formats = _pyreadstat_input(df, dates)
    data, meta = pyreadstat.read_xport(tmp_path / "ds.xpt")
    assert meta.number_rows in (len(df), None) and list(data.columns) == list(df.columns)
    assert meta.column_labels == [labels[c] for c in df.columns]
    back = read_pandas(tmp_path / "ds.xpt", nrows=len(df)) if len(df) else None
    for name in df.columns:
        want = given[name].tolist()
        if name in formats:
            assert [None if v != v else (v - _EPOCH).days for v in data[name]] == [
                None if w != w else int(w) for w in want]
        elif meta.readstat_variable_types[name] == "double":
            np.testing.assert_array_equal(data[name].to_numpy(dtype=float), want)
        else:
            assert data[name].tolist() == want
            assert meta.variable_storage_width[name] == max(1, *map(len, want), 1)
        if back is not None:
            if name in formats or meta.readstat_variable_types[name] == "double":
                # read_pandas maps 16**-65 to 0 (see _PANDAS_ZERO): the same for a true 16**-65
                want = np.where(np.array(want, dtype=float) == _PANDAS_ZERO, 0.0, want)
                np.testing.assert_array_equal(back[name].to_numpy(dtype=float), want)
            else:
                assert back[name].tolist() == want


def _chunked_sliced_frame(extra: str = "ef") -> pd.DataFrame:
    """Text columns backed by two pyarrow chunks, the first one sliced (an array offset), with
    missing, full-width and trailing-blank values; rows labelled 2..7."""
    a = pd.DataFrame({"A": pd.Series(["xx", "yy", None, "zz ", "ab"], dtype="str"),
                      "B": pd.Series(["P", "Q", "R", "S", "T"], dtype="str"),
                      "N": [1.0, 2.0, np.nan, 4.0, 5.0]})
    b = pd.DataFrame({"A": pd.Series(["cd", extra, None], dtype="str"),
                      "B": pd.Series(["U", None, "W"], dtype="str"), "N": [6.0, 7.0, 8.0]})
    return pd.concat([a, b], ignore_index=True).iloc[2:]


def test_chunked_and_sliced_text_columns_are_byte_identical(tmp_path: Path, monkeypatch):
    df = _chunked_sliced_frame()
    assert df["A"].array._pa_array.num_chunks == 2  # what the test is about
    monkeypatch.setattr(xpt, "_CHUNK_BYTES", 7)  # blocks of 2 rows: some full width, some not
    expected, got = _write_both(df, {c: c for c in df.columns}, "L", [], tmp_path, monkeypatch)
    assert got == expected


def test_value_problem_row_in_a_chunked_sliced_column():
    problems = check_xpt(_chunked_sliced_frame(extra="\u00e9t\u00e9  "), "DS", "L",
                         {"A": "A", "B": "B", "N": "N"})
    assert [str(p) for p in problems] == [
        "DS.A [value-ascii]: 1 value(s) not ASCII; first at row 6: "
        "'\u00e9t\u00e9' has '\u00e9' (U+00E9) at position 0"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=False), min_size=1, max_size=30))
def test_any_writable_number_is_byte_identical(tmp_path_factory, values: list[float]):
    keep = [v for v in values if v != v or v == 0 or 16.0**-65 <= abs(v) < 2.0**249]
    df = pd.DataFrame({"X": pd.Series(keep, dtype="float64"), "T": ["t"] * len(keep)})
    with pytest.MonkeyPatch.context() as monkeypatch:
        expected, got = _write_both(df, {"X": "x", "T": "t"}, "Numbers", [],
                                    tmp_path_factory.mktemp("n"), monkeypatch)
    assert got == expected


def test_read_xpt_spells_formats_one_way_for_every_pyreadstat():
    from itp_adam.io.xpt import _format_name

    # pyreadstat 1.3.7 / 1.3.8 / 1.2.7 spellings of the same stored format, and of none
    assert [_format_name(v) for v in ("DATE9", "DATE9.", "date9.", "NULL", None, "", "8.2")] == [
        "DATE9", "DATE9", "DATE9", "", "", "", "8.2"]


def test_datetime_columns_are_sas_seconds_with_datetime20(tmp_path: Path):
    """ADaM --DTM variables: seconds since 1960-01-01 00:00:00 with DATETIME20. (SAP 0.1 of the
    pilot). 2014-01-02 is 19,725 days after 1960-01-01 (54 years, 14 of them leap years from
    1960 to 2012, plus one day): 19,725 x 86,400 = 1,704,240,000 s; 23:59:59 adds 86,399."""
    frame = pd.DataFrame({
        "TRTSDTM": pd.to_datetime(["2014-01-02 00:00:00", None, "2014-01-02 23:59:59"]),
        "TRTSDT": pd.to_datetime(["2014-01-02", None, "2014-01-02"]),
    })
    path = tmp_path / "adsl.xpt"
    write_xpt(frame, path, "ADSL", "Subject Level", {"TRTSDTM": "First dose", "TRTSDT": "Date"},
              date_columns=["TRTSDT"], datetime_columns=["TRTSDTM"])
    raw, meta = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    assert raw["TRTSDTM"].iloc[0] == 1_704_240_000
    assert np.isnan(raw["TRTSDTM"].iloc[1])
    assert raw["TRTSDTM"].iloc[2] == 1_704_326_399
    assert raw["TRTSDT"].iloc[0] == 19_725
    assert xpt._format_name(meta.original_variable_types["TRTSDTM"]) == "DATETIME20"
    assert xpt._format_name(meta.original_variable_types["TRTSDT"]) == "DATE9"
    back, _ = xpt.read_xpt(path)
    assert back["TRTSDTM"].iloc[2] == pd.Timestamp("2014-01-02 23:59:59")


def test_datetime_columns_refuse_fractions_of_a_second():
    frame = pd.DataFrame({"ADTM": pd.to_datetime(["2014-01-02 10:00:00.5"])})
    problems = xpt._prepare(frame, "ADX", "Label", {"ADTM": "Datetime"}, (), ("ADTM",))[0]
    assert [p.rule for p in problems] == ["fraction-of-second"]


# --------------------------------------------------------------------------------------------
# Written a stretch of rows at a time (XptWriter, as the run writes large datasets)


def _in_stretches(df, labels, label, dates, path: Path, rows: int) -> str:
    """Write ``df`` with XptWriter, prepared ``rows`` rows at a time with the whole frame's
    layout; returns the SHA-256."""
    layout = xpt.xpt_layout(df)
    writer = xpt.XptWriter(path)
    for start in range(0, max(len(df), 1), rows):
        piece = df.iloc[start:start + rows]
        writer.add(xpt.prepare_xpt(piece, "ds", label, labels, date_columns=dates,
                                   layout=layout.stretch(start + rows >= len(df))))
    return writer.close()


@pytest.mark.parametrize("seed", [1, 2, 4, 5, 7, 10, 13, 16, 20, 23])
def test_a_file_written_in_stretches_is_the_file_written_whole(tmp_path: Path, monkeypatch, seed):
    df, labels, label, dates = _random_frame(seed)
    monkeypatch.setattr(xpt, "_timestamp", lambda: "01JAN26:00:00:00")
    write_xpt(df, tmp_path / "whole.xpt", "ds", label, labels, date_columns=dates)
    digest = _in_stretches(df, labels, label, dates, tmp_path / "stretches.xpt", rows=4)
    whole = (tmp_path / "whole.xpt").read_bytes()
    assert (tmp_path / "stretches.xpt").read_bytes() == whole
    import hashlib

    assert digest == hashlib.sha256(whole).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stretches.xpt", "whole.xpt"]


def test_stretches_get_the_width_of_the_whole_column(tmp_path: Path, monkeypatch):
    # the longest value (after trimming) and the trailing blanks are in the last stretch, and
    # the text is in two pyarrow chunks, the first one sliced
    df = _chunked_sliced_frame(extra="longest   ")
    monkeypatch.setattr(xpt, "_timestamp", lambda: "01JAN26:00:00:00")
    assert xpt.xpt_layout(df).widths == {"A": 7, "B": 1}  # "longest", trimmed
    write_xpt(df, tmp_path / "whole.xpt", "ds", "L", {c: c for c in df.columns})
    _in_stretches(df, {c: c for c in df.columns}, "L", [], tmp_path / "s.xpt", rows=2)
    assert (tmp_path / "s.xpt").read_bytes() == (tmp_path / "whole.xpt").read_bytes()
    assert pyreadstat.read_xport(tmp_path / "s.xpt")[0]["A"].tolist() == [
        "", "zz", "ab", "cd", "longest", ""]


def test_only_the_last_stretch_is_checked_for_a_trailing_blank_row(tmp_path: Path):
    df = pd.DataFrame({"A": ["x", "", "y", ""]})  # rows 1 and 3 blank; only 3 is the last
    layout = xpt.xpt_layout(df)
    xpt.prepare_xpt(df.iloc[:2], "DS", "L", {"A": "A"}, layout=layout.stretch(False))
    with pytest.raises(XptLimitError, match="trailing-blank-row"):
        xpt.prepare_xpt(df.iloc[2:], "DS", "L", {"A": "A"}, layout=layout.stretch(True))


def test_a_failed_stretch_leaves_no_file(tmp_path: Path, adsl: pd.DataFrame, monkeypatch):
    writer = xpt.XptWriter(tmp_path / "adsl.xpt")
    layout = xpt.xpt_layout(adsl)
    writer.add(xpt.prepare_xpt(adsl.iloc[:2], "ADSL", "L", labels_for(adsl), layout=layout.stretch(False)))
    monkeypatch.setattr(xpt, "_write_records", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        writer.add(xpt.prepare_xpt(adsl.iloc[2:], "ADSL", "L", labels_for(adsl), layout=layout))
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_the_run_writes_a_large_dataset_in_stretches_with_the_same_bytes(shipped, tmp_path,
                                                                          monkeypatch):
    # pipeline._XptFiles with stretches of 1,000 rows and a budget that makes it wait for the
    # writing thread: ADLB (5,270 rows) in 6 stretches, ADSL whole; the files are the bytes of
    # the dataset written in one piece
    from itp_adam.stages import pipeline

    monkeypatch.setattr(xpt, "STRETCH_ROWS", 1000)
    monkeypatch.setattr(pipeline._XptFiles, "BUDGET", 50_000)
    monkeypatch.setattr(xpt, "_timestamp", lambda: "01JAN26:00:00:00")
    specs, adam = shipped.specs.adam, {"ADLB": shipped.adam["ADLB"], "ADSL": shipped.adam["ADSL"]}
    assert len(adam["ADLB"]) > 5 * 1000 and len(adam["ADSL"]) < 1000
    files = pipeline._XptFiles(tmp_path, pipeline.RunResult(out=tmp_path))
    try:
        files.submit("adam", adam, specs, lambda _: None)
        files.wait(lambda _: None)
    finally:
        files.close()
    (tmp_path / "whole").mkdir()
    for name, frame in adam.items():
        digest = pipeline.write_dataset(frame, specs[name], tmp_path / "whole" / f"{name}.xpt")
        assert (tmp_path / "adam" / f"{name.lower()}.xpt").read_bytes() == \
            (tmp_path / "whole" / f"{name}.xpt").read_bytes()
        assert files.hashed[tmp_path / "adam" / f"{name.lower()}.xpt"] == digest
    assert sorted(p.name for p in (tmp_path / "adam").iterdir()) == ["adlb.xpt", "adsl.xpt"]


def test_a_problem_in_a_late_stretch_is_worded_as_for_the_whole_dataset(shipped, tmp_path,
                                                                          monkeypatch):
    from itp_adam.stages import pipeline

    monkeypatch.setattr(xpt, "STRETCH_ROWS", 1000)
    adlb = shipped.adam["ADLB"].copy()
    adlb.loc[[4321, 4500], "AVISIT"] = "Wk 2 \u2013 late"  # an en dash: not ASCII
    spec = shipped.specs.adam["ADLB"]
    with pytest.raises(XptLimitError) as whole:
        pipeline.prepare_dataset(adlb, spec)
    files = pipeline._XptFiles(tmp_path, pipeline.RunResult(out=tmp_path))
    try:
        with pytest.raises(XptLimitError) as stretched:
            files.submit("adam", {"ADLB": adlb}, shipped.specs.adam, lambda _: None)
    finally:
        files.close()
    assert str(stretched.value) == str(whole.value)
    assert "2 value(s) not ASCII; first at row 4321" in str(whole.value)
    assert list((tmp_path / "adam").iterdir()) == []  # the stretches written are removed


HEADER_TIMES = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
"""The creation and modification times of an XPT header, left out when files are compared."""


def _queue_merged(files, datasets, specs, folder: Path, left: int) -> dict:
    """Each frame of ``datasets`` stored and merged as a one-partition run would, queued on
    ``files`` (``_XptFiles.start_stored``) in order; returns once the feeder has handed the
    first to the XPT process, ``left`` datasets still queued: the merged files by XPT file."""
    from itp_adam.stages import partitions

    made = {}
    for name, frame in datasets.items():
        part = partitions.store(frame, folder / f"{name}-0.arrow")
        made[files.folder / "adam" / f"{name.lower()}.xpt"] = merged = partitions.merge_files(
            [part], specs[name].sort, folder / f"{name}.arrow")
        files.start_stored("adam", name, merged, specs[name])
    for _ in range(1000):
        if len(files.stored) == left:
            break
        time.sleep(0.01)
    return made


def test_a_merged_dataset_is_written_by_the_xpt_process(shipped, tmp_path):
    # a partitioned run with a second core hands each dataset merged in its store to a process
    # that maps the files and writes the XPT file: the same bytes and hash as written here,
    # and a problem comes back as the same error, with no file left
    from itp_adam.stages import pipeline

    spec = shipped.specs.adam["ADLB"]
    good = shipped.adam["ADLB"]
    bad = good.copy()
    bad.loc[[4321, 4500], "AVISIT"] = "Wk 2 \u2013 late"
    with pytest.raises(XptLimitError) as whole:
        pipeline.prepare_dataset(bad, spec)
    pipeline.prepare_dataset(good, spec).write(tmp_path / "here.xpt")
    for name, frame in (("good", good), ("bad", bad)):
        out, store = tmp_path / name, tmp_path / f"{name}-store"
        out.mkdir()
        store.mkdir()
        files = pipeline._XptFiles(out, pipeline.RunResult(out=out))
        try:  # queued as soon as it is merged, and handed to the process
            _queue_merged(files, {"ADLB": frame}, shipped.specs.adam, store, left=0)
            files.submit("adam", {"ADLB": frame}, shipped.specs.adam, lambda _: None)
            assert files.process is not None and not files.queued  # not converted here
            if name == "good":
                files.wait(lambda _: None)
            else:
                with pytest.raises(XptLimitError) as there:
                    files.wait(lambda _: None)
        finally:
            files.close()
        written = out / "adam" / "adlb.xpt"
        if name == "good":
            assert HEADER_TIMES.sub(b"", written.read_bytes()) == \
                HEADER_TIMES.sub(b"", (tmp_path / "here.xpt").read_bytes())
            assert files.hashed[written] == hashlib.sha256(written.read_bytes()).hexdigest()
        else:
            assert str(there.value) == str(whole.value) and there.value.problems == whole.value.problems
            assert list((out / "adam").iterdir()) == []


def test_the_run_writes_the_merged_datasets_the_xpt_process_has_not_started(shipped, tmp_path):
    # the XPT process takes the merged datasets one at a time; once the run's process waits,
    # it writes those still queued itself (its second core): each file the bytes and hash of
    # the dataset written in one piece, whichever process wrote it
    from itp_adam.stages import pipeline

    names = ["ADLB", "ADAE", "ADSL"]
    (tmp_path / "out").mkdir()
    files = pipeline._XptFiles(tmp_path / "out", pipeline.RunResult(out=tmp_path / "out"))
    try:  # ADLB handed to the (starting) process, the other two still queued
        _queue_merged(files, {name: shipped.adam[name] for name in names}, shipped.specs.adam,
                      tmp_path, left=2)
        assert [path.name for _, _, path in files.stored] == ["adae.xpt", "adsl.xpt"]
        assert not files.queued  # nothing converted here yet
        files.wait(lambda _: None)
        assert not files.stored and files.queued  # the two queued ones were converted here
    finally:
        files.close()
    for name in names:
        here = tmp_path / f"{name}.xpt"
        pipeline.prepare_dataset(shipped.adam[name], shipped.specs.adam[name]).write(here)
        written = tmp_path / "out" / "adam" / f"{name.lower()}.xpt"
        assert HEADER_TIMES.sub(b"", written.read_bytes()) == HEADER_TIMES.sub(b"", here.read_bytes())
        assert files.hashed[written] == hashlib.sha256(written.read_bytes()).hexdigest()


def test_each_merged_dataset_goes_from_the_store_once_its_xpt_file_is_written(shipped, tmp_path):
    # the run removes a merged dataset's files as soon as its XPT file is written (whichever
    # process wrote it), in the datasets' order, while the others are finished
    from itp_adam.stages import pipeline

    names = ["ADLB", "ADAE", "ADSL"]
    (tmp_path / "out").mkdir()
    (tmp_path / "store").mkdir()
    files = pipeline._XptFiles(tmp_path / "out", pipeline.RunResult(out=tmp_path / "out"))
    seen = []
    try:
        made = _queue_merged(files, {name: shipped.adam[name] for name in names},
                             shipped.specs.adam, tmp_path / "store", left=2)
        assert all(merged.fixed for merged in made.values())  # NumPy columns beside each

        def written(path: Path) -> None:
            merged = made[path]
            seen.append((path.name, path.is_file() and path in files.hashed,
                         merged.path.is_file() and all(p.is_file() for p in merged.fixed.values())))
            merged.remove()
            merged.remove()  # a second time: nothing left to remove, no error

        files.wait(lambda _: None, written)
    finally:
        files.close()
    assert seen == [(f"{name.lower()}.xpt", True, True) for name in names]
    # only the partitions' files are left (a run's merge removes those as it merges)
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == sorted(
        f"{name}-0.arrow" for name in names)


def test_a_problem_in_a_dataset_the_run_takes_from_the_queue_stops_the_run_the_same_way(
        shipped, tmp_path):
    # ADSL handed to the XPT process, ADLB with a non-ASCII value still queued when the run's
    # process waits: it converts ADLB itself, and ``wait`` raises the whole dataset's error
    # after ADSL's file is done, with no ADLB file left
    from itp_adam.stages import pipeline

    bad = shipped.adam["ADLB"].copy()
    bad.loc[[4321, 4500], "AVISIT"] = "Wk 2 \u2013 late"
    with pytest.raises(XptLimitError) as whole:
        pipeline.prepare_dataset(bad, shipped.specs.adam["ADLB"])
    (tmp_path / "out").mkdir()
    files = pipeline._XptFiles(tmp_path / "out", pipeline.RunResult(out=tmp_path / "out"))
    try:  # ADSL handed to the (starting) process, ADLB still queued
        _queue_merged(files, {"ADSL": shipped.adam["ADSL"], "ADLB": bad}, shipped.specs.adam,
                      tmp_path, left=1)
        assert [path.name for _, _, path in files.stored] == ["adlb.xpt"]
        with pytest.raises(XptLimitError) as here:
            files.wait(lambda _: None)
    finally:
        files.close()
    assert str(here.value) == str(whole.value) and here.value.problems == whole.value.problems
    assert sorted(p.name for p in (tmp_path / "out" / "adam").iterdir()) == ["adsl.xpt"]


def test_of_two_bad_merged_datasets_the_first_in_the_datasets_order_stops_the_run(shipped,
                                                                                  tmp_path):
    # the merges end in an order that depends on timing (here ADLB before ADSL); the run then
    # submits its datasets in their order (ADSL, ADLB), and the error raised is ADSL's, the
    # one a run in one process raises first, whatever the XPT process did first
    from itp_adam.stages import pipeline

    bad = {name: shipped.adam[name].copy() for name in ("ADSL", "ADLB")}
    bad["ADSL"].loc[[7], "ARM"] = "Arm \u00e9"
    bad["ADLB"].loc[[4321], "AVISIT"] = "Wk 2 \u2013 late"
    with pytest.raises(XptLimitError) as first:
        pipeline.prepare_dataset(bad["ADSL"], shipped.specs.adam["ADSL"])
    (tmp_path / "out").mkdir()
    files = pipeline._XptFiles(tmp_path / "out", pipeline.RunResult(out=tmp_path / "out"))
    try:  # ADLB handed to the (starting) process, ADSL still queued
        _queue_merged(files, {"ADLB": bad["ADLB"], "ADSL": bad["ADSL"]}, shipped.specs.adam,
                      tmp_path, left=1)
        files.submit("adam", {name: bad[name] for name in ("ADSL", "ADLB")}, shipped.specs.adam,
                     lambda _: None)
        with pytest.raises(XptLimitError) as here:
            files.wait(lambda _: None)
    finally:
        files.close()
    assert str(here.value) == str(first.value) and "ADSL" in str(here.value)
    assert list((tmp_path / "out" / "adam").iterdir()) == []
