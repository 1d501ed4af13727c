"""SDTM AE, CM, MH, DS and SUPPDM built from the shipped study export.

Expected values are worked out by hand from the raw CSV rows of
src/itp_adam/data/hetrombopag-itp/ (row = line number in the file, header = 1), quoted in the comments.
Reference start dates (RFSTDTC) are the first EXPOSURE.csv period with dose > 0, also quoted.
Study day: date - RFSTDTC + 1 on or after RFSTDTC, date - RFSTDTC before it.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd
import pytest

from itp_adam.derive import events
from itp_adam import issues
from itp_adam.spec.evaluate import build_dataset
from itp_adam.paths import shipped_study_dir
from itp_adam.stages.pipeline import write_dataset

STUDY = "HETROM-ITP-RWS"
CUTOFF = "2025-04-14"


@pytest.fixture(scope="module")
def built(shipped):
    return shipped.specs, shipped.forms, shipped.sdtm, shipped.issues


@pytest.fixture(scope="module")
def sdtm(built):
    return built[2]


@pytest.fixture(scope="module")
def log(built):
    return built[3]


def one(frame: pd.DataFrame, **where) -> pd.Series:
    rows = frame
    for name, value in where.items():
        rows = rows[rows[name] == value]
    assert len(rows) == 1, f"{len(rows)} records for {where}"
    return rows.iloc[0]


def issue(log: pd.DataFrame, form: str, row: int, column: str) -> pd.DataFrame:
    return log[(log["form"] == form) & (log["row"] == row) & (log["column"] == column)]


def usubjid(subjid: str) -> str:
    return f"{STUDY}-{subjid}"


# --------------------------------------------------------------------------------------------
# AE


def test_ae_record_fully(sdtm):
    # AE.csv row 2: "01-001","1","Gingival bleeding","05 DEC 2023","04 JAN 2024","N","2","N",
    #   "Related","Dose not changed","Recovered"
    # AECODING.csv: "Gingival bleeding","Gingival bleeding","10018276","Gingival bleeding",
    #   "10018276","Gastrointestinal disorders","10017947"
    # EXPOSURE.csv row 2: 01-001 first period 14 NOV 2023 (7.5 mg) -> RFSTDTC 2023-11-14
    rec = one(sdtm["AE"], _ROW=2)
    expected = {
        "STUDYID": STUDY, "DOMAIN": "AE", "USUBJID": usubjid("01-001"), "AESEQ": 1.0,
        "AESPID": "1", "AETERM": "Gingival bleeding",
        "AELLT": "Gingival bleeding", "AELLTCD": 10018276.0,
        "AEDECOD": "Gingival bleeding", "AEPTCD": 10018276.0,
        "AEHLT": "", "AEHLGT": "",  # AECODING.csv has no HLT/HLGT columns: null
        "AEBODSYS": "Gastrointestinal disorders", "AEBDSYCD": 10017947.0,
        "AESOC": "Gastrointestinal disorders", "AESOCCD": 10017947.0,
        "AESER": "N", "AEREL": "RELATED", "AEACN": "DOSE NOT CHANGED",
        "AEOUT": "RECOVERED/RESOLVED", "AETOXGR": "2",
        "AESTDTC": "2023-12-05", "AEENDTC": "2024-01-04", "AEENRTPT": "", "AEENTPT": "",
        # 14 NOV -> 05 DEC 2023 = 21 days -> day 22; -> 04 JAN 2024 = 16 + 31 + 4 = 51 -> day 52
        "AESTDY": 22.0, "AEENDY": 52.0,
        "_FORM": "AE",
    }
    assert {name: rec[name] for name in expected} == expected
    assert math.isnan(rec["AEHLTCD"]) and math.isnan(rec["AEHLGTCD"])
    # SDTMIG 3.4 AE order (EPOCH, when the spec has it, between AETOXGR and AESTDTC)
    assert [c for c in sdtm["AE"].columns if c not in ("EPOCH", "_FORM", "_ROW")] == [
        "STUDYID", "DOMAIN", "USUBJID", "AESEQ", "AESPID", "AETERM", "AELLT", "AELLTCD",
        "AEDECOD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD", "AEBODSYS", "AEBDSYCD",
        "AESOC", "AESOCCD", "AESER", "AEACN", "AEREL", "AEOUT", "AETOXGR", "AESTDTC",
        "AEENDTC", "AESTDY", "AEENDY", "AEENRTPT", "AEENTPT"]


def test_ae_ongoing_without_end(sdtm):
    # AE.csv row 4: "01-001","3","Headache","22 JUN 2024","","Y","2",... -> ongoing at the cut-off
    # 14 NOV 2023 -> 22 JUN 2024 = 16+31+31+29+31+30+31+22 = 221 days -> day 222
    rec = one(sdtm["AE"], _ROW=4)
    assert (rec["AESEQ"], rec["AESTDTC"], rec["AEENDTC"]) == (3.0, "2024-06-22", "")
    assert (rec["AEENRTPT"], rec["AEENTPT"]) == ("ONGOING", CUTOFF)
    assert rec["AESTDY"] == 222.0 and math.isnan(rec["AEENDY"])


def test_ae_uncoded_term_kept_and_reported(sdtm, log):
    # AE.csv row 7: "01-003","1","Pain left flank","04 MAY 2024","26 MAY 2024",... - no AECODING row
    rec = one(sdtm["AE"], _ROW=7)
    assert rec["AETERM"] == "Pain left flank"
    assert [rec[v] for v in ("AELLT", "AEDECOD", "AEBODSYS", "AESOC")] == ["", "", "", ""]
    assert all(math.isnan(rec[v]) for v in ("AELLTCD", "AEPTCD", "AEBDSYCD", "AESOCCD"))
    found = issue(log, "AE", 7, "AETERM")
    assert len(found) == 1
    assert found.iloc[0][["severity", "SUBJID", "value", "dataset"]].tolist() == [
        "error", "01-003", "Pain left flank", "AE"]
    # the other uncoded term, AE.csv row 20: "02-005","1","Feeling unwell in the morning"
    uncoded = log[(log["form"] == "AE") & (log["column"] == "AETERM")]
    assert sorted(uncoded["row"].tolist()) == [7, 20]


def test_ae_term_coded_ignoring_case_and_blanks(sdtm):
    # AE.csv row 70: "04-010","1","  HEADACHE ","UN UNK 2025","09 APR 2025",... -> Headache
    rec = one(sdtm["AE"], _ROW=70)
    assert (rec["AETERM"], rec["AEDECOD"], rec["AEPTCD"], rec["AESOC"]) == (
        "HEADACHE", "Headache", 10019211.0, "Nervous system disorders")
    assert rec["AESTDTC"] == "2025" and math.isnan(rec["AESTDY"])


def test_ae_ending_after_cutoff(sdtm, log):
    # AE.csv row 26: "02-010","2","Epistaxis","17 MAR 2025","28 APR 2025","N","1",...
    # EXPOSURE.csv row 60: 02-010 first period 29 NOV 2024 -> RFSTDTC 2024-11-29
    # 29 NOV 2024 -> 17 MAR 2025 = 1 + 31 + 31 + 28 + 17 = 108 days -> day 109
    rec = one(sdtm["AE"], _ROW=26)
    assert (rec["AESTDTC"], rec["AEENDTC"], rec["AEENRTPT"], rec["AEENTPT"]) == (
        "2025-03-17", "", "ONGOING", CUTOFF)
    assert rec["AESTDY"] == 109.0 and math.isnan(rec["AEENDY"])
    found = issue(log, "AE", 26, "AEENDAT")
    assert found[["severity", "value"]].values.tolist() == [["info", "28 APR 2025"]]
    assert "ends after the data cut-off 2025-04-14" in found.iloc[0]["rule"]
    # collected "Recovered" (on 28 APR 2025, after the cut-off): at the cut-off not yet
    assert rec["AEOUT"] == "NOT RECOVERED/NOT RESOLVED"
    # AE.csv row 27: "02-010","3","Dizziness","21 MAR 2025","UN APR 2025",...,"Recovered":
    # the partial end may be on or before the cut-off, so it is kept and so is the outcome
    kept = one(sdtm["AE"], _ROW=27)
    assert (kept["AEENDTC"], kept["AEENRTPT"], kept["AEOUT"]) == (
        "2025-04", "", "RECOVERED/RESOLVED")


def test_ae_outcome_at_the_cutoff_is_every_removed_end(sdtm):
    # The ends removed by the cut-off, AE.csv rows 26 (28 APR 2025), 111 (26 APR 2025),
    # 123 (03 MAY 2025) and 189 (18 APR 2025), all collected "Recovered"
    removed = sdtm["AE"][(sdtm["AE"]["AEENDTC"] == "") & (sdtm["AE"]["AEENRTPT"] == "ONGOING")
                         & (sdtm["AE"]["_ROW"].isin([26, 111, 123, 189]))]
    assert sorted(removed["_ROW"]) == [26, 111, 123, 189]
    assert set(removed["AEOUT"]) == {"NOT RECOVERED/NOT RESOLVED"}
    # an AE ongoing without an end date keeps its collected outcome: AE.csv row 4 (01-001,
    # Headache, no end, AEONGO Y) "Not recovered"; no ongoing AE is RECOVERED
    assert one(sdtm["AE"], _ROW=4)["AEOUT"] == "NOT RECOVERED/NOT RESOLVED"
    ongoing = sdtm["AE"][sdtm["AE"]["AEENRTPT"] == "ONGOING"]
    assert not ongoing["AEOUT"].isin(["RECOVERED/RESOLVED", "FATAL"]).any()


def test_ae_partial_start_and_end_after_cutoff(sdtm, log):
    # AE.csv row 123: "06-008","3","Liver function abnormal","UN APR 2025","03 MAY 2025",...
    # kept (earliest start 01 APR 2025 is before the cut-off); the end is after it
    rec = one(sdtm["AE"], _ROW=123)
    assert (rec["AESTDTC"], rec["AEENDTC"], rec["AEENRTPT"], rec["AEENTPT"]) == (
        "2025-04", "", "ONGOING", CUTOFF)
    assert (rec["AEDECOD"], rec["AEBODSYS"]) == (
        "Hepatic function abnormal", "Hepatobiliary disorders")
    assert math.isnan(rec["AESTDY"])
    assert len(issue(log, "AE", 123, "AEENDAT")) == 1


def test_ae_partial_start_with_complete_end(sdtm):
    # AE.csv row 5: "01-002","1","Headache","UN UNK 2024","29 JAN 2024","N","1",...
    # EXPOSURE.csv row 4: 01-002 first period 07 SEP 2023 -> RFSTDTC 2023-09-07
    # 07 SEP 2023 -> 29 JAN 2024 = 23 + 31 + 30 + 31 + 29 = 144 days -> day 145
    rec = one(sdtm["AE"], _ROW=5)
    assert (rec["AESTDTC"], rec["AEENDTC"], rec["AEENRTPT"]) == ("2024", "2024-01-29", "")
    assert math.isnan(rec["AESTDY"]) and rec["AEENDY"] == 145.0


def test_aeseq_by_start_then_spid(sdtm):
    # AE.csv rows 104-111, subject 05-015, AESPID 1-8 with starts
    #   28 JAN 2024, 12 MAR 2024, UN UNK 2024, 31 AUG 2024, UN AUG 2024, 26 JAN 2025,
    #   UN FEB 2025, 17 MAR 2025 -> ordered by AESTDTC as text (a partial date first in its period)
    subject = sdtm["AE"][sdtm["AE"]["USUBJID"] == usubjid("05-015")]
    assert subject[["AESEQ", "AESPID", "AESTDTC"]].values.tolist() == [
        [1.0, "3", "2024"], [2.0, "1", "2024-01-28"], [3.0, "2", "2024-03-12"],
        [4.0, "5", "2024-08"], [5.0, "4", "2024-08-31"], [6.0, "6", "2025-01-26"],
        [7.0, "7", "2025-02"], [8.0, "8", "2025-03-17"]]


# --------------------------------------------------------------------------------------------
# CM


def test_cm_rescue_record_ongoing(sdtm):
    # CM.csv row 3: "01-006","Platelet transfusion","ITP","08 DEC 2024","","Y"
    # CM.csv row 4: "01-006","Prednisone","ITP","UN OCT 2023","","N" (earlier: CMSEQ 1)
    # EXPOSURE.csv row 20: 01-006 first period 13 AUG 2024 -> RFSTDTC 2024-08-13
    # 13 AUG -> 08 DEC 2024 = 18 + 30 + 31 + 30 + 8 = 117 days -> day 118
    rec = one(sdtm["CM"], _ROW=3)
    expected = {
        "STUDYID": STUDY, "DOMAIN": "CM", "USUBJID": usubjid("01-006"), "CMSEQ": 2.0,
        "CMTRT": "Platelet transfusion", "CMCAT": "RESCUE THERAPY", "CMINDC": "ITP",
        "CMSTDTC": "2024-12-08", "CMENDTC": "", "CMENRTPT": "ONGOING", "CMENTPT": CUTOFF,
        "CMSTDY": 118.0,
    }
    assert {name: rec[name] for name in expected} == expected
    assert math.isnan(rec["CMENDY"])
    other = one(sdtm["CM"], _ROW=4)
    assert (other["CMSEQ"], other["CMCAT"], other["CMSTDTC"]) == (
        1.0, "CONCOMITANT MEDICATION", "2023-10")


def test_cm_rescue_ending_after_cutoff(sdtm, log):
    # CM.csv row 5: "01-007","Dexamethasone","ITP","11 FEB 2025","23 APR 2025","Y"
    # CM.csv row 7: "01-007","Dexamethasone","ITP","19 APR 2025",... starts after the cut-off
    # EXPOSURE.csv row 22: 01-007 first period 13 DEC 2024; 13 DEC -> 11 FEB = 60 days -> day 61
    rec = one(sdtm["CM"], _ROW=5)
    assert (rec["CMCAT"], rec["CMSTDTC"], rec["CMENDTC"], rec["CMENRTPT"], rec["CMENTPT"],
            rec["CMSTDY"]) == ("RESCUE THERAPY", "2025-02-11", "", "ONGOING", CUTOFF, 61.0)
    assert issue(log, "CM", 5, "CMENDAT")[["severity", "value"]].values.tolist() == [
        ["info", "23 APR 2025"]]
    assert 7 not in set(sdtm["CM"]["_ROW"])
    assert issue(log, "CM", 7, "CMSTDAT")["severity"].tolist() == ["info"]


def test_cm_partial_end_straddling_cutoff_is_kept(sdtm, log):
    # CM.csv row 29: "03-004","Tranexamic acid","Menorrhagia","11 JAN 2025","UN APR 2025","N"
    # earliest possible end 01 APR 2025 is not after the cut-off: the end is kept
    rec = one(sdtm["CM"], _ROW=29)
    assert (rec["CMENDTC"], rec["CMENRTPT"], rec["CMENTPT"]) == ("2025-04", "", "")
    assert issue(log, "CM", 29, "CMENDAT").empty
    # CM.csv row 95: "05-016","Amlodipine","Hypertension","11 APR 2025","UN JUL 2025","N"
    late = one(sdtm["CM"], _ROW=95)
    assert (late["CMENDTC"], late["CMENRTPT"], late["CMENTPT"]) == ("", "ONGOING", CUTOFF)


def test_cm_label_and_variable_order_are_sdtmig(built):
    specs, _, sdtm, _ = built
    assert specs.sdtm["CM"].label == "Concomitant/Prior Medications"
    assert [c for c in sdtm["CM"].columns if c not in ("EPOCH", "_FORM", "_ROW")] == [
        "STUDYID", "DOMAIN", "USUBJID", "CMSEQ", "CMTRT", "CMCAT", "CMINDC", "CMSTDTC",
        "CMENDTC", "CMSTDY", "CMENDY", "CMENRTPT", "CMENTPT"]


# --------------------------------------------------------------------------------------------
# MH


def test_mh_both_records_partial_diagnosis(sdtm):
    # ITPHX.csv row 3: "01-002","UN JUL 2023","1","N"
    subject = sdtm["MH"][sdtm["MH"]["USUBJID"] == usubjid("01-002")]
    columns = ["MHSEQ", "MHTERM", "MHDECOD", "MHCAT", "MHPRESP", "MHOCCUR", "MHSTDTC", "_ROW"]
    assert subject[columns].values.tolist() == [
        [1.0, "IMMUNE THROMBOCYTOPENIA", "Immune thrombocytopenia", "PRIMARY DIAGNOSIS", "", "",
         "2023-07", 3],
        [2.0, "SPLENECTOMY", "Splenectomy", "SURGICAL HISTORY", "Y", "N", "", 3]]
    assert subject["MHSTDY"].isna().all()
    assert set(subject["STUDYID"]) == {STUDY} and set(subject["DOMAIN"]) == {"MH"}


def test_mh_complete_diagnosis_and_splenectomy(sdtm):
    # ITPHX.csv row 13: "02-005","20 JAN 2023","3","Y"
    # EXPOSURE.csv row 41: 02-005 first period 22 JAN 2024 -> RFSTDTC 2024-01-22
    # 20 JAN 2023 -> 22 JAN 2024 = 367 days before -> day -367
    itp = one(sdtm["MH"], USUBJID=usubjid("02-005"), MHCAT="PRIMARY DIAGNOSIS")
    assert (itp["MHSTDTC"], itp["MHSTDY"]) == ("2023-01-20", -367.0)
    splen = one(sdtm["MH"], USUBJID=usubjid("02-005"), MHCAT="SURGICAL HISTORY")
    assert (splen["MHPRESP"], splen["MHOCCUR"], splen["MHSTDTC"]) == ("Y", "Y", "")
    # ITPHX.csv row 2: "01-001","26 SEP 2022","3","N"; RFSTDTC 2023-11-14: 414 days before
    assert one(sdtm["MH"], USUBJID=usubjid("01-001"), MHSEQ=1.0)["MHSTDY"] == -414.0


# --------------------------------------------------------------------------------------------
# DS


def test_ds_ongoing_subject(sdtm):
    # DM.csv row 2: 01-001 ICDAT "03 NOV 2023"; DS.csv row 2: "01-001","ONGOING",""
    # RFSTDTC 2023-11-14: 03 NOV is 11 days before -> day -11
    subject = sdtm["DS"][sdtm["DS"]["USUBJID"] == usubjid("01-001")]
    columns = ["DSSEQ", "DSTERM", "DSDECOD", "DSCAT", "DSSCAT", "DSSTDTC", "_FORM", "_ROW"]
    assert subject[columns].values.tolist() == [
        [1.0, "INFORMED CONSENT OBTAINED", "INFORMED CONSENT OBTAINED", "PROTOCOL MILESTONE", "",
         "2023-11-03", "DM", 2],
        [2.0, "ONGOING", "ONGOING", "DISPOSITION EVENT", "END OF TREATMENT", "", "DS", 2]]
    assert subject["DSSTDY"].tolist()[0] == -11.0 and math.isnan(subject["DSSTDY"].tolist()[1])


def test_ds_discontinued_subject(sdtm):
    # DS.csv row 3: "01-002","TREATMENT FAILURE","04 JAN 2025"; RFSTDTC 2023-09-07
    # 07 SEP 2023 -> 04 JAN 2025 = 366 + 119 = 485 days -> day 486
    rec = one(sdtm["DS"], USUBJID=usubjid("01-002"), DSCAT="DISPOSITION EVENT")
    assert (rec["DSSEQ"], rec["DSTERM"], rec["DSDECOD"], rec["DSSCAT"], rec["DSSTDTC"],
            rec["DSSTDY"]) == (2.0, "TREATMENT FAILURE", "TREATMENT FAILURE", "END OF TREATMENT",
                               "2025-01-04", 486.0)


def test_ds_row_after_cutoff_gives_no_disposition(sdtm, log):
    # DS.csv row 118: "08-009","WITHDRAWAL BY SUBJECT","04 MAY 2025" -> after the cut-off
    subject = sdtm["DS"][sdtm["DS"]["USUBJID"] == usubjid("08-009")]
    assert subject["DSCAT"].tolist() == ["PROTOCOL MILESTONE"]
    assert issue(log, "DS", 118, "DSSTDAT")["severity"].tolist() == ["info"]


# --------------------------------------------------------------------------------------------
# SUPPDM


def test_suppdm(sdtm):
    supp = sdtm["SUPPDM"]
    # DM.csv row 2: 01-001 ETHNIC "Han"; ITPHX.csv row 2: 01-001 PRIORLN "3"
    subject = supp[supp["USUBJID"] == usubjid("01-001")]
    columns = ["STUDYID", "RDOMAIN", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG",
               "QEVAL"]
    assert subject[columns].values.tolist() == [
        [STUDY, "DM", "", "", "ETHGRP", "Ethnic Group as Collected", "Han", "Collected", ""],
        [STUDY, "DM", "", "", "PRIORLN", "Number of Prior ITP Treatment Lines", "3", "Collected",
         ""]]  # define-XML 2.1 origin type (CRF was define-XML 2.0's)
    # DM.csv row 14: 02-006 ETHNIC blank -> no ETHGRP record; ITPHX.csv row 14: PRIORLN "0" kept
    assert supp.loc[supp["USUBJID"] == usubjid("02-006"), ["QNAM", "QVAL"]].values.tolist() == [
        ["PRIORLN", "0"]]
    # DM.csv row 24: 03-003 ETHNIC "Other ethnic minority"
    assert one(supp, USUBJID=usubjid("03-003"), QNAM="ETHGRP")["QVAL"] == "Other ethnic minority"
    assert (supp["QVAL"] != "").all()


# --------------------------------------------------------------------------------------------
# every raw row accounted for; transport files


def _raw_rows(form: str) -> set[int]:
    with open(shipped_study_dir() / f"{form}.csv", newline="", encoding="utf-8-sig") as fh:
        return set(range(2, sum(1 for _ in csv.reader(fh)) + 1))


@pytest.mark.parametrize("form, dataset, per_row", [
    ("AE", "AE", 1), ("CM", "CM", 1), ("ITPHX", "MH", 2), ("DS", "DS", 1)])
def test_every_raw_row_accounted_for(built, form, dataset, per_row):
    _, forms, sdtm, log = built
    records = sdtm[dataset][sdtm[dataset]["_FORM"] == form]
    prepared = set(forms[form]["_ROW"])
    assert set(records["_ROW"]) == prepared
    assert records["_ROW"].value_counts().eq(per_row).all()
    left_out = set(log.loc[(log["form"] == form) & log["rule"].str.contains(
        "left out|collapsed"), "row"].astype(int))
    assert prepared.isdisjoint(left_out)
    assert prepared | left_out == _raw_rows(form)


def test_ds_consent_per_dm_subject(built):
    _, forms, sdtm, _ = built
    consent = sdtm["DS"][sdtm["DS"]["DSCAT"] == "PROTOCOL MILESTONE"]
    assert set(consent["_ROW"]) == set(forms["DM"]["_ROW"]) and len(consent) == len(forms["DM"])


@pytest.mark.parametrize("name", ["AE", "CM", "MH", "DS", "SUPPDM"])
def test_xpt_round_trip(built, tmp_path, name):
    specs, _, sdtm, _ = built
    frame = sdtm[name]
    path = tmp_path / f"{name.lower()}.xpt"
    write_dataset(frame, specs.sdtm[name], path)
    back = pd.read_sas(path, format="xport", encoding="ascii")
    assert list(back.columns) == [var.name for var in specs.sdtm[name].variables]
    assert len(back) == len(frame)
    for var in specs.sdtm[name].variables:
        if var.type == "Char":
            assert back[var.name].fillna("").tolist() == frame[var.name].tolist(), var.name
        else:
            assert back[var.name].equals(frame[var.name].astype("float64")), var.name


def test_xpt_values(built, tmp_path):
    specs, _, sdtm, _ = built
    path = tmp_path / "ae.xpt"
    write_dataset(sdtm["AE"], specs.sdtm["AE"], path)
    back = pd.read_sas(path, format="xport", encoding="ascii")
    # AE.csv row 2 (see test_ae_record_fully) is the first record: 01-001, AESEQ 1
    first = back.iloc[0]
    values = [first[v] for v in ("USUBJID", "AESEQ", "AEDECOD", "AEPTCD", "AESTDY")]
    assert values == [usubjid("01-001"), 1.0, "Gingival bleeding", 10018276.0, 22.0]


# --------------------------------------------------------------------------------------------
# the rules on small hand-made frames (cases the shipped data does not have)


def _ae(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"_FORM": ["AE"] * n, "_ROW": list(range(2, n + 2)), "SUBJID": ["01-001"] * n}
    return pd.DataFrame({**base, **columns})


def test_end_rules_reported():
    frame = _ae(
        AESTDAT=["10 JAN 2025", "10 JAN 2025", "10 JAN 2025", "UN FEB 2025", "01 MAR 2025",
                 "10 JAN 2025"],
        AEENDAT=["20 JAN 2025", "05 JAN 2025", "", "UN JAN 2025", "UN MAR 2025", "UN MAY 2025"],
        AEONGO=["Y", "N", "N", "N", "N", "N"])
    with issues.collect() as log:
        end = events.event_end_dtc(frame, end="AEENDAT", start="AESTDAT", ongoing="AEONGO",
                                   cutoff=pd.Timestamp(CUTOFF).date())
        rtpt = events.event_enrtpt(frame, end="AEENDAT", ongoing="AEONGO", cutoff=CUTOFF)
    found = log.frame()
    # row 2: ongoing with an end; row 3: end before start; row 4: N without end;
    # row 5: UN JAN before UN FEB (certainly before); row 6: UN MAY 2025 after the cut-off
    assert found[["row", "severity", "column"]].values.tolist() == [
        [2, "error", "AEONGO"], [3, "error", "AEENDAT"], [4, "warning", "AEENDAT"],
        [5, "error", "AEENDAT"], [7, "info", "AEENDAT"]]
    assert end.tolist() == ["2025-01-20", "2025-01-05", "", "2025-01", "2025-03", ""]
    assert rtpt.tolist() == ["", "", "", "", "", "ONGOING"]
    entpt = events.event_entpt(pd.DataFrame({"X": rtpt}), enrtpt="X", cutoff=CUTOFF)
    assert entpt.tolist() == ["", "", "", "", "", CUTOFF]


def test_coding_conflict_reported_first_used():
    dictionary = pd.DataFrame({
        "_FORM": "AECODING", "_ROW": [2, 3, 4],
        "AETERM": ["Headache", " HEADACHE", "Nausea"],
        "AEDECOD": ["Headache", "Migraine", "Nausea"]})
    frame = _ae(AETERM=["headache ", "Nausea", "Vertigo", ""])
    with issues.collect() as log:
        out = events.derive_vars_coding(frame, dictionary, new_vars={"AEDECOD": "AEDECOD"})
    assert out["AEDECOD"].tolist() == ["Headache", "Nausea", "", ""]
    found = log.frame()
    assert found[["form", "row", "severity"]].values.tolist() == [
        ["AE", 4, "error"], ["AECODING", 3, "error"]]
    assert found.iloc[1]["value"] == " HEADACHE (first coded in row 2)"  # as written


def test_disposition_date_checks():
    frame = pd.DataFrame({
        "_FORM": "DS", "_ROW": [2, 3, 4], "SUBJID": "01-001",
        "DSDECOD": ["ONGOING", "ADVERSE EVENT", "ONGOING"],
        "DSSTDAT": ["01 MAR 2025", "", ""]})
    with issues.collect() as log:  # the builder passes only the DISP group's records
        iso = events.disposition_dtc(frame, column="DSSTDAT", term="DSDECOD")
    assert iso.tolist() == ["2025-03-01", "", ""]
    assert log.frame()["row"].tolist() == [2, 3]


def test_subject_extreme_dtc_rules():
    from itp_adam.derive.sdtm import subject_extreme_dtc

    dm = pd.DataFrame({"SUBJID": ["A", "B", "C", "D"],
                       "ICDAT": ["03 NOV 2023", "05 JAN 2024", "", "01 FEB 2024"],
                       "RFXENDTC": ["2024-02-01", "", "2025-04-14", ""]})
    lab = pd.DataFrame({"SUBJID": ["A", "A", "B", "B", "B"],
                        "LBDAT": ["10 MAR 2024", "UN APR 2025", "UN UNK 2024", "01 MAY 2025",
                                  "20 JAN 2024"],
                        "KEEP": ["Y", "Y", "Y", "Y", "N"]})
    sources = [{"date": "ICDAT"}, {"date": "RFXENDTC"}, {"dataset": lab, "date": "LBDAT"}]
    last = subject_extreme_dtc(dm, sources=sources, max_date=pd.Timestamp(CUTOFF).date())
    # A: 2023-11-03, 2024-02-01, 2024-03-10, 2025-04 -> 2025-04 (UN APR 2025 may be on or
    #    before the cut-off); B: 2024-01-05, 2024, 2024-01-20, 01 MAY 2025 after the cut-off
    #    -> 2024-01-20; C: only RFXENDTC (ISO text); D: only its consent
    assert last.tolist() == ["2025-04", "2024-01-20", "2025-04-14", "2024-02-01"]
    # earliest, LAB rows with KEEP = Y only: a partial date sorts first in its period
    first = subject_extreme_dtc(dm, sources=[{"dataset": lab, "date": "LBDAT",
                                              "filter": "KEEP == 'Y'"}], mode="first")
    assert first.tolist() == ["2024-03-10", "2024", "", ""]
    with pytest.raises(ValueError, match="mode must be"):
        subject_extreme_dtc(dm, sources=sources, mode="max")
    with pytest.raises(ValueError, match="unknown keys"):
        subject_extreme_dtc(dm, sources=[{"date": "ICDAT", "when": "x"}])


def _extreme_dtc_by_rows(dm, sources, mode, max_date):
    """subject_extreme_dtc written differently: every record's date made ISO as Python text,
    the subject's dates collected in a dictionary and compared as strings."""
    import datetime as dt
    months = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC"
                                              .split())}

    def iso(value):
        value = str(value).strip().upper()
        if value[:4].isdigit():
            return value[:10]
        if not value:
            return ""
        day, month, year = value.split()
        if month == "UNK":
            return year
        return f"{year}-{months[month]:02d}" + ("" if day == "UN" else f"-{int(day):02d}")

    def earliest(text):
        return dt.date.fromisoformat((text + "-01-01")[:10] if len(text) == 4
                                     else (text + "-01")[:10] if len(text) == 7 else text)

    found = {}
    for source in sources:
        frame = source.get("dataset", dm)
        for _, row in frame.iterrows():
            if "filter" in source and row["KEEP"] != "Y":
                continue
            text = iso(row[source["date"]])
            if not text or (max_date is not None and earliest(text) > max_date):
                continue
            found.setdefault(row["SUBJID"].strip(), []).append(text)
    pick = max if mode == "last" else min
    return [pick(found[s.strip()]) if s.strip() in found else "" for s in dm["SUBJID"]]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_subject_extreme_dtc_as_a_record_by_record_reading(seed):
    from itp_adam.derive.sdtm import subject_extreme_dtc

    rng = np.random.default_rng(seed)
    subjects = [f"S{i:02d}" for i in range(25)]
    raw = ["03 NOV 2023", "UN NOV 2023", "UN UNK 2023", "01 FEB 2024", "29 FEB 2024",
           "UN APR 2025", "14 APR 2025", "15 APR 2025", "UN UNK 2025", "", "02 JAN 2026"]
    iso_dates = ["2024-02-01", "2024-02-01T10:30", "2025-04", "2025-04-14", "2025-05-02",
                 "2023", ""]
    # DM: some subjects twice or with blanks around the id (matched as stripped text)
    dm = pd.DataFrame({"SUBJID": [s if i % 7 else f" {s} " for i, s in enumerate(
        subjects + list(rng.choice(subjects, 3)))]})
    dm["ICDAT"] = rng.choice(raw, len(dm))
    dm["RFXENDTC"] = rng.choice(iso_dates, len(dm))
    forms = [pd.DataFrame({"SUBJID": rng.choice(subjects + ["X99"], n),
                           "DAT": rng.choice(raw, n), "KEEP": rng.choice(["Y", "N"], n)})
             for n in (200, 40)]
    sources = [{"date": "ICDAT"}, {"date": "RFXENDTC"}, {"dataset": forms[0], "date": "DAT"},
               {"dataset": forms[1], "date": "DAT", "filter": "KEEP == 'Y'"}]
    for mode in ("last", "first"):
        for cutoff in (None, pd.Timestamp(CUTOFF).date()):
            for chosen in (sources, sources[1:2], sources[3:]):
                got = subject_extreme_dtc(dm, sources=chosen, mode=mode, max_date=cutoff)
                assert got.tolist() == _extreme_dtc_by_rows(dm, chosen, mode, cutoff), \
                    (mode, cutoff, len(chosen))


