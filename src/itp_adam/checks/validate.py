"""``itp-adam validate``: conformance checks of a run's output folder.

Two sources of findings, one table (``docs/conformance.md``):

- **SDTMIG rules** (source ``pointblank``): pointblank's ``validate_sdtmig`` runs its bundled
  SDTMIG 3.4 rule catalogue and CDISC Controlled Terminology offline on every SDTM dataset,
  with the run's ``define/define-sdtm.xml`` when there is one (then the Define-XML rules run too).
- **The package's own checks** (source ``itp-adam``) of ``sdtm/*.xpt`` and ``adam/*.xpt``
  against the specs: variables present (spec and SDTMIG/ADaMIG core), names, labels, types,
  lengths, formats, controlled terms, keys, --SEQ, ISO 8601 dates, study days, subjects,
  ADSL and BDS rules; and what a reviewer's engine (CDISC CORE, the FDA validator rules and
  Technical Rejection Criteria) catches: SDTMIG variable order, EPOCH, text results and
  --STAT, seriousness criteria, disposition dates, the data cut-off, TS and its parameters,
  define.xml beside the datasets (the standards' facts in ``checks/sdtmig.yaml``). Every
  check works on whole columns (no loop over records).

Each finding has a severity (error, warning, note), the check id, the source, the dataset,
variable, record (1-based row in the file and its key) and the value. Findings accepted for the
study are downgraded by the exception list ``specs/conformance.yaml``, each with its reason,
which is shown with the finding. pointblank is imported only here, when ``validate`` runs.
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ..io.xpt import read_xpt as read_xpt_file
from ..derive.dates import iso8601_valid
from ..errors import InputError
from ..spec.model import Dataset, Specs, Variable

COLUMNS = ["severity", "check", "source", "dataset", "variable", "row", "key", "value", "message",
           "exception"]
SEVERITIES = ("error", "warning", "note")
OWN, POINTBLANK = "itp-adam", "pointblank"

# Every check of the package: id -> what it finds (the table in docs/conformance.md).
CHECKS: dict[str, str] = {
    "OUTPUT-CHANGED": "a file differs from the one the run wrote (its SHA-256 in run.json)",
    "OUTPUT-MISSING": "a file the run wrote (listed in run.json) is not in the folder",
    "OUTPUT-EXTRA": "a file in the folder was not written by the run (not in run.json)",
    "DATASET-MISSING": "a dataset of the specs has no XPT file",
    "DATASET-EXTRA": "an XPT file has no dataset spec",
    "DATASET-NAME": "the XPT member name differs from the spec name",
    "DATASET-LABEL": "the XPT dataset label differs from the spec label",
    "FILE-SIZE": "an XPT file is larger than the regulator's limit (conformance.yaml max_file_gb)",
    "VAR-REQUIRED": "a Required variable (SDTMIG/ADaMIG core) is not in the file",
    "VAR-EXPECTED": "an Expected variable (SDTMIG core) is not in the file",
    "VAR-MISSING": "a variable of the spec is not in the file",
    "REQ-NULL": "a Required SDTM variable is blank on a record",
    "VAR-EXTRA": "a variable of the file is not in the spec",
    "VAR-ORDER": "the variables are not in spec order",
    "VAR-LABEL": "a variable label differs from the spec",
    "VAR-TYPE": "a variable type (Char/Num) differs from the spec",
    "VAR-LENGTH": "a value is longer than the spec length, or the XPT length does not fit the data",
    "VAR-FORMAT": "a variable's SAS format differs from the spec",
    "CT-VALUE": "a value is not a submission value of the variable's codelist",
    "FLAG-VALUE": "a flag variable (--FL) holds a value other than Y, N or blank",
    "KEY-UNIQUE": "two records share the dataset's key",
    "SORT-ORDER": "records are not sorted by the spec's sort variables",
    "SEQ-UNIQUE": "--SEQ repeats within a subject",
    "SEQ-VALUE": "--SEQ is missing, not a whole number or below 1",
    "DTC-ISO8601": "a --DTC value is not an ISO 8601 date/time (or not a real calendar date)",
    "DY-ZERO": "a study day (--DY, ADY...) is 0",
    "DY-DATE": "a study day does not match its date and the reference date",
    "SUBJ-DM": "an SDTM record's subject is not in DM",
    "ADSL-ONE": "ADSL has more than one record for a subject",
    "SUBJ-ADSL": "an ADaM record's subject is not in ADSL",
    "BDS-PARAM": "a PARAMCD has more than one PARAM",
    "BDS-ABLFL": "ABLFL = Y on more than one record per subject and parameter",
    "BDS-ANL01FL": "ANL01FL = Y on more than one record per subject, parameter and AVISIT",
    # what a reviewer's engine (CDISC CORE, the FDA validator rules) catches; the standards'
    # facts they read are in checks/sdtmig.yaml
    "VAR-ORDER-IG": "the variables are not in SDTMIG order",
    "EPOCH-MISSING": "a domain of clinical observations has no EPOCH",
    "EPOCH-VALUE": "an EPOCH value is not an epoch of TA or SE",
    "ORRES-TEXT": "a text result or a not-done status in --ORRES where a number or --STAT is due",
    "STAT-RESULT": "--STAT = NOT DONE on a record that has a result",
    "STAT-REASND": "--STAT = NOT DONE without --REASND, or --REASND without --STAT = NOT DONE",
    "AESER-CRIT": "a serious AE (AESER = Y) with no seriousness criterion = Y",
    "AESER-FLAG": "a seriousness criterion = Y on an AE whose AESER is not Y",
    "DS-STDTC": "a disposition record without its date (DSSTDTC)",
    "DS-DTC-ORDER": "DSSTDTC (the event) is after DSDTC (its collection)",
    "DTC-CUTOFF": "an SDTM date is after the study's data cut-off",
    "TS-MISSING": "the SDTM datasets have no TS (trial summary)",
    "TS-PARAMETER": "TS lacks a parameter the FDA requires or expects",
    "DEFINE-MISSING": "no define.xml beside the datasets",
    "EXCEPTION-UNUSED": "an exception of specs/conformance.yaml matched no finding",
}

# SDTMIG 3.4 / ADaMIG 1.3 core designations of the variables these datasets use: "Req"
# (present and never null) and "Exp" (present, may be null); everything else is "Perm".
# ADaM has no "Exp"; its "Cond" variables are not listed (their condition is study-specific).
_CORE: dict[str, dict[str, str]] = {
    "DM": {"Req": "STUDYID DOMAIN USUBJID SUBJID SITEID SEX COUNTRY",
           "Exp": "RFSTDTC RFENDTC RFXSTDTC RFXENDTC RFICDTC RFPENDTC DTHDTC DTHFL AGE AGEU RACE "
                  "ARMCD ARM ACTARMCD ACTARM ARMNRS ACTARMUD"},
    "AE": {"Req": "STUDYID DOMAIN USUBJID AESEQ AETERM AEDECOD",
           "Exp": "AELLT AELLTCD AEPTCD AEHLT AEHLTCD AEHLGT AEHLGTCD AEBODSYS AEBDSYCD AESOC "
                  "AESOCCD AESER AEACN AEREL AESTDTC AEENDTC"},
    "CM": {"Req": "STUDYID DOMAIN USUBJID CMSEQ CMTRT", "Exp": ""},
    "DS": {"Req": "STUDYID DOMAIN USUBJID DSSEQ DSTERM DSDECOD", "Exp": "DSSTDTC"},
    "EX": {"Req": "STUDYID DOMAIN USUBJID EXSEQ EXTRT",
           "Exp": "EXDOSE EXDOSU EXDOSFRM EXSTDTC EXENDTC"},
    "LB": {"Req": "STUDYID DOMAIN USUBJID LBSEQ LBTESTCD LBTEST",
           "Exp": "LBCAT LBORRES LBORRESU LBORNRLO LBORNRHI LBSTRESC LBSTRESN LBSTRESU LBSTNRLO "
                  "LBSTNRHI LBNRIND LBLOBXFL VISITNUM LBDTC"},
    "MH": {"Req": "STUDYID DOMAIN USUBJID MHSEQ MHTERM", "Exp": ""},
    "RS": {"Req": "STUDYID DOMAIN USUBJID RSSEQ RSTESTCD RSTEST",
           "Exp": "RSORRES RSSTRESC VISITNUM RSDTC"},
    "SUPP": {"Req": "STUDYID RDOMAIN USUBJID QNAM QLABEL QVAL QORIG",
             "Exp": "IDVAR IDVARVAL QEVAL"},
    # special-purpose and trial design datasets: no --SEQ, or no subject at all
    "SE": {"Req": "STUDYID DOMAIN USUBJID SESEQ ETCD SESTDTC", "Exp": "SEENDTC"},
    "SV": {"Req": "STUDYID DOMAIN USUBJID VISITNUM", "Exp": "VISIT SVSTDTC SVENDTC"},
    "TA": {"Req": "STUDYID DOMAIN ARMCD ARM TAETORD ETCD EPOCH", "Exp": "TABRANCH TATRANS"},
    "TE": {"Req": "STUDYID DOMAIN ETCD ELEMENT TESTRL", "Exp": ""},
    "TV": {"Req": "STUDYID DOMAIN VISITNUM TVSTRL", "Exp": "ARMCD"},
    "TI": {"Req": "STUDYID DOMAIN IETESTCD IETEST IECAT", "Exp": ""},
    "TS": {"Req": "STUDYID DOMAIN TSSEQ TSPARMCD TSPARM",
           "Exp": "TSVAL TSVALCD TSVCDREF TSVCDVER"},
    "SUBJECT LEVEL ANALYSIS DATASET": {
        "Req": "STUDYID USUBJID SUBJID SITEID AGE AGEU SEX RACE ARM ACTARM TRT01P", "Exp": ""},
    "BASIC DATA STRUCTURE": {"Req": "STUDYID USUBJID PARAM PARAMCD", "Exp": ""},
    "OCCURRENCE DATA STRUCTURE": {"Req": "STUDYID USUBJID", "Exp": ""},
}
_ADAM_CLASSES = {"SUBJECT LEVEL ANALYSIS DATASET", "BASIC DATA STRUCTURE",
                 "OCCURRENCE DATA STRUCTURE", "ADAM OTHER"}


def core_table(spec: Dataset) -> dict[str, str]:
    """Variable -> ``"Req"`` or ``"Exp"`` for a dataset (from its name or ADaM class)."""
    if spec.class_ in _ADAM_CLASSES:
        entry = _CORE.get(spec.class_, {"Req": "STUDYID USUBJID", "Exp": ""})
    elif spec.name.startswith("SUPP"):
        entry = _CORE["SUPP"]
    else:  # a domain not listed: the identifiers every subject domain has
        seq = "" if spec.name == "DM" else f" {spec.name}SEQ"
        entry = _CORE.get(spec.name, {"Req": f"STUDYID DOMAIN USUBJID{seq}", "Exp": ""})
    table = {name: "Exp" for name in entry["Exp"].split()}
    table.update({name: "Req" for name in entry["Req"].split()})
    return table


def is_adam(spec: Dataset) -> bool:
    """Whether a dataset spec is an ADaM dataset (by its class)."""
    return spec.class_ in _ADAM_CLASSES


@dataclass(frozen=True)
class StandardFacts:
    """What the standards say that the reviewer-engine checks read (``checks/sdtmig.yaml``)."""

    variable_order: dict[str, list[str]]  # domain (SUPPQUAL for SUPP--) -> SDTMIG 3.4 order
    epoch_domains: frozenset[str]
    seriousness_criteria: list[str]
    not_done_results: frozenset[str]
    ts_required: list[str]
    ts_expected: dict[str, list[str]]  # "all", "interventional"

    def order_of(self, name: str) -> list[str] | None:
        """The SDTMIG variable order of a dataset; None for a domain the table has not."""
        return self.variable_order.get("SUPPQUAL" if name.startswith("SUPP") else name)


@functools.cache
def standard_facts() -> StandardFacts:
    """``checks/sdtmig.yaml``, read once."""
    import yaml

    data = yaml.safe_load(Path(__file__).with_name("sdtmig.yaml").read_text(encoding="utf-8"))
    ts = data["ts_parameters"]
    return StandardFacts(
        variable_order={name: text.split() for name, text in data["variable_order"].items()},
        epoch_domains=frozenset(data["epoch_domains"].split()),
        seriousness_criteria=data["seriousness_criteria"].split(),
        not_done_results=frozenset(text.upper() for text in data["not_done_results"]),
        ts_required=list(ts["required"]),
        ts_expected={kind: text.split() for kind, text in ts["expected"].items()})


# --------------------------------------------------------------------------------------------
# specs/conformance.yaml: standards, study description, accepted findings


class Standards(BaseModel):
    """Versions of the CDISC standards the datasets follow."""

    model_config = ConfigDict(extra="forbid")
    sdtmig: str = "3.4"
    adamig: str = "1.3"
    ct: str = "2024-09-27"  # CDISC Controlled Terminology package (SDTM publishing set)


class Accepted(BaseModel):
    """One accepted finding: which findings it matches, the severity it gets and why."""

    model_config = ConfigDict(extra="forbid")
    check: str
    dataset: str | None = None
    variable: str | None = None
    value: str | None = None
    severity: str = Field(default="note", pattern=r"^(warning|note)$")
    reason: str = Field(min_length=10)


class Conformance(BaseModel):
    """``specs/conformance.yaml``."""

    model_config = ConfigDict(extra="forbid")
    standards: Standards = Field(default_factory=Standards)
    study_description: str = ""
    # the largest XPT file the regulator takes, in GB of 10^9 bytes: the FDA's Study Data
    # Technical Conformance Guide (section 3.3.2) says 5 GB, a larger dataset to be split
    max_file_gb: float = Field(default=5.0, gt=0)
    exceptions: list[Accepted] = Field(default_factory=list)


def load_conformance(specs_dir: Path) -> Conformance:
    """Read ``conformance.yaml`` of a specs folder (``{study: P}`` in its text: the study
    parameter); the defaults (no exceptions) without one."""
    path = Path(specs_dir) / "conformance.yaml"
    if not path.is_file():
        return Conformance()
    from ..spec.model import load_model

    # the spec loader: impossible dates, bad bytes and bad values named by file and line
    return load_model(path, Conformance, "conformance", empty_ok=True, study_text=True)


# --------------------------------------------------------------------------------------------
# Reading the folder


@dataclass(frozen=True)
class XptFile:
    """One dataset read back from its XPT file: values (dates as SAS day numbers) and metadata."""

    path: Path
    frame: pd.DataFrame
    name: str
    label: str
    labels: dict[str, str]
    types: dict[str, str]  # "Char" or "Num"
    widths: dict[str, int]
    formats: dict[str, str]


def read_xpt(path: Path) -> XptFile:
    """Read one XPT file without converting dates; InputError when it cannot be read."""
    frame, meta = read_xpt_file(path, dates=False)
    return XptFile(path=path, frame=frame, name=meta.name, label=meta.label, labels=meta.labels,
                   types=meta.types, widths=meta.lengths, formats=meta.formats)


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise InputError("is not a folder", file=str(folder),
                         expected="an output folder of itp-adam run")
    # a study from raw forms writes sdtm/ and adam/; a study from SDTM writes adam/ only
    if not (folder / "run.json").is_file() or not ((folder / "sdtm").is_dir()
                                                   or (folder / "adam").is_dir()):
        raise InputError("is not an output folder of itp-adam run (no run.json, or neither "
                         "sdtm/ nor adam/)", file=str(folder),
                         expected="a folder written by itp-adam run --out")


# --------------------------------------------------------------------------------------------
# The run's record (run.json): the specs that made the folder, and the files it wrote


def oversized_files(folder: Path, max_file_gb: float) -> dict[str, int]:
    """The XPT files of a run's folder (``sdtm/``, ``adam/``) larger than ``max_file_gb``
    (GB of 10^9 bytes, conformance.yaml's limit): their names relative to ``folder`` and sizes
    in bytes. The regulator refuses such a file; the dataset is to be split."""
    folder, limit = Path(folder), max_file_gb * 1e9
    sizes = {path: path.stat().st_size for group in ("sdtm", "adam")
             for path in sorted((folder / group).glob("*.xpt"))}
    return {path.relative_to(folder).as_posix(): size for path, size in sizes.items()
            if size > limit}


def too_large(name: str, size: int, max_file_gb: float) -> str:
    """What is wrong with an XPT file of ``size`` bytes over the limit, said one way by
    ``validate`` (FILE-SIZE) and by the run (a warning)."""
    return (f"{name} is {size / 1e9:.3g} GB, over the {max_file_gb:g} GB a regulator takes "
            "(conformance.yaml max_file_gb; the FDA's: 5 GB, Technical Conformance Guide 3.3.2): "
            "split the dataset before submission")


def run_record(folder: Path) -> dict:
    """The run.json of an output folder; an InputError when it is not one itp-adam run wrote
    (not JSON, or without the ``specs``, ``spec_files`` and ``outputs`` it records)."""
    path = Path(folder) / "run.json"
    expected = "the run.json written by itp-adam run"
    record = _json_of(path, expected)
    kinds = {"specs": str, "spec_files": dict, "outputs": dict}
    wrong = [key for key, kind in kinds.items()
             if not isinstance(record, dict) or not isinstance(record.get(key), kind)]
    if wrong:
        raise InputError(f"has no {', '.join(wrong)} of the expected kind", file=str(path),
                         expected=expected)
    return record


def _json_of(path: Path, expected: str = "a JSON file"):
    """The JSON value of a file; an InputError when it cannot be read as JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot be read ({exc})", file=str(path), expected=expected) from None


def _differences(found: dict[str, str], recorded: dict[str, str]) -> str:
    """What differs between two {file: SHA-256} lists, in a few words."""
    words = [f"{name} changed" for name in recorded if name in found and found[name] != recorded[name]]
    words += [f"{name} missing" for name in recorded if name not in found]
    words += [f"{name} added" for name in found if name not in recorded]
    return ", ".join(words[:3]) + (f" and {len(words) - 3} more" if len(words) > 3 else "")


def run_folder_of(path: Path) -> Path | None:
    """The output folder of ``itp-adam run`` that holds ``path`` (``OUT/adam/adsl.xpt``,
    ``OUT/adam`` or ``OUT``): the first of its folders, nearest first, with a run.json that
    itp-adam wrote; None when there is none."""
    path = Path(path).absolute()
    for folder in ([path] if path.is_dir() else []) + [path.parent, path.parent.parent]:
        try:
            record = _json_of(folder / "run.json")
        except InputError:  # no run.json there, or not JSON: not a run's folder
            continue
        if isinstance(record, dict) and record.get("package") == "itp-adam":
            return folder
    return None


def specs_of_run(folder: Path, *,
                 expected: str = "--specs DIR or --study NAME: the specs to check the folder "
                                 "against") -> Path:
    """The specs folder that made an output folder: the one run.json names when its spec files
    are still those run.json lists (same SHA-256), else a shipped study's with those files (the
    folder came from another installation). Neither: an InputError saying what differs, so a
    folder is never checked against specs it was not made with unless the user names them."""
    from ..paths import shipped_studies
    from ..spec.model import spec_file_digests

    record = run_record(folder)
    recorded = record["spec_files"]
    named = Path(record["specs"])
    for candidate in [named, *shipped_studies().values()]:
        if candidate.is_dir() and spec_file_digests(candidate) == recorded:
            return candidate
    if named.is_dir():
        why = (f"its spec files changed since the run "
               f"({_differences(spec_file_digests(named), recorded)})")
    else:
        why = "that folder is not found"
    raise InputError(f"was made with the specs in {named}, but {why}, and no shipped study has "
                     "the spec files run.json lists", file=str(Path(folder) / "run.json"),
                     expected=expected)


def _outputs(folder: Path, recorded: dict[str, str]) -> list[pd.DataFrame]:
    """The folder's files against the SHA-256 run.json lists: a file changed or missing since
    the run is an error (the datasets checked are then not those the run made), a file the run
    did not write a note. run.json itself and the findings reports of validate are left out."""
    from ..errors import first_line
    from ..io.raw import sha256_file

    folder = Path(folder)
    recorded = {name.replace("\\", "/"): digest for name, digest in recorded.items()}
    present = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    parts = []

    def finding(severity: str, check: str, name: str, message: str) -> pd.DataFrame:
        dataset = Path(name).stem.upper() if name.endswith(".xpt") else ""
        return _findings(severity, check, dataset, "", message, value=name)

    for name, digest in recorded.items():
        if name not in present:
            parts.append(finding("error", "OUTPUT-MISSING", name,
                                 "listed in run.json as written by the run, not in the folder"))
        elif sha256_file(present[name]) != digest:
            parts.append(finding("error", "OUTPUT-CHANGED", name,
                                 "changed since the run: its SHA-256 differs from run.json's"))
    for name, path in present.items():
        report = path.suffix == ".csv" and _own_report(first_line(path))
        if name not in recorded and name != "run.json" and not report:
            parts.append(finding("note", "OUTPUT-EXTRA", name,
                                 "not written by the run (not in run.json); a later run into "
                                 "this folder replaces the folder with it"))
    return parts


# --------------------------------------------------------------------------------------------
# Findings


def _findings(severity: str, check: str, dataset: str, variable: str, message: str | pd.Series,
              *, rows: pd.DataFrame | None = None, keys: list[str] | None = None,
              value: str | pd.Series = "", source: str = OWN) -> pd.DataFrame:
    """Findings as a frame: one per record of ``rows`` (its index = 0-based row in the file),
    or a single dataset/variable-level finding when ``rows`` is None."""
    if rows is None:
        return pd.DataFrame([{"severity": severity, "check": check, "source": source,
                              "dataset": dataset, "variable": variable, "row": pd.NA, "key": "",
                              "value": str(value), "message": message, "exception": ""}],
                            columns=COLUMNS)
    if rows.empty:
        return _empty()
    n = len(rows)
    out = pd.DataFrame({
        "severity": severity, "check": check, "source": source, "dataset": dataset,
        "variable": variable, "row": pd.array(rows.index.to_numpy() + 1, dtype="Int64"),
        "key": _key_text(rows, keys or []),
        "value": _as_text(value) if isinstance(value, pd.Series) else np.full(n, value, object),
        "message": message if isinstance(message, pd.Series) else np.full(n, message, object),
        "exception": ""}, index=rows.index)
    return out.reset_index(drop=True)[COLUMNS]


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values)


