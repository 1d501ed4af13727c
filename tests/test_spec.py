"""Tests of the spec language (itp_adam.spec.model): shipped specs, SAP numbers, error places."""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

import itp_adam.derive.sdtm  # noqa: F401  registers usubjid, iso_date, ... (see registry.py)
from itp_adam.errors import InputError
from itp_adam.io.layout import load_layout
from itp_adam.derive.sdtm import (
    if_treated,
    iso_date,
    ref_end_from_exposure,
    ref_start_from_exposure,
    usubjid,
)
from itp_adam.spec.model import (
    ColumnSource,
    CopySource,
    DerivationSource,
    FormRef,
    SpecError,
    StudyRef,
    load_codelists,
    load_dataset_spec,
    load_specs,
    load_study,
)

SPECS = Path(__file__).resolve().parents[1] / "specs" / "hetrombopag-itp"
LAYOUT = load_layout(SPECS)
CODELISTS = load_codelists(SPECS)

# A small valid dataset spec; the numbers are the YAML line numbers the tests expect.
BASE = """\
name: XX
label: Test dataset
class: FINDINGS
structure: One record per result
keys: [USUBJID, XXTESTCD]
sort: [USUBJID, XXTESTCD]
forms: [LAB]
variables:
  - name: USUBJID
    label: Unique Subject Identifier
    type: Char
    role: Identifier
    origin: Derived
    source:
      derivation: usubjid
      args: {studyid: STUDYID, subjid: SUBJID}
  - name: XXTESTCD
    label: Test Short Name
    type: Char
    role: Topic
    origin: Collected
    source: {form: LAB, column: LBTEST}
    codelist: LBTESTCD
"""
# line  9: - name: USUBJID      line 17: - name: XXTESTCD
# line 14: source: (USUBJID)    line 18: label  19: type  20: role  22: source  23: codelist


def edit(changes: dict[int, str]) -> str:
    """BASE with the given 1-based lines replaced (a replacement may hold several lines)."""
    lines = BASE.splitlines()
    for number, text in changes.items():
        lines[number - 1] = text
    return "\n".join(lines) + "\n"


def spec_error(tmp_path: Path, text: str) -> tuple[str, str]:
    """Write ``text`` as a dataset spec, load it, return (file name, error message)."""
    path = tmp_path / "xx.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_dataset_spec(path, LAYOUT, CODELISTS)
    return str(path), str(info.value)


# --------------------------------------------------------------------------------------------
# Shipped specs and SAP numbers


def test_shipped_specs_load():
    specs = load_specs(SPECS)
    assert specs.study.study_id == specs.layout.study_id == "HETROM-ITP-RWS"
    dm = specs.sdtm["DM"]
    assert [v.name for v in dm.variables][:4] == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID"]
    assert dm.keys == ["STUDYID", "USUBJID"] and dm.class_ == "SPECIAL PURPOSE"
    assert dm.variable("SEX").source == ColumnSource(form="DM", column="SEX")
    assert dm.variable("SEX").codelist == "SEX"
    assert dm.variable("RFXSTDTC").source == CopySource(**{"from": "RFSTDTC"})
    rfstdtc = dm.variable("RFSTDTC").source
    assert isinstance(rfstdtc, DerivationSource)
    assert rfstdtc.args["exposure"] == FormRef(form="EXPOSURE")
    assert rfstdtc.args["cutoff"] == StudyRef(study="cutoff_date")
    assert dm.spec_file.endswith("dm.yaml") and dm.line_of("name") == 11
    for name in ["SEX", "RACE", "ETHNIC", "NY", "AEREL", "AEACN", "AEOUT", "DSDECOD", "LBTESTCD",
                 "EXADJ", "UNIT", "AETOXGR", "WHOGR", "VISIT"]:
        assert name in specs.codelists


