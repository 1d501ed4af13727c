"""The simulator's truth at scale (issue 14): the not-in-DM trap subject can never be a
generated subject, and the truth's TRTEDT follows the SAP (last day of the last period with
dose > 0, exposure starting after the cut-off left out) whatever the size.

The scaled study is about the smallest size where a site has more than 900 subjects (so a
fixed id such as ``01-901`` would be a real subject); the package's SDTM and ADaM are built
from its written export and compared with the truth subject by subject. The truth once got
TRTEDT wrong in two rare cases of the generated dosing (about one subject per 10,000-100,000
each): an interruption (0 mg) that never resumes before the stop, and an interruption running
past the cut-off with dosing restarting after it. No seed searched (a few hundred, at 10,500
and 11,000 subjects) had both, so the scaled study's seed has the first, and a second study
of the same size (truth and forms only, no pipeline) has the second."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from itp_adam import issues, simulate
from itp_adam.simulate import simulator
from itp_adam.stages.adam import build_adam
from itp_adam.paths import default_specs_dir
from itp_adam.io.raw import read_export
from .conftest import Early
from .test_adam import assert_adsl_equals_truth
from itp_adam.stages.sdtm import build_sdtm, prepare_forms
from itp_adam.spec.model import load_specs

CUTOFF = pd.Timestamp("2025-04-14")  # the SAP's, independent of the simulator's constant
SCALE_N, SCALE_SEED = 11000, 1  # a 0 mg period never resumed; build + SDTM + ADaM ~25 s
RESTART_N, RESTART_SEED = 10500, 52  # dosing restarting after the cut-off; build ~8 s


def _dates(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text.str.title(), format="%d %b %Y", errors="coerce")


# --- the truth's TRTEDT rule on constructed periods -------------------------------------
def test_treatment_end_follows_the_sap():
    d = pd.Timestamp
    nat = pd.NaT
    rows = [  # (subject, start, end, dose)
        # 0: a 0 mg period after the last dose > 0 (no restart): TRTEDT = end of the 5 mg one
        (0, d("2024-01-01"), d("2024-03-31"), 5.0), (0, d("2024-04-01"), d("2024-05-20"), 0.0),
        # 1: interrupted before the cut-off, dosing restarts after it (left out)
        (1, d("2024-06-01"), d("2025-03-20"), 5.0), (1, d("2025-03-21"), d("2025-04-20"), 0.0),
        (1, d("2025-04-21"), nat, 2.5),
        # 2: still open at the cut-off
        (2, d("2024-06-01"), d("2024-07-01"), 5.0), (2, d("2024-07-02"), nat, 7.5),
        # 3: a period with dose > 0 running past the cut-off ends at it
        (3, d("2024-09-01"), d("2025-05-10"), 2.5),
        # 4: dosing restarting on the cut-off date is kept
        (4, d("2024-09-01"), d("2025-04-01"), 5.0), (4, d("2025-04-02"), d("2025-04-13"), 0.0),
        (4, d("2025-04-14"), nat, 5.0),
        # 5: listed latest first, with a duplicate row: order does not matter
        (5, d("2024-03-11"), d("2024-08-01"), 0.0), (5, d("2024-02-01"), d("2024-03-10"), 10.0),
        (5, d("2024-01-01"), d("2024-01-31"), 7.5), (5, d("2024-02-01"), d("2024-03-10"), 10.0),
        # 6: never a dose > 0 before the cut-off
        (6, d("2025-04-15"), nat, 5.0),
    ]
    ex = pd.DataFrame(rows, columns=["sub", "_st", "_en", "_dose"])
    got = simulator._treatment_end(ex, 8)
    expected = pd.Series([d("2024-03-31"), d("2025-03-20"), CUTOFF, CUTOFF, CUTOFF,
                          d("2024-03-10"), nat, nat])
    assert got.tolist() == expected.tolist()


# --- a study where a site has more than 900 subjects ------------------------------------
def _scaled_build(folder):
    """The scaled study, its export written to FOLDER/raw, and SDTM, ADaM and the data issues
    the package builds from that export."""
    study = simulate.build(SCALE_N, seed=SCALE_SEED)
    raw = folder / "raw"
    simulate.write_export(study, raw)
    specs = load_specs(default_specs_dir())
    with issues.collect() as log:
        forms = prepare_forms(read_export(raw, specs.layout), specs)
        sdtm = build_sdtm(specs, forms)
        adam = build_adam(specs, sdtm)
    return study, raw, sdtm, adam, log.frame()


def _restart_study(folder):
    """The second study of the same size (truth and forms only, no pipeline)."""
    return simulate.build(RESTART_N, seed=RESTART_SEED)


# Both builds take seconds and use nothing of the test process: conftest.py does them early, in
# a process of their own, while the tests before this module run; the fixtures get what they
# return (the same objects, pickled).
EARLY = {"scaled": Early("_scaled_build"), "restart": Early("_restart_study")}


@pytest.fixture(scope="module")
def scaled(early):
    return early.result(__name__, "scaled")


@pytest.fixture(scope="module")
def restart(early):
    return early.result(__name__, "restart")


def _read(raw, form: str) -> pd.DataFrame:
    return pd.read_csv(raw / f"{form}.csv", dtype=str, keep_default_na=False)


def _not_in_dm_subject(study) -> str:
    trap = study.traps[study.traps["trap"] == "subject-not-in-dm"]
    assert len(trap) == 1
    return trap["SUBJID"].iloc[0]


def test_a_site_has_more_than_900_subjects(scaled):
    _, raw, *_ = scaled
    dm = _read(raw, "DM")
    per_site = dm.drop_duplicates("SUBJID")["SITEID"].value_counts()
    assert per_site.max() > 900
    # so an id of the form SS-901 is a real subject here
    assert dm["SUBJID"].str.endswith("-901").any()


def test_subject_not_in_dm_is_left_out_and_reported(scaled):
    study, raw, sdtm, adam, log = scaled
    sid = _not_in_dm_subject(study)
    assert sid not in set(_read(raw, "DM")["SUBJID"])
    assert sid not in set(study.truth_subjects["SUBJID"])
    rows = {form: int((study.forms[form]["SUBJID"] == sid).sum()) for form in ("EXPOSURE", "LAB", "AE")}
    assert rows == {"EXPOSURE": 1, "LAB": 2, "AE": 1}
    reported = log[(log["SUBJID"] == sid) & log["rule"].str.startswith("subject not in DM")]
    assert reported.groupby("form").size().to_dict() == rows
    usubjid = f"HETROM-ITP-RWS-{sid}"
    for name, frame in {**sdtm, **adam}.items():
        if "USUBJID" in frame:
            assert not (frame["USUBJID"] == usubjid).any(), name


def _sap_trtedt(exposure: pd.DataFrame, dm: pd.DataFrame) -> pd.DataFrame:
    """TRTEDT computed in plain pandas from the EXPOSURE form's text, with what tells the two
    kinds of subject whose TRTEDT is not simply the end of their last period started by the
    cut-off (last dose before the cut-off 0 mg; dosing restarting after the cut-off)."""
    ex = exposure.drop_duplicates()
    ex = ex[ex["SUBJID"].isin(dm["SUBJID"])].copy()
    ex["st"], ex["en"] = _dates(ex["EXSTDAT"]), _dates(ex["EXENDAT"])
    ex["dose"] = ex["DOSE"].astype(float)
    ex = ex.sort_values(["SUBJID", "st"])
    before = ex[ex["st"] <= CUTOFF].copy()
    before["en"] = before["en"].fillna(CUTOFF).clip(upper=CUTOFF)
    per = pd.DataFrame({
        "TRTEDT": before[before["dose"] > 0].groupby("SUBJID")["en"].last(),
        "last_dose": before.groupby("SUBJID")["dose"].last(),
        "last_end": before.groupby("SUBJID")["en"].last(),
        "restarts_after_cutoff": ex.assign(x=(ex["st"] > CUTOFF) & (ex["dose"] > 0))
                                   .groupby("SUBJID")["x"].any(),
    })
    return per


def _check_truth_trtedt(study, exposure: pd.DataFrame, dm: pd.DataFrame) -> pd.DataFrame:
    """Truth TRTEDT and TRTDURD equal the plain computation; returns that computation."""
    per = _sap_trtedt(exposure, dm)
    truth = study.truth_subjects.set_index("SUBJID")
    assert sorted(per.index) == sorted(truth.index)
    expected = per.loc[truth.index, "TRTEDT"]
    assert (pd.to_datetime(truth["TRTEDT"]) == expected).all()
    days = (expected - pd.to_datetime(truth["TRTSDT"])).dt.days + 1
    assert (truth["TRTDURD"] == days).all()
    return per


def test_truth_trtedt_follows_the_sap_from_the_written_exposure(scaled):
    study, raw, *_ = scaled
    per = _check_truth_trtedt(study, _read(raw, "EXPOSURE"), _read(raw, "DM"))
    # the case the truth once got wrong: the last period started by the cut-off is 0 mg and
    # dosing never restarts (besides the planted interrupted-after-last-dose trap, whose
    # truth was right by construction): TRTEDT is the end of the dose before it
    planted = set(study.traps.loc[study.traps["trap"] == "interrupted-after-last-dose", "SUBJID"])
    zero_end = per[(per["last_dose"] == 0) & ~per["restarts_after_cutoff"]
                   & (per["last_end"] < CUTOFF) & ~per.index.isin(planted)]
    assert len(zero_end) >= 1
    assert (zero_end["TRTEDT"] < zero_end["last_end"]).all()


def test_truth_trtedt_leaves_out_dosing_restarting_after_the_cutoff(restart):
    study = restart  # simulate.build(RESTART_N, seed=RESTART_SEED)
    assert _not_in_dm_subject(study) not in set(study.forms["DM"]["SUBJID"])
    per = _check_truth_trtedt(study, study.forms["EXPOSURE"], study.forms["DM"])
    restart = per[(per["last_dose"] == 0) & per["restarts_after_cutoff"]]
    assert len(restart) >= 1
    # interrupted before the cut-off, resumed after it: ongoing at the cut-off, yet TRTEDT
    # is the end of the dose before the interruption, not the cut-off
    truth = study.truth_subjects.set_index("SUBJID").loc[restart.index]
    assert (truth["EOTSTT"] == "ONGOING").all()
    assert (restart["last_end"] == CUTOFF).all()
    assert (pd.to_datetime(truth["TRTEDT"]) < CUTOFF).all()


def test_adsl_equals_truth_at_scale(scaled):
    study, _, _, adam, _ = scaled
    assert_adsl_equals_truth(adam["ADSL"].set_index("SUBJID"), study.truth_subjects.set_index("SUBJID"))


def test_adlb_analysis_records_equal_truth_at_scale(scaled):
    study, _, _, adam, _ = scaled
    adlb = adam["ADLB"]
    keep = (adlb["PARAMCD"].eq("PLAT") & adlb["ANL01FL"].eq("Y") & adlb["FASFL"].eq("Y")
            & adlb["AVISITN"].gt(0))
    got = adlb[keep].copy()
    got["SUBJID"] = got["USUBJID"].str.slice(len("HETROM-ITP-RWS") + 1)
    merged = study.truth_visits.merge(got, on=["SUBJID", "AVISITN"], how="outer",
                                      suffixes=("_t", ""), indicator=True)
    assert (merged["_merge"] == "both").all()
    assert np.allclose(merged["ADY_t"], merged["ADY"])
    assert np.allclose(merged["AVAL_t"], merged["AVAL"])
    for flag in ("CRIT1FL", "CRIT2FL"):
        assert (merged[f"{flag}_t"] == merged[flag]).all(), flag
