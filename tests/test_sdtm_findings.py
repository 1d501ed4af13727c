"""SDTM EX, LB and RS built from the shipped raw export, checked against values worked out
by hand from the raw CSV rows (each test names its rows: FORM.csv line N, header = line 1,
which is the _ROW of the record).

The SDTM is built once per module from DM + EX + LB + RS only (DM gives the reference start
for the study days), so the test does not depend on the other datasets' specs.
"""

from __future__ import annotations

import csv
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from itp_adam import issues
from itp_adam.derive.labs import (
    exposure_end,
    lab_std_range,
    lab_stresc,
    lab_stresn,
    lab_stresu,
    normal_range_indicator,
    number_text,
    visitnum,
)
from itp_adam.io.layout import load_layout
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.stages.pipeline import write_dataset
from itp_adam.io.raw import read_export
from itp_adam.stages.sdtm import build_sdtm, prepare_forms
from itp_adam.spec.evaluate import build_dataset
from itp_adam.spec.model import Specs, load_codelists, load_dataset_spec, load_study

STUDY = "HETROM-ITP-RWS"
CUTOFF = dt.date(2025, 4, 14)  # sap.md "Data cut-off"
CONVERSION = {  # sap.md "Laboratory standardisation", typed from the SAP
    "standard_units": {"PLAT": "10^9/L", "ALT": "U/L", "AST": "U/L", "BILI": "umol/L"},
    "factors": {"PLAT": {"10^9/L": 1, "x10E9/L": 1, "10^3/uL": 1, "/uL": 0.001, "10^4/uL": 10},
                "ALT": {"U/L": 1, "ukat/L": 60}, "AST": {"U/L": 1, "ukat/L": 60},
                "BILI": {"umol/L": 1, "mg/dL": 17.1}},
}


@pytest.fixture(scope="module")
def built():
    specs_dir = default_specs_dir()
    layout, study, codelists = load_layout(specs_dir), load_study(specs_dir), load_codelists(specs_dir)
    sdtm_specs = {name.upper(): load_dataset_spec(specs_dir / "sdtm" / f"{name}.yaml", layout,
                                                  codelists, study=study)
                  # EX, LB and RS read SE for EPOCH, SE reads DS, TA and TE
                  for name in ("dm", "ds", "te", "ta", "se", "ex", "lb", "rs")}
    specs = Specs(layout, study, codelists, sdtm_specs, {})
    export = read_export(shipped_study_dir(), layout)
    with issues.collect() as log:
        forms = prepare_forms(export, specs)
        sdtm = build_sdtm(specs, forms)
    return {"specs": specs, "export": export, "forms": forms, "sdtm": sdtm, "issues": log.frame()}


def record(frame: pd.DataFrame, row: int) -> dict:
    """The one SDTM record made from raw line ``row``."""
    hits = frame[frame["_ROW"] == row]
    assert len(hits) == 1, f"raw row {row}: {len(hits)} records"
    return hits.iloc[0].to_dict()


def issue(log: pd.DataFrame, form: str, row: int, column: str) -> pd.DataFrame:
    return log[(log["form"] == form) & (log["row"] == row) & (log["column"] == column)]


# -- EX -------------------------------------------------------------------------------------


def test_ex_ordinary_period(built):
    # EXPOSURE.csv line 2: "01-001","14 NOV 2023","29 NOV 2023","7.5","QD",""
    # first period with dose > 0 of 01-001, so RFSTDTC = 2023-11-14 (study day 1).
    rec = record(built["sdtm"]["EX"], 2)
    assert rec["STUDYID"] == STUDY and rec["DOMAIN"] == "EX"
    assert rec["USUBJID"] == "HETROM-ITP-RWS-01-001"
    assert rec["EXSEQ"] == 1
    assert rec["EXTRT"] == "HETROMBOPAG"
    assert rec["EXDOSE"] == 7.5 and rec["EXDOSU"] == "mg"
    assert rec["EXDOSFRM"] == "TABLET" and rec["EXDOSFRQ"] == "QD" and rec["EXROUTE"] == "ORAL"
    assert rec["EXADJ"] == ""
    assert rec["EXSTDTC"] == "2023-11-14" and rec["EXENDTC"] == "2023-11-29"
    assert rec["EXSTDY"] == 1 and rec["EXENDY"] == 16  # 29 - 14 + 1
    assert issue(built["issues"], "EXPOSURE", 2, "EXENDAT").empty


