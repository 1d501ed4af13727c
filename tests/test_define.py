"""Define-XML 2.1 (with ARM 1.0), its stylesheet and the specification workbook of the shipped
study.

The files must validate against the official Define-XML 2.1 schema and, for the ADaM define
that carries analysis results metadata, the ARM 1.0 schema for Define-XML 2.1 (the XSDs shipped
in the PyPI package odmlib, read offline with lxml). The content checks compare with the specs
(labels, keys, codelists, study.yaml's documents, dictionaries and analysis results as written
in the YAML files) and with values worked out by hand or recomputed here from the data with
plain Python. The stylesheet is applied with lxml's XSLT.
"""

from __future__ import annotations

import shutil
from importlib.resources import files

import numpy as np
import openpyxl
import pandas as pd
import pytest
from lxml import etree

from itp_adam.io.define import ColumnFacts, _data_type, column_facts, write_define
from itp_adam.io.define_spec import load_define_spec
from itp_adam.paths import default_specs_dir
from itp_adam.spec.model import SpecError, load_specs

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink", "arm": "http://www.cdisc.org/ns/arm/v1.0"}
DEF = "{http://www.cdisc.org/ns/def/v2.1}"
HREF = "{http://www.w3.org/1999/xlink}href"


@pytest.fixture(scope="module")
def specs(shipped):
    return shipped.specs


@pytest.fixture(scope="module")
def built(shipped):
    return shipped.sdtm, shipped.adam


@pytest.fixture(scope="module")
def out(specs, built, tmp_path_factory):
    folder = tmp_path_factory.mktemp("define")
    written = write_define(specs, *built, folder, default_specs_dir())
    assert [p.relative_to(folder).as_posix() for p in written] == [
        "sdtm/define.xml", "sdtm/define2-1.xsl", "sdtm/sap.md",
        "adam/define.xml", "adam/define2-1.xsl", "adam/sap.md",
        "define/define-sdtm.xml", "define/define-adam.xml", "define/specification.xlsx"]
    return folder


@pytest.fixture(scope="module")
def folder(out):
    return out / "define"


@pytest.fixture(scope="module")
def sdtm_xml(out):
    return etree.parse(str(out / "sdtm" / "define.xml"))


@pytest.fixture(scope="module")
def adam_xml(out):
    return etree.parse(str(out / "adam" / "define.xml"))


def _schema(*parts: str):
    return etree.XMLSchema(etree.parse(str(files("odmlib").joinpath("schemas", *parts))))


@pytest.fixture(scope="module")
def schema():
    return _schema("define", "2.1", "define2-1-0.xsd")


@pytest.fixture(scope="module")
def arm_schema():
    """Define-XML 2.1 with the ARM 1.0 extension (odmlib's ARM 1.0 schema retargeted to
    Define-XML 2.1; ARM 1.0 was published for Define-XML 2.0)."""
    return _schema("arm", "1.0-define2.1", "arm1-0-0.xsd")


def _one(tree, path: str):
    found = tree.xpath(path, namespaces=NS)
    assert len(found) == 1, (path, len(found))
    return found[0]


def _text(element) -> str:
    return element.xpath("string(odm:Description/odm:TranslatedText)", namespaces=NS)


# --------------------------------------------------------------------------------------------
# schema


@pytest.mark.parametrize("name", ["sdtm/define.xml", "define/define-sdtm.xml"])
def test_sdtm_define_validates_against_the_define_xml_2_1_schema(out, schema, name):
    document = etree.parse(str(out / name))
    assert schema.validate(document), schema.error_log


@pytest.mark.parametrize("name", ["adam/define.xml", "define/define-adam.xml"])
def test_adam_define_validates_against_define_xml_2_1_with_arm(out, schema, arm_schema, name):
    document = etree.parse(str(out / name))
    assert arm_schema.validate(document), arm_schema.error_log
    # the core schema knows no ARM: without the analysis results the rest is plain Define-XML
    assert not schema.validate(document)
    displays = _one(document, "//arm:AnalysisResultDisplays")
    displays.getparent().remove(displays)
    assert schema.validate(document), schema.error_log


def test_schema_check_catches_a_broken_define(sdtm_xml, adam_xml, schema, arm_schema):
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
    broken = etree.fromstring(etree.tostring(adam_xml))
    _one(broken, "//arm:AnalysisResult[@OID='AR.T2.CRIT1.WEEK6']").attrib.pop("AnalysisReason")
    assert not arm_schema.validate(broken)


# --------------------------------------------------------------------------------------------
# datasets and variables, against the specs and by hand


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


def test_key_sequence_and_repeating(sdtm_xml, adam_xml, out):
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
    # the define beside the datasets links them by name; the copy in define/ from there
    assert _one(dm, "def:leaf").get(HREF) == "dm.xpt"
    legacy = etree.parse(str(out / "define" / "define-sdtm.xml"))
    assert _one(legacy, "//odm:ItemGroupDef[@Name='DM']/def:leaf").get(HREF) == "../sdtm/dm.xpt"
    # SDTM: Required variables are Mandatory, with their roles
    sex = _one(dm, "odm:ItemRef[@ItemOID='IT.DM.SEX']")
    assert sex.get("Mandatory") == "Yes" and sex.get("Role") == "Record Qualifier"
    assert _one(dm, "odm:ItemRef[@ItemOID='IT.DM.RACE']").get("Mandatory") == "No"  # Expected


