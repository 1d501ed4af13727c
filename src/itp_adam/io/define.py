"""Define-XML 2.1 metadata of the SDTM and ADaM datasets, and the same metadata as a workbook.

:func:`build_metadata` turns the dataset specs (``specs/sdtm``, ``specs/adam``), the codelists,
the study's define metadata (``study.yaml``: documents, dictionaries, analysis results;
:mod:`itp_adam.io.define_spec`) and the built datasets into tables: datasets, variables,
value-level metadata, where clauses, codelist terms, methods, comments, documents and analysis
results. Every output is rendered from those tables, so they cannot disagree:

- ``sdtm/define.xml`` and ``adam/define.xml``: Define-XML 2.1 (ODM 1.3.2) beside the datasets
  they describe, with the stylesheet ``define2-1.xsl`` (a readable page in a browser) and the
  study's documents; the ADaM one carries the analysis results metadata (ARM 1.0);
- ``define/define-sdtm.xml`` and ``define/define-adam.xml``: the same documents, linking the
  datasets from the ``define/`` folder;
- ``define/specification.xlsx``: one sheet per table, both standards.

Lengths, numeric data types and significant digits come from the data (the longest value,
whole numbers or not), per variable and per value of value-level metadata; everything else from
the specs. The mapping is described in ``docs/define.md``; the standards' versions come from
``specs/conformance.yaml``.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from .. import __version__
from ..spec.model import (
    CasesSource,
    ConstantSource,
    CopySource,
    Dataset,
    DatasetRef,
    DerivationSource,
    Specs,
    StepSource,
)
from ..checks.validate import Conformance, core_table, load_conformance
from .define_spec import DefineSpec, Dictionary, load_define_spec
from .define_vlm import check_text, oid_part, value_level

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
ARM_NS = "http://www.cdisc.org/ns/arm/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

FOLDERS = {"SDTM": "sdtm", "ADaM": "adam"}  # where each standard's datasets and define.xml go
DEFINE_XML = "define.xml"
STYLESHEET = "define2-1.xsl"  # shipped beside this module, copied beside each define.xml
LEGACY_FOLDER = "define"
DEFINE_FILES = {"SDTM": "define-sdtm.xml", "ADaM": "define-adam.xml"}  # in define/
WORKBOOK = "specification.xlsx"


# --------------------------------------------------------------------------------------------
# Metadata tables


@dataclass(frozen=True)
class Metadata:
    """The define metadata as tables: one row per dataset, variable, value-level definition,
    where clause condition, codelist term, method, comment, document and analysis result
    dataset."""

    datasets: pd.DataFrame
    variables: pd.DataFrame
    value_level: pd.DataFrame
    where_clauses: pd.DataFrame
    codelists: pd.DataFrame
    methods: pd.DataFrame
    comments: pd.DataFrame
    documents: pd.DataFrame
    analysis_results: pd.DataFrame

    _records: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False,
                                                      compare=False)

    def tables(self) -> tuple[pd.DataFrame, ...]:
        """The tables in the order of :data:`SHEETS`."""
        return (self.datasets, self.variables, self.value_level, self.where_clauses,
                self.codelists, self.methods, self.comments, self.documents,
                self.analysis_results)

    def records(self, table: str) -> list[dict[str, Any]]:
        """The rows of ``table`` (an attribute name) as dicts, converted once."""
        if table not in self._records:
            self._records[table] = getattr(self, table).to_dict("records")
        return self._records[table]


# Table column -> workbook heading, per sheet (the workbook shows every column).
SHEETS: dict[str, dict[str, str]] = {
    "Datasets": {"standard": "Standard", "dataset": "Dataset", "label": "Label",
                 "class_": "Class", "structure": "Structure", "purpose": "Purpose",
                 "keys": "Keys", "repeating": "Repeating", "records": "Records",
                 "location": "Location", "comment": "Comment"},
    "Variables": {"standard": "Standard", "dataset": "Dataset", "order": "Order",
                  "variable": "Variable", "label": "Label", "data_type": "Data Type",
                  "length": "Length", "significant_digits": "Significant Digits",
                  "format": "Format", "mandatory": "Mandatory", "key_sequence": "Key Sequence",
                  "codelist": "Codelist", "origin": "Origin", "source": "Source",
                  "predecessor": "Predecessor", "role": "Role", "core": "Core",
                  "method": "Method", "comment": "Comment", "value_list": "Value List"},
    "ValueLevel": {"standard": "Standard", "dataset": "Dataset", "variable": "Variable",
                   "value_list": "Value List", "order": "Order", "by_variable": "Where Variable",
                   "value": "Where Value", "where": "Where Clause", "item": "Item",
                   "description": "Description", "data_type": "Data Type", "length": "Length",
                   "significant_digits": "Significant Digits", "codelist": "Codelist",
                   "origin": "Origin", "source": "Source", "predecessor": "Predecessor",
                   "mandatory": "Mandatory", "method": "Method", "unit": "Units",
                   "comment": "Comment"},
    "WhereClauses": {"standard": "Standard", "where": "Where Clause", "order": "Order",
                     "dataset": "Dataset", "variable": "Variable", "comparator": "Comparator",
                     "values": "Values"},
    "Codelists": {"standard": "Standard", "codelist": "Codelist", "name": "Name",
                  "nci": "NCI Code", "data_type": "Data Type", "order": "Order",
                  "term": "Term", "decode": "Decode", "term_nci": "Term NCI Code",
                  "extended": "Extended Value", "dictionary": "Dictionary",
                  "version": "Version", "href": "Dictionary Link", "comment": "Comment"},
    "Methods": {"standard": "Standard", "method": "Method", "name": "Name", "type": "Type",
                "dataset": "Dataset", "variable": "Variable", "description": "Description",
                "documents": "Documents"},
    "Comments": {"standard": "Standard", "comment": "Comment", "about": "About",
                 "text": "Text", "documents": "Documents"},
    "Documents": {"standard": "Standard", "document": "Leaf", "id": "Document",
                  "title": "Title", "kind": "Kind", "location": "Location"},
    "AnalysisResults": {"standard": "Standard", "display": "Display", "display_name": "Name",
                        "display_title": "Title", "display_documents": "Display Documents",
                        "result": "Result", "description": "Description", "reason": "Reason",
                        "purpose": "Purpose", "parameter": "Parameter", "dataset": "Dataset",
                        "where": "Where Clause", "variables": "Analysis Variables",
                        "documentation": "Documentation",
                        "documentation_documents": "Documentation Documents",
                        "code_context": "Code Context", "code": "Code",
                        "code_documents": "Code Documents"},
}

_ORIGIN_SOURCE = {"Collected": "Investigator", "Assigned": "Sponsor", "Protocol": "Sponsor"}
_ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"  # ASCII digits: ISO 8601, not any Unicode digit
_ISO_DATETIME = _ISO_DATE + r"T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
_LENGTH_TYPES = ("text", "integer", "float")  # Define-XML gives Length for these only


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def build_metadata(specs: Specs, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame],
                   define_spec: DefineSpec | None = None,
                   facts: dict[str, dict[str, ColumnFacts]] | None = None) -> Metadata:
    """The define metadata of every dataset of ``specs`` that was built (in ``sdtm``/``adam``).

    Dataset, variable and codelist attributes come from the specs; lengths and numeric data
    types from the data; Mandatory (never null) for the keys and SDTM's Required variables
    (core table of :mod:`itp_adam.checks.validate`; ADaM's Req asks only for presence); one method
    per Derived variable, described by its spec description; value-level metadata per topic
    value (:mod:`itp_adam.io.define_vlm`); documents, dictionaries and analysis results from
    ``define_spec`` (``study.yaml``). ``facts``: per dataset name, its variables'
    :class:`ColumnFacts` where already known (a partitioned run's, combined from its
    partitions); the others are read off the data."""
    define_spec = define_spec or DefineSpec()
    notes = _Notes(define_spec)
    wheres = _WhereClauses()
    datasets, variables, methods, vlm = [], [], [], []
    for standard, group, frames in (("SDTM", specs.sdtm, sdtm), ("ADaM", specs.adam, adam)):
        for name, spec in group.items():
            if name not in frames:
                continue
            frame, core = frames[name], core_table(spec)
            row = _dataset_row(standard, spec, len(frame))
            row["comment"] = notes.add(standard, f"COM.{name}", name, spec.comment)
            datasets.append(row)
            parents: dict[str, dict[str, Any]] = {}
            known = (facts or {}).get(name, {})
            for order, var in enumerate(spec.variables, start=1):
                row = _variable_row(standard, spec, order, var.name, frame,
                                    core.get(var.name, "Perm"), known.get(var.name))
                dictionary = _dictionary_for(define_spec, name, var.name) \
                    if not var.codelist else None
                if dictionary is not None:
                    row["codelist"] = _dictionary_key(dictionary, row["data_type"])
                row["comment"] = notes.add(standard, f"COM.{name}.{var.name}",
                                           f"{name}.{var.name}", _comment_text(var, row))
                parents[var.name] = row
                variables.append(row)
                if row["method"]:
                    text = _method_text(spec, var.name)
                    methods.append({"standard": standard, "method": row["method"],
                                    "name": f"Algorithm to derive {name}.{var.name}",
                                    "type": "Computation", "dataset": name, "variable": var.name,
                                    "description": text,
                                    "documents": notes.cited(standard, text)})
            for item in value_level(standard, spec, frame, specs, parents):
                parents[item["variable"]]["value_list"] = item["value_list"]
                item["where"] = wheres.add(standard, item["where"], [
                    (name, item["by_variable"], "EQ", (item["value"],))])
                item["comment"] = notes.add(
                    standard, f"COM.{name}.{item['variable']}.{oid_part(item['value'])}",
                    f"{name}.{item['variable']} ({item['by_variable']} = {item['value']})",
                    item.pop("comment_text"))
                vlm.append(item)
    variable_table = pd.DataFrame(variables, columns=list(SHEETS["Variables"])).fillna(
        {"comment": "", "value_list": ""})
    dictionaries = {key: d for d in define_spec.dictionaries
                    for key in (d.name, f"{d.name}.N")}
    codelists = _codelist_table(specs, variable_table, dictionaries, notes)
    built = {"SDTM": set(sdtm), "ADaM": set(adam)}
    results = _analysis_results(define_spec, built["ADaM"], wheres)
    return Metadata(
        pd.DataFrame(datasets, columns=list(SHEETS["Datasets"])), variable_table,
        pd.DataFrame(vlm, columns=list(SHEETS["ValueLevel"])),
        pd.DataFrame(wheres.rows, columns=list(SHEETS["WhereClauses"])), codelists,
        pd.DataFrame(methods, columns=list(SHEETS["Methods"])),
        pd.DataFrame(notes.rows, columns=list(SHEETS["Comments"])),
        _document_table(define_spec, built),
        pd.DataFrame(results, columns=list(SHEETS["AnalysisResults"])))


class _Notes:
    """The comments (def:CommentDef) and the documents that texts cite (``cited_as``)."""

    def __init__(self, define_spec: DefineSpec) -> None:
        self.citations = define_spec.citations()
        self.listed = {doc.id: set(doc.define) for doc in define_spec.documents}
        self.rows: list[dict[str, str]] = []

    def cited(self, standard: str, text: str) -> str:
        """The ids of the documents of ``standard``'s define that ``text`` cites."""
        found = dict.fromkeys(doc for pattern, doc in self.citations
                              if standard in self.listed[doc] and pattern.search(text))
        return ", ".join(found)

    def add(self, standard: str, oid: str, about: str, text: str | None) -> str:
        """A comment with ``text`` (none when blank); returns its OID or ''."""
        text = _words(text)
        if not text:
            return ""
        self.rows.append({"standard": standard, "comment": oid, "about": about, "text": text,
                          "documents": self.cited(standard, text)})
        return oid


class _WhereClauses:
    """Where clauses (def:WhereClauseDef), one per distinct set of conditions and standard."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.known: dict[tuple, str] = {}

    def add(self, standard: str, oid: str, checks: list[tuple[str, str, str, tuple[str, ...]]]) -> str:
        """The OID of the clause (dataset, variable, comparator, values) AND ...; ``oid`` when
        new (made unique)."""
        key = (standard, tuple(checks))
        if key in self.known:
            return self.known[key]
        taken = set(self.known.values())
        unique, number = oid, 1
        while unique in taken:
            number += 1
            unique = f"{oid}.{number}"
        self.known[key] = unique
        for order, (dataset, variable, comparator, values) in enumerate(checks, start=1):
            self.rows.append({"standard": standard, "where": unique, "order": order,
                              "dataset": dataset, "variable": variable,
                              "comparator": comparator, "values": tuple(values)})
        return unique


def _comment_text(var: Any, row: dict[str, Any]) -> str:
    """A variable's comment: its spec ``comment``; else, unless it is Derived (where the
    description is the method), its ``description`` when that says more than the predecessor."""
    if var.comment:
        return var.comment
    text = _words(var.description)
    if var.origin != "Derived" and text and text != row["predecessor"]:
        return text
    return ""


def _dictionary_for(define_spec: DefineSpec, dataset: str, variable: str) -> Dictionary | None:
    for dictionary in define_spec.dictionaries:
        if variable in dictionary.variables or f"{dataset}.{variable}" in dictionary.variables:
            return dictionary
    return None


def _dictionary_key(dictionary: Dictionary, data_type: str) -> str:
    """The codelist of a dictionary-coded variable: ``NAME`` for text, ``NAME.N`` for codes."""
    return dictionary.name if data_type not in ("integer", "float") else f"{dictionary.name}.N"


def _codelist_table(specs: Specs, variables: pd.DataFrame, dictionaries: dict[str, Dictionary],
                    notes: _Notes) -> pd.DataFrame:
    """One row per submission value of each codelist the variables of a standard use, and one
    per external dictionary."""
    used = variables.loc[variables["codelist"] != "", ["standard", "codelist", "data_type"]]
    rows = []
    for (standard, name), group in used.groupby(["standard", "codelist"], sort=False):
        types = set(group["data_type"])
        data_type = types.pop() if len(types) == 1 and types <= {"integer", "float"} else "text"
        if name in dictionaries:
            dictionary = dictionaries[name]
            rows.append({"standard": standard, "codelist": name,
                         "name": dictionary.dictionary + (" (codes)" if name.endswith(".N") else ""),
                         "nci": "", "data_type": data_type, "order": "", "term": "", "decode": "",
                         "term_nci": "", "extended": "", "dictionary": dictionary.dictionary,
                         "version": dictionary.version, "href": dictionary.href or "",
                         "comment": ""})
            continue
        codelist = specs.codelists[name]
        comment = notes.add(standard, f"COM.CL.{name}", f"codelist {name}", codelist.description)
        first: dict[str, Any] = {}
        for term in codelist.terms:  # raw synonyms share one submission value: the first
            first.setdefault(term.value, {"decode": term.decode or "", "nci": term.nci or "",
                                          "extended": False})
            first[term.value]["nci"] = first[term.value]["nci"] or term.nci or ""
            first[term.value]["extended"] |= term.extended
        rows += [{"standard": standard, "codelist": name, "name": codelist.label or name,
                  "nci": codelist.nci or "", "data_type": data_type, "order": order,
                  "term": value, "decode": info["decode"], "term_nci": info["nci"],
                  "extended": "Yes" if info["extended"] else "", "dictionary": "",
                  "version": "", "href": "", "comment": comment}
                 for order, (value, info) in enumerate(first.items(), start=1)]
    return pd.DataFrame(rows, columns=list(SHEETS["Codelists"]))


def _document_table(define_spec: DefineSpec, built: dict[str, set[str]]) -> pd.DataFrame:
    """One row per document and define that lists it (its location relative to the output)."""
    rows = []
    for standard, folder in FOLDERS.items():
        if not built[standard]:
            continue
        for doc in define_spec.documents:
            if standard in doc.define:
                rows.append({"standard": standard, "document": f"LF.{doc.id}", "id": doc.id,
                             "title": doc.title, "kind": doc.kind,
                             "location": _location(folder, doc.href)})
    return pd.DataFrame(rows, columns=list(SHEETS["Documents"]))


def _location(folder: str, href: str) -> str:
    """``href`` (relative to ``folder`` of the output) relative to the output; URLs as given."""
    if "://" in href or href.startswith("/"):
        return href
    return posixpath.normpath(posixpath.join(folder, href))


def _analysis_results(define_spec: DefineSpec, adam: set[str],
                      wheres: _WhereClauses) -> list[dict[str, Any]]:
    """One row per analysis result and dataset it uses (ADaM define; results whose datasets
    were all built)."""
    rows = []
    for display in define_spec.analysis_results:
        for result in display.results:
            full = display.resolved(result)
            if not all(used.dataset in adam for used in result.datasets):
                continue
            for used in result.datasets:
                checks = [(used.dataset, variable, "IN" if isinstance(value, list) else "EQ",
                           tuple(check_text(v) for v in (value if isinstance(value, list)
                                                          else [value])))
                          for variable, value in used.where.items()]
                where = wheres.add("ADaM", f"WC.{used.dataset}." + ".".join(
                    f"{v}.{'_'.join(oid_part(x) for x in vs)}" for _, v, _, vs in checks),
                    checks) if checks else ""
                code = full.code
                rows.append({
                    "standard": "ADaM", "display": f"RD.{display.id}", "display_name": display.name,
                    "display_title": _words(display.title),
                    "display_documents": ", ".join(display.documents),
                    "result": f"AR.{display.id}.{result.id}",
                    "description": _words(result.description), "reason": full.reason,
                    "purpose": full.purpose,
                    "parameter": f"IT.{full.parameter}" if full.parameter else "",
                    "dataset": used.dataset, "where": where,
                    "variables": ", ".join(used.variables),
                    "documentation": _words(full.documentation),
                    "documentation_documents": ", ".join(full.documentation_documents or []),
                    "code_context": code.context if code else "",
                    "code": (code.text or "").strip() if code else "",
                    "code_documents": ", ".join(code.documents) if code else ""})
    return rows


def _dataset_row(standard: str, spec: Dataset, records: int) -> dict[str, object]:
    return {"standard": standard, "dataset": spec.name, "label": spec.label,
            "class_": spec.class_, "structure": spec.structure,
            "purpose": "Tabulation" if standard == "SDTM" else "Analysis",
            "keys": ", ".join(spec.keys), "repeating": _repeating(spec), "records": records,
            "location": f"{FOLDERS[standard]}/{spec.name.lower()}.xpt", "comment": ""}


def _repeating(spec: Dataset) -> str:
    """``No`` for one record per subject (keyed by STUDYID and USUBJID alone), else ``Yes``."""
    return "No" if set(spec.keys) <= {"STUDYID", "USUBJID"} else "Yes"


def _variable_row(standard: str, spec: Dataset, order: int, name: str, frame: pd.DataFrame,
                  core: str, facts: ColumnFacts | None = None) -> dict[str, object]:
    var = spec.variable(name)
    if facts is None:
        values = frame[name] if name in frame else pd.Series([], dtype=float)
        facts = column_facts(var.type, var.format, name, values)
    data_type, length, digits = _data_type(var.type, var.format, name, facts)
    key = spec.keys.index(name) + 1 if name in spec.keys else ""
    return {
        "standard": standard, "dataset": spec.name, "order": order, "variable": name,
        "label": var.label, "data_type": data_type, "length": length,
        "significant_digits": digits, "format": var.format or "",
        "mandatory": "Yes" if (core == "Req" and standard == "SDTM") or key != "" else "No",
        "key_sequence": key,
        "codelist": var.codelist or "", "origin": var.origin,
        "source": _ORIGIN_SOURCE.get(var.origin, ""),
        "predecessor": _predecessor(spec, name) if var.origin == "Predecessor" else "",
        "role": var.role, "core": core,
        "method": f"MT.{spec.name}.{name}" if var.origin == "Derived" else "",
        "comment": "", "value_list": "",
    }


_DATE_FORMATS = ("DATE", "TIME", "YYMMDD", "E8601")  # SAS formats of dates, times, datetimes


@dataclass(frozen=True)
class ColumnFacts:
    """What Define-XML's DataType, Length and SignificantDigits need to know of one column.

    Small, and the facts of the parts of a column combine (``a | b``) into the facts of the
    whole column: a partitioned run takes them where each partition is built (while its
    datasets are in memory, on every core) and combines them, so the run's own process does
    not read the merged datasets again for them (``docs/partitions.md``)."""

    longest: int = 0  # characters of the longest text value
    time: bool = False  # a text value holds "T" (a --DTC variable with times)
    dates: bool = True  # every non-blank text value is a complete ISO 8601 date
    datetimes: bool = True  # every non-blank text value is a complete ISO 8601 datetime
    whole: bool = True  # every number is whole (or missing)
    decimals: int = 1  # the fewest decimals (1 to 10) that give every finite number back

    def __or__(self, other: ColumnFacts) -> ColumnFacts:
        # the fewest decimals of the whole column are the most any part needs: a number given
        # back with some decimals is given back with more
        return ColumnFacts(max(self.longest, other.longest), self.time or other.time,
                           self.dates and other.dates, self.datetimes and other.datetimes,
                           self.whole and other.whole, max(self.decimals, other.decimals))


def column_facts(kind: str, sas_format: str | None, name: str, values: pd.Series) -> ColumnFacts:
    """The :class:`ColumnFacts` of one variable's values (``kind``: Char or Num).

    A few vectorised passes over each column (3M-row columns at 100,000 subjects): text
    lengths with pyarrow, the ``--DTC`` patterns and the decimals on the distinct values
    (each test must hold for every value, so the distinct ones decide)."""
    if kind == "Char":
        text = _arrow_text(values)
        longest = _longest_text(text)
        if not name.endswith("DTC"):
            return ColumnFacts(longest=longest)
        dates, datetimes = _complete_iso(values, text)
        return ColumnFacts(longest=longest, time=_holds(text, "T"), dates=dates,
                           datetimes=datetimes)
    if sas_format and sas_format.upper().startswith(_DATE_FORMATS):
        return ColumnFacts()
    if not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values, errors="coerce")
    numbers = values.to_numpy(dtype=float)
    if np.all(np.isnan(numbers) | (numbers == np.round(numbers))):  # infinities are whole too
        return ColumnFacts()
    distinct = pc.unique(pa.array(numbers)).to_numpy()
    return ColumnFacts(whole=False, decimals=_decimals(distinct[np.isfinite(distinct)]))


def dataset_facts(spec: Dataset, frame: pd.DataFrame) -> dict[str, ColumnFacts]:
    """The :class:`ColumnFacts` of every variable of ``spec`` (a variable missing from
    ``frame``: those of no value)."""
    empty = pd.Series([], dtype=float)
    return {var.name: column_facts(var.type, var.format, var.name,
                                   frame[var.name] if var.name in frame else empty)
            for var in spec.variables}


def _data_type(kind: str, sas_format: str | None, name: str,
               facts: ColumnFacts) -> tuple[str, int, object]:
    """Define-XML DataType, length and SignificantDigits of one variable, from its data.

    Char: ``text``; ISO 8601 ``--DTC`` variables ``date``/``datetime`` when every value is
    complete, else ``partialDate``/``partialDatetime``; length = the longest value (at least 1).
    Num: length 8 (the XPT storage); ``integer`` for SAS dates (shown with their format) and
    whole numbers, else ``float`` with the decimals the data need as significant digits."""
    if kind == "Char":
        length = max(1, facts.longest)
        if not name.endswith("DTC"):
            return "text", length, ""
        base = "datetime" if facts.time else "date"
        complete = facts.datetimes if facts.time else facts.dates
        return (base if complete else "partial" + base.capitalize(), length, "")
    if (sas_format and sas_format.upper().startswith(_DATE_FORMATS)) or facts.whole:
        return "integer", 8, ""
    return "float", 8, facts.decimals


def _arrow_text(values: pd.Series) -> pa.ChunkedArray:
    """The values as pyarrow strings with ``""`` for missing (no copy for a ``str`` column
    without missing values)."""
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("string")
    array = pa.array(text.array)  # a ChunkedArray for a column of several chunks
    if not isinstance(array, pa.ChunkedArray):  # (which pyarrow 14's chunked_array refuses)
        array = pa.chunked_array([array])
    return pc.fill_null(array, "")


def _longest_text(text: pa.ChunkedArray) -> int:
    """The number of characters of the longest value (0 if none).

    The longest value in bytes (from the offsets alone) is the answer when it is ASCII,
    since no value has more characters than bytes; otherwise every value is counted."""
    nbytes = pc.binary_length(text)
    most = pc.max(nbytes).as_py() or 0
    if most == 0 or len(text[pc.index(nbytes, most).as_py()].as_py()) == most:
        return most
    return int(pc.max(pc.utf8_length(text)).as_py())


def _holds(text: pa.ChunkedArray, char: str) -> bool:
    """Whether any value holds the ASCII ``char``: one byte search through the values' data
    (in UTF-8 an ASCII byte is never part of another character)."""
    needle = re.compile(re.escape(char.encode("ascii")))
    for chunk in text.chunks:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            if pc.any(pc.match_substring(chunk, char)).as_py():
                return True
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[
            chunk.offset:chunk.offset + len(chunk) + 1]
        data = chunk.buffers()[2]
        if len(chunk) and data is not None and needle.search(
                memoryview(data)[offsets[0]:offsets[-1]]):
            return True
    return False


def _complete_iso(values: pd.Series, text: pa.ChunkedArray) -> tuple[bool, bool]:
    """Whether every non-blank value is a complete ISO 8601 date, and whether a complete
    ISO 8601 datetime (no value: both).

    A complete date has 10 characters, a datetime at least 16, each of 1 to 4 bytes in UTF-8:
    byte lengths outside that rule a kind out without looking at the text; otherwise the
    distinct values are matched."""
    nbytes = pc.binary_length(text)
    lengths = pc.min_max(pc.filter(nbytes, pc.greater(nbytes, 0)))
    shortest, longest = lengths["min"].as_py(), lengths["max"].as_py()
    if shortest is None:  # no value: nothing incomplete
        return True, True
    may_be_dates = not (shortest < 10 or longest > 40)
    may_be_datetimes = shortest >= 16
    if not (may_be_dates or may_be_datetimes):
        return False, False
    distinct = pd.Series(values.unique()).astype("string").fillna("")
    filled = distinct[distinct != ""].str
    return (may_be_dates and bool(filled.fullmatch(_ISO_DATE).all()),
            may_be_datetimes and bool(filled.fullmatch(_ISO_DATETIME).all()))


def _decimals(numbers: np.ndarray) -> int:
    """The fewest decimals (1 to 10) that give every number back to within 1e-10 (relative)."""
    scale = np.maximum(np.abs(numbers), 1.0)
    for places in range(1, 11):
        if np.all(np.abs(np.round(numbers, places) - numbers) <= 1e-10 * scale):
            return places
    return 10


def _predecessor(spec: Dataset, name: str) -> str:
    """The ``DATASET.VARIABLE`` a predecessor variable copies."""
    source = spec.variable(name).source
    if isinstance(source, CopySource):
        return source.from_ if source.dataset else f"{spec.name}.{source.variable}"
    if isinstance(source, DerivationSource):
        dataset = next((a.dataset for a in source.args.values() if isinstance(a, DatasetRef)), None)
        variable = source.args.get("variable")
        if dataset and isinstance(variable, str):
            return f"{dataset}.{variable}"
    if spec.input is not None:
        return f"{spec.input.dataset}.{name}"
    return " ".join((spec.variable(name).description or "").split())


def _method_text(spec: Dataset, name: str) -> str:
    """The derivation in words: the variable's description, else its step's, else its source."""
    var = spec.variable(name)
    if var.description:
        return " ".join(var.description.split())
    source = var.source
    if isinstance(source, StepSource):
        step = next(s for s in spec.steps if s.id == source.step)
        if step.description:
            return " ".join(step.description.split())
        return f"{step.derivation}({_args_text(step.args)})"
    if isinstance(source, CasesSource):
        return "; ".join(f"{group}: {_source_text(case)}" for group, case in source.cases.items())
    return _source_text(source)


def _source_text(source: object) -> str:
    if isinstance(source, DerivationSource):
        return f"{source.derivation}({_args_text(source.args)})"
    if isinstance(source, CopySource):
        return f"Copy of {source.from_}"
    if isinstance(source, ConstantSource):
        return f"Always {source.constant}"
    row = getattr(source, "row", None)
    if row is not None:  # a value of the dataset's literal records
        return f"Key {row} of the dataset's records in the spec"
    form, column = getattr(source, "form", ""), getattr(source, "column", "")
    return f"Raw {form}.{column}" if form else ""


def _args_text(args: dict[str, object]) -> str:
    def show(value: object) -> str:
        if isinstance(value, BaseModel):
            return ", ".join(f"{k}={v}" for k, v in value.model_dump(by_alias=True).items())
        return str(value)
    return ", ".join(f"{key}={show(value)}" for key, value in args.items())



# --------------------------------------------------------------------------------------------
# Define-XML


def _odm(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _def(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def _arm(tag: str) -> str:
    return f"{{{ARM_NS}}}{tag}"


def _translated(parent: ET.Element, tag: str, text: str) -> ET.Element:
    """``<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>`` under ``parent``."""
    element = ET.SubElement(parent, _odm(tag))
    ET.SubElement(element, _odm("TranslatedText"), {XML_LANG: "en"}).text = text
    return element


def _document_refs(parent: ET.Element, ids: str) -> None:
    """A ``def:DocumentRef`` per document id of ``ids`` (comma-separated)."""
    for doc in filter(None, (part.strip() for part in ids.split(","))):
        ET.SubElement(parent, _def("DocumentRef"), {"leafID": f"LF.{doc}"})


def _href(location: str, folder: str) -> str:
    """A location of the output (or a URL) relative to the define file's ``folder``."""
    if "://" in location or location.startswith("/"):
        return location
    return posixpath.relpath(location, folder)


