"""Define-XML 2.1 metadata of the SDTM and ADaM datasets, and the same metadata as a workbook.

:func:`build_metadata` turns the dataset specs (``specs/sdtm``, ``specs/adam``), the codelists
and the built datasets into four tables: datasets, variables, codelist terms and derivation
methods. Both outputs are rendered from those tables, so they cannot disagree:

- ``define-sdtm.xml`` and ``define-adam.xml``: Define-XML 2.1 (ODM 1.3.2), one per standard;
- ``specification.xlsx``: sheets Datasets, Variables, Codelists and Methods, both standards.

Lengths, numeric data types and significant digits come from the data (the longest value,
whole numbers or not); everything else from the specs. The mapping is described in
``docs/define.md``; the standards' versions come from ``specs/conformance.yaml``.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
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

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

DEFINE_FILES = {"SDTM": "define-sdtm.xml", "ADaM": "define-adam.xml"}
WORKBOOK = "specification.xlsx"


# --------------------------------------------------------------------------------------------
# Metadata tables


@dataclass(frozen=True)
class Metadata:
    """The define metadata as tables: one row per dataset, variable, codelist term, method."""

    datasets: pd.DataFrame
    variables: pd.DataFrame
    codelists: pd.DataFrame
    methods: pd.DataFrame


# Table column -> workbook heading, per sheet (the workbook shows every column).
SHEETS: dict[str, dict[str, str]] = {
    "Datasets": {"standard": "Standard", "dataset": "Dataset", "label": "Label",
                 "class_": "Class", "structure": "Structure", "purpose": "Purpose",
                 "keys": "Keys", "repeating": "Repeating", "records": "Records",
                 "location": "Location"},
    "Variables": {"standard": "Standard", "dataset": "Dataset", "order": "Order",
                  "variable": "Variable", "label": "Label", "data_type": "Data Type",
                  "length": "Length", "significant_digits": "Significant Digits",
                  "format": "Format", "mandatory": "Mandatory", "key_sequence": "Key Sequence",
                  "codelist": "Codelist", "origin": "Origin", "source": "Source",
                  "predecessor": "Predecessor", "role": "Role", "core": "Core",
                  "method": "Method"},
    "Codelists": {"standard": "Standard", "codelist": "Codelist", "name": "Name",
                  "nci": "NCI Code", "data_type": "Data Type", "order": "Order",
                  "term": "Term", "decode": "Decode"},
    "Methods": {"standard": "Standard", "method": "Method", "name": "Name", "type": "Type",
                "dataset": "Dataset", "variable": "Variable", "description": "Description"},
}

_ORIGIN_SOURCE = {"Collected": "Investigator", "Assigned": "Sponsor", "Protocol": "Sponsor"}
_ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"  # ASCII digits: ISO 8601, not any Unicode digit
_ISO_DATETIME = _ISO_DATE + r"T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
_LENGTH_TYPES = ("text", "integer", "float")  # Define-XML gives Length for these only


def build_metadata(specs: Specs, sdtm: dict[str, pd.DataFrame],
                   adam: dict[str, pd.DataFrame]) -> Metadata:
    """The define metadata of every dataset of ``specs`` that was built (in ``sdtm``/``adam``).

    Dataset, variable and codelist attributes come from the specs; lengths and numeric data
    types from the data; Mandatory (never null) for the keys and SDTM's Required variables
    (core table of :mod:`itp_adam.checks.validate`; ADaM's Req asks only for presence); one method
    per Derived variable, described by its spec description."""
    datasets, variables, methods = [], [], []
    for standard, group, frames in (("SDTM", specs.sdtm, sdtm), ("ADaM", specs.adam, adam)):
        for name, spec in group.items():
            if name not in frames:
                continue
            frame, core = frames[name], core_table(spec)
            datasets.append(_dataset_row(standard, spec, len(frame)))
            for order, var in enumerate(spec.variables, start=1):
                row = _variable_row(standard, spec, order, var.name, frame,
                                    core.get(var.name, "Perm"))
                variables.append(row)
                if row["method"]:
                    methods.append({"standard": standard, "method": row["method"],
                                    "name": f"Algorithm to derive {name}.{var.name}",
                                    "type": "Computation", "dataset": name, "variable": var.name,
                                    "description": _method_text(spec, var.name)})
    variable_table = pd.DataFrame(variables, columns=list(SHEETS["Variables"]))
    return Metadata(pd.DataFrame(datasets, columns=list(SHEETS["Datasets"])), variable_table,
                    _codelist_table(specs, variable_table),
                    pd.DataFrame(methods, columns=list(SHEETS["Methods"])))


def _codelist_table(specs: Specs, variables: pd.DataFrame) -> pd.DataFrame:
    """One row per submission value of each codelist the variables of a standard use."""
    used = variables.loc[variables["codelist"] != "", ["standard", "codelist", "data_type"]]
    rows = []
    for (standard, name), group in used.groupby(["standard", "codelist"], sort=False):
        codelist = specs.codelists[name]
        types = set(group["data_type"])
        data_type = types.pop() if len(types) == 1 and types <= {"integer", "float"} else "text"
        values = list(dict.fromkeys(t.value for t in codelist.terms))  # raw synonyms share one
        decodes = {}
        for term in reversed(codelist.terms):  # the first term of a value gives its decode
            decodes[term.value] = term.decode or ""
        rows += [{"standard": standard, "codelist": name, "name": codelist.label or name,
                  "nci": codelist.nci or "", "data_type": data_type, "order": order,
                  "term": value, "decode": decodes[value]}
                 for order, value in enumerate(values, start=1)]
    return pd.DataFrame(rows, columns=list(SHEETS["Codelists"]))


def _dataset_row(standard: str, spec: Dataset, records: int) -> dict[str, object]:
    folder = "sdtm" if standard == "SDTM" else "adam"
    return {"standard": standard, "dataset": spec.name, "label": spec.label,
            "class_": spec.class_, "structure": spec.structure,
            "purpose": "Tabulation" if standard == "SDTM" else "Analysis",
            "keys": ", ".join(spec.keys), "repeating": _repeating(spec), "records": records,
            "location": f"../{folder}/{spec.name.lower()}.xpt"}


def _repeating(spec: Dataset) -> str:
    """``No`` for one record per subject (keyed by STUDYID and USUBJID alone), else ``Yes``."""
    return "No" if set(spec.keys) <= {"STUDYID", "USUBJID"} else "Yes"


def _variable_row(standard: str, spec: Dataset, order: int, name: str, frame: pd.DataFrame,
                  core: str) -> dict[str, object]:
    var = spec.variable(name)
    values = frame[name] if name in frame else pd.Series([], dtype=float)
    data_type, length, digits = _data_type(var.type, var.format, name, values)
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
    }


def _data_type(kind: str, sas_format: str | None, name: str,
               values: pd.Series) -> tuple[str, int, object]:
    """Define-XML DataType, length and SignificantDigits of one variable, from its data.

    Char: ``text``; ISO 8601 ``--DTC`` variables ``date``/``datetime`` when every value is
    complete, else ``partialDate``/``partialDatetime``; length = the longest value (at least 1).
    Num: length 8 (the XPT storage); ``integer`` for SAS dates (shown with their format) and
    whole numbers, else ``float`` with the decimals the data need as significant digits.

    A few vectorised passes over each column (3M-row columns at 100,000 subjects): text
    lengths with pyarrow, the ``--DTC`` patterns and the decimals on the distinct values
    (each test must hold for every value, so the distinct ones decide)."""
    if kind == "Char":
        text = _arrow_text(values)
        length = max(1, _longest_text(text))
        if not name.endswith("DTC"):
            return "text", length, ""
        with_time = _holds(text, "T")
        base = "datetime" if with_time else "date"
        return (base if _complete_iso(values, text, with_time) else "partial" + base.capitalize(),
                length, "")
    if sas_format and sas_format.upper().startswith(("DATE", "TIME", "YYMMDD", "E8601")):
        return "integer", 8, ""
    if not pd.api.types.is_numeric_dtype(values):
        values = pd.to_numeric(values, errors="coerce")
    numbers = values.to_numpy(dtype=float)
    if np.all(np.isnan(numbers) | (numbers == np.round(numbers))):  # infinities are whole too
        return "integer", 8, ""
    distinct = pc.unique(pa.array(numbers)).to_numpy()
    return "float", 8, _decimals(distinct[np.isfinite(distinct)])


def _arrow_text(values: pd.Series) -> pa.ChunkedArray:
    """The values as pyarrow strings with ``""`` for missing (no copy for a ``str`` column
    without missing values)."""
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("string")
    return pc.fill_null(pa.chunked_array(pa.array(text.array)), "")


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


def _complete_iso(values: pd.Series, text: pa.ChunkedArray, with_time: bool) -> bool:
    """Whether every non-blank value is a complete ISO 8601 date (``with_time``: datetime).

    A complete date has 10 characters, a datetime at least 16, each of 1 to 4 bytes in UTF-8:
    byte lengths outside that rule the column out without looking at the text; otherwise
    the distinct values are matched."""
    nbytes = pc.binary_length(text)
    lengths = pc.min_max(pc.filter(nbytes, pc.greater(nbytes, 0)))
    shortest, longest = lengths["min"].as_py(), lengths["max"].as_py()
    if shortest is None:  # no value: nothing incomplete
        return True
    if shortest < (16 if with_time else 10) or (not with_time and longest > 40):
        return False
    distinct = pd.Series(values.unique()).astype("string").fillna("")
    filled = distinct[distinct != ""]
    return bool(filled.str.fullmatch(_ISO_DATETIME if with_time else _ISO_DATE).all())


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


def _translated(parent: ET.Element, tag: str, text: str) -> ET.Element:
    """``<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>`` under ``parent``."""
    element = ET.SubElement(parent, _odm(tag))
    ET.SubElement(element, _odm("TranslatedText"), {XML_LANG: "en"}).text = text
    return element


def define_xml(meta: Metadata, standard: str, study_id: str, conformance: Conformance,
               created: dt.datetime | None = None) -> ET.ElementTree:
    """The Define-XML 2.1 document of one standard (``"SDTM"`` or ``"ADaM"``) of ``meta``."""
    created = created or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
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

    def mine(table: pd.DataFrame) -> pd.DataFrame:
        return table[table["standard"] == standard]

    variables = mine(meta.variables)
    for ds in mine(meta.datasets).itertuples(index=False):
        _item_group(mdv, standard, ds, variables[variables["dataset"] == ds.dataset], ig_oid)
    for var in variables.itertuples(index=False):
        _item_def(mdv, var)
    for name, terms in mine(meta.codelists).groupby("codelist", sort=False):
        _codelist(mdv, str(name), terms, ct_oid)
    for method in mine(meta.methods).itertuples(index=False):
        element = ET.SubElement(mdv, _odm("MethodDef"), {
            "OID": method.method, "Name": method.name, "Type": method.type})
        _translated(element, "Description", method.description or method.name)
    ET.indent(root, space="  ")
    return ET.ElementTree(root)


def _item_group(mdv: ET.Element, standard: str, ds: Any, variables: pd.DataFrame,
                ig_oid: str) -> None:
    attributes = {"OID": f"IG.{ds.dataset}", "Name": ds.dataset, "Repeating": ds.repeating,
                  "IsReferenceData": "No", "SASDatasetName": ds.dataset}
    if standard == "SDTM":
        attributes["Domain"] = ds.dataset.removeprefix("SUPP") or ds.dataset
    attributes.update({"Purpose": ds.purpose, _def("Structure"): ds.structure,
                       _def("StandardOID"): ig_oid, _def("ArchiveLocationID"): f"LF.{ds.dataset}"})
    group = ET.SubElement(mdv, _odm("ItemGroupDef"), attributes)
    _translated(group, "Description", ds.label)
    for var in variables.itertuples(index=False):
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
    leaf = ET.SubElement(group, _def("leaf"), {"ID": f"LF.{ds.dataset}",
                                                f"{{{XLINK_NS}}}href": ds.location})
    ET.SubElement(leaf, _def("title")).text = ds.location.rsplit("/", 1)[-1]


def _item_def(mdv: ET.Element, var: Any) -> None:
    attributes = {"OID": f"IT.{var.dataset}.{var.variable}", "Name": var.variable,
                  "DataType": var.data_type}
    if var.data_type in _LENGTH_TYPES:
        attributes["Length"] = str(var.length)
    if var.significant_digits != "":
        attributes["SignificantDigits"] = str(var.significant_digits)
    attributes["SASFieldName"] = var.variable
    if var.format:
        attributes[_def("DisplayFormat")] = var.format
    item = ET.SubElement(mdv, _odm("ItemDef"), attributes)
    _translated(item, "Description", var.label)
    if var.codelist:
        ET.SubElement(item, _odm("CodeListRef"), {"CodeListOID": f"CL.{var.codelist}"})
    origin = ET.SubElement(item, _def("Origin"), {"Type": var.origin, **(
        {"Source": var.source} if var.source else {})})
    if var.predecessor:
        _translated(origin, "Description", var.predecessor)


def _codelist(mdv: ET.Element, name: str, terms: pd.DataFrame, ct_oid: str) -> None:
    first = terms.iloc[0]
    attributes = {"OID": f"CL.{name}", "Name": first["name"], "DataType": first["data_type"]}
    if first["nci"]:
        attributes[_def("StandardOID")] = ct_oid
    else:
        attributes[_def("IsNonStandard")] = "Yes"
    codelist = ET.SubElement(mdv, _odm("CodeList"), attributes)
    decoded = bool((terms["decode"] != "").all())  # all decoded, or an enumeration
    for term in terms.itertuples(index=False):
        item = ET.SubElement(codelist, _odm("CodeListItem" if decoded else "EnumeratedItem"),
                             {"CodedValue": term.term, "OrderNumber": str(term.order)})
        if decoded:
            _translated(item, "Decode", term.decode)
    if first["nci"]:
        ET.SubElement(codelist, _odm("Alias"), {"Context": "nci:ExtCodeID", "Name": first["nci"]})


# --------------------------------------------------------------------------------------------
# Writing


def write_workbook(meta: Metadata, path: Path) -> None:
    """The metadata as an Excel specification: sheets Datasets, Variables, Codelists, Methods.

    openpyxl's write-only mode, row by row (a few thousand cells; pandas' ``to_excel`` took
    three times as long): headings in the first row, frozen, and each column as wide as its
    longest text plus 2 (at most 60)."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    for sheet, table in zip(SHEETS, (meta.datasets, meta.variables, meta.codelists,
                                     meta.methods)):
        cells = book.create_sheet(sheet)
        headings = list(SHEETS[sheet].values())
        columns = [[_cell(value) for value in table[column]] for column in SHEETS[sheet]]
        for number, (heading, values) in enumerate(zip(headings, columns), start=1):
            longest = max((len(str(value)) for value in values), default=0)
            cells.column_dimensions[get_column_letter(number)].width = min(
                60, max(len(heading), longest) + 2)
        cells.freeze_panes = "A2"
        cells.append(headings)
        for row in zip(*columns):
            cells.append(row)
    book.save(path)


