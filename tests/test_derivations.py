"""Hand-worked tests of itp_adam.derive.core (and the derivation registry)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itp_adam.derive import core as derivations
from itp_adam.derive.core import (
    convert_units,
    derive_var_anl_flag,
    derive_var_base,
    derive_var_baseline_flag,
    derive_var_chg,
    derive_var_crit_flag,
    derive_var_extreme_flag,
    derive_var_pchg,
    derive_var_trtemfl,
    derive_vars_merged,
    parse_result,
    round_signif,
)
from itp_adam.spec.registry import UnknownDerivation, derivation_names, get_derivation

NAN = float("nan")


def dates(*texts: str | None) -> pd.DatetimeIndex:
    """Dates by position (no index to align on)."""
    return pd.to_datetime(list(texts))


def same(actual: pd.Series, expected: list[float]) -> bool:
    """Float columns equal, NaN matching NaN."""
    return np.allclose(actual.to_numpy(dtype=float), np.array(expected, dtype=float), equal_nan=True)


# --- registry --------------------------------------------------------------------------------


def test_registry_resolves_names() -> None:
    assert get_derivation("derive_var_anl_flag") is derive_var_anl_flag
    names = derivation_names()
    assert {"derive_vars_dt", "derive_vars_window", "derive_var_atoxgr", "parse_result"} <= set(names)
    with pytest.raises(UnknownDerivation, match="known derivations: .*derive_var_base"):
        get_derivation("derive_var_nonsense")
    with pytest.raises(KeyError):
        get_derivation("derive_var_nonsense")


# --- filter forms ----------------------------------------------------------------------------


def test_filter_forms() -> None:
    df = pd.DataFrame({"X": [1, 2, 3]}, index=[5, 6, 7])
    assert derivations.filter_mask(df, None).tolist() == [True, True, True]
    assert derivations.filter_mask(df, "X >= 2").tolist() == [False, True, True]
    assert derivations.filter_mask(df, np.array([1, 0, 1])).tolist() == [True, False, True]
    nullable = pd.Series([True, None, False], index=[5, 6, 7], dtype="boolean")
    assert derivations.filter_mask(df, nullable).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="same index"):
        derivations.filter_mask(df, pd.Series([True, True, True]))


# --- derive_var_extreme_flag -----------------------------------------------------------------


@pytest.fixture
def visits() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USUBJID": ["A", "A", "A", "B", "B"],
            "ADT": dates("2024-01-05", "2024-01-01", "2024-01-05", "2024-02-01", None),
            "SEQ": [1, 2, 3, 1, 2],
            "KEEP": [True, True, False, True, True],
        },
        index=[40, 30, 20, 10, 0],
    )


def test_extreme_flag_last_and_first(visits: pd.DataFrame) -> None:
    last = derive_var_extreme_flag(visits, ["USUBJID"], ["ADT", "SEQ"], "LASTFL")
    # A: 01-05 seq 1 and 3 tie on date, seq 3 is last; B: missing date sorts last
    assert last["LASTFL"].tolist() == ["", "", "Y", "", "Y"]
    assert last.index.tolist() == [40, 30, 20, 10, 0]
    first = derive_var_extreme_flag(
        visits, ["USUBJID"], ["ADT", "SEQ"], "FIRSTFL", mode="first", false_value="N"
    )
    assert first["FIRSTFL"].tolist() == ["N", "Y", "N", "Y", "N"]
    assert "LASTFL" not in visits.columns


def test_extreme_flag_descending_and_filter(visits: pd.DataFrame) -> None:
    out = derive_var_extreme_flag(
        visits, ["USUBJID"], ["ADT", ("SEQ", "desc")], "F", filter=visits["KEEP"], false_value="N"
    )
    # A among KEEP rows (seq 1 @01-05, seq 2 @01-01): last by date = seq 1; row seq 3 excluded -> ""
    assert out["F"].tolist() == ["Y", "N", "", "N", "Y"]
    yaml_style = derive_var_extreme_flag(visits, [], [["SEQ", "desc"]], "G", mode="first")
    assert yaml_style["G"].tolist() == ["", "", "Y", "", ""]  # no by_vars: one group, seq 3 first
    with pytest.raises(ValueError, match="direction"):
        derive_var_extreme_flag(visits, ["USUBJID"], [("SEQ", "down")], "H")
    with pytest.raises(ValueError, match="mode"):
        derive_var_extreme_flag(visits, ["USUBJID"], ["SEQ"], "H", mode="middle")


def test_extreme_flag_sap_ordering_missing_last_in_both_directions() -> None:
    df = pd.DataFrame({
        "ID": ["A"] * 5,
        "ASEVN": [2.0, NAN, 3.0, 3.0, 1.0],
        "GRP": pd.Series(["b", "B", "", "a", None], dtype="str"),
        "SEQ": [1, 2, 3, 4, 5],
    })
    # descending severity, missing last: 3 (seq 3), 3 (seq 4), 2, 1, missing -> seq 3 first
    first = derive_var_extreme_flag(df, ["ID"], [["ASEVN", "desc"], "SEQ"], "F", mode="first")
    assert first["F"].tolist() == ["", "", "Y", "", ""]
    last = derive_var_extreme_flag(df, ["ID"], [["ASEVN", "desc"], "SEQ"], "L")
    assert last["L"].tolist() == ["", "Y", "", "", ""]  # the missing one is last
    # text by character code "B" < "a" < "b"; blank and missing text last in both directions
    text = derive_var_extreme_flag(df, ["ID"], ["GRP", "SEQ"], "T", mode="first")
    assert text["T"].tolist() == ["", "Y", "", "", ""]
    text_desc = derive_var_extreme_flag(df, ["ID"], [["GRP", "desc"], ["SEQ", "desc"]], "D")
    assert text_desc["D"].tolist() == ["", "", "Y", "", ""]  # last: the blanks, seq 5 then 3
    # blank_last=False: "" is the smallest text (a missing one still sorts last)
    kept = derive_var_extreme_flag(df, ["ID"], ["GRP", "SEQ"], "K", mode="first", blank_last=False)
    assert kept["K"].tolist() == ["", "", "Y", "", ""]
    # outside the filter: ""; a missing by-value is a group of its own
    groups = df.assign(ID=pd.Series(["A", None, None, "A", "A"], dtype="str"))
    flagged = derive_var_extreme_flag(groups, ["ID"], ["SEQ"], "G", filter="SEQ != 4",
                                      false_value="N")
    assert flagged["G"].tolist() == ["N", "N", "Y", "", "Y"]


# --- baseline, BASE, CHG, PCHG ---------------------------------------------------------------


@pytest.fixture
def lab() -> pd.DataFrame:
    """First dose 2024-03-10 for every subject; 2024 is a leap year."""
    rows = [
        # USUBJID, ADT, LBTIM, LBSEQ, AVAL
        ("A", "2024-02-10", "", 1, 20.0),  # 29 days before (Feb 10 -> Mar 10 in 2024): too early
        ("A", "2024-02-11", "", 2, 25.0),  # 28 days before: allowed -> baseline
        ("A", "2024-03-20", "", 3, 50.0),
        ("B", "2024-03-10", "14:30", 2, 40.0),  # same day as dose, later time -> baseline
        ("B", "2024-03-10", "08:00", 3, 35.0),
        ("B", "2024-03-10", "", 4, 33.0),  # no time: sorts before any time
        ("B", "2024-03-11", "09:00", 5, 60.0),  # after the first dose
        ("C", "2024-03-08", "", 5, 40.0),
        ("C", "2024-03-08", "", 7, 45.0),  # same day, no times: last in LBSEQ -> baseline
        ("C", "2024-03-09", "", 8, NAN),  # text result (CLUMPED): never an assessment
        ("C", "2024-03-08", "", 6, 42.0),
        ("D", "2024-02-10", "", 1, 30.0),  # only a 29-day-old record: no baseline
        ("E", "2024-03-01", "", 1, 0.0),  # baseline 0
        ("E", "2024-04-01", "", 2, 12.0),
    ]
    df = pd.DataFrame(rows, columns=["USUBJID", "ADT", "LBTIM", "LBSEQ", "AVAL"])
    df["ADT"] = pd.to_datetime(df["ADT"])
    df["TRTSDT"] = pd.Timestamp("2024-03-10")
    df["PARAMCD"] = "PLAT"
    return df


def test_baseline_flag(lab: pd.DataFrame) -> None:
    out = derive_var_baseline_flag(
        lab, ["USUBJID", "PARAMCD"], "ADT", "TRTSDT", 28, ["LBTIM", "LBSEQ"]
    )
    assert out["ABLFL"].tolist() == [
        "", "Y", "",  # A: 28 days before kept, 29 days before not
        "Y", "", "", "",  # B: 14:30 beats 08:00 and the untimed record on the dose day
        "", "Y", "", "",  # C: seq 7 is the last of seq 5/6/7 on 03-08; seq 8 has no AVAL
        "",  # D: nothing within 28 days
        "Y", "",  # E
    ]  # fmt: skip


def test_baseline_lookback_is_an_argument(lab: pd.DataFrame) -> None:
    out = derive_var_baseline_flag(lab, ["USUBJID"], "ADT", "TRTSDT", 29, ["LBTIM", "LBSEQ"])
    # with 29 days, subject D's 02-10 record (29 days before) becomes its baseline
    assert out["ABLFL"].tolist()[11] == "Y"


def test_base_chg_pchg(lab: pd.DataFrame) -> None:
    flagged = derive_var_baseline_flag(lab, ["USUBJID"], "ADT", "TRTSDT", 28, ["LBTIM", "LBSEQ"])
    out = derive_var_pchg(derive_var_chg(derive_var_base(flagged, ["USUBJID"])))
    assert same(out["BASE"], [25, 25, 25, 40, 40, 40, 40, 45, 45, 45, 45, NAN, 0, 0])
    # CHG = AVAL - BASE: A 20-25=-5, 25-25=0, 50-25=25; B 0, 35-40=-5, 33-40=-7, 60-40=20;
    # C 40-45=-5, 0, NaN (no AVAL), 42-45=-3; D no BASE; E 0-0=0, 12-0=12
    assert same(out["CHG"], [-5, 0, 25, 0, -5, -7, 20, -5, 0, NAN, -3, NAN, 0, 12])
    # PCHG = 100 * CHG / BASE: A -20, 0, 100; B 0, -12.5, -17.5, 50; C -11.11.., 0, NaN,
    # -6.66..; D NaN (no BASE); E NaN (BASE 0)
    assert same(
        out["PCHG"],
        [-20, 0, 100, 0, -12.5, -17.5, 50, -100 / 9, 0, NAN, -20 / 3, NAN, NAN, NAN],
    )


def test_base_by_basetype_for_numbers_text_and_dates() -> None:
    df = pd.DataFrame({
        "USUBJID": ["A"] * 5 + ["B"],
        "BASETYPE": pd.Series(["LAST", "LAST", "LAST", "LAST: STANDING", "LAST: STANDING", "LAST"],
                              dtype="str"),
        "AVAL": [5.0, 6.0, 7.0, 8.0, 9.0, 1.0],
        "ANRIND": pd.Series(["LOW", "NORMAL", "HIGH", "", "HIGH", "LOW"], dtype="str"),
        "ATOXGR": pd.Series(["-1", "0", None, "0", "1", "0"], dtype=object),
        "ADT": dates("2024-01-01", "2024-01-08", "2024-02-01", "2024-01-02", "2024-02-02",
                     "2024-01-01"),
        "ABLFL": ["", "Y", "", "Y", "", ""],
    })
    by = ["USUBJID", "BASETYPE"]
    out = derive_var_base(df, by)
    out = derive_var_base(out, by, source_var="ANRIND", new_var="BNRIND")
    out = derive_var_base(out, by, source_var="ATOXGR", new_var="BTOXGR")
    out = derive_var_base(out, by, source_var="ADT", new_var="BASEDT")
    # A LAST: the 01-08 record, before and after it; A LAST: STANDING: the 01-02 record;
    # B has no baseline
    assert same(out["BASE"], [6, 6, 6, 8, 8, NAN])
    assert out["BNRIND"].tolist() == ["NORMAL"] * 3 + ["", "", ""]
    assert out["BTOXGR"].tolist() == ["0", "0", "0", "0", "0", ""]
    assert out["BASEDT"].tolist()[:5] == [pd.Timestamp("2024-01-08")] * 3 + \
        [pd.Timestamp("2024-01-02")] * 2
    assert pd.isna(out["BASEDT"].iloc[5])
    none = derive_var_base(df.assign(ABLFL=""), by, source_var="ATOXGR", new_var="BTOXGR")
    assert none["BTOXGR"].tolist() == [""] * 6  # text without any baseline: "", not NaN


def test_base_copies_text_and_rejects_two_flags() -> None:
    df = pd.DataFrame({"ID": ["A", "A", "B"], "AVALC": ["LOW", "HIGH", "LOW"], "ABLFL": ["Y", "", ""]})
    out = derive_var_base(df, ["ID"], source_var="AVALC", new_var="BASEC")
    assert out["BASEC"].tolist() == ["LOW", "LOW", ""]  # B has no baseline: "" for text
    with pytest.raises(ValueError, match="more than one ABLFL"):
        derive_var_base(df.assign(ABLFL="Y"), ["ID"], source_var="AVALC")


# --- derive_var_anl_flag ---------------------------------------------------------------------


def test_anl_flag_ties() -> None:
    rows = [
        # AVISIT, AWTARGET, ADY, LBTIM, LBSEQ, AVAL
        ("Week 4", 29, 27, "", 1, 10.0),  # 2 days before the target
        ("Week 4", 29, 31, "", 2, 11.0),  # 2 days after: tie -> the later day wins
        ("Week 6", 43, 43, "08:00", 4, 12.0),
        ("Week 6", 43, 43, "10:00", 3, 13.0),  # same day: later time wins over higher seq
        ("Week 6", 43, 44, "", 9, 14.0),
        ("Week 8", 57, 57, "09:00", 5, 15.0),
        ("Week 8", 57, 57, "09:00", 6, 16.0),  # same day and time: higher seq wins
        ("Week 8", 57, 57, "", 7, 17.0),  # untimed on the same day loses to timed records
        ("Week 12", 85, 85, "", 8, NAN),  # on target but no AVAL: not a candidate
        ("Week 12", 85, 90, "", 10, 18.0),
        ("", NAN, 800, "", 11, 19.0),  # no window
    ]
    df = pd.DataFrame(rows, columns=["AVISIT", "AWTARGET", "ADY", "LBTIM", "LBSEQ", "AVAL"])
    df["USUBJID"] = "A"
    out = derive_var_anl_flag(
        df, ["USUBJID", "AVISIT"], "ADY", "AWTARGET", [("LBTIM", "desc"), ("LBSEQ", "desc")]
    )
    assert out["ANL01FL"].tolist() == ["", "Y", "", "Y", "", "", "Y", "", "", "Y", ""]


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.sampled_from([29, 43]), st.integers(20, 55), st.sampled_from(["", "08:00", "10:00"])),
        min_size=1,
        max_size=25,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_anl_flag_invariant_to_row_order(data: list[tuple[int, int, str]], seed: int) -> None:
    df = pd.DataFrame(data, columns=["AWTARGET", "ADY", "LBTIM"])
    df["LBSEQ"] = np.arange(len(df))  # unique, so the selection is fully determined
    df["AVAL"] = 1.0
    args = (["AWTARGET"], "ADY", "AWTARGET", [("LBTIM", "desc"), ("LBSEQ", "desc")])
    flagged = derive_var_anl_flag(df, *args)
    shuffled = df.sample(frac=1, random_state=np.random.RandomState(seed % 2**32))
    reflagged = derive_var_anl_flag(shuffled, *args)
    assert set(flagged.loc[flagged["ANL01FL"].eq("Y"), "LBSEQ"]) == set(
        reflagged.loc[reflagged["ANL01FL"].eq("Y"), "LBSEQ"]
    )
    assert (flagged.groupby("AWTARGET")["ANL01FL"].apply(lambda s: s.eq("Y").sum()) == 1).all()
    # the flagged record is at the minimal distance of its group
    distance = (flagged["ADY"] - flagged["AWTARGET"]).abs()
    best = distance.groupby(flagged["AWTARGET"]).transform("min")
    assert (distance[flagged["ANL01FL"].eq("Y")] == best[flagged["ANL01FL"].eq("Y")]).all()


# --- derive_var_crit_flag --------------------------------------------------------------------


def test_crit_flag() -> None:
    df = pd.DataFrame(
        {"PARAMCD": ["PLAT", "PLAT", "PLAT", "PLAT", "ALT"], "AVAL": [29.9, 30.0, 150.0, NAN, 50.0]}
    )
    out = derive_var_crit_flag(
        df, "AVAL", 30, "CRIT1", "Platelet count >= 30 x10^9/L", "CRIT1FL", filter='PARAMCD == "PLAT"'
    )
    label = "Platelet count >= 30 x10^9/L"
    assert out["CRIT1"].tolist() == [label, label, label, "", ""]  # missing AVAL / ALT: ""
    assert out["CRIT1FL"].tolist() == ["N", "Y", "Y", "", ""]  # 29.9 < 30; 30 >= 30
    strict = derive_var_crit_flag(df, "AVAL", 30, "C", "x", "CFL", operator=">")
    assert strict["CFL"].tolist() == ["N", "N", "Y", "", "Y"]  # 30 > 30 is false
    with pytest.raises(ValueError, match="operator"):
        derive_var_crit_flag(df, "AVAL", 30, "C", "x", "CFL", operator="=>")
    # the parameter from a study value: only the ALT row (50 >= 30) is evaluated
    alt = derive_var_crit_flag(df, "AVAL", 30, "C", "x", "CFL", filter="PARAMCD == @parameter",
                               filter_values={"parameter": "ALT"})
    assert alt["CFL"].tolist() == ["", "", "", "", "Y"]


# --- derive_vars_merged ----------------------------------------------------------------------


def test_merged() -> None:
    adlb = pd.DataFrame({"USUBJID": ["B", "A", "Z", "A"], "AVAL": [1, 2, 3, 4]}, index=[9, 8, 7, 6])
    adsl = pd.DataFrame(
        {"USUBJID": ["A", "B"], "TRTSDT": dates("2024-03-10", "2024-04-01"), "FASFL": ["Y", "N"]}
    )
    out = derive_vars_merged(adlb, adsl, ["USUBJID"], ["TRTSDT", "FASFL"])
    assert out.index.tolist() == [9, 8, 7, 6]
    assert out["TRTSDT"].tolist() == [
        pd.Timestamp("2024-04-01"), pd.Timestamp("2024-03-10"), pd.NaT, pd.Timestamp("2024-03-10")
    ]  # fmt: skip
    assert out["FASFL"].tolist() == ["N", "Y", "", "Y"]  # Z is not in ADSL: ""
    renamed = derive_vars_merged(adlb, adsl, ["USUBJID"], {"ADSLFAS": "FASFL"})
    assert renamed["ADSLFAS"].tolist() == ["N", "Y", "", "Y"]


def test_merged_errors() -> None:
    adlb = pd.DataFrame({"USUBJID": ["A"], "FASFL": ["Y"]})
    adsl = pd.DataFrame({"USUBJID": ["A", "A"], "FASFL": ["Y", "N"], "SAFFL": ["Y", "Y"]})
    with pytest.raises(ValueError, match="duplicate keys"):
        derive_vars_merged(adlb, adsl, ["USUBJID"], ["SAFFL"])
    with pytest.raises(ValueError, match="already"):
        derive_vars_merged(adlb, adsl.head(1), ["USUBJID"], ["FASFL"])


# --- convert_units ---------------------------------------------------------------------------

SAP_FACTORS = {
    "Platelet count": {"10^9/L": 1, "x10E9/L": 1, "10^3/uL": 1, "/uL": 0.001, "10^4/uL": 10},
    "ALT": {"U/L": 1, "ukat/L": 60},
    "Total bilirubin": {"umol/L": 1, "mg/dL": 17.1},
}


def test_convert_units_per_test() -> None:
    df = pd.DataFrame(
        {
            "LBTEST": ["Platelet count"] * 6 + ["ALT", "ALT", "Total bilirubin", "Platelet count"],
            "VALUE": [150, 150, 150, 150000, 15, 80, 0.5, 40, 1.2, NAN],
            "UNIT": ["10^9/L", "x10E9/L", " 10^3/uL ", "/uL", "10^4/uL", "G/L", "ukat/L", "10^9/L", "mg/dL", "G/L"],
        }
    )
    out = convert_units(
        df, "VALUE", "UNIT", SAP_FACTORS, "AVAL", param_var="LBTEST", unknown_var="UNITBAD", digits=6
    )
    # 150 x1; 150 x1; 150 x1 (blanks stripped); 150000 x 0.001 = 150; 15 x 10 = 150;
    # G/L unknown; 0.5 ukat/L x 60 = 30 U/L; 10^9/L is not an ALT unit; 1.2 x 17.1 = 20.52;
    # missing value: nothing to convert
    assert same(out["AVAL"], [150, 150, 150, 150, 150, NAN, 30, NAN, 20.52, NAN])
    assert out["UNITBAD"].tolist() == [False] * 5 + [True, False, True, False, False]


def test_convert_units_flat_table() -> None:
    df = pd.DataFrame({"V": [2.0, 3.0], "U": ["mg/dL", "g/L"]})
    out = convert_units(df, "V", "U", {"mg/dL": 17.1}, "AVAL")
    assert same(out["AVAL"], [34.2, NAN])  # 2 x 17.1 = 34.2
    with pytest.raises(ValueError, match="param_var"):
        convert_units(df, "V", "U", SAP_FACTORS, "AVAL")


# --- derive_var_trtemfl ----------------------------------------------------------------------


def test_trtemfl_window() -> None:
    n = 6
    df = pd.DataFrame(
        {
            "ASTDT": dates("2024-03-09", "2024-03-10", "2024-07-28", "2024-07-29", None, "2025-01-01"),
            "TRTSDT": dates(*["2024-03-10"] * n),
            "TRTEDT": dates(*["2024-06-30"] * (n - 1), None),
        }
    )
    out = derive_var_trtemfl(df, "ASTDT", "TRTSDT", "TRTEDT", 28, start_missing="not_emergent")
    # TRTEDT + 28 = June 30 + 28 = July 28 (June 30 + 28 days = July 28)
    assert out["TRTEMFL"].tolist() == [
        "",  # the day before the first dose
        "Y",  # the first dose day
        "Y",  # TRTEDT + 28 exactly
        "",  # TRTEDT + 29
        "",  # unknown start
        "Y",  # treatment end missing: window open
    ]
    # admiral's default: an unknown start is treatment-emergent
    assert derive_var_trtemfl(df, "ASTDT", "TRTSDT", "TRTEDT", 28)["TRTEMFL"].tolist()[4] == "Y"


def test_trtemfl_admiral_rules_in_order() -> None:
    rows = [
        # ASTDT, AENDT, TRTSDT, TRTEDT, expected (SAP: window 30 days)
        ("2024-03-05", "2024-03-20", None, None, ""),  # not treated
        (None, "2024-03-01", None, None, ""),  # not treated, start unknown
        (None, "2024-03-09", "2024-03-10", "2024-06-30", ""),  # ended before the first dose
        (None, "2024-03-10", "2024-03-10", "2024-06-30", "Y"),  # start unknown, ends on day 1
        (None, None, "2024-03-10", "2024-06-30", "Y"),  # start and end unknown
        ("2024-03-01", None, "2024-03-10", "2024-06-30", ""),  # started before
        ("2024-03-10", "2024-03-09", "2024-03-10", "2024-06-30", ""),  # end before start date
        ("2024-07-30", None, "2024-03-10", "2024-06-30", "Y"),  # TRTEDT + 30 exactly
        ("2024-07-31", None, "2024-03-10", "2024-06-30", ""),  # TRTEDT + 31
        ("2025-01-01", None, "2024-03-10", None, "Y"),  # treatment end unknown
    ]
    df = pd.DataFrame(rows, columns=["ASTDT", "AENDT", "TRTSDT", "TRTEDT", "EXPECTED"])
    for name in ("ASTDT", "AENDT", "TRTSDT", "TRTEDT"):
        df[name] = pd.to_datetime(df[name])
    out = derive_var_trtemfl(df, "ASTDT", "TRTSDT", "TRTEDT", 30, end_date="AENDT")
    assert out["TRTEMFL"].tolist() == df["EXPECTED"].tolist()
    # without an upper bound (no trt_end): the two late starts are emergent too
    open_end = derive_var_trtemfl(df, "ASTDT", "TRTSDT", end_date="AENDT", new_var="F")
    assert open_end["F"].tolist() == [*df["EXPECTED"].tolist()[:8], "Y", "Y"]
    with pytest.raises(ValueError, match="trt_end and end_window_days go together"):
        derive_var_trtemfl(df, "ASTDT", "TRTSDT", "TRTEDT")
    with pytest.raises(ValueError, match="start_missing must be"):
        derive_var_trtemfl(df, "ASTDT", "TRTSDT", start_missing="blank")


def test_round_signif() -> None:
    got = round_signif(np.array([0.1 + 0.2, 123456.7890123456789, -2.5e-7 * 3, 0.0, NAN, np.inf,
                                 1e-320, 3 * 0.2]))
    # 15 significant digits: 0.300000000000000|04 -> 0.3; 123456.789012345|6789 ->
    # 123456.789012346; -7.49999999999999|9e-07 -> -7.5e-07; 0, NaN, inf and a value too
    # small to scale are kept; 0.600000000000000|1 -> 0.6
    assert got[:4].tolist() == [0.3, 123456.789012346, -7.5e-07, 0.0]
    assert np.isnan(got[4]) and got[5] == np.inf and got[6] == 1e-320 and got[7] == 0.6
    # fewer digits: 1234.57|78 -> 1234.57 (6); -0.000123|456789 -> -0.000123 (3)
    assert round_signif([1234.5678, -0.000123456789], 6).tolist() == [1234.57, -0.000123457]
    assert round_signif([-0.000123456789], 3).tolist() == [-0.000123]


# --- parse_result ----------------------------------------------------------------------------


def test_parse_result() -> None:
    values = pd.Series(["12", "<5", "> 1000", "CLUMPED", "", " 7.5 ", ".5", "NOT DONE", None], dtype=object)
    out = parse_result(values)
    assert same(out["value"], [12, 5, 1000, NAN, NAN, 7.5, 0.5, NAN, NAN])
    assert out["comparator"].tolist() == ["", "<", ">", "", "", "", "", "", ""]
    assert out["is_text"].tolist() == [False, False, False, True, False, False, False, True, False]
    assert out.index.equals(values.index)


def test_derive_vars_merged_takes_a_lookup_table_written_in_the_specs():
    """A table of the plan (SAP 3.2 of the pilot) as a list of mappings: PARAMCD from LBTESTCD."""
    from itp_adam.derive.core import derive_vars_merged

    lb = pd.DataFrame({"LBTESTCD": ["ALP", "K", "XX"]})
    table = [{"LBTESTCD": "ALP", "PARAMCD": "ALKPH", "PARAMN": 2},
             {"LBTESTCD": "K", "PARAMCD": "POTAS", "PARAMN": 23}]
    out = derive_vars_merged(lb, table, by_vars=["LBTESTCD"], new_vars=["PARAMCD", "PARAMN"])
    assert out["PARAMCD"].tolist() == ["ALKPH", "POTAS", ""]
    assert out["PARAMN"].tolist()[:2] == [2.0, 23.0] and np.isnan(out["PARAMN"].iloc[2])
    with pytest.raises(ValueError, match="row 2 has keys"):
        derive_vars_merged(lb, [table[0], {"LBTESTCD": "K"}], by_vars=["LBTESTCD"],
                           new_vars=["PARAMCD"])