def test_every_dataset_built_is_described_once(sdtm_xml, adam_xml, specs, built):
    """Generic: whatever datasets the specs build (trial design ones included)."""
    for tree, group, frames in ((sdtm_xml, specs.sdtm, built[0]), (adam_xml, specs.adam, built[1])):
        assert [g.get("Name") for g in tree.xpath("//odm:ItemGroupDef", namespaces=NS)] == [
            name for name in group if name in frames]  # in spec order
        assert set(frames) <= set(group)


def test_origins(sdtm_xml, adam_xml):
    def origin(tree, oid):
        return _one(tree, f"//odm:ItemDef[@OID='{oid}']/def:Origin")

    assert origin(sdtm_xml, "IT.DM.DOMAIN").attrib == {"Type": "Assigned", "Source": "Sponsor"}
    lb = origin(sdtm_xml, "IT.LB.STUDYID")
    assert lb.get("Type") == "Predecessor" and _text(lb) == "DM.STUDYID"
    assert _text(origin(adam_xml, "IT.ADLB.PARAMCD")) == "LB.LBTESTCD"
    assert origin(sdtm_xml, "IT.DM.USUBJID").get("Type") == "Derived"
    assert origin(sdtm_xml, "IT.LB.LBORRES").attrib == {"Type": "Collected",
                                                         "Source": "Investigator"}


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
    for element in sdtm_xml.xpath("//odm:ItemDef[@DataType='text' and @SASFieldName]",
                                  namespaces=NS):
        dataset, name = element.get("OID").split(".")[1:]
        longest = max([len(str(v)) for v in sdtm[dataset][name] if not pd.isna(v)] + [1])
        assert element.get("Length") == str(longest), element.get("OID")


# --------------------------------------------------------------------------------------------
# codelists: terms, NCI codes, extended values; external dictionaries


def test_codelists_with_decodes_and_nci_codes(sdtm_xml, adam_xml, specs):
    sex = _one(sdtm_xml, "//odm:CodeList[@OID='CL.SEX']")
    items = sex.xpath("odm:CodeListItem", namespaces=NS)
    assert [(i.get("CodedValue"), i.get("OrderNumber"),
             i.xpath("string(odm:Decode/odm:TranslatedText)", namespaces=NS),
             i.xpath("string(odm:Alias[@Context='nci:ExtCodeID']/@Name)", namespaces=NS))
            for i in items] == [("M", "1", "Male", "C20197"), ("F", "2", "Female", "C16576")]
    assert _one(sex, "odm:Alias").attrib == {"Context": "nci:ExtCodeID", "Name": "C66731"}
    assert sex.get(f"{DEF}StandardOID") == "STD.CT.SDTM"
    # two raw synonyms (Han, Other ethnic minority) give one submission value, with its code
    ethnic = _one(sdtm_xml, "//odm:CodeList[@OID='CL.ETHNIC']")
    assert [(i.get("CodedValue"), i.xpath("string(odm:Alias/@Name)", namespaces=NS))
            for i in ethnic.xpath("odm:CodeListItem", namespaces=NS)] == [
        ("NOT HISPANIC OR LATINO", "C41222")]
    # sponsor list without decodes: enumerated, non-standard
    aerel = _one(sdtm_xml, "//odm:CodeList[@OID='CL.AEREL']")
    assert aerel.get(f"{DEF}IsNonStandard") == "Yes"
    unit = _one(sdtm_xml, "//odm:CodeList[@OID='CL.UNIT']")
    values = [i.get("CodedValue") for i in unit.xpath("odm:EnumeratedItem", namespaces=NS)]
    assert len(values) == len(set(values)) and {"10^9/L", "U/L", "mg"} <= set(values)
    assert not unit.xpath("odm:CodeListItem", namespaces=NS)
    codes = {i.get("CodedValue"): i.xpath("string(odm:Alias/@Name)", namespaces=NS)
             for i in unit.xpath("odm:EnumeratedItem", namespaces=NS)}
    assert codes["mg"] == "C28253" and codes["10^9/L"] == ""  # only checked codes are written
    ref = _one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.SEX']/odm:CodeListRef")
    assert ref.get("CodeListOID") == "CL.SEX"
    # each define lists only the codelists its variables use, and the dictionaries
    used = {f"CL.{v.codelist}" for d in specs.adam.values() for v in d.variables if v.codelist}
    assert {c.get("OID") for c in adam_xml.xpath("//odm:CodeList", namespaces=NS)} == \
        used | {"CL.MEDDRA"}


def test_extended_values_are_marked(sdtm_xml):
    def items(codelist):
        return {i.get("CodedValue"): (i.get(f"{DEF}ExtendedValue"),
                                      i.xpath("string(odm:Alias/@Name)", namespaces=NS))
                for i in sdtm_xml.xpath(f"//odm:CodeList[@OID='CL.{codelist}']/odm:CodeListItem",
                                        namespaces=NS)}

    race = items("RACE")  # codelists.yaml: OTHER is the sponsor's term
    assert race["OTHER"] == ("Yes", "") and race["ASIAN"] == (None, "C41260")
    dsdecod = items("DSDECOD")
    assert dsdecod["ONGOING"] == ("Yes", "") and dsdecod["ADVERSE EVENT"] == (None, "C41331")
    assert items("LBTESTCD")["PLAT"] == (None, "C51951")
    assert items("LBNRIND") == {"LOW": (None, "C78801"), "NORMAL": (None, "C78727"),
                                "HIGH": (None, "C78800")}


