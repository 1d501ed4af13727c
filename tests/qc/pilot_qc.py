"""Independent QC derivation of the CDISCPILOT01 ADaM datasets (ADSL, ADAE, ADLB, ADVS).

Double programming: a second programmer's version written from the analysis plan
(shared/studies/cdiscpilot01/sap.md) only, never from the package's code or the study's specs.
It must NOT import the production package (tests/qc/test_pilot_qc.py checks that).

Style on purpose different from production: the SDTM records become plain dicts, dates are
``datetime.date`` and every rule is a loop over subjects or records. Section numbers in the
comments ("0.5", "3.4" ...) are those of sap.md.

Value conventions of the returned frames:
- dates (ADT, TRTSDT, ASTDT, ...) are ``datetime.date`` objects, missing = ``None``;
- datetimes (TRTSDTM, ASTDTM, AENDTM ...) are ``datetime.datetime`` objects, missing = ``None``;
- text missing = ``""``; numbers are floats, missing = NaN.

Numbers read from the XPT files carry IBM-to-IEEE noise (0.04 reads as 0.039999999999999994);
the plan's 15-significant-digit rounding (0.6) removes it where values meet limits.
"""

from __future__ import annotations

import calendar
import functools
import datetime as dt
import math
import re
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

# ------------------------------------------------------------------------------------------
# Plan constants (the values of sap.md; the QC keeps them here, production in its specs)

DOSING_PLACEBO_WORD = "PLACEBO"  # 0.4

# 3.2: LBTESTCD -> (PARAMCD, PARAM, PARAMN)
LB_PARAMETERS = {
    "ALB": ("ALB", "Albumin (g/L)", 1),
    "ALP": ("ALKPH", "Alkaline Phosphatase (U/L)", 2),
    "ALT": ("ALT", "Alanine Aminotransferase (U/L)", 3),
    "ANISO": ("ANISO", "Anisocytes", 4),
    "AST": ("AST", "Aspartate Aminotransferase (U/L)", 5),
    "BASO": ("BASO", "Basophils Abs (10^9/L)", 6),
    "BASOLE": ("BASOLE", "Basophils/Leukocytes (FRACTION)", 7),
    "BILI": ("BILI", "Bilirubin (umol/L)", 8),
    "BUN": ("BUN", "Blood Urea Nitrogen (mmol/L)", 9),
    "CA": ("CA", "Calcium (mmol/L)", 10),
    "CHOL": ("CHOLES", "Cholesterol (mmol/L)", 11),
    "CK": ("CK", "Creatinine Kinase (U/L)", 12),
    "CL": ("CL", "Chloride (mmol/L)", 13),
    "COLOR": ("COLOR", "Color", 14),
    "CREAT": ("CREAT", "Creatinine (umol/L)", 15),
    "EOS": ("EOS", "Eosinophils (10^9/L)", 16),
    "EOSLE": ("EOSLE", "Eosinophils/Leukocytes (FRACTION)", 17),
    "GGT": ("GGT", "Gamma Glutamyl Transferase (U/L)", 18),
    "GLUC": ("GLUC", "Glucose (mmol/L)", 19),
    "HBA1C": ("HBA1C", "Hemoglobin A1C (1)", 20),
    "HCT": ("HCT", "Hematocrit (1)", 21),
    "HGB": ("HGB", "Hemoglobin (mmol/L)", 22),
    "K": ("POTAS", "Potassium (mmol/L)", 23),
    "KETONES": ("KETON", "Ketones", 24),
    "LYM": ("LYMPH", "Lymphocytes Abs (10^9/L)", 25),
    "LYMLE": ("LYMPHLE", "Lymphocytes/Leukocytes (FRACTION)", 26),
    "MACROCY": ("MACROC", "Macrocytes", 27),
    "MCH": ("MCH", "Ery. Mean Corpuscular Hemoglobin (fmol(Fe))", 28),
    "MCHC": ("MCHC", "Ery. Mean Corpuscular HGB Concentration (mmol/L)", 29),
    "MCV": ("MCV", "Ery. Mean Corpuscular Volume (f/L)", 30),
    "MICROCY": ("MICROC", "Microcytes", 31),
    "MONO": ("MONO", "Monocytes (10^9/L)", 32),
    "MONOLE": ("MONOLE", "Monocytes/Leukocytes (FRACTION)", 33),
    "PH": ("PH", "pH", 34),
    "PHOS": ("PHOS", "Phosphate (mmol/L)", 35),
    "PLAT": ("PLAT", "Platelet (10^9/L)", 36),
    "POIKILO": ("POIKIL", "Poikilocytes", 37),
    "POLYCHR": ("POLYCH", "Polychromasia", 38),
    "PROT": ("PROT", "Protein (g/L)", 39),
    "RBC": ("RBC", "Erythrocytes (TI/L)", 40),
    "SODIUM": ("SODIUM", "Sodium (mmol/L)", 41),
    "SPGRAV": ("SPGRAV", "Specific Gravity", 42),
    "TSH": ("TSH", "Thyrotropin (mU/L)", 43),
    "URATE": ("URATE", "Urate (umol/L)", 44),
    "UROBIL": ("UROBIL", "Urobilinogen", 45),
    "VITB12": ("VITB12", "Vitamin B12 (pmol/L)", 46),
    "WBC": ("WBC", "Leukocytes (10^9/L)", 47),
}
PARAM_BY_PARAMCD = {code: (param, n) for code, param, n in LB_PARAMETERS.values()}

# 3.3: absolute parameter <- fraction parameter (both multiplied by WBC)
LB_CALCULATIONS = (("BASO", "BASOLE"), ("LYMPH", "LYMPHLE"))

# 3.6 low direction: PARAMCD -> (ATOXDSCL, unit of the criteria, [(grade, "AVAL < x")...]).
# x is a number or "LLN"; grade 0 is always AVAL >= LLN.
TOX_LOW = {
    "ALB": ("Hypoalbuminemia", "g/L", [(3, 20), (2, 30), (1, "LLN")]),
    "CA": ("Hypocalcemia", "mmol/L", [(4, 1.5), (3, 1.75), (2, 2), (1, "LLN")]),
    "GLUC": ("Hypoglycemia", "mmol/L", [(4, 1.7), (3, 2.2), (2, 3), (1, "LLN")]),
    "LYMPH": ("CD4 lymphocytes decreased", "10^9/L", [(4, 0.05), (3, 0.2), (2, 0.5), (1, "LLN")]),
    "PHOS": ("Hypophosphatemia", "mmol/L", [(4, 0.3), (3, 0.6), (2, 0.8), (1, "LLN")]),
    "PLAT": ("Platelet count decreased", "10^9/L", [(4, 25), (3, 50), (2, 75), (1, "LLN")]),
    "POTAS": ("Hypokalemia", "mmol/L", [(4, 2.5), (3, 3), (2, "LLN")]),
    "SODIUM": ("Hyponatremia", "mmol/L", [(4, 120), (3, 130), (1, "LLN")]),
    "WBC": ("White blood cell decreased", "10^9/L", [(4, 1), (3, 2), (2, 3), (1, "LLN")]),
    # CTCAE anemia is in g/L; HGB is reported in mmol/L, so it is never graded (5.3)
    "HGB": ("Anemia", "g/L", [(3, 80), (2, 100), (1, "LLN")]),
}

