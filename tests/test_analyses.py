"""Analyses as specs (itp_adam/analysis/): the spec language, the ARD and the ARS JSON.

On a tiny hand-made study (8 subjects, every number worked out by hand in the comments, the
confidence limits and order statistics computed independently with scipy and pandas): counts
with either denominator, groups of everyone, data-driven groups, half-up and half-even
rounding, summary statistics, worst level per subject, shift from baseline, subjects by body
system and preferred term, and a count over two datasets. Mistakes in a spec are refused with
the file and line. On the shipped study: changing one analysis spec (the population, the
confidence level, the grouping) changes the ARD and response.csv, values recomputed here.
"""

from __future__ import annotations

import json
import random
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from scipy.stats import beta

from itp_adam.analysis import stats
from itp_adam.analysis.ard import ard_view, build_ard
from itp_adam.analysis.ars import reporting_event_json
from itp_adam.analysis.model import load_analyses
from itp_adam.errors import InputError
from itp_adam.paths import default_specs_dir
from itp_adam.spec.model import SpecError, load_specs
from itp_adam.stages.results import analysis_results, write_results

from .published import RESPONSE
from .test_fuzz_specs import TEXT_MUTATIONS, TREE_MUTATIONS, lines_to

# --------------------------------------------------------------------------------------------
# A tiny study

ADSL = pd.DataFrame({
    "USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"],
    "SAFFL": ["Y", "Y", "Y", "Y", "Y", "N", "Y", "N"],
    "TRT": ["A", "A", "A", "B", "B", "B", "", "B"],  # S7 has no arm: in All only
    "RACE": ["X", "Y", "Y", "Y", "W", "W", "W", "W"],
    "AGE": [30.0, 40.0, 50.0, 20.0, 60.0, 70.0, 35.0, 45.0],
})
_LB = [  # USUBJID, PARAMCD, AVISITN, AVISIT, RESPFL, GRADE, BNRIND, ANRIND
    ("S1", "X", 1, "Visit 1", "Y", "", "", ""), ("S1", "X", 2, "Visit 2", "Y", "", "NORMAL", "HIGH"),
    ("S2", "X", 1, "Visit 1", "N", "", "", ""), ("S2", "X", 2, "Visit 2", "Y", "", "NORMAL", "NORMAL"),
    ("S3", "X", 1, "Visit 1", "Y", "", "", ""),
    ("S4", "X", 1, "Visit 1", "N", "", "", ""), ("S4", "X", 2, "Visit 2", "N", "", "LOW", "NORMAL"),
    ("S5", "X", 1, "Visit 1", "Y", "", "", ""), ("S5", "X", 2, "Visit 2", "Y", "", "LOW", "LOW"),
    ("S5", "X", 2, "Visit 2", "N", "", "LOW", "NORMAL"),  # a second record at the visit
    ("S6", "X", 1, "Visit 1", "Y", "", "", ""),  # not in the safety population
    ("S7", "X", 1, "Visit 1", "Y", "", "", ""),
    ("S9", "X", 1, "Visit 1", "Y", "", "", ""),  # not in ADSL
    ("S4", "Z", 1, "Visit 1", "Y", "", "", ""),  # another parameter
    ("S1", "G", np.nan, "", "", "1", "", ""), ("S1", "G", np.nan, "", "", "3", "", ""),
    ("S2", "G", np.nan, "", "", "0", "", ""),
    ("S3", "G", np.nan, "", "", "2", "", ""), ("S3", "G", np.nan, "", "", "", "", ""),
    ("S5", "G", np.nan, "", "", "5", "", ""), ("S5", "G", np.nan, "", "", "1", "", ""),
]
ADLB = pd.DataFrame(_LB, columns=["USUBJID", "PARAMCD", "AVISITN", "AVISIT", "RESPFL", "GRADE",
                                  "BNRIND", "ANRIND"]).astype(
    {c: "str" for c in ["USUBJID", "PARAMCD", "AVISIT", "RESPFL", "GRADE", "BNRIND", "ANRIND"]})
ADAE = pd.DataFrame([
    ("S1", "GI", "Nausea", "Y"), ("S1", "GI", "Vomiting", "Y"), ("S1", "SKIN", "Rash", "Y"),
    ("S2", "GI", "Nausea", "Y"), ("S2", "GI", "Nausea", "Y"),
    ("S3", "SKIN", "Rash", "Y"),
    ("S5", "GI", "Diarrhoea", "N"),  # not treatment-emergent
    ("S6", "GI", "Nausea", "Y"),  # not in the safety population
    ("S7", "SKIN", "Pruritus", "Y"),
], columns=["USUBJID", "AEBODSYS", "AEDECOD", "TRTEMFL"]).astype("str")
ADSL = ADSL.astype({c: "str" for c in ["USUBJID", "SAFFL", "TRT", "RACE"]})
DATASETS = {"ADSL": ADSL, "ADLB": ADLB, "ADAE": ADAE}
KNOWN = {name: set(frame.columns) for name, frame in DATASETS.items()}