def test_external_dictionaries(sdtm_xml, adam_xml):
    for tree in (sdtm_xml, adam_xml):  # study.yaml dictionaries: MedDRA 27.1
        meddra = _one(tree, "//odm:CodeList[@OID='CL.MEDDRA']")
        assert meddra.get("DataType") == "text"
        assert _one(meddra, "odm:ExternalCodeList").attrib == {
            "Dictionary": "MedDRA", "Version": "27.1", "href": "https://www.meddra.org/"}
        assert not meddra.xpath("odm:CodeListItem | odm:EnumeratedItem", namespaces=NS)

    def codelist(tree, oid):
        return _one(tree, f"//odm:ItemDef[@OID='{oid}']/odm:CodeListRef").get("CodeListOID")

    assert codelist(sdtm_xml, "IT.AE.AEDECOD") == codelist(sdtm_xml, "IT.AE.AEBODSYS") == "CL.MEDDRA"
    # the numeric codes (integer) get their own list, of their data type
    assert codelist(sdtm_xml, "IT.AE.AEPTCD") == "CL.MEDDRA.N"
    assert _one(sdtm_xml, "//odm:CodeList[@OID='CL.MEDDRA.N']").get("DataType") == "integer"
    assert codelist(adam_xml, "IT.ADAE.AEDECOD") == "CL.MEDDRA"
    assert not sdtm_xml.xpath("//odm:ItemDef[@OID='IT.AE.AETERM']/odm:CodeListRef", namespaces=NS)


# --------------------------------------------------------------------------------------------
# value-level metadata


def _value_list(tree, oid):
    vl = _one(tree, f"//def:ValueListDef[@OID='{oid}']")
    rows = []
    for ref in vl.xpath("odm:ItemRef", namespaces=NS):
        where = _one(tree, "//def:WhereClauseDef[@OID='{}']".format(
            _one(ref, "def:WhereClauseRef").get("WhereClauseOID")))
        checks = [(c.get("Comparator"), c.get(f"{DEF}ItemOID"),
                   c.xpath("odm:CheckValue/text()", namespaces=NS))
                  for c in where.xpath("odm:RangeCheck", namespaces=NS)]
        rows.append((ref.get("ItemOID"), checks, _one(tree, "//odm:ItemDef[@OID='{}']".format(
            ref.get("ItemOID")))))
    return rows


def _expected_type(values: list) -> tuple[str, str, str]:
    """Data type, Length and SignificantDigits of a text result worked out in plain Python:
    numbers -> integer/float (decimals of the longest fraction), else text."""
    texts = [str(v) for v in values if isinstance(v, str) and v != ""]
    length = str(max([len(t) for t in texts] + [1]))
    try:
        numbers = [float(t) for t in texts]
    except ValueError:
        return "text", length, ""
    if all(x == int(x) for x in numbers):
        return "integer", length, ""
    places = max(len(t.split(".")[1].rstrip("0")) if "." in t else 0 for t in texts)
    return "float", length, str(places)


def test_lb_value_level_metadata_by_test_code(sdtm_xml, built, specs):
    lb = built[0]["LB"]
    order = ["PLAT", "ALT", "AST", "BILI"]  # codelist LBTESTCD's order
    for variable in ("LBORRES", "LBSTRESC", "LBSTRESN"):
        parent = _one(sdtm_xml, f"//odm:ItemDef[@OID='IT.LB.{variable}']")
        assert _one(parent, "def:ValueListRef").get("ValueListOID") == f"VL.LB.{variable}"
        rows = _value_list(sdtm_xml, f"VL.LB.{variable}")
        assert [oid for oid, _, _ in rows] == [f"IT.LB.{variable}.{t}" for t in order]
        for (oid, checks, item), test in zip(rows, order):
            assert checks == [("EQ", "IT.LB.LBTESTCD", [test])]
            assert item.get("Name") == variable
            records = lb.loc[lb["LBTESTCD"] == test, variable].tolist()
            if variable == "LBSTRESN":
                numbers = [x for x in records if not pd.isna(x)]
                whole = all(float(x).is_integer() for x in numbers)
                assert (item.get("DataType"), item.get("Length")) == (
                    "integer" if whole else "float", "8"), oid
            else:
                assert (item.get("DataType"), item.get("Length"),
                        item.get("SignificantDigits") or "") == _expected_type(records), oid
    # the unit of the test in the description (study.yaml standard units)
    _, _, plat = _value_list(sdtm_xml, "VL.LB.LBSTRESN")[0]
    assert _text(plat) == "Platelets (10^9/L)"
    assert _one(plat, "def:Origin").get("Type") == "Derived"
    ref = _one(sdtm_xml, "//def:ValueListDef[@OID='VL.LB.LBSTRESN']/odm:ItemRef[1]")
    assert ref.get("MethodOID") == "MT.LB.LBSTRESN"
    # BILI in umol/L: 17.1 x mg/dL -> SignificantDigits from the data, at least one decimal
    _, _, bili = _value_list(sdtm_xml, "VL.LB.LBSTRESN")[3]
    assert bili.get("DataType") == "float" and int(bili.get("SignificantDigits")) >= 1


