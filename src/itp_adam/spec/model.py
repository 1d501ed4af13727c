"""The spec language: study parameters, codelists and SDTM/ADaM dataset specs, read from YAML.

A statistical programmer edits the YAML files (see ``docs/specs.md``); this module reads them
into pydantic models and checks them before anything runs. Every problem is reported as a
:class:`SpecError` naming the spec file, the YAML line, the dataset and the variable, so a
typo in a spec is found at load time with its place, not as a crash half-way through a run.

Files in a specs folder::

    raw.yaml          raw export layout (itp_adam.io.layout)
    study.yaml        study parameters: every number of the SAP          -> Study
    codelists.yaml    raw value -> CDISC submission value                -> Codelist
    sdtm/*.yaml       one SDTM dataset per file                          -> Dataset
    adam/*.yaml       one ADaM dataset per file                          -> Dataset
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from ..errors import InputError, did_you_mean
from .expr import ExpressionError, compile_expression
from ..io.layout import RawLayout
from .registry import derivation_names, get_derivation
from ..derive.windows import Window, check_windows

YamlPath = tuple[str | int, ...]
"""Where a value sits in a YAML document: mapping keys and sequence indexes from the root."""

# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a spec file, with its place."""

    file: str
    line: int | None
    message: str
    dataset: str | None = None
    variable: str | None = None
    context: str | None = None  # where, when not a dataset variable: "codelist SEX", "baseline"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        parts = [f"dataset {self.dataset}"] if self.dataset else []
        parts += [f"variable {self.variable}"] if self.variable else []
        parts += [self.context] if self.context else []
        return f"{where}: {', '.join(parts)}: {self.message}" if parts else f"{where}: {self.message}"


class SpecError(InputError):
    """A spec file is not valid: lists every problem found, each with file, line, dataset, variable."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        ordered = sorted(problems, key=lambda p: (p.file, p.line or 0))
        if len(ordered) == 1:
            text = str(ordered[0])
        else:
            text = f"{len(ordered)} problems in the specs:\n" + "\n".join(f"  {p}" for p in ordered)
        super().__init__(text)
        first = ordered[0]
        self.problems = ordered
        self.file, self.line = first.file, first.line
        self.dataset, self.variable = first.dataset, first.variable


# --------------------------------------------------------------------------------------------
# YAML with line numbers


@dataclass(frozen=True)
class _Document:
    """A parsed YAML file and the 1-based line of every key and sequence item in it."""

    file: str
    data: Any
    lines: dict[YamlPath, int]

    def line_of(self, path: YamlPath) -> int:
        """Line of the deepest part of ``path`` present in the file (a missing key -> its parent)."""
        return self.lines.get(self.locate(path), 1)

    def locate(self, path: Iterable[object]) -> YamlPath:
        """The longest prefix of ``path`` found in the file, skipping elements that are not keys.

        Pydantic error locations contain union tags and model names between the real keys;
        they are not in the YAML and are skipped.
        """
        found: YamlPath = ()
        for element in path:
            for candidate in (element, str(element)):
                if (*found, candidate) in self.lines:
                    found = (*found, candidate)  # type: ignore[assignment]
                    break
        return found


_NAME_LINE = re.compile(r"""^\s*-?\s*\{?\s*name:\s*['"]?([^\s,'"}#]+)""")


def _names_near(text: str, line: int) -> tuple[str | None, str | None]:
    """For a file YAML cannot parse: the top-level ``name:`` and the last list item ``- name:``
    at or before ``line`` (a best guess of the dataset and variable, since there is no tree)."""
    top = item = None
    for number, row in enumerate(text.splitlines(), start=1):
        match = _NAME_LINE.match(row)
        if match is None:
            continue
        if row.startswith("name:") and top is None:
            top = match.group(1)
        elif number <= line and not row.startswith("name:"):
            item = match.group(1)
    return top, item


def _record_lines(node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int],
                  duplicates: list[tuple[YamlPath, int]], active: set[int]) -> None:
    """Walk a composed node tree; record each key's and item's line and each duplicate key."""
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in active:  # a recursive alias: stop
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            if key in seen and key != "<<":
                duplicates.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            _record_lines(value_node, (*path, key), lines, duplicates, active)
            lines[(*path, key)] = key_node.start_mark.line + 1  # a block value starts below its key
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines, duplicates, active)
    active.discard(id(node))


def _spec_loader(base: type) -> type:
    """``base`` (a safe YAML loader) with two changes for specs, so a value never ends in a traceback:

    * a date YAML cannot build (``cutoff_date: 2025-04-41``) stays the text as written, for the
      model to refuse with its key and line (or to keep, where text is meant);
    * any other value YAML cannot build (``!!int x``, ``!!float 1.2.3``) is a YAML error at the
      value's line, like a syntax error.
    """

    class Loader(base):  # type: ignore[misc, valid-type]
        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except yaml.YAMLError:
                raise
            except RecursionError:
                raise  # nested too deeply: _read_yaml says so
            except Exception as exc:  # noqa: BLE001 - any value the constructor cannot build
                tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
                value = node.value if isinstance(node, yaml.ScalarNode) else f"a {type(node).__name__}"
                raise yaml.constructor.ConstructorError(
                    None, None, f"cannot read {value!r} as {tag} ({exc})", node.start_mark) from exc

        def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
            try:
                return super().construct_yaml_timestamp(node)
            except (ValueError, AttributeError):  # a month or day out of range; !!timestamp x
                return self.construct_scalar(node)

    Loader.add_constructor("tag:yaml.org,2002:timestamp", Loader.construct_yaml_timestamp)
    return Loader


_LOADER = _spec_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml when installed: 5x faster
_PY_LOADER = _spec_loader(yaml.SafeLoader)