SPEC = """\
reporting_event: {id: TINY, name: A tiny study}
analysis_sets:
  - {id: SAF, label: Safety population, condition: "SAFFL == 'Y'"}
  - {id: EVERYONE, label: Every subject, condition: "USUBJID != ''"}
data_subsets:
  - {id: X, label: Parameter X, condition: "PARAMCD == 'X'"}
  - {id: X2, label: Parameter X at visit 2, condition: "PARAMCD == @p and AVISITN == 2", values: {p: X}}
  - {id: G, label: Graded records, condition: "PARAMCD == 'G'"}
  - {id: G3, label: Grade 3 or more, condition: "PARAMCD == 'G' and number(GRADE) >= 3"}
  - {id: TEAE, label: TEAEs, condition: "TRTEMFL == 'Y'"}
  - {id: RASH, label: Rash, condition: "TRTEMFL == 'Y' and AEDECOD == 'Rash'"}
groupings:
  - {id: ARM, label: Arm, variable: TRT, dataset: ADSL, all: All, levels: [A, B]}
  - {id: VISIT, label: Visit, variable: AVISITN, labels_from: AVISIT}
methods:
  - id: RATE
    name: Responders of the evaluable subjects
    calculation: count
    denominator: data_subset
    confidence_level: 0.9
    ci_method: clopper-pearson
    rounding: half_up
    operations:
      - {stat: n}
      - {stat: N}
      - {stat: pct, decimals: 0}
      - {stat: ci_low, decimals: 1}
      - {stat: ci_high, decimals: 1}
  - id: OF_SET
    name: Subjects of the analysis set
    calculation: count
    denominator: analysis_set
    rounding: half_up
    operations: [{stat: n}, {stat: N}, {stat: pct, decimals: 1}]
  - id: HALF_UP
    name: Percent rounded half up
    calculation: count
    denominator: analysis_set
    rounding: half_up
    operations: [{stat: n}, {stat: N}, {stat: pct, decimals: 0}]
  - id: HALF_EVEN
    name: Percent rounded half to even
    calculation: count
    denominator: analysis_set
    rounding: half_even
    operations: [{stat: n}, {stat: N}, {stat: pct, decimals: 0}]
  - id: STATS
    name: Summary statistics
    calculation: summary
    rounding: half_up
    quantiles: linear
    operations:
      - {stat: n}
      - {stat: mean, decimals: 2}
      - {stat: sd, decimals: 3}
      - {stat: median, decimals: 1}
      - {stat: q1, decimals: 2}
      - {stat: q3, decimals: 2}
      - {stat: min, decimals: 0}
      - {stat: max, decimals: 0}
  - id: STATS_SAS
    name: Quartiles as SAS defines them
    calculation: summary
    rounding: half_up
    quantiles: averaged_inverted_cdf
    operations: [{stat: q1, decimals: 2}, {stat: q3, decimals: 2}]
  - id: WORST
    name: Subjects by worst grade
    calculation: worst
    denominator: analysis_set
    rounding: half_up
    operations: [{stat: n}, {stat: N}]
  - id: SHIFT
    name: Shift from baseline
    calculation: shift
    denominator: data_subset
    rounding: half_up
    operations: [{stat: n}, {stat: N}, {stat: pct, decimals: 0}]
  - id: SOC_PT
    name: Subjects by body system and preferred term
    calculation: hierarchy
    denominator: analysis_set
    rounding: half_up
    operations: [{stat: n}, {stat: N}]
analyses:
  - {id: RESPONSE, name: Response by arm and visit, dataset: ADLB, analysis_set: SAF,
     data_subset: X, groupings: [ARM, VISIT], variable: RESPFL, levels: ["Y"], method: RATE}
  - {id: RESPONSE_OF_SET, name: Response of the safety population, dataset: ADLB,
     analysis_set: SAF, data_subset: X, groupings: [ARM, VISIT], variable: RESPFL,
     levels: ["Y"], method: OF_SET}
  - {id: RACE_UP, name: Race, dataset: ADSL, analysis_set: EVERYONE, variable: RACE, method: HALF_UP}
  - {id: RACE_EVEN, name: Race, dataset: ADSL, analysis_set: EVERYONE, variable: RACE, method: HALF_EVEN}
  - {id: AGE, name: Age, dataset: ADSL, analysis_set: SAF, groupings: [ARM], variable: AGE, method: STATS}
  - {id: AGE_SAS, name: Age, dataset: ADSL, analysis_set: SAF, variable: AGE, method: STATS_SAS}
  - {id: WORST_GRADE, name: Worst grade, dataset: ADLB, analysis_set: SAF, data_subset: G,
     variable: GRADE, levels: [0, 1, 2, 3], missing: none, method: WORST}
  - {id: SHIFT_V2, name: Shift at visit 2, dataset: ADLB, analysis_set: SAF, data_subset: X2,
     variable: ANRIND, baseline_variable: BNRIND, levels: [LOW, NORMAL, HIGH], method: SHIFT}
  - {id: AE, name: TEAEs by body system and preferred term, dataset: ADAE, analysis_set: SAF,
     data_subset: TEAE, groupings: [ARM], variable: [AEBODSYS, AEDECOD], method: SOC_PT}
  - {id: GRADE3_OR_RASH, name: Grade 3 or a rash, dataset: ADLB, analysis_set: SAF,
     data_subset: G3, union_with: [{dataset: ADAE, data_subset: RASH}], method: OF_SET}
"""


def _write(folder: Path, text: str, name: str = "tiny.yaml") -> Path:
    (folder / "analyses").mkdir(parents=True, exist_ok=True)
    path = folder / "analyses" / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    _write(folder, SPEC)
    event = load_analyses(folder, None, KNOWN)
    return event, build_ard(event, DATASETS)


def _cells(ard: pd.DataFrame, analysis_id: str, *keys: str) -> dict:
    """``{(group levels..., variable level): {stat: stat_fmt}}`` of one analysis."""
    view = ard_view(ard, analysis_id)
    groups = [c for c in view.columns if c.startswith("group") and c.endswith("_level")]
    out = {}
    for _, row in view.iterrows():
        key = tuple(row[g] for g in groups) + (row["variable_level"],)
        out[key] = {stat: row[f"{stat}_fmt"] for stat in keys}
    return out


def _half_up(value: float, decimals: int) -> str:
    return f"{Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP):f}"


def _limits(n: int, total: int, level: float) -> tuple[str, str]:
    """Clopper-Pearson limits from their definition (beta quantiles), in percent, one decimal."""
    alpha = 1 - level
    low = 0.0 if n == 0 else beta.ppf(alpha / 2, n, total - n + 1)
    high = 1.0 if n == total else beta.ppf(1 - alpha / 2, n + 1, total - n)
    return _half_up(100 * low, 1), _half_up(100 * high, 1)


# --------------------------------------------------------------------------------------------
# Counts, denominators, groups


def test_response_by_arm_and_visit_with_the_evaluable_denominator(tiny):
    _, ard = tiny
    cells = _cells(ard, "RESPONSE", "n", "N", "pct", "ci_low", "ci_high")
    # visit 1: evaluable S1 S2 S3 S4 S5 S7 (S6 not in the set, S9 not in ADSL, Z another
    # parameter); responders S1 S3 S5 S7. Visit 2: S1 S2 S4 S5; responders S1 S2 S5 (S5 has
    # a Y and an N record: once in n, once in N)
    expected = {("All", "1"): (4, 6), ("All", "2"): (3, 4), ("A", "1"): (2, 3), ("A", "2"): (2, 2),
                ("B", "1"): (1, 2), ("B", "2"): (1, 2)}
    assert set(cells) == {(*key, "Y") for key in expected}
    pct = {(4, 6): "67", (3, 4): "75", (2, 3): "67", (2, 2): "100", (1, 2): "50"}
    for key, (n, total) in expected.items():
        found = cells[(*key, "Y")]
        assert (found["n"], found["N"], found["pct"]) == (str(n), str(total), pct[(n, total)])
        assert (found["ci_low"], found["ci_high"]) == _limits(n, total, 0.9)  # the spec's level