def _as_text(values: pd.Series) -> pd.Series:
    """Values as text: whole numbers without ``.0``, missing as ``""``."""
    if _numeric(values):
        numbers = values.astype(float)
        whole = numbers.notna() & np.isfinite(numbers) & (numbers == np.round(numbers))
        text = numbers.astype(str).where(numbers.notna(), "")
        whole_text = numbers.where(whole, 0).astype("int64").astype(str)
        return text.where(~whole, whole_text).astype(object)
    return values.astype("string").fillna("").astype(object)


def _key_text(rows: pd.DataFrame, keys: list[str]) -> pd.Series:
    """``USUBJID=...; LBSEQ=3`` per record (the spec keys found in the file, STUDYID left out)."""
    shown = [k for k in keys if k in rows and k != "STUDYID"] or [k for k in keys if k in rows]
    if not shown or rows.empty:
        return pd.Series("", index=rows.index, dtype=object)
    parts = [k + "=" + _as_text(rows[k]).astype(str) for k in shown]
    text = parts[0]
    for part in parts[1:]:
        text = text + "; " + part
    return text.astype(object)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS)


# --------------------------------------------------------------------------------------------
# The package's own checks


def _structure(spec: Dataset, xpt: XptFile) -> list[pd.DataFrame]:
    """Dataset name/label, variables present/extra/ordered, labels, types, lengths, formats."""
    name, found = spec.name, []
    if xpt.name.upper() != name:
        found.append(_findings("error", "DATASET-NAME", name, "",
                               f"XPT member name {xpt.name!r}; the spec says {name}",
                               value=xpt.name))
    if xpt.label != spec.label:
        found.append(_findings("error", "DATASET-LABEL", name, "",
                               f"dataset label {xpt.label!r}; the spec says {spec.label!r}",
                               value=xpt.label))
    columns = list(xpt.frame.columns)
    spec_names = [v.name for v in spec.variables]
    core = core_table(spec)
    standard = "ADaMIG" if is_adam(spec) else "SDTMIG"
    for var in dict.fromkeys(spec_names + list(core)):
        if var in columns:
            continue
        level, in_spec = core.get(var, "Perm"), var in spec_names
        check = {"Req": "VAR-REQUIRED", "Exp": "VAR-EXPECTED"}.get(level, "VAR-MISSING")
        severity = "error" if level == "Req" or in_spec else "warning"
        why = [f"{standard} core {level}"] if level != "Perm" else []
        why += ["in the spec"] if in_spec else ["not in the spec"]
        found.append(_findings(severity, check, name, var,
                               f"variable {var} is not in the file ({', '.join(why)})"))
    for var in columns:
        if var not in spec_names:
            found.append(_findings("error", "VAR-EXTRA", name, var,
                                   f"variable {var} is in the file but not in the spec"))
    common = [v for v in spec_names if v in columns]
    if [v for v in columns if v in spec_names] != common:
        found.append(_findings("warning", "VAR-ORDER", name, "",
                               "variables are not in spec order: " + " ".join(columns)))
    for var in spec.variables:
        if var.name not in columns:
            continue
        found += _variable_metadata(name, var, xpt)
    return found


