"""A study that starts from SDTM (``inputs: {sdtm: ...}``, ``itp-adam run --sdtm DIR``).

A toy study written here, with no ITP parameter at all: three SDTM domains (DM, EX, AE; five
subjects, values chosen by hand, partial dates included) and a spec folder (study.yaml,
adam/adsl.yaml, adam/adae.yaml, one plug-in derivation). The expected ADaM values are worked
out by hand in the comments of ``EXPECTED_*``. Bad input goes through ``main``: exit 2 and a
message naming file, record and variable.
"""

from __future__ import annotations

import json
import textwrap
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from itp_adam.cli import main

STUDY = "TOY-01"
DM = pd.DataFrame({
    "STUDYID": [STUDY] * 5,
    "DOMAIN": ["DM"] * 5,
    "USUBJID": [f"TOY-01-00{i}" for i in range(1, 6)],
    "AGE": [34.0, 70.0, 51.0, 65.0, 80.0],
    "RFSTDTC": ["2024-01-10", "2024-02-01", "2024-03-05", "2024-01-20", ""],
})
EX = pd.DataFrame({
    "STUDYID": [STUDY] * 5,
    "DOMAIN": ["EX"] * 5,
    "USUBJID": ["TOY-01-001", "TOY-01-001", "TOY-01-002", "TOY-01-003", "TOY-01-004"],
    "EXSEQ": [1.0, 2.0, 1.0, 1.0, 1.0],
    "EXDOSE": [50.0, 75.0, 50.0, 25.0, 50.0],
    "EXSTDTC": ["2024-01-10", "2024-02-10", "2024-02-01", "2024-03-05", "2024-01-20"],
    "EXENDTC": ["2024-02-09", "2024-03-10", "2024-02-29", "2024-04-04", "2024-01-31"],
})
AE = pd.DataFrame({
    "STUDYID": [STUDY] * 7,
    "DOMAIN": ["AE"] * 7,
    "USUBJID": ["TOY-01-001", "TOY-01-001", "TOY-01-002", "TOY-01-003", "TOY-01-004",
                "TOY-01-004", "TOY-01-005"],
    "AESEQ": [1.0, 2.0, 1.0, 1.0, 1.0, 2.0, 1.0],
    "AETERM": ["HEADACHE", "NAUSEA", "RASH", "FATIGUE", "COUGH", "FEVER", "DIZZINESS"],
    "AESTDTC": ["2024-01-15", "2024-03-16", "2024-01", "2024-04-12T08:30", "2024",
                "2024-02-07", "2024-05-01"],
})
LABELS = {"STUDYID": "Study Identifier", "DOMAIN": "Domain Abbreviation",
          "USUBJID": "Unique Subject Identifier", "AGE": "Age", "RFSTDTC": "Subject Reference Start",
          "EXSEQ": "Sequence Number", "EXDOSE": "Dose", "EXSTDTC": "Start Date/Time of Treatment",
          "EXENDTC": "End Date/Time of Treatment", "AESEQ": "Sequence Number",
          "AETERM": "Reported Term for the Adverse Event", "AESTDTC": "Start Date/Time of AE"}

# ADSL, by hand: TRTSDT = first EXSTDTC, TRTEDT = last EXENDTC of the subject (005: no EX);
# AGEGR1 by the plug-in with the study's own parameter age_groups.cut = 65 (65 is ">=65").
EXPECTED_ADSL = {
    "USUBJID": [f"TOY-01-00{i}" for i in range(1, 6)],
    "AGEGR1": ["<65", ">=65", "<65", ">=65", ">=65"],
    "TRTSDT": ["2024-01-10", "2024-02-01", "2024-03-05", "2024-01-20", None],
    "TRTEDT": ["2024-03-10", "2024-02-29", "2024-04-04", "2024-01-31", None],
}
# ADAE, by hand: ASTDT = AESTDTC, a missing day -> the 1st (ASTDTF D), missing month and day ->
# 01 JAN (ASTDTF M); TRTEMFL = Y when TRTSDT <= ASTDT <= TRTEDT + 7 (ae_window_days).
#   001/1 2024-01-15: in [01-10, 03-17] -> Y     001/2 2024-03-16: <= 03-17 -> Y
#   002/1 2024-01 -> 2024-01-01 (D): before 02-01 -> ""
#   003/1 2024-04-12T08:30 -> 2024-04-12: after 04-04 + 7 = 04-11 -> ""
#   004/1 2024 -> 2024-01-01 (M): before 01-20 -> ""   004/2 2024-02-07 = 01-31 + 7 -> Y
#   005/1 no treatment start -> ""
EXPECTED_ADAE = pd.DataFrame({
    "USUBJID": AE["USUBJID"], "AESEQ": AE["AESEQ"],
    "ASTDT": ["2024-01-15", "2024-03-16", "2024-01-01", "2024-04-12", "2024-01-01", "2024-02-07",
              "2024-05-01"],
    "ASTDTF": ["", "", "D", "", "M", "", ""],
    "TRTEMFL": ["Y", "Y", "", "", "", "Y", ""],
})

STUDY_YAML = f"""\
# A toy study that starts from SDTM: no raw.yaml, no sdtm/ specs, no ITP parameter.
study_id: {STUDY}
reference_start:
  rule: dm_rfstdtc
  description: DM.RFSTDTC as delivered.
inputs:
  sdtm:
    domains: [DM, EX, AE]
plugins: [plugins.py]
# the study's own parameters, of any shape
ae_window_days: 7
age_groups:
  cut: 65
  labels: ["<65", ">=65"]
"""

PLUGIN = '''\
import numpy as np
import pandas as pd

from itp_adam.spec.registry import derivation


@derivation("toy_age_group")
def toy_age_group(df: pd.DataFrame, age: str, cut: float, labels: list) -> pd.Series:
    """labels[0] below the cut, labels[1] from it on."""
    return pd.Series(np.where(df[age] < cut, labels[0], labels[1]), index=df.index)
'''

ADSL_YAML = """\
name: ADSL
label: Subject-Level Analysis Dataset
class: SUBJECT LEVEL ANALYSIS DATASET
structure: One record per subject
keys: [STUDYID, USUBJID]
sort: [STUDYID, USUBJID]
input: {dataset: DM}
steps:
  - id: first
    derivation: derive_vars_merged
    args:
      dataset_add: {dataset: EX}
      by_vars: [USUBJID]
      order: [EXSTDTC, EXSEQ]
      mode: first
      new_vars: {TRTSDTC: EXSTDTC}
  - id: last
    derivation: derive_vars_merged
    args:
      dataset_add: {dataset: EX}
      by_vars: [USUBJID]
      order: [EXENDTC, EXSEQ]
      mode: last
      new_vars: {TRTEDTC: EXENDTC}
  - id: trtsdt
    derivation: derive_vars_dt
    args: {new_vars_prefix: TRTS, dtc: TRTSDTC, flag_imputation: false}
  - id: trtedt
    derivation: derive_vars_dt
    args: {new_vars_prefix: TRTE, dtc: TRTEDTC, flag_imputation: false}
variables:
  - {name: STUDYID, label: Study Identifier, type: Char, role: Identifier, origin: Predecessor, source: {from: DM.STUDYID}}
  - {name: USUBJID, label: Unique Subject Identifier, type: Char, role: Identifier, origin: Predecessor, source: {from: DM.USUBJID}}
  - {name: AGE, label: Age, type: Num, role: Record Qualifier, origin: Predecessor, source: {from: DM.AGE}}
  - name: AGEGR1
    label: Pooled Age Group 1
    type: Char
    role: Record Qualifier
    origin: Derived
    source:
      derivation: toy_age_group
      args: {age: AGE, cut: {study: age_groups.cut}, labels: {study: age_groups.labels}}
  - {name: TRTSDT, label: Date of First Exposure to Treatment, type: Num, format: DATE9., role: Timing, origin: Derived, source: {step: trtsdt}}
  - {name: TRTEDT, label: Date of Last Exposure to Treatment, type: Num, format: DATE9., role: Timing, origin: Derived, source: {step: trtedt}}
"""