def test_study_values_are_the_sap_numbers():
    study = load_study(SPECS)
    assert study.cutoff_date == dt.date(2025, 4, 14)
    windows = {w.avisit: w for w in study.analysis_windows.windows}
    assert (windows["Week 6"].lo, windows["Week 6"].hi, windows["Week 6"].target) == (37, 50, 43)
    assert (windows["Month 24"].lo, windows["Month 24"].hi, windows["Month 24"].avisitn) == (717, 747, 124)
    factors = study.unit_conversion.factors
    assert factors["PLAT"]["/uL"] == 0.001 and factors["PLAT"]["10^4/uL"] == 10
    assert factors["ALT"]["ukat/L"] == factors["AST"]["ukat/L"] == 60
    assert factors["BILI"]["mg/dL"] == 17.1
    assert study.unit_conversion.standard_units == {
        "PLAT": "10^9/L", "ALT": "U/L", "AST": "U/L", "BILI": "umol/L"}
    crit = {c.name: c for c in study.response.criteria}
    assert (crit["CRIT1"].threshold, crit["CRIT1"].label) == (30, "Platelet count >= 30 x10^9/L")
    assert crit["CRIT2"].threshold == 100 and study.response.confidence_level == 0.95
    assert study.rescue_changes_response is False
    assert study.toxicity_grading.uln_multiples == {"ALT": [1, 3, 5, 20], "AST": [1, 3, 5, 20],
                                                    "BILI": [1, 1.5, 3, 10]}
    assert study.toxicity_grading.criteria == "CTCAE v5.0"
    assert study.trtemfl_window_days == 28 and study.baseline.lookback_days == 28
    assert study.days_per_month == 30.4375 and study.dose_above == 0
    assert study.itp_phase.cut_months == [3, 12]
    assert study.imputation.diagnosis.date_imputation == "07-01"
    assert study.imputation.diagnosis.day_imputation == 15
    assert study.imputation.end.max_cutoff and study.imputation.start.min_first_dose
    assert "Liver injury" in study.hepatic_terms.pt and study.hepatic_terms.soc == ["Hepatobiliary disorders"]


def test_windows_are_contiguous_from_day_2_to_747_and_follow_the_sap_formula():
    windows = load_study(SPECS).analysis_windows.windows
    assert windows[0].lo == 2 and windows[-1].hi == 747
    assert all(after.lo == before.hi + 1 for before, after in zip(windows, windows[1:]))
    for w in windows:
        if w.avisit.startswith("Month"):
            n = int(w.avisit.split()[1])
            assert w.target == math.floor(30.4375 * n + 0.5) + 1
    assert windows[-1].hi == windows[-1].target + 15


def test_study_resolve_gives_plain_values():
    study = load_study(SPECS)
    assert study.resolve("cutoff_date") == dt.date(2025, 4, 14)
    assert study.resolve("toxicity_grading.table")["high"]["BILI"]["grades"][2] == {
        "grade": 2, "when": "> 1.5 x ULN"}
    assert study.resolve("analysis_windows.windows")[0] == {
        "avisit": "Week 1", "avisitn": 1, "target": 8, "lo": 2, "hi": 11}
    with pytest.raises(KeyError):
        study.resolve("toxicity_grading.nope")