def _parse(text: str, loader_class: type) -> tuple[Any, dict[YamlPath, int], list[tuple[YamlPath, int]]]:
    """The YAML document of ``text``, the line of every key path and the duplicated keys."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        lines: dict[YamlPath, int] = {}
        duplicates: list[tuple[YamlPath, int]] = []
        if node is not None:
            _record_lines(node, (), lines, duplicates, set())
        return (loader.construct_document(node) if node is not None else None), lines, duplicates
    finally:
        loader.dispose()


def _read_yaml(path: Path, kind: str) -> _Document:
    """Parse a spec file, keeping line numbers; YAML errors and duplicate keys raise SpecError."""
    file = str(path)
    if not path.is_file():
        raise SpecError([SpecProblem(file, None, f"{kind} spec file not found")])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes().count(b"\n", 0, exc.start) + 1
        raise SpecError([SpecProblem(file, line, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02X})")]) from exc
    except OSError as exc:
        raise SpecError([SpecProblem(file, None, f"cannot read the file ({exc.strerror})")]) from exc
    try:
        try:
            data, lines, duplicates = _parse(text, _LOADER)
        except yaml.YAMLError:  # parse again in Python for its clearer message
            data, lines, duplicates = _parse(text, _PY_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(getattr(exc, "problem", None) or exc).split())
        context_mark = getattr(exc, "context_mark", None)
        near = line or 0
        if reason == "but found another document":  # PyYAML's words need its context to make sense
            reason, context_mark = "a second YAML document starts here; a spec file holds one", None
        if getattr(exc, "context", None) and context_mark is not None and context_mark is not mark:
            reason += f" ({exc.context} that starts on line {context_mark.line + 1})"
            near = context_mark.line + 1  # the mistake is often in that construct, not below it
        if reason == "mapping values are not allowed here" and line is not None:
            # a plain text holding ": " (often {study: P} written inside a description)
            reason += (" (a text holding ': ', such as {study: P}, is written in quotes or as "
                       "a block: description: >-)")
        top, item = _names_near(text, near)
        raise SpecError([SpecProblem(file, line, f"not valid YAML: {reason}",
                                     **_syntax_context(kind, top, item))]) from exc
    except RecursionError as exc:
        raise SpecError([SpecProblem(file, None, "not valid YAML: lists or mappings nested too "
                                     "deeply to read")]) from exc
    document = _Document(file, data, lines)
    if duplicates:
        raise SpecError([
            SpecProblem(file, line, f"key {dup[-1]!r} appears twice", **_describe(kind, document, dup))
            for dup, line in duplicates
        ])
    return document


def _syntax_context(kind: str, top: str | None, item: str | None) -> dict[str, str | None]:
    if kind == "dataset":
        return {"dataset": top, "variable": item}
    if kind == "codelists":
        return {"context": f"codelist {item}" if item else None}
    return {}


def _describe(kind: str, document: _Document, path: YamlPath) -> dict[str, str | None]:
    """Dataset and variable (dataset specs), or a readable context, for a place in a spec."""
    data = document.data if isinstance(document.data, dict) else {}
    if kind == "dataset":
        name = data.get("name")
        dataset = name if isinstance(name, str) else Path(document.file).stem.upper()
        variable = None
        if len(path) >= 2 and path[0] == "variables" and isinstance(path[1], int):
            variable = _item_name(data.get("variables"), path[1], "variable")
        elif len(path) >= 3 and path[0] == "rows" and isinstance(path[2], str):
            variable = path[2]
        elif len(path) >= 2 and path[0] in ("keys", "sort") and isinstance(path[1], int):
            items = data.get(path[0])
            if isinstance(items, list) and path[1] < len(items):
                variable = str(items[path[1]])
        return {"dataset": dataset, "variable": variable}
    if kind == "codelists":
        if len(path) >= 2 and path[0] == "codelists" and isinstance(path[1], int):
            return {"context": f"codelist {_item_name(data.get('codelists'), path[1], 'codelist')}"}
        return {}
    parent = path[:-1] if path and isinstance(path[-1], str) else path  # the key is in the message
    return {"context": _dotted(parent) or None}


def _item_name(items: object, index: int, what: str) -> str:
    if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
        name = items[index].get("name")
        if isinstance(name, str):
            return name
    return f"#{index + 1} ({what} without a name)"


def _dotted(path: YamlPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _validate(model: type[BaseModel], document: _Document, kind: str) -> Any:
    """Validate a document against ``model``; pydantic errors become SpecErrors with lines.

    Errors at one place are merged: a value failing every member of a union (``first``,
    ``last`` or a day number) gives one message listing what would have been accepted.
    """
    if document.data is None:
        raise SpecError([SpecProblem(document.file, 1, "the file is empty")])
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        raise SpecError(validation_problems(
            exc, document, lambda found: _describe(kind, document, found))) from None


def validation_problems(exc: ValidationError, document: _Document,
                        describe: Callable[[YamlPath], dict[str, Any]]) -> list[SpecProblem]:
    """pydantic's errors as SpecProblems with the line of each place, errors at one place
    merged into one message; ``describe(path)`` gives the problem's context keywords."""
    grouped: dict[tuple[YamlPath, str], list[Any]] = {}
    for error in exc.errors():
        found, loc = document.locate(error["loc"]), error["loc"]
        if error["type"] in ("extra_forbidden", "missing"):
            what = "unknown key" if error["type"] == "extra_forbidden" else "missing key"
            grouped.setdefault((found, f"{what} {loc[-1]!r}"), [])
        else:
            key = next((part for part in reversed(found) if isinstance(part, str)), "")
            grouped.setdefault((found, key), []).append(error)
    return [SpecProblem(document.file, document.line_of(found), _error_message(head, errors),
                        **describe(found))
            for (found, head), errors in grouped.items()]


def _error_message(head: str, errors: list[Any]) -> str:
    """``key: what is wrong (found value)`` in the words of the YAML."""
    if not errors:
        return head
    text = "; or ".join(dict.fromkeys(error["msg"] for error in errors))
    value = errors[0].get("input")
    if isinstance(value, dt.date):  # as written in the YAML, not datetime.date(...)
        value = str(value)
    if not isinstance(value, (dict, list, set)):
        text += f" (found {value!r})"
    return f"{head}: {text}" if head else text


# --------------------------------------------------------------------------------------------
# Field types shared by the models


def _sas_name(value: str) -> str:
    if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,7}", value):
        raise PydanticCustomError(
            "sas_name",
            "not a SAS name: 1-8 characters, upper-case letters, digits or _, starting with a letter",
        )
    return value


def _label(value: str) -> str:
    if len(value) > 40:
        raise PydanticCustomError("label_length", "has {n} characters; at most 40 allowed",
                                  {"n": len(value)})
    if not value.isascii():
        raise PydanticCustomError("label_ascii", "must be ASCII: no accented letters or special symbols")
    return value


def _no_boolean(value: Any) -> Any:
    """Refuse YAML booleans: ``No`` or ``ON`` unquoted is almost always meant as text."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "yaml_boolean",
            "YAML reads unquoted yes/no/on/off/true/false as a boolean: put the text in quotes",
        )
    return value


def _scalar_text(value: Any) -> Any:
    """Accept numbers and dates where text is meant (``raw: 1``), refuse YAML booleans."""
    value = _no_boolean(value)
    if isinstance(value, (int, float, dt.date)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return value


def _length(value: Any) -> Any:
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 200):
        return value
    raise PydanticCustomError("length", "must be a whole number from 1 to 200, or auto")


def _copy_target(value: str) -> str:
    if not re.fullmatch(r"([A-Z][A-Z0-9_]{0,7}\.)?[A-Z][A-Z0-9_]{0,7}", value):
        raise PydanticCustomError("copy_target", "must be VAR or DATASET.VAR (SAS names)")
    return value


def _sas_format(value: str) -> str:
    if not re.fullmatch(r"\$?[A-Za-z_]*\d*\.\d*", value):
        raise PydanticCustomError("sas_format", "must be a SAS format such as DATE9., 8.2 or $CHAR20.")
    return value


def _iso_date(value: Any) -> Any:
    """A calendar date: a YAML date (``2025-04-14``) or the same written as text. Not a number
    (pydantic would read ``0`` as 1970-01-01) and not an impossible date (``2025-04-41``)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PydanticCustomError("iso_date", "must be a calendar date written YYYY-MM-DD, e.g. 2025-04-14")


SasName = Annotated[str, AfterValidator(_sas_name)]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
Label = Annotated[str, AfterValidator(_label)]
Text = Annotated[str, BeforeValidator(_scalar_text)]


class _Model(BaseModel):
    # allow_inf_nan: a spec number is finite (.nan or .inf in a threshold would run, wrongly)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


# --------------------------------------------------------------------------------------------
# Dataset specs


class ColumnSource(_Model):
    """The value of a raw column: ``{form: LAB, column: LBORRES}``."""

    form: str
    column: str


class ConstantSource(_Model):
    """The same value on every record: ``{constant: LB}``, or a study parameter
    ``{constant: {study: study_id}}`` (``Study.resolve``; a date becomes ISO 8601 text)."""

    constant: Annotated[StudyRef | str | int | float, BeforeValidator(_no_boolean)]


class RowSource(_Model):
    """The value of key ``KEY`` of each literal record of the dataset's ``rows``: ``{row: KEY}``."""

    row: str


class FormRef(_Model):
    """A derivation argument ``{form: EX}``: the runner passes that raw form's frame."""

    form: str


class StudyRef(_Model):
    """A derivation argument ``{study: cutoff_date}``: the runner passes ``Study.resolve(path)``."""

    study: str


class DatasetRef(_Model):
    """A derivation argument ``{dataset: DM}``: the runner passes that built dataset's frame."""

    dataset: SasName


class CodelistRef(_Model):
    """A derivation argument ``{codelist: VISIT, field: num}``: the runner passes that codelist
    as a mapping submission value -> the term's ``field`` (terms without it are left out), so a
    table such as visit label -> VISITNUM is written once, in ``codelists.yaml``."""

    codelist: str
    field: Literal["decode", "num"]

    def mapping(self, codelists: dict[str, "Codelist"]) -> dict[str, Any]:
        terms = codelists[self.codelist].terms
        return {t.value: getattr(t, self.field) for t in terms if getattr(t, self.field) is not None}