def _variable_metadata(name: str, var: Variable, xpt: XptFile) -> list[pd.DataFrame]:
    found = []
    label = xpt.labels.get(var.name, "")
    if label != var.label:
        found.append(_findings("error", "VAR-LABEL", name, var.name,
                               f"label {label!r}; the spec says {var.label!r}", value=label))
    kind = xpt.types[var.name]
    if kind != var.type:
        found.append(_findings("error", "VAR-TYPE", name, var.name,
                               f"type {kind}; the spec says {var.type}", value=kind))
        return found
    width = int(xpt.widths.get(var.name, 0))
    limit = var.length if isinstance(var.length, int) else None
    if kind == "Char":
        longest = int(xpt.frame[var.name].str.len().max() or 0) if len(xpt.frame) else 0
        if limit is not None and max(longest, width) > limit:
            found.append(_findings("error", "VAR-LENGTH", name, var.name,
                                   f"longest value {longest}, XPT length {width}; the spec "
                                   f"length is {limit}", value=str(width)))
        elif width != max(1, longest):
            found.append(_findings("warning", "VAR-LENGTH", name, var.name,
                                   f"XPT length {width} but the longest value has {longest} "
                                   "characters (FDA: lengths fit the data)", value=str(width)))
    elif width != (limit or 8):
        found.append(_findings("error", "VAR-LENGTH", name, var.name,
                               f"numeric XPT length {width}; expected {limit or 8}",
                               value=str(width)))
    actual = xpt.formats.get(var.name, "").upper().rstrip(".")
    wanted = (var.format or "").upper().rstrip(".")
    if actual != wanted:
        found.append(_findings("error", "VAR-FORMAT", name, var.name,
                               f"format {actual or 'none'!r}; the spec says {wanted or 'none'!r}",
                               value=actual))
    return found


