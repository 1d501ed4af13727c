"""Trial design and special-purpose domains (TS, TA, TE, TV, TI, SE, SV) and EPOCH.

Three parts: the spec language's literal records (``rows:``, ``{row: KEY}``, ``{constant:
{study: P}}``) with their load-time checks; the derivations of ``itp_adam.derive.design`` on
small hand-made frames; and the shipped study, whose values are worked out by hand from the
raw CSV files (``src/itp_adam/data/hetrombopag-itp/``) and the study documents
(``docs/trial-design.md``).
"""

from __future__ import annotations

import csv
import datetime as dt
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from itp_adam.checks.validate import load_conformance
from itp_adam.derive.design import (
    derive_subject_elements,
    derive_subject_visits,
    derive_var_epoch,
    derive_var_merged_summary,
)
from itp_adam.io.layout import load_layout
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.spec.evaluate import build_dataset
from itp_adam.spec.model import SpecError, load_codelists, load_dataset_spec, load_study

SPECS = default_specs_dir()
LAYOUT, CODELISTS, STUDY = load_layout(SPECS), load_codelists(SPECS), load_study(SPECS)
SUBJ = "HETROM-ITP-RWS-"


# --------------------------------------------------------------------------------------------
# the spec language: literal records


LITERAL = """\
name: XT
label: Literal records
class: TRIAL DESIGN
structure: One record per row
keys: [STUDYID, CODE]
sort: [STUDYID, CODE]
rows:
  - {CODE: B, TEXT: second, NUM: 2}
  - {CODE: A, TEXT: 1, NUM: 2.5, WHEN: {study: cutoff_date}}
  - {CODE: C, TEXT: 2.5, WHEN: 2024-01-31}
variables:
  - name: STUDYID
    label: Study Identifier
    type: Char
    role: Identifier
    origin: Assigned
    source: {constant: {study: study_id}}
  - name: CODE
    label: Code
    type: Char
    role: Topic
    origin: Assigned
    source: {row: CODE}
  - name: TEXT
    label: Text
    type: Char
    role: Record Qualifier
    origin: Assigned
    source: {row: TEXT}
  - name: NUM
    label: Number
    type: Num
    role: Record Qualifier
    origin: Assigned
    source: {row: NUM}
  - name: WHEN
    label: Date
    type: Char
    role: Timing
    origin: Assigned
    source: {row: WHEN}
  - name: CUT
    label: Cut-off
    type: Char
    role: Timing
    origin: Assigned
    source: {constant: {study: cutoff_date}}
"""


def _spec(tmp_path: Path, text: str):
    path = tmp_path / "xt.yaml"
    path.write_text(text, encoding="utf-8")
    return load_dataset_spec(path, LAYOUT, CODELISTS, study=STUDY)


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        _spec(tmp_path, text)
    return [f"line {p.line}: {p.message}" for p in caught.value.problems]


def test_literal_records_are_typed_by_their_variable(tmp_path):
    spec = _spec(tmp_path, LITERAL)
    out = build_dataset(spec, forms={}, built={}, study=STUDY, codelists=CODELISTS)
    assert list(out.columns) == ["STUDYID", "CODE", "TEXT", "NUM", "WHEN", "CUT"]  # no trace
    assert out.drop(columns="NUM").to_dict("list") == {
        "STUDYID": ["HETROM-ITP-RWS"] * 3,
        "CODE": ["A", "B", "C"],                               # sorted by the keys
        "TEXT": ["1", "second", "2.5"],                        # numbers as text, no ".0"
        "WHEN": ["2025-04-14", "", "2024-01-31"],              # {study: P}, blank, a YAML date
        "CUT": ["2025-04-14"] * 3,                             # a study date as ISO 8601
    }
    assert out["NUM"].tolist()[:2] == [2.5, 2.0] and np.isnan(out["NUM"][2])
    assert out["NUM"].dtype == np.float64
    assert out["TEXT"].dtype == "str"