def _codelist_arg(value: Any) -> Any:
    """A mapping with a ``codelist`` key must be a whole codelist reference (no silent typo)."""
    if isinstance(value, dict) and "codelist" in value:
        try:
            return CodelistRef.model_validate(value)
        except ValidationError as exc:
            raise ValueError("a codelist reference is {codelist: NAME, field: decode|num}") from exc
    return value


ArgValue = Annotated[FormRef | StudyRef | DatasetRef | CodelistRef | Any,
                     Field(union_mode="left_to_right"), BeforeValidator(_codelist_arg)]


class DerivationSource(_Model):
    """A registered derivation called as ``name(frame, **args)``: ``{derivation: usubjid, args: {...}}``."""

    derivation: str
    args: dict[str, ArgValue] = Field(default_factory=dict)


class CopySource(_Model):
    """A copy of another variable: ``{from: RFSTDTC}`` (same dataset) or ``{from: ADSL.TRTSDT}``."""

    from_: Annotated[str, AfterValidator(_copy_target)] = Field(alias="from")

    @property
    def dataset(self) -> str | None:
        """The predecessor dataset, or None for a variable of the same dataset."""
        return self.from_.split(".")[0] if "." in self.from_ else None

    @property
    def variable(self) -> str:
        return self.from_.split(".")[-1]


class StepSource(_Model):
    """A variable made by one of the dataset's ``steps``: ``{step: baseline}``."""

    step: str


_SOURCE_TAGS = {"form": "Column", "constant": "Constant", "derivation": "Derivation", "from": "Copy",
                "step": "Step", "row": "Row", "cases": "Cases"}


def _source_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {model: tag for tag, model in {**_SOURCE_MODELS, "Cases": CasesSource}.items()}.get(
            type(value))
    if not isinstance(value, dict):
        return None
    kinds = [key for key in _SOURCE_TAGS if key in value]
    return _SOURCE_TAGS[kinds[0]] if len(kinds) == 1 else None


_SOURCE_MODELS: dict[str, type[BaseModel]] = {
    "Column": ColumnSource, "Constant": ConstantSource, "Derivation": DerivationSource,
    "Copy": CopySource, "Step": StepSource, "Row": RowSource,
}
_SOURCE_WORDS = {"Column": "form (with column)", "Constant": "constant",
                 "Derivation": "derivation (with args)", "Copy": "from", "Step": "step",
                 "Row": "row", "Cases": "cases"}


def _source_union(models: dict[str, type[BaseModel]]) -> Any:
    """A tagged union of source models, told apart by their key (``form``, ``constant``, ...)."""
    members = tuple(Annotated[model, Tag(tag)] for tag, model in models.items())
    return Annotated[
        Union[members],  # noqa: UP007 - a union built from a tuple
        Discriminator(
            _source_kind,
            custom_error_type="source_kind",
            custom_error_message="needs exactly one of: " + ", ".join(_SOURCE_WORDS[t] for t in models),
        ),
    ]


SimpleSource = _source_union(_SOURCE_MODELS)


class CasesSource(_Model):
    """A source per record group (``records`` of the dataset): ``{cases: {DIAG: ..., SURG: ...}}``."""

    cases: dict[str, SimpleSource] = Field(min_length=1)  # type: ignore[valid-type]


Source = _source_union({**_SOURCE_MODELS, "Cases": CasesSource})


class RecordGroup(_Model):
    """One group of records of a dataset built from several record kinds (e.g. MH: the
    diagnosis and a surgery, both one per row of a history form). Groups are stacked in order."""

    group: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    form: str
    filter: str | None = None  # expression (itp_adam.spec.expr) over the form's columns: which rows give records
    description: str | None = None


class InputData(_Model):
    """Where an ADaM dataset's records start: a built dataset, optionally filtered."""

    dataset: SasName
    filter: str | None = None  # an expression (itp_adam.spec.expr), e.g. "LBTESTCD in ['HGB']"


RowValue = Annotated[StudyRef | str | int | float | dt.date | None, BeforeValidator(_no_boolean)]
"""One value of a literal record (``rows``): text, a number, a date, blank (``null``) or a study
parameter ``{study: path}``."""


class Step(_Model):
    """A derivation that adds variables to the whole working frame (admiral style):
    called as ``derivation(frame, **args)`` and returning the new frame."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    derivation: str
    args: dict[str, ArgValue] = Field(default_factory=dict)
    description: str | None = None

Origin = Literal["Collected", "Derived", "Assigned", "Predecessor", "Protocol"]


class Variable(_Model):
    """One variable of a dataset: metadata for define.xml and where its values come from."""

    name: SasName
    label: Label
    type: Literal["Char", "Num"]
    length: Annotated[int | Literal["auto"], BeforeValidator(_length)] = "auto"
    role: str
    origin: Origin
    source: Source
    codelist: str | None = None
    format: Annotated[str, AfterValidator(_sas_format)] | None = None
    description: str | None = None
    comment: str | None = None  # define.xml def:CommentDef (docs/define.md)


class Dataset(_Model):
    """One SDTM or ADaM dataset: name, metadata, keys, source forms and variables in order."""

    name: SasName
    label: Label
    class_: str = Field(alias="class")
    structure: str
    keys: list[str] = Field(min_length=1)
    sort: list[str] = Field(min_length=1)
    forms: list[str] = Field(default_factory=list)
    records: list[RecordGroup] = Field(default_factory=list)
    input: InputData | None = None
    rows: list[dict[str, RowValue]] = Field(default_factory=list)  # literal records (TS, TA, ...)
    steps: list[Step] = Field(default_factory=list)
    variables: list[Variable] = Field(min_length=1)
    comment: str | None = None  # define.xml def:CommentDef of the dataset (docs/define.md)
    _file: str = PrivateAttr(default="")
    _lines: dict[YamlPath, int] = PrivateAttr(default_factory=dict)

    @property
    def spec_file(self) -> str:
        """The YAML file this dataset was read from."""
        return self._file

    def line_of(self, *path: str | int) -> int | None:
        """Line of a place in the spec, e.g. ``line_of("variables", 3, "source")``, for messages."""
        return self._lines.get(tuple(path))

    def variable(self, name: str) -> Variable:
        """The variable called ``name`` (KeyError if none)."""
        for var in self.variables:
            if var.name == name:
                return var
        raise KeyError(name)


# --------------------------------------------------------------------------------------------
# Codelists


class Term(_Model):
    """One raw value and its CDISC submission value, with decode and numeric code if any."""

    raw: Text
    value: Text
    decode: Text | None = None
    num: float | None = None  # numeric equivalent, e.g. VISITNUM or a grade's --STRESN
    nci: str | None = Field(default=None, pattern=r"^C\d+$")  # the term's NCI code (CDISC CT)
    extended: bool = False  # a sponsor term added to an extensible CDISC codelist


class Codelist(_Model):
    """A controlled terminology list: raw values as collected -> submission values."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    nci: str | None = Field(default=None, pattern=r"^C\d+$")
    label: str | None = None
    description: str | None = None
    terms: list[Term] = Field(min_length=1)

    def value_map(self) -> dict[str, str]:
        """Raw value (stripped, case-folded) -> submission value, for mapping a column."""
        return {term.raw.strip().casefold(): term.value for term in self.terms}


class _CodelistFile(_Model):
    codelists: list[Codelist] = Field(min_length=1)


# --------------------------------------------------------------------------------------------
# Study parameters


class ReferenceStart(_Model):
    """Which date is day 1 of study days and the SDTM reference start (RFSTDTC).

    Documents the SAP's rule (the specs derive the dates): ``first_dose`` (a raw study:
    RFSTDTC is built from the first dose), ``dm_rfstdtc`` (an SDTM study: DM.RFSTDTC as
    delivered)."""

    rule: Literal["first_dose", "dm_rfstdtc"]
    description: str


