"""The reviewer's guides of a run: the SDTM clinical study data reviewer's guide (cSDRG) and
the ADaM data reviewer's guide (ADRG), in the section order of the PHUSE templates.

Every run writes them into its staging folder, beside the datasets and their define.xml
(``docs/reviewers-guides.md``)::

    OUT/sdtm/csdrg.md  OUT/sdtm/csdrg.html   (a study that builds SDTM)
    OUT/adam/adrg.md   OUT/adam/adrg.html    (a study with ADaM datasets)

Both are made from one document model (:class:`Document`: headings, paragraphs, lists and
tables), rendered twice: Markdown, the source text, and one self-contained, printable HTML
file (no script, no external style sheet, font or image). No PDF: the package has no PDF
writer among its dependencies; the HTML prints to PDF from any browser.

Where the text comes from (the code names no study):

- the study's words, which a statistician writes and changes: ``specs/<study>/guides.yaml``
  (:class:`GuideText`: title, protocol, the data source narrative, the protocol design, notes
  per dataset, dictionaries, acronyms, analysis considerations);
- the specs: ``study.yaml`` (cut-off, reference start, populations, imputation, baseline,
  analysis windows...), ``raw.yaml`` (the forms of the export), the dataset specs (label,
  class, structure, keys, the steps and the variables' origins and descriptions: the
  derivation decisions);
- ``conformance.yaml``: the standards' versions and the accepted findings with their reasons;
- the run: ``data-issues.csv`` (the data issues summary), the record counts and the package
  version;
- the findings of ``itp-adam validate`` when the caller has them (``findings``). A run does
  not validate itself (reading the datasets back costs more than the run at scale), so its
  guides list the findings the study expects and accepts; ``itp-adam validate`` reports
  every finding that ``conformance.yaml`` does not explain.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from .. import __version__
from ..spec.model import Dataset, Specs, Variable

GUIDES_FILE = "guides.yaml"


# --------------------------------------------------------------------------------------------
# The study's words: specs/<study>/guides.yaml


class Dictionary(BaseModel):
    """A dictionary or external code list the data use (e.g. MedDRA, a version)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str = ""
    used_for: str = ""


class GuideText(BaseModel):
    """``guides.yaml``: the text of the reviewer's guides that belongs to the study. Every key
    is optional; a guide without it says that the text is not given."""

    model_config = ConfigDict(extra="forbid")
    title: str = ""  # the study's full title
    protocol: str = ""  # protocol number or identifier
    sponsor: str = ""
    data_source: str = ""  # what the source data are and how they were collected
    protocol_design: str = ""  # the study design, in the words a reviewer needs
    trial_design: str = ""  # how the trial design datasets were made (cSDRG 2.3)
    subject_data: str = ""  # overview of the subject data (cSDRG 3.1)
    analysis: str = ""  # analysis considerations beyond the specs (ADRG 3)
    programs: str = ""  # what is submitted instead of programs (ADRG 7)
    datasets: dict[str, str] = Field(default_factory=dict)  # notes per dataset (SDTM or ADaM)
    dictionaries: list[Dictionary] = Field(default_factory=list)
    acronyms: dict[str, str] = Field(default_factory=dict)


def load_guide_text(specs_dir: Path) -> GuideText:
    """Read ``guides.yaml`` of a specs folder (file, line and key in any message), each
    ``{study: P}`` in its text replaced by the study parameter; the empty text without one."""
    path = Path(specs_dir) / GUIDES_FILE
    if not path.is_file():
        return GuideText()
    from ..spec.model import load_model

    return load_model(path, GuideText, "guides", empty_ok=True, study_text=True)


# --------------------------------------------------------------------------------------------
# The document model and its two renderings


@dataclass
class Block:
    kind: str  # "h", "p", "ul", "table", "note"
    text: str = ""
    level: int = 0
    number: str = ""
    items: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "s" + self.number.replace(".", "-") if self.number else \
            re.sub(r"[^a-z0-9]+", "-", self.text.lower()).strip("-")