def test_row_keys_values_and_sources_are_checked_at_load(tmp_path):
    text = (LITERAL.replace("{CODE: B, TEXT: second, NUM: 2}", "{CODE: B, TXET: second, NUM: two}")
            .replace("WHEN: {study: cutoff_date}", "WHEN: {study: cutoff_datum}")
            .replace("source: {row: TEXT}", "source: {row: TXT}"))
    assert _problems(tmp_path, text) == [
        "line 8: unknown variable 'TXET' in row 1 (a key names a variable); known: CODE, CUT, NUM, "
        "STUDYID, TEXT, WHEN",
        "line 8: variable NUM is Num: a row value must be a number (found 'two')",
        "line 9: unknown study parameter 'cutoff_datum': not in "
        f"{SPECS / 'study.yaml'}",
        # TXT is as near TEXT as TXET (difflib ratio 6/7 each); the later name of a tie is said
        "line 29: unknown row key 'TXT' in rows; known: CODE, NUM, TEXT, TXET, WHEN; did you "
        "mean 'TXET'?",
    ]


def test_rows_are_the_only_source_of_records_and_row_needs_rows(tmp_path):
    assert _problems(tmp_path, LITERAL.replace("rows:\n", "forms: [LAB]\nrows:\n", 1)) == [
        "line 8: the records come from one of forms, records, input or rows; this dataset also "
        "has forms"]
    no_rows = LITERAL.replace(LITERAL[LITERAL.index("rows:"):LITERAL.index("variables:")],
                              "forms: [LAB]\n")
    messages = _problems(tmp_path, no_rows)
    assert messages[0] == "line 20: {row: CODE} needs the dataset's literal records (rows:)"
    assert len(messages) == 4  # CODE, TEXT, NUM, WHEN


def test_a_constant_study_parameter_is_checked(tmp_path):
    text = LITERAL.replace("source: {constant: {study: cutoff_date}}",
                           "source: {constant: {study: cut_off}}")
    assert _problems(tmp_path, text) == [
        f"line 47: unknown study parameter 'cut_off': not in {SPECS / 'study.yaml'}"]


# --------------------------------------------------------------------------------------------
# derive_subject_elements


DM = pd.DataFrame({
    "USUBJID": ["A", "B", "C"],
    "RFICDTC": ["2024-01-01", "2024-02-01", "2024-03-01"],
    "RFSTDTC": ["2024-01-10", "2024-02-01", ""],          # C never dosed
    "RFENDTC": ["2024-03-01", "2024-02-20", ""],
    "DISPDTC": ["2024-03-15", "2024-02-20", ""],
})
ELEMENTS = [
    {"etcd": "SCRN", "start": "RFICDTC", "end": "RFSTDTC"},
    {"etcd": "TRT", "start": "RFSTDTC", "end": "RFENDTC"},
    {"etcd": "FU", "start": "RFENDTC", "end": "DISPDTC", "filter": "date(DISPDTC) > date(RFENDTC)"},
]


def test_elements_per_subject_dated_by_its_columns():
    se = derive_subject_elements(DM, ELEMENTS)
    assert se[["USUBJID", "ETCD", "SESTDTC", "SEENDTC"]].values.tolist() == [
        ["A", "SCRN", "2024-01-01", "2024-01-10"],
        ["A", "TRT", "2024-01-10", "2024-03-01"],
        ["A", "FU", "2024-03-01", "2024-03-15"],    # disposition after the last dose
        ["B", "SCRN", "2024-02-01", "2024-02-01"],  # consent on the day of the first dose
        ["B", "TRT", "2024-02-01", "2024-02-20"],   # disposition on the last dose day: no FU
        ["C", "SCRN", "2024-03-01", ""],            # never dosed: screening not ended
    ]
    assert list(se["RFICDTC"]) == ["2024-01-01"] * 3 + ["2024-02-01"] * 2 + ["2024-03-01"]
    assert list(DM.columns) == ["USUBJID", "RFICDTC", "RFSTDTC", "RFENDTC", "DISPDTC"]