class RawInput(_Model):
    """The study starts from raw forms, described by a layout file of the specs folder."""

    layout: Annotated[str, Field(pattern=r"^[^/\\]+\.ya?ml$")] = "raw.yaml"


class SdtmInput(_Model):
    """The study starts from SDTM datasets (``run --sdtm DIR``): the domains it reads."""

    domains: list[SasName] = Field(min_length=1)


class Inputs(_Model):
    """What a study starts from (``inputs:`` of study.yaml); raw forms when not written."""

    raw: RawInput | None = None
    sdtm: SdtmInput | None = None

    @property
    def kind(self) -> Literal["raw", "sdtm"]:
        """``"sdtm"`` when the study declares SDTM input, else ``"raw"``."""
        return "sdtm" if self.sdtm is not None else "raw"


class DateImputation(_Model):
    """An admiral-style imputation rule, the arguments of ``derive_vars_dt``, plus its bounds."""

    date_imputation: str = Field(pattern=r"^(first|mid|last|\d{2}-\d{2})$")  # missing month and day
    day_imputation: Literal["first", "last"] | Annotated[int, Field(ge=1, le=31)]  # missing day
    min_first_dose: bool = False  # impute the first dose date when the known parts match it
    max_own_end: bool = False  # never after the record's own complete end date
    max_cutoff: bool = False  # never after the data cut-off


class Imputation(_Model):
    diagnosis: DateImputation
    start: DateImputation  # AE and CM start dates
    end: DateImputation  # AE and CM end dates


class Baseline(_Model):
    lookback_days: int = Field(ge=0, le=36525)  # at most 100 years: a date offset must stay a date
    reference: str  # the reference date variable, e.g. TRTSDT
    tie_order: list[str]  # same-date records: the last in this order is baseline
    description: str


class AnalysisWindows(_Model):
    baseline_avisit: str
    baseline_avisitn: float
    first_post_baseline_day: int
    windows: list[Window] = Field(min_length=1)


class AnalysisRecord(_Model):
    tie_order: list[str | tuple[str, Literal["asc", "desc"]]]  # same-day tie breaks after "later day"


class UnitConversion(_Model):
    standard_units: dict[str, str]
    factors: dict[str, dict[str, float]]


class Population(_Model):
    label: Label
    rule: str


class Study(_Model):
    """Study parameters (``study.yaml``): a small core the engine reads, then the study's own.

    Core: ``study_id``, ``reference_start``, optional ``cutoff_date`` and ``cutoff_columns``
    (raw rules), ``inputs``, ``plugins`` and ``results``. The general sections below are
    optional and checked with their models when present. Any other key is the study's own
    parameter, of any shape, read by specs as ``{study: path}`` (``docs/specs.md``) and typed
    and checked by the study's results provider when it declares one (its ``STUDY``, a
    subclass of this model: ``stages/results.py``)."""

    model_config = ConfigDict(extra="allow")

    study_id: str
    reference_start: ReferenceStart
    cutoff_date: IsoDate | None = None
    cutoff_columns: dict[str, str] = Field(default_factory=dict)
    inputs: Inputs = Field(default_factory=lambda: Inputs(raw=RawInput()))
    plugins: list[str] = Field(default_factory=list)  # Python files of derivations (plugins.py)
    results: str | None = None  # the registered results provider of the study (stages/results.py)
    # general analysis concepts, optional
    dose_above: float | None = Field(default=None, ge=0)
    days_per_month: float | None = Field(default=None, gt=0)
    imputation: Imputation | None = None
    baseline: Baseline | None = None
    analysis_windows: AnalysisWindows | None = None
    analysis_record: AnalysisRecord | None = None
    unit_conversion: UnitConversion | None = None
    trtemfl_window_days: int | None = Field(default=None, ge=0, le=36525)
    populations: dict[str, Population] | None = None
    _file: str = PrivateAttr(default="study.yaml")

    def problems(self) -> list[tuple[YamlPath, str]]:
        """Checks across fields of a study's own parameters: a subclass declaring them (a
        results provider's ``STUDY``, ``stages/results.py``) adds its own; ``(path, message)``."""
        return []

    def resolve(self, path: str) -> Any:
        """The parameter at a dotted ``path`` (``"toxicity_grading.uln_multiples"``) as plain
        Python data, as if written inline in a spec; KeyError if there is no such parameter
        (an optional section not written in study.yaml is no parameter)."""
        value: Any = self
        for depth, part in enumerate(path.split(".")):
            extra = (value.model_extra or {}) if isinstance(value, BaseModel) else {}
            if isinstance(value, BaseModel) and part in type(value).model_fields:
                value = getattr(value, part)
            elif isinstance(value, BaseModel) and part in extra:
                value = extra[part]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]  # response.criteria.0.threshold
            else:
                raise KeyError(path)
            if depth == 0 and value is None and part in _OPTIONAL_SECTIONS:
                raise KeyError(path)  # an optional section the study does not have
        return _plain(value)

    def require(self, key: str, needed_by: str) -> Any:
        """The optional section ``key``; a SpecError naming study.yaml and the key when the
        study does not have it (``needed_by``: what needs it, for the message)."""
        value = getattr(self, key, None)
        if value is None:
            value = (self.model_extra or {}).get(key)
        if value is None:
            raise SpecError([SpecProblem(self._file, None, f"missing key {key!r}, needed by "
                                         f"{needed_by}", context="study parameters")])
        return value


_OPTIONAL_SECTIONS = frozenset(name for name, info in Study.model_fields.items()
                               if not info.is_required() and info.default is None)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


# --------------------------------------------------------------------------------------------
# Loaders


@dataclass(frozen=True)
class Specs:
    """Everything in a specs folder, checked. ``layout`` has no forms when the study starts
    from SDTM (``study.inputs.sdtm``)."""

    layout: RawLayout
    study: Study
    codelists: dict[str, Codelist]
    sdtm: dict[str, Dataset]
    adam: dict[str, Dataset]
    analyses: Any = None  # the reporting event of analyses/*.yaml (itp_adam.analysis.model), if any


def load_model(path: Path, model: type[BaseModel], kind: str, *, empty_ok: bool = False,
               study_text: bool = False) -> Any:
    """Read one YAML spec file into ``model`` with the messages every spec gets (file, line,
    key; never a traceback); for files outside the run's specs, e.g. ``conformance.yaml``.
    ``empty_ok``: an empty file gives the model's defaults. ``study_text``: a ``{study: P}``
    inside a text is replaced by the study parameter ``P`` of the ``study.yaml`` beside the
    file (:func:`fill_study_text`)."""
    document = _read_yaml(Path(path), kind)
    if document.data is None and empty_ok:
        return model()
    if study_text:
        filled = fill_study_text(document, lambda: load_study(Path(path).parent),
                                 lambda where: _describe(kind, document, where))
        document = dataclasses.replace(document, data=filled)
    return _validate(model, document, kind)


STUDY_IN_TEXT = re.compile(r"\{study:\s*([A-Za-z0-9_.]+)\s*\}")
"""A study parameter written inside a text: ``Data cut-off: {study: cutoff_date}.``"""


PROSE_KEYS = frozenset({"name", "description", "comment", "label", "title", "titles",
                        "footnote", "footnotes", "header", "stub"})
"""The keys of a dataset or analysis spec whose text may hold ``{study: P}`` (prose, shown
to reviewers); an expression or argument takes a parameter as a value instead."""


