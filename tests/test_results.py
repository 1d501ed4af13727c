"""The hetrombopag ITP study's results, tables and figures (itp_adam/studies/hetrombopag_itp/:
results.py, figures.py; its tables: the display specs of analyses/tables.yaml), made from the
ARD of its analyses (analyses/*.yaml).

On the shipped study: response.csv and baseline.csv reproduce every published figure
(tests/published.py), two confidence intervals agree with an independent Clopper-Pearson
calculation from beta quantiles, and the RTF, XLSX and PNG files are well formed. On small
hand-made frames (the study's analyses computed on them): the denominators, the phase groups
and half-up rounding."""

from __future__ import annotations

import dataclasses
import math
import re
import struct

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from itp_adam.analysis.ard import build_ard
from itp_adam.studies.hetrombopag_itp.results import (
    RESPONSE_COLUMNS,
    percent,
    response_rates,
    safety_summary,
)

from .published import BASELINE, N_ENROLLED, RESPONSE, round_half_up

PHASES = ["Newly diagnosed", "Persistent", "Chronic"]


@pytest.fixture(scope="module")
def specs(shipped):
    return shipped.specs


@pytest.fixture(scope="module")
def out(shipped_rendering):
    """The results stage run on the shipped study's ADaM, its tables and figures drawn: the
    folder ``write_results(...).run()`` wrote, made once per session (conftest.py, shared with
    test_render.py and test_figures.py); the tests here only read it."""
    return shipped_rendering.folder


@pytest.fixture(scope="module")
def response(out):
    return pd.read_csv(out / "results" / "response.csv")


@pytest.fixture(scope="module")
def baseline(out):
    return pd.read_csv(out / "results" / "baseline.csv").set_index("row")


# --------------------------------------------------------------------------------------------
# response.csv


def test_response_csv_has_the_contract_columns_groups_and_order(response):
    assert list(response.columns) == RESPONSE_COLUMNS
    assert set(response["criterion"]) == {"CRIT1", "CRIT2"}
    assert list(dict.fromkeys(response["group"])) == ["All", *PHASES]
    order = (response["criterion"] + "|" + response["group"].map(
        {g: str(i) for i, g in enumerate(["All", *PHASES])})).tolist()
    keys = list(zip(order, response["avisitn"]))
    assert keys == sorted(keys)
    assert (response["avisitn"] > 0).all() and (response["N"] > 0).all()
    assert not response.duplicated(["criterion", "group", "avisitn"]).any()
    assert (response["n"] <= response["N"]).all()
    assert ((response["ci_low"] <= response["pct"]) & (response["pct"] <= response["ci_high"] + 0.5)).all()


@pytest.mark.parametrize("key", sorted(RESPONSE))
def test_response_reproduces_published_cell(response, key):
    criterion, group, week = key
    row = response.loc[response["criterion"].eq(criterion) & response["group"].eq(group)
                       & response["avisit"].eq(f"Week {week}")]
    assert len(row) == 1
    assert int(row["avisitn"].iloc[0]) == week
    assert tuple(int(row[c].iloc[0]) for c in ("n", "N", "pct")) == RESPONSE[key]


def test_phase_counts_add_up_to_all(response):
    phases = response.loc[response["group"].ne("All")].groupby(["criterion", "avisitn"])[["n", "N"]].sum()
    overall = response.loc[response["group"].eq("All")].set_index(["criterion", "avisitn"])[["n", "N"]]
    assert phases.sort_index().equals(overall.sort_index())


