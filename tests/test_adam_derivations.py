"""ADaM derivations beyond the core library, with hand-worked values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from itp_adam.derive.adam import (
    derive_var_case,
    derive_var_flag,
    derive_var_merged_baseline,
    derive_var_merged_exist_flag,
    derive_var_result_value,
    derive_vars_assign,
    derive_vars_compute,
    derive_vars_cut,
    map_values,
)
from itp_adam.derive.core import derive_vars_merged


def test_result_value_takes_the_number_of_a_comparator_and_never_a_text():
    df = pd.DataFrame({"LBSTRESC": ["12.5", "<5", ">400", "CLUMPED", "", "NOT DONE"]})
    got = derive_var_result_value(df, "LBSTRESC")["AVAL"].tolist()
    assert got[:3] == [12.5, 5.0, 400.0]
    assert np.isnan(got[3:]).all()


def test_flag_with_a_study_parameter_and_missing_values():
    df = pd.DataFrame({"SAFFL": ["Y", "Y", "N"], "BASEPLAT": [9.0, np.nan, 12.0],
                       "AEBODSYS": ["Hepatobiliary disorders", "x", "y"]})
    assert derive_var_flag(df, "FASFL", "SAFFL == 'Y' and BASEPLAT == BASEPLAT")["FASFL"].tolist() == [
        "Y", "N", "N"]
    got = derive_var_flag(df, "HEPATFL", "AEBODSYS in @soc", false_value="", soc=["y"])
    assert got["HEPATFL"].tolist() == ["", "", "Y"]


def test_case_first_match_wins_and_copies_a_variable():
    df = pd.DataFrame({"DSDECOD": ["ONGOING", "", "ADVERSE EVENT"]})
    status = derive_var_case(df, "EOTSTT", [{"when": "DSDECOD == 'ONGOING' or DSDECOD == ''",
                                             "value": "ONGOING"}], default="DISCONTINUED")
    assert status["EOTSTT"].tolist() == ["ONGOING", "ONGOING", "DISCONTINUED"]
    reason = derive_var_case(status, "DCTREAS", [{"when": "EOTSTT == 'DISCONTINUED'",
                                                  "value": {"var": "DSDECOD"}}])
    assert reason["DCTREAS"].tolist() == ["", "", "ADVERSE EVENT"]


def test_case_keeps_numbers_numbers_and_missing_is_nan():
    df = pd.DataFrame({"AVAL": [150.0, 90.0, np.nan], "PARAMCD": ["HEIGHT", "HEIGHT", "HEIGHT"],
                       "ADT": pd.to_datetime(["2024-01-01", "2024-02-01", None])})
    cases = [{"when": "AVAL > 100", "value": 1}, {"when": "AVAL <= 100", "value": 2}]
    got = derive_var_case(df, "AVALCA1N", cases)  # default "": missing, not the text "1"
    assert got["AVALCA1N"].dtype == "float64"
    assert got["AVALCA1N"].tolist()[:2] == [1.0, 2.0] and np.isnan(got["AVALCA1N"].iloc[2])
    got = derive_var_case(df, "X", [{"when": "AVAL > 100", "value": {"var": "AVAL"}}], default=0)
    assert got["X"].tolist() == [150.0, 0.0, 0.0]
    got = derive_var_case(df, "D", [{"when": "AVAL > 100", "value": {"var": "ADT"}}])
    assert got["D"].dtype.kind == "M"
    assert got["D"].iloc[0] == pd.Timestamp("2024-01-01") and got["D"].iloc[1:].isna().all()
    text = derive_var_case(df, "AVALCAT1", [{"when": "AVAL > 100", "value": ">100 cm"},
                                            {"when": "AVAL <= 100", "value": "<=100 cm"}])
    assert text["AVALCAT1"].tolist() == [">100 cm", "<=100 cm", ""]
    assert str(text["AVALCAT1"].dtype) == "str"


def test_case_refuses_text_and_numbers_in_one_list():
    df = pd.DataFrame({"AVAL": [1.0], "PARAMCD": ["X"]})
    with pytest.raises(ValueError, match=r"the values of AVALCA1N mix types: num \(1\), text"):
        derive_var_case(df, "AVALCA1N", [{"when": "AVAL > 0", "value": 1},
                                         {"when": "AVAL <= 0", "value": "low"}])
    with pytest.raises(ValueError, match="values of Y mix types: text .* num"):
        derive_var_case(df, "Y", [{"when": "AVAL > 0", "value": {"var": "PARAMCD"}}], default=0)


def test_compute_on_filtered_records_keeps_the_type_and_chains():
    df = pd.DataFrame({
        "AVISITN": [0.0, 2.0, 4.0, np.nan],
        "AVAL": [10.0, 12.0, 9.0, 11.0],
        "BASE": [10.0, 10.0, 0.0, 10.0],
        "ADT": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-29", None]),
        "PARAMCD": ["ALT", "ALT", "ALT", "ALT"],
    })
    got = derive_vars_compute(df, {"CHG": "AVAL - BASE", "PCHG": "100 * CHG / abs(BASE)",
                                   "NEXT": "add_days(ADT, 7)", "LABEL": "PARAMCD + ' change'"},
                              filter="AVISITN > 0")
    # AVISITN 0 and missing: outside the filter; CHG 12 - 10 = 2, 9 - 0 = 9; PCHG 100 * 2 / 10
    # = 20, BASE 0 -> missing
    assert got["CHG"].tolist()[1:3] == [2.0, 9.0] and got["CHG"].iloc[[0, 3]].isna().all()
    assert got["PCHG"].iloc[1] == 20.0 and got["PCHG"].iloc[[0, 2, 3]].isna().all()
    assert got["NEXT"].tolist()[1:3] == [pd.Timestamp("2024-01-22"), pd.Timestamp("2024-02-05")]
    assert got["NEXT"].iloc[[0, 3]].isna().all()
    assert got["LABEL"].tolist() == ["", "ALT change", "ALT change", ""]
    days = derive_vars_compute(df.assign(TRTSDT=pd.Timestamp("2024-01-01")),
                               {"TRTDURD": "ADT - TRTSDT + 1"}, filter="PARAMCD == @code",
                               filter_values={"code": "ALT"})
    assert days["TRTDURD"].tolist()[:3] == [1.0, 15.0, 29.0] and np.isnan(days["TRTDURD"].iloc[3])
    with pytest.raises(ValueError, match="is a condition, not a value"):
        derive_vars_compute(df, {"F": "AVAL > 10"})


def test_assign_only_on_filtered_rows():
    df = pd.DataFrame({"ABLFL": ["Y", ""], "AVISIT": ["", "Week 1"], "AVISITN": [np.nan, 1.0]})
    got = derive_vars_assign(df, "ABLFL == 'Y'", {"AVISIT": "Baseline", "AVISITN": 0})
    assert got["AVISIT"].tolist() == ["Baseline", "Week 1"]
    assert got["AVISITN"].tolist() == [0.0, 1.0]


def test_cut_puts_a_value_equal_to_a_cut_in_the_category_below():
    df = pd.DataFrame({"ITPDURM": [0.0, 3.0, 3.0001, 12.0, 12.01, np.nan]})
    got = derive_vars_cut(df, "ITPDURM", [3, 12], ["Newly diagnosed", "Persistent", "Chronic"],
                          "ITPPHASE", "ITPPHASN")
    assert got["ITPPHASE"].tolist() == ["Newly diagnosed", "Newly diagnosed", "Persistent",
                                        "Persistent", "Chronic", ""]
    assert got["ITPPHASN"].tolist()[:5] == [1, 1, 2, 2, 3] and np.isnan(got["ITPPHASN"].iloc[5])
    with pytest.raises(ValueError, match="2 cuts need 3 labels"):
        derive_vars_cut(df, "ITPDURM", [3, 12], ["a", "b"], "X")


def test_merged_exist_flag():
    adsl = pd.DataFrame({"USUBJID": ["A", "B", "C"]})
    ex = pd.DataFrame({"USUBJID": ["A", "A", "B"], "EXDOSE": [0.0, 5.0, 0.0]})
    got = derive_var_merged_exist_flag(adsl, ex, ["USUBJID"], "SAFFL", "EXDOSE > 0")
    assert got["SAFFL"].tolist() == ["Y", "N", "N"]


def test_merged_first_record_after_filter_with_a_study_value():
    adsl = pd.DataFrame({"USUBJID": ["A", "B"]})
    ex = pd.DataFrame({"USUBJID": ["A", "A", "A", "B"],
                       "EXSTDTC": ["2024-01-10", "2024-01-01", "2024-02-01", "2024-03-01"],
                       "EXDOSE": [5.0, 0.0, 7.5, 0.0]})
    got = derive_vars_merged(adsl, ex, ["USUBJID"], {"DOSESTRT": "EXDOSE"},
                             filter_add="EXDOSE > @dose_above", filter_values={"dose_above": 0},
                             order=["EXSTDTC"], mode="first")
    assert got["DOSESTRT"].iloc[0] == 5.0 and np.isnan(got["DOSESTRT"].iloc[1])
    with pytest.raises(ValueError, match="order and mode"):
        derive_vars_merged(adsl, ex, ["USUBJID"], ["EXDOSE"], order=["EXSTDTC"])


def test_merged_baseline_lookback_ties_comparators_and_texts():
    adsl = pd.DataFrame({"USUBJID": ["A", "B", "C", "D"],
                         "TRTSDT": pd.to_datetime(["2024-03-01"] * 4)})
    lb = pd.DataFrame({
        "USUBJID": ["A", "A", "A", "B", "B", "C", "C", "D"],
        "LBTESTCD": "PLAT",
        # A: same day twice, the timed 09:00 sample wins over the untimed one and 08:00
        # B: CLUMPED on the day (not an assessment) -> the 28-day-old sample
        # C: <5 on the day counts as 5; a later (post-dose) sample is ignored
        # D: only a sample 29 days before -> no baseline
        "LBDTC": ["2024-03-01T09:00", "2024-03-01", "2024-03-01T08:00", "2024-03-01",
                  "2024-02-02", "2024-03-01", "2024-03-02", "2024-01-31"],
        "LBSEQ": [3, 2, 1, 2, 1, 1, 2, 1],
        "LBSTRESC": ["20", "21", "22", "CLUMPED", "11", "<5", "40", "8"],
    })
    got = derive_var_merged_baseline(adsl, lb, ["USUBJID"], "LBSTRESC", "LBDTC", "TRTSDT", 28,
                                     ["LBDTC", "LBSEQ"], "BASEPLAT", filter_add="LBTESTCD == 'PLAT'")
    assert got["BASEPLAT"].tolist()[:3] == [20.0, 11.0, 5.0] and np.isnan(got["BASEPLAT"].iloc[3])


def test_map_values_numbers_become_floats_and_mixed_values_stay_objects():
    df = pd.DataFrame({"PARAMCD": pd.Series(["ALT", None, "PLAT", "ALT", "XYZ"], dtype="str")})
    numbers = map_values(df, "PARAMCD", {"PLAT": 1, "ALT": 2}, default=np.nan)
    assert numbers.dtype == np.float64
    assert numbers.iloc[[0, 2, 3]].tolist() == [2.0, 1.0, 2.0]
    assert numbers.iloc[[1, 4]].isna().all()
    text = map_values(df, "PARAMCD", {"PLAT": "P", "ALT": "A"})
    assert text.dtype == "str" and text.tolist() == ["A", "", "P", "A", ""]
    mixed = map_values(df, "PARAMCD", {"PLAT": "P", "ALT": 2})
    assert mixed.tolist() == [2, "", "P", 2, ""]


def test_map_values_with_default():
    df = pd.DataFrame({"PARAMCD": ["PLAT", "XYZ"]})
    assert map_values(df, "PARAMCD", {"PLAT": "Platelet count (10^9/L)"}).tolist() == [
        "Platelet count (10^9/L)", ""]