def fill_study_text(document: _Document, load: Callable[[], Study],
                    describe: Callable[[YamlPath], dict[str, Any]] = lambda where: {},
                    keys: frozenset[str] | None = None) -> Any:
    """The document's data with every ``{study: P}`` inside a text replaced by the parameter's
    value (:func:`value_text`: a date as ISO 8601, a whole number without ``.0``), of the
    study ``load()`` gives (called when a text has one). Written once, in study.yaml, a cut-off
    date or a threshold cannot say one thing in the data and another in the reviewer's guide,
    a method's description or define.xml. An unknown parameter, or one that is not a single
    value, is a spec error at its key's line (``describe(path)``: its context keywords).
    ``keys``: only texts under these keys are filled (:data:`PROSE_KEYS`), and ``{study:``
    in any other text is a spec error (an expression names a parameter with ``@name`` and
    ``filter_values``, an argument takes ``{study: P}`` as its value); None: every text."""
    problems: list[SpecProblem] = []
    study: list[Study] = []

    def value_of(name: str, where: YamlPath) -> str:
        if not study:
            study.append(load())
        try:
            value = study[0].resolve(name)
        except KeyError:
            near = did_you_mean(name.split(".")[-1], _parameter_names(study[0], name))
            problems.append(SpecProblem(document.file, document.line_of(where),
                                        f"{{study: {name}}}: no such parameter in study.yaml{near}",
                                        **describe(where)))
            return ""
        if isinstance(value, (dict, list)) or value is None:
            problems.append(SpecProblem(document.file, document.line_of(where),
                                        f"{{study: {name}}}: a text can hold a single value "
                                        "(a date, number or text), not a section or list",
                                        **describe(where)))
            return ""
        return value_text(value)

    def walk(data: Any, where: YamlPath) -> Any:
        if isinstance(data, str) and "{study:" in data:
            key = next((part for part in reversed(where) if isinstance(part, str)), "")
            if keys is not None and key not in keys:
                prose = ", ".join(sorted(keys))
                problems.append(SpecProblem(
                    document.file, document.line_of(where),
                    f"{key}: {{study: P}} inside a text fills only prose ({prose}); an "
                    "expression names a study parameter as @name with filter_values (or "
                    "values), an argument takes {study: P} as its whole value", **describe(where)))
                return data
            return STUDY_IN_TEXT.sub(lambda match: value_of(match.group(1), where), data)
        if isinstance(data, dict):
            return {key: walk(item, (*where, key)) for key, item in data.items()}
        if isinstance(data, list):
            return [walk(item, (*where, index)) for index, item in enumerate(data)]
        return data

    filled = walk(document.data, ())
    if problems:
        raise SpecError(problems)
    return filled


def value_text(value: Any) -> str:
    """One value of the specs as text: ``""`` for blank, a date as ISO 8601, a whole number
    without ``.0`` (``1`` -> ``"1"``), other numbers with up to 15 significant digits (as
    SAS's BEST. and R's ``as.character`` write them: ``0.3``, not ``0.30000000000000004``)."""
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.15g}"
    return str(value)


def _parameter_names(study: Study, name: str) -> list[str]:
    """The parameter names beside the last part of the dotted ``name`` (for "did you mean")."""
    parent = name.rpartition(".")[0]
    try:
        found = study.resolve(parent) if parent else _plain(study)
    except KeyError:
        return []
    return list(found) if isinstance(found, dict) else []


def load_raw_layout(specs_dir: Path, name: str = "raw.yaml") -> RawLayout:
    """Read and check the raw layout (``raw.yaml``, or the file ``inputs.raw.layout`` names)
    with the messages of the other specs (file, line, key)."""
    return _validate(RawLayout, _read_yaml(Path(specs_dir) / name, "raw layout"), "layout")


def no_raw_layout(study: Study) -> RawLayout:
    """The layout of a study without raw input: no forms, so any ``form:`` in a spec is refused."""
    return RawLayout.model_construct(study_id=study.study_id, forms={})


def load_study(specs_dir: Path) -> Study:
    """Read and check ``study.yaml`` (against the raw layout for the study id and cut-off
    columns, when the study starts from raw forms)."""
    specs_dir = Path(specs_dir)
    document = _read_yaml(specs_dir / "study.yaml", "study")
    study: Study = _validate(Study, document, "study")
    study._file = document.file
    raw = study.inputs.raw
    layout = load_raw_layout(specs_dir, raw.layout) if raw is not None else None
    problems = [
        SpecProblem(document.file, document.line_of(path), message, **_describe("study", document, path))
        for path, message in _study_problems(study, layout)
    ]
    if problems:
        raise SpecError(problems)
    if study.results is not None:
        study = _results_study(study, document)
    return study


def _results_study(study: Study, document: _Document) -> Study:
    """``study.yaml`` read again as the ``STUDY`` model of the results provider it declares
    (``stages/results.py``), which types and checks the study's own parameters; SpecError
    naming study.yaml, the line and the key."""
    from ..stages.results import provider_names, results_provider

    if study.results not in provider_names():
        raise SpecError([SpecProblem(document.file, document.line_of(("results",)), _unknown(
            "results provider", str(study.results), provider_names()), context="results")])
    extended: Study = _validate(results_provider(study.results).STUDY, document, "study")
    extended._file = document.file
    problems = [SpecProblem(document.file, document.line_of(path), message,
                            **_describe("study", document, path))
                for path, message in extended.problems()]
    if problems:
        raise SpecError(problems)
    return extended


def _study_problems(study: Study, layout: RawLayout | None) -> list[tuple[YamlPath, str]]:
    """Checks across fields that pydantic types cannot express."""
    problems: list[tuple[YamlPath, str]] = []
    inputs = study.inputs
    if inputs.raw is None and inputs.sdtm is None:
        problems.append((("inputs",), "inputs needs raw ({layout: raw.yaml}) or sdtm ({domains: "
                         "[DM, ...]})"))
    if inputs.raw is not None and inputs.sdtm is not None:
        problems.append((("inputs", "sdtm"), "a study starts from raw forms or from SDTM, not both "
                         "(not supported yet)"))
    if inputs.sdtm is not None:
        domains = inputs.sdtm.domains
        problems += [(("inputs", "sdtm", "domains", index), f"domain {name} is listed twice")
                     for index, name in enumerate(domains) if name in domains[:index]]
    if study.cutoff_columns and study.cutoff_date is None:
        problems.append((("cutoff_columns",), "cutoff_columns need a cutoff_date"))
    if layout is not None and study.study_id != layout.study_id:
        problems.append((("study_id",), f"{study.study_id!r} differs from raw.yaml's {layout.study_id!r}"))
    for form, column in study.cutoff_columns.items():
        at: YamlPath = ("cutoff_columns", form)
        if layout is None:
            problems.append((at, "cutoff_columns name raw forms; this study has no raw input"))
        else:
            problems += _raw_column_problems(layout, form, column, at, at)
    problems += _section_problems(study)
    return problems


def _section_problems(study: Study) -> list[tuple[YamlPath, str]]:
    """Checks of the optional sections the study has (windows, unit conversion, grading, phase)."""
    problems: list[tuple[YamlPath, str]] = []
    windows = study.analysis_windows.windows if study.analysis_windows is not None else []
    for index in range(len(windows)):
        try:  # the first prefix that fails names the window at fault
            check_windows(windows[: index + 1])
        except ValueError as exc:
            problems.append((("analysis_windows", "windows", index), str(exc)))
            break
    for field in ("avisit", "avisitn"):
        seen: set[object] = set()
        for index, window in enumerate(windows):
            if getattr(window, field) in seen:
                problems.append((("analysis_windows", "windows", index, field),
                                 f"{field} {getattr(window, field)!r} is used by two windows"))
            seen.add(getattr(window, field))
    conversion = study.unit_conversion or UnitConversion(standard_units={}, factors={})
    for test in sorted(set(conversion.standard_units) ^ set(conversion.factors)):
        where = "standard_units" if test in conversion.standard_units else "factors"
        problems.append((("unit_conversion", where, test),
                         f"test {test} needs both a standard unit and its factors"))
    for test, unit in conversion.standard_units.items():
        factors = conversion.factors.get(test, {})
        if test in conversion.factors and factors.get(unit) != 1:
            problems.append((("unit_conversion", "factors", test),
                             f"the standard unit {unit!r} of {test} needs factor 1"))
        for raw_unit, factor in factors.items():
            if factor <= 0:
                problems.append((("unit_conversion", "factors", test, raw_unit),
                                 f"factor of {raw_unit!r} must be positive"))
    return problems