def _values(spec: Dataset, xpt: XptFile, specs: Specs) -> list[pd.DataFrame]:
    """Codelists, flags, keys, sort order, --SEQ, ISO 8601 dates and study days of one dataset."""
    name, frame, keys, found = spec.name, xpt.frame, spec.keys, []
    for var in spec.variables:
        if var.name not in frame or xpt.types[var.name] != "Char":
            continue
        values = frame[var.name]
        if var.codelist:
            allowed = {t.value for t in specs.codelists[var.codelist].terms}
            bad = values.ne("") & ~values.isin(allowed)
            found.append(_findings("error", "CT-VALUE", name, var.name,
                                   f"not in codelist {var.codelist}", rows=frame[bad], keys=keys,
                                   value=values[bad]))
        if var.name.endswith("FL"):
            bad = ~values.isin(["Y", "N", ""])
            found.append(_findings("error", "FLAG-VALUE", name, var.name, "a flag is Y, N or blank",
                                   rows=frame[bad], keys=keys, value=values[bad]))
        if var.name.endswith("DTC"):
            bad = ~iso8601_valid(values)
            found.append(_findings("error", "DTC-ISO8601", name, var.name,
                                   "not an ISO 8601 date/time (YYYY[-MM[-DD[Thh[:mm[:ss]]]]])",
                                   rows=frame[bad], keys=keys, value=values[bad]))
    if not is_adam(spec):  # SDTMIG: Req = never null (ADaMIG's Req asks only for presence)
        for var, level in core_table(spec).items():
            if level != "Req" or var not in frame:
                continue
            blank = frame[var].isna() if _numeric(frame[var]) else frame[var].eq("")
            found.append(_findings("error", "REQ-NULL", name, var,
                                   f"{var} is Required (SDTMIG core Req) and blank here",
                                   rows=frame[blank], keys=keys))
    if set(keys) <= set(frame.columns):
        dup = frame.duplicated(subset=keys, keep=False)
        found.append(_findings("error", "KEY-UNIQUE", name, ", ".join(keys),
                               f"key ({', '.join(keys)}) is on more than one record",
                               rows=frame[dup], keys=keys))
    if set(spec.sort) <= set(frame.columns) and len(frame) > 1:
        order = frame.sort_values(spec.sort, kind="stable").index.to_numpy()
        moved = np.flatnonzero(order != np.arange(len(frame)))
        if moved.size:
            found.append(_findings("warning", "SORT-ORDER", name, ", ".join(spec.sort),
                                   f"records are not sorted by {', '.join(spec.sort)}; the first "
                                   "record out of place is shown",
                                   rows=frame.iloc[[moved[0]]], keys=keys))
    if not is_adam(spec):
        found += _seq(spec, frame)
    found += _study_days(spec, frame)
    return found