def test_elements_take_date_columns_and_an_open_end():
    dm = pd.DataFrame({"USUBJID": ["A", "B"],
                       "START": pd.to_datetime(["2024-05-02", None])})
    se = derive_subject_elements(dm, [{"etcd": "X", "start": "START"}], new_var="E")
    assert se[["USUBJID", "E", "SESTDTC", "SEENDTC"]].values.tolist() == [["A", "X", "2024-05-02", ""]]


def test_elements_refuse_bad_input():
    with pytest.raises(ValueError, match="more than one record per USUBJID"):
        derive_subject_elements(pd.concat([DM, DM.iloc[[0]]]), ELEMENTS)
    with pytest.raises(ValueError, match=r"elements\[0\]: missing keys \['start'\]"):
        derive_subject_elements(DM, [{"etcd": "X"}])
    with pytest.raises(KeyError, match="variable RFXDTC .argument elements. is not in the dataset"):
        derive_subject_elements(DM, [{"etcd": "X", "start": "RFXDTC"}])


# --------------------------------------------------------------------------------------------
# derive_var_epoch


def _se(prefer_first: bool = False) -> pd.DataFrame:
    se = derive_subject_elements(DM, ELEMENTS)
    se["EPOCH"] = se["ETCD"].map({"SCRN": "SCREENING", "TRT": "TREATMENT", "FU": "FOLLOW-UP"})
    return se.iloc[::-1] if prefer_first else se  # the order of SE does not matter


RECORDS = pd.DataFrame({
    "USUBJID": ["A"] * 10 + ["B", "B", "C", "Z"],
    "DTC": ["2023-12-31",        # before informed consent: blank
            "2024-01-01",        # consent day: SCREENING
            "2024-01-10T08:00",  # first dose day (time ignored): the element starting then
            "2024-03-01",        # last dose day: shared by TRT and FU
            "2024-03-02",        # FOLLOW-UP
            "2024-03-15",        # last day of follow-up, included
            "2024-03-16",        # after the last element: blank
            "2024-02",           # partial, within TRT: TREATMENT
            "2024-01",           # partial, spans SCRN and TRT: blank
            "",                  # no date
            "2024-02-01",        # B: SCRN [02-01, 02-01] and TRT start: TREATMENT
            "2024-02",           # B: spans TRT and after its end: blank
            "2024-06-01",        # C: screening still running (no end): SCREENING
            "2024-01-05"],       # Z: no elements
})


def test_epoch_of_each_record_by_hand():
    out = derive_var_epoch(RECORDS, _se(), "DTC", prefer=["TREATMENT"])
    assert list(out["EPOCH"]) == ["", "SCREENING", "TREATMENT", "TREATMENT", "FOLLOW-UP",
                                  "FOLLOW-UP", "", "TREATMENT", "", "", "TREATMENT", "",
                                  "SCREENING", ""]
    assert list(out.columns) == ["USUBJID", "DTC", "EPOCH"] and out["EPOCH"].dtype == "str"


def test_a_shared_day_goes_to_the_starting_element_unless_the_other_is_preferred():
    plain = derive_var_epoch(RECORDS, _se(prefer_first=True), "DTC", new_var="E")
    assert plain["E"][3] == "FOLLOW-UP"   # last dose day: FU starts then
    assert plain["E"][2] == "TREATMENT"   # first dose day: TRT starts then
    screening = derive_var_epoch(RECORDS, _se(), "DTC", prefer="SCREENING")
    assert screening["EPOCH"][2] == "SCREENING" and screening["EPOCH"][10] == "SCREENING"


def test_epoch_of_date_columns():
    records = pd.DataFrame({"USUBJID": ["A", "A"], "ADT": pd.to_datetime(["2024-03-02", None])})
    assert list(derive_var_epoch(records, _se(), "ADT")["EPOCH"]) == ["FOLLOW-UP", ""]