def test_a_study_parameter_in_a_description_or_a_name_follows_study_yaml(tmp_path):
    """ADLB's CRIT1 step describes its rule and the response analysis names its criterion with
    {study: ...} in the text: a study copied with the threshold 50 (and its label) says 50 in
    the method's description (define.xml, ADRG) and the analysis' name (ARS, tables), where
    the written-out 30 stayed. An unknown parameter in a description is a spec error."""
    copy = tmp_path / "study"
    shutil.copytree(SPECS, copy)
    study = copy / "study.yaml"
    text = study.read_text(encoding="utf-8")
    old = "{name: CRIT1, label: Platelet count >= 30 x10^9/L, operator: \">=\", threshold: 30}"
    assert old in text
    study.write_text(text.replace(old, old.replace("30", "50")), encoding="utf-8")
    specs = load_specs(copy)
    crit1 = next(step for step in specs.adam["ADLB"].steps if step.id == "crit1")
    assert crit1.description == ('SAP "Response". Platelets (study.yaml response.parameter) '
                                 "only; Y if AVAL >= 50 else N (study.yaml response CRIT1).")
    assert [a.name for a in specs.analyses.analyses if a.id == "RESPONSE_CRIT1"] == [
        "Platelet count >= 50 x10^9/L by analysis visit, overall and by disease phase"]
    adlb = copy / "adam" / "adlb.yaml"
    adlb.write_text(adlb.read_text(encoding="utf-8").replace(
        "operator} {study: response.criteria.0.threshold}",  # in the description
        "operator} {study: response.criteria.0.treshold}"),
        encoding="utf-8")
    rows = adlb.read_text(encoding="utf-8").splitlines()
    step = rows.index("  - id: crit1")
    line = next(number for number, row in enumerate(rows[step:], start=step + 1)
                if row.strip().startswith("description:"))  # the step's description key
    with pytest.raises(InputError) as info:
        load_specs(copy)
    assert str(info.value) == (
        f"{adlb}, line {line}: dataset ADLB: {{study: response.criteria.0.treshold}}: no such "
        "parameter in study.yaml; did you mean 'threshold'?")
    # not prose: an expression takes a parameter by @name (one way), so {study: inside it is
    # refused, not pasted into the expression's text
    adlb.write_text(adlb.read_text(encoding="utf-8").replace("treshold", "threshold").replace(
        'filter: "PARAMCD == @parameter"', 'filter: "PARAMCD == \'{study: response.parameter}\'"', 1),
        encoding="utf-8")
    rows = adlb.read_text(encoding="utf-8").splitlines()
    line = next(number for number, row in enumerate(rows, start=1) if "filter: \"PARAMCD == '{" in row)
    with pytest.raises(InputError) as info:
        load_specs(copy)
    assert str(info.value) == (
        f"{adlb}, line {line}: dataset ADLB: filter: {{study: P}} inside a text fills only prose "
        "(comment, description, footnote, footnotes, header, label, name, stub, title, titles); "
        "an expression names a study parameter as @name with filter_values (or values), an "
        "argument takes {study: P} as its whole value")


def test_codelist_value_map_matches_ignoring_case_and_blanks():
    assert CODELISTS["SEX"].value_map()["female"] == "F"
    assert CODELISTS["AEOUT"].value_map()["recovered"] == "RECOVERED/RESOLVED"
    assert CODELISTS["LBTESTCD"].value_map()["platelet count"] == "PLAT"
    assert CODELISTS["AETOXGR"].terms[0].raw == "1"  # unquoted YAML 1 read as text
    assert {t.value: t.num for t in CODELISTS["VISIT"].terms}["MONTH 7"] == 107


def test_base_spec_loads(tmp_path):
    path = tmp_path / "xx.yaml"
    path.write_text(BASE)
    dataset = load_dataset_spec(path, LAYOUT, CODELISTS)
    assert dataset.name == "XX" and dataset.line_of("variables", 1, "source") == 22


# --------------------------------------------------------------------------------------------
# One test per kind of error: file, dataset, variable and exact line in the message


def test_yaml_syntax_error(tmp_path):
    file, message = spec_error(tmp_path, edit({18: "    label: Test: Short Name"}))
    assert message == (f"{file}, line 18: dataset XX, variable XXTESTCD: not valid YAML: "
                       "mapping values are not allowed here (a text holding ': ', such as "
                       "{study: P}, is written in quotes or as a block: description: >-)")


def test_unknown_key(tmp_path):
    file, message = spec_error(tmp_path, edit({23: "    codelist: LBTESTCD\n    lenght: 8"}))
    assert message == f"{file}, line 24: dataset XX, variable XXTESTCD: unknown key 'lenght'"