def define_xml(meta: Metadata, standard: str, study_id: str, conformance: Conformance,
               created: dt.datetime | None = None, folder: str | None = None) -> ET.ElementTree:
    """The Define-XML 2.1 document of one standard (``"SDTM"`` or ``"ADaM"``) of ``meta``, its
    links (datasets, documents) relative to ``folder`` of the output (default: the folder of
    the standard's datasets, where define.xml goes)."""
    created = created or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    folder = folder or FOLDERS[standard]
    versions = conformance.standards
    root = ET.Element(_odm("ODM"), {
        "FileType": "Snapshot", "FileOID": f"DEF.{study_id}.{standard}", "ODMVersion": "1.3.2",
        "CreationDateTime": created.isoformat(), "Originator": "itp-adam",
        "SourceSystem": "itp-adam", "SourceSystemVersion": __version__,
        _def("Context"): "Submission"})
    study = ET.SubElement(root, _odm("Study"), {"OID": f"ST.{study_id}"})
    globals_ = ET.SubElement(study, _odm("GlobalVariables"))
    ET.SubElement(globals_, _odm("StudyName")).text = study_id
    ET.SubElement(globals_, _odm("StudyDescription")).text = \
        conformance.study_description or study_id
    ET.SubElement(globals_, _odm("ProtocolName")).text = study_id
    ig_name, ig_version = (("SDTMIG", versions.sdtmig) if standard == "SDTM"
                           else ("ADaMIG", versions.adamig))
    mdv = ET.SubElement(study, _odm("MetaDataVersion"), {
        "OID": f"MDV.{study_id}.{standard}", "Name": f"{study_id} {standard} metadata",
        "Description": f"{standard} datasets of {study_id}", _def("DefineVersion"): "2.1.0"})
    standards = ET.SubElement(mdv, _def("Standards"))
    ig_oid, ct_oid = f"STD.{ig_name}", "STD.CT.SDTM"
    ET.SubElement(standards, _def("Standard"), {
        "OID": ig_oid, "Name": ig_name, "Type": "IG", "Version": ig_version, "Status": "Final"})
    ET.SubElement(standards, _def("Standard"), {
        "OID": ct_oid, "Name": "CDISC/NCI", "Type": "CT", "PublishingSet": "SDTM",
        "Version": versions.ct, "Status": "Final"})

    def mine(table: str) -> list[SimpleNamespace]:
        return [SimpleNamespace(**row) for row in meta.records(table)
                if row["standard"] == standard]

    documents = mine("documents")
    for kind, tag in (("annotated-crf", "AnnotatedCRF"), ("supplemental", "SupplementalDoc")):
        listed = [doc.id for doc in documents if doc.kind == kind]
        if listed:
            _document_refs(ET.SubElement(mdv, _def(tag)), ", ".join(listed))
    value_level = mine("value_level")
    for oid, items in _grouped(value_level, "value_list"):
        _value_list(mdv, oid, items)
    for oid, checks in _grouped(mine("where_clauses"), "where"):
        _where_clause(mdv, oid, checks)
    variables = mine("variables")
    by_dataset = dict(_grouped(variables, "dataset"))
    for ds in mine("datasets"):
        _item_group(mdv, standard, ds, by_dataset.get(ds.dataset, []), ig_oid, folder)
    for var in variables:
        _item_def(mdv, var.dataset, var.variable, f"IT.{var.dataset}.{var.variable}", var.label,
                  var, sas_name=True)
    for item in value_level:
        _item_def(mdv, item.dataset, item.variable, item.item, item.description, item)
    for name, terms in _grouped(mine("codelists"), "codelist"):
        _codelist(mdv, name, terms, ct_oid)
    for method in mine("methods"):
        element = ET.SubElement(mdv, _odm("MethodDef"), {
            "OID": method.method, "Name": method.name, "Type": method.type})
        _translated(element, "Description", method.description or method.name)
        _document_refs(element, method.documents)
    for note in mine("comments"):
        element = ET.SubElement(mdv, _def("CommentDef"), {"OID": note.comment})
        _translated(element, "Description", note.text)
        _document_refs(element, note.documents)
    for doc in documents:
        leaf = ET.SubElement(mdv, _def("leaf"), {"ID": doc.document,
                                                  f"{{{XLINK_NS}}}href": _href(doc.location,
                                                                               folder)})
        ET.SubElement(leaf, _def("title")).text = doc.title
    results = mine("analysis_results")
    if results:
        _analysis_result_displays(mdv, results)
    ET.indent(root, space="  ")
    return ET.ElementTree(root)