# --------------------------------------------------------------------------------------------
# derive_subject_visits


def test_visits_span_their_first_and_last_day_over_the_sources():
    lb = pd.DataFrame({"USUBJID": ["A", "A", "A", "B", "Z", "A"],
                       "VISITNUM": [1.0, 1.0, 2.0, 1.0, 1.0, np.nan],
                       "VISIT": ["SCR", "SCR", "W1", "SCR", "SCR", ""],
                       "LBDTC": ["2024-01-02T10:00", "2024-01-05", "2024-01-20", "2024-02",
                                 "2024-01-01", "2024-01-21"]})
    rs = pd.DataFrame({"USUBJID": ["A", "B", "B"], "VISITNUM": [1.0, 1.0, 2.0],
                       "VISIT": ["SCR", "SCR", "W1"], "RSDTC": ["2023-12-30", "2024-02-03", "2024-02-09"]})
    dm = DM[["USUBJID"]].assign(STUDYID="S")
    sv = derive_subject_visits(dm, [{"dataset": lb, "date": "LBDTC"},
                                    {"dataset": rs, "date": "RSDTC", "filter": "VISITNUM < 2"}])
    assert sv.values.tolist() == [
        ["A", "S", 1.0, "SCR", "2023-12-30", "2024-01-05"],  # RS and two LB days
        ["A", "S", 2.0, "W1", "2024-01-20", "2024-01-20"],
        ["B", "S", 1.0, "SCR", "2024-02-03", "2024-02-03"],  # the partial LB date does not count
    ]  # Z is not in DM; the LB record without a visit is no visit; RS W1 filtered out
    assert list(sv.columns) == ["USUBJID", "STUDYID", "VISITNUM", "VISIT", "SVSTDTC", "SVENDTC"]


@pytest.mark.parametrize("seed", [5, 6])
def test_visits_as_a_pandas_groupby(seed):
    """derive_subject_visits against a second reading: concatenate the sources' usable records,
    group by subject and visit with pandas, take the min and max day."""
    rng = np.random.default_rng(seed)
    dm = pd.DataFrame({"USUBJID": [f"S{i}" for i in range(12)], "AGE": np.arange(12.0)})
    dates = ["2024-01-02", "2024-01-05T08:00", "2024-02", "2024", "", "2024-03-10",
             "2024-01-31", "2023-12-30"]
    visits = [(1.0, "SCREENING"), (2.0, "WEEK 1"), (3.0, "WEEK 2"), (10.0, "WEEK 10"),
              (np.nan, "")]
    sources = []
    for n in (150, 60):
        pick = rng.integers(0, len(visits), n)
        sources.append(pd.DataFrame({
            "USUBJID": rng.choice([*dm["USUBJID"], "X1"], n),
            "VISITNUM": [visits[i][0] for i in pick],
            "VISIT": pd.Series([visits[i][1] for i in pick], dtype="str"),
            "DTC": rng.choice(dates, n), "KEEP": rng.choice(["Y", "N"], n)}))
    got = derive_subject_visits(dm, [{"dataset": sources[0], "date": "DTC"},
                                     {"dataset": sources[1], "date": "DTC",
                                      "filter": "KEEP == 'Y'"}])
    both = pd.concat([sources[0], sources[1][sources[1]["KEEP"] == "Y"]])
    both = both[both["DTC"].str.len().isin([10, 16]) & both["VISITNUM"].notna()
                & both["USUBJID"].isin(dm["USUBJID"])]
    both = both.assign(DAY=both["DTC"].str.slice(0, 10))
    expected = (both.groupby(["USUBJID", "VISITNUM", "VISIT"], as_index=False)
                .agg(SVSTDTC=("DAY", "min"), SVENDTC=("DAY", "max"))
                .merge(dm, on="USUBJID"))
    expected = expected.assign(ORDER=expected["USUBJID"].str.slice(1).astype(int)) \
        .sort_values(["ORDER", "VISITNUM"])
    columns = ["USUBJID", "AGE", "VISITNUM", "VISIT", "SVSTDTC", "SVENDTC"]
    assert got[columns].values.tolist() == expected[columns].values.tolist()


