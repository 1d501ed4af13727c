"""The analysis specs: a study's reporting event, read from ``analyses/*.yaml`` and checked.

Modelled on CDISC's Analysis Results Standard (ARS): an **analysis** analyses one variable of
one dataset, for the subjects of an **analysis set**, on the records of a **data subset**,
by **grouping factors**, with a **method** made of **operations** (each operation gives one
statistic per group: n, N, pct, a confidence limit, a mean ...). Every file of the folder may
hold any of the sections below; their items share one name space per section (an analysis in
``response.yaml`` may use a method of ``methods.yaml``)::

    reporting_event: {id: ..., name: ...}        # at most once; defaults from the study
    analysis_sets:   [{id, label, dataset, condition, values}]
    data_subsets:    [{id, label, condition, values}]
    groupings:       [{id, label, variable, dataset, labels_from, all, levels}]
    methods:         [{id, name, calculation, denominator, confidence_level, ci_method,
                       rounding, quantiles, operations: [{stat, label, decimals}]}]
    analyses:        [{id, name, dataset, analysis_set, data_subset, groupings, variable,
                       levels, missing, baseline_variable, union_with, method, reason, purpose}]

Any value may be written as ``{study: path}``: the study parameter at that path
(``Study.resolve``), so a number of the SAP stays in ``study.yaml`` once. Conditions are
expressions of the package's expression language (``spec/expr.py``), parsed when the specs
are loaded; an ``@name`` in one takes its value from the item's ``values``. Every problem is
a :class:`~itp_adam.spec.model.SpecError` naming the file, the line and the item
(``analysis RESP1: method: unknown method 'M9'; known: ...``). ``docs/analyses.md`` describes
the language; ``ard.py`` computes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, ValidationError, field_validator

from ..spec.expr import Expression, ExpressionError, _scalar, compile_expression
from ..spec.model import (
    PROSE_KEYS,
    SasName,
    SpecError,
    SpecProblem,
    Study,
    YamlPath,
    _Document,
    _Model,
    _no_boolean,
    _read_yaml,
    _unknown,
    fill_study_text,
    validation_problems,
)

FOLDER = "analyses"
"""The folder of a specs folder holding the analysis specs (``*.yaml``, read in name order)."""

SUBJECT = "USUBJID"
"""The variable naming the subject in every dataset an analysis reads."""

COUNT_STATISTICS = ("n", "N", "pct", "ci_low", "ci_high")
SUMMARY_STATISTICS = ("n", "mean", "sd", "median", "q1", "q3", "min", "max")
STATISTICS: dict[str, tuple[str, ...]] = {
    "count": COUNT_STATISTICS, "worst": COUNT_STATISTICS, "shift": COUNT_STATISTICS,
    "hierarchy": COUNT_STATISTICS, "summary": SUMMARY_STATISTICS,
}
"""The statistics each calculation can give (the ``stat`` of its operations)."""

STAT_LABELS = {"n": "n", "N": "N", "pct": "%", "ci_low": "CI lower limit (%)",
               "ci_high": "CI upper limit (%)", "mean": "Mean", "sd": "SD", "median": "Median",
               "q1": "Q1", "q3": "Q3", "min": "Min", "max": "Max"}
"""The label of a statistic when its operation gives none."""

REASONS = ("SPECIFIED IN PROTOCOL", "SPECIFIED IN SAP", "DATA DRIVEN", "REQUESTED BY REGULATORY AGENCY")
PURPOSES = ("PRIMARY OUTCOME MEASURE", "SECONDARY OUTCOME MEASURE", "EXPLORATORY OUTCOME MEASURE")
"""ARS's controlled terms of an analysis' reason and purpose (AnalysisReasonEnum, AnalysisPurposeEnum)."""

Id = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=64)]
Scalar = Annotated[str | int | float, BeforeValidator(_no_boolean)]
Text = Annotated[str, Field(min_length=1, max_length=400)]


def level_text(value: object) -> str:
    """A level as the ARD writes it: text as is, a whole number without decimals (``6``, not
    ``6.0``), another number as Python writes it (``2.5``)."""
    if isinstance(value, bool):
        raise TypeError("a level is text or a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


# --------------------------------------------------------------------------------------------
# The items of an analysis spec


class _Item(_Model):
    """An item of a section, with its place in its file for messages."""

    WHAT: ClassVar[str] = "item"
    _file: str = PrivateAttr(default="")
    _path: YamlPath = PrivateAttr(default=())
    _lines: dict[YamlPath, int] = PrivateAttr(default_factory=dict)

    @property
    def spec_file(self) -> str:
        return self._file

    def line_of(self, *keys: str | int) -> int | None:
        """The line of ``keys`` below the item (the deepest part written), for messages."""
        path = (*self._path, *keys)
        while path and path not in self._lines:
            path = path[:-1]
        return self._lines.get(path)

    def context(self) -> str:
        return f"{self.WHAT} {getattr(self, 'id', '?')}"

    def problem(self, message: str, *keys: str | int) -> SpecProblem:
        return SpecProblem(self._file, self.line_of(*keys), message, context=self.context())


class _Conditioned(_Item):
    """An item selecting rows with a condition (an expression) and the values of its @names."""

    condition: Text
    values: dict[str, Any] = Field(default_factory=dict)
    _expression: Expression | None = PrivateAttr(default=None)

    @property
    def expression(self) -> Expression:
        assert self._expression is not None, "checked when loaded"
        return self._expression


class AnalysisSet(_Conditioned):
    """ARS AnalysisSet: the subjects an analysis is about, chosen by a condition on the rows
    of a subject-level dataset (one row per subject): ``{id: SAF, label: Safety population,
    condition: "SAFFL == 'Y'"}``."""

    WHAT: ClassVar[str] = "analysis set"
    id: Id
    label: Text
    dataset: SasName = "ADSL"
    description: str | None = None


class DataSubset(_Conditioned):
    """ARS DataSubset: the records of the analysis dataset an analysis uses. Its condition may
    also name variables of the analysis set's (subject-level) dataset, taken by subject."""

    WHAT: ClassVar[str] = "data subset"
    id: Id
    label: Text
    description: str | None = None


