"""An independent, deliberately plain calculation of the published figures from a raw CSV
export: csv module, datetime and dicts, record by record. It shares no code with the
package or the simulator, so agreement between them is a real double programming check.

It follows shared/study/sap.md literally; the numbers below are typed from it."""

from __future__ import annotations

import csv
import datetime as dt
import statistics
from pathlib import Path

CUTOFF = dt.date(2025, 4, 14)
MONTH_DAYS = 30.4375
FACTOR = {"10^9/L": 1, "x10E9/L": 1, "10^3/uL": 1, "/uL": 0.001, "10^4/uL": 10}
WINDOWS = [  # (week, target, lo, hi) for the weeks of the published table
    (6, 43, 37, 50), (12, 85, 72, 99), (16, 113, 100, 127), (24, 169, 156, 191)]


def _rows(folder: Path, form: str) -> list[dict]:
    with open(folder / f"{form}.csv", newline="", encoding="utf-8-sig") as fh:
        rows = [tuple(sorted(r.items())) for r in csv.DictReader(fh)]
    unique = list(dict.fromkeys(rows))  # exact duplicate rows count once
    return [dict(r) for r in unique]


def _date(text: str) -> dt.date:
    return dt.datetime.strptime(text.strip().title(), "%d %b %Y").date()


def _diag(text: str) -> dt.date:
    day, mon, year = text.split()
    if mon == "UNK":
        return dt.date(int(year), 7, 1)
    if day == "UN":
        return _date(f"15 {mon} {year}")
    return _date(text)


def _study_day(d: dt.date, ref: dt.date) -> int:
    delta = (d - ref).days
    return delta + 1 if delta >= 0 else delta


def calculate(folder: Path) -> dict:
    folder = Path(folder)
    dm = {r["SUBJID"]: r for r in _rows(folder, "DM")}
    # treatment from the dosing log, within the cut-off
    start, end, first_dose = {}, {}, {}
    for r in _rows(folder, "EXPOSURE"):
        s = r["SUBJID"]
        if s not in dm or float(r["DOSE"]) <= 0:
            continue
        st = _date(r["EXSTDAT"])
        if st > CUTOFF:
            continue
        en = _date(r["EXENDAT"]) if r["EXENDAT"] else CUTOFF
        en = min(en, CUTOFF)
        if s not in start or st < start[s]:
            start[s], first_dose[s] = st, float(r["DOSE"])
        end[s] = max(end.get(s, en), en)
    phase, itp_months = {}, {}
    for r in _rows(folder, "ITPHX"):
        s = r["SUBJID"]
        m = (start[s] - _diag(r["DIAGDAT"])).days / MONTH_DAYS
        itp_months[s] = m
        phase[s] = "Newly diagnosed" if m <= 3 else "Persistent" if m <= 12 else "Chronic"
    # platelets
    plat: dict[str, list] = {}
    for r in _rows(folder, "LAB"):
        s = r["SUBJID"]
        if r["LBTEST"] != "Platelet count" or s not in start:
            continue
        d = _date(r["LBDAT"])
        if d > CUTOFF:
            continue
        res = r["LBORRES"].lstrip("<>")
        try:
            value = float(res) * FACTOR[r["LBORRESU"]]
        except (ValueError, KeyError):
            continue  # text result or unknown unit: never an assessment
        plat.setdefault(s, []).append((d, r["LBTIM"], value))
    baseline, visit_value = {}, {}
    for s, recs in plat.items():
        pre = [x for x in recs if start[s] - dt.timedelta(days=28) <= x[0] <= start[s]]
        if pre:
            baseline[s] = max(pre, key=lambda x: (x[0], x[1]))[2]
        for week, target, lo, hi in WINDOWS:
            inwin = [x for x in recs if lo <= _study_day(x[0], start[s]) <= hi]
            if inwin:
                best = min(inwin, key=lambda x: (abs(_study_day(x[0], start[s]) - target),
                                                 -_study_day(x[0], start[s]), _neg_time(x[1])))
                visit_value[(s, week)] = best[2]
    fas = [s for s in dm if s in start and s in baseline]
    response = {}
    for crit, cut in (("CRIT1", 30), ("CRIT2", 100)):
        for week, *_ in WINDOWS:
            for group in ("All", "Newly diagnosed", "Persistent", "Chronic"):
                vals = [visit_value[(s, week)] for s in fas if (s, week) in visit_value
                        and (group == "All" or phase[s] == group)]
                response[(crit, group, week)] = (sum(v >= cut for v in vals), len(vals))
    # baseline bleeding grade
    who = {}
    for r in _rows(folder, "BLEED"):
        s = r["SUBJID"]
        if s not in start:
            continue
        d = _date(r["ASMDAT"])
        if start[s] - dt.timedelta(days=28) <= d <= start[s] and (s not in who or d >= who[s][0]):
            who[s] = (d, int(r["WHOGR"]))
    dur_months = [((end[s] - start[s]).days + 1) / MONTH_DAYS for s in dm]
    return {
        "n": len(dm),
        "age_median": statistics.median(int(r["AGE"]) for r in dm.values()),
        "female": sum(r["SEX"] == "Female" for r in dm.values()),
        "baseplat_median": statistics.median(baseline[s] for s in dm),
        "itpdur_median": statistics.median(itp_months[s] for s in dm),
        "phase_counts": {p: sum(phase[s] == p for s in dm) for p in ("Newly diagnosed", "Persistent", "Chronic")},
        "who_counts": {g: sum(1 for s in dm if s in who and who[s][1] == g) for g in range(5)},
        "doses": [first_dose[s] for s in dm],
        "trtdur_months": dur_months,
        "response": response,
    }


def _neg_time(t: str) -> tuple:
    """Sort key making a later time come first (blank counts as earliest)."""
    if not t:
        return (1,)
    h, m = t.split(":")
    return (0, -(int(h) * 60 + int(m)))