# --------------------------------------------------------------------------------------------
# derive_var_merged_summary


def test_summary_of_another_dataset_on_chosen_records():
    ts = pd.DataFrame({"TSPARMCD": ["SSTDTC", "ACTSUB", "TITLE"], "TSVAL": ["", "", "A title"]})
    ts = derive_var_merged_summary(ts, DM, "TSVAL", "RFICDTC", "min", filter="TSPARMCD == 'SSTDTC'")
    ts = derive_var_merged_summary(ts, DM, "TSVAL", "USUBJID", "n_distinct",
                                   filter="TSPARMCD == 'ACTSUB'")
    assert list(ts["TSVAL"]) == ["2024-01-01", "3", "A title"]
    assert ts["TSVAL"].dtype == "str"


def test_summary_by_groups_into_a_new_variable():
    lb = pd.DataFrame({"USUBJID": ["A", "A", "B", "B", "B"], "AVAL": [3.0, 5.0, np.nan, 1.0, 1.0]})
    out = derive_var_merged_summary(DM[["USUBJID"]], lb, "N", "AVAL", "n", by_vars=["USUBJID"])
    assert list(out["N"]) == [2, 2, 0]  # C has no record: 0
    top = derive_var_merged_summary(DM[["USUBJID"]], lb, "TOP", "AVAL", "max", by_vars=["USUBJID"],
                                    filter="USUBJID != 'B'")
    assert top["TOP"].tolist()[0] == 5.0 and np.isnan(top["TOP"][1]) and np.isnan(top["TOP"][2])
    with pytest.raises(ValueError, match="summary must be one of min, max, n, n_distinct"):
        derive_var_merged_summary(DM, lb, "X", "AVAL", "mean")


# --------------------------------------------------------------------------------------------
# the shipped study