def _cell(value: object) -> object:
    """A table value as pandas' ``to_excel`` writes it: missing as ``""``, numpy scalars as
    Python numbers."""
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return ""
    return value.item() if isinstance(value, np.generic) else value


def write_define(specs: Specs, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame],
                 folder: Path, specs_dir: Path | None = None) -> list[Path]:
    """Write ``define-sdtm.xml``, ``define-adam.xml`` (when there are ADaM datasets) and
    ``specification.xlsx`` into ``folder``; ``specs_dir`` holds ``conformance.yaml`` (the
    standards' versions; default: the shipped specs). Returns the paths written."""
    from ..paths import default_specs_dir

    conformance = load_conformance(Path(specs_dir) if specs_dir else default_specs_dir())
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = build_metadata(specs, sdtm, adam)
    for prefix, uri in (("", ODM_NS), ("def", DEF_NS), ("xlink", XLINK_NS)):
        ET.register_namespace(prefix, uri)
    written = []
    for standard, file in DEFINE_FILES.items():
        if (meta.datasets["standard"] == standard).any():
            tree = define_xml(meta, standard, specs.study.study_id, conformance)
            tree.write(folder / file, encoding="UTF-8", xml_declaration=True)
            written.append(folder / file)
    write_workbook(meta, folder / WORKBOOK)
    return [*written, folder / WORKBOOK]