def _grouped(rows: list[SimpleNamespace], key: str) -> list[tuple[str, list[SimpleNamespace]]]:
    """``rows`` grouped by the value of ``key``, groups in order of first appearance."""
    groups: dict[str, list[SimpleNamespace]] = {}
    for row in rows:
        groups.setdefault(str(getattr(row, key)), []).append(row)
    return list(groups.items())


def _value_list(mdv: ET.Element, oid: str, items: list[SimpleNamespace]) -> None:
    element = ET.SubElement(mdv, _def("ValueListDef"), {"OID": oid})
    for item in items:
        ref = {"ItemOID": item.item, "OrderNumber": str(item.order), "Mandatory": item.mandatory}
        if item.method:
            ref["MethodOID"] = item.method
        ref_element = ET.SubElement(element, _odm("ItemRef"), ref)
        ET.SubElement(ref_element, _def("WhereClauseRef"), {"WhereClauseOID": item.where})


def _where_clause(mdv: ET.Element, oid: str, checks: list[SimpleNamespace]) -> None:
    element = ET.SubElement(mdv, _def("WhereClauseDef"), {"OID": oid})
    for check in checks:
        range_check = ET.SubElement(element, _odm("RangeCheck"), {
            "Comparator": check.comparator, "SoftHard": "Soft",
            _def("ItemOID"): f"IT.{check.dataset}.{check.variable}"})
        for value in check.values:
            ET.SubElement(range_check, _odm("CheckValue")).text = value