class Level(_Model):
    """A level of a grouping factor with its label: ``{value: 1, label: Placebo}``."""

    value: Scalar
    label: Text | None = None

    @property
    def text(self) -> str:
        return level_text(self.value)

    @property
    def shown(self) -> str:
        return self.label if self.label is not None else self.text


class Grouping(_Item):
    """ARS grouping factor: groups of subjects (a subject grouping: its variable is read from
    the analysis set's dataset, one value per subject) or of records (a data grouping: read
    from the analysis dataset), e.g. treatment, disease phase, analysis visit.

    ``levels`` lists the groups in their order (each a value, or ``{value, label}``); without
    it the groups are the values found, sorted (ARS ``dataDriven``). ``all`` adds, first, a
    group of that label holding everyone (a value outside ``levels`` counts there only).
    ``labels_from`` names a variable giving each found value's label (AVISIT for AVISITN)."""

    WHAT: ClassVar[str] = "grouping"
    id: Id
    label: Text
    variable: SasName
    dataset: SasName | None = None
    labels_from: SasName | None = None
    all: Text | None = None
    levels: list[Level] | None = Field(default=None, min_length=1)

    @field_validator("levels", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [item if isinstance(item, dict) else {"value": item} for item in value]
        return value

    @property
    def data_driven(self) -> bool:
        return self.levels is None


class Operation(_Model):
    """ARS Operation: one statistic of a method, its label and the decimals it is shown with."""

    stat: Literal["n", "N", "pct", "ci_low", "ci_high", "mean", "sd", "median", "q1", "q3",
                  "min", "max"]
    label: Text | None = None
    decimals: int | None = Field(default=None, ge=0, le=10)

    @property
    def shown_label(self) -> str:
        return self.label if self.label is not None else STAT_LABELS[self.stat]


class Method(_Item):
    """ARS AnalysisMethod: a calculation and the operations (statistics) it gives.

    ``calculation``: ``count`` (subjects, per level of the variable or in the data subset),
    ``summary`` (n, mean, SD, median, quartiles, range of a numeric variable), ``worst``
    (subjects by their worst level of the variable), ``shift`` (subjects by level of the
    variable within each level of its baseline variable), ``hierarchy`` (subjects with a
    record, per level of each variable of a hierarchy such as body system and preferred
    term). Settings: ``denominator`` of N and pct (``analysis_set``: subjects of the analysis
    set in the group; ``data_subset``: subjects with a record in the group), the
    ``confidence_level`` and ``ci_method`` of ``ci_low``/``ci_high``, ``rounding`` of the
    shown values and the ``quantiles`` definition of ``q1``/``q3``."""

    WHAT: ClassVar[str] = "method"
    id: Id
    name: Text
    label: Text | None = None
    description: str | None = None
    calculation: Literal["count", "summary", "worst", "shift", "hierarchy"]
    denominator: Literal["analysis_set", "data_subset"] | None = None
    confidence_level: float | None = Field(default=None, gt=0, lt=1)
    ci_method: Literal["clopper-pearson"] | None = None
    rounding: Literal["half_up", "half_even"]
    quantiles: Literal["linear", "averaged_inverted_cdf"] | None = None
    operations: list[Operation] = Field(min_length=1)

    def operation_id(self, operation: Operation) -> str:
        return f"{self.id}_{operation.stat}"


class UnionPart(_Model):
    """Records of another dataset that also make a subject count (``union_with``)."""

    dataset: SasName
    data_subset: Id


class Analysis(_Item):
    """ARS Analysis: one variable of one dataset, analysed with a method for the subjects of an
    analysis set, on the records of a data subset, by grouping factors."""

    WHAT: ClassVar[str] = "analysis"
    id: Id
    name: Text
    label: Text | None = None
    description: str | None = None
    reason: Literal[REASONS] | None = None  # type: ignore[valid-type]
    purpose: Literal[PURPOSES] | None = None  # type: ignore[valid-type]
    dataset: SasName
    analysis_set: Id
    data_subset: Id | None = None
    groupings: list[Id] = Field(default_factory=list)
    variable: SasName | Annotated[list[SasName], Field(min_length=1)] | None = None
    levels: list[Scalar] | None = Field(default=None, min_length=1)
    missing: Text | None = None
    baseline_variable: SasName | None = None
    union_with: list[UnionPart] = Field(default_factory=list)
    method: Id

    @property
    def variables(self) -> list[str]:
        """The analysis variable(s): one, a hierarchy's list, or none."""
        if self.variable is None:
            return []
        return list(self.variable) if isinstance(self.variable, list) else [self.variable]


class ReportingEventInfo(_Item):
    WHAT: ClassVar[str] = "reporting event"
    id: Id
    name: Text
    description: str | None = None
    version: int | None = Field(default=None, ge=1)


# --------------------------------------------------------------------------------------------
# Displays (ARS Output/Display): laid out by display.py


class Cell(_Model):
    """A column of each column group: its header and the template of its text."""

    header: str = ""
    format: Text
    width: float = Field(default=1.0, gt=0)


class Lookup(_Model):
    """Texts by row level from a table of the study (``{study: analysis_windows.windows}``):
    the item whose ``key`` equals the level of the row's innermost grouping."""

    table: list[dict[str, Any]]
    key: str


class StubColumn(_Model):
    """A column left of the results: the first gives the row's label; another one a text
    per row looked up by the row's level (``lookup``, template ``text``)."""

    header: str = ""
    width: float = Field(default=2.0, gt=0)
    text: Text | None = None
    lookup: Lookup | None = None


class Columns(_Model):
    """The column groups: one per level of ``grouping`` (none: one group), each with ``cells``;
    ``variable_levels``: within each group, a column per level of the analysis variable (a
    shift table: baseline by row, the worst level by column)."""

    grouping: Id | None = None
    header: str = "{label}"
    cells: list[Cell] = Field(min_length=1)
    variable_levels: bool = False


class StatisticRow(_Model):
    """A row of a summary block: its label and the template of its cells."""

    label: Text
    format: Text


DEFAULT_SUMMARY = [StatisticRow(label="n", format="{n}"),
                   StatisticRow(label="Mean (SD)", format="{mean} ({sd})"),
                   StatisticRow(label="Median", format="{median}"),
                   StatisticRow(label="Q1, Q3", format="{q1}, {q3}"),
                   StatisticRow(label="Min, Max", format="{min}, {max}")]


class Block(_Model):
    """The rows of one analysis: ``label`` (a heading row above the levels, or the text of a
    row without levels), ``section`` (a section heading), ``level_labels`` (a level's text),
    ``statistics`` (a summary's rows), ``format`` (instead of the cells' own), ``hide_zero``
    (leave out rows whose n is 0 in every column), ``sort`` (``frequency``: most frequent
    first, by the ``all`` group or the sum of the groups; ties by label)."""

    analysis: Id
    label: Text | None = None
    section: Text | None = None
    level_labels: dict[str, Text] = Field(default_factory=dict)
    statistics: list[StatisticRow] | None = None
    format: Text | None = None
    hide_zero: bool = False
    sort: Literal["data", "frequency"] = "data"


class ListingColumn(_Model):
    variable: SasName
    header: Text
    width: float = Field(default=1.0, gt=0)


class Display(_Item):
    """ARS Output with one display: a table over ARD rows or a listing of records."""

    WHAT: ClassVar[str] = "display"
    id: Id
    kind: Literal["table", "listing"] = "table"
    number: Text
    title: Text
    subtitle: Text | None = None
    file: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=60)
    population: Id | None = None
    orientation: Literal["portrait", "landscape"] = "portrait"
    values: dict[str, Any] = Field(default_factory=dict)
    footnotes: list[Text] = Field(default_factory=list)
    # a table
    stub: list[StubColumn] = Field(default_factory=lambda: [StubColumn()])
    columns: Columns | None = None
    rows: list[Block] = Field(default_factory=list)
    summary_rows: list[StatisticRow] = Field(default_factory=lambda: list(DEFAULT_SUMMARY))
    empty: str = "-"
    # a listing
    dataset: SasName | None = None
    analysis_set: Id | None = None
    data_subset: Id | None = None
    variables: list[ListingColumn] = Field(default_factory=list)
    order: list[SasName] = Field(default_factory=list)

    @property
    def stem(self) -> str:
        return self.file or self.id.lower()