def test_ex_running_period_ends_at_cutoff(built):
    # EXPOSURE.csv line 3: "01-001","30 NOV 2023","","10","QD","PLATELETS BELOW TARGET"
    # still running: EXENDTC = cut-off 2025-04-14. Days from 2023-11-14: 16 (to 30 NOV) ->
    # EXSTDY 17; to 2024-11-14 366 (leap year) + 16+31+31+28+31+14 = 517 -> EXENDY 518.
    rec = record(built["sdtm"]["EX"], 3)
    assert rec["EXSEQ"] == 2
    assert rec["EXDOSE"] == 10 and rec["EXADJ"] == "PLATELETS BELOW TARGET"
    assert rec["EXSTDTC"] == "2023-11-30" and rec["EXENDTC"] == "2025-04-14"
    assert rec["EXSTDY"] == 17 and rec["EXENDY"] == 518
    found = issue(built["issues"], "EXPOSURE", 3, "EXENDAT")
    assert len(found) == 1
    assert found.iloc[0]["severity"] == "info" and found.iloc[0]["value"] == ""
    assert "cut-off" in found.iloc[0]["rule"] and found.iloc[0]["dataset"] == "EX"


def test_ex_period_ending_after_cutoff(built):
    # EXPOSURE.csv lines 128-130 (03-017): 19 FEB 2025-17 MAR 2025 5 mg (first dose);
    # 18 MAR 2025-11 MAY 2025 2.5 mg (line 129); 12 MAY 2025 5 mg starts after the cut-off.
    rec = record(built["sdtm"]["EX"], 129)
    assert rec["EXSEQ"] == 2 and rec["EXDOSE"] == 2.5
    assert rec["EXSTDTC"] == "2025-03-18" and rec["EXENDTC"] == "2025-04-14"
    assert rec["EXSTDY"] == 28 and rec["EXENDY"] == 55  # 9 + 18 + 1; 9 + 31 + 14 + 1
    found = issue(built["issues"], "EXPOSURE", 129, "EXENDAT")
    assert found["value"].tolist() == ["11 MAY 2025"] and found.iloc[0]["severity"] == "info"
    assert 130 not in set(built["sdtm"]["EX"]["_ROW"])  # starts after the cut-off


def test_ex_interruption_period_kept(built):
    # EXPOSURE.csv line 207: "04-017","20 JUL 2024","05 SEP 2024","0","QD","ADVERSE EVENT",
    # the 5th period of 04-017 (first dose 05 FEB 2024): 29+31+30+31+30+15 = 166 -> day 167;
    # 166 + 11 + 31 + 5 = 213 -> day 214.
    rec = record(built["sdtm"]["EX"], 207)
    assert rec["EXDOSE"] == 0 and rec["EXADJ"] == "ADVERSE EVENT" and rec["EXSEQ"] == 5
    assert rec["EXSTDY"] == 167 and rec["EXENDY"] == 214