def _item_group(mdv: ET.Element, standard: str, ds: Any, variables: list[SimpleNamespace],
                ig_oid: str, folder: str) -> None:
    attributes = {"OID": f"IG.{ds.dataset}", "Name": ds.dataset, "Repeating": ds.repeating,
                  "IsReferenceData": "No", "SASDatasetName": ds.dataset}
    if standard == "SDTM":
        attributes["Domain"] = ds.dataset.removeprefix("SUPP") or ds.dataset
    attributes.update({"Purpose": ds.purpose, _def("Structure"): ds.structure,
                       _def("StandardOID"): ig_oid, _def("ArchiveLocationID"): f"LF.{ds.dataset}"})
    if ds.comment:
        attributes[_def("CommentOID")] = ds.comment
    group = ET.SubElement(mdv, _odm("ItemGroupDef"), attributes)
    _translated(group, "Description", ds.label)
    for var in variables:
        ref = {"ItemOID": f"IT.{ds.dataset}.{var.variable}", "OrderNumber": str(var.order),
               "Mandatory": var.mandatory}
        if var.key_sequence != "":
            ref["KeySequence"] = str(var.key_sequence)
        if var.method:
            ref["MethodOID"] = var.method
        if standard == "SDTM":  # Define-XML 2.1: Role for SDTM, not for ADaM
            ref["Role"] = var.role
        ET.SubElement(group, _odm("ItemRef"), ref)
    ET.SubElement(group, _def("Class"), {"Name": ds.class_})
    href = _href(ds.location, folder)
    leaf = ET.SubElement(group, _def("leaf"), {"ID": f"LF.{ds.dataset}",
                                                f"{{{XLINK_NS}}}href": href})
    ET.SubElement(leaf, _def("title")).text = href.rsplit("/", 1)[-1]