def test_the_ard_has_the_groups_labels_and_metadata(tiny):
    _, ard = tiny
    rows = ard.loc[ard["analysis_id"].eq("RESPONSE")]
    assert list(rows.columns[:5]) == ["analysis_id", "dataset", "analysis_set", "data_subset", "method"]
    assert set(rows["dataset"]) == {"ADLB"} and set(rows["analysis_set"]) == {"SAF"}
    assert set(rows["data_subset"]) == {"X"} and set(rows["method"]) == {"RATE"}
    assert set(rows["group1"]) == {"TRT"} and set(rows["group2"]) == {"AVISITN"}
    assert list(dict.fromkeys(rows["group1_level"])) == ["All", "A", "B"]  # All first, then levels
    assert set(zip(rows["group2_level"], rows["group2_label"])) == {("1", "Visit 1"), ("2", "Visit 2")}
    assert list(rows["stat_name"][:5]) == ["n", "N", "pct", "ci_low", "ci_high"]
    assert list(rows["operation_id"][:2]) == ["RATE_n", "RATE_N"]
    pct = rows.loc[rows["stat_name"].eq("pct")].iloc[0]
    assert pct["stat"] == pytest.approx(400 / 6) and pct["stat_fmt"] == "67"  # unrounded, shown


def test_the_analysis_set_denominator_does_not_split_by_visit(tiny):
    _, ard = tiny
    cells = _cells(ard, "RESPONSE_OF_SET", "n", "N", "pct")
    # N = the safety population in the arm: All S1 S2 S3 S4 S5 S7 = 6, A = 3, B = 2
    assert cells[("All", "1", "Y")] == {"n": "4", "N": "6", "pct": "66.7"}
    assert cells[("All", "2", "Y")] == {"n": "3", "N": "6", "pct": "50.0"}
    assert cells[("A", "2", "Y")] == {"n": "2", "N": "3", "pct": "66.7"}
    assert cells[("B", "1", "Y")] == {"n": "1", "N": "2", "pct": "50.0"}


def test_percent_rounding_is_a_spec_setting(tiny):
    _, ard = tiny
    # every subject (8): W = S5 S6 S7 S8 (50 %), X = S1 (12.5 %), Y = S2 S3 S4 (37.5 %)
    up = _cells(ard, "RACE_UP", "n", "N", "pct")
    even = _cells(ard, "RACE_EVEN", "pct")
    assert list(up) == [("W",), ("X",), ("Y",)]  # the values found, sorted
    assert up[("X",)] == {"n": "1", "N": "8", "pct": "13"} and even[("X",)] == {"pct": "12"}
    assert up[("Y",)]["pct"] == even[("Y",)]["pct"] == "38"
    assert stats.percent_text(1, 8, 1) == "12.5" and stats.percent_text(1, 200, 0) == "1"


def test_summary_statistics_equal_pandas(tiny):
    _, ard = tiny
    view = ard_view(ard, "AGE").set_index("group1_level")
    safety = ADSL.loc[ADSL["SAFFL"].eq("Y")]
    for group, ages in (("All", safety["AGE"]), ("A", safety.loc[safety["TRT"].eq("A"), "AGE"]),
                        ("B", safety.loc[safety["TRT"].eq("B"), "AGE"])):
        row = view.loc[group]
        assert row["n"] == len(ages)
        assert row["median"] == ages.median() and row["min"] == ages.min() and row["max"] == ages.max()
        assert row["q1"] == ages.quantile(0.25) and row["q3"] == ages.quantile(0.75)
        assert row["mean"] == pytest.approx(ages.mean(), rel=1e-15)
        assert row["sd"] == pytest.approx(ages.std(), rel=1e-14)
    # All: 20 30 35 40 50 60: median 37.5, q1 = 30 + 0.25 * 5 = 31.25, q3 = 40 + 0.75 * 10 = 47.5
    assert (view.loc["All", "median_fmt"], view.loc["All", "q1_fmt"], view.loc["All", "q3_fmt"]) == (
        "37.5", "31.25", "47.50")
    assert (view.loc["All", "mean_fmt"], view.loc["All", "min_fmt"]) == ("39.17", "20")


def test_sas_quartiles(tiny):
    _, ard = tiny
    row = ard_view(ard, "AGE_SAS").iloc[0]
    ages = ADSL.loc[ADSL["SAFFL"].eq("Y"), "AGE"].to_numpy()
    # n p = 1.5 and 4.5: the 2nd and 5th of 20 30 35 40 50 60
    assert (row["q1"], row["q3"]) == (30.0, 50.0)
    assert row["q1"] == np.quantile(ages, 0.25, method="averaged_inverted_cdf")
    assert row["q3"] == np.quantile(ages, 0.75, method="averaged_inverted_cdf")


def test_worst_grade_per_subject(tiny):
    _, ard = tiny
    cells = _cells(ard, "WORST_GRADE", "n", "N")
    # S1 1 and 3 -> 3; S2 0; S3 2 (and a missing grade); S5 5 (not a level) and 1 -> 1;
    # S4 and S7 have no graded record -> none
    assert {key[0]: value["n"] for key, value in cells.items()} == {
        "0": "1", "1": "1", "2": "1", "3": "1", "none": "2"}
    assert {value["N"] for value in cells.values()} == {"6"}


def test_shift_from_baseline(tiny):
    _, ard = tiny
    cells = _cells(ard, "SHIFT_V2", "n", "N", "pct")
    # visit 2: S1 NORMAL -> HIGH, S2 NORMAL -> NORMAL, S4 LOW -> NORMAL, S5 LOW -> LOW and NORMAL
    assert cells[("LOW", "LOW")] == {"n": "1", "N": "2", "pct": "50"}
    assert cells[("LOW", "NORMAL")] == {"n": "2", "N": "2", "pct": "100"}
    assert cells[("NORMAL", "HIGH")] == {"n": "1", "N": "2", "pct": "50"}
    assert cells[("HIGH", "HIGH")] == {"n": "0", "N": "0", "pct": ""}  # nobody: no percent
    rows = ard.loc[ard["analysis_id"].eq("SHIFT_V2")]
    assert set(rows["group1"]) == {"BNRIND"} and set(rows["variable"]) == {"ANRIND"}