def test_wrong_type(tmp_path):
    file, message = spec_error(tmp_path, edit({19: "    type: Character"}))
    assert message == (f"{file}, line 19: dataset XX, variable XXTESTCD: "
                       "type: Input should be 'Char' or 'Num' (found 'Character')")


def test_wrong_type_of_a_list(tmp_path):
    file, message = spec_error(tmp_path, edit({6: "sort: USUBJID"}))
    assert f"{file}, line 6: dataset XX: sort: Input should be a valid list" in message


@pytest.mark.parametrize("name", ["XXTESTCODE", "xxtestcd", "9XTESTCD", "XX-TEST"])
def test_variable_name_too_long_or_not_a_sas_name(tmp_path, name):
    file, message = spec_error(tmp_path, edit({17: f"  - name: {name}"}))
    assert f"{file}, line 17: dataset XX, variable {name}: name: not a SAS name" in message


@pytest.mark.parametrize(("label", "why"), [
    ("Test Short Name of the Laboratory Test Performed", "has 48 characters; at most 40"),
    ("Test µ Name", "must be ASCII"),
])
def test_label_too_long_or_not_ascii(tmp_path, label, why):
    file, message = spec_error(tmp_path, edit({18: f"    label: {label}"}))
    assert f"{file}, line 18: dataset XX, variable XXTESTCD: label: {why}" in message


def test_duplicate_variable(tmp_path):
    file, message = spec_error(tmp_path, edit({17: "  - name: USUBJID"}))
    # both keys name USUBJID, so the key check passes; XXTESTCD is then not a variable
    assert f"{file}, line 17: dataset XX, variable USUBJID: variable USUBJID is defined twice" in message


def test_source_column_not_in_the_raw_form(tmp_path):
    file, message = spec_error(tmp_path, edit({22: "    source: {form: LAB, column: LBTESTCD}"}))
    assert message.startswith(f"{file}, line 22: dataset XX, variable XXTESTCD: "
                              "unknown column of raw form LAB 'LBTESTCD' in raw.yaml; known: ")
    assert "LBTEST, " in message


def test_source_form_not_in_raw_yaml(tmp_path):
    file, message = spec_error(tmp_path, edit({22: "    source: {form: LABS, column: LBTEST}"}))
    assert message.startswith(f"{file}, line 22: dataset XX, variable XXTESTCD: "
                              "unknown raw form 'LABS' in raw.yaml; known: AE, AECODING")


def test_dataset_form_not_in_raw_yaml(tmp_path):
    file, message = spec_error(tmp_path, edit({7: "forms: [LAB, LABS]"}))
    assert f"{file}, line 7: dataset XX: unknown raw form 'LABS'" in message


def test_unknown_derivation(tmp_path):
    file, message = spec_error(tmp_path, edit({15: "      derivation: make_usubjid"}))
    assert message.startswith(f"{file}, line 15: dataset XX, variable USUBJID: "
                              "unknown derivation 'make_usubjid' in the registry; known: ")
    assert "usubjid" in message


def test_unknown_codelist(tmp_path):
    file, message = spec_error(tmp_path, edit({23: "    codelist: LBTESTCDX"}))
    assert message.startswith(f"{file}, line 23: dataset XX, variable XXTESTCD: "
                              "unknown codelist 'LBTESTCDX'; known: AEACN")


@pytest.mark.parametrize(("line", "text", "field"), [
    (5, "keys: [USUBJID, LBTESTCD]", "keys"),
    (6, "sort: [USUBJID, LBTESTCD]", "sort"),
])
def test_key_or_sort_variable_not_a_variable(tmp_path, line, text, field):
    file, message = spec_error(tmp_path, edit({line: text}))
    assert message == (f"{file}, line {line}: dataset XX, variable LBTESTCD: "
                       f"{field} variable LBTESTCD is not a variable of the dataset")