def _item_def(mdv: ET.Element, dataset: str, name: str, oid: str, label: str, var: Any,
              sas_name: bool = False) -> None:
    """An ItemDef of a variable (``sas_name``) or of one value of value-level metadata."""
    attributes = {"OID": oid, "Name": name, "DataType": var.data_type}
    if var.data_type in _LENGTH_TYPES:
        attributes["Length"] = str(var.length)
    if var.significant_digits != "":
        attributes["SignificantDigits"] = str(var.significant_digits)
    if sas_name:
        attributes["SASFieldName"] = name
        if var.format:
            attributes[_def("DisplayFormat")] = var.format
    if var.comment:
        attributes[_def("CommentOID")] = var.comment
    item = ET.SubElement(mdv, _odm("ItemDef"), attributes)
    _translated(item, "Description", label)
    if var.codelist:
        ET.SubElement(item, _odm("CodeListRef"), {"CodeListOID": f"CL.{var.codelist}"})
    origin = ET.SubElement(item, _def("Origin"), {"Type": var.origin, **(
        {"Source": var.source} if var.source else {})})
    if var.predecessor:
        _translated(origin, "Description", var.predecessor)
    if sas_name and var.value_list:
        ET.SubElement(item, _def("ValueListRef"), {"ValueListOID": var.value_list})