ADAE_YAML = """\
name: ADAE
label: Adverse Events Analysis Dataset
class: OCCURRENCE DATA STRUCTURE
structure: One record per adverse event record
keys: [STUDYID, USUBJID, AESEQ]
sort: [STUDYID, USUBJID, AESEQ]
input: {dataset: AE}
steps:
  - id: astdt
    derivation: derive_vars_dt
    args: {new_vars_prefix: AST, dtc: AESTDTC, date_imputation: first, day_imputation: first}
  - id: trtemfl
    derivation: derive_var_trtemfl
    args:
      start_date: ASTDT
      trt_start: TRTSDT
      trt_end: TRTEDT
      end_window_days: {study: ae_window_days}
      new_var: TRTEMFL
variables:
  - {name: STUDYID, label: Study Identifier, type: Char, role: Identifier, origin: Predecessor, source: {from: AE.STUDYID}}
  - {name: USUBJID, label: Unique Subject Identifier, type: Char, role: Identifier, origin: Predecessor, source: {from: AE.USUBJID}}
  - {name: AESEQ, label: Sequence Number, type: Num, role: Identifier, origin: Predecessor, source: {from: AE.AESEQ}}
  - {name: AETERM, label: Reported Term for the Adverse Event, type: Char, role: Topic, origin: Predecessor, source: {from: AE.AETERM}}
  - {name: TRTSDT, label: Date of First Exposure to Treatment, type: Num, format: DATE9., role: Timing, origin: Predecessor, source: {from: ADSL.TRTSDT}}
  - {name: TRTEDT, label: Date of Last Exposure to Treatment, type: Num, format: DATE9., role: Timing, origin: Predecessor, source: {from: ADSL.TRTEDT}}
  - {name: ASTDT, label: Analysis Start Date, type: Num, format: DATE9., role: Timing, origin: Derived, source: {step: astdt}}
  - {name: ASTDTF, label: Analysis Start Date Imputation Flag, type: Char, role: Timing, origin: Derived, source: {step: astdt}}
  - {name: TRTEMFL, label: Treatment Emergent Analysis Flag, type: Char, role: Record Qualifier, origin: Derived, source: {step: trtemfl}}
  - {name: SRCDOM, label: Source Data, type: Char, role: Record Qualifier, origin: Assigned, source: {constant: AE}}
  - {name: SRCSEQ, label: Source Sequence Number, type: Num, role: Record Qualifier, origin: Predecessor, source: {from: AE.AESEQ}}
"""


def write_specs(folder: Path, study_yaml: str = STUDY_YAML, adae_yaml: str = ADAE_YAML) -> Path:
    (folder / "adam").mkdir(parents=True)
    (folder / "study.yaml").write_text(study_yaml, encoding="utf-8")
    (folder / "plugins.py").write_text(PLUGIN, encoding="utf-8")
    (folder / "adam" / "adsl.yaml").write_text(ADSL_YAML, encoding="utf-8")
    (folder / "adam" / "adae.yaml").write_text(adae_yaml, encoding="utf-8")
    return folder


def write_xpt(frame: pd.DataFrame, path: Path, version: int = 5) -> None:
    pyreadstat.write_xport(frame, str(path), file_format_version=version,
                           table_name=path.stem.upper(),
                           column_labels=[LABELS[c] for c in frame.columns])