class AnalysesFile(_Model):
    """One file of the analyses folder: any of the sections."""

    reporting_event: ReportingEventInfo | None = None
    analysis_sets: list[AnalysisSet] = Field(default_factory=list)
    data_subsets: list[DataSubset] = Field(default_factory=list)
    groupings: list[Grouping] = Field(default_factory=list)
    methods: list[Method] = Field(default_factory=list)
    analyses: list[Analysis] = Field(default_factory=list)
    displays: list[Display] = Field(default_factory=list)


SECTIONS = ("analysis_sets", "data_subsets", "groupings", "methods", "analyses", "displays")


@dataclass
class ReportingEvent:
    """A study's analyses, checked: every reference resolved, every condition parsed."""

    id: str
    name: str
    description: str | None
    analysis_sets: dict[str, AnalysisSet]
    data_subsets: dict[str, DataSubset]
    groupings: dict[str, Grouping]
    methods: dict[str, Method]
    analyses: list[Analysis]
    files: list[str] = field(default_factory=list)
    version: int | None = None
    displays: list[Display] = field(default_factory=list)

    def analysis(self, analysis_id: str) -> Analysis:
        """The analysis of that id (KeyError if none)."""
        for analysis in self.analyses:
            if analysis.id == analysis_id:
                return analysis
        raise KeyError(analysis_id)

    def subject_grouping(self, analysis: Analysis, grouping: Grouping) -> bool:
        """Whether ``grouping`` groups subjects in ``analysis``: its variable is read from the
        analysis set's (subject-level) dataset."""
        subjects = self.analysis_sets[analysis.analysis_set].dataset
        return (grouping.dataset or analysis.dataset) == subjects