def _clopper_pearson(n: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """The exact interval from its definition: beta quantiles (independent of binomtest)."""
    alpha = 1 - level
    low = 0.0 if n == 0 else beta.ppf(alpha / 2, n, total - n + 1)
    high = 1.0 if n == total else beta.ppf(1 - alpha / 2, n + 1, total - n)
    return 100 * low, 100 * high


@pytest.mark.parametrize("criterion,group,week", [("CRIT1", "All", 6), ("CRIT1", "Persistent", 16),
                                                   ("CRIT2", "All", 24)])
def test_confidence_limits_match_beta_quantiles(response, criterion, group, week):
    row = response.loc[response["criterion"].eq(criterion) & response["group"].eq(group)
                       & response["avisitn"].eq(week)].iloc[0]
    low, high = _clopper_pearson(int(row["n"]), int(row["N"]))
    assert abs(row["ci_low"] - low) <= 0.05 + 1e-9
    assert abs(row["ci_high"] - high) <= 0.05 + 1e-9
    assert row["ci_low"] == round(row["ci_low"], 1) and row["ci_high"] == round(row["ci_high"], 1)


# --------------------------------------------------------------------------------------------
# baseline.csv and safety.csv


def test_baseline_reproduces_published_table(baseline):
    assert baseline.loc["enrolled", "n"] == N_ENROLLED
    assert round_half_up(baseline.loc["age", "value"]) == BASELINE["age_median"]
    assert baseline.loc["sex_female", "value"] == BASELINE["female_pct"]
    assert baseline.loc["sex_female", "N"] == N_ENROLLED
    assert round_half_up(baseline.loc["baseplat", "value"]) == BASELINE["baseplat_median"]
    assert round_half_up(baseline.loc["itpdurm", "value"]) == BASELINE["itpdur_median_months"]
    for phase, count in BASELINE["phase_counts"].items():
        assert baseline.loc[f"phase:{phase}", "n"] == count
    for grade, pct in BASELINE["who_grade_pct"].items():
        assert baseline.loc[f"whogrbl:{grade}", "value"] == pct
        assert baseline.loc[f"whogrbl:{grade}", "N"] == N_ENROLLED
    dose = baseline.loc["dosestrt"]
    assert (dose["value"], dose["min"], dose["max"]) == (
        BASELINE["dose_median"], BASELINE["dose_min"], BASELINE["dose_max"])
    dur = baseline.loc["trtdurm"]
    assert (round_half_up(dur["value"]), round_half_up(dur["min"]), round_half_up(dur["max"])) == (
        BASELINE["trtdur_median_months"], BASELINE["trtdur_min_months"], BASELINE["trtdur_max_months"])


def test_safety_has_no_hepatic_dysfunction_of_grade_3(out):
    safety = pd.read_csv(out / "results" / "safety.csv").set_index("row")
    assert (safety["N"] == N_ENROLLED).all()
    assert safety.loc["hepatic_dysfunction_ge3", "n"] == 0  # published: none during treatment
    worst = safety.loc[safety.index.str.startswith("hepatic_lab_worst:"), "n"]
    assert worst.sum() == N_ENROLLED  # every safety subject in exactly one category
    assert safety.loc["teae", "n"] >= safety.loc["teae_hepatic", "n"] > 0


# --------------------------------------------------------------------------------------------
# Files: RTF, XLSX, PNG


def _balanced(text: str) -> bool:
    depth = 0
    for char in re.sub(r"\\[\\{}]", "", text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


@pytest.mark.parametrize("name,title", [("baseline", "Baseline characteristics"),
                                        ("response", "Platelet response by analysis visit"),
                                        ("safety", "Summary of adverse events")])
def test_rtf_is_well_formed(out, name, title):
    text = (out / "tables" / f"{name}.rtf").read_text(encoding="ascii")
    assert text.startswith("{\\rtf1")
    assert _balanced(text)
    assert title in text and "Population:" in text
    if name == "response":
        assert "n/N (%)" in text and "95% CI" in text and "121/160 (76%)" in text


def test_xlsx_opens_with_expected_header(out):
    from openpyxl import load_workbook

    sheet = load_workbook(out / "tables" / "response.xlsx").active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = next(r for r in rows if r[0] == "Analysis visit")
    assert header == ["Analysis visit", "Window (days)"] + ["n/N (%)", "95% CI"] * 4
    assert any(r[0] == "Week 6" and r[2] == "121/160 (76%)" for r in rows)
    for name, first in (("baseline", "Characteristic"), ("safety", "Category")):
        rows = [list(r) for r in load_workbook(out / "tables" / f"{name}.xlsx").active.iter_rows(values_only=True)]
        assert any(r[0] == first for r in rows)


@pytest.mark.parametrize("name", ["platelets_by_visit", "response_by_visit"])
def test_png_has_a_sensible_size(out, name):
    """Each figure: a 300 dpi PNG and its SVG copy (more in test_figures.py)."""
    data = (out / "tables" / f"{name}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 3000 <= width <= 6000 and 1500 <= height <= 4000
    assert b"pHYs" + struct.pack(">II", 11811, 11811) in data  # 300 dots per inch, in metres
    assert (out / "tables" / f"{name}.svg").read_bytes().startswith(b"<?xml")


# --------------------------------------------------------------------------------------------
# Rules on hand-made frames


def _frames(specs):
    adsl = pd.DataFrame({
        "USUBJID": ["S1", "S2", "S3", "S4", "S5"],
        "ENRLFL": ["Y"] * 5, "SAFFL": ["Y", "Y", "Y", "Y", "Y"], "FASFL": ["Y", "Y", "Y", "", "Y"],
        "ITPPHASE": ["Newly diagnosed", "Chronic", "Chronic", "Chronic", ""],
        "TRTSDT": pd.to_datetime(["2024-01-01"] * 5), "TRTEDT": pd.to_datetime(["2024-06-01"] * 5),
    })
    lab = [  # USUBJID, PARAMCD, AVISITN, AVAL, ANL01FL, ADY, ATOXGR
        ("S1", "PLAT", 0, 10, "Y", 1, ""), ("S1", "PLAT", 6, 40, "Y", 43, ""),
        ("S2", "PLAT", 6, 20, "Y", 43, ""), ("S2", "PLAT", 6, 200, "", 45, ""),
        ("S3", "PLAT", 6, np.nan, "", 43, ""),           # no value: not evaluable
        ("S4", "PLAT", 6, 150, "Y", 43, ""),             # not FAS
        ("S5", "PLAT", 6, 120, "Y", 43, ""),             # no phase: in All only
        ("S1", "ALT", np.nan, 500, "", -3, "4"),         # before treatment: not post-baseline
        ("S2", "ALT", 6, 300, "Y", 43, "3"),
    ]
    adlb = pd.DataFrame(lab, columns=["USUBJID", "PARAMCD", "AVISITN", "AVAL", "ANL01FL", "ADY", "ATOXGR"])
    windows = {w.avisitn: w.avisit for w in specs.study.analysis_windows.windows}
    adlb["AVISIT"] = adlb["AVISITN"].map(windows).fillna("").astype("str")
    adlb.loc[adlb["AVISITN"].eq(0), "AVISIT"] = "Baseline"
    for crit in specs.study.response.criteria:
        flag = np.where(adlb["AVAL"] >= crit.threshold, "Y", "N")
        adlb[f"{crit.name}FL"] = np.where(adlb["PARAMCD"].eq("PLAT") & adlb["AVAL"].notna(), flag, "")
    adlb["ADT"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(adlb["ADY"] - 1, unit="D")
    return adsl, adlb


def _analyses(specs, prefix: str):
    """The study's reporting event with only the analyses whose id starts with ``prefix``."""
    event = specs.analyses
    return dataclasses.replace(event, analyses=[a for a in event.analyses if a.id.startswith(prefix)])


def _response(specs, adsl, adlb) -> pd.DataFrame:
    event = _analyses(specs, "RESPONSE_")
    return response_rates(specs.study, build_ard(event, {"ADSL": adsl, "ADLB": adlb}), event)


def test_response_denominators_and_groups_on_hand_made_frames(specs):
    adsl, adlb = _frames(specs)
    rates = _response(specs, adsl, adlb).set_index(["criterion", "group", "avisitn"])
    assert rates.loc[("CRIT1", "All", 6), ["n", "N"]].tolist() == [2, 3]  # S1, S2, S5
    assert rates.loc[("CRIT1", "Chronic", 6), ["n", "N"]].tolist() == [0, 1]  # S2 only
    assert rates.loc[("CRIT2", "All", 6), ["n", "N", "pct"]].tolist() == [1, 3, 33]
    assert ("CRIT1", "Persistent", 6) not in rates.index  # nobody evaluable: no row
    assert 0 not in rates.index.get_level_values("avisitn")  # baseline is not a response visit


def test_a_subject_with_two_records_in_a_visit_counts_once(specs):
    adsl, adlb = _frames(specs)
    second = adlb.iloc[[1]].assign(AVAL=10.0, CRIT1FL="N", CRIT2FL="N")  # S1, week 6, again
    rates = _response(specs, adsl, pd.concat([adlb, second], ignore_index=True))
    rates = rates.set_index(["criterion", "group", "avisitn"])
    assert rates.loc[("CRIT1", "All", 6), ["n", "N"]].tolist() == [2, 3]  # S1 (40), S5; of S1, S2, S5
    assert rates.loc[("CRIT1", "Newly diagnosed", 6), ["n", "N"]].tolist() == [1, 1]  # S1 once


def test_safety_counts_only_post_baseline_lab_grades(specs):
    adsl, adlb = _frames(specs)
    adae = pd.DataFrame({"USUBJID": ["S3"], "TRTEMFL": ["Y"], "ATOXGR": ["3"], "HEPATFL": ["Y"],
                         "AESER": ["N"], "AEACN": ["DOSE NOT CHANGED"]})
    event = _analyses(specs, "SAFETY_")
    ard = build_ard(event, {"ADSL": adsl, "ADLB": adlb, "ADAE": adae})
    safety = safety_summary(specs.study, ard, event).set_index("row")
    assert safety.loc["hepatic_lab_worst:4", "n"] == 0  # S1's grade 4 is before the first dose
    assert safety.loc["hepatic_lab_grade_ge3", "n"] == 1  # S2
    assert safety.loc["hepatic_dysfunction_ge3", "n"] == 2  # S2 (lab) and S3 (AE)


@pytest.mark.parametrize("n,total,expected", [(1, 8, 13), (3, 8, 38), (1, 200, 1), (121, 160, 76),
                                              (0, 5, 0), (5, 5, 100)])
def test_percent_rounds_half_up(n, total, expected):
    assert percent(n, total) == expected
    assert percent(n, total) == math.floor(100 * n / total + 0.5)