def load_codelists(specs_dir: Path) -> dict[str, Codelist]:
    """Read and check ``codelists.yaml``: name -> codelist (names unique, raw values unique)."""
    document = _read_yaml(Path(specs_dir) / "codelists.yaml", "codelists")
    parsed: _CodelistFile = _validate(_CodelistFile, document, "codelists")
    problems: list[tuple[YamlPath, str]] = []
    codelists: dict[str, Codelist] = {}
    for index, codelist in enumerate(parsed.codelists):
        if codelist.name in codelists:
            problems.append((("codelists", index, "name"), f"codelist {codelist.name} is defined twice"))
        codelists[codelist.name] = codelist
        raws: set[str] = set()
        for number, term in enumerate(codelist.terms):
            key = term.raw.strip().casefold()
            if key in raws:
                problems.append((("codelists", index, "terms", number, "raw"),
                                 f"raw value {term.raw!r} appears twice"))
            raws.add(key)
            if term.extended and (term.nci or not codelist.nci):
                problems.append((("codelists", index, "terms", number, "extended"),
                                 "extended: true marks a sponsor term of a CDISC codelist: the "
                                 "codelist needs an nci code and the term none"))
            if term.nci and not codelist.nci:
                problems.append((("codelists", index, "terms", number, "nci"),
                                 "a term nci code needs the codelist's nci code"))
    if problems:
        raise SpecError([
            SpecProblem(document.file, document.line_of(path), message,
                        **_describe("codelists", document, path))
            for path, message in problems
        ])
    return codelists


def load_dataset_spec(path: Path, layout: RawLayout, codelists: dict[str, Codelist], *,
                      study: Study | None = None) -> Dataset:
    """Read and check one dataset spec against the raw layout, codelists and derivation registry.

    With ``study``, ``{study: ...}`` arguments are checked too, and ``{study: P}`` inside a
    text (a description) is the parameter's value (:func:`fill_study_text`). A predecessor
    ``{from: DS.VAR}`` is checked by :func:`load_specs`, which sees every dataset.
    """
    document = _read_yaml(Path(path), "dataset")
    if study is not None:  # {study: P} inside a description
        document = dataclasses.replace(document, data=fill_study_text(
            document, lambda: study, lambda where: _describe("dataset", document, where),
            PROSE_KEYS))
    dataset: Dataset = _validate(Dataset, document, "dataset")
    problems = [
        SpecProblem(document.file, document.line_of(where), message, **_describe("dataset", document, where))
        for where, message in _dataset_problems(dataset, layout, codelists, study)
    ]
    if problems:
        raise SpecError(problems)
    dataset._file, dataset._lines = document.file, document.lines
    return dataset


def _dataset_problems(dataset: Dataset, layout: RawLayout, codelists: dict[str, Codelist],
                      study: Study | None) -> list[tuple[YamlPath, str]]:
    problems: list[tuple[YamlPath, str]] = []
    names: set[str] = set()
    for index, form in enumerate(dataset.forms):
        if form not in layout.forms:
            problems.append((("forms", index), _unknown("raw form", form, layout.forms, "in raw.yaml")))
    for index, group in enumerate(dataset.records):
        if group.form not in layout.forms:
            problems.append((("records", index, "form"),
                             _unknown("raw form", group.form, layout.forms, "in raw.yaml")))
    step_ids: set[str] = set()
    for index, step in enumerate(dataset.steps):
        if step.id in step_ids:
            problems.append((("steps", index, "id"), f"step {step.id} is defined twice"))
        step_ids.add(step.id)
        problems += _derivation_problems(step, ("steps", index), layout, study)
    groups = [group.group for group in dataset.records]
    for index, var in enumerate(dataset.variables):
        here: YamlPath = ("variables", index)
        if var.name in names:
            problems.append(((*here, "name"), f"variable {var.name} is defined twice"))
        names.add(var.name)
        if var.codelist is not None and var.codelist not in codelists:
            problems.append(((*here, "codelist"), _unknown("codelist", var.codelist, codelists)))
        source, at = var.source, (*here, "source")
        if isinstance(source, CasesSource):
            for group in sorted(set(groups) ^ set(source.cases)):
                where = (*at, "cases", group) if group in source.cases else (*at, "cases")
                problems.append((where, f"cases must name each record group ({', '.join(groups)})"
                                 if groups else "cases need record groups (records: in the dataset)"))
            for group, case in source.cases.items():
                problems += _source_problems(case, (*at, "cases", group), layout, study, step_ids)
        else:
            problems += _source_problems(source, at, layout, study, step_ids)
    problems += _codelist_ref_problems(dataset, codelists)
    problems += _expression_problems(dataset)
    all_names = {var.name for var in dataset.variables}
    for index, var in enumerate(dataset.variables):
        source = var.source
        if isinstance(source, CopySource) and source.dataset is None:
            if source.variable == var.name or source.variable not in all_names:
                problems.append((("variables", index, "source", "from"),
                                 f"from {source.variable}: not another variable of dataset {dataset.name}"))
    for field in ("keys", "sort"):
        for index, name in enumerate(getattr(dataset, field)):
            if name not in all_names:
                problems.append(((field, index),
                                 f"{field} variable {name} is not a variable of the dataset"))
    problems += _rows_problems(dataset, study)
    return problems


def _rows_problems(dataset: Dataset, study: Study | None) -> list[tuple[YamlPath, str]]:
    """Literal records (``rows``): the only source of the records, each key a variable of the
    dataset, a number where the variable is Num, ``{study: P}`` a parameter of study.yaml; and
    each ``{row: KEY}`` source names a key of the rows."""
    problems: list[tuple[YamlPath, str]] = []
    variables = {var.name: var for var in dataset.variables}
    others = [name for name in ("forms", "records", "input") if getattr(dataset, name)]
    if dataset.rows and others:
        problems.append((("rows",), "the records come from one of forms, records, input or rows; "
                         f"this dataset also has {', '.join(others)}"))
    keys: set[str] = set()
    for number, row in enumerate(dataset.rows):
        for key, value in row.items():
            at: YamlPath = ("rows", number, key)
            keys.add(key)
            var = variables.get(key)
            if var is None:
                problems.append((at, _unknown("variable", key, variables,
                                              f"in row {number + 1} (a key names a variable)")))
            elif isinstance(value, StudyRef):
                problems += _study_ref_problems(value.study, at, study)
            elif var.type == "Num" and value is not None and (
                    not isinstance(value, (int, float)) or isinstance(value, bool)):
                problems.append((at, f"variable {key} is Num: a row value must be a number "
                                     f"(found {value!r})"))
    for index, var in enumerate(dataset.variables):
        at = ("variables", index, "source")
        cases = var.source.cases.items() if isinstance(var.source, CasesSource) else [(None, var.source)]
        for group, source in cases:
            if not isinstance(source, RowSource):
                continue
            where = (*(at if group is None else (*at, "cases", group)), "row")
            if not dataset.rows:
                problems.append((where, f"{{row: {source.row}}} needs the dataset's literal "
                                        "records (rows:)"))
            elif source.row not in keys:
                problems.append((where, _unknown("row key", source.row, keys, "in rows")))
    return problems


def _study_ref_problems(path: str, at: YamlPath, study: Study | None) -> list[tuple[YamlPath, str]]:
    """A ``{study: path}`` value that names no parameter of study.yaml (with ``study``)."""
    if study is None:
        return []
    try:
        study.resolve(path)
    except KeyError:
        return [(at, f"unknown study parameter {path!r}: not in {study._file}")]
    return []


