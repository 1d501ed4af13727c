"""The simulator: the default study reproduces every published figure (from its truth and,
independently, from its raw forms), byte-for-byte reproducibility, and scaling."""

from __future__ import annotations

import filecmp
import statistics

import numpy as np
import pandas as pd
import pytest

from itp_adam import simulate
from itp_adam.paths import shipped_study_dir

from . import rawcalc
from .published import BASELINE, N_ENROLLED, RESPONSE, assert_published_baseline, round_half_up

PHASES = ("Newly diagnosed", "Persistent", "Chronic")


@pytest.fixture(scope="module")
def default_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    study = simulate.build()
    simulate.write_export(study, out)
    return study, out


def test_truth_reproduces_published_baseline(default_export):
    study, _ = default_export
    t = study.truth_subjects
    assert len(t) == N_ENROLLED
    assert_published_baseline(t)

def test_truth_reproduces_published_response(default_export):
    study, _ = default_export
    v = study.truth_visits
    for (crit, group, week), (n, N, pct) in RESPONSE.items():
        x = v[v["AVISITN"] == week]
        if group != "All":
            x = x[x["ITPPHASE"] == group]
        got_n = int((x[f"{crit}FL"] == "Y").sum())
        assert (got_n, len(x)) == (n, N), (crit, group, week)
        assert round_half_up(100 * got_n / len(x)) == pct


def test_raw_forms_reproduce_published_figures(default_export):
    """A plain second calculation straight from the CSV files gives every published figure."""
    _, out = default_export
    r = rawcalc.calculate(out)
    assert r["n"] == N_ENROLLED
    assert round_half_up(r["age_median"]) == BASELINE["age_median"]
    assert round_half_up(100 * r["female"] / r["n"]) == BASELINE["female_pct"]
    assert round_half_up(r["baseplat_median"]) == BASELINE["baseplat_median"]
    assert round_half_up(r["itpdur_median"]) == BASELINE["itpdur_median_months"]
    assert r["phase_counts"] == BASELINE["phase_counts"]
    for grade, pct in BASELINE["who_grade_pct"].items():
        assert round_half_up(100 * r["who_counts"][grade] / r["n"]) == pct
    assert statistics.median(r["doses"]) == BASELINE["dose_median"]
    assert (min(r["doses"]), max(r["doses"])) == (BASELINE["dose_min"], BASELINE["dose_max"])
    d = r["trtdur_months"]
    assert round_half_up(statistics.median(d)) == BASELINE["trtdur_median_months"]
    assert round_half_up(min(d)) == BASELINE["trtdur_min_months"]
    assert round_half_up(max(d)) == BASELINE["trtdur_max_months"]
    for key, (n, N, _) in RESPONSE.items():
        assert r["response"][key] == (n, N), key


def test_raw_calculation_agrees_with_truth_per_subject(default_export):
    """Not only the totals: the same subjects respond in both calculations."""
    study, out = default_export
    r = rawcalc.calculate(out)
    v = study.truth_visits
    for crit in ("CRIT1", "CRIT2"):
        for week in (6, 12, 16, 24):
            x = v[v["AVISITN"] == week]
            for group in PHASES:
                y = x[x["ITPPHASE"] == group]
                assert r["response"][(crit, group, week)] == (int((y[f"{crit}FL"] == "Y").sum()), len(y))


def test_traps_planted_several_times(default_export):
    """Every kind of mess listed in raw-forms.md is in the default export, several times."""
    study, out = default_export
    counts = study.traps["trap"].value_counts()
    for trap in ("duplicate-row", "clumped-then-repeat", "unscheduled-closer", "same-day-repeat",
                 "tie-later-day", "less-than", "unit-per-uL", "unit-10e4-per-uL", "unknown-unit",
                 "label-in-other-window", "phase-decided-by-imputation", "uncoded-term",
                 "baseline-clumped", "baseline-less-than", "baseline-per-uL"):
        assert counts.get(trap, 0) >= 2, trap
    lab = pd.read_csv(out / "LAB.csv", dtype=str, keep_default_na=False)
    assert set(lab["LBORRESU"]) >= {"10^9/L", "x10E9/L", "10^3/uL", "/uL", "10^4/uL", "U/L",
                                    "ukat/L", "umol/L", "mg/dL"}
    dates = pd.to_datetime(lab["LBDAT"].str.title(), format="%d %b %Y")
    assert (dates > "2025-04-14").sum() > 10  # records after the cut-off
    assert lab.duplicated().sum() >= 2
    assert (lab["VISIT"] == "UNSCHEDULED").sum() >= 10
    ae = pd.read_csv(out / "AE.csv", dtype=str, keep_default_na=False)
    coding = pd.read_csv(out / "AECODING.csv", dtype=str, keep_default_na=False)
    coded = set(coding["AETERM"].str.strip().str.upper())
    assert (~ae["AETERM"].str.strip().str.upper().isin(coded)).sum() >= 2
    assert ae["AESTDAT"].str.startswith("UN").sum() >= 3  # partial dates
    dm = pd.read_csv(out / "DM.csv", dtype=str)
    assert not set(lab["SUBJID"]) <= set(dm["SUBJID"])  # a subject missing from DM