# 3.6 high direction: PARAMCD -> (ATOXDSCH, unit, [(grade, "AVAL > x")...], grade-0 bound).
# x is a number or ("ULN", k) = k x ULN; grade 0 is AVAL <= the bound. CREAT is separate.
_ULN = ("ULN", 1)
TOX_HIGH = {
    "ALKPH": ("Alkaline phosphatase increased", "U/L",
              [(4, ("ULN", 20)), (3, ("ULN", 5)), (2, ("ULN", 2.5)), (1, _ULN)], _ULN),
    "ALT": ("Alanine aminotransferase increased", "U/L",
            [(4, ("ULN", 20)), (3, ("ULN", 5)), (2, ("ULN", 3)), (1, _ULN)], _ULN),
    "AST": ("Aspartate aminotransferase increased", "U/L",
            [(4, ("ULN", 20)), (3, ("ULN", 5)), (2, ("ULN", 3)), (1, _ULN)], _ULN),
    "BILI": ("Blood bilirubin increased", "umol/L",
             [(4, ("ULN", 10)), (3, ("ULN", 3)), (2, ("ULN", 1.5)), (1, _ULN)], _ULN),
    "CK": ("CPK increased", "U/L",
           [(4, ("ULN", 10)), (3, ("ULN", 5)), (2, ("ULN", 2.5)), (1, _ULN)], _ULN),
    "GGT": ("GGT increased", "U/L",
            [(4, ("ULN", 20)), (3, ("ULN", 5)), (2, ("ULN", 2.5)), (1, _ULN)], _ULN),
    "CA": ("Hypercalcemia", "mmol/L", [(4, 3.4), (3, 3.1), (2, 2.9), (1, _ULN)], _ULN),
    "CHOLES": ("Cholesterol high", "mmol/L", [(4, 12.92), (3, 10.34), (2, 7.75), (1, _ULN)], _ULN),
    "POTAS": ("Hyperkalemia", "mmol/L", [(4, 7), (3, 6), (2, 5.5), (1, _ULN)], _ULN),
    "SODIUM": ("Hypernatremia", "mmol/L", [(4, 160), (3, 155), (2, 150), (1, _ULN)], _ULN),
    "GLUC": ("Hyperglycemia", "mmol/L", [(4, 27.8), (3, 13.9)], 13.9),
    "WBC": ("Leukocytosis", "10^9/L", [(3, 100)], 100),
    "CREAT": ("Creatinine increased", "umol/L", None, None),  # _grade_creatinine
    "HGB": ("Hemoglobin increased", "g/L", [(1, _ULN)], _ULN),  # never graded (unit)
}

# 4.3: VS parameters -> (PARAM, PARAMN, ANRLO, ANRHI, A1LO, A1HI)
NaN = float("nan")
VS_PARAMETERS = {
    "SYSBP": ("Systolic Blood Pressure (mmHg)", 1, 90, 130, 70, 140),
    "DIABP": ("Diastolic Blood Pressure (mmHg)", 2, 60, 80, 40, 90),
    "PULSE": ("Pulse Rate (beats/min)", 3, 60, 100, 40, 110),
    "WEIGHT": ("Weight (kg)", 4, NaN, NaN, NaN, NaN),
    "HEIGHT": ("Height (cm)", 5, NaN, NaN, NaN, NaN),
    "TEMP": ("Temperature (C)", 6, 36.5, 37.5, 35, 38),
    "MAP": ("Mean Arterial Pressure (mmHg)", 7, NaN, NaN, NaN, NaN),
    "BMI": ("Body Mass Index(kg/m^2)", 8, NaN, NaN, NaN, NaN),
    "BSA": ("Body Surface Area(m^2)", 9, NaN, NaN, NaN, NaN),
}
# 4.5 BASETYPE by ATPTN
VS_BASETYPE = {815: "LAST: AFTER LYING DOWN FOR 5 MINUTES",
               816: "LAST: AFTER STANDING FOR 1 MINUTE",
               817: "LAST: AFTER STANDING FOR 3 MINUTES"}
VS_NO_AVISIT_WORDS = ("SCREEN", "UNSCHED", "RETRIEVAL", "AMBUL")  # 4.3
VS_EOT_WINDOW = (4, 13)  # 4.6: 4 < AVISITN <= 13 (section 5, item 2)

# ADSL variables copied into the other datasets (core copies only, 0.8)
ADSL_TO_ADAE = ("TRTSDT", "TRTEDT", "TRT01P", "TRT01A", "SAFFL", "DTHDT", "EOSDT")
ADSL_TO_FINDINGS = ("TRTSDT", "TRTEDT", "TRT01P", "TRT01A", "SAFFL")

DATE_VARS = {"TRTSDT", "TRTEDT", "SCRFDT", "EOSDT", "FRVDT", "RANDDT", "DTHDT", "LSTALVDT",
             "ASTDT", "AENDT", "ADT"}
DATETIME_VARS = {"TRTSDTM", "TRTEDTM", "ASTDTM", "AENDTM"}


# ------------------------------------------------------------------------------------------
# Reading the SDTM


def read_sdtm(source) -> dict[str, pd.DataFrame]:
    """Every .xpt of a folder, or of a zip file, as {"DM": frame, ...} (pyreadstat).

    Text columns are object columns with "" for missing; numbers are floats with NaN."""
    source = Path(source)
    if source.is_file():
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(source) as archive:
            for member in archive.namelist():
                name = Path(member).name
                if name.lower().endswith(".xpt"):
                    (Path(tmp) / name).write_bytes(archive.read(member))
            return _read_folder(Path(tmp))
    return _read_folder(source)


def _read_folder(folder: Path) -> dict[str, pd.DataFrame]:
    domains = {}
    for path in sorted(folder.glob("*.xpt")):
        frame, _ = pyreadstat.read_xport(str(path))
        for name in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[name]):
                frame[name] = frame[name].fillna("").astype(object)
            else:
                frame[name] = frame[name].astype(float)
        domains[path.stem.upper()] = frame
    return domains


def _records(frame: pd.DataFrame) -> list[dict]:
    """The rows of a frame as plain dicts."""
    names = list(frame.columns)
    return [dict(zip(names, values)) for values in zip(*(frame[n].tolist() for n in names))]


def _by_subject(records: list[dict]) -> dict[str, list[dict]]:
    groups = defaultdict(list)
    for record in records:
        groups[record["USUBJID"]].append(record)
    return groups


# ------------------------------------------------------------------------------------------
# Small helpers: missing values, ordering (0.5), rounding (0.6), title case (0.7)


def _missing(value) -> bool:
    """None, "", NaN (and NaT: the only values not equal to themselves)."""
    return value is None or value is pd.NaT or value == "" or value != value


def _num(value) -> float:
    return NaN if _missing(value) else float(value)