def test_subjects_by_body_system_and_preferred_term(tiny):
    _, ard = tiny
    view = ard_view(ard, "AE")
    all_rows = view.loc[view["group1_level"].eq("All")]
    # body system first, then its terms; S2's two nausea records count once; S5's AE is not
    # treatment-emergent; S6 is not in the safety population
    assert list(zip(all_rows["variable"], all_rows["group2_level"], all_rows["variable_level"],
                    all_rows["n_fmt"])) == [
        ("AEBODSYS", "", "GI", "2"), ("AEDECOD", "GI", "Nausea", "2"),
        ("AEDECOD", "GI", "Vomiting", "1"), ("AEBODSYS", "", "SKIN", "3"),
        ("AEDECOD", "SKIN", "Pruritus", "1"), ("AEDECOD", "SKIN", "Rash", "2")]
    arm_a = view.loc[view["group1_level"].eq("A")].set_index("variable_level")
    assert (arm_a.loc["SKIN", "n"], arm_a.loc["Pruritus", "n"], arm_a.loc["SKIN", "N"]) == (2, 0, 3)
    assert set(view.loc[view["group1_level"].eq("B"), "n"]) == {0}


def test_a_count_over_two_datasets(tiny):
    _, ard = tiny
    # grade >= 3: S1 (S5's grade 5 counts too); a rash: S1 and S3 -> S1, S3, S5
    assert _cells(ard, "GRADE3_OR_RASH", "n", "N")[("",)] == {"n": "3", "N": "6"}


def test_the_ard_is_written_as_csv_parquet_and_ars_json(tiny, tmp_path):
    from itp_adam.analysis.ard import write_ard

    event, ard = tiny
    written = write_ard(ard, event, tmp_path)
    assert [p.name for p in written] == ["ard.csv", "ard.parquet", "ars.json"]
    csv = pd.read_csv(tmp_path / "ard.csv", dtype=str, keep_default_na=False)
    assert csv.drop(columns="stat").astype(object).equals(ard.drop(columns="stat").astype(object))
    assert pq.read_table(tmp_path / "ard.parquet").to_pandas()["stat_fmt"].tolist() == ard["stat_fmt"].tolist()
    ars = json.loads((tmp_path / "ars.json").read_text())
    assert {"id", "name", "mainListOfContents", "analysisSets", "dataSubsets", "analysisGroupings",
            "dataGroupings", "methods", "analyses"} <= set(ars)
    assert [a["id"] for a in ars["analyses"]] == [a.id for a in event.analyses]
    assert sum(len(a["results"]) for a in ars["analyses"]) == len(ard)
    saf = next(s for s in ars["analysisSets"] if s["id"] == "SAF")
    assert saf["condition"] == {"dataset": "ADSL", "variable": "SAFFL", "comparator": "EQ", "value": ["Y"]}
    x2 = next(s for s in ars["dataSubsets"] if s["id"] == "X2")["compoundExpression"]
    assert x2["logicalOperator"] == "AND" and [c["condition"]["value"] for c in x2["whereClauses"]] == [
        ["X"], ["2"]]
    g3 = next(s for s in ars["dataSubsets"] if s["id"] == "G3")  # number(GRADE): no where clause
    assert "condition" not in g3 and "compoundExpression" not in g3 and "number(GRADE)" in g3["label"]
    assert [g["id"] for g in ars["analysisGroupings"]] == ["ARM"]
    assert [g["id"] for g in ars["dataGroupings"]] == ["VISIT"] and ars["dataGroupings"][0]["dataDriven"]
    rate = next(m for m in ars["methods"] if m["id"] == "RATE")
    assert [o["name"] for o in rate["operations"]] == ["n", "N", "pct", "ci_low", "ci_high"]
    response = next(a for a in ars["analyses"] if a["id"] == "RESPONSE")
    first = response["results"][0]
    assert first["resultGroups"][:2] == [{"groupingId": "ARM", "groupId": "ARM_ALL"},
                                         {"groupingId": "VISIT", "groupValue": "1"}]
    assert (first["operationId"], first["rawValue"], first["formattedValue"]) == ("RATE_n", "4", "4")


# --------------------------------------------------------------------------------------------
# Mistakes in a spec: file and line