def _source_problems(source: object, at: YamlPath, layout: RawLayout, study: Study | None,
                     step_ids: set[str]) -> list[tuple[YamlPath, str]]:
    if isinstance(source, ConstantSource) and isinstance(source.constant, StudyRef):
        return _study_ref_problems(source.constant.study, (*at, "constant"), study)
    if isinstance(source, ColumnSource):
        return _raw_column_problems(layout, source.form, source.column, (*at, "form"), (*at, "column"))
    if isinstance(source, DerivationSource):
        return _derivation_problems(source, at, layout, study)
    if isinstance(source, StepSource) and source.step not in step_ids:
        return [((*at, "step"), _unknown("step", source.step, step_ids, "in steps"))]
    return []


def _raw_column_problems(layout: RawLayout, form: str, column: str, form_at: YamlPath,
                         column_at: YamlPath) -> list[tuple[YamlPath, str]]:
    if form not in layout.forms:
        return [(form_at, _unknown("raw form", form, layout.forms, "in raw.yaml"))]
    columns = layout.forms[form].columns
    if column not in columns:
        return [(column_at, _unknown(f"column of raw form {form}", column, columns, "in raw.yaml"))]
    return []


def _derivation_problems(source: DerivationSource | Step, at: YamlPath, layout: RawLayout,
                         study: Study | None) -> list[tuple[YamlPath, str]]:
    """Name registered; arguments match the function's parameters; form/study references exist."""
    if source.derivation not in derivation_names():
        return [((*at, "derivation"), _unknown("derivation", source.derivation, derivation_names(),
                                              "in the registry"))]
    problems: list[tuple[YamlPath, str]] = []
    parameters = _parameters(get_derivation(source.derivation))
    named = {p.name: p for p in parameters[1:]  # the first parameter receives the frame
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind is p.VAR_KEYWORD for p in parameters):
        for arg in source.args:
            if arg not in named:
                problems.append(((*at, "args", arg), _unknown(
                    "argument", arg, named, f"of derivation {source.derivation}")))
    for name, parameter in named.items():
        if parameter.default is parameter.empty and name not in source.args:
            problems.append(((*at, "args"), f"derivation {source.derivation} needs argument {name!r}"))
    for arg, value in source.args.items():
        if isinstance(value, FormRef) and value.form not in layout.forms:
            problems.append(((*at, "args", arg),
                             _unknown("raw form", value.form, layout.forms, "in raw.yaml")))
        if study is not None:
            for ref in _study_refs(value):
                try:
                    study.resolve(ref)
                except KeyError:
                    problems.append(((*at, "args", arg), f"unknown study parameter {ref!r}: not "
                                     f"in {study._file}"))
    return problems


@functools.lru_cache(maxsize=1024)
def _parameters(function: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    """The parameters of a derivation function (a spec names the same ones many times)."""
    return tuple(inspect.signature(function).parameters.values())


def _study_refs(value: Any, seen: frozenset[int] = frozenset()) -> list[str]:
    """The ``{study: path}`` references in an argument value, also inside mappings and lists
    (``filter_values: {dose_above: {study: dose_above}}``), as the evaluator resolves them.
    A recursive YAML alias (``&a [*a]``) is walked once."""
    if isinstance(value, StudyRef):
        return [value.study]
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("study"), str):
        return [value["study"]]
    if not isinstance(value, (dict, list)) or id(value) in seen:
        return []
    items = value.values() if isinstance(value, dict) else value
    return [ref for item in items for ref in _study_refs(item, seen | {id(value)})]


def _unknown(what: str, name: str, known: Iterable[str], where: str = "") -> str:
    """``unknown WHAT 'name' WHERE; known: ...``, and the nearest known name when one is
    close (a typing slip: ``derive_vars_computex`` -> ``derive_vars_compute``)."""
    known = sorted(known)
    return (f"unknown {what} {name!r}{' ' + where if where else ''}; known: {', '.join(known)}"
            + did_you_mean(name, known))


def spec_file_digests(specs_dir: Path) -> dict[str, str]:
    """SHA-256 of every spec file (``*.yaml``) of a specs folder, by its path in the folder:
    what run.json records as ``spec_files``, and how ``validate`` finds the specs of a run."""
    from ..io.raw import sha256_file

    specs_dir = Path(specs_dir)
    return {p.relative_to(specs_dir).as_posix(): sha256_file(p)
            for p in sorted(specs_dir.rglob("*.yaml")) if p.is_file()}


def load_specs(specs_dir: Path) -> Specs:
    """Read and check a whole specs folder: layout, study, codelists, ``sdtm/*.yaml``, ``adam/*.yaml``.

    Beyond each file's own checks: dataset names are unique across files, and every
    predecessor ``{from: DS.VAR}`` names a variable of a dataset in the folder.
    """
    specs_dir = Path(specs_dir)
    if not specs_dir.is_dir():
        raise SpecError([SpecProblem(str(specs_dir), None, "specs folder not found (expected a folder "
                                     "with raw.yaml, study.yaml, codelists.yaml, sdtm/ and adam/)")])
    study = load_study(specs_dir)
    raw = study.inputs.raw
    layout = load_raw_layout(specs_dir, raw.layout) if raw is not None else no_raw_layout(study)
    # a study from SDTM may have no codelists (its input is already coded)
    no_codelists = raw is None and not (specs_dir / "codelists.yaml").exists()
    codelists = {} if no_codelists else load_codelists(specs_dir)
    inputs = study.inputs.sdtm.domains if study.inputs.sdtm is not None else []
    groups: dict[str, dict[str, Dataset]] = {"sdtm": {}, "adam": {}}
    problems: list[SpecProblem] = []
    seen: dict[str, Dataset] = {}
    for group, datasets in groups.items():
        for path in sorted((specs_dir / group).glob("*.yaml")):
            dataset = load_dataset_spec(path, layout, codelists, study=study)
            if dataset.name in seen:
                problems.append(SpecProblem(dataset.spec_file, dataset.line_of("name"),
                                            f"also defined in {seen[dataset.name].spec_file}",
                                            dataset=dataset.name))
            elif group == "sdtm" and raw is None:
                problems.append(SpecProblem(dataset.spec_file, dataset.line_of("name"),
                                            "an SDTM spec builds SDTM from raw forms, but the study "
                                            f"starts from SDTM (inputs.sdtm in {study._file})",
                                            dataset=dataset.name))
            elif dataset.name in inputs:
                problems.append(SpecProblem(dataset.spec_file, dataset.line_of("name"),
                                            f"is an input domain (inputs.sdtm in {study._file})",
                                            dataset=dataset.name))
            seen[dataset.name] = datasets[dataset.name] = dataset
    for dataset in seen.values():
        problems += _predecessor_problems(dataset, seen, inputs)
    if not problems:
        try:
            build_order(seen)
        except ValueError as exc:
            problems.append(SpecProblem(str(specs_dir), None, str(exc)))
    if problems:
        raise SpecError(problems)
    from ..analysis.model import load_analyses  # analyses/*.yaml (docs/analyses.md)

    known: dict[str, set[str] | None] = {name: {var.name for var in ds.variables}
                                         for name, ds in seen.items()}
    known.update({name: None for name in inputs if name not in known})
    analyses = load_analyses(specs_dir, study, known)
    return Specs(layout, study, codelists, groups["sdtm"], groups["adam"], analyses)


def _predecessor_problems(dataset: Dataset, datasets: dict[str, Dataset],
                          inputs: Iterable[str] = ()) -> list[SpecProblem]:
    """Every dataset ``dataset`` reads is specified or an input domain (whose variables are
    known only when it is read: ``io/sdtm.py`` checks them then)."""
    problems = []
    inputs = set(inputs)
    known = [*datasets, *sorted(inputs)]
    for index, var in enumerate(dataset.variables):
        source = var.source
        if not isinstance(source, CopySource) or source.dataset is None or source.dataset in inputs:
            continue
        other = datasets.get(source.dataset)
        if other is None:
            message = _unknown("dataset", source.dataset, datasets, "in the specs")
        elif source.variable not in {v.name for v in other.variables}:
            message = f"dataset {source.dataset} has no variable {source.variable}"
        else:
            continue
        line = dataset.line_of("variables", index, "source", "from")
        problems.append(SpecProblem(dataset.spec_file, line, f"from {source.from_}: {message}",
                                    dataset=dataset.name, variable=var.name))
    for path, name in _dataset_references(dataset):
        if name not in datasets and name not in inputs:
            problems.append(SpecProblem(dataset.spec_file, dataset.line_of(*path),
                                        _unknown("dataset", name, known, "in the specs or inputs"
                                                if inputs else "in the specs"),
                                        dataset=dataset.name))
    return problems