def test_ex_every_capped_period_is_reported(built):
    # independent count from the raw CSV: rows kept (start on/before the cut-off, subject in
    # DM, first of exact duplicates) whose end is blank or after the cut-off
    with open(shipped_study_dir() / "DM.csv", newline="", encoding="utf-8-sig") as fh:
        subjects = {r["SUBJID"] for r in csv.DictReader(fh)}
    with open(shipped_study_dir() / "EXPOSURE.csv", newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    seen, expected = set(), set()
    for line, r in enumerate(rows, start=2):
        key = tuple(r.values())
        if key in seen or r["SUBJID"] not in subjects:
            continue
        seen.add(key)
        if dt.datetime.strptime(r["EXSTDAT"], "%d %b %Y").date() > CUTOFF:
            continue
        if r["EXENDAT"] == "" or dt.datetime.strptime(r["EXENDAT"], "%d %b %Y").date() > CUTOFF:
            expected.add(line)
    log = built["issues"]
    capped = log[(log["dataset"] == "EX") & (log["column"] == "EXENDAT") & (log["severity"] == "info")]
    assert set(capped["row"]) == expected
    ex = built["sdtm"]["EX"]
    assert (ex.loc[ex["_ROW"].isin(expected), "EXENDTC"] == "2025-04-14").all()
    assert (ex["EXENDTC"] <= "2025-04-14").all()


def test_exposure_end_reports_overlap_and_backwards_period():
    # hand-made dosing log: S1 periods 01-10 JAN and 08-20 JAN overlap (8 <= 10);
    # S2 ends 01 FEB before it starts 05 FEB; S3 is clean
    frame = pd.DataFrame({
        "DOMAIN": "EX", "_FORM": "EXPOSURE", "_ROW": [2, 3, 4, 5, 6],
        "SUBJID": ["S1", "S1", "S2", "S3", "S3"],
        "EXSTDAT": ["01 JAN 2024", "08 JAN 2024", "05 FEB 2024", "01 JAN 2024", "11 JAN 2024"],
        "EXENDAT": ["10 JAN 2024", "20 JAN 2024", "01 FEB 2024", "10 JAN 2024", ""],
    })
    with issues.collect() as log:
        end = exposure_end(frame, cutoff=dt.date(2024, 3, 1))
    assert end.tolist() == ["2024-01-10", "2024-01-20", "2024-02-01", "2024-01-10", "2024-03-01"]
    found = log.frame()
    overlap = found[found["severity"] == "warning"]
    assert overlap["row"].tolist() == [3] and overlap["column"].tolist() == ["EXSTDAT"]
    backwards = found[found["severity"] == "error"]
    assert backwards["row"].tolist() == [4] and backwards["value"].tolist() == ["01 FEB 2024"]
    assert found[found["severity"] == "info"]["row"].tolist() == [6]


# -- LB -------------------------------------------------------------------------------------


LB_COLUMNS = ["LBTESTCD", "LBTEST", "LBCAT", "LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI",
              "LBSTRESC", "LBSTRESU", "LBNRIND", "VISIT", "LBDTC"]


def lb_values(rec: dict) -> dict:
    return {name: rec[name] for name in LB_COLUMNS}


def test_lb_per_microlitre_result(built):
    # LAB.csv line 22: "01-001","Platelet count","WEEK 16","04 MAR 2024","07:57","29000","/uL",
    # "125000","350000". x0.001 -> 29 (10^9/L), range 125-350, LOW. LBSEQ: 01-001 has 8 ALT,
    # 8 AST, 8 BILI rows, then platelets by date: lines 4, 8, 10, 11, 14, 16, 17, 20, 22 -> 33.
    # Study day: 2023-11-14 -> 2024-03-04 = 16+31+31+29+4 = 111 -> 112.
    rec = record(built["sdtm"]["LB"], 22)
    assert lb_values(rec) == {
        "LBTESTCD": "PLAT", "LBTEST": "Platelets", "LBCAT": "HEMATOLOGY", "LBORRES": "29000",
        "LBORRESU": "/uL", "LBORNRLO": "125000", "LBORNRHI": "350000", "LBSTRESC": "29",
        "LBSTRESU": "10^9/L", "LBNRIND": "LOW", "VISIT": "WEEK 16", "LBDTC": "2024-03-04T07:57"}
    assert rec["LBSTRESN"] == 29 and rec["LBSTNRLO"] == 125 and rec["LBSTNRHI"] == 350
    assert rec["LBSEQ"] == 33 and rec["VISITNUM"] == 16 and rec["LBDY"] == 112
    assert rec["USUBJID"] == "HETROM-ITP-RWS-01-001" and rec["DOMAIN"] == "LB"
    assert rec["LBNAM"] == "Site 01 hospital laboratory"


def test_lb_ten_to_the_fourth_result(built):
    # LAB.csv line 44: "01-001","Platelet count","MONTH 15","15 FEB 2025","10:52","2.8",
    # "10^4/uL","12.5","35". x10 -> 28, range 125-350 -> LOW; MONTH 15 -> VISITNUM 115;
    # platelets after line 22: 23, 26, 28, 29, 32, 34, 35, 38, 40, 41, 44 -> LBSEQ 44;
    # 366 + 16+31+31+15 = 459 days -> LBDY 460.
    rec = record(built["sdtm"]["LB"], 44)
    assert rec["LBSTRESC"] == "28" and rec["LBSTRESN"] == 28
    assert rec["LBORNRLO"] == "12.5" and rec["LBSTNRLO"] == 125 and rec["LBSTNRHI"] == 350
    assert rec["LBNRIND"] == "LOW" and rec["VISITNUM"] == 115 and rec["LBSEQ"] == 44
    assert rec["LBDY"] == 460


def test_lb_result_on_cutoff_date_without_time(built):
    # LAB.csv line 46: "01-001","Platelet count","MONTH 17","14 APR 2025","","19","10^9/L":
    # dated on the cut-off -> kept; no time -> date only.
    rec = record(built["sdtm"]["LB"], 46)
    assert rec["LBDTC"] == "2025-04-14" and rec["LBSTRESC"] == "19" and rec["LBSEQ"] == 45


def test_lb_result_without_time_and_ukat(built):
    # LAB.csv line 2: "01-001","ALT","SCREENING","08 NOV 2023","","19","U/L","7","40"
    rec = record(built["sdtm"]["LB"], 2)
    assert rec["LBDTC"] == "2023-11-08" and rec["LBDY"] == -6 and rec["VISITNUM"] == -1
    assert rec["LBSEQ"] == 1 and rec["LBCAT"] == "CHEMISTRY"
    assert rec["LBTEST"] == "Alanine Aminotransferase" and rec["LBNRIND"] == "NORMAL"
    # LAB.csv line 671: "03-001","ALT","SCREENING","07 JUN 2023","11:36","0.23","ukat/L",
    # "0.12","0.67": x60 -> 13.8 U/L, range 7.2-40.2 (no float noise)
    rec = record(built["sdtm"]["LB"], 671)
    assert rec["LBSTRESC"] == "13.8" and rec["LBSTRESN"] == 13.8 and rec["LBSTRESU"] == "U/L"
    assert rec["LBSTNRLO"] == 7.2 and rec["LBSTNRHI"] == 40.2
    # LAB.csv line 223: "02-001","Total bilirubin",...,"0.52","mg/dL","0.2","1.2": x17.1
    rec = record(built["sdtm"]["LB"], 223)
    assert rec["LBSTRESC"] == "8.892" and rec["LBSTNRLO"] == 3.42 and rec["LBSTNRHI"] == 20.52
    assert rec["LBTESTCD"] == "BILI" and rec["LBTEST"] == "Bilirubin" and rec["LBSTRESU"] == "umol/L"


def test_lb_high_indicator(built):
    # LAB.csv line 48: "01-002","ALT","SCREENING","30 AUG 2023","08:12","160","U/L","7","40";
    # 01-002 first dose 07 SEP 2023 (EXPOSURE.csv line 4) -> day -8
    rec = record(built["sdtm"]["LB"], 48)
    assert rec["LBNRIND"] == "HIGH" and rec["LBSTRESN"] == 160
    assert rec["LBDTC"] == "2023-08-30T08:12" and rec["LBDY"] == -8


def test_lb_less_than_result(built):
    # LAB.csv line 1085: "03-013","Platelet count","DAY 1","30 MAY 2023","09:41","<5","10^9/L"
    rec = record(built["sdtm"]["LB"], 1085)
    assert rec["LBSTRESC"] == "<5" and math.isnan(rec["LBSTRESN"])
    assert rec["LBSTRESU"] == "10^9/L" and rec["LBNRIND"] == "" and rec["VISITNUM"] == 0


NO_RESULT = ["LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "LBSTRESC", "LBSTRESU", "LBNRIND"]


def test_lb_specimen_clumped_is_not_done(built):
    # LAB.csv line 161: "01-005","Platelet count","WEEK 24","01 SEP 2024","08:36","CLUMPED",
    # "10^9/L","125","350"; 01-005 first dose 17 MAR 2024 -> 14+30+31+30+31+31+1 = 168 -> 169.
    # No result: SDTMIG LBSTAT NOT DONE, LBREASND why, LBSPCCND the specimen's condition;
    # no result, unit or range left on the record
    rec = record(built["sdtm"]["LB"], 161)
    assert (rec["LBSTAT"], rec["LBREASND"], rec["LBSPCCND"]) == (
        "NOT DONE", "SPECIMEN CLUMPED", "CLUMPED")
    assert [rec[v] for v in NO_RESULT] == [""] * len(NO_RESULT)
    assert all(math.isnan(rec[v]) for v in ("LBSTRESN", "LBSTNRLO", "LBSTNRHI"))
    assert rec["LBDY"] == 169 and rec["VISITNUM"] == 24 and rec["LBLOBXFL"] == ""
    assert rec["LBDTC"] == "2024-09-01T08:36" and rec["LBTESTCD"] == "PLAT"


def test_lb_hemolyzed_and_plain_not_done(built):
    # LAB.csv line 427: "02-006","ALT","MONTH 15","04 AUG 2024","","HEMOLYZED","U/L","7","40"
    rec = record(built["sdtm"]["LB"], 427)
    assert (rec["LBSTAT"], rec["LBREASND"], rec["LBSPCCND"]) == (
        "NOT DONE", "SPECIMEN HEMOLYZED", "HEMOLYZED")
    assert [rec[v] for v in NO_RESULT] == [""] * len(NO_RESULT) and math.isnan(rec["LBSTNRHI"])
    # LAB.csv line 1244: "03-015","Platelet count","MONTH 21","12 MAR 2025","11:32","NOT DONE",
    # "10^9/L","125","350": not done, the export collects no reason -> LBREASND empty
    rec = record(built["sdtm"]["LB"], 1244)
    assert (rec["LBSTAT"], rec["LBREASND"], rec["LBSPCCND"]) == ("NOT DONE", "", "")
    assert [rec[v] for v in NO_RESULT] == [""] * len(NO_RESULT) and math.isnan(rec["LBSTNRLO"])


def test_lb_not_done_exactly_where_the_lab_gave_no_result(built):
    # every prepared LAB row reporting NOT DONE, CLUMPED or HEMOLYZED, and only those, is NOT
    # DONE; the other records keep their result (a number, <N, >N) and their LBSTAT is empty
    lab, lb = built["forms"]["LAB"], built["sdtm"]["LB"]
    texts = {"NOT DONE", "CLUMPED", "HEMOLYZED"}
    status_rows = set(lab.loc[lab["LBORRES"].isin(texts), "_ROW"])
    assert len(status_rows) == 42  # 44 in LAB.csv, 2 dated after the cut-off
    not_done = lb["LBSTAT"] == "NOT DONE"
    assert set(lb.loc[not_done, "_ROW"]) == status_rows
    assert set(lb["LBSTAT"]) == {"", "NOT DONE"} and (lb.loc[~not_done, "LBORRES"] != "").all()
    assert (lb.loc[not_done, "LBORRES"] == "").all()
    assert set(lb.loc[not_done, "LBSPCCND"]) == {"", "CLUMPED", "HEMOLYZED"}
    assert (lb.loc[~not_done, ["LBREASND", "LBSPCCND"]] == "").all().all()


def test_lblobxfl_last_result_on_or_before_first_dose(built):
    lb = built["sdtm"]["LB"]
    # 01-001 platelets: LAB.csv line 4 (08 NOV 2023) and line 8 (DAY 1, 14 NOV 2023 11:08,
    # "10"), first dose 14 NOV 2023 (EXPOSURE.csv line 2): the Day 1 sample, taken on the
    # first-dose day, is the last before exposure
    assert record(lb, 8)["LBLOBXFL"] == "Y" and record(lb, 4)["LBLOBXFL"] == ""
    # 03-011 platelets: line 1044 (SCREENING 30 JAN 2024, "2") and line 1050 (DAY 1,
    # 13 FEB 2024, CLUMPED: no result); first dose 13 FEB 2024 (EXPOSURE.csv line 107) ->
    # the screening sample; ALT of the same day (line 1048, DAY 1, "0.22") has a result
    assert record(lb, 1044)["LBLOBXFL"] == "Y" and record(lb, 1050)["LBLOBXFL"] == ""
    assert record(lb, 1048)["LBLOBXFL"] == "Y" and record(lb, 1045)["LBLOBXFL"] == ""
    # one Y per subject and test at most, never on a NOT DONE record nor after RFXSTDTC
    flagged = lb[lb["LBLOBXFL"] == "Y"]
    assert not flagged.duplicated(["USUBJID", "LBTESTCD"]).any()
    first_dose = dict(zip(built["sdtm"]["DM"]["USUBJID"], built["sdtm"]["DM"]["RFXSTDTC"]))
    assert (flagged["LBDTC"].str[:10] <= flagged["USUBJID"].map(first_dose)).all()
    assert (flagged["LBORRES"] != "").all() and set(lb["LBLOBXFL"]) == {"", "Y"}


def test_lblobxfl_ties_and_untreated_on_planted_rows(built):
    # 01-001 platelets (first dose 14 NOV 2023): line 4 (08 NOV 08:59, "12"), line 8 (DAY 1)
    # untimed, and a planted 14 NOV 07:00 NOT DONE: the not-done sample is no result, so the
    # untimed Day 1 sample is the last.
    # 01-002 platelets (first dose 07 SEP 2023): line 47 (27 AUG), line 53 (DAY 1 07 SEP 08:42)
    # planted untimed and a copy of it at 09:30 in a unit unknown for platelets: on one day a
    # timed sample sorts after an untimed one (LBDTC), and a result counts whatever its unit.
    lab = built["forms"]["LAB"]
    rows = lab.set_index("_ROW")
    day1 = rows.loc[[8]].assign(LBTIM="")
    not_done = rows.loc[[8]].assign(LBTIM="07:00", LBORRES="NOT DONE")
    untimed = rows.loc[[53]].assign(LBTIM="")
    other_unit = rows.loc[[53]].assign(LBTIM="09:30", LBORRESU="mmol/L")
    planted = pd.concat([rows.loc[[4]], day1, not_done, rows.loc[[47]], untimed, other_unit])
    planted = planted.reset_index(drop=True)
    planted["_ROW"] = [4, 8, 9001, 47, 53, 9002]
    with issues.collect():
        lb = build_dataset(built["specs"].sdtm["LB"], forms={**built["forms"], "LAB": planted},
                           built=built["sdtm"], study=built["specs"].study,
                           codelists=built["specs"].codelists)
    got = dict(zip(lb["_ROW"], lb["LBLOBXFL"]))
    assert got == {4: "", 8: "Y", 9001: "", 47: "", 53: "", 9002: "Y"}
    assert record(lb, 9002)["LBSTRESC"] == "" and record(lb, 9001)["LBSTAT"] == "NOT DONE"
    # the same rows when 01-002 was never dosed (DM RFXSTDTC empty): no exposure, no flag
    dm = built["sdtm"]["DM"].copy()
    dm.loc[dm["SUBJID"] == "01-002", "RFXSTDTC"] = ""
    with issues.collect():
        lb = build_dataset(built["specs"].sdtm["LB"], forms={**built["forms"], "LAB": planted},
                           built={**built["sdtm"], "DM": dm}, study=built["specs"].study,
                           codelists=built["specs"].codelists)
    got = dict(zip(lb["_ROW"], lb["LBLOBXFL"]))
    assert got == {4: "", 8: "Y", 9001: "", 47: "", 53: "", 9002: ""}


def test_lb_unknown_unit_and_unscheduled_visit(built):
    # LAB.csv line 233: "02-001","Platelet count","UNSCHEDULED","08 SEP 2023","10:56","15",
    # "mmol/L","","". The last scheduled 02-001 LAB record on or before 08 SEP 2023 is line
    # 232 (WEEK 8, 09 AUG 2023) -> VISITNUM 8.01. First dose 16 JUN 2023 -> 14+31+31+8+1 = 85.
    rec = record(built["sdtm"]["LB"], 233)
    assert rec["LBORRES"] == "15" and rec["LBORRESU"] == "mmol/L"
    assert rec["LBSTRESC"] == "" and math.isnan(rec["LBSTRESN"]) and rec["LBSTRESU"] == ""
    assert math.isnan(rec["LBSTNRLO"]) and math.isnan(rec["LBSTNRHI"]) and rec["LBNRIND"] == ""
    assert rec["VISIT"] == "UNSCHEDULED" and rec["VISITNUM"] == pytest.approx(8.01)
    assert rec["LBDY"] == 85
    found = issue(built["issues"], "LAB", 233, "LBORRESU")
    assert len(found) == 1 and found.iloc[0]["severity"] == "warning"
    assert found.iloc[0]["value"] == "mmol/L" and found.iloc[0]["dataset"] == "LB"
    # every mmol/L line of LAB.csv is reported once
    log = built["issues"]
    unit_issues = log[(log["dataset"] == "LB") & (log["column"] == "LBORRESU")]
    assert sorted(unit_issues["value"]) == ["mmol/L"] * 12


def test_lab_standardisation_rules_on_hand_made_rows():
    frame = pd.DataFrame({
        "DOMAIN": "LB", "_FORM": "LAB", "_ROW": [2, 3, 4, 5, 6, 7, 8],
        "LBTESTCD": ["PLAT", "PLAT", "PLAT", "ALT", "PLAT", "BILI", "PLAT"],
        "LBORRES": ["<5000", ">3.1", "25000", "-3", "3500", " NOT DONE", "12"],
        "LBORRESU": ["/uL", "10^4/uL", "/uL", "U/L", "10^9/L", "umol/L", "G/L"],
        "LO": [125000, 12.5, np.nan, 7, 125, 3.4, 125],
    })
    args = {"result": "LBORRES", "unit": "LBORRESU", "test": "LBTESTCD", "conversion": CONVERSION}
    with issues.collect() as log:
        stresc = lab_stresc(frame, **args)
        stresn = lab_stresn(frame, plausible_max={"PLAT": 2000}, **args)
    assert stresc.tolist() == ["<5", ">31", "25", "-3", "3500", "NOT DONE", ""]
    assert stresn.tolist()[2:5] == [25, -3, 3500]
    assert np.isnan(stresn.iloc[[0, 1, 5, 6]]).all()
    assert lab_stresu(frame, **args).tolist() == ["10^9/L", "10^9/L", "10^9/L", "U/L", "10^9/L", "", ""]
    low = lab_std_range(frame, limit="LO", unit="LBORRESU", test="LBTESTCD", conversion=CONVERSION)
    assert low.tolist()[:2] == [125, 125] and np.isnan(low.iloc[2]) and np.isnan(low.iloc[6])
    found = log.frame()
    assert found.loc[found["column"] == "LBORRESU", ["row", "value"]].values.tolist() == [[8, "G/L"]]
    warnings = found[found["column"] == "LBORRES"]
    assert sorted(zip(warnings["row"], warnings["value"])) == [(5, "-3"), (6, "3500")]


def test_normal_range_indicator_and_number_text():
    frame = pd.DataFrame({"V": [1.0, 5, 10, 11, np.nan, 4], "LO": [2, 2, 2, 2, 2, np.nan],
                          "HI": [10, 10, 10, 10, 10, np.nan], "N": [125.0, 0.12, 12.5, np.nan, 3, 1e3]})
    assert normal_range_indicator(frame, value="V", low="LO", high="HI").tolist() == [
        "LOW", "NORMAL", "NORMAL", "HIGH", "", ""]
    assert number_text(frame, column="N").tolist() == ["125", "0.12", "12.5", "", "3", "1000"]


def test_visitnum_unscheduled_rules():
    frame = pd.DataFrame({
        "SUBJID": ["A", "A", "A", "A", "B"],
        "VISIT": ["UNSCHEDULED", "WEEK 4", "unscheduled", "WEEK 2", "UNSCHEDULED"],
        "DAT": ["01 JAN 2024", "10 JAN 2024", "10 JAN 2024", "05 JAN 2024", "20 JAN 2024"],
    })
    nums = {"SCREENING": -1, "WEEK 2": 2, "WEEK 4": 4}
    got = visitnum(frame, visit="VISIT", date="DAT", subject="SUBJID", nums=nums)
    # A on 01 JAN: nothing before -> -1 + 0.01; A on 10 JAN: WEEK 4 the same day -> 4.01;
    # B has no scheduled record -> -0.99
    assert got.tolist() == pytest.approx([-0.99, 4, 4.01, 2, -0.99])


def test_visitnum_takes_the_highest_number_of_the_latest_day_of_the_same_subject():
    frame = pd.DataFrame({
        "SUBJID": ["B", "A", "A", "A", "A", "B", "C", "A"],
        "VISIT": ["WEEK 4", "WEEK 4", "WEEK 2", "UNSCHEDULED", "UNSCHEDULED", "UNSCHEDULED",
                  "UNSCHEDULED", "SCREENING"],
        "DAT": ["01 JAN 2024", "10 JAN 2024", "10 JAN 2024", "10 JAN 2024", "09 JAN 2024",
                "31 DEC 2023", "01 JAN 2025", "02 JAN 2024"],
    })
    nums = {"SCREENING": -1, "WEEK 2": 2, "WEEK 4": 4}
    got = visitnum(frame, visit="VISIT", date="DAT", subject="SUBJID", nums=nums)
    # A on 10 JAN: WEEK 4 and WEEK 2 that day -> the higher, 4.01; A on 09 JAN: SCREENING on
    # 02 JAN -> -0.99; B on 31 DEC 2023: B's WEEK 4 is later -> -0.99; C: only other
    # subjects' records before it -> -0.99
    assert got.tolist() == pytest.approx([4, 4, 2, 4.01, -0.99, -0.99, -0.99, -1])


def test_visitnum_strips_subjects_and_labels_before_matching():
    frame = pd.DataFrame({
        "SUBJID": pd.Series(["A", " A", "A ", "B", None, ""], dtype="str"),
        "VISIT": pd.Series([" week 2", "UNSCHEDULED ", "WEEK 9", "unscheduled", "WEEK 2", None],
                           dtype="str"),
        "DAT": ["05 JAN 2024", "06 JAN 2024", "07 JAN 2024", "08 JAN 2024", "01 JAN 2024", ""],
    })
    nums = {"SCREENING": -1, "WEEK 2": 2, "WEEK 4": 4}
    got = visitnum(frame, visit="VISIT", date="DAT", subject="SUBJID", nums=nums)
    # " A" is subject A: its unscheduled visit follows WEEK 2 -> 2.01; WEEK 9 is not in the
    # table; B has no scheduled record -> -1 + 0.01; a missing label -> NaN
    assert got.iloc[:5].tolist() == pytest.approx([2, 2.01, np.nan, -0.99, 2], nan_ok=True)
    assert np.isnan(got.iloc[5])


def test_visitnum_table_comes_from_the_visit_codelist():
    """lb.yaml and rs.yaml take VISITNUM from codelists.yaml (one copy of the table)."""
    from itp_adam.spec.model import CodelistRef, load_specs

    specs = load_specs(default_specs_dir())
    for name in ("LB", "RS"):
        var = next(v for v in specs.sdtm[name].variables if v.name == "VISITNUM")
        ref = var.source.args["nums"]
        assert isinstance(ref, CodelistRef) and (ref.codelist, ref.field) == ("VISIT", "num"), name
    nums = CodelistRef(codelist="VISIT", field="num").mapping(specs.codelists)
    # raw-forms.md nominal visits: weeks by number, months as 100 + month; UNSCHEDULED has none
    assert nums["SCREENING"] == -1 and nums["DAY 1"] == 0 and nums["WEEK 24"] == 24
    assert nums["MONTH 7"] == 107 and nums["MONTH 24"] == 124
    assert "UNSCHEDULED" not in nums and len(nums) == 29


def test_rs_records(built):
    # BLEED.csv line 2: "01-001","SCREENING","10 NOV 2023","1" (first dose 14 NOV 2023 -> -4)
    rec = record(built["sdtm"]["RS"], 2)
    assert {k: rec[k] for k in ("STUDYID", "DOMAIN", "USUBJID", "RSTESTCD", "RSTEST", "RSCAT",
                                "RSORRES", "RSSTRESC", "VISIT", "RSDTC")} == {
        "STUDYID": STUDY, "DOMAIN": "RS", "USUBJID": "HETROM-ITP-RWS-01-001",
        "RSTESTCD": "WHOBLGR", "RSTEST": "WHO Bleeding Grade", "RSCAT": "WHO BLEEDING SCALE",
        "RSORRES": "1", "RSSTRESC": "1", "VISIT": "SCREENING", "RSDTC": "2023-11-10"}
    assert rec["RSSEQ"] == 1 and rec["RSSTRESN"] == 1 and rec["VISITNUM"] == -1 and rec["RSDY"] == -4
    # BLEED.csv line 4: "01-001","WEEK 4","14 DEC 2023","2" -> third assessment, day 31
    rec = record(built["sdtm"]["RS"], 4)
    assert rec["RSSEQ"] == 3 and rec["RSSTRESN"] == 2 and rec["VISITNUM"] == 4 and rec["RSDY"] == 31


# -- accounting and transport files -----------------------------------------------------------


@pytest.mark.parametrize("form, domain", [("EXPOSURE", "EX"), ("LAB", "LB"), ("BLEED", "RS")])
def test_every_raw_row_accounted_for(built, form, domain):
    prepared = built["forms"][form]["_ROW"]
    records = built["sdtm"][domain]["_ROW"]
    assert len(records) == len(prepared) and set(records) == set(prepared)
    log = built["issues"]
    dropped = set(log.loc[(log["form"] == form) & log["rule"].str.contains(
        "left out of SDTM|collapsed"), "row"])
    raw = set(built["export"].forms[form]["_ROW"])
    assert set(records) | dropped == raw and not set(records) & dropped


@pytest.mark.parametrize("domain", ["EX", "LB", "RS"])
def test_seq_unique_per_subject(built, domain):
    frame = built["sdtm"][domain]
    assert not frame.duplicated(["USUBJID", f"{domain}SEQ"]).any()


def test_xpt_round_trip(built, tmp_path):
    for name, rows in (("EX", {3: ("EXENDTC", "2025-04-14")}),
                       ("LB", {22: ("LBSTRESC", "29"), 233: ("LBORRESU", "mmol/L")}),
                       ("RS", {4: ("RSSTRESN", 2.0)})):
        spec, frame = built["specs"].sdtm[name], built["sdtm"][name]
        path = tmp_path / f"{name.lower()}.xpt"
        write_dataset(frame, spec, path)
        back = pd.read_sas(path, format="xport", encoding="ascii")
        assert list(back.columns) == [var.name for var in spec.variables]
        assert len(back) == len(frame)
        for row, (column, value) in rows.items():
            position = frame.index[frame["_ROW"] == row][0]
            assert back.loc[position, column] == value
        seq = f"{name}SEQ"
        assert back[seq].tolist() == frame[seq].tolist()
