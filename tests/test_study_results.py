"""The results stage belongs to the study, and the raw rules follow the layout.

A study without ``results:`` in study.yaml ends after ADaM, define and the issue log; a study
naming a results provider has its own parameters checked with study.yaml's file, line and key;
the subject form and column of the raw rules come from raw.yaml."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest

from itp_adam import issues
from itp_adam.cli import main
from itp_adam.io.layout import RawColumn, RawForm, RawLayout
from itp_adam.io.raw import RawExport
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.spec.model import SpecError, Study, load_raw_layout, load_study
from itp_adam.stages.sdtm import prepare_forms
from itp_adam.studies.hetrombopag_itp import STUDY


def _specs_copy(tmp_path: Path, edit=None) -> Path:
    """The shipped specs copied to ``tmp_path/specs``, study.yaml's text passed through ``edit``."""
    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs)
    if edit is not None:
        path = specs / "study.yaml"
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return specs


def _without_results(text: str) -> str:
    assert "\nresults: hetrombopag-itp\n" in text
    return text.replace("\nresults: hetrombopag-itp\n", "\n")


def test_the_shipped_study_declares_its_results():
    study = load_study(default_specs_dir())
    assert study.results == "hetrombopag-itp"
    assert isinstance(study, STUDY)  # read as the provider's model: its parameters typed
    assert [c.name for c in study.response.criteria] == ["CRIT1", "CRIT2"]
    assert study.itp_phase.labels == ["Newly diagnosed", "Persistent", "Chronic"]


