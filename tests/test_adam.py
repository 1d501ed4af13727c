"""ADaM on the shipped study: ADSL, ADLB and ADAE against the simulator's truth (a second,
independent programming of the SAP rules, see docs/simulator.md) and the published table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from itp_adam import issues, simulate
from itp_adam.stages.adam import build_adam
from itp_adam.paths import default_specs_dir
from itp_adam.spec.model import load_specs

from .published import N_ENROLLED, RESPONSE, assert_published_baseline, round_half_up

STUDY = "HETROM-ITP-RWS"


@pytest.fixture(scope="module")
def built(shipped):
    return shipped.sdtm, shipped.adam


@pytest.fixture(scope="module")
def truth():
    study = simulate.build()
    return study.truth_subjects, study.truth_visits


def _adsl(built) -> pd.DataFrame:
    return built[1]["ADSL"].set_index("SUBJID")


def test_adsl_one_record_per_enrolled_subject_with_populations(built):
    adsl = built[1]["ADSL"]
    assert len(adsl) == N_ENROLLED and adsl["USUBJID"].is_unique
    assert (adsl["ENRLFL"] == "Y").all()
    # every subject of the shipped study is dosed; FAS = safety with a baseline platelet count
    assert (adsl["SAFFL"] == "Y").sum() == N_ENROLLED
    assert ((adsl["FASFL"] == "Y") == (adsl["SAFFL"].eq("Y") & adsl["BASEPLAT"].notna())).all()


def test_adsl_equals_truth_per_subject(built, truth):
    assert_adsl_equals_truth(_adsl(built), truth[0].set_index("SUBJID"))


def assert_adsl_equals_truth(adsl: pd.DataFrame, subjects: pd.DataFrame) -> None:
    """ADSL (indexed by SUBJID) equals the simulator's truth subject by subject (also used by
    the test at 11,000 subjects)."""
    assert sorted(adsl.index) == sorted(subjects.index)
    adsl = adsl.loc[subjects.index]
    for var in ("TRTSDT", "TRTEDT", "DIAGDT"):
        expected = pd.to_datetime(subjects[var]).to_numpy(dtype="datetime64[D]")
        assert (adsl[var].to_numpy(dtype="datetime64[D]") == expected).all(), var
    for var in ("TRTDURD", "DOSESTRT", "BASEPLAT", "AGE"):
        assert np.allclose(adsl[var], subjects[var], equal_nan=True), var
    for var in ("ITPDURM", "TRTDURM"):
        assert np.allclose(adsl[var], subjects[var], atol=5e-5), var
    assert np.allclose(adsl["WHOGRBL"], pd.to_numeric(subjects["WHOGRBL"]), equal_nan=True)
    for var in ("ITPPHASE", "EOTSTT", "SEX"):
        assert (adsl[var] == subjects[var].astype(str)).all(), var
    assert (adsl["DCTREAS"] == subjects["DCTREAS"].fillna("").astype(str)).all()


def test_adsl_reproduces_published_baseline(built):
    t = built[1]["ADSL"]
    assert_published_baseline(t)
    assert t.groupby("ITPPHASE")["ITPPHASN"].first().to_dict() == {
        "Newly diagnosed": 1, "Persistent": 2, "Chronic": 3}

def _analysis_records(adlb: pd.DataFrame) -> pd.DataFrame:
    keep = adlb["PARAMCD"].eq("PLAT") & adlb["ANL01FL"].eq("Y") & adlb["FASFL"].eq("Y")
    return adlb[keep & adlb["AVISITN"].gt(0)]


def test_adlb_analysis_records_equal_truth(built, truth):
    got = _analysis_records(built[1]["ADLB"]).copy()
    got["SUBJID"] = got["USUBJID"].str.slice(len(STUDY) + 1)
    visits = truth[1]
    merged = visits.merge(got, on=["SUBJID", "AVISITN"], how="outer", suffixes=("_t", ""),
                          indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both",
                                                           ["SUBJID", "AVISITN", "_merge"]].head()
    assert (merged["AVISIT_t"] == merged["AVISIT"]).all()
    assert np.allclose(merged["ADY_t"], merged["ADY"])
    assert np.allclose(merged["AVAL_t"], merged["AVAL"])
    for flag in ("CRIT1FL", "CRIT2FL"):
        assert (merged[f"{flag}_t"] == merged[flag]).all(), flag


def test_adlb_response_reproduces_the_published_table(built):
    records = _analysis_records(built[1]["ADLB"])
    for (crit, group, week), (n, N, pct) in RESPONSE.items():
        at = records[records["AVISITN"] == week]
        if group != "All":
            at = at[at["ITPPHASE"] == group]
        got_n = int((at[f"{crit}FL"] == "Y").sum())
        assert (got_n, at["USUBJID"].nunique(), len(at)) == (n, N, N), (crit, group, week)
        assert round_half_up(100 * got_n / N) == pct


def test_adlb_bds_rules(built):
    adlb = built[1]["ADLB"]
    assert set(adlb["PARAMCD"]) == {"PLAT", "ALT", "AST", "BILI"}
    assert adlb.groupby("PARAMCD")["PARAM"].nunique().eq(1).all()
    assert adlb[adlb["ABLFL"] == "Y"].duplicated(["USUBJID", "PARAMCD"]).sum() == 0
    anl = adlb[adlb["ANL01FL"] == "Y"]
    assert anl.duplicated(["USUBJID", "PARAMCD", "AVISITN"]).sum() == 0
    assert anl["AVAL"].notna().all()
    assert (adlb["ADY"] != 0).all()
    post = adlb[adlb["AVISIT"].ne("") & adlb["ABLFL"].ne("Y")]
    assert ((post["ADY"] >= post["AWLO"]) & (post["ADY"] <= post["AWHI"])).all()
    assert (adlb["SRCDOM"] == "LB").all()
    # BASEPLAT of ADSL is the BASE of ADLB platelets: one rule, two places
    base = adlb[adlb["PARAMCD"].eq("PLAT") & adlb["ABLFL"].eq("Y")].set_index("USUBJID")["AVAL"]
    adsl = built[1]["ADSL"].set_index("USUBJID")["BASEPLAT"]
    assert np.allclose(adsl.reindex(base.index), base) and adsl.notna().sum() == len(base)


def test_adlb_traces_to_lb(built):
    lb, adlb = built[0]["LB"], built[1]["ADLB"]
    source = lb.set_index(["USUBJID", "LBSEQ"])
    back = source.loc[list(zip(adlb["USUBJID"], adlb["SRCSEQ"]))]
    assert (back["LBTESTCD"].to_numpy() == adlb["PARAMCD"].to_numpy()).all()
    assert (back["LBSTRESC"].to_numpy() == adlb["AVALC"].to_numpy()).all()


def test_no_hepatic_dysfunction_of_grade_3_during_treatment(built):
    adlb, adae = built[1]["ADLB"], built[1]["ADAE"]
    liver = adlb[adlb["PARAMCD"].isin(["ALT", "AST", "BILI"]) & (adlb["ADY"] >= 2)]
    assert not liver["ATOXGR"].isin(["3", "4"]).any()
    assert liver["ATOXGR"].isin(["0", "1", "2"]).mean() > 0.9  # graded where a ULN exists
    hepatic = adae[adae["HEPATFL"].eq("Y") & adae["TRTEMFL"].eq("Y")]
    assert len(hepatic) > 0 and not hepatic["ATOXGR"].isin(["3", "4", "5"]).any()


def test_adae_dates_and_flags(built):
    adae = built[1]["ADAE"]
    complete = adae["AESTDTC"].str.len() == 10
    assert (adae.loc[complete, "ASTDTF"] == "").all()
    assert (pd.to_datetime(adae.loc[complete, "AESTDTC"]) == adae.loc[complete, "ASTDT"]).all()
    both = adae["ASTDT"].notna() & adae["AENDT"].notna()
    assert (adae.loc[both, "AENDT"] >= adae.loc[both, "ASTDT"]).all()
    assert (adae["AENDT"].dropna() <= pd.Timestamp("2025-04-14")).all()
    days = (adae.loc[both, "AENDT"] - adae.loc[both, "ASTDT"]).dt.days + 1
    assert (adae.loc[both, "ADURN"] == days).all()
    emergent = (adae["ASTDT"] >= adae["TRTSDT"]) & (
        adae["ASTDT"] <= adae["TRTEDT"] + pd.Timedelta(days=28))
    assert ((adae["TRTEMFL"] == "Y") == emergent).all()
    partial = adae[adae["AESTDTC"].str.len() == 7]
    assert len(partial) > 0 and partial["ASTDTF"].eq("D").all()


def test_treatment_variables_of_a_single_arm_study(built):
    # ADaMIG: a treatment variable on every dataset, even with one arm. ADSL TRT01P/TRT01A are
    # DM ARM/ACTARM (one period); ADLB and ADAE carry them as TRTP/TRTA
    dm, adsl = built[0]["DM"].set_index("USUBJID"), built[1]["ADSL"].set_index("USUBJID")
    assert (adsl["TRT01P"] == dm.loc[adsl.index, "ARM"]).all()
    assert (adsl["TRT01A"] == dm.loc[adsl.index, "ACTARM"]).all()
    assert set(adsl["TRT01P"]) == {"Hetrombopag"}  # every shipped subject is dosed
    for name in ("ADLB", "ADAE"):
        frame = built[1][name]
        assert (frame["TRTP"].to_numpy() == adsl.loc[frame["USUBJID"], "TRT01P"].to_numpy()).all()
        assert (frame["TRTA"].to_numpy() == adsl.loc[frame["USUBJID"], "TRT01A"].to_numpy()).all()


def test_analysis_sequence_numbers(built):
    adlb, adae = built[1]["ADLB"], built[1]["ADAE"]
    for frame in (adlb, adae):
        assert not frame.duplicated(["USUBJID", "ASEQ"]).any()
        sizes = frame.groupby("USUBJID")["ASEQ"].agg(["min", "max", "size"])
        assert (sizes["min"] == 1).all() and (sizes["max"] == sizes["size"]).all()
    # ADLB: by PARAMCD, ADT, SRCSEQ. 01-001 has 8 ALT, 8 AST and 8 BILI records, then its
    # platelets: LAB.csv line 4 (08 NOV 2023) is ASEQ 25, line 22 (04 MAR 2024) ASEQ 33
    # (tests/test_sdtm_findings.py); LBSEQ orders by LBTESTCD, LBDTC, raw row - the same order,
    # as ADLB keeps every LB record of the four tests - so ASEQ equals SRCSEQ throughout
    first = adlb[adlb["USUBJID"] == f"{STUDY}-01-001"].sort_values("ASEQ")
    assert first["PARAMCD"].tolist()[:25] == ["ALT"] * 8 + ["AST"] * 8 + ["BILI"] * 8 + ["PLAT"]
    assert first["ADT"].iloc[24] == pd.Timestamp("2023-11-08")
    assert first.loc[first["ADT"] == pd.Timestamp("2024-03-04"), "ASEQ"].tolist() == [33.0]
    assert (adlb["ASEQ"] == adlb["SRCSEQ"]).all()
    # ADAE: one record per AE, in AE order
    assert (adae["ASEQ"] == adae["AESEQ"]).all()


def test_adam_codelists(shipped, built):
    specs, adam = shipped.specs, built[1]
    study = specs.study.resolve
    for name, frame in adam.items():
        for var in specs.adam[name].variables:
            if var.name.endswith("FL"):  # every flag: NY (Y, N or empty)
                assert var.codelist == "NY", (name, var.name)
            if var.codelist is not None:
                allowed = {t.value for t in specs.codelists[var.codelist].terms}
                values = set(frame[var.name]) - {""}
                assert values <= allowed, (name, var.name, values - allowed)
    by_name = {var.name: var.codelist for var in specs.adam["ADLB"].variables}
    assert [by_name[v] for v in ("PARAMCD", "PARAM", "AVISIT", "ITPPHASE", "VISIT")] == [
        "PARAMCD", "PARAM", "AVISIT", "ITPPHASE", "VISIT"]
    # the AVISIT codelist is the window table of study.yaml (AVISITN as num), Baseline first
    windows = [(w["avisit"], w["avisitn"]) for w in study("analysis_windows.windows")]
    avisit = [(t.value, t.num) for t in specs.codelists["AVISIT"].terms]
    assert avisit == [(study("analysis_windows.baseline_avisit"),
                       study("analysis_windows.baseline_avisitn")), *windows]
    phases = [(t.value, t.num) for t in specs.codelists["ITPPHASE"].terms]
    assert phases == [(label, n) for n, label in enumerate(study("itp_phase.labels"), start=1)]
    # PARAMCD decodes to its PARAM
    pairs = set(zip(adam["ADLB"]["PARAMCD"], adam["ADLB"]["PARAM"]))
    assert pairs == {(t.value, t.decode) for t in specs.codelists["PARAMCD"].terms}
    # the ADaM date imputation flags: CDISC DATEFL
    assert specs.codelists["DATEFL"].nci == "C81223"


def test_a_failing_step_names_its_spec_file_and_line(tmp_path, shipped):
    import shutil

    from itp_adam.spec.evaluate import BuildError

    specs_dir = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs_dir)
    adlb = specs_dir / "adam" / "adlb.yaml"
    lines = adlb.read_text().splitlines()
    assert lines[18] == "    args: {new_vars_prefix: A, dtc: LBDTC, flag_imputation: false}"
    lines[18] = lines[18].replace("dtc: LBDTC", "dtc: LBDTCX")  # a column LB does not have
    # the message points at the step (line 17, "- id: adt") and says what failed
    adlb.write_text("\n".join(lines) + "\n")
    specs = load_specs(specs_dir)
    # only an ADaM spec changed: the SDTM is the shipped study's, built once (conftest.py)
    sdtm = {name: frame.copy() for name, frame in shipped.sdtm.items()}
    with issues.collect(), pytest.raises(BuildError) as info:
        build_adam(specs, sdtm)
    assert str(info.value).startswith(
        f"{adlb}, line 17: dataset ADLB: step adt: derive_vars_dt: variable LBDTCX (argument dtc) "
        "is not in the dataset; it has: STUDYID, DOMAIN, USUBJID, LBSEQ, ")
    assert str(info.value).endswith("; did you mean 'LBDTC'?")  # the slip, by its spelling
    assert isinstance(info.value.__cause__, KeyError)  # MissingVariable, also a KeyError