def write_sdtm(folder: Path, layout: str = "xpt", ae: pd.DataFrame = AE,
               dm: pd.DataFrame = DM) -> Path:
    """DM, EX and AE: all XPT v5 (``xpt``), or DM CSV, EX Parquet, AE XPT v8 (``mixed``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "xpt":
        write_xpt(dm, folder / "dm.xpt")
        write_xpt(EX, folder / "ex.xpt")
        write_xpt(ae, folder / "ae.xpt")
    else:
        dm.to_csv(folder / "DM.csv", index=False)
        EX.to_parquet(folder / "Ex.parquet", index=False)
        write_xpt(ae, folder / "AE.XPT", version=8)
    return folder


def run(tmp_path: Path, sdtm: Path, specs: Path | None = None, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    specs = specs or write_specs(tmp_path / "specs")
    code = main(["run", "--specs", str(specs), "--sdtm", str(sdtm), "--allow-plugins",
                 "--out", str(out), "--quiet", *extra])
    return code, out


def dates(values: pd.Series) -> list:
    """SAS day numbers -> ISO text (None for missing)."""
    as_dates = pd.to_datetime(values, unit="D", origin="1960-01-01")
    return [None if pd.isna(d) else d.strftime("%Y-%m-%d") for d in as_dates]


def assert_toy_adam(out: Path) -> None:
    """ADSL and ADAE of the toy study are the ones worked out by hand."""
    adsl, meta = pyreadstat.read_xport(str(out / "adam" / "adsl.xpt"), disable_datetime_conversion=True)
    assert adsl["USUBJID"].tolist() == EXPECTED_ADSL["USUBJID"]
    assert adsl["AGEGR1"].tolist() == EXPECTED_ADSL["AGEGR1"]
    assert adsl["AGE"].tolist() == [34.0, 70.0, 51.0, 65.0, 80.0]
    assert dates(adsl["TRTSDT"]) == EXPECTED_ADSL["TRTSDT"]
    assert dates(adsl["TRTEDT"]) == EXPECTED_ADSL["TRTEDT"]
    assert meta.column_names_to_labels["AGEGR1"] == "Pooled Age Group 1"

    adae, _ = pyreadstat.read_xport(str(out / "adam" / "adae.xpt"), disable_datetime_conversion=True)
    assert adae["USUBJID"].tolist() == EXPECTED_ADAE["USUBJID"].tolist()
    assert adae["AESEQ"].tolist() == EXPECTED_ADAE["AESEQ"].tolist()
    assert dates(adae["ASTDT"]) == EXPECTED_ADAE["ASTDT"].tolist()
    assert adae["ASTDTF"].tolist() == EXPECTED_ADAE["ASTDTF"].tolist()
    assert adae["TRTEMFL"].tolist() == EXPECTED_ADAE["TRTEMFL"].tolist()
    assert set(adae["SRCDOM"]) == {"AE"}
    assert adae["SRCSEQ"].tolist() == AE["AESEQ"].tolist()


@pytest.mark.parametrize("layout", ["xpt", "mixed"])
def test_adam_from_sdtm_input(tmp_path: Path, layout: str) -> None:
    sdtm = write_sdtm(tmp_path / "sdtm", layout)
    code, out = run(tmp_path, sdtm)
    assert code == 0
    assert_toy_adam(out)

    # no SDTM written (the input is the source), no results stage; define, issues, run.json
    assert not (out / "sdtm").exists() and not (out / "results").exists()
    assert (out / "define" / "define-adam.xml").is_file()
    assert not (out / "define" / "define-sdtm.xml").exists()
    assert (out / "data-issues.csv").is_file()
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert info["sdtm"] == str(sdtm.absolute()) and "raw" not in info
    assert sorted(Path(p).name.lower() for p in info["inputs"]) == sorted(
        p.name.lower() for p in sdtm.iterdir())
    assert all(len(digest) == 64 for digest in info["inputs"].values())
    assert set(info["rows"]) == {"ADSL", "ADAE"}


def test_a_date_with_a_component_not_known_is_read(tmp_path: Path) -> None:
    """SDTMIG writes a month not known between a known year and day as a hyphen: 004's first
    AE started 2024---07. The input is accepted (it was 'not ISO 8601', exit 2) and imputed as
    the year 2024 is (EXPECTED_ADAE: 2024-01-01, ASTDTF M)."""
    ae = AE.assign(AESTDTC=AE["AESTDTC"].replace("2024", "2024---07"))
    code, out = run(tmp_path, write_sdtm(tmp_path / "sdtm", ae=ae))
    assert code == 0
    assert ae["AESTDTC"].tolist()[4] == "2024---07"
    assert_toy_adam(out)


def test_a_domain_split_into_datasets_is_read_as_one(tmp_path: Path, capsys) -> None:
    """SDTMIG 4.1.7: a large domain may be split into datasets named by the domain and two
    characters, each with DOMAIN = the domain. AE as aexa.xpt (records 1-4) and aexb.csv
    (records 5-7, with a variable AESPID the other lacks) is read as AE: the toy ADaM is the
    one worked out by hand, and run.json lists both files. It was 'SDTM domain AE not found'.
    A split whose DOMAIN is another code, or whose variable has the other type, is bad input;
    a domain with a file of its own reads that file, and names a split beside it as not read."""
    folder, specs = write_sdtm(tmp_path / "sdtm"), write_specs(tmp_path / "specs")
    (folder / "ae.xpt").unlink()
    write_xpt(AE.iloc[:4], folder / "aexa.xpt")
    AE.iloc[4:].assign(AESPID=["S1", "S2", "S3"]).to_csv(folder / "aexb.csv", index=False)
    code, out = run(tmp_path, folder, specs)
    assert code == 0
    assert_toy_adam(out)
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert sorted(Path(p).name for p in info["inputs"]) == ["aexa.xpt", "aexb.csv", "dm.xpt", "ex.xpt"]
    bad = {"row 2, column DOMAIN: a split dataset of AE (1 record(s) with another DOMAIN): "
           "found 'XX'; expected DOMAIN = AE in every record (SDTMIG 4.1.7)":
           AE.iloc[4:].assign(DOMAIN=["AE", "XX", "AE"]),
           "column AESEQ: variable AESEQ is Num in aexa.xpt and Char here; expected one type "
           "per variable across the split datasets of AE": AE.iloc[4:].assign(AESEQ=["1", "2", "x"])}
    for message, split in bad.items():
        split.to_csv(folder / "aexb.csv", index=False)
        assert run(tmp_path, folder, specs)[0] == 2
        assert _error(capsys) == f"itp-adam: error: {folder / 'aexb.csv'}, {message}\n"
    write_xpt(AE, folder / "ae.xpt")
    code, out = run(tmp_path, folder, specs)
    assert code == 0
    assert_toy_adam(out)
    log = pd.read_csv(out / "data-issues.csv", dtype=str, keep_default_na=False)
    assert sorted(log.loc[log["rule"].str.contains("not read"), "value"]) == ["aexa.xpt", "aexb.csv"]


def test_run_json_names_every_input_file_by_its_absolute_path(tmp_path: Path, monkeypatch) -> None:
    """run.json's inputs: each file by its absolute path, as its 'sdtm' and 'specs' folders are,
    also for a relative --sdtm (the names were relative then, a zip's members absolute)."""
    import hashlib

    write_sdtm(tmp_path / "sdtm")
    write_specs(tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--specs", "specs", "--sdtm", "sdtm", "--allow-plugins", "--out", "out",
                 "--quiet"]) == 0
    info = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert info["sdtm"] == str(tmp_path / "sdtm")
    assert info["inputs"] == {str(tmp_path / "sdtm" / name): hashlib.sha256(
        (tmp_path / "sdtm" / name).read_bytes()).hexdigest() for name in ("ae.xpt", "dm.xpt", "ex.xpt")}


def test_records_of_a_subject_not_in_dm_are_left_out_and_reported(tmp_path: Path) -> None:
    """An AE record of a subject DM does not have (SDTMIG: every subject is in DM) is left out
    of ADaM with a warning naming the domain, its record number and the subject, as the raw
    rules leave out a form's row; the toy ADaM is then the one worked out by hand, in one
    partition and in two."""
    orphan = AE.iloc[[0]].assign(USUBJID="TOY-09-999", AESEQ=1.0)
    ae = pd.concat([AE.iloc[:2], orphan, AE.iloc[2:]], ignore_index=True)  # record 3
    sdtm, specs = write_sdtm(tmp_path / "sdtm", ae=ae), write_specs(tmp_path / "specs")
    for extra in ([], ["--partitions", "2"]):
        code, out = run(tmp_path, sdtm, specs, *extra)
        assert code == 0
        assert_toy_adam(out)
        log = pd.read_csv(out / "data-issues.csv", dtype=str, keep_default_na=False)
        left = log[log["rule"] == "subject not in DM: record left out of ADaM"]
        assert left[["severity", "form", "SUBJID", "row", "column", "value"]].values.tolist() == [
            ["warning", "AE", "TOY-09-999", "3", "USUBJID", "TOY-09-999"]]


def test_two_dm_records_of_one_subject_are_bad_input(tmp_path: Path, capsys) -> None:
    dm = pd.concat([DM, DM.iloc[[1]]], ignore_index=True)  # record 6 repeats record 2's subject
    code, out = run(tmp_path, write_sdtm(tmp_path / "sdtm", dm=dm))
    assert code == 2 and not out.exists()
    assert _error(capsys) == (
        f"itp-adam: error: {tmp_path / 'sdtm' / 'dm.xpt'}, row 6, column USUBJID: a second "
        "record of the subject (its first: row 2): found 'TOY-01-002'; expected one record per "
        "subject in DM (SDTMIG)\n")


def test_a_variable_the_specs_copy_missing_from_the_input_is_named(tmp_path: Path, capsys) -> None:
    # was "from AE.AETERM: not (yet) made; a variable can copy only variables above it or of
    # the input dataset", as if the spec were wrong; line 24 of ADAE_YAML is AETERM's entry
    code, _ = run(tmp_path, write_sdtm(tmp_path / "sdtm", ae=AE.drop(columns="AETERM")))
    assert code == 2
    specs = tmp_path / "specs" / "adam" / "adae.yaml"
    assert _error(capsys) == (
        f"itp-adam: error: {specs}, line 24: dataset ADAE, variable AETERM: from AE.AETERM: "
        "dataset AE has no variable AETERM (it has STUDYID, DOMAIN, USUBJID, AESEQ, AESTDTC)\n")