# --------------------------------------------------------------------------------------------
# Further checks


def test_missing_key_points_at_the_variable(tmp_path):
    file, message = spec_error(tmp_path, edit({20: "    origin: Collected", 21: ""}))
    assert message == f"{file}, line 17: dataset XX, variable XXTESTCD: missing key 'role'"


def test_source_needs_exactly_one_kind(tmp_path):
    file, message = spec_error(tmp_path, edit({22: "    source: {constant: X, form: LAB}"}))
    assert message == (f"{file}, line 22: dataset XX, variable XXTESTCD: source: needs exactly one "
                       "of: form (with column), constant, derivation (with args), from, step, row, "
                       "cases")


def test_duplicate_yaml_key(tmp_path):
    file, message = spec_error(tmp_path, edit({19: "    type: Char\n    type: Num"}))
    assert message == f"{file}, line 20: dataset XX, variable XXTESTCD: key 'type' appears twice"


def test_derivation_arguments_checked_against_the_function(tmp_path):
    file, message = spec_error(tmp_path, edit({16: "      args: {studyid: STUDYID, subject: SUBJID}"}))
    assert (f"{file}, line 16: dataset XX, variable USUBJID: unknown argument 'subject' of "
            "derivation usubjid; known: studyid, subjid") in message


def test_form_and_study_references_in_arguments(tmp_path):
    text = edit({15: "      derivation: if_treated",
                 16: "      args: {exposure: {form: EXPO}, value: Y, cutoff: {study: cut_off}}"})
    path = tmp_path / "xx.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_dataset_spec(path, LAYOUT, CODELISTS, study=load_study(SPECS))
    message = str(info.value)
    assert message.startswith("2 problems in the specs:")
    assert f"{path}, line 16: dataset XX, variable USUBJID: unknown raw form 'EXPO'" in message
    assert f"{path}, line 16: dataset XX, variable USUBJID: unknown study parameter 'cut_off'" in message


def test_codelist_reference_in_arguments(tmp_path):
    lb = SPECS / "sdtm" / "lb.yaml"
    lines = lb.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "nums: {codelist: VISIT, field: num}" in text)
    path = tmp_path / "lb.yaml"
    path.write_text(lb.read_text().replace("{codelist: VISIT, field: num}", "{codelist: VISITS, field: num}"))
    with pytest.raises(SpecError) as info:
        load_dataset_spec(path, LAYOUT, CODELISTS, study=load_study(SPECS))
    assert (f"{path}, line {line}: dataset LB, variable VISITNUM: unknown codelist 'VISITS'"
            in str(info.value))
    path.write_text(lb.read_text().replace("{codelist: VISIT, field: num}", "{codelist: VISIT, field: nums}"))
    with pytest.raises(SpecError, match=re.escape("reference is {codelist: NAME, field: decode|num}")):
        load_dataset_spec(path, LAYOUT, CODELISTS, study=load_study(SPECS))


def test_yaml_boolean_where_text_is_meant(tmp_path):
    file, message = spec_error(tmp_path, edit({22: "    source: {constant: No}"}))
    assert f"{file}, line 22: dataset XX, variable XXTESTCD: constant: YAML reads" in message


def test_copy_of_a_variable_that_is_not_there(tmp_path):
    file, message = spec_error(tmp_path, edit({22: "    source: {from: LBTESTCD}"}))
    assert message == (f"{file}, line 22: dataset XX, variable XXTESTCD: "
                       "from LBTESTCD: not another variable of dataset XX")


def test_spec_error_is_an_input_error(tmp_path):
    path = tmp_path / "xx.yaml"
    path.write_text(edit({19: "    type: Character"}))
    with pytest.raises(InputError) as info:
        load_dataset_spec(path, LAYOUT, CODELISTS)
    error = info.value
    assert isinstance(error, SpecError)
    assert (error.file, error.line, error.dataset, error.variable) == (str(path), 19, "XX", "XXTESTCD")