def _seq(spec: Dataset, frame: pd.DataFrame) -> list[pd.DataFrame]:
    seq = f"{spec.name}SEQ"
    if seq not in frame or "USUBJID" not in frame or not _numeric(frame[seq]):
        return []
    values = frame[seq]
    bad = values.isna() | (values < 1) | (values != np.round(values))
    dup = frame.duplicated(subset=["USUBJID", seq], keep=False) & values.notna()
    return [_findings("error", "SEQ-VALUE", spec.name, seq, "--SEQ must be a whole number >= 1",
                      rows=frame[bad], keys=spec.keys, value=values[bad]),
            _findings("error", "SEQ-UNIQUE", spec.name, seq,
                      f"{seq} is on more than one record of the subject",
                      rows=frame[dup], keys=spec.keys, value=values[dup])]


def _day_numbers(values: pd.Series) -> pd.Series:
    """Days since 1960-01-01 of the complete dates in ISO 8601 text (NaN if blank or partial)."""
    day = values.str.slice(0, 10).where(values.str.match(r"^\d{4}-\d{2}-\d{2}"))
    dates = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce")
    return (dates - pd.Timestamp("1960-01-01")).dt.days.astype(float)


def _study_days(spec: Dataset, frame: pd.DataFrame) -> list[pd.DataFrame]:
    """No study day (a numeric variable named ``--DY``, ``ADY``, ``ASTDY``...) is 0."""
    found = []
    for name in [c for c in frame.columns if c.endswith("DY") and _numeric(frame[c])]:
        days = frame[name]
        zero = days == 0
        found.append(_findings("error", "DY-ZERO", spec.name, name, "study day 0 does not exist",
                               rows=frame[zero], keys=spec.keys, value=days[zero]))
    return found


def _study_day_consistency(spec: Dataset, frame: pd.DataFrame,
                           rfstdtc: pd.Series | None) -> list[pd.DataFrame]:
    """Each study day against its date: SDTM ``xxDY`` vs ``xxDTC`` and DM.RFSTDTC; ADaM
    ``xxDY`` vs ``xxDT`` and TRTSDT (SAS day numbers)."""
    found = []
    adam = is_adam(spec)
    for name in [c for c in frame.columns if c.endswith("DY") and _numeric(frame[c])]:
        date_var = name[:-2] + ("DT" if adam else "DTC")
        if date_var not in frame or _numeric(frame[date_var]) != adam:
            continue
        if adam:
            if "TRTSDT" not in frame or not _numeric(frame["TRTSDT"]):
                continue
            date, ref = frame[date_var].astype(float), frame["TRTSDT"].astype(float)
            ref_name = "TRTSDT"
        else:
            if rfstdtc is None or "USUBJID" not in frame:
                continue
            date = _day_numbers(frame[date_var])
            ref = _day_numbers(frame["USUBJID"].map(rfstdtc).fillna("").astype(str))
            ref_name = "DM.RFSTDTC"
        diff = date - ref
        expected = diff.where(diff < 0, diff + 1)
        days = frame[name].astype(float)
        wrong = (expected.notna() & (days != expected)) | (expected.isna() & days.notna())
        message = (f"{name} should be {date_var} - {ref_name} (+1 on or after it): "
                   + _as_text(expected[wrong]).replace("", "missing (no complete dates)")
                   .astype(str))
        found.append(_findings("error", "DY-DATE", spec.name, name, message, rows=frame[wrong],
                               keys=spec.keys, value=days[wrong]))
    return found


def _subjects(spec: Dataset, frame: pd.DataFrame, subjects: pd.Series | None, parent: str,
              check: str) -> list[pd.DataFrame]:
    if subjects is None or "USUBJID" not in frame:
        return []
    bad = ~frame["USUBJID"].isin(subjects)
    return [_findings("error", check, spec.name, "USUBJID", f"subject is not in {parent}",
                      rows=frame[bad], keys=spec.keys, value=frame.loc[bad, "USUBJID"])]


def _bds(spec: Dataset, frame: pd.DataFrame) -> list[pd.DataFrame]:
    """One PARAM per PARAMCD; ABLFL once per subject, parameter (and BASETYPE, DTYPE where the
    dataset has them: a baseline per baseline type, ADaMIG; a derived copy such as an LOV
    record of the baseline record is its own record kind); ANL01FL once per subject,
    parameter and AVISIT (and time point ATPTN, BASETYPE, DTYPE where present)."""
    found, name, keys = [], spec.name, spec.keys
    if {"PARAMCD", "PARAM"} <= set(frame.columns):
        usual = frame.groupby("PARAMCD")["PARAM"].agg(lambda s: s.value_counts().index[0])
        bad = frame["PARAM"] != frame["PARAMCD"].map(usual)
        counts = frame.groupby("PARAMCD")["PARAM"].nunique()
        message = ("PARAMCD " + frame.loc[bad, "PARAMCD"] + " has "
                   + frame.loc[bad, "PARAMCD"].map(counts).astype(str) + " PARAM values; most "
                   "records have " + frame.loc[bad, "PARAMCD"].map(usual))
        found.append(_findings("error", "BDS-PARAM", name, "PARAM", message, rows=frame[bad],
                               keys=keys, value=frame.loc[bad, "PARAM"]))
    extra = [name for name in ("BASETYPE", "DTYPE") if name in frame.columns]
    for flag, by, check in (("ABLFL", ["USUBJID", "PARAMCD", *extra], "BDS-ABLFL"),
                            ("ANL01FL", ["USUBJID", "PARAMCD", "AVISIT", *extra,
                                         *(["ATPTN"] if "ATPTN" in frame.columns else [])],
                             "BDS-ANL01FL")):
        if flag not in frame or not set(by) <= set(frame.columns):
            continue
        flagged = frame[frame[flag] == "Y"]
        dup = flagged.duplicated(subset=by, keep=False)
        found.append(_findings("error", check, name, flag,
                               f"{flag} = Y on more than one record per {', '.join(by)}",
                               rows=flagged[dup], keys=keys, value=flagged.loc[dup, flag]))
    return found


# --------------------------------------------------------------------------------------------
# What a reviewer's engine catches (CDISC CORE, FDA validator rules, FDA rejection criteria):
# docs/conformance.md, "Reviewer-engine checks"; the standards' facts in checks/sdtmig.yaml.

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RESULT_NUMBER = rf"^(?:<=|>=|<|>)?\s*{_NUMBER}$"  # 12, 0.5, <5, >= 100: a numeric result
_RANGE_NUMBER = rf"^{_NUMBER}$"


def _text(frame: pd.DataFrame, name: str) -> pd.Series:
    """A variable as stripped text ("" when the file has no such variable)."""
    if name not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    return _as_text(frame[name]).astype(str).str.strip()


def _ig_order(spec: Dataset, frame: pd.DataFrame, facts: StandardFacts) -> list[pd.DataFrame]:
    """VAR-ORDER-IG: the file's variables that SDTMIG lists are in SDTMIG's order."""
    order = facts.order_of(spec.name)
    if order is None:
        return []
    rank = {name: i for i, name in enumerate(order)}
    found = [c for c in frame.columns if c in rank]
    wanted = sorted(found, key=rank.__getitem__)
    if found == wanted:
        return []
    at = next(i for i, (a, b) in enumerate(zip(found, wanted)) if a != b)
    return [_findings("warning", "VAR-ORDER-IG", spec.name, wanted[at],
                      f"{wanted[at]} comes after {found[at]} in the file; SDTMIG 3.4 puts it "
                      f"first (file: {' '.join(found)}; SDTMIG: {' '.join(wanted)})",
                      value=found[at])]