def test_rs_and_suppdm_value_level_metadata(sdtm_xml):
    rows = _value_list(sdtm_xml, "VL.RS.RSSTRESC")
    assert [(oid, checks) for oid, checks, _ in rows] == [
        ("IT.RS.RSSTRESC.WHOBLGR", [("EQ", "IT.RS.RSTESTCD", ["WHOBLGR"])])]
    item = rows[0][2]  # grades 0-4: one digit, through codelist WHOGR
    assert (item.get("DataType"), item.get("Length")) == ("integer", "1")
    assert _one(item, "odm:CodeListRef").get("CodeListOID") == "CL.WHOGR"
    # SUPPDM: QVAL by QNAM, each with the origin and comment of its record group
    rows = _value_list(sdtm_xml, "VL.SUPPDM.QVAL")
    assert [(oid, checks) for oid, checks, _ in rows] == [
        ("IT.SUPPDM.QVAL.ETHGRP", [("EQ", "IT.SUPPDM.QNAM", ["ETHGRP"])]),
        ("IT.SUPPDM.QVAL.PRIORLN", [("EQ", "IT.SUPPDM.QNAM", ["PRIORLN"])])]
    ethgrp, priorln = rows[0][2], rows[1][2]
    assert _text(ethgrp) == "Ethnic Group as Collected"  # QLABEL
    assert (ethgrp.get("DataType"), ethgrp.get("Length")) == ("text", str(len("Other ethnic minority")))
    assert (priorln.get("DataType"), priorln.get("Length")) == ("integer", "1")
    assert _one(priorln, "def:Origin").attrib == {"Type": "Collected", "Source": "Investigator"}
    comment = _one(sdtm_xml, "//def:CommentDef[@OID='{}']".format(ethgrp.get(f"{DEF}CommentOID")))
    assert _text(comment) == "Collected ethnic group; no record when it was not collected."
    refs = sdtm_xml.xpath("//def:ValueListDef[@OID='VL.SUPPDM.QVAL']/odm:ItemRef", namespaces=NS)
    assert [r.get("Mandatory") for r in refs] == ["Yes", "Yes"]  # QVAL is Required


def test_adlb_value_level_metadata_by_parameter(adam_xml, built):
    adlb = built[1]["ADLB"]
    rows = _value_list(adam_xml, "VL.ADLB.AVAL")
    assert [oid for oid, _, _ in rows] == [f"IT.ADLB.AVAL.{p}" for p in ("PLAT", "ALT", "AST", "BILI")]
    for oid, checks, item in rows:
        param = oid.rsplit(".", 1)[-1]
        assert checks == [("EQ", "IT.ADLB.PARAMCD", [param])]
        values = adlb.loc[adlb["PARAMCD"] == param, "AVAL"].dropna().tolist()
        whole = all(float(x).is_integer() for x in values)
        assert item.get("DataType") == ("integer" if whole else "float"), oid
        assert _text(item) == adlb.loc[adlb["PARAMCD"] == param, "PARAM"].iloc[0]


def test_where_clauses_are_defined_once(sdtm_xml, adam_xml):
    for tree in (sdtm_xml, adam_xml):
        oids = [w.get("OID") for w in tree.xpath("//def:WhereClauseDef", namespaces=NS)]
        assert len(oids) == len(set(oids))
        used = set(tree.xpath("//def:WhereClauseRef/@WhereClauseOID", namespaces=NS))
        assert used == set(oids)  # every clause is used, every reference defined
    # LB's three value lists share the clauses of the four tests
    assert len(sdtm_xml.xpath("//def:WhereClauseDef[starts-with(@OID, 'WC.LB.')]",
                              namespaces=NS)) == 4


# --------------------------------------------------------------------------------------------
# comments, documents, analysis results


def test_comments_from_the_specs(sdtm_xml, specs):
    def comment_of(tree, oid):
        ref = _one(tree, f"//*[@OID='{oid}']").get(f"{DEF}CommentOID")
        return _text(_one(tree, f"//def:CommentDef[@OID='{ref}']"))

    # a collected variable's description: its comment (a derived one's is its method)
    assert comment_of(sdtm_xml, "IT.DM.AGE") == "Age in years at informed consent, as collected."
    assert _one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.USUBJID']").get(f"{DEF}CommentOID") is None
    # a codelist's description
    assert comment_of(sdtm_xml, "CL.AEREL") == specs.codelists["AEREL"].description
    oids = sdtm_xml.xpath("//def:CommentDef/@OID", namespaces=NS)
    assert len(oids) == len(set(oids))
    assert set(sdtm_xml.xpath("//@def:CommentOID", namespaces=NS)) == set(oids)