# --------------------------------------------------------------------------------------------
# Loading


def analysis_files(specs_dir: Path) -> list[Path]:
    """The analysis spec files of a specs folder, in name order (none: the study has none)."""
    folder = Path(specs_dir) / FOLDER
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def load_analyses(specs_dir: Path, study: Study | None = None,
                  datasets: dict[str, set[str] | None] | None = None) -> ReportingEvent | None:
    """Read and check ``specs_dir/analyses/*.yaml``; None when the folder has no file.

    ``study`` resolves ``{study: path}`` values; ``datasets`` (dataset name -> its variables,
    None when not known, e.g. an SDTM input domain) lets the datasets and variables the
    analyses name be checked too. Raises SpecError listing every problem."""
    files = analysis_files(specs_dir)
    if not files:
        return None
    problems: list[SpecProblem] = []
    parsed: list[AnalysesFile] = []
    for path in files:
        document = _read_yaml(path, "analyses")
        try:
            parsed.append(_parse_file(document, study))
        except SpecError as exc:
            problems += exc.problems
    if problems:
        raise SpecError(problems)
    event = _merge(parsed, files, study, problems)
    if not problems:
        for check in (_expression_problems, _reference_problems, _method_problems):
            problems += check(event)
        if not problems:
            from .display import display_problems

            problems += display_problems(event, event.displays)
        if not problems and datasets is not None:
            problems += _dataset_problems(event, datasets)
    if problems:
        raise SpecError(problems)
    return event