def _line(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_mistakes_are_refused_with_file_and_line(tmp_path):
    text = SPEC.replace('condition: "SAFFL == \'Y\'"', 'condition: "SAFFL = \'Y\'"') \
        .replace("method: STATS_SAS}", "method: STATS_SASS}") \
        .replace("operations: [{stat: n}, {stat: N}]\n  - id: SHIFT",
                 "operations: [{stat: n}, {stat: mean, decimals: 1}]\n  - id: SHIFT") \
        .replace('"PARAMCD == @p and AVISITN == 2", values: {p: X}', '"PARAMCD == @p and AVISITN == @v", values: {p: X}')
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_analyses(tmp_path, None, KNOWN)
    message = str(caught.value)
    assert f"{path}, line {_line(text, 'SAFFL = ')}: analysis set SAF: condition: expression refused" in message
    assert (f"{path}, line {_line(text, 'STATS_SASS')}: analysis AGE_SAS: unknown method "
            "'STATS_SASS'; known: HALF_EVEN") in message
    assert f"{path}, line {_line(text, '{stat: mean, decimals: 1}]')}: method WORST: stat 'mean'" in message
    assert f"{path}, line {_line(text, '@v')}: data subset X2: condition" in message  # values: same line
    assert "@v is not passed by values (passed here: @p)" in message


@pytest.mark.parametrize("old,new,fragment,expected", [
    ("confidence_level: 0.9", "confidence_level: 1.5", "confidence_level: 1.5",
     "method RATE: confidence_level: Input should be less than 1 (found 1.5)"),
    ("{stat: pct, decimals: 0}]\n  - id: HALF_EVEN", "{stat: pct}]\n  - id: HALF_EVEN",
     "{stat: pct}]", "method HALF_UP: stat 'pct' needs decimals"),
    ("variable: RESPFL, levels", "variable: RESPFLX, levels", "RESPFLX",
     "analysis RESPONSE: no variable RESPFLX in dataset ADLB or ADSL"),
    ("dataset: ADSL, analysis_set: EVERYONE, variable: RACE, method: HALF_UP",
     "dataset: ADXX, analysis_set: EVERYONE, variable: RACE, method: HALF_UP", "ADXX",
     "analysis RACE_UP: unknown dataset 'ADXX'; known: ADAE, ADLB, ADSL"),
    ("    quantiles: linear\n", "", "id: STATS\n", "method STATS: q1 and q3 need quantiles"),
    ("levels: [0, 1, 2, 3], missing: none, method: WORST", "missing: none, method: WORST",
     "id: WORST_GRADE", "analysis WORST_GRADE: method WORST (worst) needs levels"),
    ("all: All, levels: [A, B]", "all: A, levels: [A, B]", "all: A,", "grouping ARM: all: 'A' is also a level"),
])
def test_one_mistake(tmp_path, old, new, fragment, expected):
    assert old in SPEC
    text = SPEC.replace(old, new, 1)
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_analyses(tmp_path, None, KNOWN)
    line = _line(text, fragment.split("\n")[0])
    assert str(caught.value).startswith(f"{path}, line {line}: {expected}"), str(caught.value)


def test_an_id_defined_in_two_files_and_a_study_parameter_that_does_not_exist(tmp_path):
    _write(tmp_path, SPEC)
    other = "methods:\n  - {id: RATE, name: again, calculation: count, denominator: data_subset,\n" \
            "     rounding: half_up, operations: [{stat: n}]}\n"
    path = _write(tmp_path, other, "zmore.yaml")  # read after tiny.yaml
    with pytest.raises(SpecError, match=rf"{path}, line 2: method RATE: method RATE is also defined in "):
        load_analyses(tmp_path, None, KNOWN)
    path.write_text("data_subsets:\n  - {id: S, label: s, condition: \"A == @a\",\n"
                    "     values: {a: {study: no.such.key}}}\n")
    study = load_specs(default_specs_dir()).study
    with pytest.raises(SpecError, match=rf"{path}, line 3: data subset S: unknown study parameter "
                                        "'no.such.key'"):
        load_analyses(tmp_path, study, KNOWN)


def test_data_that_do_not_fit_the_spec_name_the_analysis(tmp_path):
    path = _write(tmp_path, SPEC)
    event = load_analyses(tmp_path, None, None)  # variables not checked at load
    with pytest.raises(InputError, match=rf"{path}, line \d+: analysis RESPONSE: dataset ADLB was not "
                                         r"built \(built: ADAE, ADSL\)"):
        build_ard(event, {"ADSL": ADSL, "ADAE": ADAE})
    twice = pd.concat([ADSL, ADSL.iloc[[0]]], ignore_index=True)
    with pytest.raises(InputError, match="dataset ADSL has more than one row for subject 'S1'"):
        build_ard(event, {**DATASETS, "ADSL": twice})


# --------------------------------------------------------------------------------------------
# The shipped study: one analysis spec changed, no code


@pytest.fixture(scope="module")
def frames(shipped):
    return shipped.sdtm, shipped.adam


def _changed(tmp_path: Path, old: str, new: str, name: str = "response.yaml") -> Path:
    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs)
    path = specs / "analyses" / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return specs