def _specs_copy(tmp_path: Path) -> Path:
    target = tmp_path / "specs"
    shutil.copytree(SPECS, target)
    return target


def test_study_window_overlap_names_the_window_and_its_line(tmp_path):
    specs = _specs_copy(tmp_path)
    study_file = specs / "study.yaml"
    old = "{avisit: Week 6,   avisitn: 6,   target: 43,  lo: 37,  hi: 50}"
    text = study_file.read_text()
    line = text.splitlines().index(f"    - {old}") + 1
    study_file.write_text(text.replace(old, old.replace("lo: 37", "lo: 36")))
    with pytest.raises(SpecError) as info:
        load_study(specs)
    assert str(info.value) == (f"{study_file}, line {line}: analysis_windows.windows[3]: "
                               "windows 'Week 4' and 'Week 6' overlap")


def test_study_wrong_type_and_unit_factor(tmp_path):
    specs = _specs_copy(tmp_path)
    study_file = specs / "study.yaml"
    text = study_file.read_text()
    lines = text.splitlines()
    study_file.write_text(text.replace("trtemfl_window_days: 28", "trtemfl_window_days: four weeks"))
    with pytest.raises(SpecError) as info:
        load_study(specs)
    line = lines.index("trtemfl_window_days: 28") + 1
    assert str(info.value).startswith(f"{study_file}, line {line}: trtemfl_window_days: Input should be")
    study_file.write_text(text.replace("BILI: {umol/L: 1,", "BILI: {umol/L: 2,"))
    with pytest.raises(SpecError) as info:
        load_study(specs)
    line = lines.index("    BILI: {umol/L: 1, mg/dL: 17.1}") + 1
    assert str(info.value) == (f"{study_file}, line {line}: unit_conversion.factors: "
                               "the standard unit 'umol/L' of BILI needs factor 1")


def test_a_date_yaml_cannot_build_is_text_where_text_is_meant(tmp_path):
    # YAML takes 2025-04-41 for a date and fails (day out of range): the loader keeps the text
    path = tmp_path / "xx.yaml"
    path.write_text(edit({2: "label: 2025-04-41", 18: "    label: 2025-02-30"}))
    dataset = load_dataset_spec(path, LAYOUT, CODELISTS)
    assert dataset.label == "2025-04-41"
    assert dataset.variable("XXTESTCD").label == "2025-02-30"


@pytest.mark.parametrize(("old", "new", "message"), [
    ("cutoff_date: 2025-04-14", "cutoff_date: 2025-04-41",
     "cutoff_date: must be a calendar date written YYYY-MM-DD, e.g. 2025-04-14 (found '2025-04-41')"),
    ("cutoff_date: 2025-04-14", "cutoff_date: 2025-04-14 10:30:00",
     "cutoff_date: must be a calendar date written YYYY-MM-DD, e.g. 2025-04-14 "
     "(found '2025-04-14 10:30:00')"),
    ("cutoff_date: 2025-04-14", "cutoff_date: 0",  # pydantic alone would read 1970-01-01
     "cutoff_date: must be a calendar date written YYYY-MM-DD, e.g. 2025-04-14 (found 0)"),
    ("days_per_month: 30.4375", "days_per_month: .inf",
     "days_per_month: Input should be a finite number (found inf)"),
    ("trtemfl_window_days: 28", "trtemfl_window_days: !!int 4w",
     "not valid YAML: cannot read '4w' as !!int (invalid literal for int() with base 10: '4w')"),
])
def test_study_impossible_date_non_finite_number_or_unbuildable_value(tmp_path, old, new, message):
    specs = _specs_copy(tmp_path)
    study_file = specs / "study.yaml"
    text = study_file.read_text()
    line = text.splitlines().index(old) + 1
    study_file.write_text(text.replace(old, new))
    with pytest.raises(SpecError) as info:
        load_study(specs)
    assert str(info.value) == f"{study_file}, line {line}: {message}"