def _parse_file(document: _Document, study: Study | None) -> AnalysesFile:
    """One file validated, its ``{study: path}`` values resolved first, each item placed."""
    problems: list[SpecProblem] = []
    if document.data is None:
        raise SpecError([SpecProblem(document.file, 1, "the file is empty")])
    data = document.data if study is None else fill_study_text(
        document, lambda: study, lambda found: {"context": _context(document, found)},
        PROSE_KEYS)
    data = _resolved(data, (), document, study, problems)
    if problems:
        raise SpecError(problems)
    try:
        parsed = AnalysesFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_problems(
            exc, document, lambda found: {"context": _context(document, found)})) from None
    if parsed.reporting_event is not None:
        _place(parsed.reporting_event, document, ("reporting_event",))
    for section in SECTIONS:
        for index, item in enumerate(getattr(parsed, section)):
            _place(item, document, (section, index))
    return parsed


def _place(item: _Item, document: _Document, path: YamlPath) -> None:
    item._file, item._path, item._lines = document.file, path, document.lines


_SINGULAR = {"analysis_sets": "analysis set", "data_subsets": "data subset", "groupings": "grouping",
             "methods": "method", "analyses": "analysis", "displays": "display"}


def _context(document: _Document, path: YamlPath) -> str | None:
    """``analysis RESP1`` for a place inside an item of a section (its id, or its number)."""
    data = document.data if isinstance(document.data, dict) else {}
    if len(path) >= 2 and path[0] in _SINGULAR and isinstance(path[1], int):
        items = data.get(path[0])
        item = items[path[1]] if isinstance(items, list) and path[1] < len(items) else None
        name = item.get("id") if isinstance(item, dict) else None
        return f"{_SINGULAR[path[0]]} {name if isinstance(name, str) else '#' + str(path[1] + 1)}"
    if path and path[0] == "reporting_event":
        return "reporting event"
    return None


def _resolved(value: Any, path: YamlPath, document: _Document, study: Study | None,
              problems: list[SpecProblem], depth: int = 0) -> Any:
    """``value`` with every ``{study: path}`` replaced by that study parameter."""
    if depth > 50:
        return value
    if isinstance(value, dict) and len(value) == 1 and "study" in value:
        ref = value["study"]
        where = SpecProblem(document.file, document.line_of(path), "", context=_context(document, path))
        if not isinstance(ref, str):
            problems.append(_with(where, f"{{study: ...}} needs a dotted path, e.g. "
                                  f"{{study: cutoff_date}} (found {ref!r})"))
        elif study is None:
            problems.append(_with(where, f"{{study: {ref}}}: no study parameters to read it from"))
        else:
            try:
                return study.resolve(ref)
            except KeyError:
                problems.append(_with(where, f"unknown study parameter {ref!r}: not in {study._file}"))
        return value
    if isinstance(value, dict):
        return {key: _resolved(item, (*path, key), document, study, problems, depth + 1)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item, (*path, index), document, study, problems, depth + 1)
                for index, item in enumerate(value)]
    return value


def _with(problem: SpecProblem, message: str) -> SpecProblem:
    return SpecProblem(problem.file, problem.line, message, context=problem.context)