class Document:
    """A guide: numbered headings (1, 1.1, ...), paragraphs, lists, tables and notes."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title, self.subtitle = title, subtitle
        self.blocks: list[Block] = []
        self._numbers = [0, 0, 0]

    def h(self, level: int, text: str, numbered: bool = True) -> None:
        number = ""
        if numbered:
            self._numbers[level - 1] += 1
            self._numbers[level:] = [0] * (len(self._numbers) - level)
            number = ".".join(str(n) for n in self._numbers[:level])
        self.blocks.append(Block("h", text, level=level, number=number))

    def p(self, text: str) -> None:
        """One paragraph per blank-line-separated part of ``text`` (YAML block text)."""
        for part in re.split(r"\n\s*\n", text.strip()):
            if part.strip():
                self.blocks.append(Block("p", " ".join(part.split())))

    def note(self, text: str) -> None:
        self.blocks.append(Block("note", " ".join(text.split())))

    def ul(self, items: Iterable[str]) -> None:
        items = [" ".join(str(i).split()) for i in items]
        if items:
            self.blocks.append(Block("ul", items=items))

    def table(self, header: list[str], rows: Iterable[Iterable[Any]], empty: str = "") -> None:
        rows = [[_cell(v) for v in row] for row in rows]
        if rows:
            self.blocks.append(Block("table", header=header, rows=rows))
        elif empty:
            self.p(empty)

    def text_or_note(self, text: str, missing: str) -> None:
        """The study's text, or a visible note that ``guides.yaml`` does not give it."""
        if text.strip():
            self.p(text)
        else:
            self.note(missing)

    # renderings

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        if self.subtitle:
            out += [self.subtitle, ""]
        for b in self.blocks:
            if b.kind == "h":
                out += ["#" * (b.level + 1) + f" {b.number} {b.text}".rstrip().replace("  ", " "),
                        ""]
            elif b.kind == "p":
                out += [b.text, ""]
            elif b.kind == "note":
                out += [f"> **Note.** {b.text}", ""]
            elif b.kind == "ul":
                out += [f"- {item}" for item in b.items] + [""]
            elif b.kind == "table":
                out.append("| " + " | ".join(_md(h) for h in b.header) + " |")
                out.append("|" + "|".join("---" for _ in b.header) + "|")
                out += ["| " + " | ".join(_md(v) for v in row) + " |" for row in b.rows]
                out.append("")
        return "\n".join(out).rstrip() + "\n"

    def html(self) -> str:
        esc = html.escape
        toc = [f'<li class="l{b.level}"><a href="#{b.anchor}">{esc(b.number)} {esc(b.text)}</a></li>'
               for b in self.blocks if b.kind == "h" and b.level <= 2]
        body = []
        for b in self.blocks:
            if b.kind == "h":
                tag = f"h{b.level + 1}"
                body.append(f'<{tag} id="{b.anchor}">{esc(b.number)} {esc(b.text)}</{tag}>')
            elif b.kind == "p":
                body.append(f"<p>{_inline(b.text)}</p>")
            elif b.kind == "note":
                body.append(f'<p class="note"><strong>Note.</strong> {_inline(b.text)}</p>')
            elif b.kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
            elif b.kind == "table":
                head = "".join(f"<th>{esc(h)}</th>" for h in b.header)
                rows = "".join("<tr>" + "".join(f"<td>{_inline(v)}</td>" for v in row) + "</tr>"
                               for row in b.rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        subtitle = f'<p class="subtitle">{esc(self.subtitle)}</p>' if self.subtitle else ""
        return _HTML.format(title=esc(self.title), subtitle=subtitle, toc="".join(toc),
                            body="\n".join(body))


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: Georgia, "Times New Roman", serif; font-size: 11pt; line-height: 1.4;
       max-width: 60em; margin: 2em auto; padding: 0 1.5em; color: #111; }}
h1 {{ font-size: 20pt; margin-bottom: 0.2em; }}
h2 {{ font-size: 15pt; border-bottom: 1px solid #999; margin-top: 1.8em; }}
h3 {{ font-size: 12.5pt; margin-top: 1.4em; }}
h4 {{ font-size: 11pt; margin-top: 1.2em; }}
.subtitle {{ color: #444; margin-top: 0; }}
nav {{ border: 1px solid #ccc; padding: 0.5em 1em; margin: 1.5em 0; }}
nav ul {{ list-style: none; padding-left: 0; margin: 0; }}
nav li.l2 {{ padding-left: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; margin: 0.6em 0 1em; font-size: 9.5pt; }}
th, td {{ border: 1px solid #999; padding: 0.2em 0.4em; text-align: left; vertical-align: top; }}
th {{ background: #eee; }}
code {{ font-family: "Courier New", monospace; font-size: 9.5pt; }}
.note {{ border-left: 4px solid #c60; background: #fff6ee; padding: 0.3em 0.6em; }}
@page {{ size: A4; margin: 2cm; }}
@media print {{
  body {{ max-width: none; margin: 0; padding: 0; font-size: 10pt; }}
  h2 {{ page-break-before: always; }}
  h2, h3, h4 {{ page-break-after: avoid; }}
  tr {{ page-break-inside: avoid; }}
  thead {{ display: table-header-group; }}
  nav a {{ color: #111; text-decoration: none; }}
}}
</style>
</head>
<body>
<h1>{title}</h1>
{subtitle}
<nav><strong>Contents</strong><ul>{toc}</ul></nav>
{body}
</body>
</html>
"""


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def _inline(text: str) -> str:
    """Escaped text, with `code` spans kept as code."""
    parts = str(text).split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                   for i, p in enumerate(parts))


# --------------------------------------------------------------------------------------------
# What the specs say


def _datasets_table(datasets: dict[str, Dataset], rows: dict[str, int]) -> list[list[Any]]:
    return [[name, d.label, d.class_.title(), d.structure, ", ".join(d.keys),
             rows.get(name, "")] for name, d in datasets.items()]


def _source_text(var: Variable) -> str:
    """Where a variable's values come from, in a few words."""
    source = var.source.model_dump(by_alias=True) if isinstance(var.source, BaseModel) \
        else var.source
    if not isinstance(source, dict):
        return ""
    if "form" in source:
        return f"`{source['form']}.{source['column']}`"
    if "constant" in source:
        value = source["constant"]
        return f"constant `{value['study']}` (study.yaml)" if isinstance(value, dict) \
            else f"constant `{value}`"
    if "from" in source:
        return f"copy of `{source['from']}`"
    if "step" in source:
        return f"step `{source['step']}`"
    if "derivation" in source:
        return f"derivation `{source['derivation']}`"
    if "row" in source:
        return f"row value `{source['row']}`"
    if "cases" in source:
        return "by case: " + ", ".join(f"`{k}`" for k in source["cases"])
    return ""


def _derivation(dataset: Dataset, var: Variable) -> str:
    """How a variable is derived: its description, else that of the step that makes it."""
    if var.description:
        return var.description
    step = getattr(var.source, "step", None)
    described = next((s.description for s in dataset.steps if s.id == step and s.description),
                     None)
    return described or ""


def _reads(dataset: Dataset) -> list[str]:
    """The other datasets a dataset spec reads (input, copies, dataset arguments)."""
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "dataset" and isinstance(item, str):
                    found[item] = None
                elif key == "from" and isinstance(item, str) and "." in item:
                    found[item.split(".")[0]] = None
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(dataset.model_dump(by_alias=True))
    found.pop(dataset.name, None)
    return list(found)


def _dataset_section(doc: Document, dataset: Dataset, note: str, rows: dict[str, int]) -> None:
    """One dataset: its notes, source, steps (derivation decisions) and described variables."""
    doc.h(3, f"{dataset.name} ({dataset.label})")
    facts = [f"Structure: {dataset.structure}.", f"Keys: {', '.join(dataset.keys)}."]
    if dataset.name in rows:
        facts.append(f"Records: {rows[dataset.name]}.")
    if dataset.forms:
        facts.append("Source forms: " + ", ".join(dataset.forms) + ".")
    reads = _reads(dataset)
    if reads:
        facts.append("Reads: " + ", ".join(reads) + ".")
    doc.p(" ".join(facts))
    if note.strip():
        doc.p(note)
    groups = [[g.group, g.form, g.filter or "", g.description or ""] for g in dataset.records]
    doc.table(["record group", "form", "rows taken", "description"], groups)
    steps = [[s.id, f"`{s.derivation}`", s.description or ""] for s in dataset.steps]
    doc.table(["step", "derivation", "what it does"], steps)
    described = [[v.name, v.label, v.origin, _source_text(v), _derivation(dataset, v)]
                 for v in dataset.variables if _derivation(dataset, v)]
    doc.table(["variable", "label", "origin", "source", "derivation"], described)


def _standards(doc: Document, conformance: Any, guide: GuideText, adam: bool) -> None:
    std = conformance.standards
    rows = [["SDTMIG", std.sdtmig, "the SDTM datasets"]]
    if adam:
        rows.append(["ADaMIG", std.adamig, "the ADaM datasets"])
    rows += [["CDISC Controlled Terminology", std.ct, "coded values (SDTM publishing set)"],
             ["Define-XML", "2.1", "define.xml beside the datasets"]]
    rows += [[d.name, d.version or "not given", d.used_for] for d in guide.dictionaries]
    doc.table(["standard or dictionary", "version", "used for"], rows)
    if not guide.dictionaries:
        doc.note("guides.yaml names no dictionary (e.g. MedDRA and its version).")


def _cutoff(doc: Document, specs: Specs) -> None:
    study = specs.study
    if study.cutoff_date is None:
        doc.p("The specs set no data cut-off (study.yaml has no cutoff_date).")
        return
    doc.p(f"Data cut-off: {study.cutoff_date.isoformat()} (study.yaml `cutoff_date`). A record "
          "whose deciding date is after it is left out when SDTM is built, and listed in "
          "data-issues.csv; a record dated on the cut-off day is kept.")
    doc.table(["raw form", "date column that decides"],
              [[form, column] for form, column in study.cutoff_columns.items()])
    imputation = study.imputation
    if imputation is not None and imputation.end.max_cutoff:
        doc.p("Imputed end dates of ADaM are never after the cut-off date.")


def _acronyms(doc: Document, guide: GuideText, extra: dict[str, str]) -> None:
    terms = {**extra, **guide.acronyms}
    doc.table(["acronym", "meaning"], sorted(terms.items()))


_ACRONYMS = {
    "ADaM": "Analysis Data Model", "ADaMIG": "ADaM Implementation Guide",
    "CDISC": "Clinical Data Interchange Standards Consortium", "CT": "Controlled Terminology",
    "EDC": "Electronic data capture", "ISO 8601": "the international date and time standard",
    "SDTM": "Study Data Tabulation Model", "SDTMIG": "SDTM Implementation Guide",
    "XPT": "SAS transport file, version 5",
}


# --------------------------------------------------------------------------------------------
# Conformance and data issues


def _adam_side(specs: Specs) -> tuple[set[str], bool]:
    """The ADaM dataset names, and whether the study has an SDTM guide too: a finding or an
    accepted finding goes to the ADRG when its dataset is an ADaM dataset (or, for a study
    without an SDTM guide, always), to the cSDRG otherwise."""
    return set(specs.adam), bool(specs.sdtm)


def _exceptions(conformance: Any, adam: bool, specs: Specs) -> list[list[str]]:
    """The accepted findings of conformance.yaml that concern one guide."""
    names, both = _adam_side(specs)
    rows = []
    for e in conformance.exceptions:
        if both and ((e.dataset or "") in names) != adam:
            continue
        where = ".".join(p for p in (e.dataset or "", e.variable or "") if p)
        value = "(blank)" if e.value == "" else (e.value or "")
        rows.append([e.check, where or "all", value, e.severity,
                     " ".join(e.reason.split())])
    return rows


def _for_guide(findings: pd.DataFrame, adam: bool, specs: Specs) -> pd.DataFrame:
    names, both = _adam_side(specs)
    if not both:
        return findings
    on_adam = findings["dataset"].isin(names) | (
        findings["dataset"].eq("") & findings["value"].astype(str).str.startswith("adam/"))
    return findings[on_adam == adam]


def _findings_table(findings: pd.DataFrame) -> list[list[Any]]:
    """Errors and warnings grouped by check, dataset and variable, with their counts and
    explanation (the conformance.yaml reason); notes are counted apart."""
    shown = findings[findings["severity"].isin(["error", "warning"])]
    if shown.empty:
        return []
    grouped = (shown.assign(exception=shown["exception"].fillna(""))
               .groupby(["severity", "check", "source", "dataset", "variable"], sort=False)
               .agg(records=("check", "size"), exception=("exception", "first"),
                    message=("message", "first")).reset_index())
    return [[r.severity, r.check, r.source, ".".join(p for p in (r.dataset, r.variable) if p),
             r.records, r.exception or f"NOT EXPLAINED in conformance.yaml. {r.message}"]
            for r in grouped.itertuples()]


def unexplained(findings: pd.DataFrame) -> pd.DataFrame:
    """The errors and warnings without a reason in conformance.yaml: what the reviewer's
    guides cannot explain."""
    return findings[findings["severity"].isin(["error", "warning"])
                    & findings["exception"].fillna("").eq("")]


def _conformance(doc: Document, conformance: Any, findings: pd.DataFrame | None, adam: bool,
                 specs: Specs, define: bool) -> None:
    doc.h(2, "Conformance Inputs")
    std = conformance.standards
    inputs = [f"`itp-adam validate` of itp-adam {__version__}: the package's own checks of the "
              "datasets against their specs, the SDTMIG/ADaMIG core designations and the rules "
              "a reviewer's engine applies (CDISC CORE, FDA validator rules, FDA Technical "
              "Rejection Criteria); see the appendix and docs/conformance.md."]
    if not adam:
        inputs.append(f"pointblank's SDTMIG {std.sdtmig} rule catalogue with CDISC Controlled "
                      f"Terminology {std.ct}, run offline on every SDTM dataset"
                      + (", with the define.xml beside the datasets." if define else "."))
    inputs.append("Accepted findings and their reasons: the study's conformance.yaml.")
    doc.ul(inputs)
    doc.h(2, "Issues Summary")
    if findings is not None:
        part = _for_guide(findings, adam, specs)
        doc.p(f"Findings of `itp-adam validate` on these datasets: "
              f"{int((part['severity'] == 'error').sum())} errors, "
              f"{int((part['severity'] == 'warning').sum())} warnings and "
              f"{int((part['severity'] == 'note').sum())} notes. Errors and warnings, by check "
              "and variable, with the explanation:")
        doc.table(["severity", "check", "source", "where", "records", "explanation"],
                  _findings_table(part), empty="No errors or warnings.")
    else:
        doc.p("The findings the study expects and accepts (conformance.yaml), each with its "
              "reason. `itp-adam validate OUT` lists every finding of this output and reports, "
              "as not explained, any error or warning that has no reason here.")
    doc.h(3, "Accepted findings (conformance.yaml)", numbered=False)
    doc.table(["check", "where", "value", "severity after acceptance", "reason"],
              _exceptions(conformance, adam, specs),
              empty="conformance.yaml accepts no finding.")


def _data_issues(doc: Document, issues: pd.DataFrame | None, sdtm: bool) -> None:
    if issues is None:
        doc.p("No data-issues.csv.")
        return
    if issues.empty:
        doc.p("data-issues.csv is empty: the run found no data issue.")
        return
    counts = issues["severity"].value_counts()
    doc.p(f"data-issues.csv lists every data problem the run found and how it was handled: "
          f"{counts.get('error', 0)} errors, {counts.get('warning', 0)} warnings and "
          f"{counts.get('info', 0)} information records. By form and rule:")
    group = [c for c in ("severity", "form", "rule") if c in issues]
    table = (issues.groupby(group, sort=False).size().rename("records").reset_index())
    rank = {"error": 0, "warning": 1, "info": 2}
    table = table.sort_values(["severity", "records"], key=lambda s: s.map(rank)
                              if s.name == "severity" else -s, kind="stable")
    doc.table([*group, "records"], table.itertuples(index=False))
    errors = issues[issues["severity"] == "error"]
    if len(errors):
        doc.p("The errors, each:")
        cols = [c for c in ("form", "SUBJID", "row", "column", "value", "rule", "dataset")
                if c in errors]
        doc.table(cols, errors[cols].itertuples(index=False))


# --------------------------------------------------------------------------------------------
# The guides


@dataclass
class GuideInputs:
    specs: Specs
    guide: GuideText
    conformance: Any
    findings: pd.DataFrame | None
    issues: pd.DataFrame | None
    rows: dict[str, int]
    define: bool
    made: dt.date  # the day the guide is dated (a run's: the day the run started)


def _title_lines(inputs: GuideInputs, what: str) -> tuple[str, str]:
    study = inputs.specs.study.study_id
    title = f"{what}: {study}"
    parts = [inputs.guide.title or "", f"Protocol {inputs.guide.protocol}"
             if inputs.guide.protocol else "", inputs.guide.sponsor,
             f"made by itp-adam {__version__} on {inputs.made.isoformat()}"]
    return title, " · ".join(p for p in parts if p)


def _protocol(doc: Document, inputs: GuideInputs, adam: bool) -> None:
    guide, study = inputs.guide, inputs.specs.study
    doc.h(1, "Protocol Description")
    doc.h(2, "Protocol Number and Title")
    doc.table(["", ""], [["Study identifier", study.study_id],
                         ["Protocol", guide.protocol or "not given in guides.yaml"],
                         ["Title", guide.title or "not given in guides.yaml"],
                         ["Sponsor", guide.sponsor or "not given in guides.yaml"]])
    doc.h(2, "Protocol Design in Relation to ADaM Concepts" if adam else "Protocol Design")
    doc.text_or_note(guide.protocol_design, "guides.yaml gives no protocol design.")
    doc.p(f"Study day 1: {' '.join(study.reference_start.description.split())}")


def csdrg(inputs: GuideInputs) -> Document:
    """The SDTM clinical study data reviewer's guide."""
    specs, guide = inputs.specs, inputs.guide
    title, subtitle = _title_lines(inputs, "Clinical Study Data Reviewer's Guide (SDTM)")
    doc = Document(title, subtitle)
    doc.h(1, "Introduction")
    doc.h(2, "Purpose")
    doc.p(f"This guide describes the SDTM datasets of study {specs.study.study_id}: where their "
          "data come from, how they were mapped, the data cut-off, the data issues found and "
          "the conformance findings a reviewer will see, with their explanations. The "
          "datasets and define.xml are in this folder.")
    doc.h(2, "Acronyms")
    _acronyms(doc, guide, _ACRONYMS)
    doc.h(2, "Study Data Standards and Dictionary Inventory")
    _standards(doc, inputs.conformance, guide, adam=False)
    doc.h(2, "Source Data Used for Tabulation Dataset Creation")
    doc.text_or_note(guide.data_source, "guides.yaml does not describe the source data.")
    forms = specs.layout.forms
    doc.p(f"The source is the raw export described by the study's raw.yaml: {len(forms)} forms "
          f"(one file or sheet each), every value as text, dates written as "
          f"{specs.layout.date_format}. There are no annotated case report forms: each SDTM "
          "variable names its source form and column, or its derivation, in the dataset "
          "specs and in define.xml (origin and comment).")
    doc.table(["form", "label", "one row per", "columns"],
              [[name, f.label, f.one_row_per or "", len(f.columns)] for name, f in forms.items()])
    doc.h(3, "Data cut-off", numbered=False)
    _cutoff(doc, specs)
    _protocol(doc, inputs, adam=False)
    doc.h(2, "Trial Design Datasets")
    design = {n: d for n, d in specs.sdtm.items() if d.class_.upper() == "TRIAL DESIGN"}
    doc.table(["dataset", "label", "structure", "records"],
              [[n, d.label, d.structure, inputs.rows.get(n, "")] for n, d in design.items()],
              empty="The specs build no trial design dataset.")
    if guide.trial_design.strip():
        doc.p(guide.trial_design)
    doc.h(1, "Subject Data Description")
    doc.h(2, "Overview")
    doc.text_or_note(guide.subject_data, "guides.yaml gives no overview of the subject data.")
    doc.h(2, "Annotated CRFs")
    doc.p("Not applicable: the data were not collected on CRFs annotated for SDTM. The mapping "
          "of every variable from the raw export is in the dataset specs and in define.xml; "
          "sdtm/trace.csv traces each SDTM record to its raw form and row.")
    doc.h(2, "SDTM Subject Domains")
    subject = {n: d for n, d in specs.sdtm.items() if n not in design}
    doc.table(["dataset", "label", "class", "structure", "keys", "records"],
              _datasets_table(subject, inputs.rows))
    for name, dataset in subject.items():
        _dataset_section(doc, dataset, guide.datasets.get(name, ""), inputs.rows)
    doc.h(1, "Data Conformance Summary")
    _conformance(doc, inputs.conformance, inputs.findings, False, specs, inputs.define)
    doc.h(1, "Data Issues Summary")
    _data_issues(doc, inputs.issues, sdtm=True)
    _appendix(doc)
    return doc


def adrg(inputs: GuideInputs) -> Document:
    """The ADaM data reviewer's guide."""
    specs, guide, study = inputs.specs, inputs.guide, inputs.specs.study
    title, subtitle = _title_lines(inputs, "Analysis Data Reviewer's Guide (ADaM)")
    doc = Document(title, subtitle)
    doc.h(1, "Introduction")
    doc.h(2, "Purpose")
    doc.p(f"This guide describes the ADaM datasets of study {study.study_id}: their sources, "
          "the analysis decisions built into them (populations, treatment variables, data "
          "cut-off, imputation, baseline, analysis visits) and the conformance findings a "
          "reviewer will see, with their explanations. The datasets and define.xml are in "
          "this folder.")
    doc.h(2, "Acronyms")
    _acronyms(doc, guide, _ACRONYMS)
    doc.h(2, "Study Data Standards and Dictionary Inventory")
    _standards(doc, inputs.conformance, guide, adam=True)
    doc.h(2, "Source Data Used for Analysis Dataset Creation")
    doc.text_or_note(guide.data_source, "guides.yaml does not describe the source data.")
    if study.inputs.sdtm is not None:
        doc.p("The ADaM datasets are made from the study's SDTM datasets, read as delivered: "
              + ", ".join(study.inputs.sdtm.domains) + ". They are the source of record; no "
              "SDTM dataset is rewritten.")
    else:
        doc.p("The ADaM datasets are made in the same run from the SDTM datasets beside them "
              "(../sdtm/, described by the cSDRG), which were mapped from the raw export.")
    _protocol(doc, inputs, adam=True)
    doc.h(1, "Analysis Considerations Related to Multiple Analysis Datasets")
    doc.h(2, "Core Variables")
    core = _core_variables(specs)
    doc.table(["variable", "from", "copied into"], core,
              empty="No ADSL variable is copied into another ADaM dataset.")
    doc.h(2, "Analysis Populations")
    subject_level = [(d, v) for d in specs.adam.values()
                     if d.class_.upper().startswith("SUBJECT LEVEL") for v in d.variables]
    pops = {k: [k, p.label, p.rule] for k, p in (study.populations or {}).items()}
    for d, v in subject_level:  # the population flags of ADSL that study.yaml does not describe
        if "POPULATION" in v.label.upper() and v.name not in pops:
            pops[v.name] = [v.name, v.label, _derivation(d, v) or _source_text(v)]
    doc.table(["flag", "label", "rule"], pops.values(),
              empty="Neither study.yaml (populations:) nor ADSL defines a population.")
    doc.h(2, "Treatment Variables")
    treatment = [[v.name, v.label, _derivation(d, v) or _source_text(v)]
                 for d, v in subject_level if v.name.startswith("TRT") or "DOSE" in v.name]
    doc.table(["variable", "label", "derivation"], treatment,
              empty="ADSL has no treatment variables.")
    if study.dose_above is not None:
        doc.p(f"A dosing record counts as treatment when its dose is above {study.dose_above:g} "
              "(study.yaml `dose_above`).")
    doc.h(2, "Data Cut-off")
    _cutoff(doc, specs)
    doc.h(2, "Imputation of Partial Dates")
    doc.table(["dates", "missing day", "missing month and day", "bounds"],
              _imputation_rows(study.imputation), empty="study.yaml sets no date imputation.")
    doc.h(2, "Baseline")
    if study.baseline is not None:
        doc.p(study.baseline.description)
        doc.p(f"Look-back: {study.baseline.lookback_days} days before "
              f"{study.baseline.reference}; records on the same date ordered by "
              f"{', '.join(study.baseline.tie_order)} (the last is baseline).")
    else:
        doc.p("study.yaml sets no baseline rule; see the dataset sections.")
    doc.h(2, "Analysis Visits and Record Selection")
    windows = study.analysis_windows
    if windows is not None:
        doc.p(f"Baseline records get AVISIT {windows.baseline_avisit!r} (AVISITN "
              f"{windows.baseline_avisitn:g}); post-baseline records from study day "
              f"{windows.first_post_baseline_day} are placed by study day in these windows:")
        doc.table(["AVISIT", "AVISITN", "target day", "window (days)"],
                  [[w.avisit, w.avisitn, w.target, f"{w.lo:g}-{w.hi:g}"] for w in windows.windows])
    else:
        doc.p("study.yaml sets no analysis windows.")
    if study.analysis_record is not None:
        order = ", ".join(t if isinstance(t, str) else f"{t[0]} ({t[1]})"
                          for t in study.analysis_record.tie_order)
        doc.p("Per subject, parameter and visit one record is flagged for analysis: the "
              f"closest to the target day, a tie going to the later day, then by {order}.")
    if study.trtemfl_window_days is not None:
        doc.p(f"Treatment-emergent: on or after the first dose and up to "
              f"{study.trtemfl_window_days} days after the last (study.yaml "
              "`trtemfl_window_days`).")
    doc.h(2, "Other Analysis Considerations")
    doc.text_or_note(guide.analysis, "guides.yaml adds no analysis consideration.")
    if study.unit_conversion is not None:
        doc.p("Laboratory results are converted to one standard unit per test:")
        doc.table(["test", "standard unit", "factors to it"],
                  [[t, u, ", ".join(f"{k} x{v:g}" for k, v in
                                    study.unit_conversion.factors.get(t, {}).items())]
                   for t, u in study.unit_conversion.standard_units.items()])
    doc.h(1, "Analysis Data Creation and Processing Issues")
    doc.h(2, "Data Dependencies")
    doc.table(["dataset", "reads"], [[n, ", ".join(_reads(d)) or "-"]
                                     for n, d in specs.adam.items()])
    doc.h(2, "Intermediate Datasets")
    doc.p("None: every ADaM dataset is made directly from its specs in one run; no "
          "intermediate dataset is submitted.")
    doc.h(1, "Analysis Dataset Descriptions")
    doc.h(2, "Overview")
    doc.table(["dataset", "label", "class", "structure", "keys", "records"],
              _datasets_table(specs.adam, inputs.rows))
    doc.h(2, "Analysis Datasets")
    for name, dataset in specs.adam.items():
        _dataset_section(doc, dataset, guide.datasets.get(name, ""), inputs.rows)
    doc.h(1, "Data Conformance Summary")
    _conformance(doc, inputs.conformance, inputs.findings, True, specs, inputs.define)
    if inputs.issues is not None and study.inputs.sdtm is None:
        doc.p("The data issues of the raw export and how each was handled are summarised in "
              "the cSDRG (../sdtm/csdrg.html) and listed in data-issues.csv.")
    elif inputs.issues is not None:
        doc.h(2, "Data Issues", numbered=True)
        _data_issues(doc, inputs.issues, sdtm=False)
    doc.h(1, "Submission of Programs")
    doc.text_or_note(guide.programs, "guides.yaml says nothing of the programs.")
    doc.p(f"The datasets are made by itp-adam {__version__} from the study's YAML specs; "
          "run.json records the package version, the SHA-256 of every spec file, input and "
          "output, and the versions of the packages that ran.")
    _appendix(doc)
    return doc


def _core_variables(specs: Specs) -> list[list[str]]:
    copies: dict[tuple[str, str], list[str]] = {}
    for name, dataset in specs.adam.items():
        for var in dataset.variables:
            source = var.source
            if getattr(source, "from_", None) and "." in source.from_:
                origin, variable = source.from_.split(".", 1)
                if origin in specs.adam and specs.adam[origin].class_.upper().startswith(
                        "SUBJECT LEVEL"):
                    copies.setdefault((variable, origin), []).append(name)
    return [[v, o, ", ".join(names)] for (v, o), names in copies.items()]


def _imputation_rows(imputation: Any) -> list[list[str]]:
    if imputation is None:
        return []
    rows = []
    for kind in ("diagnosis", "start", "end"):
        rule = getattr(imputation, kind)
        bounds = [text for flag, text in (
            (rule.min_first_dose, "first dose date when the known parts match it"),
            (rule.max_own_end, "never after the record's own end date"),
            (rule.max_cutoff, "never after the data cut-off")) if flag]
        day = rule.day_imputation
        rows.append([kind, f"day {day}" if isinstance(day, int) else f"{day} day of the month",
                     _month_day(rule.date_imputation), "; ".join(bounds)])
    return rows


def _month_day(value: str) -> str:
    if re.fullmatch(r"\d{2}-\d{2}", value):
        month, day = value.split("-")
        return dt.date(2001, int(month), int(day)).strftime("%d %b").upper()
    return {"first": "01 JAN", "last": "31 DEC", "mid": "mid-year (30 JUN)"}.get(value, value)


def _appendix(doc: Document) -> None:
    from ..checks.validate import CHECKS

    checks = [[check, what] for check, what in CHECKS.items()]
    doc.h(1, "Appendix: Conformance Checks of itp-adam validate")
    doc.p("Each check with what it finds; its severity and source (CDISC, FDA rule) are in "
          "docs/conformance.md. SDTM-nnn findings come from pointblank's SDTMIG catalogue.")
    doc.table(["check", "finds"], checks)


# --------------------------------------------------------------------------------------------
# Writing


def write_guides(out_staging: Path, specs: Specs, findings: pd.DataFrame | None = None,
                 issues: pd.DataFrame | None = None, *, specs_dir: Path,
                 rows: dict[str, int] | None = None, guide: GuideText | None = None,
                 conformance: Any = None, made: dt.date | None = None) -> list[Path]:
    """Write the cSDRG (``sdtm/csdrg.md`` and ``.html``, when the study builds SDTM) and the
    ADRG (``adam/adrg.md`` and ``.html``, when it has ADaM datasets) into ``out_staging``;
    returns the files written.

    ``findings``: those of ``itp-adam validate`` (``checks.validate.validate_folder``), or None
    (a run: the guides then list the findings conformance.yaml accepts). ``issues``: the run's
    data issues (``data-issues.csv``), read from ``out_staging`` when None. ``rows``: records
    per dataset. ``guide`` and ``conformance``: read from ``specs_dir`` when None. ``made``: the
    day the guides are dated (a run passes the day it started, the day of its tables and
    define.xml; default: today)."""
    from ..checks.validate import load_conformance

    out_staging = Path(out_staging)
    guide = guide if guide is not None else load_guide_text(specs_dir)
    conformance = conformance if conformance is not None else load_conformance(specs_dir)
    if issues is None and (out_staging / "data-issues.csv").is_file():
        issues = pd.read_csv(out_staging / "data-issues.csv", dtype=str, keep_default_na=False)
    written = []
    for group, make, stem, wanted in (("sdtm", csdrg, "csdrg", bool(specs.sdtm)),
                                      ("adam", adrg, "adrg", bool(specs.adam))):
        folder = out_staging / group
        if not wanted:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        inputs = GuideInputs(specs=specs, guide=guide, conformance=conformance,
                             findings=findings, issues=issues, rows=dict(rows or {}),
                             define=(folder / "define.xml").is_file(),
                             made=made or dt.date.today())
        doc = make(inputs)
        for suffix, text in ((".md", doc.markdown()), (".html", doc.html())):
            path = folder / f"{stem}{suffix}"
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