class desc:  # noqa: N801 (reads like a keyword in sort keys: order(desc(x), y))
    """Marks a descending part of an ``order`` key."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


_LAST = (1, 0)


def order(*parts) -> tuple:
    """A sort key for 0.5: missing sorts after every non-missing value, in both directions;
    ``desc(x)`` reverses the order of the non-missing numbers only."""
    key = []
    for part in parts:
        if type(part) is desc:
            key.append(_LAST if _missing(part.value) else (0, -part.value))
        elif part is None or part != part or part == "":
            key.append(_LAST)
        else:
            key.append((0, part))
    return tuple(key)


@functools.lru_cache(maxsize=None)
def r15(x: float) -> float:
    """0.6: round to 15 significant digits."""
    return float(f"{x:.15g}")


def plain_text(x: float) -> str:
    """The shortest plain text of a number, after 0.6 rounding (38.0 -> '38', 0.04 -> '0.04')."""
    return np.format_float_positional(r15(x), trim="-")


def title_case(text: str) -> str:
    """0.7: every space-separated word: first character upper case, the rest lower case."""
    return " ".join(word[:1].upper() + word[1:].lower() for word in text.split(" "))


# ------------------------------------------------------------------------------------------
# Dates (0.2, 0.3)

_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def _ymd(dtc: str) -> tuple[int | None, int | None, int | None]:
    match = _ISO.match(dtc or "")
    if not match:
        return None, None, None
    year, month, day = (int(g) if g else None for g in match.groups())
    return year, month, day


@functools.lru_cache(maxsize=None)
def date_part(dtc: str) -> dt.date | None:
    """0.2: the date of the first ten characters when they form a complete date, else None."""
    if not dtc or len(dtc) < 10 or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", dtc[:10]):
        return None
    try:
        return dt.date.fromisoformat(dtc[:10])
    except ValueError:
        return None


def partial_period(dtc: str) -> tuple[dt.date | None, dt.date | None, str]:
    """(first, last, flag) of the period an ISO date covers: flag "" for a complete date,
    "D" for YYYY-MM, "M" for YYYY; (None, None, "") without a year (0.2)."""
    complete = date_part(dtc)
    if complete is not None:
        return complete, complete, ""
    year, month, _ = _ymd(dtc)
    if year is None:
        return None, None, ""
    if month is not None:
        return (dt.date(year, month, 1),
                dt.date(year, month, calendar.monthrange(year, month)[1]), "D")
    return dt.date(year, 1, 1), dt.date(year, 12, 31), "M"


def impute_first(dtc: str) -> tuple[dt.date | None, str]:
    first, _, flag = partial_period(dtc)
    return first, flag


def study_day(date: dt.date | None, start: dt.date | None) -> float:
    """0.3: no day 0."""
    if date is None or start is None:
        return NaN
    delta = (date - start).days
    return float(delta + 1 if delta >= 0 else delta)


def _days(later: dt.date | None, earlier: dt.date | None) -> float:
    if later is None or earlier is None:
        return NaN
    return float((later - earlier).days)


# ------------------------------------------------------------------------------------------
# ADSL (section 1)


def _is_dosing(ex: dict) -> bool:
    """0.4"""
    dose = ex["EXDOSE"]
    if _missing(dose):
        return False
    return dose > 0 or (dose == 0 and DOSING_PLACEBO_WORD in ex["EXTRT"].upper())


def _exposure_datetime(dtc: str, at_end: bool) -> tuple[dt.datetime | None, str]:
    """TRTSDTM/TRTEDTM of one EX date: collected time, else 00:00:00 (start) / 23:59:59 (end);
    flag "H" when no time, "M" when the hour is collected but not the minutes."""
    date = date_part(dtc)
    if date is None:
        return None, ""
    time = dtc[11:] if len(dtc) > 11 and dtc[10] == "T" else ""
    pieces = [p for p in time.split(":") if p]
    fill = 59 if at_end else 0
    hour = int(pieces[0]) if len(pieces) > 0 else (23 if at_end else 0)
    minute = int(pieces[1]) if len(pieces) > 1 else fill
    second = int(float(pieces[2])) if len(pieces) > 2 else fill
    flag = "H" if len(pieces) == 0 else ("M" if len(pieces) == 1 else "")
    return dt.datetime.combine(date, dt.time(hour, minute, second)), flag


def _adsl_treatment(dm: dict, exposures: list[dict]) -> dict:
    """TRT01P ... SAFFL (section 1)."""
    dosing = [ex for ex in exposures if _is_dosing(ex)]
    starts = [_exposure_datetime(ex["EXSTDTC"], at_end=False) for ex in dosing]
    starts = [s for s in starts if s[0] is not None]
    ends = [_exposure_datetime(ex["EXENDTC"], at_end=True) for ex in dosing]
    ends = [e for e in ends if e[0] is not None]
    trtsdtm, trtstmf = min(starts, key=lambda s: s[0]) if starts else (None, "")
    trtedtm, trtetmf = max(ends, key=lambda e: e[0]) if ends else (None, "")
    trtsdt = trtsdtm.date() if trtsdtm else None
    trtedt = trtedtm.date() if trtedtm else None
    return {
        "TRT01P": dm["ARM"], "TRT01A": dm["ACTARM"],
        "TRTSDTM": trtsdtm, "TRTSTMF": trtstmf, "TRTSDT": trtsdt,
        "TRTEDTM": trtedtm, "TRTETMF": trtetmf, "TRTEDT": trtedt,
        "TRTDURD": _days(trtedt, trtsdt) + 1,
        "SAFFL": "Y" if dosing else "N",
    }


def _ds_date(records: list[dict], category: str | None, decod: str, other_than=False):
    """Date of DSSTDTC of the DS record of a category (None: any) whose DSDECOD is ``decod``
    (or, with ``other_than``, is not); the first by DSSEQ if several."""
    for ds in sorted(records, key=lambda r: order(r["DSSEQ"])):
        if category is not None and ds["DSCAT"] != category:
            continue
        matches = (ds["DSDECOD"] != decod) if other_than else (ds["DSDECOD"] == decod)
        if matches:
            return date_part(ds["DSSTDTC"])
    return None


def _adsl_disposition(disposition: list[dict]) -> dict:
    """SCRFDT, EOSDT, EOSSTT, FRVDT, RANDDT (section 1)."""
    events = sorted((d for d in disposition if d["DSCAT"] == "DISPOSITION EVENT"),
                    key=lambda r: order(r["DSSEQ"]))
    decod = events[0]["DSDECOD"] if events else ""
    if decod == "":
        status = "ONGOING"
    elif decod == "COMPLETED":
        status = "COMPLETED"
    elif decod == "SCREEN FAILURE":
        status = ""
    else:
        status = "DISCONTINUED"
    return {
        "SCRFDT": _ds_date(disposition, "DISPOSITION EVENT", "SCREEN FAILURE"),
        "EOSDT": _ds_date(disposition, "DISPOSITION EVENT", "SCREEN FAILURE", other_than=True),
        "EOSSTT": status,
        "FRVDT": _ds_date(disposition, "OTHER EVENT", "FINAL RETRIEVAL VISIT"),
        "RANDDT": _ds_date(disposition, None, "RANDOMIZED"),
    }


def _adsl_death(row: dict, events: list[dict], disposition: list[dict]) -> dict:
    """DTHDT ... DTHB30FL (section 1)."""
    dthdt, dthdtf = impute_first(row["DTHDTC"])
    fatal = sorted((ae for ae in events if ae["AEOUT"] == "FATAL"), key=lambda r: order(r["AESEQ"]))
    ds_death = sorted((d for d in disposition
                       if d["DSDECOD"] == "DEATH" and "DEATH DUE TO" in d["DSTERM"]),
                      key=lambda r: order(r["DSSEQ"]))
    if fatal:
        cause, domain = fatal[0]["AEDECOD"], "AE"
    elif ds_death:
        cause, domain = ds_death[0]["DSTERM"], "DS"
    else:
        cause, domain = "", ""
    if domain == "":
        group = ""
    elif domain == "AE":
        group = "ADVERSE EVENT"
    elif "PROGRESSIVE DISEASE" in cause or "DISEASE RELAPSE" in cause:
        group = "PROGRESSIVE DISEASE"
    else:
        group = "OTHER"
    elapsed = _days(dthdt, row["TRTEDT"])
    elapsed_group = "" if math.isnan(elapsed) else ("<= 30" if elapsed <= 30 else "> 30")
    first_30 = (dthdt is not None and row["TRTSDT"] is not None
                and dthdt <= row["TRTSDT"] + dt.timedelta(days=30))
    return {
        "DTHDT": dthdt, "DTHDTF": dthdtf,
        "DTHADY": _days(dthdt, row["TRTSDT"]) + 1,  # a plain difference plus one
        "LDDTHELD": elapsed,
        "DTHCAUS": cause, "DTHDOM": domain, "DTHCGR1": group,
        "LDDTHGR1": elapsed_group,
        "DTH30FL": "Y" if elapsed_group == "<= 30" else "",
        "DTHA30FL": "Y" if elapsed_group == "> 30" else "",
        "DTHB30FL": "Y" if first_30 else "",
    }


def _last_alive(row: dict, events: list[dict], labs: list[dict]) -> dt.date | None:
    """LSTALVDT: AE start/end and LB dates (partial -> first) and TRTEDT."""
    dates = [impute_first(ae[v])[0] for ae in events for v in ("AESTDTC", "AEENDTC")]
    dates += [impute_first(lb["LBDTC"])[0] for lb in labs]
    dates.append(row["TRTEDT"])
    dates = [d for d in dates if d is not None]
    return max(dates) if dates else None


def _adsl_groups(row: dict) -> dict:
    """AGEGR1, RACEGR1, REGION1 (section 1)."""
    age = row["AGE"]
    if _missing(age):
        agegr = "Missing"
    elif age < 18:
        agegr = "<18"
    elif age <= 64:
        agegr = "18-64"
    else:
        agegr = ">64"
    race = row["RACE"]
    racegr = "Missing" if race == "" else ("White" if race == "WHITE" else "Non-white")
    country = row["COUNTRY"]
    region = "Missing" if country == "" else ("NA" if country in ("USA", "CAN") else "RoW")
    return {"AGEGR1": agegr, "RACEGR1": racegr, "REGION1": region}


ADSL_DERIVED = [
    "TRT01P", "TRT01A", "TRTSDTM", "TRTSTMF", "TRTSDT", "TRTEDTM", "TRTETMF", "TRTEDT",
    "TRTDURD", "SAFFL", "SCRFDT", "EOSDT", "EOSSTT", "FRVDT", "RANDDT", "DTHDT", "DTHDTF",
    "DTHADY", "LDDTHELD", "DTHCAUS", "DTHDOM", "DTHCGR1", "LDDTHGR1", "DTH30FL", "DTHA30FL",
    "DTHB30FL", "LSTALVDT", "AGEGR1", "RACEGR1", "REGION1"]
ADSL_NUMERIC = {"TRTDURD", "DTHADY", "LDDTHELD"}


def derive_adsl(sdtm: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """ADSL: one record per DM record, every DM variable except DOMAIN, plus section 1."""
    exposure = _by_subject(_records(sdtm["EX"]))
    disposition = _by_subject(_records(sdtm["DS"]))
    events = _by_subject(_records(sdtm["AE"]))
    labs = _by_subject(_records(sdtm["LB"]))
    rows = []
    for dm in _records(sdtm["DM"]):
        subject = dm["USUBJID"]
        row = {name: value for name, value in dm.items() if name != "DOMAIN"}
        row.update(_adsl_treatment(dm, exposure.get(subject, [])))
        row.update(_adsl_disposition(disposition.get(subject, [])))
        row.update(_adsl_death(row, events.get(subject, []), disposition.get(subject, [])))
        row["LSTALVDT"] = _last_alive(row, events.get(subject, []), labs.get(subject, []))
        row.update(_adsl_groups(row))
        rows.append(row)
    columns = [c for c in sdtm["DM"].columns if c != "DOMAIN"] + ADSL_DERIVED
    return _frame(rows, columns, _kinds(sdtm["DM"], ADSL_NUMERIC))


# ------------------------------------------------------------------------------------------
# ADAE (section 2)

SEVERITY_N = {"MILD": 1, "MODERATE": 2, "SEVERE": 3, "DEATH THREATENING": 4}


def analysis_start(aestdtc: str, trtsdt: dt.date | None) -> tuple[dt.date | None, str]:
    """ASTDT, ASTDTF: partial -> first, but TRTSDT when it lies inside the covered period.
    Reading of the plan: the flag follows the shape of AESTDTC (D/M), also when TRTSDT is used."""
    first, last, flag = partial_period(aestdtc)
    if first is None or flag == "":
        return first, flag
    if trtsdt is not None and first <= trtsdt <= last:
        return trtsdt, flag
    return first, flag


def analysis_end(aeendtc: str, caps: list[dt.date | None]) -> tuple[dt.date | None, str]:
    """AENDT, AENDTF: partial -> last, not later than DTHDT/EOSDT inside the covered period."""
    first, last, flag = partial_period(aeendtc)
    if first is None or flag == "":
        return last, flag
    end = last
    for cap in caps:
        if cap is not None and first <= cap <= last and cap < end:
            end = cap
    return end, flag


def _treatment_emergent(astdt, aendt, trtsdt, trtedt) -> str:
    """TRTEMFL, decided in the order of the plan."""
    if trtsdt is None:
        return ""
    if aendt is not None and aendt < trtsdt:
        return ""
    if astdt is None:
        return "Y"
    if astdt >= trtsdt and (trtedt is None or astdt <= trtedt + dt.timedelta(days=30)):
        return "Y"
    return ""


def _adae_record(ae: dict, subject: dict) -> dict:
    row = dict(ae)
    for name in ADSL_TO_ADAE:
        row[name] = subject[name]
    trtsdt, trtedt = subject["TRTSDT"], subject["TRTEDT"]
    astdt, astdtf = analysis_start(ae["AESTDTC"], trtsdt)
    aendt, aendtf = analysis_end(ae["AEENDTC"], [subject["DTHDT"], subject["EOSDT"]])
    row.update({
        "ASTDT": astdt,
        "ASTDTM": dt.datetime.combine(astdt, dt.time(0, 0, 0)) if astdt else None,
        "ASTDTF": astdtf,
        "ASTTMF": "H" if astdt else "",
        "AENDT": aendt,
        "AENDTM": dt.datetime.combine(aendt, dt.time(23, 59, 59)) if aendt else None,
        "AENDTF": aendtf,
        "AENTMF": "H" if aendt else "",
        "ASTDY": study_day(astdt, trtsdt),
        "AENDY": study_day(aendt, trtsdt),
        "ADURN": _days(aendt, astdt) + 1,
        "ASEV": ae["AESEV"],
        "ASEVN": float(SEVERITY_N[ae["AESEV"]]) if ae["AESEV"] in SEVERITY_N else NaN,
        "AREL": ae["AEREL"],
        "TRTEMFL": _treatment_emergent(astdt, aendt, trtsdt, trtedt),
        "AOCCIFL": "",
    })
    row["ADURU"] = "" if math.isnan(row["ADURN"]) else "days"
    return row


ADAE_DERIVED = ["ASTDT", "ASTDTM", "ASTDTF", "ASTTMF", "AENDT", "AENDTM", "AENDTF", "AENTMF",
                "ASTDY", "AENDY", "ADURN", "ADURU", "ASEV", "ASEVN", "AREL", "TRTEMFL", "AOCCIFL"]


def derive_adae(sdtm: dict[str, pd.DataFrame], adsl: pd.DataFrame) -> pd.DataFrame:
    """ADAE: one record per AE record (section 2)."""
    subjects = {row["USUBJID"]: _py(row) for row in _records(adsl)}
    rows = [_adae_record(ae, subjects[ae["USUBJID"]]) for ae in _records(sdtm["AE"])]
    # AOCCIFL: first by ASEVN descending, ASTDTM, AESEQ among TRTEMFL = "Y"
    for records in _by_subject(rows).values():
        emergent = [r for r in records if r["TRTEMFL"] == "Y"]
        if emergent:
            min(emergent, key=lambda r: order(desc(r["ASEVN"]), r["ASTDTM"], r["AESEQ"]))[
                "AOCCIFL"] = "Y"
    rows.sort(key=lambda r: (r["USUBJID"], r["AESEQ"]))
    columns = list(sdtm["AE"].columns) + list(ADSL_TO_ADAE) + ADAE_DERIVED
    kinds = _kinds(sdtm["AE"], {"ASTDY", "AENDY", "ADURN", "ASEVN"})
    kinds.update(_kinds(adsl))
    return _frame(rows, columns, kinds)


# ------------------------------------------------------------------------------------------
# Shared findings rules (ADLB 3.4, used by ADVS 4.5)


def on_treatment(adt, trtsdt, trtedt, avisit: str) -> str:
    """ONTRTFL (3.4)."""
    if trtsdt is not None and adt is not None:
        if trtsdt < adt and (trtedt is None or adt <= trtedt):
            return "Y"
        if adt == trtsdt and avisit != "Baseline":
            return "Y"
    if adt is None and trtsdt is not None and avisit != "Baseline":
        return "Y"
    return ""


def range_indicator(aval: float, low: float, high: float) -> str:
    """ANRIND (3.4), both sides rounded with 0.6."""
    if _missing(aval):
        return ""
    a = r15(aval)
    lo = None if _missing(low) else r15(low)
    hi = None if _missing(high) else r15(high)
    if ((lo is not None and hi is not None and lo <= a <= hi)
            or (lo is not None and hi is None and a >= lo)
            or (hi is not None and lo is None and a <= hi)):
        return "NORMAL"
    if lo is not None and a < lo:
        return "LOW"
    if hi is not None and a > hi:
        return "HIGH"
    return ""


def _flag_last(records: list[dict], group_of, key_of, flag: str) -> None:
    """Set ``flag`` = "Y" on the last record (0.5) of every group."""
    groups = defaultdict(list)
    for record in records:
        groups[group_of(record)].append(record)
    for members in groups.values():
        max(members, key=key_of)[flag] = "Y"


@functools.lru_cache(maxsize=None)
def _unit(param: str) -> str:
    """3.2: the text inside the last pair of parentheses of PARAM."""
    close = param.rfind(")")
    if close < 0:
        return ""
    depth = 0
    for i in range(close, -1, -1):
        depth += {")": 1, "(": -1}.get(param[i], 0)
        if depth == 0:
            return param[i + 1:close]
    return ""


# ------------------------------------------------------------------------------------------
# ADLB (section 3)


def _lb_record(lb: dict, subject: dict) -> dict:
    """A record of 3.1 item 1: every LB variable plus ADT, PARAMCD ... (3.4)."""
    row = dict(lb)
    paramcd, param, paramn = LB_PARAMETERS[lb["LBTESTCD"]]
    aval = lb["LBSTRESN"]
    if _missing(aval) or lb["LBSTRESC"] != plain_text(aval):
        avalc = lb["LBSTRESC"]
    else:
        avalc = ""
    adt = date_part(lb["LBDTC"])
    row.update({"ADT": adt, "PARAMCD": paramcd, "PARAM": param, "PARAMN": float(paramn),
                "PARCAT1": lb["LBCAT"], "AVAL": _num(aval), "AVALC": avalc,
                "ANRLO": _num(lb["LBSTNRLO"]), "ANRHI": _num(lb["LBSTNRHI"]), "DTYPE": ""})
    return row


def _lb_calculations(rows: list[dict]) -> list[dict]:
    """3.3: BASO = WBC x BASOLE and LYMPH = WBC x LYMPHLE where the absolute count is absent."""
    at = defaultdict(dict)  # (USUBJID, VISIT, VISITNUM, ADT) -> PARAMCD -> [records]
    for row in rows:
        slot = at[(row["USUBJID"], row["VISIT"], row["VISITNUM"], row["ADT"])]
        slot.setdefault(row["PARAMCD"], []).append(row)
    new = []
    for (subject, visit, visitnum, adt), params in at.items():
        for absolute, fraction in LB_CALCULATIONS:
            if absolute in params:
                continue  # a record of the absolute parameter exists, whatever its AVAL
            wbc = [r for r in params.get("WBC", []) if not _missing(r["AVAL"])]
            frac = [r for r in params.get(fraction, []) if not _missing(r["AVAL"])]
            if not wbc or not frac:
                continue
            param, paramn = PARAM_BY_PARAMCD[absolute]
            source = wbc[0]
            new.append({
                "STUDYID": source["STUDYID"], "USUBJID": subject, "DOMAIN": "LB",
                "VISIT": visit, "VISITNUM": visitnum, "ADT": adt,
                "PARAMCD": absolute, "PARAM": param, "PARAMN": float(paramn),
                "PARCAT1": "HEMATOLOGY", "AVAL": wbc[0]["AVAL"] * frac[0]["AVAL"],
                "AVALC": "", "ANRLO": NaN, "ANRHI": NaN, "DTYPE": "CALCULATION",
            })
    return new


def _lb_visit_and_period(row: dict, subject: dict) -> None:
    """AVISIT, AVISITN, ADY, ONTRTFL, ANRIND, BASETYPE, ADSL copies (3.4)."""
    visit = row["VISIT"]
    row["AVISIT"] = "Baseline" if "SCREEN" in visit else title_case(visit)
    row["AVISITN"] = 0.0 if row["AVISIT"] == "Baseline" else _num(row["VISITNUM"])
    for name in ADSL_TO_FINDINGS:
        row[name] = subject[name]
    row["TRTP"], row["TRTA"] = subject["TRT01P"], subject["TRT01A"]
    row["ADY"] = study_day(row["ADT"], subject["TRTSDT"])
    row["ONTRTFL"] = on_treatment(row["ADT"], subject["TRTSDT"], subject["TRTEDT"], row["AVISIT"])
    row["ANRIND"] = range_indicator(row["AVAL"], row["ANRLO"], row["ANRHI"])
    row["BASETYPE"] = "LAST"


def _ratio(a: float, b: float) -> float:
    if _missing(a) or _missing(b) or b == 0:
        return NaN
    return a / b


def _grade_low(paramcd: str, param: str, aval: float, lln: float):
    """ATOXGRL (3.6): the first condition that holds, from left to right."""
    if paramcd not in TOX_LOW or _missing(aval):
        return None
    _, unit, steps = TOX_LOW[paramcd]
    if unit != _unit(param):
        return None
    a = r15(aval)
    lln = None if _missing(lln) else r15(lln)
    for grade, threshold in steps:
        limit = lln if threshold == "LLN" else r15(threshold)
        if limit is not None and a < limit:
            return grade
    if lln is not None and a >= lln:
        return 0
    return None


def _high_limit(threshold, uln):
    if isinstance(threshold, tuple):  # k x ULN: computed first, then rounded (0.6)
        return None if uln is None else r15(threshold[1] * uln)
    return r15(threshold)


def _grade_creatinine(aval: float, uln, base):
    """3.6, creatinine exactly: stop at the first check that holds, skipping checks whose ULN or
    BASE is missing."""
    a = r15(aval)
    checks = [(4, uln, 6), (3, uln, 3), (3, base, 3), (2, uln, 1.5), (2, base, 1.5),
              (1, uln, 1), (1, base, 1)]
    for grade, reference, factor in checks:
        if reference is not None and a > r15(factor * reference):
            return grade
    if uln is not None and base is not None and a <= r15(uln) and a <= r15(base):
        return 0
    return None


def _grade_high(paramcd: str, param: str, aval: float, uln: float, base: float):
    """ATOXGRH (3.6)."""
    if paramcd not in TOX_HIGH or _missing(aval):
        return None
    _, unit, steps, zero = TOX_HIGH[paramcd]
    if unit != _unit(param):
        return None
    uln = None if _missing(uln) else float(uln)
    if paramcd == "CREAT":
        return _grade_creatinine(aval, uln, None if _missing(base) else float(base))
    a = r15(aval)
    for grade, threshold in steps:
        limit = _high_limit(threshold, uln)
        if limit is not None and a > limit:
            return grade
    limit = _high_limit(zero, uln)
    if limit is not None and a <= limit:
        return 0
    return None


def overall_grade(low: str, high: str, has_low: bool, has_high: bool) -> str:
    """ATOXGR (3.4), decided in the order of the plan."""
    if low == "" and high == "":
        return ""
    if low != "" and int(low) >= 1:
        return "-" + low
    if high != "" and int(high) >= 1:
        return high
    if high == "0" and (low == "0" or not has_low):
        return "0"
    if low == "0" and (high == "0" or not has_high):
        return "0"
    return ""


def _lb_baseline(rows: list[dict]) -> None:
    """ABLFL, BASE ... R2ANRHI, grades, BTOX*, SHIFT1/2 per USUBJID and PARAMCD (3.4, 3.6)."""
    groups = defaultdict(list)
    for row in rows:
        groups[(row["USUBJID"], row["PARAMCD"])].append(row)
    for (_, paramcd), members in groups.items():
        for row in members:
            row["ABLFL"] = ""
        candidates = [r for r in members if not _missing(r["AVAL"]) and r["ADT"] is not None
                      and r["TRTSDT"] is not None and r["ADT"] <= r["TRTSDT"]]
        base_row = max(candidates, key=lambda r: order(r["ADT"], r["VISITNUM"], r["LBSEQ"]),
                       default=None)
        if base_row is not None:
            base_row["ABLFL"] = "Y"
        base = base_row["AVAL"] if base_row else NaN
        has_low, has_high = paramcd in TOX_LOW, paramcd in TOX_HIGH
        for row in members:
            aval = row["AVAL"]
            row["BASE"] = base
            row["BASEC"] = base_row["AVALC"] if base_row else ""
            positive_visit = not _missing(row["AVISITN"]) and row["AVISITN"] > 0
            row["CHG"] = aval - base if positive_visit else NaN
            row["PCHG"] = (100 * (aval - base) / abs(base)
                           if positive_visit and not _missing(base) and base != 0 else NaN)
            row["R2BASE"] = _ratio(aval, base)
            row["R2ANRLO"] = _ratio(aval, row["ANRLO"])
            row["R2ANRHI"] = _ratio(aval, row["ANRHI"])
            row["ATOXDSCL"] = TOX_LOW[paramcd][0] if has_low else ""
            row["ATOXDSCH"] = TOX_HIGH[paramcd][0] if has_high else ""
            low = _grade_low(paramcd, row["PARAM"], aval, row["ANRLO"])
            high = _grade_high(paramcd, row["PARAM"], aval, row["ANRHI"], base)
            row["ATOXGRL"] = "" if low is None else str(low)
            row["ATOXGRH"] = "" if high is None else str(high)
            row["ATOXGR"] = overall_grade(row["ATOXGRL"], row["ATOXGRH"], has_low, has_high)
        for row in members:
            row["BNRIND"] = base_row["ANRIND"] if base_row else ""
            for name in ("GRL", "GRH", "GR"):
                row["BTOX" + name] = base_row["ATOX" + name] if base_row else ""
            row["SHIFT1"] = f"{row['BNRIND'] or 'NULL'} to {row['ANRIND'] or 'NULL'}"
            row["SHIFT2"] = (f"{row['BTOXGR'] or 'NULL'} to {row['ATOXGR'] or 'NULL'}"
                             if has_low or has_high else "")


def _lb_extremes(rows: list[dict]) -> list[dict]:
    """3.5: MINIMUM, MAXIMUM and LOV copies of chosen on-treatment records."""
    groups = defaultdict(list)
    for row in rows:
        if row["ONTRTFL"] == "Y":
            groups[(row["USUBJID"], row["PARAMCD"])].append(row)
    new = []
    for members in groups.values():
        valued = [r for r in members if not _missing(r["AVAL"])]
        tie = lambda r: order(r["ADT"], r["AVISITN"], r["LBSEQ"])  # noqa: E731
        chosen = []
        if valued:
            chosen.append(("MINIMUM", "POST-BASELINE MINIMUM", 9997.0,
                           min(valued, key=lambda r: (r["AVAL"],) + tie(r))))
            chosen.append(("MAXIMUM", "POST-BASELINE MAXIMUM", 9998.0,
                           min(valued, key=lambda r: (-r["AVAL"],) + tie(r))))
        chosen.append(("LOV", "POST-BASELINE LAST", 9999.0, max(members, key=tie)))
        for dtype, avisit, avisitn, source in chosen:
            copy = dict(source)
            copy.update({"DTYPE": dtype, "AVISIT": avisit, "AVISITN": avisitn})
            new.append(copy)
    return new


def _number_aseq(rows: list[dict], sort_vars: tuple[str, ...]) -> None:
    """ASEQ per USUBJID in the order of ``sort_vars`` (missing last)."""
    for members in _by_subject(rows).values():
        members.sort(key=lambda r: order(*(r[v] for v in sort_vars)))
        for number, row in enumerate(members, start=1):
            row["ASEQ"] = float(number)


ADLB_DERIVED = [
    "TRTSDT", "TRTEDT", "TRT01P", "TRT01A", "SAFFL", "ADT", "ADY", "PARAMCD", "PARAM", "PARAMN",
    "PARCAT1", "AVAL", "AVALC", "ANRLO", "ANRHI", "AVISIT", "AVISITN", "ONTRTFL", "ANRIND",
    "BASETYPE", "ABLFL", "BASE", "BASEC", "BNRIND", "CHG", "PCHG", "R2BASE", "R2ANRLO", "R2ANRHI",
    "ATOXDSCL", "ATOXDSCH", "ATOXGRL", "ATOXGRH", "ATOXGR", "BTOXGRL", "BTOXGRH", "BTOXGR",
    "SHIFT1", "SHIFT2", "ANL01FL", "LVOTFL", "TRTP", "TRTA", "DTYPE", "ASEQ"]
ADLB_NUMERIC = {"ADY", "PARAMN", "AVAL", "ANRLO", "ANRHI", "AVISITN", "BASE", "CHG", "PCHG",
                "R2BASE", "R2ANRLO", "R2ANRHI", "ASEQ"}


def derive_adlb(sdtm: dict[str, pd.DataFrame], adsl: pd.DataFrame) -> pd.DataFrame:
    """ADLB: LB records, CALCULATION records, then MINIMUM/MAXIMUM/LOV records (section 3)."""
    subjects = {row["USUBJID"]: _py(row) for row in _records(adsl)}
    rows = [_lb_record(lb, subjects[lb["USUBJID"]]) for lb in _records(sdtm["LB"])]
    rows += _lb_calculations(rows)
    for row in rows:
        row.setdefault("LBSEQ", NaN)
        _lb_visit_and_period(row, subjects[row["USUBJID"]])
        row["ANL01FL"] = row["LVOTFL"] = ""
    _lb_baseline(rows)
    # ANL01FL: per USUBJID, PARAMCD, AVISIT, last by ADT, AVAL (missing last), LBSEQ
    _flag_last([r for r in rows if r["ONTRTFL"] == "Y" and not _missing(r["AVISITN"])],
               lambda r: (r["USUBJID"], r["PARAMCD"], r["AVISIT"]),
               lambda r: order(r["ADT"], r["AVAL"], r["LBSEQ"]), "ANL01FL")
    # LVOTFL: per USUBJID, PARAMCD, same order
    _flag_last([r for r in rows if r["ONTRTFL"] == "Y"],
               lambda r: (r["USUBJID"], r["PARAMCD"]),
               lambda r: order(r["ADT"], r["AVAL"], r["LBSEQ"]), "LVOTFL")
    rows += _lb_extremes(rows)
    _number_aseq(rows, ("PARAMCD", "ADT", "AVISITN", "VISITNUM"))
    rows.sort(key=lambda r: (r["USUBJID"], r["ASEQ"]))
    columns = list(sdtm["LB"].columns) + [c for c in ADLB_DERIVED if c not in sdtm["LB"].columns]
    kinds = _kinds(sdtm["LB"], ADLB_NUMERIC)
    kinds.update(_kinds(adsl))
    return _frame(rows, columns, kinds)


# ------------------------------------------------------------------------------------------
# ADVS (section 4)


def _vs_visit(visit: str) -> tuple[str, float]:
    """AVISIT, AVISITN (4.3)."""
    if visit == "" or any(word in visit for word in VS_NO_AVISIT_WORDS):
        avisit = ""
    else:
        avisit = title_case(visit)
    if visit == "BASELINE":
        avisitn = 0.0
    elif "WEEK" in visit:
        match = re.search(r"WEEK\s*(\d+(?:\.\d+)?)", visit)
        avisitn = float(match.group(1)) if match else NaN
    else:
        avisitn = NaN
    return avisit, avisitn


def _vs_derived_parameters(rows: list[dict]) -> list[dict]:
    """4.2: MAP per visit/date/time point, BSA and BMI per WEIGHT record."""
    sources = [r for r in rows if not _missing(r["AVAL"]) and r["VSSTAT"] != "NOT DONE"]
    pressure = defaultdict(dict)
    weights, heights = [], {}
    for r in sources:
        if r["PARAMCD"] in ("SYSBP", "DIABP"):
            slot = (r["USUBJID"], r["VISIT"], r["VISITNUM"], r["ADT"], r["VSTPT"], r["VSTPTNUM"])
            pressure[slot].setdefault(r["PARAMCD"], r)
        elif r["PARAMCD"] == "WEIGHT":
            weights.append(r)
        elif r["PARAMCD"] == "HEIGHT":
            heights.setdefault(r["USUBJID"], r["AVAL"])

    def derived(source: dict, paramcd: str, aval: float, with_time_point: bool) -> dict:
        return {"STUDYID": source["STUDYID"], "USUBJID": source["USUBJID"],
                "VISIT": source["VISIT"], "VISITNUM": source["VISITNUM"], "ADT": source["ADT"],
                "VSTPT": source["VSTPT"] if with_time_point else "",
                "VSTPTNUM": source["VSTPTNUM"] if with_time_point else NaN,
                "PARAMCD": paramcd, "AVAL": aval, "DTYPE": ""}

    new = []
    for pair in pressure.values():
        if "SYSBP" in pair and "DIABP" in pair:
            value = (2 * pair["DIABP"]["AVAL"] + pair["SYSBP"]["AVAL"]) / 3
            new.append(derived(pair["SYSBP"], "MAP", value, True))
    for weight in weights:
        height = heights.get(weight["USUBJID"])
        if height is None:
            continue
        w = weight["AVAL"]
        new.append(derived(weight, "BSA", math.sqrt(height * w / 3600), False))
        new.append(derived(weight, "BMI", w / (height / 100) ** 2 if height != 0 else NaN, False))
    return new


def _vs_parameter_variables(row: dict, subject: dict) -> None:
    """PARAM ... A1HI, ATPT/ATPTN, AVISIT/AVISITN, ADY, ADSL copies, TRTP/TRTA (4.3, 4.5)."""
    param, paramn, anrlo, anrhi, a1lo, a1hi = VS_PARAMETERS[row["PARAMCD"]]
    row.update({"PARAM": param, "PARAMN": float(paramn), "ANRLO": float(anrlo),
                "ANRHI": float(anrhi), "A1LO": float(a1lo), "A1HI": float(a1hi)})
    for name in ADSL_TO_FINDINGS:
        row[name] = subject[name]
    row["TRTP"], row["TRTA"] = subject["TRT01P"], subject["TRT01A"]
    row["ADY"] = study_day(row["ADT"], subject["TRTSDT"])


def _vs_averages(rows: list[dict]) -> list[dict]:
    """4.4: one AVERAGE record per USUBJID, PARAMCD, AVISIT, AVISITN, ADT (non-missing AVAL)."""
    groups = defaultdict(list)
    for r in rows:
        if not _missing(r["AVAL"]):
            avisitn = None if _missing(r["AVISITN"]) else r["AVISITN"]
            groups[(r["USUBJID"], r["PARAMCD"], r["AVISIT"], avisitn, r["ADT"])].append(r)
    new = []
    for (subject, paramcd, avisit, avisitn, adt), members in groups.items():
        values = [m["AVAL"] for m in members]
        new.append({"STUDYID": members[0]["STUDYID"], "USUBJID": subject, "PARAMCD": paramcd,
                    "AVISIT": avisit, "AVISITN": NaN if avisitn is None else avisitn, "ADT": adt,
                    "AVAL": sum(values) / len(values), "DTYPE": "AVERAGE",
                    "VISIT": "", "VISITNUM": NaN, "VSTPT": "", "VSTPTNUM": NaN, "VSSEQ": NaN})
    return new


def _vs_analysis(rows: list[dict]) -> None:
    """ONTRTFL, ANRIND, BASETYPE, ABLFL, BASE, BNRIND, CHG, PCHG, AVALCAT1 (4.5)."""
    for r in rows:
        r["ATPTN"], r["ATPT"] = r["VSTPTNUM"], r["VSTPT"]
        r["ONTRTFL"] = on_treatment(r["ADT"], r["TRTSDT"], r["TRTEDT"], r["AVISIT"])
        r["ANRIND"] = range_indicator(r["AVAL"], r["ANRLO"], r["ANRHI"])
        r["BASETYPE"] = ("LAST" if _missing(r["ATPTN"])
                         else VS_BASETYPE.get(int(r["ATPTN"]), "LAST"))
        r["ABLFL"] = r["ANL01FL"] = ""
        if r["PARAMCD"] == "HEIGHT" and not _missing(r["AVAL"]):
            r["AVALCAT1"], r["AVALCA1N"] = ((">100 cm", 1.0) if r["AVAL"] > 100
                                            else ("<=100 cm", 2.0))
        else:
            r["AVALCAT1"], r["AVALCA1N"] = "", NaN
    groups = defaultdict(list)
    for r in rows:
        groups[(r["USUBJID"], r["PARAMCD"], r["BASETYPE"])].append(r)
    for members in groups.values():
        candidates = [r for r in members if r["DTYPE"] == "" and not _missing(r["AVAL"])
                      and r["ADT"] is not None and r["TRTSDT"] is not None
                      and r["ADT"] <= r["TRTSDT"]]
        base_row = max(candidates, key=lambda r: order(r["ADT"], r["VISITNUM"], r["VSSEQ"]),
                       default=None)
        if base_row is not None:
            base_row["ABLFL"] = "Y"
        base = base_row["AVAL"] if base_row else NaN
        for r in members:
            r["BASE"] = base
            r["BNRIND"] = base_row["ANRIND"] if base_row else ""
            positive_visit = not _missing(r["AVISITN"]) and r["AVISITN"] > 0
            r["CHG"] = r["AVAL"] - base if positive_visit else NaN
            r["PCHG"] = (100 * (r["AVAL"] - base) / abs(base)
                         if positive_visit and not _missing(base) and base != 0 else NaN)
    # ANL01FL: per USUBJID, PARAMCD, AVISIT, ATPT, DTYPE; last by ADT, AVAL, VSSEQ
    _flag_last([r for r in rows if r["ONTRTFL"] == "Y" and not _missing(r["AVISITN"])],
               lambda r: (r["USUBJID"], r["PARAMCD"], r["AVISIT"], r["ATPT"], r["DTYPE"]),
               lambda r: order(r["ADT"], r["AVAL"], r["VSSEQ"]), "ANL01FL")


def _vs_end_of_treatment(rows: list[dict]) -> list[dict]:
    """4.6: per USUBJID, PARAMCD, ATPTN, the last Week 6-12 ANL01FL record, copied as LOV."""
    low, high = VS_EOT_WINDOW
    groups = defaultdict(list)
    for r in rows:
        if (r["DTYPE"] == "" and r["ANL01FL"] == "Y" and not _missing(r["AVISITN"])
                and low < r["AVISITN"] <= high):
            atptn = None if _missing(r["ATPTN"]) else r["ATPTN"]
            groups[(r["USUBJID"], r["PARAMCD"], atptn)].append(r)
    new = []
    for members in groups.values():
        copy = dict(max(members, key=lambda r: order(r["ADT"], r["AVISITN"], r["AVAL"])))
        copy.update({"AVISIT": "End of Treatment", "AVISITN": 99.0, "DTYPE": "LOV"})
        new.append(copy)
    return new


ADVS_DERIVED = [
    "TRTSDT", "TRTEDT", "TRT01P", "TRT01A", "SAFFL", "ADT", "ADY", "PARAMCD", "PARAM", "PARAMN",
    "AVAL", "ATPTN", "ATPT", "AVISIT", "AVISITN", "ONTRTFL", "ANRLO", "ANRHI", "A1LO", "A1HI",
    "ANRIND", "BASETYPE", "ABLFL", "BASE", "BNRIND", "CHG", "PCHG", "ANL01FL", "AVALCAT1",
    "AVALCA1N", "TRTP", "TRTA", "DTYPE", "ASEQ"]
ADVS_NUMERIC = {"ADY", "PARAMN", "AVAL", "ATPTN", "AVISITN", "ANRLO", "ANRHI", "A1LO", "A1HI",
                "BASE", "CHG", "PCHG", "AVALCA1N", "ASEQ"}


def derive_advs(sdtm: dict[str, pd.DataFrame], adsl: pd.DataFrame) -> pd.DataFrame:
    """ADVS: VS records, MAP/BSA/BMI, AVERAGE and End of Treatment (LOV) records (section 4)."""
    subjects = {row["USUBJID"]: _py(row) for row in _records(adsl)}
    rows = []
    for vs in _records(sdtm["VS"]):
        row = dict(vs)
        row.update({"ADT": date_part(vs["VSDTC"]), "PARAMCD": vs["VSTESTCD"],
                    "AVAL": _num(vs["VSSTRESN"]), "DTYPE": ""})
        rows.append(row)
    rows += _vs_derived_parameters(rows)
    for row in rows:
        row["AVISIT"], row["AVISITN"] = _vs_visit(row["VISIT"])
    rows += _vs_averages(rows)
    for row in rows:
        row.setdefault("VSSEQ", NaN)
        _vs_parameter_variables(row, subjects[row["USUBJID"]])
    _vs_analysis(rows)
    rows += _vs_end_of_treatment(rows)
    _number_aseq(rows, ("PARAMCD", "ADT", "AVISITN", "VISITNUM", "ATPTN", "DTYPE"))
    rows.sort(key=lambda r: (r["USUBJID"], r["ASEQ"]))
    columns = list(sdtm["VS"].columns) + [c for c in ADVS_DERIVED if c not in sdtm["VS"].columns]
    kinds = _kinds(sdtm["VS"], ADVS_NUMERIC)
    kinds.update(_kinds(adsl))
    return _frame(rows, columns, kinds)


def derive_all(source) -> dict[str, pd.DataFrame]:
    """The four datasets from an SDTM folder or zip."""
    sdtm = read_sdtm(source)
    adsl = derive_adsl(sdtm)
    return {"ADSL": adsl, "ADAE": derive_adae(sdtm, adsl), "ADLB": derive_adlb(sdtm, adsl),
            "ADVS": derive_advs(sdtm, adsl)}


# ------------------------------------------------------------------------------------------
# Building the frames


def _py(row: dict) -> dict:
    """An ADSL frame row back to plain values (dates stay dates, None for a missing date)."""
    return {k: (None if (k in DATE_VARS or k in DATETIME_VARS) and _missing(v) else v)
            for k, v in row.items()}


def _kinds(frame: pd.DataFrame, numeric: set[str] = frozenset()) -> dict[str, str]:
    """Column kind: "num", "text", "date" or "datetime"."""
    kinds = {}
    for name in frame.columns:
        if name in DATE_VARS:
            kinds[name] = "date"
        elif name in DATETIME_VARS:
            kinds[name] = "datetime"
        elif pd.api.types.is_numeric_dtype(frame[name]):
            kinds[name] = "num"
        else:
            kinds[name] = "text"
    for name in numeric:
        kinds[name] = "num"
    for name in DATE_VARS:
        kinds.setdefault(name, "date")
    for name in DATETIME_VARS:
        kinds.setdefault(name, "datetime")
    return kinds


def _frame(rows: list[dict], columns: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    """A frame with exactly ``columns``; a variable a record lacks is missing (0.9)."""
    frame = pd.DataFrame(rows, columns=columns, dtype=object)  # no type inference
    for name in columns:
        kind = kinds.get(name, "text")
        column = frame[name]
        present = column.notna() & (column != "")
        if kind == "num":
            frame[name] = pd.to_numeric(column.where(present, NaN)).astype(float)
        elif kind in ("date", "datetime"):
            frame[name] = column.where(present, None)
        else:
            frame[name] = column.where(present, "")
    return frame