def _merge(parsed: list[AnalysesFile], files: list[Path], study: Study | None,
           problems: list[SpecProblem]) -> ReportingEvent:
    """The files' sections in one name space; an id used twice in a section is a problem."""
    sections: dict[str, dict[str, _Item]] = {section: {} for section in SECTIONS}
    info: ReportingEventInfo | None = None
    for content in parsed:
        if content.reporting_event is not None:
            if info is not None:
                problems.append(content.reporting_event.problem(
                    f"a second reporting_event (the first is in {info.spec_file})"))
            info = info or content.reporting_event
        for section in SECTIONS:
            found: dict[str, Any] = sections[section]
            for item in getattr(content, section):
                if item.id in found:
                    problems.append(item.problem(f"{_SINGULAR[section]} {item.id} is also defined "
                                                 f"in {found[item.id].spec_file}", "id"))
                else:
                    found[item.id] = item
    default_id = study.study_id if study is not None else "analyses"
    return ReportingEvent(
        id=info.id if info else _as_id(default_id),
        name=info.name if info else f"Analyses of {default_id}",
        description=info.description if info else None,
        version=info.version if info else None,
        analysis_sets=sections["analysis_sets"],  # type: ignore[arg-type]
        data_subsets=sections["data_subsets"],  # type: ignore[arg-type]
        groupings=sections["groupings"],  # type: ignore[arg-type]
        methods=sections["methods"],  # type: ignore[arg-type]
        analyses=list(sections["analyses"].values()),  # type: ignore[arg-type]
        displays=list(sections["displays"].values()),  # type: ignore[arg-type]
        files=[str(path) for path in files])


def _as_id(text: str) -> str:
    cleaned = "".join(char if char.isalnum() or char in "_.-" else "_" for char in text)
    return cleaned if cleaned[:1].isalpha() else f"RE_{cleaned}"


# --------------------------------------------------------------------------------------------
# Checks across items


def _expression_problems(event: ReportingEvent) -> list[SpecProblem]:
    """Every condition parsed (nothing run); its @names passed by ``values`` as numbers, text
    or lists of them."""
    problems: list[SpecProblem] = []
    items: list[_Conditioned] = [*event.analysis_sets.values(), *event.data_subsets.values()]
    for item in items:
        try:
            expression = compile_expression(item.condition)
        except ExpressionError as exc:
            problems.append(item.problem(f"condition: expression refused: {exc}", "condition"))
            continue
        unknown = sorted(expression.params - set(item.values))
        if unknown:
            given = ", ".join(f"@{name}" for name in sorted(item.values)) or "none"
            problems.append(item.problem(  # at values: where the value is missing
                f"condition {item.condition!r}: {', '.join('@' + name for name in unknown)} is "
                f"not passed by values (passed here: {given})", "values"))
        for name, value in item.values.items():
            try:
                _scalar(value, f"@{name}")
            except ExpressionError as exc:
                problems.append(item.problem(f"values: {exc}", "values", name))
        item._expression = expression
    return problems


def _reference_problems(event: ReportingEvent) -> list[SpecProblem]:
    """Every id an analysis names is defined; a grouping's ``all`` label and levels are distinct."""
    problems: list[SpecProblem] = []
    for grouping in event.groupings.values():
        texts = [level.text for level in grouping.levels or []]
        for index, text in enumerate(texts):
            if text in texts[:index]:
                problems.append(grouping.problem(f"level {text!r} is listed twice", "levels", index))
        shown = [level.shown for level in grouping.levels or []]
        if grouping.all is not None and (grouping.all in shown or grouping.all in texts):
            problems.append(grouping.problem(f"all: {grouping.all!r} is also a level", "all"))
    for analysis in event.analyses:
        refs: list[tuple[tuple[str | int, ...], str, dict[str, Any], str]] = [
            (("analysis_set",), analysis.analysis_set, event.analysis_sets, "analysis set"),
            (("method",), analysis.method, event.methods, "method")]
        if analysis.data_subset is not None:
            refs.append((("data_subset",), analysis.data_subset, event.data_subsets, "data subset"))
        refs += [(("groupings", index), name, event.groupings, "grouping")
                 for index, name in enumerate(analysis.groupings)]
        refs += [(("union_with", index, "data_subset"), part.data_subset, event.data_subsets,
                  "data subset") for index, part in enumerate(analysis.union_with)]
        for keys, name, known, what in refs:
            if name not in known:
                problems.append(analysis.problem(_unknown(what, name, known), *keys))
        for index, name in enumerate(analysis.groupings):
            if name in analysis.groupings[:index]:
                problems.append(analysis.problem(f"grouping {name} is listed twice", "groupings", index))
        if analysis.levels is not None:
            texts = [level_text(value) for value in analysis.levels]
            for index, text in enumerate(texts):
                if text in texts[:index]:
                    problems.append(analysis.problem(f"level {text!r} is listed twice", "levels", index))
            if analysis.missing is not None and analysis.missing in texts:
                problems.append(analysis.problem(f"missing: {analysis.missing!r} is also a level",
                                                 "missing"))
    return problems


