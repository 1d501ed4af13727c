"""The reviewer's guides (itp_adam.report.guides): the cSDRG and the ADRG in the PHUSE section
order, their text from the study's guides.yaml and specs, the accepted findings with their
reasons from conformance.yaml, the data issues from the run, both renderings (Markdown and
self-contained HTML), and a guides.yaml error named by file and line.

The guides are written into an empty folder from the shipped specs and a hand-made data-issues
frame (writing them reads no dataset), so these tests need no pipeline run; the run's own
guides are checked in tests/test_validate.py (which runs the pipeline once)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from itp_adam.checks.validate import COLUMNS, load_conformance
from itp_adam.errors import InputError
from itp_adam.paths import default_specs_dir, study_dir
from itp_adam.report.guides import Document, GuideText, load_guide_text, write_guides
from itp_adam.spec.model import load_specs

SPECS_DIR = default_specs_dir()

ISSUES = pd.DataFrame([
    ["error", "AE", "01-003", 7, "AETERM", "Pain left flank", "verbatim term not coded", "AE"],
    ["warning", "LAB", "02-001", 11, "LBORRESU", "mmol/L", "unit not in unit_conversion", "LB"],
    ["info", "LAB", "02-002", 12, "LBDAT", "20 APR 2025", "dated after the data cut-off", ""],
    ["info", "LAB", "02-003", 13, "LBDAT", "21 APR 2025", "dated after the data cut-off", ""],
], columns=["severity", "form", "SUBJID", "row", "column", "value", "rule", "dataset"])


@pytest.fixture(scope="module")
def specs():
    return load_specs(SPECS_DIR)


@pytest.fixture(scope="module")
def written(specs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("guides")
    rows = {name: 10 + i for i, name in enumerate([*specs.sdtm, *specs.adam])}
    paths = write_guides(folder, specs, None, ISSUES, specs_dir=SPECS_DIR, rows=rows)
    return folder, paths, rows


def _headings(markdown: str) -> list[str]:
    return [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("## ")]


def test_files_beside_the_datasets(written):
    folder, paths, _ = written
    assert [p.relative_to(folder).as_posix() for p in paths] == [
        "sdtm/csdrg.md", "sdtm/csdrg.html", "adam/adrg.md", "adam/adrg.html"]


def test_csdrg_follows_the_phuse_sections(written):
    folder, _, _ = written
    text = (folder / "sdtm" / "csdrg.md").read_text(encoding="utf-8")
    assert _headings(text) == ["1 Introduction", "2 Protocol Description",
                               "3 Subject Data Description", "4 Data Conformance Summary",
                               "5 Data Issues Summary",
                               "6 Appendix: Conformance Checks of itp-adam validate"]
    for sub in ("1.1 Purpose", "1.2 Acronyms", "1.3 Study Data Standards and Dictionary Inventory",
                "1.4 Source Data Used for Tabulation Dataset Creation",
                "2.1 Protocol Number and Title", "2.2 Protocol Design",
                "2.3 Trial Design Datasets", "3.1 Overview", "3.2 Annotated CRFs",
                "3.3 SDTM Subject Domains", "4.1 Conformance Inputs", "4.2 Issues Summary"):
        assert f"### {sub}\n" in text, sub


def test_adrg_follows_the_phuse_sections(written):
    folder, _, _ = written
    text = (folder / "adam" / "adrg.md").read_text(encoding="utf-8")
    assert _headings(text) == [
        "1 Introduction", "2 Protocol Description",
        "3 Analysis Considerations Related to Multiple Analysis Datasets",
        "4 Analysis Data Creation and Processing Issues", "5 Analysis Dataset Descriptions",
        "6 Data Conformance Summary", "7 Submission of Programs",
        "8 Appendix: Conformance Checks of itp-adam validate"]
    for sub in ("3.1 Core Variables", "3.2 Analysis Populations", "3.3 Treatment Variables",
                "3.4 Data Cut-off", "3.5 Imputation of Partial Dates", "3.6 Baseline",
                "3.7 Analysis Visits and Record Selection", "4.1 Data Dependencies",
                "5.1 Overview", "5.2 Analysis Datasets", "6.1 Conformance Inputs",
                "6.2 Issues Summary"):
        assert f"### {sub}\n" in text, sub


def test_the_study_text_comes_from_guides_yaml_and_the_specs(written, specs):
    folder, _, rows = written
    csdrg = (folder / "sdtm" / "csdrg.md").read_text(encoding="utf-8")
    adrg = (folder / "adam" / "adrg.md").read_text(encoding="utf-8")
    guide = load_guide_text(SPECS_DIR)
    # the data source stated plainly, in the study's words, in both guides
    first = " ".join(guide.data_source.split("\n\n")[0].split())
    assert "not the data of a trial collected on case report forms" in first
    assert first in csdrg and first in adrg
    assert " ".join(guide.protocol_design.split("\n\n")[0].split()) in csdrg
    # the cut-off rules from study.yaml: the date and the deciding column of each form
    study = specs.study
    assert f"Data cut-off: {study.cutoff_date.isoformat()}" in csdrg
    for form, column in study.cutoff_columns.items():
        assert f"| {form} | {column} |" in csdrg
    # every raw form of raw.yaml, every dataset with its record count
    for name, form in specs.layout.forms.items():
        assert f"| {name} | {form.label} |" in csdrg
    for name, dataset in specs.sdtm.items():
        assert f"| {name} | {dataset.label} |" in csdrg
        assert re.search(rf"\| {name} \| [^\n]*\| {rows[name]} \|", csdrg), name
    # derivation decisions: the spec's descriptions of steps and variables
    adsl = specs.adam["ADSL"]
    described = next(var for var in adsl.variables if var.description)
    assert " ".join(described.description.split()).replace("|", "\\|") in adrg
    for flag, population in (study.populations or {}).items():
        assert f"| {flag} | {population.label} | {' '.join(population.rule.split())} |" in adrg
    for window in study.analysis_windows.windows:
        assert f"| {window.avisit} | {window.avisitn:g} | {window.target:g} | " \
               f"{window.lo:g}-{window.hi:g} |" in adrg
    assert " ".join(study.baseline.description.split()) in adrg
    for dictionary in guide.dictionaries:
        assert f"| {dictionary.name} | {dictionary.version} |" in csdrg


def test_the_accepted_findings_and_their_reasons(written, specs):
    folder, _, _ = written
    csdrg = (folder / "sdtm" / "csdrg.md").read_text(encoding="utf-8")
    adrg = (folder / "adam" / "adrg.md").read_text(encoding="utf-8")
    conformance = load_conformance(SPECS_DIR)
    assert conformance.exceptions
    for accepted in conformance.exceptions:
        reason = " ".join(accepted.reason.split()).replace("|", "\\|")
        side = adrg if accepted.dataset in specs.adam else csdrg
        assert f"| {accepted.check} |" in side and reason in side, accepted.check
    assert f"| SDTMIG | {conformance.standards.sdtmig} |" in csdrg
    assert f"| ADaMIG | {conformance.standards.adamig} |" in adrg
    assert f"| CDISC Controlled Terminology | {conformance.standards.ct} |" in csdrg


def test_the_data_issues_summary(written):
    folder, _, _ = written
    csdrg = (folder / "sdtm" / "csdrg.md").read_text(encoding="utf-8")
    assert "1 errors, 1 warnings and 2 information records" in csdrg
    assert "| info | LAB | dated after the data cut-off | 2 |" in csdrg
    assert "| error | AE | verbatim term not coded | 1 |" in csdrg
    # every error is listed on its own
    assert "| AE | 01-003 | 7 | AETERM | Pain left flank | verbatim term not coded | AE |" in csdrg


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("href", "src") if k in attrs]
        if "id" in attrs:
            self.ids.add(attrs["id"])


def test_html_is_self_contained_and_printable(written):
    folder, _, _ = written
    for path in (folder / "sdtm" / "csdrg.html", folder / "adam" / "adrg.html"):
        text = path.read_text(encoding="utf-8")
        page = _Page()
        page.feed(text)
        assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
        assert page.links and all(link.startswith("#") for link in page.links)
        assert {link[1:] for link in page.links} <= page.ids  # the contents all lead somewhere
        assert "@media print" in text and "page-break-before" in text
        assert text.count("<table>") == text.count("</table>") > 5


def test_rendering_escapes_and_numbers():
    doc = Document("T <1>", "sub")
    doc.h(1, "One")
    doc.h(2, "Sub")
    doc.h(1, "Two")
    doc.h(2, "Sub")
    doc.p("a < b & `x|y`\n\nsecond")
    doc.table(["a|b", "c"], [["1|2", None], [3.0, "<i>"]])
    doc.table(["x"], [], empty="nothing here")
    md = doc.markdown()
    assert "## 1 One" in md and "### 2.1 Sub" in md
    assert "| a\\|b | c |" in md and "| 1\\|2 |  |" in md and "| 3 | <i> |" in md
    assert "a < b & `x|y`\n\nsecond\n\n| a" in md and md.endswith("| 3 | <i> |\n\nnothing here\n")
    page = doc.html()
    assert '<h3 id="s2-1">2.1 Sub</h3>' in page and "<td>&lt;i&gt;</td>" in page
    assert "<p>a &lt; b &amp; <code>x|y</code></p>" in page


def test_with_findings_the_issues_are_counted_and_the_unexplained_shown(specs, tmp_path):
    findings = pd.DataFrame([
        ["error", "TS-MISSING", "itp-adam", "TS", "", None, "", "", "no sdtm/ts.xpt", ""],
        ["warning", "AESER-CRIT", "itp-adam", "AE", "AESER", 3, "k", "Y", "m", "not collected"],
        ["warning", "AESER-CRIT", "itp-adam", "AE", "AESER", 5, "k", "Y", "m", "not collected"],
        ["warning", "VAR-ORDER-IG", "itp-adam", "ADSL", "TRTSDT", None, "", "X", "order", ""],
        ["note", "CT-VALUE", "itp-adam", "DS", "DSDECOD", 1, "k", "V", "m", "accepted"],
    ], columns=COLUMNS)
    write_guides(tmp_path, specs, findings, ISSUES, specs_dir=SPECS_DIR)
    csdrg = (tmp_path / "sdtm" / "csdrg.md").read_text(encoding="utf-8")
    adrg = (tmp_path / "adam" / "adrg.md").read_text(encoding="utf-8")
    assert "1 errors, 2 warnings and 1 notes" in csdrg
    assert "| error | TS-MISSING | itp-adam | TS | 1 | NOT EXPLAINED in conformance.yaml. " \
           "no sdtm/ts.xpt |" in csdrg
    assert "| warning | AESER-CRIT | itp-adam | AE.AESER | 2 | not collected |" in csdrg
    assert "TRTSDT" not in csdrg.split("Issues Summary")[1].split("Accepted findings")[0]
    assert "0 errors, 1 warnings and 0 notes" in adrg
    assert "| warning | VAR-ORDER-IG | itp-adam | ADSL.TRTSDT | 1 | NOT EXPLAINED" in adrg


def test_a_study_from_sdtm_gets_the_adrg_only(tmp_path):
    pilot_dir = study_dir("cdiscpilot01")
    pilot = load_specs(pilot_dir)
    paths = write_guides(tmp_path, pilot, None, ISSUES.iloc[:0], specs_dir=pilot_dir)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["adam/adrg.md",
                                                                   "adam/adrg.html"]
    assert not (tmp_path / "sdtm").exists()
    adrg = (tmp_path / "adam" / "adrg.md").read_text(encoding="utf-8")
    assert "made from the study's SDTM datasets, read as delivered: DM, EX, DS, AE, LB, VS" in adrg
    assert load_guide_text(pilot_dir).title.split()[0] in adrg
    assert "| SAFFL |" in adrg  # a population flag of ADSL, though study.yaml lists none
    assert "6.3 Data Issues" in adrg and "data-issues.csv is empty" in adrg


def test_missing_text_is_a_visible_note(specs, tmp_path):
    write_guides(tmp_path, specs, None, ISSUES, specs_dir=tmp_path / "none", guide=GuideText())
    csdrg = (tmp_path / "sdtm" / "csdrg.md").read_text(encoding="utf-8")
    assert "> **Note.** guides.yaml does not describe the source data." in csdrg
    assert "| Sponsor | not given in guides.yaml |" in csdrg


def test_study_parameters_in_the_text_follow_study_yaml(tmp_path):
    """guides.yaml and conformance.yaml write the cut-off as {study: cutoff_date}: a study
    copied with another cut-off says that date in its cSDRG text and define.xml's study
    description (the date was written out in both, so a new cut-off left the old one in the
    reviewer's documents). An unknown parameter, or a section, is a spec error at its line."""
    import shutil

    assert "Data cut-off: 2025-04-14. Records" in load_guide_text(SPECS_DIR).data_source
    assert load_conformance(SPECS_DIR).study_description.endswith("data cut-off 2025-04-14.")
    copy = tmp_path / "study"
    shutil.copytree(SPECS_DIR, copy)
    study = copy / "study.yaml"
    study.write_text(study.read_text(encoding="utf-8").replace(
        "\ncutoff_date: 2025-04-14", "\ncutoff_date: 2024-12-31"), encoding="utf-8")
    assert "Data cut-off: 2024-12-31. Records" in load_guide_text(copy).data_source
    assert load_conformance(copy).study_description == (
        "Real-world study of hetrombopag in immune thrombocytopenia (HETROM-ITP-RWS), data "
        "cut-off 2024-12-31.")
    guides = copy / "guides.yaml"
    text = guides.read_text(encoding="utf-8")
    guides.write_text(text.replace("{study: cutoff_date}",
                                   "{study: cutoff_dat}, {study: analysis_windows}"), encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_guide_text(copy)
    assert str(info.value) == (  # line 15: the key data_source, whose text holds them
        f"2 problems in the specs:\n"
        f"  {guides}, line 15: {{study: cutoff_dat}}: no such parameter in study.yaml; did you "
        "mean 'cutoff_date'?\n"
        f"  {guides}, line 15: {{study: analysis_windows}}: a text can hold a single value (a "
        "date, number or text), not a section or list")


def test_bad_guides_yaml_names_file_and_line(tmp_path):
    (tmp_path / "guides.yaml").write_text("title: A study\nprotocoll: X1\n")
    with pytest.raises(InputError) as info:
        load_guide_text(tmp_path)
    assert str(info.value) == f"{tmp_path / 'guides.yaml'}, line 2: unknown key 'protocoll'"
    assert load_guide_text(tmp_path / "none") == GuideText()
    (tmp_path / "guides.yaml").write_text("")
    assert load_guide_text(tmp_path) == GuideText()