def test_documents_and_citations(out, sdtm_xml, adam_xml):
    def leaves(tree):
        return {leaf.get("ID"): leaf.get(HREF)
                for leaf in tree.xpath("/odm:ODM/odm:Study/odm:MetaDataVersion/def:leaf",
                                       namespaces=NS)}

    assert leaves(sdtm_xml) == {"LF.SAP": "sap.md", "LF.CSDRG": "csdrg.html"}
    assert leaves(adam_xml) == {"LF.SAP": "sap.md", "LF.ADRG": "adrg.html",
                                "LF.TABLE2": "../tables/response.rtf"}
    legacy = etree.parse(str(out / "define" / "define-adam.xml"))
    assert leaves(legacy) == {"LF.SAP": "../adam/sap.md", "LF.ADRG": "../adam/adrg.html",
                              "LF.TABLE2": "../tables/response.rtf"}
    assert sdtm_xml.xpath("//def:SupplementalDoc/def:DocumentRef/@leafID", namespaces=NS) == [
        "LF.SAP", "LF.CSDRG"]
    # a reference document (the table of the results) is linked from ARM only
    assert adam_xml.xpath("//def:SupplementalDoc/def:DocumentRef/@leafID", namespaces=NS) == [
        "LF.SAP", "LF.ADRG"]
    assert (out / "adam" / "sap.md").read_bytes() == (default_specs_dir() / "sap.md").read_bytes()
    # a method citing the SAP (SAP "Dates" ...) refers to it; one that does not, not
    ady = _one(adam_xml, "//odm:MethodDef[@OID='MT.ADLB.ADY']")
    assert _text(ady).startswith('SAP "Dates"')
    assert ady.xpath("def:DocumentRef/@leafID", namespaces=NS) == ["LF.SAP"]
    usubjid = _one(sdtm_xml, "//odm:MethodDef[@OID='MT.DM.USUBJID']")
    assert "SAP" not in _text(usubjid) and not usubjid.xpath("def:DocumentRef", namespaces=NS)
    # the stylesheet instruction names the stylesheet shipped beside the file
    for name, href in (("sdtm/define.xml", "define2-1.xsl"),
                       ("define/define-sdtm.xml", "../sdtm/define2-1.xsl")):
        pi = etree.parse(str(out / name)).xpath("/processing-instruction('xml-stylesheet')")[0]
        assert pi.get("href") == href and (out / name).parent.joinpath(href).is_file()


def test_every_reference_resolves(sdtm_xml, adam_xml):
    """The schema does not check def:DocumentRef/@leafID and the ODM OID references: here."""
    for tree in (sdtm_xml, adam_xml):
        def ids(path):
            return set(tree.xpath(path, namespaces=NS))

        assert ids("//def:DocumentRef/@leafID") <= ids("//def:leaf/@ID")
        assert ids("//odm:ItemRef/@ItemOID") | ids("//@def:ItemOID") | ids(
            "//arm:AnalysisVariable/@ItemOID") | ids("//@ParameterOID") <= ids("//odm:ItemDef/@OID")
        assert ids("//odm:CodeListRef/@CodeListOID") == ids("//odm:CodeList/@OID")
        assert ids("//@MethodOID") == ids("//odm:MethodDef/@OID")
        assert ids("//def:ValueListRef/@ValueListOID") == ids("//def:ValueListDef/@OID")
        assert ids("//arm:AnalysisDataset/@ItemGroupOID") <= ids("//odm:ItemGroupDef/@OID")


def test_analysis_results_metadata(adam_xml, sdtm_xml):
    assert not sdtm_xml.xpath("//arm:AnalysisResultDisplays", namespaces=NS)
    display = _one(adam_xml, "//arm:ResultDisplay")
    assert (display.get("OID"), display.get("Name")) == ("RD.T2", "Table 2")
    assert display.xpath("def:DocumentRef/@leafID", namespaces=NS) == ["LF.TABLE2", "LF.SAP"]
    results = display.xpath("arm:AnalysisResult", namespaces=NS)
    expected = [(crit, week) for crit in ("CRIT1", "CRIT2") for week in (6, 12, 16, 24)]
    assert [r.get("OID") for r in results] == [f"AR.T2.{c}.WEEK{w}" for c, w in expected]
    for result, (crit, week) in zip(results, expected):
        assert result.get("ParameterOID") == "IT.ADLB.PARAMCD"
        assert (result.get("AnalysisReason"), result.get("AnalysisPurpose")) == (
            "SPECIFIED IN SAP", "PRIMARY OUTCOME MEASURE")
        used = []
        for dataset in result.xpath("arm:AnalysisDatasets/arm:AnalysisDataset", namespaces=NS):
            where = _one(adam_xml, "//def:WhereClauseDef[@OID='{}']".format(
                _one(dataset, "def:WhereClauseRef").get("WhereClauseOID")))
            used.append((dataset.get("ItemGroupOID"),
                         [(c.get(f"{DEF}ItemOID"), c.get("Comparator"),
                           c.xpath("odm:CheckValue/text()", namespaces=NS))
                          for c in where.xpath("odm:RangeCheck", namespaces=NS)],
                         dataset.xpath("arm:AnalysisVariable/@ItemOID", namespaces=NS)))
        assert used == [
            ("IG.ADSL", [("IT.ADSL.FASFL", "EQ", ["Y"])], ["IT.ADSL.ITPPHASE"]),
            ("IG.ADLB", [("IT.ADLB.PARAMCD", "EQ", ["PLAT"]), ("IT.ADLB.ANL01FL", "EQ", ["Y"]),
                         ("IT.ADLB.AVISITN", "EQ", [str(week)])], [f"IT.ADLB.{crit}FL"])]
        text = result.xpath("string(arm:Documentation/odm:Description)", namespaces=NS)
        assert "Clopper-Pearson" in text and "ITPPHASE" in text
        assert result.xpath("arm:Documentation/def:DocumentRef/@leafID", namespaces=NS) == ["LF.SAP"]
        assert "binomtest" in result.xpath("string(arm:ProgrammingCode/arm:Code)", namespaces=NS)
    # one FASFL clause for all eight results
    assert len(adam_xml.xpath("//def:WhereClauseDef[@OID='WC.ADSL.FASFL.Y']", namespaces=NS)) == 1


