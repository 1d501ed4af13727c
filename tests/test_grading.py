"""Hand-worked tests of itp_adam.derive.grading: toxicity grades from a criteria table
(CTCAE as data; the pilot's SAP 3.6 and 3.4 ATOXGR, the shipped study's CTCAE v5.0 table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from itp_adam import issues
from itp_adam.derive.grading import (criteria_problems, derive_var_atoxgr, derive_var_atoxgr_dir,
                                     parse_when, read_criteria, round_significant, Check)
from itp_adam.spec.model import SpecError, load_study

NAN = float("nan")
ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs" / "hetrombopag-itp"
PILOT = ROOT / "specs" / "cdiscpilot01" / "study.yaml"

ULN_TABLE = {"high": {  # CTCAE-like ULN multiples, and a term never graded
    "ALT": {"term": "Alanine aminotransferase increased", "unit": "U/L", "grades": [
        {"grade": 4, "when": "> 20 x ULN"}, {"grade": 3, "when": "> 5 x ULN"},
        {"grade": 2, "when": "> 3 x ULN"}, {"grade": 1, "when": "> ULN"},
        {"grade": 0, "when": "<= ULN"}]},
    "HGB": {"term": "Hemoglobin increased", "unit": "g/L", "grades": []},
}}
CREAT = {"high": {"CREAT": {"term": "Creatinine increased", "unit": "umol/L", "grades": [
    {"grade": 4, "when": "> 6 x ULN"}, {"grade": 3, "when": "> 3 x ULN"},
    {"grade": 3, "when": "> 3 x BASE"}, {"grade": 2, "when": "> 1.5 x ULN"},
    {"grade": 2, "when": "> 1.5 x BASE"}, {"grade": 1, "when": "> ULN"},
    {"grade": 1, "when": "> BASE"}, {"grade": 0, "when": "<= ULN and <= BASE"}]}}}


def frame(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"PARAMCD": ["X"] * n, "AVAL": [NAN] * n, "ANRLO": [NAN] * n, "ANRHI": [NAN] * n,
            "BASE": [NAN] * n}
    return pd.DataFrame({**base, **columns})


def graded(df: pd.DataFrame, table: dict, direction: str = "H", **kwargs) -> list[str]:
    return derive_var_atoxgr_dir(df, "GR", "DSC", table, direction, **kwargs)["GR"].tolist()


def one(param: str, grades: list[dict], direction: str = "high", unit: str = "u") -> dict:
    return {direction: {param: {"term": f"{param} term", "unit": unit, "grades": grades}}}


# --------------------------------------------------------------------------------------------
# the mini-syntax of `when`


def test_when_reads_absolute_reference_multiple_and_all():
    assert parse_when("< 1.5") == (Check("<", 1.5),)
    assert parse_when(">= LLN") == (Check(">=", 1.0, "LLN"),)
    assert parse_when("> 2.5 x ULN") == (Check(">", 2.5, "ULN"),)
    assert parse_when(">3xBASE") == (Check(">", 3.0, "BASE"),)
    assert parse_when("<= ULN and <= BASE") == (Check("<=", 1.0, "ULN"), Check("<=", 1.0, "BASE"))
    assert parse_when("> -0.5") == (Check(">", -0.5),)


@pytest.mark.parametrize(("when", "message"), [
    ("> 3 x ULNN", "unknown reference 'ULNN'"),
    ("=> ULN", "cannot read '=> ULN'"),
    ("> ULN x 3", "cannot read"),
    ("> 3 x 5", "cannot read"),
    ("> 0 x ULN", "must be positive"),
    ("> ULN or > BASE", "cannot read"),
    ("", "must be a text"),
])
def test_malformed_when_is_refused(when, message):
    with pytest.raises(ValueError, match=message):
        parse_when(when)


def test_a_malformed_table_names_direction_parameter_and_entry():
    table = {"high": {"CREAT": {"term": "Creatinine increased", "unit": "umol/L", "grades": [
        {"grade": 4, "when": "> 6 x ULN"}, {"grade": 3, "when": "> 3 x ULNN"},
        {"grade": 7, "when": "> ULN"}, {"grade": 1}]},
        "ALT": {"term": "Alanine aminotransferase increased", "grades": [], "units": "U/L"}},
        "middle": {}}
    assert criteria_problems(table) == [
        (("high", "CREAT", "grades", 1, "when"),
         "unknown reference 'ULNN' in '> 3 x ULNN' (known: LLN, ULN, BASE)"),
        (("high", "CREAT", "grades", 2, "grade"), "grade must be a whole number 0-5, found 7"),
        (("high", "CREAT", "grades", 3), "must be {grade: G, when: CHECK}, found ['grade']"),
        (("high", "ALT", "units"), "unknown key(s) units (known: term, unit, grades)"),
        (("high", "ALT"), "missing key(s) unit"),
        (("middle",), "unknown direction 'middle' (known: low, high)"),
    ]
    df = frame(PARAMCD=["ALT"], AVAL=[10.0])
    with pytest.raises(ValueError, match=r"high\.CREAT\.grades\[1\]\.when: unknown reference "):
        graded(df, table)
    assert criteria_problems({"low": []}) == [(("low",), "must map parameter codes to "
                                                         "{term, unit, grades}")]
    assert criteria_problems({}) == [((), "must be a mapping with 'low' and/or 'high'")]


def test_bad_arguments_are_refused():
    df = frame(PARAMCD=["ALT"], AVAL=[10.0], ANRHI=[40.0])
    with pytest.raises(ValueError, match="direction must be 'L' or 'H'"):
        graded(df, ULN_TABLE, "high")
    with pytest.raises(ValueError, match=r"high\.ALT\.grades\[0\] '> 20 x ULN' uses ULN, but the "
                                         "argument uln is None"):
        graded(df, ULN_TABLE, uln=None)
    with pytest.raises(ValueError, match="signif_digits"):
        graded(df, ULN_TABLE, signif_digits=0)


# --------------------------------------------------------------------------------------------
# each kind of check, hand-worked


def test_absolute_cut_offs_then_lln():
    # POTAS low (SAP 3.6): < 2.5 -> 4; < 3 -> 3; < LLN -> 2; >= LLN -> 0 (no grade 1)
    table = one("POTAS", [{"grade": 4, "when": "< 2.5"}, {"grade": 3, "when": "< 3"},
                          {"grade": 2, "when": "< LLN"}, {"grade": 0, "when": ">= LLN"}], "low")
    df = frame(PARAMCD=["POTAS"] * 7, AVAL=[2.4, 2.5, 2.99, 3.0, 3.5, 3.6, 3.2],
               ANRLO=[3.5, 3.5, 3.5, 3.5, 3.5, 3.5, NAN])
    # 2.5 is not < 2.5 but < 3; 3.0 < LLN 3.5; 3.5 >= 3.5; no LLN and no cut-off applies: ""
    assert graded(df, table, "L") == ["4", "3", "3", "2", "0", "0", ""]


def test_multiples_of_uln():
    df = frame(PARAMCD=["ALT"] * 9, AVAL=[10, 40, 41, 120, 121, 200, 201, 800, 801], ANRHI=[40] * 9)
    # ULN 40: 3x = 120, 5x = 200, 20x = 800; "> k x ULN" is strict
    assert graded(df, ULN_TABLE) == ["0", "0", "1", "1", "2", "2", "3", "3", "4"]


def test_multiple_of_lln():
    table = one("NEUT", [{"grade": 2, "when": "< 0.5 x LLN"}, {"grade": 1, "when": "< LLN"},
                         {"grade": 0, "when": ">= LLN"}], "low")
    df = frame(PARAMCD=["NEUT"] * 4, AVAL=[1.9, 2.0, 3.9, 4.0], ANRLO=[4.0] * 4)
    assert graded(df, table, "L") == ["2", "1", "1", "0"]  # 0.5 x 4 = 2: 2.0 is not < 2


def test_creatinine_base_relative_first_match_and_all():
    cases = [  # AVAL, ULN, BASE, grade: worked through SAP 3.6 "Creatinine, exactly"
        (650, 100, 80, "4"),   # > 600 = 6 x ULN
        (310, 100, 80, "3"),   # > 300 = 3 x ULN
        (160, 100, 50, "3"),   # > 150 = 3 x BASE, checked before > 1.5 x ULN (also true)
        (160, 100, 90, "2"),   # not > 270 = 3 x BASE; > 150 = 1.5 x ULN
        (100, 200, 60, "2"),   # only > 90 = 1.5 x BASE
        (120, 100, 100, "1"),  # > ULN, not > 150
        (70, 100, 60, "1"),    # only > BASE
        (80, 100, 80, "0"),    # <= ULN and <= BASE
        (70, NAN, 80, ""),     # ULN checks skipped; not > 80; grade 0 needs both
        (130, NAN, 40, "3"),   # ULN missing: > 120 = 3 x BASE
        (90, 100, NAN, ""),    # not > ULN; BASE checks skipped; grade 0 needs both
        (160, 100, NAN, "2"),  # > 150 = 1.5 x ULN
        (NAN, 100, 80, ""),    # no value
    ]
    df = frame(PARAMCD=["CREAT"] * len(cases), AVAL=[c[0] for c in cases],
               ANRHI=[c[1] for c in cases], BASE=[c[2] for c in cases])
    assert graded(df, CREAT) == [c[3] for c in cases]


def test_first_match_wins_over_a_later_higher_grade():
    table = one("X", [{"grade": 1, "when": "> 10"}, {"grade": 3, "when": "> 20"}])
    assert graded(frame(AVAL=[25.0, 15.0, 5.0]), table) == ["1", "1", ""]  # none holds: ""


def test_term_on_every_record_of_a_parameter_with_criteria_in_that_direction():
    df = frame(PARAMCD=["ALT", "ALT", "HGB", "PLAT"], AVAL=[NAN, 50.0, 9.0, 200.0],
               ANRHI=[40.0, NAN, 10.0, 400.0])
    out = derive_var_atoxgr_dir(df, "ATOXGRH", "ATOXDSCH", ULN_TABLE, "H")
    assert out["ATOXGRH"].tolist() == ["", "", "", ""]  # no value; no ULN; grades: []; no criteria
    assert out["ATOXDSCH"].tolist() == ["Alanine aminotransferase increased"] * 2 + [
        "Hemoglobin increased", ""]
    low = derive_var_atoxgr_dir(df, "ATOXGRL", "ATOXDSCL", ULN_TABLE, "L")  # no low criteria
    assert low["ATOXGRL"].tolist() == [""] * 4 and low["ATOXDSCL"].tolist() == [""] * 4
    assert pd.api.types.is_string_dtype(out["ATOXGRH"]) and "ATOXGRH" not in df.columns


def test_input_index_kept():
    df = frame(PARAMCD=["ALT", "ALT"], AVAL=[50.0, 30.0], ANRHI=[40.0, 40.0]).set_axis([7, 3])
    out = derive_var_atoxgr_dir(df, "GR", "DSC", ULN_TABLE, "H")
    assert out.index.tolist() == [7, 3] and out["GR"].tolist() == ["1", "0"]


# --------------------------------------------------------------------------------------------
# SAP 0.6: 15 significant digits on both sides


def test_round_significant():
    assert 3 * 0.2 != 0.6 and round_significant(3 * 0.2)[0] == 0.6
    assert 0.1 + 0.2 != 0.3 and round_significant(0.1 + 0.2)[0] == 0.3
    assert round_significant(3 * 0.7)[0] == 2.1
    rounded = round_significant([123456789.123456789, -0.000123456789012345678, 0.0, NAN])
    assert rounded.tolist()[:3] == [123456789.123457, -0.000123456789012346, 0.0]
    assert np.isnan(round_significant(NAN)[0])
    assert round_significant(1.04, 2)[0] == 1.0


def test_a_multiple_is_computed_then_rounded_and_so_is_the_value():
    table = one("X", [{"grade": 2, "when": ">= 3 x ULN"}, {"grade": 1, "when": "> 0.3"},
                      {"grade": 0, "when": "> 0"}])
    # 0.6 >= 3 x 0.2 = 0.6000000000000001 holds once both are rounded;
    # 0.1 + 0.2 = 0.30000000000000004 is not > 0.3 once rounded
    df = frame(AVAL=[0.6, 0.1 + 0.2], ANRHI=[0.2, 1.0])
    assert graded(df, table) == ["2", "0"]
    assert graded(df, table, signif_digits=17) == ["1", "1"]  # unrounded: the binary noise wins
    # 3 x 0.7 = 2.0999999999999996, yet 2.1 = 3 x ULN exactly: not > 3 x ULN, grade 1
    assert graded(frame(PARAMCD=["ALT"], AVAL=[2.1], ANRHI=[0.7]), ULN_TABLE) == ["1"]


# --------------------------------------------------------------------------------------------
# units


def test_a_record_in_another_unit_is_not_graded_and_reported():
    table = one("HGB", [{"grade": 3, "when": "< 80"}, {"grade": 1, "when": "< LLN"},
                        {"grade": 0, "when": ">= LLN"}], "low", unit="g/L")
    df = frame(PARAMCD=["HGB"] * 5, AVAL=[7.5, 8.0, 70.0, 7.0, NAN],
               ANRLO=[7.0, 7.0, 120.0, 7.0, 7.0], UNIT=["mmol/L", "mmol/L", " g/L ", "", "mmol/L"],
               SUBJID=["1", "2", "3", "4", "5"])
    with issues.collect() as log:
        out = derive_var_atoxgr_dir(df, "ATOXGRL", "ATOXDSCL", table, "L", unit_var="UNIT")
    assert out["ATOXGRL"].tolist() == ["", "", "3", "", ""]  # only the g/L record is graded
    assert out["ATOXDSCL"].tolist() == ["HGB term"] * 5
    found = log.frame().sort_values("SUBJID")
    assert found[["SUBJID", "column", "value"]].values.tolist() == [
        ["1", "UNIT", "mmol/L"], ["4", "UNIT", "(missing)"]]  # one entry per parameter and unit
    assert found["rule"].tolist() == [
        "HGB in unit 'mmol/L', its toxicity criteria (low: HGB term) in 'g/L': not graded "
        "(2 records with a value)",
        "HGB in unit '', its toxicity criteria (low: HGB term) in 'g/L': not graded "
        "(1 records with a value)"]
    assert set(found["severity"]) == {"warning"}
    # without unit_var the unit is not checked: 7.5 mmol/L < 80 (g/L) reads as severe anemia
    assert graded(df, table, "L") == ["3", "3", "3", "3", ""]


# --------------------------------------------------------------------------------------------
# ATOXGR (SAP 3.4)


@pytest.mark.parametrize(("low", "high", "lowdesc", "highdesc", "expected"), [
    ("", "", "Hypo", "Hyper", ""),     # both missing
    ("2", "0", "Hypo", "Hyper", "-2"),  # low >= 1
    ("1", "3", "Hypo", "Hyper", "-1"),  # low >= 1 comes first
    ("0", "3", "Hypo", "Hyper", "3"),   # high >= 1
    ("", "2", "Hypo", "Hyper", "2"),
    ("0", "0", "Hypo", "Hyper", "0"),
    ("", "0", "", "Hyper", "0"),        # high 0 and no low term
    ("", "0", "Hypo", "Hyper", ""),     # high 0, low term but no low grade
    ("0", "", "Hypo", "", "0"),         # low 0 and no high term
    ("0", "", "Hypo", "Hyper", ""),     # low 0, high term but no high grade
    ("4", "", "Hypo", "Hyper", "-4"),
])
def test_atoxgr_combines_low_and_high(low, high, lowdesc, highdesc, expected):
    df = pd.DataFrame({"ATOXGRL": [low], "ATOXGRH": [high], "ATOXDSCL": [lowdesc],
                       "ATOXDSCH": [highdesc]})
    assert derive_var_atoxgr(df)["ATOXGR"].tolist() == [expected]


def test_atoxgr_column_at_once_and_bad_grades():
    df = pd.DataFrame({"L": ["", "2", "0", "0"], "H": ["", "0", "3", ""],
                       "DL": ["a", "a", "a", "a"], "DH": ["b", "b", "b", ""]}, index=[4, 5, 6, 7])
    out = derive_var_atoxgr(df, "L", "H", "DL", "DH", new_var="G")
    assert out["G"].tolist() == ["", "-2", "3", "0"] and out.index.tolist() == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="ATOXGRL: grades must be whole numbers"):
        derive_var_atoxgr(pd.DataFrame({"ATOXGRL": ["x"], "ATOXGRH": [""], "ATOXDSCL": [""],
                                        "ATOXDSCH": [""]}))


# --------------------------------------------------------------------------------------------
# the pilot's CTCAE v4 table (specs/cdiscpilot01/study.yaml toxicity_grading, SAP 3.6)


@pytest.fixture(scope="module")
def pilot() -> dict:
    return yaml.safe_load(PILOT.read_text(encoding="utf-8"))["toxicity_grading"]["table"]


def test_pilot_table_reads_as_the_sap_lists_it(pilot):
    parsed = read_criteria(pilot)
    assert sorted(parsed["low"]) == ["ALB", "CA", "GLUC", "HGB", "LYMPH", "PHOS", "PLAT", "POTAS",
                                     "SODIUM", "WBC"]
    assert sorted(parsed["high"]) == ["ALKPH", "ALT", "AST", "BILI", "CA", "CHOLES", "CK", "CREAT",
                                      "GGT", "GLUC", "HGB", "POTAS", "SODIUM", "WBC"]
    assert parsed["low"]["LYMPH"].term == "CD4 lymphocytes decreased"
    assert [e.grade for e in parsed["low"]["POTAS"].grades] == [4, 3, 2, 0]
    assert [e.grade for e in parsed["low"]["SODIUM"].grades] == [4, 3, 1, 0]
    assert [e.grade for e in parsed["high"]["GLUC"].grades] == [4, 3, 0]
    assert [e.grade for e in parsed["high"]["WBC"].grades] == [3, 0]
    assert [e.grade for e in parsed["high"]["CREAT"].grades] == [4, 3, 3, 2, 2, 1, 1, 0]
    assert parsed["high"]["HGB"].unit == parsed["low"]["HGB"].unit == "g/L"


def test_pilot_records_graded_by_hand(pilot):
    rows = [  # PARAMCD, UNIT, AVAL, ANRLO, ANRHI, BASE -> ATOXGRL, ATOXGRH, ATOXGR
        ("CREAT", "umol/L", 160, NAN, 100, 50, "", "3", "3"),    # > 3 x BASE before > 1.5 x ULN
        ("CREAT", "umol/L", 80, NAN, 100, 80, "", "0", "0"),     # <= ULN and <= BASE; no low term
        ("CREAT", "umol/L", 80, NAN, NAN, 80, "", "", ""),       # no ULN: nothing holds
        ("GLUC", "mmol/L", 15, 3.9, NAN, NAN, "0", "3", "3"),    # > 13.9 without ULN
        ("GLUC", "mmol/L", 10, 3.9, NAN, NAN, "0", "0", "0"),    # <= 13.9, ULN not used
        ("GLUC", "mmol/L", 2.5, NAN, NAN, NAN, "2", "0", "-2"),  # < 3 without LLN
        ("POTAS", "mmol/L", 2.4, 3.5, 5.1, NAN, "4", "0", "-4"),
        ("POTAS", "mmol/L", 3.2, 3.5, 5.1, NAN, "2", "0", "-2"),  # < LLN is grade 2
        ("POTAS", "mmol/L", 3.2, NAN, NAN, NAN, "", "", ""),     # no LLN, no ULN
        ("POTAS", "mmol/L", 5.6, 3.5, 5.1, NAN, "0", "2", "2"),  # > 5.5
        ("LYMPH", "10^9/L", 0.4, 1.0, 4.0, NAN, "2", "", "-2"),  # CD4 criteria
        ("LYMPH", "10^9/L", 1.5, 1.0, 4.0, NAN, "0", "", "0"),   # no high term
        ("WBC", "10^9/L", 150, 3.8, 10.7, NAN, "0", "3", "3"),
        ("SODIUM", "mmol/L", 128, 135, 145, NAN, "3", "0", "-3"),
        ("SODIUM", "mmol/L", 133, 135, 145, NAN, "1", "0", "-1"),  # no grade 2
        ("ALT", "U/L", 130, NAN, NAN, NAN, "", "", ""),          # ULN multiples only
        ("HGB", "mmol/L", 5.0, 7.5, 10.0, NAN, "", "", ""),      # criteria in g/L: not graded
        ("ALB", "g/L", 18, 35, NAN, NAN, "3", "", "-3"),         # < 20; no high term
        ("CA", "mmol/L", 3.2, 2.1, NAN, NAN, "0", "3", "3"),     # > 3.1 needs no ULN
        ("CA", "mmol/L", 2.7, 2.1, NAN, NAN, "0", "", ""),       # high term, no high grade
    ]
    df = pd.DataFrame(rows, columns=["PARAMCD", "UNIT", "AVAL", "ANRLO", "ANRHI", "BASE",
                                     "L", "H", "G"])
    df = derive_var_atoxgr_dir(df, "ATOXGRL", "ATOXDSCL", pilot, "L", unit_var="UNIT")
    df = derive_var_atoxgr_dir(df, "ATOXGRH", "ATOXDSCH", pilot, "H", unit_var="UNIT")
    df = derive_var_atoxgr(df)
    assert df["ATOXGRL"].tolist() == df["L"].tolist()
    assert df["ATOXGRH"].tolist() == df["H"].tolist()
    assert df["ATOXGR"].tolist() == df["G"].tolist()
    hgb = df[df["PARAMCD"] == "HGB"].iloc[0]
    assert (hgb["ATOXDSCL"], hgb["ATOXDSCH"]) == ("Anemia", "Hemoglobin increased")
    assert df.loc[df["PARAMCD"] == "LYMPH", "ATOXDSCH"].tolist() == ["", ""]


# --------------------------------------------------------------------------------------------
# the shipped study: CTCAE v5.0 table in study.yaml


@pytest.fixture(scope="module")
def shipped_table() -> dict:
    return load_study(SPECS).resolve("toxicity_grading.table")


def test_shipped_table_is_the_sap_uln_multiples(shipped_table):
    study = load_study(SPECS)
    assert study.toxicity_grading.uln_multiples == {"ALT": [1, 3, 5, 20], "AST": [1, 3, 5, 20],
                                                    "BILI": [1, 1.5, 3, 10]}
    assert study.toxicity_grading.criteria == "CTCAE v5.0"
    assert study.toxicity_grading.hepatic_dysfunction_grade == 3
    df = frame(PARAMCD=["BILI"] * 8 + ["PLAT", "ALT", "ALT"],
               AVAL=[21, 21.1, 31.5, 31.6, 63, 63.1, 210, 210.1, 20, NAN, 100],
               ANRHI=[21] * 8 + [400, 40, NAN], LBSTRESU=["umol/L"] * 8 + ["10^9/L", "U/L", "U/L"])
    # ULN 21: 1.5x = 31.5, 3x = 63, 10x = 210; PLAT has no criteria; no value; no ULN
    assert graded(df, shipped_table, unit_var="LBSTRESU") == [
        "0", "1", "1", "2", "2", "3", "3", "4", "", "", ""]


def test_a_malformed_shipped_table_is_a_spec_error_at_its_line(tmp_path):
    import shutil
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    study = specs / "study.yaml"
    text = study.read_text(encoding="utf-8")
    assert text.count('"> 1.5 x ULN"') == 1
    study.write_text(text.replace('"> 1.5 x ULN"', '"> 1.5 x ULM"'), encoding="utf-8")
    line = 1 + text[:text.index('"> 1.5 x ULN"')].count("\n")
    with pytest.raises(SpecError) as caught:
        load_study(specs)
    assert f"study.yaml, line {line}: toxicity_grading.table.high.BILI.grades[2]: unknown " \
           "reference 'ULM'" in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(uln=st.integers(1, 2000), value=st.integers(0, 100_000))
def test_shipped_grade_is_the_number_of_uln_multiples_exceeded(shipped_table, uln, value):
    # values in hundredths, ULN in tenths, as reported; reference: the plain count, both sides
    # rounded to 15 significant digits by Python's own formatting
    aval, anrhi = value / 100, uln / 10

    def r15(x: float) -> float:
        return float(f"{x:.15g}")

    for param, cuts in (("ALT", [1, 3, 5, 20]), ("BILI", [1, 1.5, 3, 10])):
        expected = sum(r15(aval) > r15(k * anrhi) for k in cuts)
        df = frame(PARAMCD=[param], AVAL=[aval], ANRHI=[anrhi])
        assert graded(df, shipped_table) == [str(expected)]
