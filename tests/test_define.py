"""Define-XML 2.1 and the specification workbook of the shipped study.

The files must validate against the official Define-XML 2.1 schema (the XSDs shipped in the
PyPI package odmlib, read offline with lxml); the content checks compare with the specs
(labels, keys, codelists as written in the YAML files) and with values worked out by hand or
recomputed here from the data with plain Python.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import openpyxl
import pandas as pd
import pytest
from lxml import etree

from itp_adam.io.define import _data_type, write_define
from itp_adam.paths import default_specs_dir

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}
DEF = "{http://www.cdisc.org/ns/def/v2.1}"


@pytest.fixture(scope="module")
def specs(shipped):
    return shipped.specs


@pytest.fixture(scope="module")
def built(shipped):
    return shipped.sdtm, shipped.adam


@pytest.fixture(scope="module")
def folder(specs, built, tmp_path_factory):
    out = tmp_path_factory.mktemp("define")
    written = write_define(specs, *built, out, default_specs_dir())
    assert [p.name for p in written] == ["define-sdtm.xml", "define-adam.xml", "specification.xlsx"]
    return out


@pytest.fixture(scope="module")
def sdtm_xml(folder):
    return etree.parse(str(folder / "define-sdtm.xml"))


@pytest.fixture(scope="module")
def adam_xml(folder):
    return etree.parse(str(folder / "define-adam.xml"))


@pytest.fixture(scope="module")
def schema():
    xsd = files("odmlib") / "schemas" / "define" / "2.1" / "define2-1-0.xsd"
    return etree.XMLSchema(etree.parse(str(xsd)))


def _one(tree, path: str):
    found = tree.xpath(path, namespaces=NS)
    assert len(found) == 1, (path, len(found))
    return found[0]


def _text(element) -> str:
    return element.xpath("string(odm:Description/odm:TranslatedText)", namespaces=NS)


# --------------------------------------------------------------------------------------------
# schema


@pytest.mark.parametrize("name", ["define-sdtm.xml", "define-adam.xml"])
def test_define_validates_against_the_define_xml_2_1_schema(folder, schema, name):
    document = etree.parse(str(folder / name))
    assert schema.validate(document), schema.error_log


def test_schema_check_catches_a_broken_define(sdtm_xml, schema):
    broken = etree.fromstring(etree.tostring(sdtm_xml))
    _one(broken, "//odm:ItemGroupDef[@Name='DM']").set("Repeating", "Sometimes")
    assert not schema.validate(broken)
    broken = etree.fromstring(etree.tostring(sdtm_xml))
    _one(broken, "//odm:ItemDef[@OID='IT.DM.AGE']").set("DataType", "number")
    assert not schema.validate(broken)
    broken = etree.fromstring(etree.tostring(sdtm_xml))
    origin = _one(broken, "//odm:ItemDef[@OID='IT.DM.AGE']/def:Origin")
    origin.set("Type", "CRF")  # Define-XML 2.0 wording, not 2.1
    assert not schema.validate(broken)


# --------------------------------------------------------------------------------------------
# content, against the specs and by hand


def test_adsl_trtsdt(adam_xml):
    item = _one(adam_xml, "//odm:ItemDef[@OID='IT.ADSL.TRTSDT']")
    assert _text(item) == "Date of First Exposure to Treatment"  # adsl.yaml label
    assert item.get("DataType") == "integer" and item.get(f"{DEF}DisplayFormat") == "DATE9."
    assert item.get("Length") == "8"
    assert _one(item, "def:Origin").get("Type") == "Derived"
    ref = _one(adam_xml, "//odm:ItemGroupDef[@Name='ADSL']/odm:ItemRef[@ItemOID='IT.ADSL.TRTSDT']")
    assert ref.get("Mandatory") == "No" and ref.get("KeySequence") is None
    assert ref.get("Role") is None  # no roles in an ADaM define
    assert ref.get("MethodOID") == "MT.ADSL.TRTSDT"
    method = _one(adam_xml, "//odm:MethodDef[@OID='MT.ADSL.TRTSDT']")
    assert method.get("Type") == "Computation"
    assert _text(method) == "TRTSDT = DM.RFXSTDTC, the first day of the first period with dose > 0."


def test_key_sequence_and_repeating(sdtm_xml, adam_xml):
    def keys(tree, dataset):
        refs = tree.xpath(f"//odm:ItemGroupDef[@Name='{dataset}']/odm:ItemRef[@KeySequence]",
                          namespaces=NS)
        return {r.get("ItemOID").split(".")[-1]: r.get("KeySequence") for r in refs}

    assert keys(adam_xml, "ADLB") == {"STUDYID": "1", "USUBJID": "2", "PARAMCD": "3", "SRCSEQ": "4"}
    assert keys(sdtm_xml, "DS") == {"STUDYID": "1", "USUBJID": "2", "DSCAT": "3", "DSDECOD": "4"}
    repeating = {g.get("Name"): g.get("Repeating") for g in
                 sdtm_xml.xpath("//odm:ItemGroupDef", namespaces=NS)
                 + adam_xml.xpath("//odm:ItemGroupDef", namespaces=NS)}
    assert repeating["DM"] == repeating["ADSL"] == "No"
    assert repeating["LB"] == repeating["ADLB"] == repeating["SUPPDM"] == "Yes"
    dm = _one(sdtm_xml, "//odm:ItemGroupDef[@Name='DM']")
    assert dm.get("Purpose") == "Tabulation" and dm.get("Domain") == "DM"
    assert _one(sdtm_xml, "//odm:ItemGroupDef[@Name='SUPPDM']").get("Domain") == "DM"
    assert _one(dm, "def:Class").get("Name") == "SPECIAL PURPOSE"
    assert _one(dm, "def:leaf").get("{http://www.w3.org/1999/xlink}href") == "../sdtm/dm.xpt"
    # SDTM: Required variables are Mandatory, with their roles
    sex = _one(dm, "odm:ItemRef[@ItemOID='IT.DM.SEX']")
    assert sex.get("Mandatory") == "Yes" and sex.get("Role") == "Record Qualifier"
    assert _one(dm, "odm:ItemRef[@ItemOID='IT.DM.RACE']").get("Mandatory") == "No"  # Expected


def test_codelists_with_decodes_and_nci_codes(sdtm_xml, adam_xml):
    sex = _one(sdtm_xml, "//odm:CodeList[@OID='CL.SEX']")
    items = sex.xpath("odm:CodeListItem", namespaces=NS)
    assert [(i.get("CodedValue"), i.get("OrderNumber"),
             i.xpath("string(odm:Decode/odm:TranslatedText)", namespaces=NS)) for i in items] == [
        ("M", "1", "Male"), ("F", "2", "Female")]
    assert _one(sex, "odm:Alias").attrib == {"Context": "nci:ExtCodeID", "Name": "C66731"}
    assert sex.get(f"{DEF}StandardOID") == "STD.CT.SDTM"
    # two raw synonyms (Han, Other ethnic minority) give one submission value
    ethnic = _one(sdtm_xml, "//odm:CodeList[@OID='CL.ETHNIC']")
    assert [i.get("CodedValue") for i in ethnic.xpath("odm:CodeListItem", namespaces=NS)] == [
        "NOT HISPANIC OR LATINO"]
    # sponsor list without decodes: enumerated, non-standard
    aerel = _one(sdtm_xml, "//odm:CodeList[@OID='CL.AEREL']")
    assert aerel.get(f"{DEF}IsNonStandard") == "Yes"
    unit = _one(sdtm_xml, "//odm:CodeList[@OID='CL.UNIT']")
    values = [i.get("CodedValue") for i in unit.xpath("odm:EnumeratedItem", namespaces=NS)]
    assert len(values) == len(set(values)) and {"10^9/L", "U/L", "mg"} <= set(values)
    assert not unit.xpath("odm:CodeListItem", namespaces=NS)
    ref = _one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.SEX']/odm:CodeListRef")
    assert ref.get("CodeListOID") == "CL.SEX"
    # each define lists only the codelists its variables use (ADaM: ADSL.SEX)
    assert [c.get("OID") for c in adam_xml.xpath("//odm:CodeList", namespaces=NS)] == ["CL.SEX"]


def test_origins(sdtm_xml, adam_xml):
    def origin(tree, oid):
        return _one(tree, f"//odm:ItemDef[@OID='{oid}']/def:Origin")

    collected = origin(sdtm_xml, "IT.DM.STUDYID")
    assert collected.attrib == {"Type": "Collected", "Source": "Investigator"}
    assert origin(sdtm_xml, "IT.DM.DOMAIN").attrib == {"Type": "Assigned", "Source": "Sponsor"}
    lb = origin(sdtm_xml, "IT.LB.STUDYID")
    assert lb.get("Type") == "Predecessor" and _text(lb) == "DM.STUDYID"
    assert _text(origin(adam_xml, "IT.ADLB.PARAMCD")) == "LB.LBTESTCD"
    assert origin(sdtm_xml, "IT.DM.USUBJID").get("Type") == "Derived"
    assert _text(_one(sdtm_xml, "//odm:MethodDef[@OID='MT.DM.USUBJID']")) == (
        "STUDYID and SUBJID joined by a hyphen, e.g. HETROM-ITP-RWS-03-017.")


def test_data_types_and_lengths_from_the_data(sdtm_xml, built):
    def item(oid):
        return _one(sdtm_xml, f"//odm:ItemDef[@OID='{oid}']")

    assert item("IT.DM.USUBJID").get("Length") == str(len("HETROM-ITP-RWS-01-001"))
    assert item("IT.DM.SEX").get("Length") == "1"
    rfstdtc = item("IT.DM.RFSTDTC")
    assert (rfstdtc.get("DataType"), rfstdtc.get("Length")) == ("date", None)
    assert item("IT.DM.BRTHDTC").get("DataType") == "partialDate"  # e.g. 1942
    assert item("IT.LB.LBDTC").get("DataType") == "partialDatetime"  # dates with and without time
    assert item("IT.DM.AGE").get("DataType") == "integer"
    exdose = item("IT.EX.EXDOSE")  # doses 2.5, 5, 7.5, 10 mg: one decimal
    assert (exdose.get("DataType"), exdose.get("SignificantDigits")) == ("float", "1")
    sdtm = built[0]
    for element in sdtm_xml.xpath("//odm:ItemDef[@DataType='text']", namespaces=NS):
        dataset, name = element.get("OID").split(".")[1:]
        longest = max([len(str(v)) for v in sdtm[dataset][name]] + [1])
        assert element.get("Length") == str(longest), element.get("OID")


# --------------------------------------------------------------------------------------------
# workbook


def test_workbook_holds_the_same_metadata(folder, specs, sdtm_xml, adam_xml):
    book = openpyxl.load_workbook(folder / "specification.xlsx", read_only=True)
    assert book.sheetnames == ["Datasets", "Variables", "Codelists", "Methods"]

    def rows(sheet):
        values = list(book[sheet].iter_rows(values_only=True))
        return [dict(zip(values[0], row)) for row in values[1:]]

    datasets = rows("Datasets")
    assert [d["Dataset"] for d in datasets] == [*specs.sdtm, *specs.adam]
    assert {d["Dataset"]: d["Records"] for d in datasets}["ADSL"] == 167
    variables = rows("Variables")
    every = [*specs.sdtm.values(), *specs.adam.values()]
    assert len(variables) == sum(len(d.variables) for d in every)
    trtsdt = next(v for v in variables if (v["Dataset"], v["Variable"]) == ("ADSL", "TRTSDT"))
    assert (trtsdt["Label"], trtsdt["Data Type"], trtsdt["Format"], trtsdt["Origin"]) == (
        "Date of First Exposure to Treatment", "integer", "DATE9.", "Derived")
    items = sdtm_xml.xpath("//odm:ItemDef", namespaces=NS) + adam_xml.xpath("//odm:ItemDef",
                                                                          namespaces=NS)
    assert sorted((v["Dataset"], v["Variable"], v["Data Type"]) for v in variables) == sorted(
        (i.get("OID").split(".")[1], i.get("Name"), i.get("DataType")) for i in items)
    sex = [(c["Term"], c["Decode"]) for c in rows("Codelists")
           if c["Codelist"] == "SEX" and c["Standard"] == "SDTM"]
    assert sex == [("M", "Male"), ("F", "Female")]
    methods = rows("Methods")
    refs = sdtm_xml.xpath("//odm:ItemRef[@MethodOID]", namespaces=NS) + adam_xml.xpath(
        "//odm:ItemRef[@MethodOID]", namespaces=NS)
    assert sorted(m["Method"] for m in methods) == sorted(r.get("MethodOID") for r in refs)
    derived = [(name, v.name) for name, d in {**specs.sdtm, **specs.adam}.items()
               for v in d.variables if v.origin == "Derived"]
    assert len(methods) == len(derived)


def test_sdtm_only_run_writes_no_adam_define(specs, built, tmp_path):
    written = write_define(specs, built[0], {}, tmp_path)
    assert [p.name for p in written] == ["define-sdtm.xml", "specification.xlsx"]


def test_workbook_column_widths_and_frozen_headings(folder):
    """Each column as wide as its longest value or heading plus 2, at most 60; headings frozen."""
    book = openpyxl.load_workbook(folder / "specification.xlsx")
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
        for column in sheet.iter_cols():
            shown = [len(str(c.value)) for c in column if c.value is not None]
            width = sheet.column_dimensions[column[0].column_letter].width
            assert width == min(60, max(shown) + 2), (sheet.title, column[0].value)


# --------------------------------------------------------------------------------------------
# data types and lengths from the data: edge cases, worked out by hand


def _str(values):
    return pd.Series(values, dtype="str")


@pytest.mark.parametrize("name, values, expected", [
    ("X", _str(["ab", "", None]), ("text", 2, "")),
    ("X", _str(["", None]), ("text", 1, "")),                     # nothing: length 1
    ("X", _str([]), ("text", 1, "")),
    ("X", _str(["\u00e9\u00e9\u00e9", "abcd"]), ("text", 4, "")),  # 3 characters in 6 bytes
    ("X", _str(["abc", "\u00e9\u00e9\u00e9\u00e9"]), ("text", 4, "")),
    ("X", pd.Series(pd.array([7, 1234, None], dtype="Int64")), ("text", 4, "")),  # as text
    ("XDTC", _str(["2024-01-31", "", None]), ("date", 10, "")),
    ("XDTC", _str(["2024-01-31", "2024-01"]), ("partialDate", 10, "")),
    ("XDTC", _str(["2024-01-31", "2024-01-31x"]), ("partialDate", 11, "")),
    ("XDTC", _str(["2024-1-31", "2024-01-31"]), ("partialDate", 10, "")),
    ("XDTC", _str(["2024-01-31T08:30", "2024-01-31T08:30:05.25"]), ("datetime", 22, "")),
    ("XDTC", _str(["2024-01-31T08:30", "2024-01-31"]), ("partialDatetime", 16, "")),
    ("XDTC", _str(["2024-01-31T8:30", "2024-01-31T08:30"]), ("partialDatetime", 16, "")),
    ("XDTC", _str(["UNKNOWN T"]), ("partialDatetime", 9, "")),      # a T but no time
    ("XDTC", _str(["", None]), ("date", 1, "")),                    # nothing incomplete
    # Arabic-Indic digits are not ISO 8601 digits (10 characters, 20 bytes): not a date,
    # whatever a regex engine's \d says (Python's and newer pyarrow's match them, RE2's do not)
    ("XDTC", _str(["\u0662\u0660\u0662\u0664-\u0660\u0661-\u0663\u0661"]), ("partialDate", 10, "")),
])
def test_char_data_type_and_length(name, values, expected):
    assert _data_type("Char", None, name, values) == expected


@pytest.mark.parametrize("values, expected", [
    (pd.Series([1.0, 2.0, np.nan]), ("integer", 8, "")),
    (pd.Series([1.0, -np.inf, np.inf, 3.0]), ("integer", 8, "")),   # infinities do not count
    (pd.Series([np.nan, np.nan]), ("integer", 8, "")),
    (pd.Series([], dtype=float), ("integer", 8, "")),
    (pd.Series([2.5, 5.0, 7.5, 10.0, 2.5, np.nan]), ("float", 8, 1)),
    (pd.Series([0.125, 1.0, np.inf]), ("float", 8, 3)),
    (pd.Series([1 / 3, 1.0]), ("float", 8, 10)),                     # never exact: 10
    (pd.Series([0.1 + 0.2]), ("float", 8, 1)),                       # 0.30000000000000004
    (pd.Series(pd.array([1.25, None], dtype="Float64")), ("float", 8, 2)),
    (pd.Series(pd.array([3, None], dtype="Int64")), ("integer", 8, "")),
    (_str(["1.5", "x", None]), ("float", 8, 1)),                    # text read as numbers
])
def test_num_data_type_and_digits(values, expected):
    assert _data_type("Num", None, "X", values) == expected


def test_sas_dates_are_integers():
    dates = pd.Series(pd.to_datetime(["2024-01-31", None]))
    assert _data_type("Num", "DATE9.", "ADT", dates) == ("integer", 8, "")