def _raw(form: str) -> list[dict[str, str]]:
    with (shipped_study_dir() / f"{form}.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _iso(raw: str) -> str:
    return dt.datetime.strptime(raw.title(), "%d %b %Y").date().isoformat()


@pytest.fixture(scope="module")
def sdtm(shipped):
    return shipped.sdtm


def _ts(sdtm) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for rec in sdtm["TS"].to_dict("records"):
        found.setdefault(rec["TSPARMCD"], []).append(rec)
    return found


def test_ts_values_from_the_data(sdtm):
    dm = _raw("DM")
    ts = _ts(sdtm)
    assert ts["SSTDTC"][0]["TSVAL"] == min(_iso(r["ICDAT"]) for r in dm) == "2023-04-11"  # 03-014
    # DM.csv has 168 rows, one an exact duplicate (04-005) collapsed by the raw rules
    assert ts["ACTSUB"][0]["TSVAL"] == str(len({r["SUBJID"] for r in dm})) == "167"
    assert ts["NARMS"][0]["TSVAL"] == "1"
    assert ts["DCUTDTC"][0]["TSVAL"] == "2025-04-14" == STUDY.cutoff_date.isoformat()
    assert ts["SSTDTC"][0]["TSVCDREF"] == ts["DCUTDTC"][0]["TSVCDREF"] == "ISO 8601"
    assert ts["STYPE"][0]["TSVAL"] == "OBSERVATIONAL"
    assert [r["TSVAL"] for r in ts["TTYPE"]] == ["EFFICACY", "SAFETY"]
    assert [r["TSSEQ"] for r in ts["TTYPE"]] == [1, 2] and len(ts["OUTMSSEC"]) == 3


def test_ts_has_the_fda_parameters_each_with_a_value_or_a_null_flavor(sdtm):
    ts = sdtm["TS"]
    wanted = ("SSTDTC STYPE TITLE SPONSOR ADDON AGEMIN AGEMAX SEXPOP PLANSUB ACTSUB INDIC TDIGRP TRT "
              "PCLAS ROUTE DOSFRM DOSU DOSFRQ REGID SDTIGVER SDTMVER THERAREA OBJPRIM OUTMSPRI NARMS "
              "DCUTDTC DCUTDESC HLTSUBJI RANDOM TBLIND CURTRT TPHASE TTYPE FCNTRY LENGTH SENDTC").split()
    assert set(wanted) <= set(ts["TSPARMCD"])
    filled, null = ts["TSVAL"].ne(""), ts["TSVALNF"].ne("")
    assert (filled ^ null).all()  # exactly one of TSVAL, TSVALNF
    assert dict(zip(ts.loc[null, "TSPARMCD"], ts.loc[null, "TSVALNF"])) == {
        "AGEMAX": "PINF", "COMPTRT": "NA", "CURTRT": "NA", "LENGTH": "UNK", "PLANSUB": "UNK",
        "REGID": "UNK", "SENDTC": "NAV", "SPONSOR": "UNK"}
    # a code has its terminology, and a version except for ISO standards
    coded = ts["TSVALCD"].ne("")
    assert ts.loc[coded, "TSVCDREF"].isin(["CDISC CT", "SNOMED"]).all()
    assert ts.loc[coded, "TSVCDVER"].ne("").all()
    assert (ts["TSVAL"].str.len() <= 200).all()


def test_ts_codes_and_versions_agree_with_codelists_and_conformance(sdtm):
    ts = sdtm["TS"]
    standards = load_conformance(SPECS).standards
    ct = ts[ts["TSVCDREF"] == "CDISC CT"]
    assert set(ct["TSVCDVER"]) == {standards.ct}
    assert _ts(sdtm)["SDTIGVER"][0]["TSVAL"] == standards.sdtmig
    nci = {(codelist, term.value): term.nci for codelist in ("NY", "EXROUTE", "EXDOSFRM",
                                                             "EXDOSFRQ", "UNIT")
           for term in CODELISTS[codelist].terms if getattr(term, "nci", None)}
    by_parameter = {"ADDON": "NY", "RANDOM": "NY", "ADAPT": "NY", "EXTTIND": "NY",
                    "HLTSUBJI": "NY", "ROUTE": "EXROUTE", "DOSFRM": "EXDOSFRM",
                    "DOSFRQ": "EXDOSFRQ", "DOSU": "UNIT"}
    for rec in ct.to_dict("records"):
        codelist = by_parameter.get(rec["TSPARMCD"])
        if codelist is not None and (codelist, rec["TSVAL"]) in nci:
            assert rec["TSVALCD"] == nci[codelist, rec["TSVAL"]], rec["TSPARMCD"]
    # the dosing terms are those of EX
    ex = sdtm["EX"]
    values = {rec["TSPARMCD"]: rec["TSVAL"] for rec in ts.to_dict("records")}
    assert (values["ROUTE"], values["DOSFRM"], values["DOSU"], values["DOSFRQ"]) == (
        ex["EXROUTE"][0], ex["EXDOSFRM"][0], ex["EXDOSU"][0], ex["EXDOSFRQ"][0])
    assert set(sdtm["DM"]["COUNTRY"]) == {values["FCNTRY"]}


def test_ta_te_and_the_arm_of_dm(sdtm):
    ta, te, dm = sdtm["TA"], sdtm["TE"], sdtm["DM"]
    assert ta[["TAETORD", "ETCD", "ELEMENT", "EPOCH"]].values.tolist() == [
        [1.0, "SCRN", "Screening", "SCREENING"],
        [2.0, "HETROM", "Hetrombopag", "TREATMENT"],
        [3.0, "FU", "Follow-up", "FOLLOW-UP"]]
    assert set(zip(ta["ARMCD"], ta["ARM"])) == set(zip(dm["ARMCD"], dm["ARM"])) == {
        ("HETROM", "Hetrombopag")}
    assert sorted(te["ETCD"]) == sorted(ta["ETCD"]) and te["TESTRL"].ne("").all()
    assert list(sdtm["TI"]["IETESTCD"]) == ["INCL01", "INCL02", "INCL03"]
    assert set(sdtm["TI"]["IECAT"]) == {"INCLUSION"}


def test_tv_visits_are_the_codelist_and_the_sap_target_days(sdtm):
    tv = sdtm["TV"]
    nums = {t.value: t.num for t in CODELISTS["VISIT"].terms if t.num is not None}
    assert dict(zip(tv["VISIT"], tv["VISITNUM"])) == nums  # every planned visit, UNSCHEDULED out
    targets = {w.avisit.upper(): w.target for w in STUDY.analysis_windows.windows}
    days = dict(zip(tv["VISIT"], tv["VISITDY"]))
    assert {visit: days[visit] for visit in targets} == targets
    assert days["DAY 1"] == 1 and np.isnan(days["SCREENING"])
    assert days["WEEK 6"] == 43 and days["MONTH 24"] == 732  # 7 * 6 + 1; floor(30.4375*24+0.5)+1


def _subject(frame: pd.DataFrame, subjid: str) -> pd.DataFrame:
    return frame[frame["USUBJID"] == SUBJ + subjid]


def test_se_by_hand(sdtm):
    se = sdtm["SE"]
    columns = ["SESEQ", "ETCD", "EPOCH", "TAETORD", "SESTDTC", "SEENDTC", "SESTDY", "SEENDY"]
    # 01-001: consent 03 NOV 2023, first dose 14 NOV 2023, still dosed at the cut-off
    assert _subject(se, "01-001")[columns].values.tolist() == [
        [1, "SCRN", "SCREENING", 1, "2023-11-03", "2023-11-14", -11, 1],
        [2, "HETROM", "TREATMENT", 2, "2023-11-14", "2025-04-14", 1, 518]]
    # 05-012: consent 04 SEP 2023, doses 16 SEP 2023 - 17 MAY 2024, then 0 mg until the
    # disposition (PHYSICIAN DECISION) on 06 JUL 2024: a follow-up element
    assert _subject(se, "05-012")[columns].values.tolist() == [
        [1, "SCRN", "SCREENING", 1, "2023-09-04", "2023-09-16", -12, 1],
        [2, "HETROM", "TREATMENT", 2, "2023-09-16", "2024-05-17", 1, 245],
        [3, "FU", "FOLLOW-UP", 3, "2024-05-17", "2024-07-06", 245, 295]]
    # 03-001: consent and first dose on 16 JUN 2023: a screening element of one day
    assert _subject(se, "03-001")[["ETCD", "SESTDTC", "SEENDTC"]].values.tolist()[0] == [
        "SCRN", "2023-06-16", "2023-06-16"]
    assert len(se) == 2 * 167 + 1  # every subject dosed; one follow-up
    assert list(se.loc[se["ETCD"] == "FU", "USUBJID"]) == [SUBJ + "05-012"]


def test_epoch_in_the_shipped_domains_by_hand(sdtm):
    ex = _subject(sdtm["EX"], "05-012")
    assert list(ex["EPOCH"]) == ["TREATMENT"] * 5 + ["FOLLOW-UP"]  # the 0 mg period after the last dose
    ae = _subject(sdtm["AE"], "01-006")  # consent 03 AUG 2024, first dose 13 AUG 2024
    assert ae[["AESTDTC", "EPOCH"]].values.tolist() == [
        ["2024-08", ""],                 # UN AUG 2024: before consent or screening or treatment
        ["2024-10-06", "TREATMENT"],
        ["2024-11", "TREATMENT"]]        # UN NOV 2024: all of November is treatment
    lb = _subject(sdtm["LB"], "01-002")  # consent 29 AUG 2023, first dose 07 SEP 2023
    screening = lb[lb["VISIT"] == "SCREENING"].sort_values("LBDTC")
    assert screening[["LBDTC", "EPOCH"]].values.tolist() == [
        ["2023-08-27T07:56", ""],        # platelets before the informed consent
        ["2023-08-30T08:12", "SCREENING"], ["2023-08-30T10:21", "SCREENING"],
        ["2023-08-30T11:08", "SCREENING"]]
    assert set(lb.loc[lb["VISIT"] == "DAY 1", "EPOCH"]) == {"TREATMENT"}
    rs = _subject(sdtm["RS"], "01-002")
    assert rs[["RSDTC", "EPOCH"]].values.tolist()[:2] == [["2023-08-26", ""], ["2023-09-07", "TREATMENT"]]
    ds = _subject(sdtm["DS"], "01-006")
    assert ds[["DSDECOD", "EPOCH"]].values.tolist() == [
        ["INFORMED CONSENT OBTAINED", "SCREENING"], ["TAPERED AND DISCONTINUED", "TREATMENT"]]
    epochs = set(sdtm["TA"]["EPOCH"]) | {""}
    for name in ("AE", "CM", "DS", "EX", "LB", "RS", "SV"):
        assert set(sdtm[name]["EPOCH"]) <= epochs, name
    assert "EPOCH" not in sdtm["DM"] and "EPOCH" not in sdtm["MH"]


def test_sv_by_hand(sdtm):
    sv = _subject(sdtm["SV"], "01-001")
    columns = ["VISITNUM", "VISIT", "VISITDY", "EPOCH", "SVSTDTC", "SVENDTC", "SVSTDY", "SVENDY"]
    first = sv[columns].values.tolist()[:2]
    # SCREENING: 4 labs on 08 NOV 2023, the bleeding grade on 10 NOV 2023; consent 03 NOV 2023
    assert first[0][:2] == [-1, "SCREENING"] and np.isnan(first[0][2])
    assert first[0][3:] == ["SCREENING", "2023-11-08", "2023-11-10", -6, -4]
    assert first[1] == [0, "DAY 1", 1, "TREATMENT", "2023-11-14", "2023-11-14", 1, 1]
    pre = _subject(sdtm["SV"], "01-002")
    assert pre[["VISIT", "SVSTDTC", "SVENDTC", "EPOCH"]].values.tolist()[0] == [
        "SCREENING", "2023-08-26", "2023-08-30", ""]  # starts before the consent (29 AUG 2023)
    lb, rs = sdtm["LB"], sdtm["RS"]
    visits = pd.concat([lb[["USUBJID", "VISITNUM"]], rs[["USUBJID", "VISITNUM"]]]).drop_duplicates()
    assert len(sdtm["SV"]) == len(visits)  # one record per subject and visit of LB and RS
    unscheduled = sdtm["SV"][sdtm["SV"]["VISIT"] == "UNSCHEDULED"]
    assert unscheduled["VISITDY"].isna().all() and len(unscheduled) > 0


def test_trial_design_specs_are_literal_and_load_with_their_lines():
    for name in ("ts", "ta", "te", "tv", "ti"):
        text = (SPECS / "sdtm" / f"{name}.yaml").read_text(encoding="utf-8")
        assert yaml.safe_load(text)["rows"], name
    spec = load_dataset_spec(SPECS / "sdtm" / "ts.yaml", LAYOUT, CODELISTS, study=STUDY)
    text = (SPECS / "sdtm" / "ts.yaml").read_text(encoding="utf-8").splitlines()
    line = spec.line_of("rows", 0, "TSPARMCD")
    assert "TSPARMCD: TITLE" in text[line - 1]
    assert textwrap.dedent(text[line - 1]).startswith("- {TSPARMCD: TITLE")