def _epoch(spec: Dataset, frame: pd.DataFrame, facts: StandardFacts,
           epochs: set[str] | None) -> list[pd.DataFrame]:
    """EPOCH-MISSING: a domain of clinical observations has no EPOCH; EPOCH-VALUE: an EPOCH
    that is not an epoch of TA or SE (``epochs``, None when the folder has neither)."""
    if spec.name not in facts.epoch_domains:
        return []
    if "EPOCH" not in frame:
        return [_findings("warning", "EPOCH-MISSING", spec.name, "EPOCH",
                          f"{spec.name} has no EPOCH; EPOCH is expected on subject-level clinical "
                          "observations (FDA Technical Conformance Guide, validator rule SD1077)")]
    if not epochs:
        return []
    values = _text(frame, "EPOCH")
    bad = values.ne("") & ~values.isin(epochs)
    return [_findings("error", "EPOCH-VALUE", spec.name, "EPOCH",
                      "not an epoch of TA or SE (" + ", ".join(sorted(epochs)) + ")",
                      rows=frame[bad], keys=spec.keys, value=values[bad])]


def _results(spec: Dataset, frame: pd.DataFrame, facts: StandardFacts) -> list[pd.DataFrame]:
    """ORRES-TEXT, STAT-RESULT and STAT-REASND on a Findings dataset (one with --ORRES)."""
    name, keys = spec.name, spec.keys
    orres_var, stat_var, reas_var = f"{name}ORRES", f"{name}STAT", f"{name}REASND"
    if orres_var not in frame and stat_var not in frame:
        return []
    orres, stat, reasnd = _text(frame, orres_var), _text(frame, stat_var), _text(frame, reas_var)
    not_done = stat.str.upper().eq("NOT DONE")
    found = []
    if orres_var in frame:
        status = orres.str.upper().isin(facts.not_done_results)
        lo, hi = _text(frame, f"{name}ORNRLO"), _text(frame, f"{name}ORNRHI")
        ranged = lo.str.match(_RANGE_NUMBER) | hi.str.match(_RANGE_NUMBER)
        text = orres.ne("") & ~orres.str.match(_RESULT_NUMBER) & ranged
        bad = orres.ne("") & ~not_done & (status | text)
        message = pd.Series(
            f"a status, not a result: a test not done is {stat_var} = NOT DONE with the reason "
            f"in {reas_var} and {orres_var} blank (SDTMIG 3.4 section 4.5.1.2)", index=frame.index)
        message = message.where(status, f"a text result where the normal range is numeric ("
                                + lo + " to " + hi + "): a specimen that gave no value is "
                                f"{stat_var} = NOT DONE with the reason in {reas_var}, not a "
                                "result")
        found.append(_findings("warning", "ORRES-TEXT", name, orres_var, message[bad],
                               rows=frame[bad], keys=keys, value=orres[bad]))
    if stat_var in frame:
        result = pd.Series("", index=frame.index, dtype=object)
        for var in (f"{name}STRESN", f"{name}STRESC", orres_var):
            if var in frame:
                present = frame[var].notna() if _numeric(frame[var]) else _text(frame, var).ne("")
                result = result.where(~present, var)
        bad = not_done & result.ne("")
        shown = orres.where(orres.ne(""), _text(frame, f"{name}STRESC"))
        found.append(_findings("error", "STAT-RESULT", name, stat_var,
                               f"{stat_var} = NOT DONE but the record has a result in "
                               + result[bad] + " (FDA validator rules SD1123, SE2310)",
                               rows=frame[bad], keys=keys, value=shown[bad]))
    if stat_var in frame or reas_var in frame:
        no_reason = not_done & reasnd.eq("")
        stray = reasnd.ne("") & ~not_done
        bad = no_reason | stray
        message = pd.Series(f"{stat_var} = NOT DONE without a reason in {reas_var}",
                            index=frame.index).where(no_reason, f"{reas_var} is given but "
                                                     f"{stat_var} is not NOT DONE")
        found.append(_findings("warning", "STAT-REASND", name, reas_var, message[bad],
                               rows=frame[bad], keys=keys, value=reasnd[bad]))
    return found


def _seriousness(spec: Dataset, frame: pd.DataFrame, facts: StandardFacts) -> list[pd.DataFrame]:
    """AESER-CRIT: AESER = Y and no criterion is Y; AESER-FLAG: a criterion is Y and AESER is
    not Y (AE only)."""
    if spec.name != "AE" or "AESER" not in frame:
        return []
    aeser = _text(frame, "AESER")
    criteria = [c for c in facts.seriousness_criteria if c in frame]
    yes = pd.DataFrame({c: _text(frame, c).eq("Y") for c in criteria}, index=frame.index)
    any_yes = yes.any(axis=1) if criteria else pd.Series(False, index=frame.index)
    serious = aeser.eq("Y")
    bad = serious & ~any_yes
    why = (f"none of {', '.join(criteria)} is Y" if criteria else
           "AE has none of the seriousness criteria variables ("
           + ", ".join(facts.seriousness_criteria) + ")")
    found = [_findings("warning", "AESER-CRIT", "AE", "AESER",
                       f"serious event (AESER = Y) but {why}; FDA validator rule SD0009",
                       rows=frame[bad], keys=spec.keys, value=aeser[bad])]
    if criteria:
        flagged = any_yes & ~serious
        names = pd.Series("", index=frame.index, dtype=object)
        for c in criteria:  # "AESHOSP, AESLIFE": the criteria that are Y, column by column
            names = names + np.where(yes[c], c + ", ", "")
        found.append(_findings("warning", "AESER-FLAG", "AE", "AESER",
                               names[flagged].str.removesuffix(", ") + " = Y but AESER is not "
                               "Y (FDA validator rule SD1062 and its family)",
                               rows=frame[flagged], keys=spec.keys, value=aeser[flagged]))
    return found


def _first_day(values: pd.Series) -> pd.Series:
    """The earliest day an ISO 8601 date can be (``2025-05`` -> ``2025-05-01``); "" if none."""
    day = values.str.slice(0, 10)
    day = day.where(~day.str.fullmatch(r"\d{4}-\d{2}"), day + "-01")
    day = day.where(~day.str.fullmatch(r"\d{4}"), day + "-01-01")
    return day.where(day.str.fullmatch(r"\d{4}-\d{2}-\d{2}"), "")


def _dates(spec: Dataset, frame: pd.DataFrame, cutoff: str | None) -> list[pd.DataFrame]:
    """DTC-CUTOFF on every SDTM dataset; DS-STDTC and DS-DTC-ORDER on DS."""
    found, name, keys = [], spec.name, spec.keys
    if cutoff:
        for var in [c for c in frame.columns if c.endswith("DTC") and not _numeric(frame[c])]:
            values = _text(frame, var)
            first = _first_day(values)
            bad = first.ne("") & (first > cutoff)
            found.append(_findings("warning", "DTC-CUTOFF", name, var,
                                   f"after the data cut-off {cutoff} (study.yaml cutoff_date)",
                                   rows=frame[bad], keys=keys, value=values[bad]))
    if name == "DS" and "DSSTDTC" in frame:
        start = _text(frame, "DSSTDTC")
        blank = start.eq("")
        what = _text(frame, "DSDECOD")
        found.append(_findings("warning", "DS-STDTC", name, "DSSTDTC",
                               "disposition record without its date (DSSTDTC is Expected): "
                               + what[blank], rows=frame[blank], keys=keys, value=start[blank]))
        if "DSDTC" in frame:
            collected = _text(frame, "DSDTC")
            both = start.str.len().ge(10) & collected.str.len().ge(10)
            late = both & (start.str.slice(0, 10) > collected.str.slice(0, 10))
            found.append(_findings("warning", "DS-DTC-ORDER", name, "DSSTDTC",
                                   "the event (DSSTDTC) is after its collection (DSDTC "
                                   + collected[late] + ")", rows=frame[late], keys=keys,
                                   value=start[late]))
    return found