def test_seq_sorts_numbers_as_numbers_and_keeps_group_order():
    frame = pd.DataFrame({"USUBJID": ["A", "A", "A", "B"], "D": ["2024", "2024", "2023", "2024"],
                          "SPID": ["10", "2", "7", "1"]})
    out = events.derive_var_seq(frame, new_var="SEQ", by_vars=["USUBJID"], order=["D", "SPID"])
    assert out["SEQ"].tolist() == [3.0, 2.0, 1.0, 1.0]
    kept = events.derive_var_seq(frame, new_var="SEQ", by_vars=["USUBJID"], order=[])
    assert kept["SEQ"].tolist() == [1.0, 2.0, 3.0, 1.0]


# --------------------------------------------------------------------------------------------
# planted raw rows through the real specs (rules the shipped data does not reach)


def _rebuild(built, name: str, **forms: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dataset ``name`` built by its spec from the shipped prepared forms, some replaced."""
    specs, shipped_forms, sdtm, _ = built
    with issues.collect() as log:
        out = build_dataset(specs.sdtm[name], forms={**shipped_forms, **forms}, built=sdtm,
                            study=specs.study, codelists=specs.codelists)
    return out, log.frame()


def _planted_ae(built, rows: list[dict]) -> pd.DataFrame:
    """AE rows of subject 01-001, each the first AE.csv row (row 2) with some columns changed."""
    _, forms, _, _ = built
    first = forms["AE"].iloc[[0]]
    planted = pd.concat([first.assign(**row) for row in rows], ignore_index=True)
    planted["_ROW"] = range(2, len(planted) + 2)
    planted["AESPID"] = pd.array(range(1, len(planted) + 1), dtype=first["AESPID"].dtype)
    return planted


def test_ae_outcome_rule_at_the_cutoff_on_planted_rows(built):
    # start 01 MAR 2025 for all; cut-off 14 APR 2025. An end after the cut-off is removed:
    # the resolved outcomes (RECOVERED/RESOLVED, ... WITH SEQUELAE, FATAL) become NOT
    # RECOVERED/NOT RESOLVED; those of an ongoing event (RECOVERING, UNKNOWN) stay.
    rows = [
        {"AEENDAT": "20 APR 2025", "AEOUT": "Fatal"},                    # -> NOT RECOVERED
        {"AEENDAT": "20 APR 2025", "AEOUT": "Recovered with sequelae"},  # -> NOT RECOVERED
        {"AEENDAT": "20 APR 2025", "AEOUT": "Recovering"},               # kept
        {"AEENDAT": "20 APR 2025", "AEOUT": "Unknown"},                  # kept
        {"AEENDAT": "10 APR 2025", "AEOUT": "Fatal"},                    # end kept: FATAL
        {"AEENDAT": "UN APR 2025", "AEOUT": "Recovered"},                # may end by 14 APR: kept
        {"AEENDAT": "UN MAY 2025", "AEOUT": "Recovered"},                # after: NOT RECOVERED
        {"AEENDAT": "", "AEONGO": "N", "AEOUT": "Recovered"},            # end unknown: kept
    ]
    planted = _planted_ae(built, [dict(row, AESTDAT="01 MAR 2025") for row in rows])
    ae, _ = _rebuild(built, "AE", AE=planted)
    ae = ae.sort_values("_ROW")
    assert ae["AEENDTC"].tolist() == ["", "", "", "", "2025-04-10", "2025-04", "", ""]
    assert ae["AEOUT"].tolist() == [
        "NOT RECOVERED/NOT RESOLVED", "NOT RECOVERED/NOT RESOLVED", "RECOVERING/RESOLVING",
        "UNKNOWN", "FATAL", "RECOVERED/RESOLVED", "NOT RECOVERED/NOT RESOLVED",
        "RECOVERED/RESOLVED"]
    assert ae["AEENRTPT"].tolist() == ["ONGOING"] * 4 + ["", "", "ONGOING", ""]


def test_ae_high_level_terms_from_a_coding_form_that_has_them(built):
    # the shipped AECODING.csv has no HLT/HLGT (the variables are null, test_ae_record_fully);
    # an export whose coding form carries them fills AEHLT, AEHLTCD, AEHLGT, AEHLGTCD
    _, forms, _, _ = built
    coding = forms["AECODING"].copy()
    gingival = coding["AETERM"] == "Gingival bleeding"
    coding["AEHLT"] = coding["AEHLT"].astype(object).where(~gingival, "Gingival haemorrhages")
    coding["AEHLTCD"] = pd.array(np.where(gingival, 10018277, None), dtype="Int64")
    coding["AEHLGT"] = coding["AEHLGT"].astype(object).where(
        ~gingival, "Gastrointestinal haemorrhages NEC")
    coding["AEHLGTCD"] = pd.array(np.where(gingival, 10017959, None), dtype="Int64")
    ae, _ = _rebuild(built, "AE", AECODING=coding)
    rec = one(ae, _ROW=2)  # AE.csv row 2: Gingival bleeding (test_ae_record_fully)
    assert (rec["AEHLT"], rec["AEHLTCD"], rec["AEHLGT"], rec["AEHLGTCD"]) == (
        "Gingival haemorrhages", 10018277.0, "Gastrointestinal haemorrhages NEC", 10017959.0)
    other = one(ae, _ROW=4)  # Headache: no HLT in this coding form
    assert other["AEHLT"] == "" and math.isnan(other["AEHLTCD"])


# --------------------------------------------------------------------------------------------
# DM: end of participation, death, unplanned arm


def test_dm_end_of_participation(sdtm):
    dm = sdtm["DM"]
    # 01-001: DS.csv row 2 ONGOING, last dosing period running (EXPOSURE.csv, blank end) ->
    # RFXENDTC the cut-off, so participation runs to the cut-off
    assert tuple(one(dm, SUBJID="01-001")[["RFXENDTC", "RFPENDTC"]]) == (CUTOFF, CUTOFF)
    # 01-002: EXPOSURE.csv row 6 ends 04 JAN 2025; DS.csv row 3 TREATMENT FAILURE 04 JAN 2025
    assert tuple(one(dm, SUBJID="01-002")[["RFXENDTC", "RFPENDTC"]]) == (
        "2025-01-04", "2025-01-04")
    # 05-012: last period with dose > 0 EXPOSURE.csv row 270 ends 17 MAY 2024 (RFXENDTC);
    # then 0 mg, row 582, 18 MAY - 06 JUL 2024; DS.csv row 77 PHYSICIAN DECISION 06 JUL 2024
    assert tuple(one(dm, SUBJID="05-012")[["RFXENDTC", "RFPENDTC"]]) == (
        "2024-05-17", "2024-07-06")
    # 08-009: DS.csv row 118 (04 MAY 2025) and the end of EXPOSURE.csv row 412 (04 MAY 2025)
    # are after the cut-off: treated at the cut-off -> the cut-off date
    assert one(dm, SUBJID="08-009")["RFPENDTC"] == CUTOFF
    assert (dm["RFPENDTC"] >= dm["RFXENDTC"]).all() and (dm["RFPENDTC"] <= CUTOFF).all()


def test_dm_death_and_unplanned_arm_are_null_in_the_shipped_study(sdtm):
    # no AE.csv row has AEOUT Fatal: nobody died; ACTARMUD is SDTMIG's for ACTARMCD UNPLAN only
    dm = sdtm["DM"]
    assert set(dm["DTHDTC"]) == {""} and set(dm["DTHFL"]) == {""} and set(dm["ACTARMUD"]) == {""}
    assert [c for c in dm.columns if c not in ("_FORM", "_ROW")] == [
        "STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC",
        "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL", "SITEID", "BRTHDTC", "AGE", "AGEU", "SEX",
        "RACE", "ETHNIC", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "ARMNRS", "ACTARMUD", "COUNTRY"]


def test_dm_death_from_a_fatal_ae_on_planted_rows(built):
    # AE rows with outcome Fatal: the end date is the death date, up to the cut-off
    _, forms, _, _ = built
    base = forms["AE"].iloc[[0]]
    plant = [  # SUBJID, AEENDAT, AEOUT
        ("01-001", "10 APR 2025", "Fatal"),       # DTHDTC 2025-04-10, DTHFL Y
        ("01-002", "", "fatal"),                  # no end: date unknown, DTHFL Y
        ("01-003", "20 APR 2025", "Fatal"),       # dies after the cut-off: alive then
        ("01-004", "UN MAR 2025", "Fatal"),       # partial: 2025-03, DTHFL Y
        ("01-005", "10 APR 2025", "Recovered"),   # not fatal
        ("01-006", "10 FEB 2025", "Fatal"),       # after the end of treatment, see below
    ]
    ae = pd.concat([base.assign(SUBJID=s, AESTDAT="01 MAR 2025", AEENDAT=e, AEOUT=o)
                    for s, e, o in plant], ignore_index=True)
    dm, _ = _rebuild(built, "DM", AE=ae)
    got = {s: tuple(one(dm, SUBJID=s)[["DTHDTC", "DTHFL"]]) for s, _, _ in plant}
    assert got == {"01-001": ("2025-04-10", "Y"), "01-002": ("", "Y"), "01-003": ("", ""),
                   "01-004": ("2025-03", "Y"), "01-005": ("", ""), "01-006": ("2025-02-10", "Y")}
    # the death date is a date of contact: 01-006 stopped treatment 04 JAN 2025 (EXPOSURE.csv
    # row 21 ends then; DS.csv row 7 TAPERED AND DISCONTINUED 04 JAN 2025), so RFPENDTC is the
    # later death date; 01-001 is
    # still treated at the cut-off (RFXENDTC 2025-04-14), which stays its RFPENDTC
    assert one(dm, SUBJID="01-006")["RFPENDTC"] == "2025-02-10"
    assert one(dm, SUBJID="01-001")["RFPENDTC"] == CUTOFF