def _codelist(mdv: ET.Element, name: str, terms: list[SimpleNamespace], ct_oid: str) -> None:
    first = terms[0]
    attributes = {"OID": f"CL.{name}", "Name": first.name, "DataType": first.data_type}
    if first.nci:
        attributes[_def("StandardOID")] = ct_oid
    else:
        attributes[_def("IsNonStandard")] = "Yes"
    if first.comment:
        attributes[_def("CommentOID")] = first.comment
    codelist = ET.SubElement(mdv, _odm("CodeList"), attributes)
    if first.dictionary:
        external = {"Dictionary": first.dictionary, "Version": first.version}
        if first.href:
            external["href"] = first.href
        ET.SubElement(codelist, _odm("ExternalCodeList"), external)
        return
    decoded = all(term.decode != "" for term in terms)  # all decoded, or an enumeration
    for term in terms:
        attributes = {"CodedValue": term.term, "OrderNumber": str(term.order)}
        if term.extended:
            attributes[_def("ExtendedValue")] = "Yes"
        item = ET.SubElement(codelist, _odm("CodeListItem" if decoded else "EnumeratedItem"),
                             attributes)
        if decoded:
            _translated(item, "Decode", term.decode)
        if term.term_nci:
            ET.SubElement(item, _odm("Alias"), {"Context": "nci:ExtCodeID", "Name": term.term_nci})
    if first.nci:
        ET.SubElement(codelist, _odm("Alias"), {"Context": "nci:ExtCodeID", "Name": first.nci})