def test_no_hepatic_grade3_after_baseline_before_cutoff(default_export):
    """Published safety: no hepatic dysfunction of grade >= 3 during treatment."""
    _, out = default_export
    lab = pd.read_csv(out / "LAB.csv", dtype=str, keep_default_na=False)
    liver = lab[lab["LBTEST"].isin(["ALT", "AST", "Total bilirubin"]) & (lab["LBORNRHI"] != "")]
    liver = liver[pd.to_numeric(liver["LBORRES"], errors="coerce").notna()]
    ratio = liver["LBORRES"].astype(float) / liver["LBORNRHI"].astype(float)
    limit = np.where(liver["LBTEST"] == "Total bilirubin", 3.0, 5.0)
    high = liver[ratio.to_numpy() > limit]
    # the only grade >= 3 values are the planted ones: at screening or after the cut-off
    when = pd.to_datetime(high["LBDAT"].str.title(), format="%d %b %Y")
    assert ((high["VISIT"] == "SCREENING") | (when > "2025-04-14")).all()
    assert len(high) >= 2


@pytest.fixture(scope="module")
def seed_7():
    """A 300-subject study of seed 7, built once for the two seed tests below."""
    return simulate.build(300, seed=7)


def test_same_seed_same_bytes(seed_7, tmp_path):
    first, second = seed_7, simulate.build(300, seed=7)  # two builds
    for fmt in ("csv", "xlsx"):
        a, b = tmp_path / f"a-{fmt}", tmp_path / f"b-{fmt}"
        simulate.write_export(first, a, fmt)
        simulate.write_export(second, b, fmt)
        names = sorted(p.name for p in a.iterdir() if p.is_file())
        assert names and names == sorted(p.name for p in b.iterdir() if p.is_file())
        match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
        assert mismatch == [] and errors == [], fmt


def test_other_seed_other_data(seed_7):
    a = seed_7.forms["LAB"]  # seed 7 (the module's build) against seed 8: same size, other data
    b = simulate.build(300, seed=8).forms["LAB"]
    assert not a.equals(b)


def test_shipped_study_is_the_default_simulation(default_export):
    """The export inside the package is exactly `itp-adam simulate` with the defaults."""
    _, out = default_export
    names = sorted(p.name for p in shipped_study_dir().glob("*.csv"))
    assert len(names) == 9
    match, mismatch, errors = filecmp.cmpfiles(shipped_study_dir(), out, names, shallow=False)
    assert mismatch == [] and errors == []


def test_scaled_study_keeps_the_distributions():
    study = simulate.build(2000, seed=11)
    t = study.truth_subjects
    assert len(t) == 2000
    share = t["ITPPHASE"].value_counts(normalize=True)
    assert abs(share["Chronic"] - 89 / 167) < 0.01
    assert abs(t["AGE"].median() - 47) <= 1
    assert abs(t["BASEPLAT"].median() - 9) <= 1
    v = study.truth_visits
    w6 = v[v["AVISITN"] == 6]
    assert abs(len(w6) / 2000 - 160 / 167) < 0.02
    assert abs((w6["CRIT1FL"] == "Y").mean() - 121 / 160) < 0.02
    assert t["SUBJID"].is_unique


def test_a_study_written_in_pieces_builds_to_its_truth(tmp_path, capsys):
    # `simulate --pieces 3` at 400 subjects: pieces of 134, 133 and 133 subjects, no subject
    # id in two pieces (a site's numbers run on across the pieces), the not-in-DM subject only
    # in the first; `itp-adam run` on the folder builds ADSL equal to the pieces' truths
    import pyreadstat

    from itp_adam.cli import main

    export, out = tmp_path / "export", tmp_path / "out"
    assert main(["simulate", "--out", str(export), "--subjects", "400", "--pieces", "3"]) == 0
    pieces = sorted(p for p in export.iterdir() if p.is_dir())
    assert [p.name for p in pieces] == ["piece-000", "piece-001", "piece-002"]
    dm = [pd.read_csv(p / "DM.csv", dtype=str).drop_duplicates() for p in pieces]
    assert [len(d) for d in dm] == [134, 133, 133]
    ids = pd.concat(dm)["SUBJID"]
    assert ids.is_unique
    for before, after in zip(dm, dm[1:]):  # per site: numbers on from the earlier pieces'
        last = before.assign(n=before["SUBJID"].str[3:].astype(int)).groupby("SITEID")["n"].max()
        first = after.assign(n=after["SUBJID"].str[3:].astype(int)).groupby("SITEID")["n"].min()
        both = last.index.intersection(first.index)
        assert len(both) > 0 and (first[both] > last[both]).all()
    orphan = [(pd.read_csv(p / "AE.csv", dtype=str)["SUBJID"] == simulate.ORPHAN_SUBJID).any()
              for p in pieces]
    assert orphan == [True, False, False]
    truth = pd.concat([pd.read_csv(p / "truth/subjects.csv") for p in pieces]).set_index("SUBJID")
    assert sorted(truth.index) == sorted(ids)

    assert main(["run", "--raw", str(export), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    adsl, _ = pyreadstat.read_xport(str(out / "adam/adsl.xpt"))
    for var in ("TRTSDT", "TRTEDT", "DIAGDT"):
        adsl[var] = pd.to_datetime(adsl[var])
    from .test_adam import assert_adsl_equals_truth

    assert_adsl_equals_truth(adsl.set_index("SUBJID"), truth)
    # a second simulate over its own output replaces it; --pieces beyond the subjects is refused
    assert main(["simulate", "--out", str(export), "--subjects", "40", "--pieces", "2"]) == 0
    assert sorted(p.name for p in export.iterdir() if p.is_dir()) == ["piece-000", "piece-001"]
    capsys.readouterr()
    assert main(["simulate", "--out", str(tmp_path / "x"), "--subjects", "4", "--pieces", "5"]) == 2
    assert "--pieces must be between 1 and --subjects: found '5'" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path / "x"), "--subjects", "4", "--pieces", "2",
                 "--format", "xlsx"]) == 2
    assert "--format must be csv for an export in pieces" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