def test_a_number_held_as_text_in_the_input(tmp_path: Path, capsys) -> None:
    """DM's AGE written as text by another tool: a blank is a missing age (as SAS reads one;
    it stopped the run before), numbers are numbers, and a value that is not a number is named
    with its subject and counted (the message gave a 0-based position only)."""
    specs = write_specs(tmp_path / "specs")
    ages = DM.assign(AGE=["34", "70", "", "65", "80"])
    code, out = run(tmp_path, write_sdtm(tmp_path / "blank", dm=ages), specs)
    assert code == 0
    adsl, _ = pyreadstat.read_xport(str(out / "adam" / "adsl.xpt"))
    assert adsl["AGE"].tolist()[:2] + adsl["AGE"].tolist()[3:] == [34.0, 70.0, 65.0, 80.0]
    assert np.isnan(adsl["AGE"].iloc[2])
    code, _ = run(tmp_path, write_sdtm(tmp_path / "bad", dm=ages.assign(AGE=["34", "70", "", "65", "8O"])),
                  specs)
    assert code == 2
    assert _error(capsys).endswith(
        "dataset ADSL, variable AGE: type Num, but 1 value(s) are not numbers: '8O' (USUBJID "
        "TOY-01-005)\n")


def test_numbers_put_into_a_char_variable_read_as_sas_and_r_write_them(tmp_path: Path) -> None:
    """A Char variable whose source is a number (AGEC from DM.AGE of a Parquet file) holds
    the number as SAS's BEST. and R's as.character write it: 34, 70.5, 65 (by hand); a
    missing age is blank. It held Python's text, '34.0', and -0.0 gave '-0'."""
    sdtm = write_sdtm(tmp_path / "sdtm", "mixed")
    DM.assign(AGE=[34.0, 70.5, np.nan, -0.0, 80.0]).to_parquet(sdtm / "dm.parquet", index=False)
    (sdtm / "DM.csv").unlink()
    specs = write_specs(tmp_path / "specs")
    adsl = specs / "adam" / "adsl.yaml"
    adsl.write_text(adsl.read_text(encoding="utf-8") + "  - {name: AGEC, label: Age as text, "
                    "type: Char, role: Record Qualifier, origin: Predecessor, "
                    "source: {from: DM.AGE}}\n", encoding="utf-8")
    code, out = run(tmp_path, sdtm, specs)
    assert code == 0
    frame, _ = pyreadstat.read_xport(str(out / "adam" / "adsl.xpt"))
    assert frame["AGEC"].tolist() == ["34", "70.5", "", "0", "80"]


def test_reader_types_and_labels(tmp_path: Path) -> None:
    """Char as str with "" missing, Num as float; labels from XPT; CSV numbers inferred."""
    from itp_adam.io.sdtm import read_sdtm

    data = read_sdtm(write_sdtm(tmp_path / "mixed", "mixed"), ["DM", "EX", "AE"])
    dm, ex, ae = (data.datasets[d] for d in ("DM", "EX", "AE"))
    assert dm["RFSTDTC"].tolist()[-1] == "" and dm["RFSTDTC"].dtype == "str"
    assert dm["AGE"].dtype == np.float64 and data.variables["DM"]["AGE"].type == "Num"
    assert data.variables["DM"]["USUBJID"].type == "Char"
    assert ex["EXDOSE"].tolist() == [50.0, 75.0, 50.0, 25.0, 50.0]
    assert data.variables["AE"]["AESTDTC"].label == "Start Date/Time of AE"
    assert ae["AESTDTC"].tolist() == AE["AESTDTC"].tolist()



@pytest.mark.parametrize("layout", ["xpt", "mixed"])
def test_read_into_the_store_gives_the_same_domains(tmp_path: Path, monkeypatch, layout: str) -> None:
    """A large input is read into files a stretch of records at a time (here 2) and mapped
    back: the same frames, labels and variables as read in memory; its numbers are
    read-only views of the files (so the store is really used)."""
    from itp_adam.io import sdtm
    from itp_adam.io.raw import Spill

    monkeypatch.setattr(sdtm, "STRETCH_ROWS", 2)
    folder = write_sdtm(tmp_path / "in", layout)
    whole = sdtm.read_sdtm(folder, ["DM", "EX", "AE"])
    spilled = sdtm.read_sdtm(folder, ["DM", "EX", "AE"], Spill(tmp_path / "store"))
    for domain in ("DM", "EX", "AE"):
        pd.testing.assert_frame_equal(spilled.datasets[domain], whole.datasets[domain])
    assert spilled.labels == whole.labels and spilled.variables == whole.variables
    assert not spilled.datasets["EX"]["EXDOSE"].to_numpy().flags.writeable
    assert whole.datasets["EX"]["EXDOSE"].tolist() == EX["EXDOSE"].tolist()
    assert len(list((tmp_path / "store").iterdir())) > 3


def _lower(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=str.lower)


@pytest.mark.parametrize("spilled", [False, True])
def test_variable_names_in_lower_case_are_the_same_variables(tmp_path: Path, monkeypatch,
                                                             spilled: bool) -> None:
    """SAS names are case-insensitive: a CSV, Parquet and XPT v8 file written by another tool
    with lower-case names (usubjid, exdose) read as the upper-case file would be; a site id of
    digits in a lower-case CSV column (siteid) stays text, as SITEID does; the toy ADaM built
    from the lower-case folder is the one worked out by hand. Two names differing only in
    case are refused."""
    from itp_adam.errors import InputErrors
    from itp_adam.io import sdtm
    from itp_adam.io.raw import Spill

    monkeypatch.setattr(sdtm, "STRETCH_ROWS", 2)
    spill = Spill(tmp_path / "store") if spilled else None
    upper = write_sdtm(tmp_path / "upper", "mixed", dm=DM.assign(SITEID=["01", "01", "02", "02", "03"]))
    lower = tmp_path / "lower"
    lower.mkdir()
    _lower(DM.assign(SITEID=["01", "01", "02", "02", "03"])).to_csv(lower / "dm.csv", index=False)
    _lower(EX).to_parquet(lower / "ex.parquet", index=False)
    pyreadstat.write_xport(_lower(AE), str(lower / "ae.xpt"), file_format_version=8,
                           table_name="AE", column_labels=[LABELS[c] for c in AE.columns])
    want = sdtm.read_sdtm(upper, ["DM", "EX", "AE"])
    got = sdtm.read_sdtm(lower, ["DM", "EX", "AE"], spill)
    for domain in ("DM", "EX", "AE"):
        pd.testing.assert_frame_equal(got.datasets[domain], want.datasets[domain])
    assert got.variables == want.variables
    assert got.datasets["DM"]["SITEID"].tolist() == ["01", "01", "02", "02", "03"]
    code, out = run(tmp_path, lower)
    assert code == 0
    assert_toy_adam(out)
    DM.assign(usubjid=DM["USUBJID"]).to_csv(lower / "dm.csv", index=False)
    with pytest.raises(InputErrors) as raised:
        sdtm.read_sdtm(lower, ["DM", "EX", "AE"], spill)
    assert str(raised.value) == (
        f"{lower / 'dm.csv'}, column USUBJID: two variables whose names differ only in case: "
        "USUBJID and usubjid; expected one variable per name (SAS names are case-insensitive)")