_NEEDS_DECIMALS = {"pct", "ci_low", "ci_high", "mean", "sd", "median", "q1", "q3", "min", "max"}


def _method_problems(event: ReportingEvent) -> list[SpecProblem]:
    """A method's operations fit its calculation and it has the settings they need; an
    analysis gives what its method's calculation needs."""
    problems: list[SpecProblem] = []
    for method in event.methods.values():
        allowed = STATISTICS[method.calculation]
        stats = [operation.stat for operation in method.operations]
        for index, operation in enumerate(method.operations):
            at = ("operations", index)
            if operation.stat not in allowed:
                problems.append(method.problem(
                    f"stat {operation.stat!r} is not given by calculation {method.calculation} "
                    f"(it gives {', '.join(allowed)})", *at, "stat"))
            if operation.stat in stats[:index]:
                problems.append(method.problem(f"stat {operation.stat!r} is listed twice", *at, "stat"))
            if operation.stat in _NEEDS_DECIMALS and operation.decimals is None:
                problems.append(method.problem(f"stat {operation.stat!r} needs decimals (the "
                                               "places it is rounded to)", *at))
        counting = method.calculation != "summary"
        if counting and method.denominator is None:
            problems.append(method.problem(f"calculation {method.calculation} needs a denominator "
                                           "(analysis_set or data_subset)"))
        if not counting and method.denominator is not None:
            problems.append(method.problem("denominator: a summary has no denominator", "denominator"))
        wants_ci = bool({"ci_low", "ci_high"} & set(stats))
        for key in ("confidence_level", "ci_method"):
            if wants_ci and getattr(method, key) is None:
                problems.append(method.problem(f"ci_low and ci_high need {key}"))
            if not wants_ci and getattr(method, key) is not None:
                problems.append(method.problem(f"{key}: no operation is a confidence limit", key))
        if {"q1", "q3"} & set(stats) and method.quantiles is None:
            problems.append(method.problem("q1 and q3 need quantiles (linear or averaged_inverted_cdf)"))
    for analysis in event.analyses:
        method = event.methods.get(analysis.method)
        if method is None:
            continue
        kind, variables = method.calculation, analysis.variables
        if kind in ("summary", "worst", "shift") and (len(variables) != 1
                                                      or isinstance(analysis.variable, list)):
            problems.append(analysis.problem(f"method {method.id} ({kind}) needs one variable",
                                             "variable"))
        if kind == "count" and isinstance(analysis.variable, list):
            problems.append(analysis.problem(f"method {method.id} (count) takes one variable or "
                                             "none", "variable"))
        if kind == "hierarchy" and not isinstance(analysis.variable, list):
            problems.append(analysis.problem(f"method {method.id} (hierarchy) needs a list of "
                                             "variables, outermost first", "variable"))
        if kind == "worst" and not analysis.levels:
            problems.append(analysis.problem(f"method {method.id} (worst) needs levels, best first "
                                             "and worst last"))
        if (kind == "shift") != (analysis.baseline_variable is not None):
            problems.append(analysis.problem(
                f"method {method.id} ({kind}) needs a baseline_variable" if kind == "shift"
                else f"baseline_variable: only a shift has one (method {method.id} is a {kind})",
                "baseline_variable"))
        if kind in ("summary", "hierarchy") and (analysis.levels is not None or analysis.missing):
            problems.append(analysis.problem(f"levels and missing: a {kind} has no levels",
                                             "levels" if analysis.levels is not None else "missing"))
        if kind == "count" and not variables and (analysis.levels is not None or analysis.missing):
            problems.append(analysis.problem("levels and missing need a variable"))
        if analysis.union_with and (kind != "count" or variables):
            problems.append(analysis.problem("union_with: only a count without a variable (subjects "
                                             "with a record in any of the data subsets)", "union_with"))
        if analysis.union_with and analysis.data_subset is None:
            problems.append(analysis.problem("union_with needs the analysis' own data_subset",
                                             "union_with"))
    return problems


