"""Independent QC derivation of ADSL, ADLB and ADAE from the SDTM transport files.

A second programmer's version, written from the SAP (shared/study/sap.md) and the variable
definitions of specs/hetrombopag-itp/adam/*.yaml, never from the package's code: it must NOT import the
production package (tests/qc/test_qc.py checks that). It reads

- the SDTM XPT files of an output folder with pyreadstat (not pandas.read_sas, which reads
  an IBM zero as 5.4e-79 and would turn a 0 mg dose into a dose above 0);
- the SAP parameters (cut-off, windows, thresholds, grades, imputation rules ...) from
  specs/hetrombopag-itp/study.yaml with plain yaml;
- names, labels, types and formats of the ADaM variables from specs/hetrombopag-itp/adam/*.yaml.

Style on purpose different from production: records are plain dicts, dates are
``datetime.date``, and every rule is a loop over subjects or records.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyreadstat
import yaml

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs" / "hetrombopag-itp"
ADAM_DATASETS = ("ADSL", "ADLB", "ADAE")


# ------------------------------------------------------------------------------------------
# Inputs


def load_study(specs_dir: Path = SPECS_DIR) -> dict:
    """study.yaml as a plain dict (the cut-off as a date)."""
    with open(Path(specs_dir) / "study.yaml", encoding="utf-8") as fh:
        study = yaml.safe_load(fh)
    cutoff = study["cutoff_date"]
    if not isinstance(cutoff, dt.date):
        cutoff = dt.date.fromisoformat(str(cutoff))
    study["cutoff_date"] = cutoff
    return study


def load_adam_spec(name: str, specs_dir: Path = SPECS_DIR) -> dict:
    """One ADaM dataset spec (name, label, keys, variables) as a plain dict."""
    with open(Path(specs_dir) / "adam" / f"{name.lower()}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_sdtm(folder: Path) -> dict[str, list[dict]]:
    """Every SDTM XPT file of ``folder`` as a list of records (missing numbers as None).

    The values are what ``frame.to_dict("records")`` gives (Python str, float, date), taken a
    column at a time as Python objects: iterating a text column value by value is slow."""
    domains = {}
    for path in sorted(Path(folder).glob("*.xpt")):
        frame, _ = pyreadstat.read_xport(path)
        names = list(frame.columns)
        columns = [[None if isinstance(value, float) and math.isnan(value) else value
                    for value in frame[name].to_numpy(dtype=object).tolist()] for name in names]
        domains[path.stem.upper()] = [dict(zip(names, row)) for row in zip(*columns)]
    return domains


def by_subject(records: list[dict]) -> dict[str, list[dict]]:
    groups = defaultdict(list)
    for record in records:
        groups[record["USUBJID"]].append(record)
    return groups


# ------------------------------------------------------------------------------------------
# Dates


def split_dtc(dtc: str | None) -> tuple[int | None, int | None, int | None, str]:
    """Year, month, day (None when not collected) and the time text of an ISO 8601 value."""
    if not dtc:
        return None, None, None, ""
    date_part, _, time_part = dtc.partition("T")
    pieces = date_part.split("-")
    numbers = [int(p) for p in pieces if p]
    numbers += [None] * (3 - len(numbers))
    return numbers[0], numbers[1], numbers[2], time_part


def full_date(dtc: str | None) -> dt.date | None:
    """The date of a complete ISO 8601 date (time ignored); None when partial or blank."""
    year, month, day, _ = split_dtc(dtc)
    if year is None or month is None or day is None:
        return None
    return dt.date(year, month, day)


def impute(dtc: str | None, month_rule, day_rule) -> tuple[dt.date | None, str]:
    """Impute a partial date as the SAP says; returns the date and the flag ("", "D", "M").

    ``month_rule`` (missing month and day): first, last, mid or "MM-DD";
    ``day_rule`` (missing day only): first, last, mid or a day number."""
    year, month, day, _ = split_dtc(dtc)
    if year is None:
        return None, ""
    if month is not None and day is not None:
        return dt.date(year, month, day), ""
    if month is not None:
        last = calendar.monthrange(year, month)[1]
        if day_rule == "first":
            new_day = 1
        elif day_rule == "last":
            new_day = last
        elif day_rule == "mid":
            new_day = 15
        else:
            new_day = min(int(day_rule), last)
        return dt.date(year, month, new_day), "D"
    if month_rule == "first":
        return dt.date(year, 1, 1), "M"
    if month_rule == "last":
        return dt.date(year, 12, 31), "M"
    if month_rule == "mid":
        return dt.date(year, 6, 30), "M"
    mm, dd = str(month_rule).split("-")
    return dt.date(year, int(mm), int(dd)), "M"


def study_day(date: dt.date | None, reference: dt.date | None) -> float | None:
    """SAP "Dates": date - reference + 1 on or after the reference, date - reference before."""
    if date is None or reference is None:
        return None
    days = (date - reference).days
    return float(days + 1 if days >= 0 else days)


def number(text: str | None) -> float | None:
    """A standard result as a number: "<5" and ">5" give 5; text results give None."""
    if text is None:
        return None
    text = text.strip()
    if text[:1] in ("<", ">"):
        text = text[1:].strip()
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def last_by(records: list[dict], order: list[str]) -> dict | None:
    """The last record when sorted ascending by the variables of ``order`` (text or number)."""
    if not records:
        return None
    ordered = list(records)
    for name in reversed(order):  # stable sorts, least important key first
        ordered.sort(key=lambda r: (r[name] is not None, r[name] if r[name] is not None else 0))
    return ordered[-1]


def baseline_record(records: list[dict], date_var: str, value: str, reference: dt.date | None,
                    lookback: int, order: list[str]) -> dict | None:
    """SAP "Baseline": the last record with a value dated on or before the reference and at
    most ``lookback`` days before it (ties: last by ``order``)."""
    if reference is None:
        return None
    candidates = []
    for record in records:
        date = full_date(record[date_var])
        if record[value] is None or date is None:
            continue
        if reference - dt.timedelta(days=lookback) <= date <= reference:
            candidates.append(record)
    if not candidates:
        return None
    latest = max(full_date(r[date_var]) for r in candidates)
    return last_by([r for r in candidates if full_date(r[date_var]) == latest], order)


# ------------------------------------------------------------------------------------------
# ADSL


def derive_adsl(sdtm: dict[str, list[dict]], study: dict) -> list[dict]:
    """One record per DM subject: populations, treatment dates and dose, diagnosis and disease
    phase, baseline platelets and WHO grade, end of treatment."""
    cutoff = study["cutoff_date"]
    dose_above = study["dose_above"]
    per_month = study["days_per_month"]
    lookback = study["baseline"]["lookback_days"]
    lab_order = study["baseline"]["tie_order"]
    diag_rule = study["imputation"]["diagnosis"]
    cuts = study["itp_phase"]["cut_months"]
    phase_labels = study["itp_phase"]["labels"]
    ex = by_subject(sdtm["EX"])
    mh = by_subject(sdtm["MH"])
    lb = by_subject(sdtm["LB"])
    rs = by_subject(sdtm["RS"])
    ds = by_subject(sdtm["DS"])

    adsl = []
    for dm in sdtm["DM"]:
        subject = dm["USUBJID"]
        row = {name: dm[name] for name in ("STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE",
                                           "AGEU", "SEX", "RACE", "ETHNIC", "ARM", "ACTARM")}
        row["TRT01P"], row["TRT01A"] = dm["ARM"], dm["ACTARM"]  # one period, one arm
        row["ENRLFL"] = "Y"

        # Treatment: periods with a dose above dose_above
        dosed = [e for e in ex.get(subject, []) if e["EXDOSE"] is not None
                 and e["EXDOSE"] > dose_above]
        trtsdt = trtedt = dose = None
        if dosed:
            dosed.sort(key=lambda e: (full_date(e["EXSTDTC"]), e["EXSEQ"]))
            first, last = dosed[0], dosed[-1]
            trtsdt = full_date(first["EXSTDTC"])
            dose = first["EXDOSE"]
            end = full_date(last["EXENDTC"])
            trtedt = cutoff if end is None or end > cutoff else end
        row["SAFFL"] = "Y" if dosed else "N"
        row["TRTSDT"], row["TRTEDT"], row["DOSESTRT"] = trtsdt, trtedt, dose
        if trtsdt is not None and trtedt is not None:
            row["TRTDURD"] = float((trtedt - trtsdt).days + 1)
            row["TRTDURM"] = row["TRTDURD"] / per_month
        else:
            row["TRTDURD"] = row["TRTDURM"] = None

        # ITP diagnosis and disease phase
        diagnosis = [m for m in mh.get(subject, []) if m["MHCAT"] == "PRIMARY DIAGNOSIS"]
        diagnosis.sort(key=lambda m: m["MHSEQ"])
        diagdtc = diagnosis[0]["MHSTDTC"] if diagnosis else None
        row["DIAGDT"], row["DIAGDTF"] = impute(diagdtc, diag_rule["date_imputation"],
                                               diag_rule["day_imputation"])
        if row["DIAGDT"] is not None and trtsdt is not None:
            months = (trtsdt - row["DIAGDT"]).days / per_month
            phase = sum(1 for cut in cuts if months > cut)
            row["ITPDURM"] = months
            row["ITPPHASE"], row["ITPPHASN"] = phase_labels[phase], float(phase + 1)
        else:
            row["ITPDURM"], row["ITPPHASE"], row["ITPPHASN"] = None, "", None

        # Baselines: platelets (LB) and WHO bleeding grade (RS)
        platelets = []
        for record in lb.get(subject, []):
            if record["LBTESTCD"] == "PLAT":
                platelets.append(dict(record, VALUE=number(record["LBSTRESC"])))
        base = baseline_record(platelets, "LBDTC", "VALUE", trtsdt, lookback, lab_order)
        row["BASEPLAT"] = base["VALUE"] if base else None
        grades = [r for r in rs.get(subject, []) if r["RSTESTCD"] == "WHOBLGR"]
        base = baseline_record(grades, "RSDTC", "RSSTRESN", trtsdt, lookback, ["RSDTC", "RSSEQ"])
        row["WHOGRBL"] = base["RSSTRESN"] if base else None
        row["FASFL"] = "Y" if row["SAFFL"] == "Y" and row["BASEPLAT"] is not None else "N"

        # End of treatment: no disposition record by the cut-off means still on treatment
        events = [d for d in ds.get(subject, []) if d["DSCAT"] == "DISPOSITION EVENT"]
        event = events[0] if events else None
        if event is None or event["DSDECOD"] == "ONGOING":
            row["EOTSTT"], row["DCTREAS"], row["DCTDT"] = "ONGOING", "", None
        else:
            row["EOTSTT"], row["DCTREAS"] = "DISCONTINUED", event["DSDECOD"]
            row["DCTDT"] = full_date(event["DSSTDTC"])
        adsl.append(row)
    return adsl


# ------------------------------------------------------------------------------------------
# ADLB

PARAM_NAMES = {"PLAT": "Platelet count", "ALT": "Alanine aminotransferase",
               "AST": "Aspartate aminotransferase", "BILI": "Total bilirubin"}
PARAM_NUMBERS = {"PLAT": 1.0, "ALT": 2.0, "AST": 3.0, "BILI": 4.0}


def meets(value: float, operator: str, threshold: float) -> bool:
    if operator == ">=":
        return value >= threshold
    if operator == ">":
        return value > threshold
    if operator == "<=":
        return value <= threshold
    if operator == "<":
        return value < threshold
    raise ValueError(f"unknown operator {operator!r}")


def significant(x: float) -> float:
    """x rounded to 15 significant digits (values and limits are compared so, SAP 0.6-style)."""
    return float(f"{x:.15g}")


def check_holds(check: str, value: float, limits: dict[str, float | None]) -> bool:
    """One check of the criteria table ("< 1.5", "> ULN", "> 3 x ULN"); a missing limit
    makes it not hold."""
    words = check.split()
    operator, operand = words[0], words[1:]
    if operand[-1] in limits:
        limit = limits[operand[-1]]
        if limit is None:
            return False
        times = float(operand[0]) if len(operand) == 3 and operand[1] == "x" else 1.0
        threshold = significant(times * limit)
    else:
        threshold = significant(float(operand[0]))
    return meets(significant(value), operator, threshold)


def toxicity_grade(value: float | None, limits: dict[str, float | None], unit: str,
                   criteria: dict) -> str:
    """The grade of the first entry of the criteria whose checks all hold ("" without value,
    in another unit, or when none holds)."""
    if value is None or unit != criteria["unit"]:
        return ""
    for entry in criteria["grades"]:
        if all(check_holds(check.strip(), value, limits) for check in entry["when"].split(" and ")):
            return str(entry["grade"])
    return ""


def derive_adlb(sdtm: dict[str, list[dict]], adsl: list[dict], study: dict) -> list[dict]:
    """One record per LB record of the four analysed tests, with baseline, analysis visit,
    analysis record flag, response criteria and toxicity grade."""
    units = study["unit_conversion"]["standard_units"]
    lookback = study["baseline"]["lookback_days"]
    base_order = study["baseline"]["tie_order"]
    windows = study["analysis_windows"]
    first_day = windows["first_post_baseline_day"]
    pick_order = study["analysis_record"]["tie_order"]
    response = study["response"]
    grading = study["toxicity_grading"]["table"]["high"]  # the study grades only "high"
    subjects = {s["USUBJID"]: s for s in adsl}

    groups = defaultdict(list)
    for lb in sdtm["LB"]:
        if lb["LBTESTCD"] not in PARAM_NAMES:
            continue
        subject = subjects[lb["USUBJID"]]
        trtsdt = subject["TRTSDT"]
        adt = full_date(lb["LBDTC"])
        row = {name: subject[name] for name in ("STUDYID", "TRTSDT", "TRTEDT", "SAFFL", "FASFL",
                                                "ITPPHASE", "ITPPHASN")}
        row["TRTP"], row["TRTA"] = subject["TRT01P"], subject["TRT01A"]  # the only period
        row.update(USUBJID=lb["USUBJID"], PARAMCD=lb["LBTESTCD"],
                   PARAM=f"{PARAM_NAMES[lb['LBTESTCD']]} ({units[lb['LBTESTCD']]})",
                   PARAMN=PARAM_NUMBERS[lb["LBTESTCD"]], LBSEQ=lb["LBSEQ"], LBDTC=lb["LBDTC"],
                   VISIT=lb["VISIT"], VISITNUM=lb["VISITNUM"], ADT=adt,
                   ADY=study_day(adt, trtsdt), AVAL=number(lb["LBSTRESC"]),
                   AVALC=lb["LBSTRESC"], ANRLO=lb["LBSTNRLO"], ANRHI=lb["LBSTNRHI"],
                   SRCDOM="LB", SRCSEQ=lb["LBSEQ"], _UNIT=(lb["LBSTRESU"] or "").strip())
        row.update(AVISIT="", AVISITN=None, AWTARGET=None, AWLO=None, AWHI=None, ABLFL="",
                   ANL01FL="")
        if row["ADY"] is not None and row["ADY"] >= first_day:
            for window in windows["windows"]:
                if window["lo"] <= row["ADY"] <= window["hi"]:
                    row.update(AVISIT=window["avisit"], AVISITN=float(window["avisitn"]),
                               AWTARGET=float(window["target"]), AWLO=float(window["lo"]),
                               AWHI=float(window["hi"]))
                    break
        groups[(row["USUBJID"], row["PARAMCD"])].append(row)

    adlb = []
    for (usubjid, paramcd), rows in groups.items():
        trtsdt = subjects[usubjid]["TRTSDT"]
        base = baseline_record(rows, "LBDTC", "AVAL", trtsdt, lookback, base_order)
        if base is not None:
            base["ABLFL"] = "Y"
            base["AVISIT"] = windows["baseline_avisit"]
            base["AVISITN"] = float(windows["baseline_avisitn"])
            base["ANL01FL"] = "Y"
        base_value = base["AVAL"] if base else None

        by_visit = defaultdict(list)
        for row in rows:
            if row["AVISIT"] and row["ABLFL"] != "Y" and row["AVAL"] is not None:
                by_visit[row["AVISITN"]].append(row)
        for candidates in by_visit.values():
            # closest to the target; equally close: the later day; same day: tie_order
            for name, direction in reversed(pick_order):
                candidates.sort(key=lambda r: r[name], reverse=direction == "desc")
            candidates.sort(key=lambda r: -r["ADY"])
            candidates.sort(key=lambda r: abs(r["ADY"] - r["AWTARGET"]))
            candidates[0]["ANL01FL"] = "Y"

        for row in rows:
            row["BASE"] = base_value
            row["CHG"] = row["PCHG"] = None
            if row["AVAL"] is not None and base_value is not None:
                row["CHG"] = row["AVAL"] - base_value
                if base_value != 0:
                    row["PCHG"] = 100 * row["CHG"] / base_value
            for number_, criterion in enumerate(response["criteria"], start=1):
                # evaluated (text and flag) only on records of the parameter with a value:
                # docs/adam.md "platelets with AVAL"; the SAP is silent on missing values
                text, flag = "", ""
                if paramcd == response["parameter"] and row["AVAL"] is not None:
                    text = criterion["label"]
                    ok = meets(row["AVAL"], criterion["operator"], criterion["threshold"])
                    flag = "Y" if ok else "N"
                row[f"CRIT{number_}"], row[f"CRIT{number_}FL"] = text, flag
            row["ATOXGR"] = ""
            if paramcd in grading:
                limits = {"LLN": row["ANRLO"], "ULN": row["ANRHI"], "BASE": row["BASE"]}
                row["ATOXGR"] = toxicity_grade(row["AVAL"], limits, row.pop("_UNIT"),
                                               grading[paramcd])
            row.pop("_UNIT", None)
            adlb.append(row)
    number_within_subject(adlb, lambda r: (r["PARAMCD"], r["ADT"] is None,
                                           r["ADT"] or dt.date.min, r["SRCSEQ"]))
    return adlb


def number_within_subject(records: list[dict], key) -> None:
    """ASEQ: 1, 2, ... within each subject, records taken in the order of ``key``."""
    for rows in by_subject(records).values():
        for number, row in enumerate(sorted(rows, key=key), start=1):
            row["ASEQ"] = float(number)


# ------------------------------------------------------------------------------------------
# ADAE


def derive_adae(sdtm: dict[str, list[dict]], adsl: list[dict], study: dict) -> list[dict]:
    """One record per AE: imputed start and end, study days, duration, TRTEMFL, HEPATFL."""
    cutoff = study["cutoff_date"]
    start_rule = study["imputation"]["start"]
    end_rule = study["imputation"]["end"]
    window = study["trtemfl_window_days"]
    hepatic_soc = set(study["hepatic_terms"]["soc"])
    hepatic_pt = set(study["hepatic_terms"]["pt"])
    subjects = {s["USUBJID"]: s for s in adsl}

    adae = []
    for ae in sdtm["AE"]:
        subject = subjects[ae["USUBJID"]]
        trtsdt, trtedt = subject["TRTSDT"], subject["TRTEDT"]
        row = {name: ae[name] for name in ("STUDYID", "USUBJID", "AESEQ", "AETERM", "AEDECOD",
                                           "AEBODSYS", "AESER", "AEREL", "AEACN", "AEOUT",
                                           "AESTDTC", "AEENDTC")}
        row.update({name: subject[name] for name in ("TRTSDT", "TRTEDT", "SAFFL", "ITPPHASE")})
        row["TRTP"], row["TRTA"] = subject["TRT01P"], subject["TRT01A"]  # the only period

        start, start_flag = impute(ae["AESTDTC"], start_rule["date_imputation"],
                                   start_rule["day_imputation"])
        if start_flag and trtsdt is not None and start_rule.get("min_first_dose"):
            year, month, _, _ = split_dtc(ae["AESTDTC"])
            if year == trtsdt.year and (month is None or month == trtsdt.month):
                start = trtsdt
        own_end = full_date(ae["AEENDTC"])
        if start_flag and start_rule.get("max_own_end") and own_end is not None and start > own_end:
            start = own_end
        end, end_flag = impute(ae["AEENDTC"], end_rule["date_imputation"],
                               end_rule["day_imputation"])
        if end_flag and end_rule.get("max_cutoff") and end > cutoff:
            end = cutoff
        row.update(ASTDT=start, ASTDTF=start_flag, AENDT=end, AENDTF=end_flag,
                   ASTDY=study_day(start, trtsdt), AENDY=study_day(end, trtsdt))
        row["ADURN"] = float((end - start).days + 1) if start and end else None
        emergent = (start is not None and trtsdt is not None and trtedt is not None
                    and trtsdt <= start <= trtedt + dt.timedelta(days=window))
        row["TRTEMFL"] = "Y" if emergent else ""
        row["ATOXGR"] = ae["AETOXGR"]
        hepatic = ae["AEBODSYS"] in hepatic_soc or ae["AEDECOD"] in hepatic_pt
        row["HEPATFL"] = "Y" if hepatic else ""
        row["SRCDOM"], row["SRCSEQ"] = "AE", ae["AESEQ"]
        adae.append(row)
    number_within_subject(adae, lambda r: r["AESEQ"])  # one record per AE: AE order
    return adae


# ------------------------------------------------------------------------------------------
# Frames and metadata


def derive_all(sdtm_folder: Path, specs_dir: Path = SPECS_DIR) -> dict[str, pd.DataFrame]:
    """QC ADSL, ADLB and ADAE from the SDTM files of ``sdtm_folder``, as frames whose
    columns are the spec's variables in spec order."""
    study = load_study(specs_dir)
    sdtm = read_sdtm(sdtm_folder)
    adsl = derive_adsl(sdtm, study)
    records = {"ADSL": adsl, "ADLB": derive_adlb(sdtm, adsl, study),
               "ADAE": derive_adae(sdtm, adsl, study)}
    frames = {}
    for name, rows in records.items():
        spec = load_adam_spec(name, specs_dir)
        columns = {}
        for variable in spec["variables"]:
            values = [row[variable["name"]] for row in rows]
            is_date = str(variable.get("format") or "").upper().startswith("DATE")
            if variable["type"] == "Num" and not is_date:  # numbers: None -> NaN
                values = pd.Series([math.nan if v is None else v for v in values], dtype="float64")
            else:  # text, and dates as datetime.date (None when missing)
                values = pd.Series(values, dtype=object)
            columns[variable["name"]] = values
        frames[name] = pd.DataFrame(columns)
    return frames


def expected_metadata(name: str, frame: pd.DataFrame, specs_dir: Path = SPECS_DIR) -> dict:
    """What the transport file should say about each variable: the spec's label, type and
    format, and the trimmed length (longest value in bytes, at least 1; numbers 8)."""
    spec = load_adam_spec(name, specs_dir)
    variables = {}
    for variable in spec["variables"]:
        if variable["type"] == "Char":
            longest = max((len(str(v).rstrip(" ").encode("utf-8")) for v in frame[variable["name"]]
                           if v is not None), default=0)
            length = max(longest, 1)
        else:
            length = 8
        variables[variable["name"]] = {"type": variable["type"], "label": variable["label"],
                                       "length": length,
                                       "format": str(variable.get("format") or "")}
    return {"name": spec["name"], "label": spec["label"], "keys": list(spec["keys"]),
            "variables": variables}