def write_r_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as R's ``write.csv(frame, row.names = FALSE)`` writes it (written out here, not
    by the reader's library): names and strings quoted, numbers bare (34, 7.5), a missing value
    (R's NA: None or NaN here) as a bare NA."""
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "NA"
        return '"' + value.replace('"', '""') + '"' if isinstance(value, str) else f"{value:g}"

    lines = [",".join(f'"{name}"' for name in frame.columns)]
    lines += [",".join(cell(value) for value in row) for row in frame.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("spilled", [False, True])
def test_csv_written_by_r_reads_as_its_sas_file(tmp_path: Path, monkeypatch, spilled: bool) -> None:
    """SDTM written by R as CSV: a missing value is a bare NA, for text (sdtm.oak's
    NA_character_: DM.RFSTDTC of subject 005) and numbers (EXDOSE of record 2) alike; a quoted
    "NA" is the text NA (AESPID of record 3). Read as the XPT file of the same data is ("" and
    NaN); a --SPID of digits and a result as collected (AESPID, AEORRES '7.50') stay text, as
    the SDTMIG types them. Each column whose NAs were read as missing is a data issue (info,
    the count and the first record); the toy ADaM is the one worked out by hand. NA stopped
    the run ('not ISO 8601'), and a missing number's column became text."""
    from itp_adam.io import sdtm
    from itp_adam.io.raw import Spill

    monkeypatch.setattr(sdtm, "STRETCH_ROWS", 2)
    spill = Spill(tmp_path / "store") if spilled else None
    ex = EX.assign(EXDOSE=[50.0, np.nan, 50.0, 25.0, 50.0])
    ae = AE.assign(AESPID=["1", "2", "NA", "4", "5", "6", "7"],
                   AEORRES=["7.50", "8", "9", "10", "11", "12", "13"])
    sas = tmp_path / "sas"
    sas.mkdir()
    labels = {**LABELS, "AESPID": "Sponsor-Defined Identifier", "AEORRES": "Result"}
    for name, frame in (("dm", DM), ("ex", ex), ("ae", ae)):
        pyreadstat.write_xport(frame, str(sas / f"{name}.xpt"), table_name=name.upper(),
                               column_labels=[labels[c] for c in frame.columns])
    r = tmp_path / "r"
    r.mkdir()
    write_r_csv(DM.assign(RFSTDTC=DM["RFSTDTC"].replace("", None)), r / "dm.csv")
    write_r_csv(ex, r / "ex.csv")
    write_r_csv(ae, r / "ae.csv")
    assert (r / "dm.csv").read_text().splitlines()[5] == '"TOY-01","DM","TOY-01-005",80,NA'
    assert (r / "ae.csv").read_text().splitlines()[3].endswith(',"NA","9"')
    want = sdtm.read_sdtm(sas, ["DM", "EX", "AE"])
    got = sdtm.read_sdtm(r, ["DM", "EX", "AE"], spill)
    for domain in ("DM", "EX", "AE"):
        pd.testing.assert_frame_equal(got.datasets[domain], want.datasets[domain])
        assert ({k: v.type for k, v in got.variables[domain].items()}
                == {k: v.type for k, v in want.variables[domain].items()})
    assert got.datasets["AE"]["AESPID"].tolist()[:3] == ["1", "2", "NA"]
    assert got.datasets["AE"]["AEORRES"].tolist()[0] == "7.50"
    rule = ("1 unquoted NA read as a missing value (R's write.csv and readr::write_csv write a "
            "missing value so; a quoted \"NA\" is kept as the text NA)")
    assert got.notes == [
        {"form": "DM", "column": "RFSTDTC", "row": 5, "value": "NA", "rule": rule},
        {"form": "EX", "column": "EXDOSE", "row": 2, "value": "NA", "rule": rule}]
    code, out = run(tmp_path, r)
    assert code == 0
    assert_toy_adam(out)
    log = pd.read_csv(out / "data-issues.csv", dtype=str, keep_default_na=False)
    noted = log[log["rule"] == rule]
    assert noted[["severity", "form", "row", "column", "value"]].values.tolist() == [
        ["info", "DM", "5", "RFSTDTC", "NA"], ["info", "EX", "2", "EXDOSE", "NA"]]


@pytest.mark.parametrize("spilled", [False, True])
def test_csv_written_with_blank_missing_values_keeps_na_as_text(tmp_path: Path, monkeypatch,
                                                               spilled: bool) -> None:
    """SDTM written as CSV by SAS's PROC EXPORT or pandas: a missing value is a blank field
    (DM.RFSTDTC and AE.AESTDTC of subject 005, EXDOSE of record 2) and a text NA is written
    bare (AESPID of record 3; the CDISC pilot's REGION1 is NA, North America). Read as the XPT
    file of the same data is, NA kept as text with an info naming the column; it was read as a
    missing value, the rule for R's files, whose NA among numbers shows their convention. (A
    file with no missing value at all cannot show its convention: NA is then R's missing.)"""
    from itp_adam.io import sdtm
    from itp_adam.io.raw import Spill

    monkeypatch.setattr(sdtm, "STRETCH_ROWS", 2)
    spill = Spill(tmp_path / "store") if spilled else None
    ex = EX.assign(EXDOSE=[50.0, np.nan, 50.0, 25.0, 50.0])
    ae = AE.assign(AESPID=["1", "2", "NA", "4", "5", "6", "7"],  # AESTDTC of 005 not known
                   AESTDTC=[*AE["AESTDTC"][:6], ""])
    sas = tmp_path / "sas"
    sas.mkdir()
    labels = {**LABELS, "AESPID": "Sponsor-Defined Identifier"}
    for name, frame in (("dm", DM), ("ex", ex), ("ae", ae)):
        pyreadstat.write_xport(frame, str(sas / f"{name}.xpt"), table_name=name.upper(),
                               column_labels=[labels[c] for c in frame.columns])
    exported = tmp_path / "exported"
    exported.mkdir()
    for name, frame in (("dm", DM), ("ex", ex), ("ae", ae)):
        frame.to_csv(exported / f"{name}.csv", index=False)  # pandas: minimal quoting
    assert (exported / "dm.csv").read_text().splitlines()[5] == "TOY-01,DM,TOY-01-005,80.0,"
    assert (exported / "ex.csv").read_text().splitlines()[2].split(",")[4] == ""
    assert (exported / "ae.csv").read_text().splitlines()[3].endswith(",2024-01,NA")
    want = sdtm.read_sdtm(sas, ["DM", "EX", "AE"])
    got = sdtm.read_sdtm(exported, ["DM", "EX", "AE"], spill)
    for domain in ("DM", "EX", "AE"):
        pd.testing.assert_frame_equal(got.datasets[domain], want.datasets[domain])
    assert got.datasets["AE"]["AESPID"].tolist()[:3] == ["1", "2", "NA"]
    assert got.notes == [{"form": "AE", "column": "AESPID", "row": 3, "value": "NA",
                          "rule": "1 NA kept as the text NA: the file writes its missing values as "
                          "blank fields (as SAS's PROC EXPORT and pandas do), not as NA"}]


def test_which_way_a_csv_file_writes_its_missing_values(tmp_path: Path) -> None:
    """io.sdtm.read_csv_text, by hand: an unquoted NA is a missing value (null) unless the file
    writes its missing values as blank fields: NA in no number column and some blank field
    not quoted (then those are null and NA is text). R quotes its text and its empty text,
    SAS and pandas quote neither."""
    from pyarrow import csv

    from itp_adam.io.sdtm import read_csv_text

    cases = {  # file -> (NA read as missing, column A, column N)
        'A,N\n"x",1\n"NA",NA\nNA,2\n"",3\n': (True, ["x", "NA", None, ""], [  # R's write.csv
            "1", None, "2", "3"]),
        "A,N\nx,1\nNA,\n,2\n": (False, ["x", "NA", None], ["1", None, "2"]),  # PROC EXPORT
        "A,N\nx,1\nNA,2\n": (True, ["x", None], ["1", "2"]),  # no blank: NA is R's missing
        "A,N\nx,NA\n,2\nNA,3\n": (True, ["x", "", None], [None, "2", "3"]),  # NA among numbers
    }
    for number, (text, (na_missing, a, n)) in enumerate(cases.items()):
        path = tmp_path / f"case{number}.csv"
        path.write_text(text)
        table, missing = read_csv_text(path, lambda options: csv.read_csv(path,
                                                                          convert_options=options))
        assert (missing, table.column("A").to_pylist(), table.column("N").to_pylist()) == (
            na_missing, a, n), text


SAS7BDAT = Path(__file__).parent / "data" / "sas7bdat"  # written by ReadStat: its README.md


@pytest.mark.parametrize("spilled", [False, True])
def test_sas_data_sets_read_as_their_xpt_files(tmp_path: Path, monkeypatch, spilled: bool) -> None:
    """SDTM as SAS data sets (sas7bdat: tests/data/sas7bdat, the toy study's DM, EX and AE
    written by ReadStat's sas7bdat writer): read as the XPT files of the same frames are, also
    a stretch at a time into the store, and the toy study's ADaM is the one worked out by hand.
    The sas7bdat reader was tested with a garbage file only."""
    from itp_adam.io import sdtm
    from itp_adam.io.raw import Spill

    monkeypatch.setattr(sdtm, "STRETCH_ROWS", 2)
    sas = tmp_path / "xpt"
    sas.mkdir()
    for name, frame in (("dm", DM), ("ex", EX), ("ae", AE)):
        pyreadstat.write_xport(frame, str(sas / f"{name}.xpt"), table_name=name.upper(),
                               column_labels=[LABELS[c] for c in frame.columns])
    data = tmp_path / "sas7bdat"
    data.mkdir()
    for name in ("dm", "ex", "ae"):
        shutil.copyfile(SAS7BDAT / f"{name}.sas7bdat", data / f"{name}.sas7bdat")
    want = sdtm.read_sdtm(sas, ["DM", "EX", "AE"])
    got = sdtm.read_sdtm(data, ["DM", "EX", "AE"], Spill(tmp_path / "store") if spilled else None)
    for domain in ("DM", "EX", "AE"):
        pd.testing.assert_frame_equal(got.datasets[domain], want.datasets[domain])
        assert ({k: (v.type, v.label) for k, v in got.variables[domain].items()}
                == {k: (v.type, v.label) for k, v in want.variables[domain].items()})
    code, out = run(tmp_path, data)
    assert code == 0
    assert_toy_adam(out)


@pytest.mark.parametrize("version", [5, 8])
def test_a_transport_library_of_several_datasets_is_bad_input(tmp_path: Path, version: int) -> None:
    """ae.xpt holding two datasets (AE and SUPPAE: a SAS transport library, as one XPORT
    libname of several data sets writes it): which one is the domain is unknown, so exit 2
    naming both. Was: the second member's headers and records read as more AE records (701
    'not ISO 8601' errors for the pilot's AE); pyreadstat reads it so, and the package's own
    reader handed such a file to pyreadstat. Version 8 files are read by pyreadstat."""
    from itp_adam.errors import InputError
    from itp_adam.io import sdtm

    sas = tmp_path / "sdtm"
    sas.mkdir()
    supp = pd.DataFrame({"STUDYID": [STUDY], "RDOMAIN": ["AE"], "USUBJID": ["TOY-01-001"],
                         "QNAM": ["AETRTEM"], "QVAL": ["Y"]})
    for name, frame in (("dm", DM), ("ex", EX), ("ae", AE), ("suppae", supp)):
        pyreadstat.write_xport(frame, str(sas / f"{name}.xpt"), table_name=name.upper(),
                               file_format_version=version)
    library = (sas / "ae.xpt").read_bytes() + (sas / "suppae.xpt").read_bytes()[3 * 80:]
    (sas / "suppae.xpt").unlink()
    (sas / "ae.xpt").write_bytes(library)  # the library header once, then each member
    with pytest.raises(InputError) as err:
        sdtm.read_sdtm(sas, ["DM", "EX", "AE"])
    assert (err.value.file, err.value.message) == (
        str(sas / "ae.xpt"), "the file holds 2 datasets (AE, SUPPAE): a SAS transport library")


def test_bad_values_read_into_the_store_are_reported_the_same(tmp_path: Path, monkeypatch) -> None:
    from itp_adam.io import sdtm
    from itp_adam.io.raw import Spill
    from itp_adam.errors import InputErrors

    monkeypatch.setattr(sdtm, "STRETCH_ROWS", 2)
    ae = AE.copy()
    ae.loc[[1, 6], "AESTDTC"] = ["2024-13-45", "31/01/2024"]
    folder = write_sdtm(tmp_path / "in", "mixed", ae=ae)
    found = []
    for spill in (None, Spill(tmp_path / "store")):
        with pytest.raises(InputErrors) as raised:
            sdtm.read_sdtm(folder, ["DM", "EX", "AE"], spill)
        found.append(([str(e) for e in raised.value.errors], raised.value.count))
    assert found[0] == found[1]
    assert found[0][1] == 2 and "row 7, column AESTDTC" in found[0][0][1]


def test_stretches_close_the_files_opened_when_one_cannot_be_opened(tmp_path: Path,
                                                                   monkeypatch) -> None:
    """A number file that cannot be opened (e.g. too many open files): the text file and the
    number files opened before it are closed, and the error is the open's."""
    import builtins
    from itp_adam.io import sdtm
    from itp_adam.io.raw import Spill
    from itp_adam.io.sdtm import SdtmVariable

    variables = {"USUBJID": SdtmVariable("Char"), "A": SdtmVariable("Num"),
                 "B": SdtmVariable("Num"), "C": SdtmVariable("Num")}
    opened, real_open = [], builtins.open

    def open_twice(path, *args, **kwargs):
        if len(opened) == 2:
            raise OSError(24, "Too many open files")
        opened.append(real_open(path, *args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(builtins, "open", open_twice)
    with pytest.raises(OSError, match="Too many open files"):
        sdtm._Stretches(Spill(tmp_path / "store"), "LB", variables)
    monkeypatch.setattr(builtins, "open", real_open)
    # the text columns' Arrow file (written in pieces through a Python file) and A's numbers
    assert [Path(handle.name).suffix for handle in opened] == [".arrow", ".f8"]
    assert all(handle.closed for handle in opened)


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_bad_dtc_values_all_reported(tmp_path: Path, capsys) -> None:
    ae = AE.copy()
    ae.loc[[1, 4], "AESTDTC"] = ["2024-13-45", "31/01/2024"]
    dm = DM.copy()
    dm.loc[2, "RFSTDTC"] = "2024-02-30"
    code, out = run(tmp_path, write_sdtm(tmp_path / "sdtm", ae=ae, dm=dm))
    assert code == 2
    err = _error(capsys)
    ae_file, dm_file = tmp_path / "sdtm" / "ae.xpt", tmp_path / "sdtm" / "dm.xpt"
    assert f"{dm_file}, row 3, column RFSTDTC: not ISO 8601: found '2024-02-30'" in err
    assert f"{ae_file}, row 2, column AESTDTC: not ISO 8601: found '2024-13-45'" in err
    assert f"{ae_file}, row 5, column AESTDTC: not ISO 8601: found '31/01/2024'" in err
    listing = pd.read_csv(tmp_path / "out.errors.csv", dtype=str)
    assert sorted(listing["value"]) == ["2024-02-30", "2024-13-45", "31/01/2024"]
    assert not out.exists()


@pytest.mark.parametrize("case", ["folder", "zip", "domain", "garbage_xpt", "garbage_sas7bdat",
                                  "no_usubjid", "two_files"])
def test_bad_sdtm_folder(tmp_path: Path, capsys, case: str) -> None:
    sdtm = tmp_path / "sdtm"
    if case == "folder":
        expected = f"{sdtm}: SDTM folder not found"
    elif case == "zip":  # was "SDTM folder not found" for a zip's path
        sdtm = tmp_path / "sdtm.zip"
        expected = (f"{sdtm}: SDTM zip not found; expected an existing .zip of SDTM datasets, or "
                    "a folder of SDTM datasets, one file per domain")
    else:
        write_sdtm(sdtm)
    if case == "domain":
        (sdtm / "ex.xpt").unlink()
        expected = f"{sdtm}: SDTM domain EX not found; expected a file ex.xpt"
    elif case == "garbage_xpt":
        (sdtm / "ae.xpt").write_bytes(b"\x00garbage, not a transport file\xff" * 10)
        expected = f"{sdtm / 'ae.xpt'}: cannot be read as SAS transport (XPT v5 or v8)"
    elif case == "garbage_sas7bdat":
        (sdtm / "ae.xpt").unlink()
        (sdtm / "ae.sas7bdat").write_bytes(b"not a SAS data set" * 20)
        expected = f"{sdtm / 'ae.sas7bdat'}: cannot be read as SAS data set (sas7bdat)"
    elif case == "no_usubjid":
        write_xpt(AE.drop(columns="USUBJID"), sdtm / "ae.xpt")
        expected = f"{sdtm / 'ae.xpt'}, column USUBJID: variable USUBJID missing"
    elif case == "two_files":
        AE.to_csv(sdtm / "AE.csv", index=False)
        expected = f"{sdtm}: two files for SDTM domain AE: AE.csv and ae.xpt"
    code, _ = run(tmp_path, sdtm)
    assert code == 2
    assert expected in _error(capsys)


def test_input_must_match_the_study(tmp_path: Path, capsys) -> None:
    """--raw with an SDTM study and --sdtm with a raw study: usage errors naming the inputs."""
    specs = write_specs(tmp_path / "specs")
    code = main(["run", "--specs", str(specs), "--raw", str(tmp_path), "--allow-plugins",
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert f"--sdtm is needed: the study starts from SDTM datasets (inputs.sdtm in {specs / 'study.yaml'})" \
        in _error(capsys)
    code = main(["run", "--sdtm", str(tmp_path), "--out", str(tmp_path / "o")])  # the shipped raw study
    assert code == 2
    assert "--sdtm cannot be used: the study starts from raw forms (inputs.raw" in _error(capsys)


def test_missing_study_parameter_is_a_spec_error(tmp_path: Path, capsys) -> None:
    """A {study: path} to a parameter study.yaml does not have: the spec file and line, at load
    (also nested in a mapping, and an optional section the study left out)."""
    adae = ADAE_YAML.replace("{study: ae_window_days}", "{study: trtemfl_window_days}")
    specs = write_specs(tmp_path / "specs", adae_yaml=adae)
    code, _ = run(tmp_path, write_sdtm(tmp_path / "sdtm"), specs)
    assert code == 2
    line = adae.splitlines().index("      end_window_days: {study: trtemfl_window_days}") + 1
    assert (f"{specs / 'adam' / 'adae.yaml'}, line {line}: dataset ADAE: unknown study parameter "
            f"'trtemfl_window_days': not in {specs / 'study.yaml'}") in _error(capsys)


def test_sdtm_study_refuses_raw_forms_and_sdtm_specs(tmp_path: Path) -> None:
    from itp_adam.spec.model import SpecError, load_specs
    from itp_adam.spec.plugins import loaded

    specs = write_specs(tmp_path / "specs")
    (specs / "sdtm").mkdir()
    (specs / "sdtm" / "ae.yaml").write_text(ADAE_YAML.replace("ADAE", "XAE"), encoding="utf-8")
    with loaded(specs, True), pytest.raises(SpecError) as caught:
        load_specs(specs)
    assert "an SDTM spec builds SDTM from raw forms, but the study starts from SDTM" in str(caught.value)
    (specs / "sdtm" / "ae.yaml").unlink()
    adsl = (specs / "adam" / "adsl.yaml").read_text(encoding="utf-8")
    (specs / "adam" / "adsl.yaml").write_text(
        adsl.replace("source: {from: DM.AGE}", "source: {form: DM, column: AGE}"), encoding="utf-8")
    with loaded(specs, True), pytest.raises(SpecError, match="unknown raw form 'DM'"):
        load_specs(specs)


def test_optional_section_required_by_code_is_a_spec_error(tmp_path: Path) -> None:
    """An engine path needing a section the study left out: SpecError naming study.yaml and the
    key, not an AttributeError; the study's own parameters resolve like the typed ones."""
    from itp_adam.spec.model import SpecError, load_study

    specs = write_specs(tmp_path / "specs")
    study = load_study(specs)
    assert study.inputs.kind == "sdtm" and study.inputs.sdtm.domains == ["DM", "EX", "AE"]
    assert study.baseline is None and study.cutoff_date is None
    assert study.resolve("age_groups.labels") == ["<65", ">=65"]
    assert study.resolve("ae_window_days") == 7
    with pytest.raises(KeyError):
        study.resolve("baseline.lookback_days")
    with pytest.raises(SpecError) as caught:
        study.require("baseline", "the baseline step of ADLB")
    assert str(caught.value) == (f"{specs / 'study.yaml'}: study parameters: missing key "
                                 "'baseline', needed by the baseline step of ADLB")


# --- the data shipped with a study: itp_adam/data/NAME/sdtm.zip -------------------------------------
# A shipped study is faked: the toy study in a studies folder and its domain files zipped in a
# data folder, both monkeypatched into itp_adam.paths; temporary folders go to a folder of the
# test's own, which must be empty after every run (the zip is extracted there and removed).


@pytest.fixture()
def shipped_toy(tmp_path: Path, monkeypatch) -> tuple[Path, Path, Path]:
    """``(specs folder, sdtm.zip, temporary folder)`` of the shipped study ``toy-sdtm``; the
    zip holds DM, EX, AE (AE in a sub-folder) and files that are no declared domain."""
    from itp_adam import paths

    specs = write_specs(tmp_path / "studies" / "toy-sdtm")
    (tmp_path / "data" / "toy-sdtm").mkdir(parents=True)
    archive = tmp_path / "data" / "toy-sdtm" / "sdtm.zip"
    _zip(archive, write_sdtm(tmp_path / "xpt"))
    monkeypatch.setattr(paths, "studies_dir", lambda: tmp_path / "studies")
    monkeypatch.setattr(paths, "data_dir", lambda: tmp_path / "data")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temporary))
    return specs, archive, temporary


def _zip(archive: Path, folder: Path, ae: bytes | None = None) -> None:
    import zipfile

    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(folder / "dm.xpt", "dm.xpt")
        zf.write(folder / "ex.xpt", "ex.xpt")
        if ae is None:
            zf.write(folder / "ae.xpt", "domains/ae.xpt")
        else:
            zf.writestr("domains/ae.xpt", ae)
        zf.writestr("lb.xpt", b"not read: LB is no domain of the study")
        zf.writestr("readme.txt", b"not a dataset")


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_a_shipped_sdtm_study_runs_on_its_zip(tmp_path: Path, shipped_toy, capsys) -> None:
    specs, archive, temporary = shipped_toy
    out = tmp_path / "out"
    assert main(["run", "--study", "toy-sdtm", "--allow-plugins", "--out", str(out), "--quiet"]) == 0
    assert_toy_adam(out)
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert info["sdtm"] == str(archive.absolute()) and info["specs"] == str(specs.absolute())
    xpt = tmp_path / "xpt"
    assert info["inputs"] == {  # the zip, and each member read (the bytes of the files zipped)
        str(archive): _sha256(archive.read_bytes()),
        f"{archive}/dm.xpt": _sha256((xpt / "dm.xpt").read_bytes()),
        f"{archive}/domains/ae.xpt": _sha256((xpt / "ae.xpt").read_bytes()),
        f"{archive}/ex.xpt": _sha256((xpt / "ex.xpt").read_bytes()),
    }
    assert list(temporary.iterdir()) == []  # the extracted files are gone
    # `itp-adam studies` says what the study starts from and where its data are
    assert main(["studies"]) == 0
    said = capsys.readouterr().out
    assert said == (f"toy-sdtm: TOY-01 - A toy study that starts from SDTM: no raw.yaml, no sdtm/ specs, no "
                    f"ITP parameter.\n  {specs}\n  starts from SDTM datasets (DM, EX, AE); data shipped: "
                    f"{archive}\n")


NOT_READ = "SDTM file of a domain the study does not read (inputs.sdtm.domains): not read"


def test_dataset_files_the_study_does_not_read_are_named(tmp_path: Path, shipped_toy) -> None:
    """A dataset file of a domain the study does not declare (inputs.sdtm.domains: DM, EX, AE)
    is left unread with an info in data-issues.csv naming it, in a folder (suppdm.csv,
    MH.parquet) and in a zip (lb.xpt); a file that is no dataset (notes.txt, readme.txt) is
    not. They were left out silently."""
    folder = write_sdtm(tmp_path / "sdtm")
    DM.to_csv(folder / "suppdm.csv", index=False)
    DM.to_parquet(folder / "MH.parquet", index=False)
    (folder / "notes.txt").write_text("not a dataset")
    code, out = run(tmp_path, folder)
    assert code == 0
    assert_toy_adam(out)
    log = pd.read_csv(out / "data-issues.csv", dtype=str, keep_default_na=False)
    assert log.loc[log["rule"] == NOT_READ, ["severity", "form", "value"]].values.tolist() == [
        ["info", "MH", "MH.parquet"], ["info", "SUPPDM", "suppdm.csv"]]
    _, archive, _ = shipped_toy
    zipped = tmp_path / "zipped"
    assert main(["run", "--study", "toy-sdtm", "--allow-plugins", "--out", str(zipped), "--quiet"]) == 0
    log = pd.read_csv(zipped / "data-issues.csv", dtype=str, keep_default_na=False)
    assert log.loc[log["rule"] == NOT_READ, ["severity", "form", "value"]].values.tolist() == [
        ["info", "LB", "sdtm.zip/lb.xpt"]]


def test_sdtm_given_wins_over_the_shipped_zip(tmp_path: Path, shipped_toy) -> None:
    _, archive, _ = shipped_toy
    folder = write_sdtm(tmp_path / "mine")
    archive.write_bytes(b"not even a zip: never read")
    out = tmp_path / "out"
    assert main(["run", "--study", "toy-sdtm", "--sdtm", str(folder), "--allow-plugins", "--out", str(out),
                 "--quiet"]) == 0
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert info["sdtm"] == str(folder.absolute())
    assert sorted(Path(p).name for p in info["inputs"]) == ["ae.xpt", "dm.xpt", "ex.xpt"]


@pytest.mark.parametrize("case", ["bad_member", "not_a_zip", "sdtm_option", "two_members"])
def test_a_bad_zip_is_named_and_nothing_is_left_behind(tmp_path: Path, shipped_toy, capsys,
                                                       case: str) -> None:
    _, archive, temporary = shipped_toy
    argv = ["run", "--study", "toy-sdtm", "--allow-plugins", "--out", str(tmp_path / "out")]
    if case == "not_a_zip":
        archive.write_bytes(b"PK but not a zip archive" * 10)
        expected = f"itp-adam: error: {archive}: cannot be read as a zip archive (File is not a zip file); " \
                   "expected a .zip of SDTM datasets, one file per domain (.xpt, .sas7bdat, .csv, .parquet)\n"
    elif case == "two_members":
        import zipfile

        with zipfile.ZipFile(archive, "a") as zf:
            zf.write(tmp_path / "xpt" / "ae.xpt", "other/ae.xpt")
        expected = (f"itp-adam: error: {archive}: two members named ae.xpt: domains/ae.xpt and "
                    "other/ae.xpt; expected one file per domain\n")
    else:
        _zip(archive, tmp_path / "xpt", ae=b"\x00garbage, not a transport file\xff" * 10)
        expected = f"itp-adam: error: {archive}/domains/ae.xpt: cannot be read as SAS transport (XPT v5 or v8)"
        if case == "sdtm_option":  # --sdtm FILE.zip reads the same way
            moved = tmp_path / "elsewhere.zip"
            archive.rename(moved)
            argv += ["--sdtm", str(moved)]
            expected = expected.replace(str(archive), str(moved))
    assert main(argv) == 2
    err = _error(capsys)
    assert err.startswith(expected) and str(temporary) not in err
    assert list(temporary.iterdir()) == [] and not (tmp_path / "out").exists()


def test_a_study_without_shipped_data_needs_its_input_option(tmp_path: Path, shipped_toy, capsys) -> None:
    """Not shipped, or shipped without its data: exit 2 naming the option (never another
    study's data)."""
    specs, archive, _ = shipped_toy
    elsewhere = write_specs(tmp_path / "elsewhere")
    assert main(["run", "--specs", str(elsewhere), "--allow-plugins", "--out", str(tmp_path / "o")]) == 2
    assert _error(capsys) == (
        f"itp-adam: error: --sdtm is needed: the study starts from SDTM datasets (inputs.sdtm in "
        f"{elsewhere / 'study.yaml'}) and it is not a shipped study, so no data ships with it; give the "
        "folder (or .zip) of its SDTM datasets with --sdtm\n")
    archive.unlink()
    assert main(["run", "--specs", str(specs), "--allow-plugins", "--out", str(tmp_path / "o")]) == 2
    assert _error(capsys) == (
        f"itp-adam: error: --sdtm is needed: the study starts from SDTM datasets (inputs.sdtm in "
        f"{specs / 'study.yaml'}) and no data ships with it (expected {archive}); give the folder (or "
        ".zip) of its SDTM datasets with --sdtm\n")
    assert not (tmp_path / "o").exists()
