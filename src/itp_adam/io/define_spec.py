"""The study-level define metadata of ``study.yaml``: documents, external dictionaries and
analysis results metadata (``docs/define.md``, "Study metadata").

Three optional keys of ``study.yaml``, read here with the messages of every spec (file, line,
key) and checked against the dataset specs, so a mistake stops a run before any data is read:

- ``documents``: the documents the define files link (``def:leaf``): reviewer's guides, the SAP,
  an annotated CRF, the tables of the analysis results. A document ``cited_as`` a word (``SAP``)
  is referenced (``def:DocumentRef``) from every method and comment whose text has that word.
- ``dictionaries``: the external dictionaries (MedDRA, WHODrug) with their versions and the
  variables they code (``CodeList``/``ExternalCodeList``).
- ``analysis_results``: result displays and their analysis results (ARM 1.0,
  ``arm:AnalysisResultDisplays`` of the ADaM define).

The engine knows no study: everything written into the define files comes from these keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..spec.model import (
    SpecError,
    SpecProblem,
    Specs,
    YamlPath,
    _describe,
    _read_yaml,
    _validate,
)

STANDARDS = ("SDTM", "ADaM")
_ID = r"^[A-Za-z][A-Za-z0-9_.\-]*$"
Scalar = str | int | float


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class Document(_Model):
    """One document of the submission, linked from the define files as a ``def:leaf``."""

    id: Annotated[str, Field(pattern=_ID)]  # the leaf ID is LF.<id>
    title: str
    href: str  # relative to the folder of the define.xml (or a URL)
    file: str | None = None  # a file of the specs folder, copied to href beside each define
    define: list[Literal["SDTM", "ADaM"]] = Field(default_factory=lambda: list(STANDARDS))
    # supplemental: def:SupplementalDoc; annotated-crf: def:AnnotatedCRF; reference: only a
    # def:leaf, referenced from analysis results (e.g. the table a result display shows)
    kind: Literal["supplemental", "annotated-crf", "reference"] = "supplemental"
    cited_as: list[str] = Field(default_factory=list)  # words that cite it in a method or comment


class Dictionary(_Model):
    """An external dictionary and the variables it codes."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]  # CodeList OID CL.<name>
    dictionary: str  # ExternalCodeList Dictionary, e.g. MEDDRA, WHODRUG
    version: str
    href: str | None = None
    # VARIABLE (every dataset with it) or DATASET.VARIABLE
    variables: list[Annotated[str, Field(pattern=r"^([A-Z][A-Z0-9_]*\.)?[A-Z][A-Z0-9_]*$")]] = \
        Field(min_length=1)


class ProgrammingCode(_Model):
    context: str  # e.g. the language and package
    text: str | None = None  # the code, or a pointer to it
    documents: list[str] = Field(default_factory=list)


class AnalysisDataset(_Model):
    """The records of one dataset a result uses (AND of the conditions) and its variables."""

    dataset: str
    where: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    variables: list[str] = Field(default_factory=list)


class _ResultFields(_Model):
    """What a result display gives its results unless a result says otherwise."""

    reason: str | None = None  # AnalysisReason, e.g. SPECIFIED IN SAP
    purpose: str | None = None  # AnalysisPurpose, e.g. PRIMARY OUTCOME MEASURE
    parameter: str | None = None  # DATASET.VARIABLE of the parameter (ParameterOID)
    documentation: str | None = None
    documentation_documents: list[str] | None = None
    code: ProgrammingCode | None = None


class AnalysisResult(_ResultFields):
    id: Annotated[str, Field(pattern=_ID)]
    description: str
    datasets: list[AnalysisDataset] = Field(min_length=1)


class ResultDisplay(_ResultFields):
    id: Annotated[str, Field(pattern=_ID)]
    name: str  # e.g. Table 2
    title: str
    documents: list[str] = Field(default_factory=list)  # def:DocumentRef of the display
    results: list[AnalysisResult] = Field(min_length=1)

    def resolved(self, result: AnalysisResult) -> AnalysisResult:
        """``result`` with the display's fields where it has none."""
        inherited = {name: getattr(self, name) for name in _ResultFields.model_fields
                     if getattr(result, name) is None}
        return result.model_copy(update=inherited)


class DefineSpec(BaseModel):
    """The define keys of ``study.yaml`` (the study's other keys are ignored here)."""

    model_config = ConfigDict(extra="ignore")
    documents: list[Document] = Field(default_factory=list)
    dictionaries: list[Dictionary] = Field(default_factory=list)
    analysis_results: list[ResultDisplay] = Field(default_factory=list)
    _specs_dir: Path | None = None

    def document(self, doc_id: str) -> Document:
        return next(d for d in self.documents if d.id == doc_id)

    def citations(self) -> list[tuple[re.Pattern[str], str]]:
        """(pattern of a citing word, document id) for every ``cited_as`` word."""
        return [(re.compile(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])"), doc.id)
                for doc in self.documents for word in doc.cited_as]