def test_a_second_yaml_document_or_values_nested_too_deeply(tmp_path):
    path, message = spec_error(tmp_path, BASE + "---\nname: YY\n")
    assert message == (f"{path}, line {len(BASE.splitlines()) + 1}: dataset XX, variable XXTESTCD: "
                       "not valid YAML: a second YAML document starts here; a spec file holds one")
    path, message = spec_error(tmp_path, "name: " + "[" * 1100 + "]" * 1100 + "\n")
    assert message == f"{path}: not valid YAML: lists or mappings nested too deeply to read"


def test_a_date_as_text_is_accepted_for_the_cutoff(tmp_path):
    specs = _specs_copy(tmp_path)
    study_file = specs / "study.yaml"
    text = study_file.read_text()
    study_file.write_text(text.replace("cutoff_date: 2025-04-14", "cutoff_date: '2025-04-14'"))
    assert load_study(specs).cutoff_date == dt.date(2025, 4, 14)


def test_codelist_duplicate_raw_value_and_syntax_error(tmp_path):
    path = tmp_path / "codelists.yaml"
    path.write_text("codelists:\n"              # 1
                    "  - name: SEX\n"           # 2
                    "    terms:\n"              # 3
                    "      - {raw: Male, value: M}\n"     # 4
                    "      - {raw: MALE, value: F}\n")    # 5
    with pytest.raises(SpecError) as info:
        load_codelists(tmp_path)
    assert str(info.value) == f"{path}, line 5: codelist SEX: raw value 'MALE' appears twice"
    path.write_text("codelists:\n  - name: SEX\n    terms:\n      - {raw: Male, value: M: x}\n")
    with pytest.raises(SpecError) as info:
        load_codelists(tmp_path)
    assert str(info.value).startswith(f"{path}, line 4: codelist SEX: not valid YAML")


def test_predecessor_variable_checked_across_datasets(tmp_path):
    specs = _specs_copy(tmp_path)
    for spec in (specs / "adam").glob("*.yaml"):  # only this test's ADSL
        spec.unlink()
    shutil.rmtree(specs / "analyses", ignore_errors=True)  # they read ADLB and ADAE
    (specs / "adam").mkdir(exist_ok=True)
    adsl = specs / "adam" / "adsl.yaml"
    adsl.write_text("name: ADSL\n"                                      # 1
                    "label: Subject-Level Analysis Dataset\n"           # 2
                    "class: SUBJECT LEVEL ANALYSIS DATASET\n"           # 3
                    "structure: One record per subject\n"               # 4
                    "keys: [USUBJID]\n"                                 # 5
                    "sort: [USUBJID]\n"                                 # 6
                    "variables:\n"                                      # 7
                    "  - name: USUBJID\n"                               # 8
                    "    label: Unique Subject Identifier\n"            # 9
                    "    type: Char\n"                                  # 10
                    "    role: Identifier\n"                            # 11
                    "    origin: Predecessor\n"                         # 12
                    "    source: {from: DM.USUBJID}\n"                  # 13
                    "  - name: AGE\n"                                   # 14
                    "    label: Age\n"                                  # 15
                    "    type: Num\n"                                   # 16
                    "    role: Record Qualifier\n"                      # 17
                    "    origin: Predecessor\n"                         # 18
                    "    source: {from: DM.AGEY}\n")                    # 19
    with pytest.raises(SpecError) as info:
        load_specs(specs)
    assert str(info.value) == (f"{adsl}, line 19: dataset ADSL, variable AGE: "
                               "from DM.AGEY: dataset DM has no variable AGEY")
    adsl.write_text(adsl.read_text().replace("DM.AGEY", "DM.AGE"))
    assert load_specs(specs).adam["ADSL"].variable("AGE").source.dataset == "DM"


