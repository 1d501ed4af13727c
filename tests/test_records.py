"""Derivations adding records (itp_adam.derive.records), with hand-worked values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from itp_adam.derive.checks import MissingVariable
from itp_adam.derive.records import (
    derive_extreme_records,
    derive_param_computed,
    derive_summary_records,
    derive_var_obs_number,
)

NAN = np.nan


def dates(*values: str | None) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype=object))


def text(*values: str | None) -> pd.Series:
    return pd.Series(values, dtype="str")


def same(got: pd.Series, expected: list[float]) -> bool:
    return np.allclose(got.to_numpy(dtype="float64"), expected, equal_nan=True, rtol=0, atol=1e-12)


# --- derive_param_computed -------------------------------------------------------------------


@pytest.fixture
def vitals() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["A", "A", "A", "A", "A", "B", "B"],
        "VISIT": ["WEEK 2", "WEEK 2", "WEEK 2", "WEEK 2", "WEEK 4", "WEEK 2", "WEEK 2"],
        "ADT": dates(*["2024-01-10"] * 4, "2024-01-24", "2024-01-10", "2024-01-10"),
        "VSTPT": text("STANDING", "STANDING", None, None, "STANDING", None, None),
        "PARAMCD": ["SYSBP", "DIABP", "SYSBP", "DIABP", "SYSBP", "SYSBP", "DIABP"],
        "AVAL": [120.0, 80.0, 130.0, 70.0, 125.0, 110.0, NAN],
        "VSSEQ": [1, 2, 3, 4, 5, 1, 2],
    })


def test_param_computed_map_per_time_point_with_missing_time_point_as_a_value(vitals):
    out = derive_param_computed(vitals, ["USUBJID", "VISIT", "ADT", "VSTPT"], ["SYSBP", "DIABP"],
                                "(2 * DIABP + SYSBP) / 3", {"PARAMCD": "MAP"},
                                filter="not_missing(AVAL)")
    # A WEEK 2 STANDING: (2 * 80 + 120) / 3 = 280 / 3; A WEEK 2 no time point: (140 + 130) / 3
    # = 90; A WEEK 4 has no DIABP; B's DIABP has no value (filter): no record
    assert len(out) == 9
    assert out.index.tolist() == list(range(9))
    new = out.iloc[7:]
    assert new["PARAMCD"].tolist() == ["MAP", "MAP"]
    assert same(new["AVAL"], [280 / 3, 90.0])
    assert new["VSTPT"].fillna("").tolist() == ["STANDING", ""]
    assert new["ADT"].tolist() == [pd.Timestamp("2024-01-10")] * 2
    assert new["VSSEQ"].isna().all()  # not a by-variable nor set: missing (SAP 0.9)
    pd.testing.assert_frame_equal(out.iloc[:7].astype({"VSSEQ": "int64"}), vitals)


def test_param_computed_constant_parameter_and_a_missing_result():
    df = pd.DataFrame({
        "USUBJID": ["A", "A", "A", "B", "B", "C"],
        "VISIT": ["SCREENING", "WEEK 2", "WEEK 4", "SCREENING", "WEEK 2", "WEEK 2"],
        "PARAMCD": ["HEIGHT", "WEIGHT", "WEIGHT", "HEIGHT", "WEIGHT", "WEIGHT"],
        "AVAL": [170.0, 68.0, 70.0, 0.0, 50.0, 80.0],
    })
    out = derive_param_computed(df, ["USUBJID", "VISIT"], ["WEIGHT"], "WEIGHT / (HEIGHT / 100) ** 2",
                                {"PARAMCD": "BMI", "DTYPE": ""}, constant_parameters=["HEIGHT"],
                                constant_by_vars=["USUBJID"])
    # A: 68 / 1.7^2 and 70 / 1.7^2 at WEEK 2 and 4; B: height 0 -> missing, still a record;
    # C: no HEIGHT -> none
    new = out.iloc[6:]
    assert new[["USUBJID", "VISIT"]].values.tolist() == [["A", "WEEK 2"], ["A", "WEEK 4"],
                                                        ["B", "WEEK 2"]]
    assert same(new["AVAL"], [68 / 1.7 ** 2, 70 / 1.7 ** 2, NAN])
    assert out["DTYPE"].tolist() == [""] * 9  # a new text variable: "" on the old records too


def test_param_computed_skips_by_groups_with_a_target_record():
    df = pd.DataFrame({
        "USUBJID": ["A"] * 6,
        "ADT": dates("2024-01-01", "2024-01-01", "2024-01-01", "2024-02-01", "2024-02-01", None),
        "PARAMCD": ["WBC", "BASOLE", "BASO", "WBC", "BASOLE", "WBC"],
        "AVAL": [5.0, 0.01, NAN, 4.0, 0.02, 6.0],
        "LBSEQ": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    out = derive_param_computed(df, ["USUBJID", "ADT"], ["BASOLE", "WBC"], "BASOLE * WBC",
                                {"PARAMCD": "BASO", "DTYPE": "CALCULATION"},
                                filter="not_missing(AVAL)", skip_existing=True)
    # 01-01 has a BASO record (without a value): skipped; 02-01: 0.02 * 4 = 0.08; the undated
    # WBC has no BASOLE
    assert len(out) == 7
    assert out.iloc[6][["PARAMCD", "DTYPE"]].tolist() == ["BASO", "CALCULATION"]
    assert out.iloc[6]["ADT"] == pd.Timestamp("2024-02-01")
    assert out.iloc[6]["AVAL"] == pytest.approx(0.08, abs=1e-15)
    assert np.isnan(out.iloc[6]["LBSEQ"])
    # without the option the 01-01 group gets one too: 0.01 * 5 = 0.05
    again = derive_param_computed(df, ["USUBJID", "ADT"], ["BASOLE", "WBC"], "BASOLE * WBC",
                                  {"PARAMCD": "BASO"}, filter="not_missing(AVAL)")
    assert same(again["AVAL"].iloc[6:], [0.05, 0.08])


def test_param_computed_errors(vitals):
    doubled = pd.concat([vitals, vitals.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match="more than one PARAMCD SYSBP record in a by-group.*'A'"):
        derive_param_computed(doubled, ["USUBJID", "VISIT", "ADT", "VSTPT"], ["SYSBP", "DIABP"],
                              "SYSBP", {"PARAMCD": "MAP"})
    with pytest.raises(ValueError, match="PARAMCD holds text values in the dataset; the new "
                                         "records give num"):
        derive_param_computed(vitals, ["USUBJID", "VISIT"], ["SYSBP"], "SYSBP", {"PARAMCD": 1},
                              filter="VSTPT == 'STANDING'")
    with pytest.raises(ValueError, match="skip_existing needs"):
        derive_param_computed(vitals, ["USUBJID"], ["SYSBP"], "SYSBP", {}, skip_existing=True)
    with pytest.raises(MissingVariable, match="derive_param_computed: variable VISITNUM"):
        derive_param_computed(vitals, ["USUBJID", "VISITNUM"], ["SYSBP"], "SYSBP", {})


def test_param_computed_set_values_copies_a_by_variable(vitals):
    out = derive_param_computed(vitals, ["USUBJID", "VISIT", "ADT", "VSTPT"], ["SYSBP", "DIABP"],
                                "SYSBP - DIABP", {"PARAMCD": "PP", "AVISIT": {"var": "VISIT"}},
                                filter="not_missing(AVAL)")
    assert out["AVISIT"].tolist() == [""] * 7 + ["WEEK 2", "WEEK 2"]
    assert same(out["AVAL"].iloc[7:], [40.0, 60.0])


# --- derive_summary_records ------------------------------------------------------------------


@pytest.fixture
def visits() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["A", "A", "A", "A", "A", "A"],
        "PARAMCD": ["SYSBP"] * 5 + ["TEMP"],
        "AVISIT": text("Week 2", "Week 2", "Week 2", None, None, "Week 2"),
        "ADT": dates("2024-01-10", "2024-01-10", "2024-01-10", "2024-01-03", "2024-01-03",
                     "2024-01-10"),
        "AVAL": [120.0, 131.0, NAN, 100.0, 104.0, 36.6],
        "VSSEQ": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })


def test_summary_records_mean_per_group_missing_visit_its_own_group(visits):
    out = derive_summary_records(visits, ["USUBJID", "PARAMCD", "AVISIT", "ADT"],
                                 {"DTYPE": "AVERAGE"}, filter="not_missing(AVAL)")
    # SYSBP Week 2: (120 + 131) / 2 = 125.5; SYSBP no visit 01-03: (100 + 104) / 2 = 102;
    # TEMP Week 2: one record, 36.6
    new = out.iloc[6:]
    assert new["PARAMCD"].tolist() == ["SYSBP", "SYSBP", "TEMP"]
    assert new["AVISIT"].fillna("").tolist() == ["Week 2", "", "Week 2"]
    assert same(new["AVAL"], [125.5, 102.0, 36.6])
    assert new["DTYPE"].tolist() == ["AVERAGE"] * 3
    assert out["DTYPE"].iloc[:6].tolist() == [""] * 6
    assert new["VSSEQ"].isna().all()


@pytest.mark.parametrize(("summary", "expected"), [
    ("median", [125.5, 102.0]), ("min", [120.0, 100.0]), ("max", [131.0, 104.0]),
    ("sum", [251.0, 204.0]), ("n", [2.0, 2.0]),
])
def test_summary_records_other_summaries_leave_missing_values_out(visits, summary, expected):
    # no filter: the Week 2 group also has the record without a value, which is left out
    out = derive_summary_records(visits, ["PARAMCD", "AVISIT"], {"DTYPE": summary.upper()},
                                 filter="PARAMCD == 'SYSBP'", summary=summary, new_var="AVAL")
    assert same(out["AVAL"].iloc[6:], expected)


def test_summary_records_of_missing_values_only_and_errors(visits):
    out = derive_summary_records(visits, ["VSSEQ"], {}, filter="VSSEQ == 3", summary="n")
    assert out["AVAL"].iloc[6] == 0.0
    out = derive_summary_records(visits, ["VSSEQ"], {}, filter="VSSEQ == 3")
    assert np.isnan(out["AVAL"].iloc[6])
    with pytest.raises(ValueError, match="summary must be one of"):
        derive_summary_records(visits, ["USUBJID"], {}, summary="mode")
    with pytest.raises(ValueError, match="must hold numbers"):
        derive_summary_records(visits, ["USUBJID"], {}, analysis_var="PARAMCD")


# --- derive_extreme_records ------------------------------------------------------------------


@pytest.fixture
def lab() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["A", "A", "A", "A", "B", "B"],
        "PARAMCD": ["ALT"] * 6,
        "ADT": dates("2024-01-10", "2024-01-17", "2024-01-24", "2024-01-24", "2024-01-10", None),
        "AVISIT": ["Week 1", "Week 2", "Week 3", "Unscheduled 3.1", "Week 1", "Week 2"],
        "AVISITN": [1.0, 2.0, 3.0, 3.1, 1.0, 2.0],
        "AVAL": [30.0, 45.0, NAN, 45.0, 20.0, 25.0],
        "ONTRTFL": ["Y", "Y", "Y", "Y", "Y", "Y"],
        "LBSEQ": [1.0, 2.0, 3.0, 4.0, 1.0, 2.0],
    })


def test_extreme_records_maximum_ties_and_missing_values(lab):
    out = derive_extreme_records(
        lab, ["USUBJID", "PARAMCD"], [["AVAL", "desc"], "ADT", "AVISITN", "LBSEQ"],
        {"AVISIT": "POST-BASELINE MAXIMUM", "AVISITN": 9998, "DTYPE": "MAXIMUM"},
        mode="first", filter="ONTRTFL == 'Y' and not_missing(AVAL)")
    # A: 45 twice (01-17 seq 2, 01-24 seq 4): the earlier date, seq 2; B: 25 (the undated one)
    new = out.iloc[6:]
    assert new["LBSEQ"].tolist() == [2.0, 2.0]
    assert new["USUBJID"].tolist() == ["A", "B"]
    assert new["ADT"].tolist()[0] == pd.Timestamp("2024-01-17") and pd.isna(new["ADT"].tolist()[1])
    assert new["AVISIT"].tolist() == ["POST-BASELINE MAXIMUM"] * 2
    assert new["AVISITN"].tolist() == [9998.0, 9998.0]
    assert out["DTYPE"].tolist() == [""] * 6 + ["MAXIMUM"] * 2


def test_extreme_records_last_value_with_a_missing_value_and_a_missing_date(lab):
    out = derive_extreme_records(lab, ["USUBJID", "PARAMCD"], ["ADT", "AVISITN", "LBSEQ"],
                                 {"DTYPE": "LOV"}, mode="last", filter="ONTRTFL == 'Y'")
    # A: 01-24 twice: AVISITN 3 < 3.1, so seq 4 is last; B: the missing date sorts last: seq 2
    assert out["LBSEQ"].iloc[6:].tolist() == [4.0, 2.0]
    minimum = derive_extreme_records(lab, ["USUBJID"], ["AVAL", "ADT"], {"DTYPE": "MINIMUM"},
                                     mode="first")
    # no filter: A's missing AVAL sorts last, so the minimum is 30 (seq 1); B 20 (seq 1)
    assert minimum["LBSEQ"].iloc[6:].tolist() == [1.0, 1.0]
    assert same(minimum["AVAL"].iloc[6:], [30.0, 20.0])


def test_extreme_records_text_order_by_character_code_and_blank_last():
    df = pd.DataFrame({"ID": ["A"] * 4, "DTYPE": text("LOV", "", "AVERAGE", "avg"),
                       "N": [1.0, 2.0, 3.0, 4.0]})
    # character code: "AVERAGE" < "LOV" < "avg"; "" is missing, so last
    last = derive_extreme_records(df, ["ID"], ["DTYPE"], {}, mode="last")
    assert last["N"].iloc[4] == 2.0
    first = derive_extreme_records(df, ["ID"], [["DTYPE", "desc"]], {}, mode="first")
    assert first["N"].iloc[4] == 4.0  # desc: "avg" first, "" still last
    smallest = derive_extreme_records(df, ["ID"], ["DTYPE"], {}, mode="first", blank_last=False)
    assert smallest["N"].iloc[4] == 2.0


def test_extreme_records_none_chosen_still_adds_the_variables(lab):
    out = derive_extreme_records(lab, ["USUBJID"], ["ADT"], {"DTYPE": "LOV", "AVISITN": 99},
                                 filter="ONTRTFL == 'N'")
    assert len(out) == 6
    assert out["DTYPE"].tolist() == [""] * 6
    assert out["LBSEQ"].dtype == lab["LBSEQ"].dtype


# --- derive_var_obs_number -------------------------------------------------------------------


def test_obs_number_missing_last_text_blank_last_and_groups():
    df = pd.DataFrame({
        "USUBJID": text("A", "A", "A", "A", "B", None, None),
        "PARAMCD": ["SYSBP", "SYSBP", "DIABP", "SYSBP", "SYSBP", "X", "X"],
        "ADT": dates("2024-01-10", None, "2024-01-20", "2024-01-10", "2024-01-01", "2024-01-01",
                     "2024-01-02"),
        "DTYPE": text("", "", "", "AVERAGE", "", "", ""),
    }).set_axis([9, 8, 7, 6, 5, 4, 3])
    out = derive_var_obs_number(df, ["USUBJID"], ["PARAMCD", "ADT", "DTYPE"])
    # A: DIABP 01-20 -> 1; SYSBP 01-10 AVERAGE -> 2, SYSBP 01-10 "" (missing last) -> 3,
    # SYSBP with no date -> 4; B -> 1; the missing USUBJID is a group: 01-01 -> 1, 01-02 -> 2
    assert out["ASEQ"].tolist() == [3.0, 4.0, 1.0, 2.0, 1.0, 1.0, 2.0]
    assert out.index.tolist() == [9, 8, 7, 6, 5, 4, 3]
    desc = derive_var_obs_number(df, [], [["ADT", "desc"], "PARAMCD", "DTYPE"], new_var="N")
    # one group; dates descending, the missing date last: 01-20 (row 3) 1; 01-10: AVERAGE
    # (row 4) 2 before "" (row 1) 3; 01-02 (row 7) 4; 01-01: SYSBP (row 5) 5 before X (row 6)
    # 6; no date (row 2) 7
    assert desc["N"].tolist() == [3.0, 7.0, 1.0, 2.0, 5.0, 6.0, 4.0]


def test_obs_number_a_tie_names_the_group_and_values():
    df = pd.DataFrame({"USUBJID": ["A", "A", "B"], "PARAMCD": ["X", "X", "X"],
                       "AVISITN": [1.0, 1.0, 1.0]})
    with pytest.raises(ValueError, match=r"ASEQ: the order \['PARAMCD', 'AVISITN'\] is not unique "
                                         r"within the by-group \['USUBJID'\]; two or more records "
                                         r"have: \{'USUBJID': 'A', 'PARAMCD': 'X', 'AVISITN': 1.0\}"):
        derive_var_obs_number(df, ["USUBJID"], ["PARAMCD", "AVISITN"])
    out = derive_var_obs_number(df, ["USUBJID"], ["PARAMCD", "AVISITN"], check_unique=False)
    assert out["ASEQ"].tolist() == [1.0, 2.0, 1.0]  # tied records keep their input order