def _analysis_result_displays(mdv: ET.Element, results: list[SimpleNamespace]) -> None:
    """ARM 1.0: one ResultDisplay per display, one AnalysisResult per result."""
    displays = ET.SubElement(mdv, _arm("AnalysisResultDisplays"))
    for oid, rows in _grouped(results, "display"):
        first = rows[0]
        display = ET.SubElement(displays, _arm("ResultDisplay"), {
            "OID": oid, "Name": first.display_name})
        _translated(display, "Description", first.display_title)
        _document_refs(display, first.display_documents)
        for result_oid, used in _grouped(rows, "result"):
            head = used[0]
            attributes = {"OID": result_oid}
            if head.parameter:
                attributes["ParameterOID"] = head.parameter
            attributes.update({"AnalysisReason": head.reason, "AnalysisPurpose": head.purpose})
            result = ET.SubElement(display, _arm("AnalysisResult"), attributes)
            _translated(result, "Description", head.description)
            datasets = ET.SubElement(result, _arm("AnalysisDatasets"))
            for row in used:
                dataset = ET.SubElement(datasets, _arm("AnalysisDataset"),
                                        {"ItemGroupOID": f"IG.{row.dataset}"})
                if row.where:
                    ET.SubElement(dataset, _def("WhereClauseRef"), {"WhereClauseOID": row.where})
                for variable in filter(None, (v.strip() for v in row.variables.split(","))):
                    ET.SubElement(dataset, _arm("AnalysisVariable"),
                                  {"ItemOID": f"IT.{row.dataset}.{variable}"})
            if head.documentation:
                documentation = ET.SubElement(result, _arm("Documentation"))
                _translated(documentation, "Description", head.documentation)
                _document_refs(documentation, head.documentation_documents)
            if head.code_context or head.code:
                code = ET.SubElement(result, _arm("ProgrammingCode"),
                                     {"Context": head.code_context} if head.code_context else {})
                if head.code:
                    ET.SubElement(code, _arm("Code")).text = head.code
                _document_refs(code, head.code_documents)