def load_define_spec(specs_dir: Path, specs: Specs | None = None) -> DefineSpec:
    """The define keys of ``specs_dir/study.yaml``, checked (and against ``specs``' datasets
    when given); SpecError naming study.yaml, the line and the key."""
    specs_dir = Path(specs_dir)
    document = _read_yaml(specs_dir / "study.yaml", "study")
    spec: DefineSpec = _validate(DefineSpec, document, "study")
    spec._specs_dir = specs_dir
    problems = _problems(spec, specs_dir, specs)
    if problems:
        raise SpecError([SpecProblem(document.file, document.line_of(path), message,
                                     **_describe("study", document, path))
                         for path, message in problems])
    return spec


def _problems(spec: DefineSpec, specs_dir: Path, specs: Specs | None) -> list[tuple[YamlPath, str]]:
    problems: list[tuple[YamlPath, str]] = []
    ids: set[str] = set()
    seen: set[str] = set()
    for index, doc in enumerate(spec.documents):
        if doc.id in seen:
            problems.append((("documents", index, "id"), f"document {doc.id} is listed twice"))
        seen.add(doc.id)
        if "ADaM" in doc.define:  # analysis results may cite only documents of the ADaM define
            ids.add(doc.id)
        if doc.file is not None and not (specs_dir / doc.file).is_file():
            problems.append((("documents", index, "file"),
                             f"no file {doc.file} in the specs folder {specs_dir}"))
        if doc.file is not None and ("://" in doc.href or doc.href.startswith(("/", ".."))):
            problems.append((("documents", index, "href"), "a copied file needs an href in the "
                             "folder of the define (no URL, no '..', not absolute)"))
    names: set[str] = set()
    for index, dictionary in enumerate(spec.dictionaries):
        if dictionary.name in names or (specs is not None and dictionary.name in specs.codelists):
            problems.append((("dictionaries", index, "name"),
                             f"{dictionary.name} is already the name of a codelist or dictionary"))
        names.add(dictionary.name)
    adam = specs.adam if specs is not None else None
    displays: set[str] = set()
    for d_index, display in enumerate(spec.analysis_results):
        at: YamlPath = ("analysis_results", d_index)
        if display.id in displays:
            problems.append(((*at, "id"), f"result display {display.id} is listed twice"))
        displays.add(display.id)
        problems += _unknown_documents(display.documents, ids, (*at, "documents"))
        results: set[str] = set()
        for r_index, result in enumerate(display.results):
            r_at: YamlPath = (*at, "results", r_index)
            if result.id in results:
                problems.append(((*r_at, "id"), f"analysis result {result.id} is listed twice"))
            results.add(result.id)
            full = display.resolved(result)
            for field in ("reason", "purpose"):
                if getattr(full, field) is None:
                    problems.append(((*r_at, "id"), f"analysis result {result.id} needs a "
                                     f"{field} (on the result or its display)"))
            problems += _unknown_documents(full.documentation_documents or [], ids,
                                           (*r_at, "documentation_documents"))
            if full.code is not None:
                problems += _unknown_documents(full.code.documents, ids, (*r_at, "code"))
            if adam is None:
                continue
            if full.parameter is not None:
                problems += _unknown_variable(adam, full.parameter, (*r_at, "parameter"))
            for s_index, used in enumerate(result.datasets):
                s_at: YamlPath = (*r_at, "datasets", s_index)
                if used.dataset not in adam:
                    problems.append(((*s_at, "dataset"), f"{used.dataset} is not an ADaM dataset "
                                     f"of the study (known: {', '.join(adam)})"))
                    continue
                for name in [*used.where, *used.variables]:
                    problems += _unknown_variable(adam, f"{used.dataset}.{name}", s_at)
    return problems


def _unknown_documents(ids: list[str], known: set[str], at: YamlPath) -> list[tuple[YamlPath, str]]:
    return [(at, f"document {doc} is not in documents (with ADaM in its define list)")
            for doc in ids if doc not in known]


def _unknown_variable(adam: dict, dotted: str, at: YamlPath) -> list[tuple[YamlPath, str]]:
    dataset, _, variable = dotted.partition(".")
    spec = adam.get(dataset)
    if spec is None or variable not in {v.name for v in spec.variables}:
        return [(at, f"{dotted} is not a variable of the study's ADaM datasets")]
    return []