def _trial_summary(ts: pd.DataFrame | None, facts: StandardFacts) -> list[pd.DataFrame]:
    """TS-MISSING: no TS; TS-PARAMETER: a required (error) or expected (warning) parameter
    without a value (TSVAL or TSVALNF). The interventional parameters only when STYPE says so."""
    if ts is None:
        return [_findings("error", "TS-MISSING", "TS", "",
                          "no sdtm/ts.xpt: a submission needs a TS dataset with the study start "
                          "date (FDA Technical Rejection Criteria 1734)")]
    codes = _text(ts, "TSPARMCD")
    given = codes[_text(ts, "TSVAL").ne("") | _text(ts, "TSVALNF").ne("")]
    present = set(given)
    stype = _text(ts, "TSVAL")[codes.eq("STYPE")].str.upper()
    expected = list(facts.ts_expected.get("all", []))
    if (stype == "INTERVENTIONAL").any():
        expected += facts.ts_expected.get("interventional", [])
    found = []
    for code in dict.fromkeys(facts.ts_required + expected):
        if code in present:
            continue
        required = code in facts.ts_required
        found.append(_findings(
            "error" if required else "warning", "TS-PARAMETER", "TS", "TSPARMCD",
            f"no TS parameter {code} with a value (TSVAL or TSVALNF); "
            + ("required: FDA Technical Rejection Criteria 1734, validator rule SD2232"
               if required else "expected by the FDA (Technical Conformance Guide, TS)"),
            value=code))
    return found


def _define_files(folder: Path) -> list[pd.DataFrame]:
    """DEFINE-MISSING: a folder of datasets without its define.xml beside them."""
    found = []
    for group in ("sdtm", "adam"):
        if any((folder / group).glob("*.xpt")) and not (folder / group / "define.xml").is_file():
            found.append(_findings("error", "DEFINE-MISSING", "", "",
                                   f"no {group}/define.xml beside the {group.upper()} datasets "
                                   "(FDA Technical Rejection Criteria 1736)",
                                   value=f"{group}/define.xml"))
    return found


# --------------------------------------------------------------------------------------------
# pointblank