# --------------------------------------------------------------------------------------------
# stylesheet


@pytest.mark.parametrize("name", ["sdtm", "adam"])
def test_stylesheet_shows_every_dataset_variable_and_value(out, name):
    tree = etree.parse(str(out / name / "define.xml"))
    transform = etree.XSLT(etree.parse(str(out / name / "define2-1.xsl")))
    html = transform(tree)
    assert not transform.error_log
    page = html.getroot()
    assert page.tag == "html"
    title = page.xpath("string(//title)")
    assert "HETROM-ITP-RWS" in title
    contents = page.xpath("//nav//a/@href")
    for group in tree.xpath("//odm:ItemGroupDef", namespaces=NS):
        oid = group.get("OID")
        assert f"#{oid}" in contents  # table of contents
        heading = page.xpath(f"//h3[@id='{oid}']")
        assert len(heading) == 1, oid
        table = heading[0].getnext()
        assert table.tag == "table"
        shown = [row.get("id") for row in table.xpath("tr[@id]")]
        refs = group.xpath("odm:ItemRef/@ItemOID", namespaces=NS)
        assert shown == [f"{oid}.{ref}" for ref in refs]  # every variable, in order
        names = [row.xpath("string(td[1]/text()[1])").strip() for row in table.xpath("tr[@id]")]
        assert names == [ref.split(".")[-1] for ref in refs]
        href = group.xpath("string(def:leaf/@xlink:href)", namespaces=NS)
        assert page.xpath(f"//h2[@id='datasets']/following-sibling::table[1]//a[@href='{href}']")
    for vl in tree.xpath("//def:ValueListDef", namespaces=NS):
        rows = page.xpath(f"//h3[@id='{vl.get('OID')}']/following-sibling::table[1]/tr[@id]")
        assert [r.get("id") for r in rows] == vl.xpath("odm:ItemRef/@ItemOID", namespaces=NS)
    for codelist in tree.xpath("//odm:CodeList[not(odm:ExternalCodeList)]", namespaces=NS):
        table = page.xpath(f"//table[@id='{codelist.get('OID')}']")
        assert len(table) == 1
        assert len(table[0].xpath("tr[td]")) == len(codelist.xpath(
            "odm:CodeListItem | odm:EnumeratedItem", namespaces=NS))
    for section, path in (("methods", "//odm:MethodDef"), ("comments", "//def:CommentDef"),
                          ("documents", "/odm:ODM/odm:Study/odm:MetaDataVersion/def:leaf")):
        ids = {e.get("OID") or e.get("ID") for e in tree.xpath(path, namespaces=NS)}
        shown = set(page.xpath(f"//h2[@id='{section}']/following-sibling::table[1]/tr/@id"))
        assert shown == ids, section
    if name == "adam":
        assert page.xpath("//h2[@id='arm']")
        assert [r.get("id") for r in page.xpath("//table[@class='arm']/tr[@id]")] == \
            tree.xpath("//arm:AnalysisResult/@OID", namespaces=NS)
        where = page.xpath("string(//tr[@id='AR.T2.CRIT1.WEEK6']/td[3])")
        assert 'PARAMCD = "PLAT"' in where and 'AVISITN = "6"' in where
    else:
        where = page.xpath("string(//tr[@id='IT.LB.LBSTRESN.PLAT']/td[1])")
        assert where.strip() == 'LBTESTCD = "PLAT"'


# --------------------------------------------------------------------------------------------
# workbook