def test_a_study_without_results_ends_after_adam_define_and_the_issue_log(tmp_path, capsys):
    specs = _specs_copy(tmp_path, _without_results)
    shutil.rmtree(specs / "analyses")  # nor analyses
    study = load_study(specs)
    assert type(study) is Study and study.results is None
    # its own parameters stay plain data, still read by the ADaM specs as {study: ...}
    assert study.resolve("itp_phase.cut_months") == [3, 12]
    out = tmp_path / "out"
    assert main(["run", "--specs", str(specs), "--raw", str(shipped_study_dir()), "--out", str(out),
                 "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert sorted(p.name for p in out.iterdir()) == [
        "adam", "data-issues.csv", "define", "run.json", "sdtm"]
    assert sorted(p.name for p in (out / "adam").glob("*.xpt")) == ["adae.xpt", "adlb.xpt", "adsl.xpt"]


def test_a_study_with_analyses_and_no_provider_writes_the_ard_and_its_tables(tmp_path, capsys):
    specs = _specs_copy(tmp_path, _without_results)
    out = tmp_path / "out"
    assert main(["run", "--specs", str(specs), "--raw", str(shipped_study_dir()), "--out", str(out),
                 "--quiet"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert sorted(p.name for p in (out / "results").iterdir()) == ["ard.csv", "ard.parquet", "ars.json"]
    # the tables are the engine's (display specs); the figures and the CSVs the provider's
    tables = sorted(p.name for p in (out / "tables").iterdir())
    assert not [name for name in tables if name.endswith((".png", ".svg"))]
    assert {"baseline.rtf", "response.xlsx", "safety.rtf"} <= set(tables)
    ard = pd.read_csv(out / "results" / "ard.csv", keep_default_na=False)
    week6 = ard.loc[ard["analysis_id"].eq("RESPONSE_CRIT1") & ard["group1_level"].eq("All")
                    & ard["group2_level"].eq("6")].set_index("stat_name")["stat_fmt"]
    assert week6[["n", "N", "pct"]].tolist() == ["121", "160", "76"]  # published (tests/published.py)


def test_an_unknown_results_provider_is_refused_with_its_line(tmp_path):
    specs = _specs_copy(tmp_path, lambda t: t.replace("results: hetrombopag-itp", "results: itp"))
    line = (specs / "study.yaml").read_text().splitlines().index("results: itp") + 1
    with pytest.raises(SpecError) as caught:
        load_study(specs)
    assert str(caught.value) == (f"{specs / 'study.yaml'}, line {line}: results: unknown results "
                                 "provider 'itp'; known: hetrombopag-itp")


def test_the_providers_parameters_are_checked_with_file_line_and_key(tmp_path):
    specs = _specs_copy(tmp_path, lambda t: t.replace(
        "labels: [Newly diagnosed, Persistent, Chronic]", "labels: [Newly diagnosed, Chronic]"))
    lines = (specs / "study.yaml").read_text().splitlines()
    line = lines.index("  labels: [Newly diagnosed, Chronic]") + 1
    with pytest.raises(SpecError) as caught:
        load_study(specs)
    assert str(caught.value) == (f"{specs / 'study.yaml'}, line {line}: itp_phase: "
                                 "2 cut points need 3 labels")
    # without the results, nothing reads them as phases: the same file loads
    (specs / "study.yaml").write_text(_without_results("\n".join(lines) + "\n"))
    assert load_study(specs).resolve("itp_phase.labels") == ["Newly diagnosed", "Chronic"]


def test_a_parameter_the_provider_needs_is_reported_missing(tmp_path):
    def drop_hepatic_terms(text: str) -> str:
        start = text.index("\nhepatic_terms:\n")
        end = text.index("\n# SAP \"Adverse events\" (TRTEMFL)")
        return text[:start] + text[end:]

    specs = _specs_copy(tmp_path, drop_hepatic_terms)
    with pytest.raises(SpecError, match=r"study\.yaml, line \d+: missing key 'hepatic_terms'$"):
        load_study(specs)


# --------------------------------------------------------------------------------------------
# raw rules keyed on raw.yaml's subject form and column


def test_the_shipped_layout_names_its_subject_form_and_column():
    layout = load_raw_layout(default_specs_dir())
    assert (layout.subject_form, layout.subject_column) == ("DM", "SUBJID")


def _text(values: list) -> pd.Series:
    return pd.Series(values, dtype="str")


def test_the_raw_rules_use_the_layouts_subject_form_and_column(shipped):
    text = RawColumn(type="text")
    layout = RawLayout(study_id="S", subject_form="PAT", subject_column="PATNO", forms={
        "PAT": RawForm(label="Patients", one_row_per="PATNO", columns={"PATNO": text}),
        "VIS": RawForm(label="Visits", columns={"PATNO": text, "VISIT": text})})
    specs = dataclasses.replace(shipped.specs, layout=layout)
    export = RawExport(source=Path("hand-made"), kind="csv", files={}, forms={
        "PAT": pd.DataFrame({"_ROW": [2, 3], "PATNO": _text(["P1", "P2"])}),
        "VIS": pd.DataFrame({"_ROW": [2, 3, 4], "PATNO": _text(["P1", "P3", ""]),
                             "VISIT": _text(["V1", "V1", "V1"])})})
    with issues.collect() as log:
        forms = prepare_forms(export, specs)
    assert forms["VIS"]["_ROW"].tolist() == [2]
    assert forms["PAT"]["_ROW"].tolist() == [2, 3]
    found = log.frame()[["form", "SUBJID", "row", "rule"]].astype(str).values.tolist()
    assert sorted(found) == [
        ["VIS", "", "4", "no PATNO: record left out of SDTM"],
        ["VIS", "P3", "3", "subject not in PAT: record left out of SDTM"]]


def test_a_subject_form_or_column_not_in_the_layout_is_refused(tmp_path):
    specs = _specs_copy(tmp_path)
    raw = specs / "raw.yaml"
    raw.write_text(raw.read_text().replace("subject_column: SUBJID", "subject_column: PATNO"))
    with pytest.raises(SpecError, match="subject_column 'PATNO' is not a column of form DM"):
        load_raw_layout(specs)
    raw.write_text(raw.read_text().replace("subject_form: DM", "subject_form: PAT"))
    with pytest.raises(SpecError, match=r"subject_form 'PAT' is not a form of the layout \(forms: DM, "):
        load_raw_layout(specs)