def _derivation_args(dataset: Dataset) -> list[tuple[YamlPath, dict[str, Any]]]:
    """The ``args`` of every step and derivation source of ``dataset``, with their spec place."""
    found: list[tuple[YamlPath, dict[str, Any]]] = [
        (("steps", index), step.args) for index, step in enumerate(dataset.steps)]
    for index, var in enumerate(dataset.variables):
        at: YamlPath = ("variables", index, "source")
        cases = var.source.cases.items() if isinstance(var.source, CasesSource) else [(None, var.source)]
        for group, source in cases:
            if isinstance(source, DerivationSource):
                found.append((at if group is None else (*at, "cases", group), source.args))
    return found


def _dataset_references(dataset: Dataset) -> list[tuple[YamlPath, str]]:
    """Every other dataset this one reads: input, ``{dataset: X}`` arguments, ``{from: X.V}``."""
    refs: list[tuple[YamlPath, str]] = []
    if dataset.input is not None:
        refs.append((("input", "dataset"), dataset.input.dataset))
    for at, args in _derivation_args(dataset):
        for arg, value in args.items():
            refs += [((*at, "args", arg, *inner), name) for inner, name in _nested_datasets(value)]
    for index, var in enumerate(dataset.variables):
        at = ("variables", index, "source")
        cases = var.source.cases.items() if isinstance(var.source, CasesSource) else [(None, var.source)]
        for group, source in cases:
            if isinstance(source, CopySource) and source.dataset is not None:
                refs.append(((*(at if group is None else (*at, "cases", group)), "from"), source.dataset))
    return [(path, name) for path, name in refs if name != dataset.name]


def _nested_datasets(value: Any, at: tuple = ()) -> list[tuple[tuple, str]]:
    """``{dataset: X}`` references in an argument value, also inside mappings and lists
    (``sources: [{dataset: {dataset: AE}, ...}]``), with their path below the argument. Only
    a few levels deep: a YAML anchor can make a value contain itself (``&a [*a]``)."""
    if isinstance(value, DatasetRef):
        return [(at, value.dataset)]
    if len(at) > 8:
        return []
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("dataset"), str):
            return [(at, value["dataset"])]
        return [found for key, item in value.items() for found in _nested_datasets(item, (*at, key))]
    if isinstance(value, list):
        return [found for number, item in enumerate(value)
                for found in _nested_datasets(item, (*at, number))]
    return []


def _codelist_ref_problems(dataset: Dataset, codelists: dict[str, Codelist]) -> list[tuple[YamlPath, str]]:
    """Every ``{codelist: X, field: F}`` argument names a codelist of ``codelists.yaml``."""
    return [((*at, "args", arg, "codelist"), _unknown("codelist", value.codelist, codelists))
            for at, args in _derivation_args(dataset) for arg, value in args.items()
            if isinstance(value, CodelistRef) and value.codelist not in codelists]


EXPRESSION_ARGS = ("filter", "filter_add", "condition", "expression", "filter_pre_timepoint")
"""Derivation arguments that hold an expression (``itp_adam.spec.expr``), besides ``cases[].when``,
the values of an ``expressions`` mapping (``derive_vars_compute``) and the ``filter`` of each
item of a ``sources``/``events``/``elements`` list (``derive_var_extreme_dt``,
``derive_vars_extreme_event``, ``derive_subject_visits``, ``derive_subject_elements``)."""


def _expression_problems(dataset: Dataset) -> list[tuple[YamlPath, str]]:
    """Every filter, condition and computed value of ``dataset`` parsed and checked (nothing is
    run): an expression outside the language, or an ``@name`` the spec does not pass."""
    found: list[tuple[YamlPath, Any, frozenset[str] | None]] = [
        (("records", index, "filter"), group.filter, frozenset())
        for index, group in enumerate(dataset.records) if group.filter is not None]
    if dataset.input is not None and dataset.input.filter is not None:
        found.append((("input", "filter"), dataset.input.filter, frozenset()))
    calls: list[tuple[YamlPath, DerivationSource | Step]] = [
        (("steps", index), step) for index, step in enumerate(dataset.steps)]
    for index, var in enumerate(dataset.variables):
        at: YamlPath = ("variables", index, "source")
        cases = var.source.cases.items() if isinstance(var.source, CasesSource) else [(None, var.source)]
        calls += [(at if group is None else (*at, "cases", group), source)
                  for group, source in cases if isinstance(source, DerivationSource)]
    for at, call in calls:
        if call.derivation not in derivation_names():
            continue  # reported as an unknown derivation
        passed = _passed_params(call)
        for arg, value in call.args.items():
            if arg in EXPRESSION_ARGS:
                found.append(((*at, "args", arg), value, passed))
            elif arg == "cases" and isinstance(value, list):
                found += [((*at, "args", arg, number, "when"), case["when"], passed)
                          for number, case in enumerate(value) if isinstance(case, dict) and "when" in case]
            elif arg == "expressions" and isinstance(value, dict):
                found += [((*at, "args", arg, name), text, passed) for name, text in value.items()]
            elif arg in ("sources", "events", "elements") and isinstance(value, list):
                # each item filters its own dataset: no @names there
                found += [((*at, "args", arg, number, "filter"), item["filter"], frozenset())
                          for number, item in enumerate(value)
                          if isinstance(item, dict) and item.get("filter") is not None]
    problems: list[tuple[YamlPath, str]] = []
    for where, text, passed in found:
        try:
            expression = compile_expression(text)
        except ExpressionError as exc:
            problems.append((where, f"{where[-1]}: expression refused: {exc}"))
            continue
        unknown = sorted(expression.params - passed) if passed is not None else []
        if unknown:
            given = ", ".join(f"@{name}" for name in sorted(passed or ())) or "none"
            problems.append((where, f"{where[-1]} {text!r}: {', '.join('@' + n for n in unknown)} "
                             f"is not passed by the spec (passed here: {given})"))
    return problems


def _passed_params(call: DerivationSource | Step) -> frozenset[str] | None:
    """The ``@names`` a derivation's expressions may use: the keys of ``filter_values`` (when
    the function takes it) and, for a function taking ``**values``, its extra arguments.
    None when ``filter_values`` is not written out (it is checked when evaluated)."""
    parameters = inspect.signature(get_derivation(call.derivation)).parameters
    passed: set[str] = set()
    if "filter_values" in parameters:
        values = call.args.get("filter_values")
        if isinstance(values, dict):
            passed |= {str(key) for key in values}
        elif values is not None:
            return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        passed |= {arg for arg in call.args if arg not in parameters}
    return frozenset(passed)


def build_order(datasets: dict[str, Dataset]) -> list[str]:
    """Dataset names in an order where each comes after every dataset it reads.

    Among datasets that are ready together, the order of ``datasets`` is kept (DM first,
    as its file sorts, is not assumed: DM is read by most SDTM specs through its reference
    dates). Raises ValueError naming the datasets of a cycle.
    """
    needs = {name: {ref for _, ref in _dataset_references(ds) if ref in datasets}
             for name, ds in datasets.items()}
    order: list[str] = []
    while len(order) < len(needs):
        ready = [name for name in needs if name not in order and needs[name] <= set(order)]
        if not ready:
            stuck = sorted(name for name in needs if name not in order)
            raise ValueError(f"datasets read each other in a cycle: {', '.join(stuck)}")
        order.append(ready[0])
    return order