def test_workbook_holds_the_same_metadata(folder, specs, built, sdtm_xml, adam_xml):
    book = openpyxl.load_workbook(folder / "specification.xlsx", read_only=True)
    assert book.sheetnames == ["Datasets", "Variables", "ValueLevel", "WhereClauses",
                               "Codelists", "Methods", "Comments", "Documents",
                               "AnalysisResults"]

    def rows(sheet):
        values = list(book[sheet].iter_rows(values_only=True))
        return [dict(zip(values[0], row)) for row in values[1:]]

    datasets = rows("Datasets")
    assert [d["Dataset"] for d in datasets] == [
        *(n for n in specs.sdtm if n in built[0]), *(n for n in specs.adam if n in built[1])]
    assert {d["Dataset"]: d["Records"] for d in datasets}["ADSL"] == 167
    variables = rows("Variables")
    every = [*(specs.sdtm[n] for n in built[0]), *(specs.adam[n] for n in built[1])]
    assert len(variables) == sum(len(d.variables) for d in every)
    trtsdt = next(v for v in variables if (v["Dataset"], v["Variable"]) == ("ADSL", "TRTSDT"))
    assert (trtsdt["Label"], trtsdt["Data Type"], trtsdt["Format"], trtsdt["Origin"]) == (
        "Date of First Exposure to Treatment", "integer", "DATE9.", "Derived")
    items = sdtm_xml.xpath("//odm:ItemDef[@SASFieldName]", namespaces=NS) + adam_xml.xpath(
        "//odm:ItemDef[@SASFieldName]", namespaces=NS)
    assert sorted((v["Dataset"], v["Variable"], v["Data Type"]) for v in variables) == sorted(
        (i.get("OID").split(".")[1], i.get("Name"), i.get("DataType")) for i in items)
    sex = [(c["Term"], c["Decode"], c["Term NCI Code"]) for c in rows("Codelists")
           if c["Codelist"] == "SEX" and c["Standard"] == "SDTM"]
    assert sex == [("M", "Male", "C20197"), ("F", "Female", "C16576")]
    meddra = [c for c in rows("Codelists") if c["Codelist"] == "MEDDRA"]
    assert {(c["Standard"], c["Dictionary"], c["Version"]) for c in meddra} == {
        ("SDTM", "MedDRA", "27.1"), ("ADaM", "MedDRA", "27.1")}
    methods = rows("Methods")
    refs = sdtm_xml.xpath("//odm:ItemGroupDef/odm:ItemRef[@MethodOID]", namespaces=NS) + \
        adam_xml.xpath("//odm:ItemGroupDef/odm:ItemRef[@MethodOID]", namespaces=NS)
    assert sorted(m["Method"] for m in methods) == sorted(r.get("MethodOID") for r in refs)
    derived = [(d.name, v.name) for d in every for v in d.variables if v.origin == "Derived"]
    assert len(methods) == len(derived)
    value_level = rows("ValueLevel")
    assert sorted(v["Item"] for v in value_level) == sorted(
        sdtm_xml.xpath("//def:ValueListDef/odm:ItemRef/@ItemOID", namespaces=NS)
        + adam_xml.xpath("//def:ValueListDef/odm:ItemRef/@ItemOID", namespaces=NS))
    where = [w for w in rows("WhereClauses") if w["Where Clause"] == "WC.LB.LBTESTCD.PLAT"]
    assert [(w["Variable"], w["Comparator"], w["Values"]) for w in where] == [
        ("LBTESTCD", "EQ", "PLAT")]
    results = rows("AnalysisResults")
    assert len(results) == 16  # eight results, two datasets each
    assert {d["Document"] for d in rows("Documents")} == {"SAP", "CSDRG", "ADRG", "TABLE2"}
    assert len(rows("Comments")) == len(sdtm_xml.xpath("//def:CommentDef", namespaces=NS)) + len(
        adam_xml.xpath("//def:CommentDef", namespaces=NS))