def _sdtmig(frames: dict[str, pd.DataFrame], define: Path | None, standards: Standards,
            study_id: str) -> pd.DataFrame:
    """pointblank's SDTMIG rule catalogue on the SDTM datasets, as findings."""
    import pointblank as pb
    from pointblank.metadata._conformance.ct import ControlledTerminology

    package = f"sdtm-ct-{standards.ct}"
    if package not in ControlledTerminology.available():
        raise InputError("no such CDISC CT package bundled with pointblank",
                         file="conformance.yaml", column="standards.ct", value=standards.ct,
                         expected="one of " + ", ".join(
                             p.removeprefix("sdtm-ct-") for p in ControlledTerminology.available()))
    import polars as pl

    # pointblank's Define-XML rules take only a null as missing: blanks become nulls
    frames = {name: pl.from_pandas(frame.replace({"": None}), nan_to_null=True)
              for name, frame in frames.items()}
    report = pb.validate_sdtmig(frames, version=standards.sdtmig, ct_packages=[package],
                                define_xml=str(define) if define else None, study_id=study_id)
    if report is None:
        raise InputError("pointblank has no rule catalogue for this SDTMIG version",
                         file="conformance.yaml", column="standards.sdtmig",
                         value=standards.sdtmig, expected="3.4")
    parts = []
    for rule in report.rules():
        if rule.status not in ("fail", "error"):
            continue
        severity = "error" if rule.sensitivity.lower() == "error" else "warning"
        text = rule.message or rule.description
        if rule.status == "error":
            parts.append(_findings("warning", rule.rule_id, rule.dataset, "",
                                   f"the rule could not run: {text}", source=POINTBLANK))
            continue
        rows = [{"severity": severity, "check": rule.rule_id, "source": POINTBLANK,
                 "dataset": f.dataset, "variable": f.checked_column or "",
                 "row": (f.row + 1) if f.row is not None else pd.NA,
                 "key": f"USUBJID={f.usubjid}" if f.usubjid else "",
                 "value": "" if f.checked_value is None else str(f.checked_value),
                 "message": f.message or text, "exception": ""} for f in rule.row_findings]
        if not rows or rule.n_issues > len(rows):
            more = rule.n_issues - len(rows)
            # the records pointblank does not list: those of one dataset have the listed ones'
            # variable (a rule checks one column per dataset), so an exception accepting the
            # listed ones accepts them too
            checked = {f.checked_column for f in rule.row_findings}
            variable = checked.pop() if len(checked) == 1 and "," not in rule.dataset else ""
            rows.append({"severity": severity, "check": rule.rule_id, "source": POINTBLANK,
                         "dataset": rule.dataset, "variable": variable or "", "row": pd.NA,
                         "key": "",
                         "value": "", "message": text if not rows else
                         f"{text} ({more} more records not listed by pointblank)",
                         "exception": ""})
        parts.append(pd.DataFrame(rows, columns=COLUMNS))
    out = _concat(parts)
    counts = report.native_result.status_counts()
    out.attrs["sdtmig"] = (f"pointblank SDTMIG {standards.sdtmig} rules (CT {standards.ct}"
                           f"{f', with {define.parent.name}/{define.name}' if define else ''}): "
                           + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return out


# --------------------------------------------------------------------------------------------
# Running


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    out["row"] = out["row"].astype("Int64")
    return out


def apply_exceptions(findings: pd.DataFrame, conformance: Conformance) -> pd.DataFrame:
    """Downgrade the findings an exception of ``conformance.yaml`` accepts (severity and reason
    set; notes are left alone); an exception that matches nothing becomes a note."""
    out = findings.copy()
    unused = []
    for accepted in conformance.exceptions:
        match = (out["check"] == accepted.check) & out["severity"].isin(["error", "warning"])
        if accepted.dataset is not None:
            match &= out["dataset"] == accepted.dataset
        if accepted.variable is not None:
            match &= out["variable"] == accepted.variable
        if accepted.value is not None:
            match &= out["value"] == accepted.value
        if not match.any():
            unused.append(_findings("note", "EXCEPTION-UNUSED", accepted.dataset or "",
                                    accepted.variable or "",
                                    f"exception for {accepted.check} matched no finding; remove it "
                                    "from conformance.yaml if the cause is fixed",
                                    value=accepted.check))
        out.loc[match, "severity"] = accepted.severity
        out.loc[match, "exception"] = " ".join(accepted.reason.split())
    return _concat([out, *unused])


def validate_folder(folder: Path, specs: Specs, conformance: Conformance | None = None, *,
                    sdtmig: bool = True) -> pd.DataFrame:
    """All findings for an output folder of ``itp-adam run`` (columns :data:`COLUMNS`), errors
    first. ``conformance`` (``specs/conformance.yaml``) gives the standards and the accepted
    findings; ``sdtmig=False`` skips pointblank's rules (the package's own checks only)."""
    folder = Path(folder)
    _check_folder(folder)
    conformance = conformance or Conformance()
    parts: list[pd.DataFrame] = _outputs(folder, run_record(folder)["outputs"])
    for name, size in oversized_files(folder, conformance.max_file_gb).items():
        parts.append(_findings("error", "FILE-SIZE", Path(name).stem.upper(), "",
                               too_large(name, size, conformance.max_file_gb), value=str(size)))
    files: dict[str, XptFile] = {}
    sdtm_files: dict[str, Path] = {}
    for group, datasets in (("sdtm", specs.sdtm), ("adam", specs.adam)):
        present = {p.stem.upper(): p for p in sorted((folder / group).glob("*.xpt"))} \
            if (folder / group).is_dir() else {}
        if group == "sdtm":
            sdtm_files = present
        for name in datasets:
            if name not in present:
                parts.append(_findings("error", "DATASET-MISSING", name, "",
                                       f"no file {group}/{name.lower()}.xpt"))
        for name, path in present.items():
            if name not in datasets:
                parts.append(_findings("warning", "DATASET-EXTRA", name, "",
                                       f"{group}/{path.name} has no dataset spec"))
                continue
            files[name] = read_xpt(path)
    specs_by_name = {**specs.sdtm, **specs.adam}
    facts = standard_facts()
    cutoff = specs.study.cutoff_date.isoformat() if specs.study.cutoff_date else None
    design = {name: files[name].frame if name in files else read_xpt(path).frame
              for name, path in sdtm_files.items() if name in ("TA", "SE", "TS")}
    epochs = {value for name in ("TA", "SE") if name in design and "EPOCH" in design[name]
              for value in _text(design[name], "EPOCH") if value} or None
    if specs.sdtm:  # a study that writes SDTM: the trial summary and define.xml checks
        parts += _trial_summary(design.get("TS"), facts)
    parts += _define_files(folder)
    dm = files["DM"].frame if "DM" in files else None
    rfstdtc = dm.set_index("USUBJID")["RFSTDTC"] if dm is not None and {
        "USUBJID", "RFSTDTC"} <= set(dm.columns) and dm["USUBJID"].is_unique else None
    adsl = files["ADSL"].frame if "ADSL" in files else None
    for name, xpt in files.items():
        spec = specs_by_name[name]
        parts += _structure(spec, xpt)
        parts += _values(spec, xpt, specs)
        parts += _study_day_consistency(spec, xpt.frame, rfstdtc)
        if is_adam(spec):
            if name == "ADSL" and "USUBJID" in xpt.frame:
                dup = xpt.frame.duplicated(subset=["USUBJID"], keep=False)
                parts.append(_findings("error", "ADSL-ONE", name, "USUBJID",
                                       "more than one ADSL record for the subject",
                                       rows=xpt.frame[dup], keys=spec.keys,
                                       value=xpt.frame.loc[dup, "USUBJID"]))
            elif adsl is not None and "USUBJID" in adsl:
                parts += _subjects(spec, xpt.frame, adsl["USUBJID"], "ADSL", "SUBJ-ADSL")
            if spec.class_ == "BASIC DATA STRUCTURE":
                parts += _bds(spec, xpt.frame)
        else:
            if name != "DM" and dm is not None and "USUBJID" in dm:
                parts += _subjects(spec, xpt.frame, dm["USUBJID"], "DM", "SUBJ-DM")
            parts += _ig_order(spec, xpt.frame, facts)
            parts += _epoch(spec, xpt.frame, facts, epochs)
            parts += _results(spec, xpt.frame, facts)
            parts += _seriousness(spec, xpt.frame, facts)
            parts += _dates(spec, xpt.frame, cutoff)
    ran = ""
    if sdtmig and specs.sdtm:  # a study from SDTM writes none: its input is not checked here
        frames = {name: files[name].frame for name in specs.sdtm if name in files}
        # the define.xml beside the datasets; the define/ folder of earlier runs otherwise
        define = next((p for p in (folder / "sdtm" / "define.xml",
                                   folder / "define" / "define-sdtm.xml") if p.is_file()), None)
        rules = _sdtmig(frames, define, conformance.standards, specs.study.study_id)
        ran = rules.attrs.get("sdtmig", "")
        parts.append(rules)
    findings = apply_exceptions(_concat(parts), conformance)
    rank = findings["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    order = np.lexsort((findings.index.to_numpy(), rank.to_numpy()))
    findings = findings.iloc[order].reset_index(drop=True)
    findings.attrs["sdtmig"] = ran  # what pointblank ran, for the printed report
    return findings


def summary(findings: pd.DataFrame, first: int = 15) -> str:
    """The report printed by ``itp-adam validate``: counts per check, then the first findings."""
    if findings.empty:
        return "no findings"
    groups = findings.groupby(["severity", "check", "source"], sort=False)
    counts = groups.size().rename("findings").reset_index()
    counts["accepted"] = groups["exception"].agg(lambda s: int((s != "").sum())).to_numpy()
    counts["datasets"] = groups["dataset"].agg(lambda s: " ".join(dict.fromkeys(s))).to_numpy()
    shown = findings.head(first)[["severity", "check", "dataset", "variable", "row", "key",
                                  "value", "message"]].copy()
    shown["row"] = shown["row"].astype("string").fillna("")
    shown["message"] = shown["message"].astype(str).str.slice(0, 70)
    shown["key"] = shown["key"].astype(str).str.slice(0, 40)
    return (counts.to_string(index=False) + f"\n\nfirst {len(shown)} of {len(findings)} "
            "findings:\n" + shown.to_string(index=False))


def _own_report(line: str | None) -> bool:
    """Whether a file's first line is a findings report's header (``replace_own_file``)."""
    return line == ",".join(COLUMNS)


def _specs_line(specs_dir: Path, folder: Path, named: bool) -> str:
    """The report's first line: the specs checked against, and whether they made the folder."""
    from ..spec.model import spec_file_digests

    line = f"specs: {specs_dir}"
    if not named:
        return line + " (the specs that made the folder, by run.json)"
    recorded = run_record(folder)["spec_files"]
    found = spec_file_digests(specs_dir)
    if found == recorded:
        return line + " (the specs that made the folder, by run.json)"
    return line + (" (named on the command line; not the specs that made the folder: "
                   f"{_differences(found, recorded)})")


def command(args: argparse.Namespace) -> int:
    """``itp-adam validate FOLDER [--study NAME | --specs DIR] [--report CSV]``: 1 on errors,
    else 0. Without --study or --specs, the specs that made the folder (:func:`specs_of_run`).
    The report replaces an earlier report only, never a file of the user's."""
    from ..errors import check_replaceable, replace_own_file, report_errors
    from ..paths import VALIDATION_REPORT
    from ..spec.model import load_specs

    folder = Path(args.folder)
    _check_folder(folder)
    named = args.specs is not None  # --specs DIR, or --study NAME (its folder, cli._resolve_study)
    specs_dir = Path(args.specs) if named else specs_of_run(folder)
    report = Path(args.report) if args.report else folder / VALIDATION_REPORT
    with report_errors(report, "validate"):  # a file of the user's there: refused first
        check_replaceable(report, _own_report)
    findings = validate_folder(folder, load_specs(specs_dir), load_conformance(specs_dir))
    with report_errors(report, "validate"):
        report.parent.mkdir(parents=True, exist_ok=True)
        replace_own_file(report, findings.to_csv(index=False, lineterminator="\n"), _own_report)
    counts = findings["severity"].value_counts()
    print(_specs_line(specs_dir, folder, named))
    if findings.attrs.get("sdtmig"):
        print(findings.attrs["sdtmig"] + "\n")
    print(summary(findings))
    print(f"\n{counts.get('error', 0)} errors, {counts.get('warning', 0)} warnings, "
          f"{counts.get('note', 0)} notes ({int((findings['exception'] != '').sum())} accepted in "
          f"conformance.yaml) - see {report}")
    from ..report.guides import unexplained

    loose = unexplained(findings)
    if len(loose):  # what the reviewer's guides cannot explain (docs/reviewers-guides.md)
        print(f"{len(loose)} errors and warnings have no reason in conformance.yaml, so the "
              "reviewer's guides do not explain them: "
              + ", ".join(dict.fromkeys((loose["check"] + " " + loose["dataset"]).str.strip())))
    return 1 if counts.get("error", 0) else 0
