"""The second study, the CDISC pilot (``specs/cdiscpilot01``), end to end.

``itp-adam run --study cdiscpilot01`` reads the shipped SDTM XPT files (the zip in the package,
extracted and read by the normal SDTM reader) and writes ADSL, ADAE, ADLB and ADVS following
``specs/cdiscpilot01/sap.md``. The output, read back with pyreadstat, must equal

* the independent QC programming of the plan (``tests/qc/pilot_qc.py``, no package code),
  on every core variable of every record, matched on the plan's keys;
* the values worked out by hand for a handful of subjects (``tests/pilot_hand.py``);
* the plan's names, labels, types and formats (section 0.1 and the variable tables);

and ``itp-adam validate`` finds nothing in it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from itp_adam.checks.validate import load_conformance, validate_folder
from itp_adam.cli import main
from itp_adam.paths import study_dir
from itp_adam.spec.model import load_specs

from . import pilot_hand
from .qc.test_pilot_qc import CORE, COUNTS, KEYS, _check, _hit, compare_with_production

DATASETS = ("ADSL", "ADAE", "ADLB", "ADVS")
LABELS = {"ADSL": "Subject Level Analysis", "ADAE": "Adverse Events Analysis",
          "ADLB": "Laboratory Analysis", "ADVS": "Vital Signs Analysis"}  # SAP 0.1


@pytest.fixture(scope="module")
def out(pilot_out) -> Path:
    return pilot_out


@pytest.fixture(scope="module")
def prod(out) -> dict[str, tuple[pd.DataFrame, object]]:
    """Each dataset as pyreadstat reads it: dates as datetime.date, datetimes as datetime."""
    frames = {}
    for name in DATASETS:
        frame, meta = pyreadstat.read_xport(str(out / "adam" / f"{name.lower()}.xpt"),
                                            dates_as_pandas_datetime=True)
        for column, fmt in meta.original_variable_types.items():
            fmt = (fmt or "").upper()
            if fmt.startswith("DATETIME"):
                frame[column] = pd.Series([None if pd.isna(v) else v.to_pydatetime()
                                           for v in frame[column]], dtype=object)
            elif fmt.startswith("DATE"):
                frame[column] = pd.Series([None if pd.isna(v) else v.date()
                                           for v in frame[column]], dtype=object)
        frames[name] = (frame, meta)
    return frames


@pytest.fixture(scope="module")
def qc(pilot_qc_frames) -> dict[str, pd.DataFrame]:
    return pilot_qc_frames


def _plan_labels() -> dict[str, dict[str, str]]:
    """Label of every variable a table row of sap.md names alone (``| AVAL | Analysis Value |``),
    per dataset section; rows naming several variables or saying "as in ..." are skipped."""
    text = (study_dir("cdiscpilot01") / "sap.md").read_text(encoding="utf-8")
    sections = re.split(r"^## (\d)\. ", text, flags=re.M)
    labels: dict[str, dict[str, str]] = {}
    for number, body in zip(sections[1::2], sections[2::2]):
        name = {"1": "ADSL", "2": "ADAE", "3": "ADLB", "4": "ADVS"}.get(number)
        if name is None:
            continue
        for row in re.findall(r"^\| ([A-Z][A-Z0-9]{1,7}) \| ([^|]+) \|", body, flags=re.M):
            variable, label = row[0], row[1].strip()
            if not label.startswith("as in") and variable not in ("LBTESTCD", "PARAMCD", "DTYPE"):
                labels.setdefault(name, {})[variable] = label
    return labels


def test_the_run_writes_the_four_datasets_with_the_plans_names_labels_and_types(prod):
    plan = _plan_labels()
    assert sum(len(v) for v in plan.values()) > 100  # the parse found the tables
    for name in DATASETS:
        frame, meta = prod[name]
        assert meta.table_name == name and meta.file_label == LABELS[name]
        missing = [v for v in CORE[name] + KEYS[name] if v not in frame.columns]
        assert not missing, (name, missing)
        wrong = {v: (meta.column_names_to_labels[v], label) for v, label in plan[name].items()
                 if v in frame.columns and meta.column_names_to_labels[v] != label}
        assert not wrong, (name, wrong)
        formats = {v: (f or "").upper().rstrip(".") for v, f in meta.original_variable_types.items()}
        for variable in frame.columns:  # SAP 0.1: dates DATE9., --DTM datetimes DATETIME20.
            if variable.endswith("DTM"):
                assert formats[variable] == "DATETIME20", (name, variable)
            elif re.fullmatch(r"[A-Z0-9]*DT", variable):
                assert formats[variable] == "DATE9", (name, variable)


def test_record_counts_follow_the_plan(prod):
    assert len(prod["ADSL"][0]) == COUNTS["ADSL"] and len(prod["ADAE"][0]) == COUNTS["ADAE"]
    lb = prod["ADLB"][0]
    kinds = lb["DTYPE"].where(lb["DTYPE"] != "", "LB").value_counts().to_dict()
    assert kinds == COUNTS["ADLB"]
    vs = prod["ADVS"][0]
    kind = vs["DTYPE"].where(vs["DTYPE"] != "", vs["PARAMCD"].where(
        vs["PARAMCD"].isin(["MAP", "BSA", "BMI"]), "VS"))
    assert kind.value_counts().to_dict() == COUNTS["ADVS"]


@pytest.mark.parametrize("name", DATASETS)
def test_production_equals_the_independent_qc_on_every_core_variable(prod, qc, name):
    variables = [v for v in CORE[name] if v not in KEYS[name]]
    differences = compare_with_production(qc[name], prod[name][0], KEYS[name], variables)
    assert differences == [], differences[:10]


def test_production_has_the_hand_worked_values(prod):
    for subject, values in pilot_hand.ADSL.items():
        row = _hit(prod["ADSL"][0], {"USUBJID": subject})
        for name, expected in values.items():
            _check(row[name], expected, (subject, name))
    for (subject, seq), values in pilot_hand.ADAE.items():
        row = _hit(prod["ADAE"][0], {"USUBJID": subject, "AESEQ": seq})
        for name, expected in values.items():
            _check(row[name], expected, (subject, seq, name))
    for name in ("ADLB", "ADVS"):
        for keys, values in getattr(pilot_hand, name):
            row = _hit(prod[name][0], keys)
            for variable, expected in values.items():
                _check(row[variable], expected, (name, keys, variable))


def test_validate_finds_nothing(out):
    specs = study_dir("cdiscpilot01")
    findings = validate_folder(out, load_specs(specs), load_conformance(specs))
    assert findings.empty, findings.head(10).to_dict("records")


def test_run_json_names_the_shipped_sdtm(out):
    import json

    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    names = sorted(Path(p).name.lower() for p in info["inputs"])
    assert {"dm.xpt", "ex.xpt", "ds.xpt", "ae.xpt", "lb.xpt", "vs.xpt"} <= set(names)


def test_the_run_writes_the_adam_define_beside_the_datasets(out, prod):
    """A study from SDTM gets an ADaM define only (docs/define.md): valid Define-XML 2.1, value
    level metadata of ADLB and ADVS by PARAMCD in PARAMN order, MedDRA 8.0 (study.yaml) on the
    AE coding variables, the SAP copied beside it."""
    from importlib.resources import files

    from lxml import etree

    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
    assert not (out / "sdtm").exists() and not (out / "define" / "define-sdtm.xml").exists()
    assert (out / "adam" / "define2-1.xsl").is_file() and (out / "define" / "define-adam.xml").is_file()
    assert (out / "adam" / "sap.md").read_bytes() == (study_dir("cdiscpilot01") / "sap.md").read_bytes()
    tree = etree.parse(str(out / "adam" / "define.xml"))
    schema = etree.XMLSchema(etree.parse(str(
        files("odmlib").joinpath("schemas", "define", "2.1", "define2-1-0.xsd"))))
    assert schema.validate(tree), schema.error_log
    assert sorted(g.get("Name") for g in tree.xpath("//odm:ItemGroupDef", namespaces=ns)) == sorted(DATASETS)
    for name in ("ADLB", "ADVS"):
        frame = prod[name][0]
        order = frame.groupby("PARAMCD")["PARAMN"].min().sort_values().index.tolist()
        items = tree.xpath(f"//def:ValueListDef[@OID='VL.{name}.AVAL']/odm:ItemRef/@ItemOID",
                           namespaces=ns)
        with_aval = set(frame.loc[frame["AVAL"].notna(), "PARAMCD"])
        assert items == [f"IT.{name}.AVAL.{p}" for p in order if p in with_aval]
    external = tree.xpath("//odm:CodeList[@OID='CL.MEDDRA']/odm:ExternalCodeList", namespaces=ns)
    assert [(e.get("Dictionary"), e.get("Version")) for e in external] == [("MedDRA", "8.0")]
    ref = tree.xpath("//odm:ItemDef[@OID='IT.ADAE.AEDECOD']/odm:CodeListRef/@CodeListOID",
                     namespaces=ns)
    assert ref == ["CL.MEDDRA"]