# --------------------------------------------------------------------------------------------
# Writing


def write_workbook(meta: Metadata, path: Path) -> None:
    """The metadata as an Excel specification, one sheet per table of :data:`SHEETS`:
    headings in the first row, frozen, and each column as wide as its longest text plus 2
    (at most 60); texts as text cells, whole numbers as number cells, missing values as
    empty cells. Written by the package's own writer (``report/xlsx.py``; openpyxl took
    0.2-0.25 s of the shipped study's run, with its import)."""
    from ..report.xlsx import Workbook

    book = Workbook()
    for title, table in zip(SHEETS, meta.tables()):
        sheet = book.sheet(title)
        headings = list(SHEETS[title].values())
        columns = [_cells(table[column]) for column in SHEETS[title]]
        sheet.widths = [min(60, max(len(heading), max((len(str(v)) for v in values), default=0)) + 2)
                        for heading, values in zip(headings, columns)]
        sheet.frozen_under = 1
        numbers = range(1, len(headings) + 1)
        sheet.row(1, list(zip(numbers, [0] * len(headings), headings)))
        lines = np.arange(2, len(table) + 2)
        sheet.add(lines, [sheet.row_xml(line, list(zip(numbers, [0] * len(headings), row)))
                          for line, row in zip(lines.tolist(), zip(*columns))])
    book.save(path)


def _cells(values: pd.Series) -> list[object]:
    """A table column's values as :func:`_cell` gives them, a whole text or integer column at
    once (most of the workbook's cells: no per-value checks for them)."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.fillna("").tolist()  # Python str, missing as ""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":
        return values.tolist()  # Python int (no missing value in a numpy integer column)
    return [_cell(value) for value in values]


def _cell(value: object) -> object:
    """A table value as pandas' ``to_excel`` writes it: missing as ``""``, numpy scalars as
    Python numbers, a tuple of values as text."""
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return ""
    return value.item() if isinstance(value, np.generic) else value


def stylesheet() -> bytes:
    """The XSLT 1.0 stylesheet that shows a define.xml as a page (``define2-1.xsl``)."""
    return (files(__package__) / STYLESHEET).read_bytes()


def _write_xml(tree: ET.ElementTree, path: Path, stylesheet_href: str) -> None:
    """``tree`` as UTF-8 with the XML declaration and an xml-stylesheet instruction."""
    body = ET.tostring(tree.getroot(), encoding="unicode")
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n'
                    f'<?xml-stylesheet type="text/xsl" href="{stylesheet_href}"?>\n'
                    f"{body}\n", encoding="utf-8")


def _relink(tree: ET.ElementTree, folder: str, to: str) -> None:
    """Make the def:leaf links of ``tree`` (relative to ``folder`` of the output) relative to
    ``to``."""
    href = f"{{{XLINK_NS}}}href"
    for leaf in tree.getroot().iter(_def("leaf")):
        leaf.set(href, _href(_location(folder, leaf.get(href, "")), to))


def write_define(specs: Specs, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame],
                 out: Path, specs_dir: Path | None = None, *,
                 define_spec: DefineSpec | None = None,
                 facts: dict[str, dict[str, ColumnFacts]] | None = None,
                 created: dt.datetime | None = None,
                 conformance: Conformance | None = None) -> list[Path]:
    """Write the define files of the datasets into the output folder ``out``; returns the paths.

    Per standard with datasets: ``sdtm/define.xml`` (``adam/define.xml``) beside the datasets,
    the stylesheet ``define2-1.xsl`` and the study's documents that ship with the specs
    (``documents[].file``) beside it, and the same document as ``define/define-sdtm.xml``
    (``define-adam.xml``) linking from ``define/``; then ``define/specification.xlsx``.
    ``specs_dir`` holds ``conformance.yaml`` (the standards' versions) and ``study.yaml`` (the
    define keys, when ``define_spec`` is not given); default: the shipped study. ``facts``:
    see :func:`build_metadata`. ``created``: the documents' CreationDateTime (a run passes the
    time it started; default: now, UTC). ``conformance``: conformance.yaml as loaded (a run
    has it; default: read from ``specs_dir``)."""
    from ..paths import default_specs_dir

    specs_dir = Path(specs_dir) if specs_dir else default_specs_dir()
    conformance = conformance if conformance is not None else load_conformance(specs_dir)
    if define_spec is None:
        define_spec = load_define_spec(specs_dir, specs)
    out = Path(out)
    meta = build_metadata(specs, sdtm, adam, define_spec, facts)
    for prefix, uri in (("", ODM_NS), ("def", DEF_NS), ("xlink", XLINK_NS), ("arm", ARM_NS)):
        ET.register_namespace(prefix, uri)
    created = created or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    style = stylesheet()
    written, legacy = [], []
    (out / LEGACY_FOLDER).mkdir(parents=True, exist_ok=True)
    for standard, folder in FOLDERS.items():
        if not (meta.datasets["standard"] == standard).any():
            continue
        study_id = specs.study.study_id
        beside = out / folder
        beside.mkdir(parents=True, exist_ok=True)
        tree = define_xml(meta, standard, study_id, conformance, created, folder)
        _write_xml(tree, beside / DEFINE_XML, STYLESHEET)
        (beside / STYLESHEET).write_bytes(style)
        written += [beside / DEFINE_XML, beside / STYLESHEET]
        for doc in define_spec.documents:
            if standard in doc.define and doc.file is not None:
                target = beside / doc.href
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(specs_dir / doc.file, target)
                written.append(target)
        path = out / LEGACY_FOLDER / DEFINE_FILES[standard]
        _relink(tree, folder, LEGACY_FOLDER)
        _write_xml(tree, path, posixpath.relpath(f"{folder}/{STYLESHEET}", LEGACY_FOLDER))
        legacy.append(path)
    write_workbook(meta, out / LEGACY_FOLDER / WORKBOOK)
    return [*written, *legacy, out / LEGACY_FOLDER / WORKBOOK]