def _dataset_problems(event: ReportingEvent, datasets: dict[str, set[str] | None]) -> list[SpecProblem]:
    """The datasets and variables the analyses name exist (where the dataset's variables are
    known from its spec)."""
    problems: list[SpecProblem] = []

    def variables_of(name: str) -> set[str] | None:
        return datasets.get(name)

    for analysis_set in event.analysis_sets.values():
        if analysis_set.dataset not in datasets:
            problems.append(analysis_set.problem(_unknown("dataset", analysis_set.dataset, datasets),
                                                 "dataset"))
            continue
        known = variables_of(analysis_set.dataset)
        if known is not None:
            for name in sorted(({SUBJECT} | analysis_set.expression.columns) - known):
                problems.append(analysis_set.problem(
                    f"no variable {name} in dataset {analysis_set.dataset}",
                    "dataset" if name == SUBJECT else "condition"))
    for grouping in event.groupings.values():
        if grouping.dataset is not None and grouping.dataset not in datasets:
            problems.append(grouping.problem(_unknown("dataset", grouping.dataset, datasets), "dataset"))
    for analysis in event.analyses:
        analysis_set = event.analysis_sets[analysis.analysis_set]
        if analysis.dataset not in datasets:
            problems.append(analysis.problem(_unknown("dataset", analysis.dataset, datasets), "dataset"))
            continue
        own, subjects = variables_of(analysis.dataset), variables_of(analysis_set.dataset)
        reachable = None if own is None or subjects is None else own | subjects
        if own is not None and SUBJECT not in own:
            problems.append(analysis.problem(f"dataset {analysis.dataset} has no {SUBJECT}", "dataset"))
        checks: list[tuple[str, tuple[str | int, ...], set[str] | None, str]] = []
        for index, name in enumerate(analysis.variables):
            keys = ("variable", index) if isinstance(analysis.variable, list) else ("variable",)
            checks.append((name, keys, reachable, f"dataset {analysis.dataset} or {analysis_set.dataset}"))
        if analysis.baseline_variable is not None:
            checks.append((analysis.baseline_variable, ("baseline_variable",), own,
                           f"dataset {analysis.dataset}"))
        if analysis.data_subset is not None:
            subset = event.data_subsets[analysis.data_subset]
            checks += [(name, ("data_subset",), reachable,
                        f"dataset {analysis.dataset} or {analysis_set.dataset} (data subset "
                        f"{subset.id})") for name in sorted(subset.expression.columns)]
        for index, grouping_id in enumerate(analysis.groupings):
            grouping = event.groupings[grouping_id]
            source = grouping.dataset or analysis.dataset
            if grouping.dataset is not None and grouping.dataset != analysis_set.dataset:
                problems.append(analysis.problem(
                    f"grouping {grouping.id} reads dataset {grouping.dataset}: a grouping's dataset "
                    f"is the analysis set's ({analysis_set.dataset}), or none (the analysis dataset)",
                    "groupings", index))
                continue
            for name in filter(None, (grouping.variable, grouping.labels_from)):
                checks.append((name, ("groupings", index), variables_of(source),
                               f"dataset {source} (grouping {grouping.id})"))
            if analysis.union_with and not event.subject_grouping(analysis, grouping):
                problems.append(analysis.problem(
                    f"union_with: grouping {grouping.id} must group subjects (dataset "
                    f"{analysis_set.dataset})", "groupings", index))
        for index, part in enumerate(analysis.union_with):
            if part.dataset not in datasets:
                problems.append(analysis.problem(_unknown("dataset", part.dataset, datasets),
                                                 "union_with", index, "dataset"))
                continue
            subset = event.data_subsets.get(part.data_subset)
            other = variables_of(part.dataset)
            if subset is not None:
                both = None if other is None or subjects is None else other | subjects
                checks += [(name, ("union_with", index), both,
                            f"dataset {part.dataset} or {analysis_set.dataset} (data subset "
                            f"{subset.id})") for name in sorted(subset.expression.columns)]
        for name, keys, known, where in checks:
            if known is not None and name not in known:
                problems.append(analysis.problem(f"no variable {name} in {where}", *keys))
    return problems