def _workbook_openpyxl(meta, path):
    """The specification workbook by a second implementation: openpyxl's write-only mode,
    pandas' values as ``to_excel`` writes them (missing as an empty cell, a tuple as text)."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    from itp_adam.io.define import SHEETS

    def value(v):
        if isinstance(v, tuple):
            return ", ".join(map(str, v))
        if pd.api.types.is_scalar(v) and pd.isna(v):
            return None
        return v.item() if isinstance(v, np.generic) else (None if v == "" else v)

    book = Workbook(write_only=True)
    for title, table in zip(SHEETS, meta.tables()):
        sheet = book.create_sheet(title)
        rows = [[value(v) for v in row] for row in table[list(SHEETS[title])].itertuples(index=False)]
        for k, heading in enumerate(SHEETS[title].values()):
            longest = max([len(heading)] + [len(str(row[k])) for row in rows if row[k] is not None])
            sheet.column_dimensions[get_column_letter(k + 1)].width = min(60, longest + 2)
        sheet.freeze_panes = "A2"
        sheet.append(list(SHEETS[title].values()))
        for row in rows:
            sheet.append(row)
    book.save(path)


def test_workbook_cells_as_a_second_writer_has_them(specs, built, tmp_path):
    """Every sheet's cells (value and type: text, whole number, empty), column widths and
    frozen panes are those of the same metadata written with openpyxl."""
    from itp_adam.io.define import build_metadata, write_workbook

    meta = build_metadata(specs, built[0], built[1], load_define_spec(default_specs_dir(), specs))
    write_workbook(meta, tmp_path / "ours.xlsx")
    _workbook_openpyxl(meta, tmp_path / "openpyxl.xlsx")
    ours, theirs = (openpyxl.load_workbook(tmp_path / name) for name in ("ours.xlsx", "openpyxl.xlsx"))
    assert ours.sheetnames == theirs.sheetnames
    for mine, other in zip(ours.worksheets, theirs.worksheets):
        cells = [[(c.value, type(c.value)) for c in row] for row in mine.iter_rows()]
        assert cells == [[(c.value, type(c.value)) for c in row] for row in other.iter_rows()], mine.title
        assert {k: d.width for k, d in mine.column_dimensions.items()} == {
            k: d.width for k, d in other.column_dimensions.items()}, mine.title
        assert mine.freeze_panes == other.freeze_panes == "A2"
    numbers = [c.value for c in ours["Variables"]["C"][1:]]  # Order: whole numbers
    assert numbers and all(type(v) is int for v in numbers)


def test_sdtm_only_run_writes_no_adam_define(specs, built, tmp_path):
    written = write_define(specs, built[0], {}, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "sdtm/define.xml", "sdtm/define2-1.xsl", "sdtm/sap.md", "define/define-sdtm.xml",
        "define/specification.xlsx"]
    assert not (tmp_path / "adam").exists()
    # no ADaM datasets, no analysis results
    assert not etree.parse(str(tmp_path / "sdtm" / "define.xml")).xpath(
        "//arm:AnalysisResultDisplays", namespaces=NS)


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
# study.yaml's define keys and the term attributes are checked with file and line


def _specs_copy(tmp_path, file, old, new):
    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs)
    path = specs / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    first = new.splitlines()[0]
    line = next(number for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(),
                                                     start=1) if first in text)
    return specs, path, line


@pytest.mark.parametrize("old, new, message", [
    ("variables: [CRIT1FL]}\n      - id: CRIT1.WEEK12",
     "variables: [CRITFL]}\n      - id: CRIT1.WEEK12",
     "ADLB.CRITFL is not a variable of the study's ADaM datasets"),
    ("    documents: [TABLE2, SAP]\n", "    documents: [TABLE2, SAPX]\n",
     "document SAPX is not in documents (with ADaM in its define list)"),
    ("    file: sap.md\n", "    file: nosuch.md\n", "no file nosuch.md in the specs folder"),
])
def test_define_keys_are_checked_with_file_and_line(tmp_path, old, new, message):
    specs_dir, path, _ = _specs_copy(tmp_path, "study.yaml", old, new)
    specs = load_specs(specs_dir)
    with pytest.raises(SpecError) as caught:
        load_define_spec(specs_dir, specs)
    text = str(caught.value)
    assert text.startswith(f"{path}, line ") and message in text


def test_an_extended_term_needs_a_cdisc_codelist(tmp_path):
    old = "      - {raw: Related, value: RELATED, decode: Related}\n"
    new = "      - {raw: Related, value: RELATED, decode: Related, extended: true}\n"
    specs_dir, path, line = _specs_copy(tmp_path, "codelists.yaml", old, new)
    with pytest.raises(SpecError) as caught:
        load_specs(specs_dir)
    assert str(caught.value).startswith(f"{path}, line {line}: ")
    assert "the codelist needs an nci code" in str(caught.value)


# --------------------------------------------------------------------------------------------
# data types and lengths from the data: edge cases, worked out by hand


def _str(values):
    return pd.Series(values, dtype="str")


def _type_of(kind, sas_format, name, values):
    return _data_type(kind, sas_format, name, column_facts(kind, sas_format, name, values))


CHAR_CASES = [
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
]


@pytest.mark.parametrize("name, values, expected", CHAR_CASES)
def test_char_data_type_and_length(name, values, expected):
    assert _type_of("Char", None, name, values) == expected


NUM_CASES = [
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
]


@pytest.mark.parametrize("values, expected", NUM_CASES)
def test_num_data_type_and_digits(values, expected):
    assert _type_of("Num", None, "X", values) == expected


def test_sas_dates_are_integers():
    dates = pd.Series(pd.to_datetime(["2024-01-31", None]))
    assert _type_of("Num", "DATE9.", "ADT", dates) == ("integer", 8, "")


def _splits(values: pd.Series):
    """Every way to cut ``values`` in two (an empty part included), and in single values."""
    for cut in range(len(values) + 1):
        yield [values.iloc[:cut], values.iloc[cut:]]
    yield [values.iloc[[k]] for k in range(len(values))]


@pytest.mark.parametrize("kind, name, values, expected",
                         [("Char", name, values, expected) for name, values, expected in CHAR_CASES]
                         + [("Num", "X", values, expected) for values, expected in NUM_CASES])
def test_facts_of_the_parts_of_a_column_give_the_type_of_the_whole(kind, name, values, expected):
    # a partitioned run combines its partitions' facts (stages/partitions.py: combine)
    for parts in _splits(values):
        facts = ColumnFacts()  # the facts of no value
        for part in parts:
            facts = facts | column_facts(kind, None, name, part.reset_index(drop=True))
        assert _data_type(kind, None, name, facts) == expected, [list(p) for p in parts]


# --------------------------------------------------------------------------------------------
# value-level data types per group, worked out by hand


def test_grouped_types_by_hand():
    from itp_adam.io.define_vlm import _grouped_types

    codes = np.array([0, 0, 1, 1, 2, 2, -1])
    text = pd.Series(["12", "7", "1.25", "3", "<5", "10", "x"], dtype="str")
    assert _grouped_types("Char", None, text, codes, 3) == [
        ("integer", 2, "", True), ("float", 4, 2, True), ("text", 2, "", True)]
    numbers = pd.Series([1.0, np.nan, 2.5, 2.0, np.nan, np.nan, 9.75])
    assert _grouped_types("Num", None, numbers, codes, 3) == [
        ("integer", 8, "", True), ("float", 8, 1, True), ("integer", 8, "", False)]