# --------------------------------------------------------------------------------------------
# SDTM derivations used by dm.yaml


def test_usubjid_and_iso_date():
    df = pd.DataFrame({"STUDYID": ["S1", "S1"], "SUBJID": ["01-001", ""],
                       "D": ["03 NOV 2024", "UN UNK 2019"], "T": ["08:30", "09:00"]})
    assert usubjid(df).tolist() == ["S1-01-001", ""]
    assert iso_date(df, "D").tolist() == ["2024-11-03", "2019"]
    assert iso_date(df, "D", time="T").tolist() == ["2024-11-03T08:30", "2019"]


def test_reference_dates_from_exposure():
    dm = pd.DataFrame({"SUBJID": ["A", "B", "C", "D"]}, index=[10, 11, 12, 13])
    exposure = pd.DataFrame({
        "SUBJID": ["A", "A", "A", "B", "B", "C", "D"],
        "EXSTDAT": ["01 JAN 2025", "11 JAN 2025", "21 JAN 2025", "05 FEB 2025", "01 MAR 2025",
                    "01 MAR 2025", "20 APR 2025"],
        "EXENDAT": ["10 JAN 2025", "20 JAN 2025", "", "28 FEB 2025", "30 APR 2025", "10 MAR 2025", ""],
        "DOSE": [0, 5, 2.5, 5, 5, 0, 5],  # A starts with an interruption; C is never dosed > 0
    })
    cutoff = dt.date(2025, 4, 14)
    start = ref_start_from_exposure(dm, exposure, cutoff=cutoff)
    end = ref_end_from_exposure(dm, exposure, cutoff)
    assert start.index.tolist() == [10, 11, 12, 13]
    assert start.tolist() == ["2025-01-11", "2025-02-05", "", ""]  # D starts after the cut-off
    assert end.tolist() == ["2025-04-14", "2025-04-14", "", ""]  # running / past the cut-off
    assert if_treated(dm, exposure, "HETROM", cutoff=cutoff).tolist() == ["HETROM", "HETROM", "", ""]
    assert if_treated(dm, exposure, "", "ASSIGNED, NOT TREATED").tolist() == [
        "", "", "ASSIGNED, NOT TREATED", ""]
    never = exposure.iloc[:0]  # an empty dosing log: nobody treated, no reference dates
    assert ref_start_from_exposure(dm, never).tolist() == ["", "", "", ""]
    assert ref_end_from_exposure(dm, never, cutoff).tolist() == ["", "", "", ""]


def test_cases_put_each_groups_values_in_place_whatever_their_types():
    """A ``cases`` source's groups are evaluated apart and put back by record
    (``evaluate._assign``): text into text and numbers into numbers on whole buffers, other
    mixes through Python objects; missing values stay missing (worked out by hand)."""
    import numpy as np

    from itp_adam.spec.evaluate import _assign, _missing

    index = pd.RangeIndex(5)
    rows = np.array([False, True, False, True, False])
    text = _assign(_missing("Char", 5, index), rows, pd.Series(["A", None], dtype="str"))
    assert text.dtype == "str" and text.iloc[[0, 1, 2, 4]].tolist() == ["", "A", "", ""]
    assert pd.isna(text.iloc[3])  # the part's missing value
    text = _assign(text, ~rows, pd.Series(["x", "y", "z"], dtype="str"))
    assert text.iloc[[0, 1, 2, 4]].tolist() == ["x", "A", "y", "z"]
    numbers = _assign(_missing("Num", 5, index), rows, pd.Series([1.5, np.nan]))
    assert numbers.dtype == np.float64 and numbers.iloc[1] == 1.5
    assert np.isnan(numbers.to_numpy()[[0, 2, 3, 4]]).all()
    mixed = _assign(_missing("Char", 5, index), rows, pd.Series([7, 8]))  # numbers into text
    assert mixed.tolist() == ["", 7, "", 8, ""]