def _run(specs_dir: Path, frames, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    response, ard, _ = _run_with_tables(specs_dir, frames, out)
    return response, ard


def _run_with_tables(specs_dir: Path, frames, out: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """response.csv, the ARD and the reviewer tables laid out (not drawn here), by file name."""
    sdtm, adam = frames
    rendering = write_results(load_specs(specs_dir), sdtm, adam, out)
    return (pd.read_csv(out / "results" / "response.csv"),
            pd.read_csv(out / "results" / "ard.csv", dtype={"group2_level": str}, keep_default_na=False),
            {table.name: table for table in rendering.tables})


def _table_cells(table, criterion: str) -> dict:
    """(group, visit label) -> (n/N (%) text, CI text) of the response table's section."""
    groups = [text.split(" (N = ")[0] for text, _ in table.headers[0][2:]]
    out = {}
    for row, section in zip(table.rows, table.section):
        if section.startswith(criterion):
            for k, group in enumerate(groups):
                out[(group, row[0])] = (row[2 + 2 * k], row[3 + 2 * k])
    return out


def _expected_cells(response: pd.DataFrame, criterion: str) -> dict:
    """The response table's cells written from response.csv, '-' where it has no row."""
    rows = response.loc[response["criterion"].eq(criterion)]
    return {(r.group, r.avisit): (f"{r.n}/{r.N} ({r.pct}%)", f"({r.ci_low:.1f}, {r.ci_high:.1f})")
            for r in rows.itertuples()}


def _expected_response(adsl: pd.DataFrame, adlb: pd.DataFrame, flag: str, population: str,
                       group: str, level: float = 0.95) -> dict:
    """(group, avisitn) -> (n, N, pct, ci_low, ci_high), computed with pandas from ADSL/ADLB."""
    subjects = adsl.loc[adsl[population].eq("Y"), ["USUBJID", group]]
    records = adlb.loc[adlb["PARAMCD"].eq("PLAT") & adlb["ANL01FL"].eq("Y") & adlb["AVAL"].notna()
                       & adlb["AVISITN"].gt(0), ["USUBJID", "AVISITN", flag]]
    records = records.merge(subjects, on="USUBJID")
    out = {}
    for name, part in [("All", records)] + [(g, p) for g, p in records.groupby(group) if g != ""]:
        for visit, cell in part.groupby("AVISITN"):
            n = cell.loc[cell[flag].eq("Y"), "USUBJID"].nunique()
            total = cell["USUBJID"].nunique()
            pct = int(Decimal(100 * n) / Decimal(total) + Decimal("0.5"))  # half up, whole number
            out[(name, int(visit))] = (n, total, pct, *(float(x) for x in _limits(n, total, level)))
    return out


def _response_rows(response: pd.DataFrame, criterion: str) -> dict:
    rows = response.loc[response["criterion"].eq(criterion)]
    return {(r.group, r.avisitn): (r.n, r.N, r.pct, r.ci_low, r.ci_high) for r in rows.itertuples()}


def test_the_shipped_response_csv_is_made_from_the_ard(frames, tmp_path):
    response, ard = _run(default_specs_dir(), frames, tmp_path / "out")
    adsl, adlb = frames[1]["ADSL"], frames[1]["ADLB"]
    for crit in ("CRIT1", "CRIT2"):
        assert _response_rows(response, crit) == _expected_response(adsl, adlb, f"{crit}FL", "FASFL",
                                                                    "ITPPHASE")
        rows = ard.loc[ard["analysis_id"].eq(f"RESPONSE_{crit}") & ard["stat_name"].eq("pct")]
        shown = rows.loc[rows["stat_fmt"].ne("")]
        assert len(shown) == len(response.loc[response["criterion"].eq(crit)])
    for (crit, group, week), (n, total, pct) in RESPONSE.items():
        assert _response_rows(response, crit)[(group, week)][:3] == (n, total, pct)


def test_another_population_changes_the_ard_and_response_csv(frames, tmp_path):
    specs = _changed(tmp_path, "    analysis_set: FAS\n    data_subset: RESPONSE_RECORDS\n"
                               "    groupings: [PHASE, VISIT]\n    variable: CRIT1FL",
                     "    analysis_set: SAF\n    data_subset: RESPONSE_RECORDS\n"
                     "    groupings: [PHASE, VISIT]\n    variable: CRIT1FL")
    response, ard, tables = _run_with_tables(specs, frames, tmp_path / "out")
    adsl, adlb = frames[1]["ADSL"], frames[1]["ADLB"]
    saf = _expected_response(adsl, adlb, "CRIT1FL", "SAFFL", "ITPPHASE")
    assert _response_rows(response, "CRIT1") == saf
    cells = _table_cells(tables["response"], "CRIT1")  # the table follows
    assert {k: v for k, v in cells.items() if v != ("-", "-")} == _expected_cells(response, "CRIT1")
    assert _response_rows(response, "CRIT2") == _expected_response(adsl, adlb, "CRIT2FL", "FASFL",
                                                                   "ITPPHASE")
    assert set(ard.loc[ard["analysis_id"].eq("RESPONSE_CRIT1"), "analysis_set"]) == {"SAF"}


def test_another_confidence_level_changes_the_limits(frames, tmp_path):
    specs = _changed(tmp_path, "confidence_level: {study: response.confidence_level}",
                     "confidence_level: 0.8", "populations.yaml")
    response, _, tables = _run_with_tables(specs, frames, tmp_path / "out")
    adsl, adlb = frames[1]["ADSL"], frames[1]["ADLB"]
    expected = _expected_response(adsl, adlb, "CRIT2FL", "FASFL", "ITPPHASE", level=0.8)
    assert _response_rows(response, "CRIT2") == expected
    table = tables["response"]  # the table follows: its header and its limits
    assert table.headers[1][2:4] == [("n/N (%)", 1), ("80% CI", 1)]
    low, high = _limits(49, 160, 0.8)
    assert _table_cells(table, "CRIT2")[("All", "Week 6")] == ("49/160 (31%)", f"({low}, {high})")
    week6 = _response_rows(response, "CRIT2")[("All", 6)]
    assert week6[:2] == (49, 160) and (week6[3], week6[4]) == tuple(float(x) for x in _limits(49, 160, 0.8))


def test_another_grouping_changes_the_groups(frames, tmp_path):
    # the group of the response analyses, and of the response table's columns, by sex instead
    # of the disease phase: response.csv's groups and the table's columns follow
    specs = _changed(tmp_path, "    variable: ITPPHASE\n    dataset: ADSL\n    all: All\n"
                               "    levels: {study: itp_phase.labels}",
                     "    variable: SEX\n    dataset: ADSL\n    all: All\n"
                     "    levels: [{value: F, label: Female}, {value: M, label: Male}]", "populations.yaml")
    response, ard, tables = _run_with_tables(specs, frames, tmp_path / "out")
    adsl, adlb = frames[1]["ADSL"], frames[1]["ADLB"]
    labels = {"All": "All", "F": "Female", "M": "Male"}
    for crit in ("CRIT1", "CRIT2"):
        by_sex = _expected_response(adsl, adlb, f"{crit}FL", "FASFL", "SEX")
        assert _response_rows(response, crit) == {(labels[g], v): x for (g, v), x in by_sex.items()}
    assert list(dict.fromkeys(response.loc[response["criterion"].eq("CRIT1"), "group"])) == [
        "All", "Female", "Male"]
    rows = ard.loc[ard["analysis_id"].eq("RESPONSE_CRIT1")]
    assert set(rows["group1"]) == {"SEX"} and set(rows["group1_level"]) == {"All", "F", "M"}
    table = tables["response"]
    fas = adsl.loc[adsl["FASFL"].eq("Y"), "SEX"]
    assert [text for text, _ in table.headers[0][2:]] == [
        f"All (N = {len(fas)})", f"Female (N = {(fas == 'F').sum()})", f"Male (N = {(fas == 'M').sum()})"]
    assert {k: v for k, v in _table_cells(table, "CRIT1").items() if v != ("-", "-")} == \
        _expected_cells(response, "CRIT1")


def test_an_added_grouping_adds_group_columns_to_the_ard(frames, tmp_path):
    specs = _changed(tmp_path, "    groupings: [PHASE, VISIT]\n    variable: CRIT2FL",
                     "    groupings: [PHASE, SEX, VISIT]\n    variable: CRIT2FL")
    path = specs / "analyses" / "populations.yaml"
    path.write_text(path.read_text().replace(
        "groupings:\n", "groupings:\n  - {id: SEX, label: Sex, variable: SEX, dataset: ADSL, levels: [F, M]}\n", 1))
    sdtm, adam = frames
    ard = analysis_results(load_specs(specs), sdtm, adam)
    rows = ard.loc[ard["analysis_id"].eq("RESPONSE_CRIT2")]
    assert (set(rows["group1"]), set(rows["group2"]), set(rows["group3"])) == ({"ITPPHASE"}, {"SEX"}, {"AVISITN"})
    week6 = ard_view(ard, "RESPONSE_CRIT2")
    week6 = week6.loc[week6["group1_level"].eq("All") & week6["group3_level"].eq("6")].set_index("group2_level")
    adsl, adlb = adam["ADSL"], adam["ADLB"]
    records = adlb.loc[adlb["PARAMCD"].eq("PLAT") & adlb["ANL01FL"].eq("Y") & adlb["AVAL"].notna()
                       & adlb["AVISITN"].eq(6)].merge(adsl.loc[adsl["FASFL"].eq("Y"), ["USUBJID", "SEX"]],
                                                       on="USUBJID")
    for sex in ("F", "M"):
        part = records.loc[records["SEX"].eq(sex)]
        assert (week6.loc[sex, "n"], week6.loc[sex, "N"]) == (
            part.loc[part["CRIT2FL"].eq("Y"), "USUBJID"].nunique(), part["USUBJID"].nunique())
    assert week6["N"].sum() == 160  # the published N at week 6, split by sex
    # response.csv holds one group column: the study says so with the analysis' file and line
    with pytest.raises(SpecError, match=r"response\.yaml, line \d+: analysis RESPONSE_CRIT2: the "
                                        r"hetrombopag-itp results use it for response\.csv: it needs two"):
        write_results(load_specs(specs), sdtm, adam, tmp_path / "out")


def test_the_shipped_ars_json_describes_every_analysis(frames, tmp_path):
    sdtm, adam = frames
    specs = load_specs(default_specs_dir())
    ard = analysis_results(specs, sdtm, adam)
    ars = reporting_event_json(specs.analyses, ard)
    assert ars["id"] == "HETROM-ITP-RWS"
    assert [a["id"] for a in ars["analyses"]] == [a.id for a in specs.analyses.analyses]
    fas = next(s for s in ars["analysisSets"] if s["id"] == "FAS")
    assert fas["condition"] == {"dataset": "ADSL", "variable": "FASFL", "comparator": "EQ", "value": ["Y"]}
    phase = ars["analysisGroupings"][0]
    assert [g["label"] for g in phase["groups"]] == ["All", "Newly diagnosed", "Persistent", "Chronic"]
    crit1 = next(a for a in ars["analyses"] if a["id"] == "RESPONSE_CRIT1")
    assert crit1["purpose"] == {"controlledTerm": "PRIMARY OUTCOME MEASURE"}
    assert [g["groupingId"] for g in crit1["orderedGroupings"]] == ["PHASE", "VISIT"]


# --------------------------------------------------------------------------------------------
# Mutated analysis specs load or fail with file and line, and never end in a traceback


@pytest.mark.parametrize("seed", range(24))
def test_a_mutated_analysis_spec_loads_or_fails_with_file_and_line(frames, tmp_path, seed):
    rng = random.Random(1000 + seed)
    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs)
    files = sorted((specs / "analyses").glob("*.yaml"))
    path = rng.choice(files)
    text = path.read_text(encoding="utf-8")
    lines = None
    if rng.random() < 0.25:
        how = rng.choice(TEXT_MUTATIONS)
        new, what = how(rng, text)
    else:
        how = rng.choice(TREE_MUTATIONS)
        new, what, place = how(rng, yaml.safe_load(text))
        lines = lines_to(new, place)
    path.write_text(new, encoding="utf-8")
    case = f"seed {seed}: {path.name}: {what}"
    try:
        loaded = load_specs(specs)
    except InputError as exc:
        message = str(exc)
        assert "Traceback" not in message, case
        named = [int(line) for file, line in
                 (part.split(", line ") for part in _places(message, specs)) if file == str(path)]
        problems = message.splitlines()[1 if message.split("\n")[0].endswith("problems in the specs:") else 0:]
        references = all("unknown" in p or "also defined" in p for p in problems)
        if not named or (lines and not set(named) & set(lines)):
            # an item that others name was changed: the problems are at those references
            assert references, (case, message, lines)
        return
    sdtm, adam = frames
    try:
        write_results(loaded, sdtm, adam, tmp_path / "out")
    except InputError as exc:
        assert str(specs) in str(exc), (case, str(exc))


def _places(message: str, specs: Path) -> list[str]:
    """``FILE, line N`` of each problem of a SpecError's message (problems without a line left out)."""
    places = []
    for line in message.splitlines():
        line = line.strip()
        if line.startswith(str(specs)) and ", line " in line.split(": ")[0]:
            places.append(line.split(": ")[0])
    return places


# --------------------------------------------------------------------------------------------
# ars.json against the ARS v1.0 JSON schema (cdisc-org/analysis-results-standard,
# model/ars_ldm.schema.json): each class's required and allowed properties, as written there

_ARS = {  # class: (required, allowed or None (any), {property: class or [class]})
    "ReportingEvent": ({"id", "name", "mainListOfContents"}, None, {
        "mainListOfContents": "ListOfContents", "analysisSets": ["AnalysisSet"],
        "dataSubsets": ["DataSubset"], "analysisGroupings": ["SubjectGroupingFactor"],
        "dataGroupings": ["DataGroupingFactor"], "methods": ["AnalysisMethod"], "analyses": ["Analysis"]}),
    "ListOfContents": ({"contentsList", "name"}, {"contentsList", "description", "label", "name"},
                       {"contentsList": "NestedList"}),
    "NestedList": (set(), {"listItems"}, {"listItems": ["OrderedListItem"]}),
    "OrderedListItem": ({"level", "order", "name"}, {"analysisId", "description", "label", "level",
                                                     "name", "order", "outputId", "sublist"}, {}),
    "AnalysisSet": ({"id", "level", "order"}, {"compoundExpression", "condition", "id", "label", "level",
                                               "order"}, {"condition": "WhereClauseCondition"}),
    "DataSubset": ({"id", "level", "order"}, {"compoundExpression", "condition", "id", "label", "level",
                                              "order"},
                   {"condition": "WhereClauseCondition", "compoundExpression": "WhereClauseCompoundExpression"}),
    "WhereClauseCompoundExpression": ({"logicalOperator"}, {"logicalOperator", "whereClauses"},
                                      {"whereClauses": ["WhereClause"]}),
    "WhereClause": ({"level", "order"}, {"compoundExpression", "condition", "level", "order"},
                    {"condition": "WhereClauseCondition", "compoundExpression": "WhereClauseCompoundExpression"}),
    "WhereClauseCondition": (set(), {"comparator", "dataset", "value", "variable"}, {}),
    "SubjectGroupingFactor": ({"id", "dataDriven"}, {"dataDriven", "groupingDataset", "groupingVariable",
                                                     "groups", "id", "label"}, {"groups": ["AnalysisGroup"]}),
    "DataGroupingFactor": ({"id", "dataDriven"}, {"dataDriven", "groupingDataset", "groupingVariable",
                                                  "groups", "id", "label"}, {"groups": ["AnalysisGroup"]}),
    "AnalysisGroup": ({"id", "level", "order"}, {"compoundExpression", "condition", "id", "label", "level",
                                                 "order"}, {"condition": "WhereClauseCondition"}),
    "AnalysisMethod": ({"id", "operations", "name"}, {"codeTemplate", "description", "documentRefs", "id",
                                                      "label", "name", "operations"},
                       {"operations": ["Operation"]}),
    "Operation": ({"id", "order", "name"}, {"description", "id", "label", "name", "order",
                                            "referencedOperationRelationships", "resultPattern"},
                  {"referencedOperationRelationships": ["ReferencedOperationRelationship"]}),
    "ReferencedOperationRelationship": ({"id", "referencedOperationRole", "operationId"},
                                        {"analysisId", "description", "id", "operationId",
                                         "referencedOperationRole"},
                                        {"referencedOperationRole": "Term"}),
    "Term": ({"controlledTerm"}, {"controlledTerm", "sponsorTermId"}, {}),
    "Analysis": ({"id", "reason", "purpose", "methodId", "name"},
                 {"analysisSetId", "categoryIds", "dataSubsetId", "dataset", "description", "documentRefs",
                  "id", "label", "methodId", "name", "orderedGroupings", "programmingCode", "purpose",
                  "reason", "referencedAnalysisOperations", "results", "variable", "version"},
                 {"orderedGroupings": ["OrderedGroupingFactor"], "results": ["OperationResult"],
                  "reason": "Term", "purpose": "Term"}),
    "OrderedGroupingFactor": ({"order", "groupingId", "resultsByGroup"},
                              {"order", "groupingId", "resultsByGroup"}, {}),
    "OperationResult": ({"operationId"}, {"formattedValue", "operationId", "rawValue", "resultGroups"},
                        {"resultGroups": ["ResultGroup"]}),
    "ResultGroup": ({"groupingId"}, {"groupId", "groupValue", "groupingId"}, {}),
}
_ENUMS = {"comparator": {"EQ", "NE", "GT", "GE", "LT", "LE", "IN", "NOTIN"},
          "logicalOperator": {"AND", "OR", "NOT"},
          "controlledTerm": {"NUMERATOR", "DENOMINATOR", "SPECIFIED IN PROTOCOL", "SPECIFIED IN SAP",
                             "DATA DRIVEN", "REQUESTED BY REGULATORY AGENCY", "PRIMARY OUTCOME MEASURE",
                             "SECONDARY OUTCOME MEASURE", "EXPLORATORY OUTCOME MEASURE"}}


def _ars_problems(obj, cls: str, at: str = "") -> list[str]:
    required, allowed, nested = _ARS[cls]
    problems = [f"{at}: {cls} lacks {key}" for key in sorted(required - set(obj))]
    if allowed is not None:
        problems += [f"{at}: {cls} has no property {key}" for key in sorted(set(obj) - allowed)]
    for key, value in obj.items():
        if key in _ENUMS and value not in _ENUMS[key]:
            problems.append(f"{at}.{key}: {value!r} not in ARS's enumeration")
        if key in ("level", "order") and not isinstance(value, int):
            problems.append(f"{at}.{key}: not an integer")
        if key in ("rawValue", "formattedValue", "groupValue") and not isinstance(value, str):
            problems.append(f"{at}.{key}: not text")
        if key == "value" and not all(isinstance(v, str) for v in value):
            problems.append(f"{at}.value: not a list of text")
        kind = nested.get(key)
        if isinstance(kind, list):
            for number, item in enumerate(value):
                problems += _ars_problems(item, kind[0], f"{at}.{key}[{number}]")
        elif kind is not None:
            problems += _ars_problems(value, kind, f"{at}.{key}")
    return problems


def test_the_ars_json_fits_the_ars_schema(frames, tiny):
    sdtm, adam = frames
    specs = load_specs(default_specs_dir())
    shipped = reporting_event_json(specs.analyses, analysis_results(specs, sdtm, adam))
    assert _ars_problems(shipped, "ReportingEvent") == []
    event, ard = tiny  # its analyses give no reason and purpose, which ARS requires
    problems = _ars_problems(reporting_event_json(event, ard), "ReportingEvent")
    assert problems and all(p.endswith(("lacks reason", "lacks purpose")) for p in problems), problems


# --------------------------------------------------------------------------------------------
# distinct subjects per cell: flags, flags in blocks, hashing


@pytest.mark.parametrize("flags, blocks", [(10_000, 8), (12, 8), (12, 1), (1, 1)])
@pytest.mark.parametrize("seed", range(5))
def test_distinct_subjects_per_key_are_counted_alike_every_way(monkeypatch, flags, blocks, seed):
    """flags 10,000: one block of flags; 12 (three keys of four subjects at a time): blocks
    of flags, or (blocks 1) hashing; 1: hashing. Each against a plain count of (key, subject)
    pairs in a set."""
    from itp_adam.analysis import ard

    monkeypatch.setattr(ard, "FLAGS", flags)
    monkeypatch.setattr(ard, "BLOCKS", blocks)
    rng = np.random.default_rng(seed)
    count, span = 7, 4
    keys = rng.integers(0, count, 60)
    subjects = rng.integers(0, span, 60)
    expected = [len({s for k, s in zip(keys, subjects) if k == key}) for key in range(count)]
    assert ard._distinct(keys.astype(np.int32), subjects, count, span).tolist() == expected
    assert ard._distinct(keys[:0], subjects[:0], count, span).tolist() == [0] * count


@pytest.mark.parametrize("which", ["tiny", "shipped", "text ties"])
def test_a_text_variable_coded_once_for_every_analysis_gives_the_same_ard(
        monkeypatch, tiny, frames, which):
    # the second way: every analysis factorises the values of its own records (the first
    # version); "text ties": two body systems whose texts differ only by a blank, so their
    # order among the levels is that of their first record, which the whole column's codes
    # cannot give (the analysis then factorises its own values)
    from itp_adam.analysis import ard

    if which == "shipped":
        event, data = load_specs(default_specs_dir()).analyses, {**frames[0], **frames[1]}
    else:
        event, data = tiny[0], DATASETS
    if which == "text ties":
        adae = ADAE.copy()
        adae.loc[adae["AEDECOD"] == "Rash", "AEBODSYS"] = "GI "  # "GI " after "GI"
        data = {**DATASETS, "ADAE": adae}
    whole = []

    def counted(*args, **kwargs):
        found = original(*args, **kwargs)
        if kwargs.get("whole"):
            whole.append(found is not None)
        return found

    original = ard._coded_levels
    monkeypatch.setattr(ard, "_coded_levels", counted)
    once = build_ard(event, data)
    assert any(whole)  # the codes of whole columns were used ...
    assert (not all(whole)) == (which == "text ties")  # ... and refused only for the ties
    monkeypatch.setattr(ard._Data, "factorized", lambda self, name, column: None)
    pd.testing.assert_frame_equal(once, build_ard(event, data), check_exact=True)
