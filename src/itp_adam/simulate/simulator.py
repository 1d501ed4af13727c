"""Study simulator: a synthetic raw export of the hetrombopag ITP study, from a seed.

The simulator works *truth first*:

1. It fixes what every subject is meant to show once the SAP rules are applied correctly:
   disease phase, baseline platelet count, follow-up, and the response category
   (< 30, 30-99, >= 100 x10^9/L) at every analysis visit. At the default 167 subjects the
   counts are exactly the published ones; for other sizes they are scaled in proportion.
2. It writes raw records that carry that truth in the layout of ``specs/raw.yaml``.
3. It plants the mess real exports contain (see ``docs/simulator.md``), each trap placed
   where mishandling it would move a published figure, and never where the correct SAP
   rule would change the truth.

Everything is vectorised over subjects and records; the only Python loops run over the
fixed visit schedule, the forms, or the kinds of trap.

The simulator is deliberately independent of the package's specs and derivations: it holds
its own copy of the SAP's numbers, so tests comparing derivations against its truth are a
second programming of the same rules.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------------------
# The simulator's own copy of the design (study README and SAP), independent of specs/.
# ---------------------------------------------------------------------------------------
STUDYID = "HETROM-ITP-RWS"
CUTOFF = pd.Timestamp("2025-04-14")
EXTRACTION = pd.Timestamp("2025-05-30")  # data pulled six weeks after the cut-off
FIRST_DOSE_MIN = pd.Timestamp("2023-04-20")
DAYS_PER_MONTH = 30.4375
PHASES = ("Newly diagnosed", "Persistent", "Chronic")
TABLE_WEEKS = (6, 12, 16, 24)  # analysis visits of the published response table

# Published figures (study README). Per-phase tuples are (newly diagnosed, persistent, chronic).
PUB_N = 167
PUB_PHASE = (53, 25, 89)
PUB_EVALUABLE = {6: (51, 24, 85), 12: (41, 22, 76), 16: (30, 19, 66), 24: (27, 18, 59)}
PUB_RESP30 = {6: (41, 18, 62), 12: (31, 18, 60), 16: (26, 18, 52), 24: (26, 17, 48)}
# >= 100: only the totals are published (49 at Week 6, 46 at Week 24); the split by phase
# and the Week 12/16 counts are the simulator's choice.
RESP100 = {6: (17, 8, 24), 12: (13, 8, 25), 16: (12, 8, 22), 24: (14, 9, 23)}
# Subjects followed through a table week whose visit nevertheless falls outside its
# window (nominal label in another window): not evaluable there although followed.
MISSED = {6: (1, 0, 1), 12: (0, 1, 0), 16: (0, 0, 1), 24: (1, 0, 0)}

# Nominal schedule: (label, target study day, drift in days); analysis windows from the SAP.
SCHEDULE = [
    ("DAY 1", 1, 0), ("WEEK 1", 8, 2), ("WEEK 2", 15, 3), ("WEEK 4", 29, 3),
    ("WEEK 6", 43, 3), ("WEEK 8", 57, 3), ("WEEK 12", 85, 3), ("WEEK 16", 113, 3),
    ("WEEK 20", 141, 3), ("WEEK 24", 169, 3),
] + [(f"MONTH {m}", int(np.floor(DAYS_PER_MONTH * m + 0.5)) + 1, 3) for m in range(7, 25)]
WINDOWS = {  # target day -> (lo, hi): the SAP table
    8: (2, 11), 15: (12, 22), 29: (23, 36), 43: (37, 50), 57: (51, 71), 85: (72, 99),
    113: (100, 127), 141: (128, 155), 169: (156, 191), 214: (192, 229), 245: (230, 260),
    275: (261, 290), 305: (291, 320), 336: (321, 351), 366: (352, 381), 397: (382, 412),
    427: (413, 442), 458: (443, 473), 488: (474, 503), 518: (504, 533), 549: (534, 564),
    579: (565, 594), 610: (595, 625), 640: (626, 655), 671: (656, 686), 701: (687, 716),
    732: (717, 747),
}
WEEK_TARGET = {6: 43, 12: 85, 16: 113, 24: 169}
HEPATIC_VISITS = {"DAY 1", "WEEK 4", "WEEK 12", "WEEK 24", "MONTH 9", "MONTH 12", "MONTH 15",
                  "MONTH 18", "MONTH 21", "MONTH 24"}

DOSES = np.array([2.5, 5.0, 7.5, 10.0])
MONTHS = np.array(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                   "NOV", "DEC"])
N_SITES = 12
# The subject of the "subject not in DM" trap. Generated subjects are SITE-NNN with sites
# numbered from 01 (`_subjects`), so site 00 never holds one, at any study size.
ORPHAN_SITE = "00"
ORPHAN_SUBJID = f"{ORPHAN_SITE}-901"

# Local laboratories: unit family and normal ranges (standard unit values).
PLAT_UNITS = {"10^9/L": 1.0, "x10E9/L": 1.0, "10^3/uL": 1.0, "/uL": 0.001, "10^4/uL": 10.0}
LIVER = {  # test: (units with factor to standard, ULN, LLN, typical mean)
    "ALT": ({"U/L": 1.0, "ukat/L": 60.0}, 40.0, 7.0, 22.0),
    "AST": ({"U/L": 1.0, "ukat/L": 60.0}, 35.0, 13.0, 21.0),
    "Total bilirubin": ({"umol/L": 1.0, "mg/dL": 17.1}, 20.5, 3.4, 9.0),
}

# Adverse events typical of a TPO receptor agonist: (verbatim, LLT, LLT code, PT, PT code,
# SOC, SOC code, relative frequency, hepatic).
AE_TERMS = [
    ("Headache", "Headache", 10019211, "Headache", 10019211, "Nervous system disorders", 10029205, 10),
    ("Upper respiratory tract infection", "Upper respiratory tract infection", 10046306,
     "Upper respiratory tract infection", 10046306, "Infections and infestations", 10021881, 9),
    ("ALT increased", "ALT increased", 10001551, "Alanine aminotransferase increased", 10001551,
     "Investigations", 10022891, 7),
    ("AST increased", "AST increased", 10003481, "Aspartate aminotransferase increased", 10003481,
     "Investigations", 10022891, 5),
    ("Bilirubin increased", "Bilirubin increased", 10004688, "Blood bilirubin increased", 10005364,
     "Investigations", 10022891, 3),
    ("Liver function abnormal", "Liver function test abnormal", 10024690, "Hepatic function abnormal",
     10019670, "Hepatobiliary disorders", 10019805, 2),
    ("Fatigue", "Fatigue", 10016256, "Fatigue", 10016256,
     "General disorders and administration site conditions", 10018065, 6),
    ("Arthralgia", "Arthralgia", 10003239, "Arthralgia", 10003239,
     "Musculoskeletal and connective tissue disorders", 10028395, 5),
    ("Dizziness", "Dizziness", 10013573, "Dizziness", 10013573, "Nervous system disorders", 10029205, 4),
    ("Nausea", "Nausea", 10028813, "Nausea", 10028813, "Gastrointestinal disorders", 10017947, 4),
    ("Diarrhoea", "Diarrhoea", 10012735, "Diarrhoea", 10012735, "Gastrointestinal disorders", 10017947, 3),
    ("Epistaxis", "Epistaxis", 10015090, "Epistaxis", 10015090,
     "Respiratory, thoracic and mediastinal disorders", 10038738, 5),
    ("Gingival bleeding", "Gingival bleeding", 10018276, "Gingival bleeding", 10018276,
     "Gastrointestinal disorders", 10017947, 4),
    ("Rash", "Rash", 10037844, "Rash", 10037844, "Skin and subcutaneous tissue disorders", 10040785, 3),
    ("Back pain", "Back pain", 10003988, "Back pain", 10003988,
     "Musculoskeletal and connective tissue disorders", 10028395, 3),
]
HEPATIC_TERMS = {"ALT increased", "AST increased", "Bilirubin increased", "Liver function abnormal"}
UNCODED_TERMS = ["Feeling unwell in the morning", "Pain left flank"]  # not in AECODING

CM_TERMS = [  # (medication, indication, rescue)
    ("Prednisone", "ITP", "N"), ("Dexamethasone", "ITP", "Y"), ("IVIG", "ITP", "Y"),
    ("Platelet transfusion", "ITP", "Y"), ("Omeprazole", "Gastric protection", "N"),
    ("Calcium carbonate", "Bone protection", "N"), ("Amlodipine", "Hypertension", "N"),
    ("Metformin", "Type 2 diabetes", "N"), ("Tranexamic acid", "Menorrhagia", "N"),
]

DS_REASONS = np.array(["TAPERED AND DISCONTINUED", "TREATMENT FAILURE", "ADVERSE EVENT",
                       "WITHDRAWAL BY SUBJECT", "LOST TO FOLLOW-UP", "PHYSICIAN DECISION"])


@dataclass(frozen=True)
class SimulatedStudy:
    """A raw export (one frame per form, every value text) and its intended truth."""

    forms: dict[str, pd.DataFrame]
    truth_subjects: pd.DataFrame
    truth_visits: pd.DataFrame
    traps: pd.DataFrame


# ---------------------------------------------------------------------------------------
# small vectorised helpers
# ---------------------------------------------------------------------------------------
def _largest_remainder(total: int, weights) -> np.ndarray:
    """Integers proportional to weights that add up to total exactly."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(int)
    short = total - out.sum()
    out[np.argsort(-(raw - out), kind="stable")[:short]] += 1
    return out


def _scale(count: int, n_pub: int, n_now: int) -> int:
    """A count scaled from the published study size to this size (exact at n_now = n_pub)."""
    if n_now == n_pub:
        return count
    return int(np.floor(count * n_now / n_pub + 0.5))


def _fmt_dates(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as the capture system writes them, 'DD MON YYYY'; NaT -> ''.

    A study spans a few thousand distinct days: each is formatted once and the rows index
    into the result."""
    days = np.asarray(pd.DatetimeIndex(dates).to_numpy(dtype="datetime64[D]"))
    uniq, inv = np.unique(days, return_inverse=True)
    u = pd.DatetimeIndex(uniq)
    day, month, year = (np.nan_to_num(np.asarray(x, dtype=float), nan=1).astype(int)
                        for x in (u.day, u.month, u.year))
    text = (pd.Index(day).astype(str).str.zfill(2) + " " + MONTHS[month - 1]
            + " " + pd.Index(year).astype(str)).to_numpy(dtype=object)
    text[np.isnat(uniq)] = ""
    return text[inv.ravel()]


def _fmt_partial(dates: pd.Series, kind: np.ndarray) -> np.ndarray:
    """'DD MON YYYY' with the day ('day') or day and month ('month') unknown, or blank ('blank')."""
    full = _fmt_dates(dates)
    d = pd.DatetimeIndex(dates)
    out = full.copy()
    month = np.nan_to_num(np.asarray(d.month, dtype=float), nan=1).astype(int)
    year = pd.Index(np.nan_to_num(np.asarray(d.year, dtype=float)).astype(int)).astype(str).to_numpy(dtype=object)
    m = (kind == "day") & ~d.isna()
    out[m] = "UN " + MONTHS[month[m] - 1].astype(object) + " " + year[m]
    m = (kind == "month") & ~d.isna()
    out[m] = "UN UNK " + year[m]
    out[kind == "blank"] = ""
    return out


def _fmt_num(x: np.ndarray, decimals: int) -> np.ndarray:
    """Non-negative numbers as text with at most `decimals` decimals, trailing zeros
    dropped; NaN -> ''. Integer arithmetic on whole columns, no per-value formatting."""
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    scale = 10 ** decimals
    k = np.floor(np.where(ok, x, 0) * scale + 0.5).astype("int64")
    whole = pd.Series(k // scale).astype(str)
    if decimals:
        frac = pd.Series(k % scale).astype(str).str.zfill(decimals).str.rstrip("0")
        whole = whole.where(frac == "", whole + "." + frac)
    out = whole.to_numpy(dtype=object)
    out[~ok] = ""
    return out


def _days(n) -> pd.TimedeltaIndex:
    return pd.to_timedelta(np.asarray(n, dtype="int64"), unit="D")


# ---------------------------------------------------------------------------------------
# truth: subject level
# ---------------------------------------------------------------------------------------
def _plan_counts(n: int) -> dict:
    """Per-phase targets (subjects, evaluable, responders) for a study of n subjects."""
    phase_n = _largest_remainder(n, PUB_PHASE)
    plan = {"phase_n": phase_n, "cum": {}, "missed": {}, "evaluable": {}, "r30": {}, "r100": {}}
    for w in TABLE_WEEKS:
        ev = np.array([_scale(PUB_EVALUABLE[w][p], PUB_PHASE[p], phase_n[p]) for p in range(3)])
        if n == PUB_N:
            ev = np.array(PUB_EVALUABLE[w])
        ms = np.array([_scale(MISSED[w][p], PUB_PHASE[p], phase_n[p]) for p in range(3)])
        plan["evaluable"][w] = ev
        plan["missed"][w] = ms
        plan["cum"][w] = ev + ms
        plan["r30"][w] = np.array([
            PUB_RESP30[w][p] if n == PUB_N else
            int(np.floor(PUB_RESP30[w][p] / PUB_EVALUABLE[w][p] * ev[p] + 0.5)) for p in range(3)])
        plan["r100"][w] = np.array([
            RESP100[w][p] if n == PUB_N else
            int(np.floor(RESP100[w][p] / PUB_EVALUABLE[w][p] * ev[p] + 0.5)) for p in range(3)])
    # follow-up must not grow with time: the subjects followed through week j include those
    # followed through any later week
    for p in range(3):
        prev = phase_n[p]
        for w in TABLE_WEEKS:
            if plan["cum"][w][p] > prev:
                plan["cum"][w][p] = prev
                plan["evaluable"][w][p] = prev - plan["missed"][w][p]
            prev = plan["cum"][w][p]
    return plan


def _order_statistic_map(x: np.ndarray, k: int, value: float, next_value: float | None = None,
                         lo: float | None = None) -> np.ndarray:
    """Monotone piecewise-linear remap of x so that its k-th smallest equals `value`
    (and the (k+1)-th equals `next_value`); ranks are preserved."""
    order = np.sort(x)
    xk = order[k]
    x_lo = order[0] if lo is None else lo
    x_hi = order[-1]
    pts_x = [x_lo, xk]
    pts_y = [x_lo, value]
    if next_value is not None and k + 1 < len(order):
        pts_x.append(max(order[k + 1], xk + 1e-9))
        pts_y.append(next_value)
    if x_hi > pts_x[-1]:
        pts_x.append(x_hi)
        pts_y.append(max(x_hi, pts_y[-1]))
    return np.interp(x, pts_x, pts_y)


def _subjects(n: int, rng: np.random.Generator, plan: dict,
              numbered_after: np.ndarray | None = None) -> pd.DataFrame:
    """One row per subject with everything the truth needs. A site's subjects are numbered
    from 1, or after ``numbered_after[site - 1]`` (a study written in pieces: the numbers of
    the earlier pieces' subjects at each site)."""
    s = pd.DataFrame(index=np.arange(n))
    site = np.sort(rng.integers(1, N_SITES + 1, n))
    s["SITEID"] = pd.Index(site).astype(str).str.zfill(2)
    seq = s.groupby("SITEID").cumcount() + 1
    if numbered_after is not None:
        seq = seq + np.asarray(numbered_after)[site - 1]
    s["SUBJID"] = s["SITEID"] + "-" + seq.astype(str).str.zfill(3)

    # disease phase and follow-up stage (k = last table week followed through, 0..4)
    s["phase"] = rng.permutation(np.repeat(np.arange(3), plan["phase_n"]))
    stage = np.zeros(n, dtype=int)
    for p in range(3):
        idx = rng.permutation(np.flatnonzero(s["phase"].to_numpy() == p))
        start = 0
        cums = [plan["cum"][w][p] for w in TABLE_WEEKS]
        for k in range(4, 0, -1):
            take = cums[k - 1] - (cums[k] if k < 4 else 0)
            stage[idx[start:start + take]] = k
            start += take
    s["stage"] = stage

    # treatment duration (days, TRTEDT - TRTSDT + 1) by stage, median 9 months exactly
    lo = np.array([20, 47, 89, 117, 175])
    hi = np.array([36, 71, 99, 155, 726])
    u = rng.random(n)
    dur = lo[stage] + (hi[stage] - lo[stage]) * np.where(stage == 4, u ** 1.15, u)
    k_med = (n - 1) // 2
    long_ = stage == 4
    if long_.sum() > 2 and n >= 25:
        # the median falls among the long-followed subjects; 274 days = 9.0 months and the
        # next value past 9.5 months, so any subject wrongly pushed across moves the median
        k_long = k_med - int((~long_).sum())
        dur[long_] = _order_statistic_map(dur[long_], k_long, 274.0, 290.0, lo=175.0)
    s["dur"] = np.clip(np.floor(dur + 0.5).astype(int), 20, 726)
    # exactly one subject at the maximum: ongoing since the first enrolment day
    imax = int(np.argmax(np.where(long_, s["dur"], -1)))
    s.loc[imax, "dur"] = int((CUTOFF - FIRST_DOSE_MIN).days) + 1

    # ongoing at the cut-off or discontinued
    s["ongoing"] = rng.random(n) < np.where(stage == 4, 0.55, 0.5)
    s.loc[imax, "ongoing"] = True
    s.loc[s["dur"] > 700, "ongoing"] = True
    latest_start = CUTOFF - _days(s["dur"].to_numpy() + 7)
    span = (latest_start - FIRST_DOSE_MIN).days.to_numpy()
    start_disc = FIRST_DOSE_MIN + _days(np.floor(rng.random(n) * np.maximum(span, 0)))
    start_ong = CUTOFF - _days(s["dur"].to_numpy() - 1)
    s["TRTSDT"] = np.where(s["ongoing"], start_ong, start_disc)
    s["TRTSDT"] = pd.to_datetime(s["TRTSDT"])
    reason = DS_REASONS[rng.choice(6, n, p=[0.35, 0.2, 0.1, 0.15, 0.1, 0.1])]
    reason = np.where((stage < 4) & (rng.random(n) < 0.5), "TREATMENT FAILURE", reason)
    s["dsreason"] = np.where(s["ongoing"], "ONGOING", reason)
    s["dose_end_day"] = s["dur"]  # study day of the last dose > 0 (= TRTEDT) unless ongoing
    s["follow_end_day"] = np.where(s["ongoing"], (EXTRACTION - s["TRTSDT"]).dt.days + 1, s["dur"])

    # demographics: median age 47, 66% female
    half = (n + 1) // 2
    age = np.concatenate([47 - np.floor(29 * rng.random(half) ** 0.8),
                          48 + np.floor(37 * rng.random(n - half) ** 1.2)]).astype(int)
    age[0] = 47
    s["AGE"] = rng.permutation(age) if n > 1 else age
    # median exactly 47: #(age <= 47) = half and at least one 47 among them
    s["SEX"] = rng.permutation(np.r_[np.full(int(np.floor(0.66 * n + 0.5)), "Female"),
                                     np.full(n - int(np.floor(0.66 * n + 0.5)), "Male")])
    s["RACE"] = rng.choice(["Asian", "White", "Black or African American", "Other", ""], n,
                           p=[0.90, 0.04, 0.01, 0.02, 0.03])
    s["ETHNIC"] = np.where(s["RACE"] == "Asian",
                           rng.choice(["Han", "Other ethnic minority", ""], n, p=[0.9, 0.08, 0.02]), "")
    s["ICDAT"] = s["TRTSDT"] - _days(rng.integers(0, 15, n))

    # baseline platelets: median 9 exactly (#(<= 9) = half, the next value 10 or more)
    low = 9 - np.floor(8 * rng.random(half) ** 0.7)
    low[0] = 9
    high = 10 + np.floor(20 * rng.random(n - half) ** 1.6)
    s["BASEPLAT"] = rng.permutation(np.concatenate([low, high]).astype(int))

    # baseline WHO bleeding grade: 44% grade 0, 55% grade 1, the rest grade 2, plus one
    # subject per 167 whose only pre-dose assessment is too early to be baseline
    n_miss = max(1, int(np.floor(n / PUB_N + 0.5)))
    g0 = int(np.floor(74 / PUB_N * n + 0.5))
    g1 = int(np.floor(92 / PUB_N * n + 0.5))
    g2 = max(0, n - g0 - g1 - n_miss)
    grades = np.r_[np.zeros(g0), np.ones(g1), np.full(g2, 2), np.full(n - g0 - g1 - g2, -1)]
    s["WHOGRBL"] = rng.permutation(grades[:n]).astype(int)

    # starting dose: median 5 mg, range 2.5-10
    dq = _largest_remainder(n, [0.22, 0.46, 0.17, 0.15])
    dq = np.maximum(dq, 1) if n >= 4 else dq
    dq[1] += n - dq.sum()
    s["DOSESTRT"] = rng.permutation(np.repeat(DOSES, dq))

    # ITP duration (months) by phase; median 12 months: the median falls among the chronic
    ph = s["phase"].to_numpy()
    u = rng.random(n)
    itp = np.select([ph == 0, ph == 1],
                    [0.3 + 2.65 * u, 3.1 + 8.8 * u],
                    12.05 + 228 * u ** 2.2)
    chronic = ph == 2
    k_chr = (n - 1) // 2 - int((~chronic).sum())
    if 0 <= k_chr < chronic.sum() - 1:
        itp[chronic] = _order_statistic_map(itp[chronic], k_chr, 12.3, lo=12.01)
    s["itp_months"] = itp
    s["PRIORLN"] = np.where(ph == 0, rng.integers(0, 2, n), rng.integers(1, 6, n))
    s["SPLENECT"] = np.where((ph == 2) & (rng.random(n) < 0.12), "Y", "N")
    s["score"] = rng.normal(size=n)  # latent responsiveness
    return s


def _diagnosis(s: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Raw diagnosis dates (often partial) whose SAP imputation gives the intended phase.

    The SAP imputes a missing day as the 15th and a missing month and day as 01 JUL. Ordinary
    subjects get a partial date only when imputing it keeps the phase; trap subjects get a
    partial date where that imputation rule, and only it, gives the intended phase."""
    n = len(s)
    trt = s["TRTSDT"]
    ph = s["phase"].to_numpy()
    exact = trt - _days(np.floor(s["itp_months"].to_numpy() * DAYS_PER_MONTH + 0.5))
    kind = rng.choice(np.array(["full", "day", "month"]), n, p=[0.55, 0.35, 0.10])
    itp = s["itp_months"].to_numpy()
    kind = np.where((kind == "month") & (itp < 20), "day", kind)
    kind = np.where((ph == 2) & (itp < 12.6), "full", kind)  # protect the median
    snap = exact.copy()
    day_m = kind == "day"
    snap[day_m] = pd.to_datetime(dict(year=exact.dt.year[day_m], month=exact.dt.month[day_m], day=15))
    mon_m = kind == "month"
    snap[mon_m] = pd.to_datetime(dict(year=exact.dt.year[mon_m], month=7, day=1))
    months = (trt - snap).dt.days.to_numpy() / DAYS_PER_MONTH
    same_phase = np.select([months <= 3, months <= 12], [0, 1], 2) == ph
    keep = same_phase & (snap < trt)
    kind = np.where(keep, kind, "full")
    imputed = pd.Series(np.where(keep, snap, exact), index=s.index)
    imputed = pd.to_datetime(imputed)

    # traps: partial dates where the imputation rule decides the phase
    trap = np.full(n, "", dtype=object)
    ty = trt.dt.year.to_numpy()
    n_each = max(1, int(np.floor(n / PUB_N + 0.5)))
    taken = np.zeros(n, bool)

    def pick(cand: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(cand & ~taken)
        return rng.permutation(idx)[:n_each]

    # (a) newly diagnosed by the 15th-of-month rule; the 1st would make it persistent
    d15 = pd.to_datetime(dict(year=(trt - _days(np.full(n, 84))).dt.year,
                              month=(trt - _days(np.full(n, 84))).dt.month, day=15))
    gap = (trt - d15).dt.days.to_numpy()
    idx = pick((ph == 0) & (gap >= 78) & (gap <= 91))
    imputed.iloc[idx], kind[idx], trap[idx], taken[idx] = d15.iloc[idx], "day", "phase-day-15", True
    # (b) newly diagnosed by 01 JUL; 01 JAN would make it persistent
    jul = pd.to_datetime(dict(year=ty, month=7, day=1))
    gap = (trt - jul).dt.days.to_numpy()
    idx = pick((ph == 0) & (gap >= 10) & (gap <= 91))
    imputed.iloc[idx], kind[idx], trap[idx], taken[idx] = jul.iloc[idx], "month", "phase-jul-01", True
    # (c) persistent by 01 JUL of the previous year; 01 JAN would make it chronic
    jul_prev = pd.to_datetime(dict(year=ty - 1, month=7, day=1))
    gap = (trt - jul_prev).dt.days.to_numpy()
    idx = pick((ph == 1) & (gap >= 186) & (gap <= 365))
    imputed.iloc[idx], kind[idx], trap[idx], taken[idx] = jul_prev.iloc[idx], "month", "phase-jul-01", True
    # (d) persistent by the 15th; the 1st would make it chronic
    back = trt - _days(np.full(n, 358))
    d15b = pd.to_datetime(dict(year=back.dt.year, month=back.dt.month, day=15))
    gap = (trt - d15b).dt.days.to_numpy()
    idx = pick((ph == 1) & (gap >= 352) & (gap <= 365))
    imputed.iloc[idx], kind[idx], trap[idx], taken[idx] = d15b.iloc[idx], "day", "phase-day-15", True

    s = s.copy()
    s["DIAGDT"] = imputed
    s["diag_kind"] = kind
    s["DIAGDAT"] = _fmt_partial(imputed, kind)
    s["ITPDURM"] = (trt - imputed).dt.days / DAYS_PER_MONTH
    s["diag_trap"] = trap
    assert (np.select([s["ITPDURM"] <= 3, s["ITPDURM"] <= 12], [0, 1], 2) == ph).all()
    return s


# ---------------------------------------------------------------------------------------
# truth: visit level
# ---------------------------------------------------------------------------------------
def _visit_grid(s: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Scheduled visits (subject x nominal visit) with their study day, for every visit
    that happened before the follow-up ended (or, for ongoing subjects, the extraction)."""
    n = len(s)
    labels = np.array([v[0] for v in SCHEDULE])
    target = np.array([v[1] for v in SCHEDULE])
    drift = np.array([v[2] for v in SCHEDULE])
    g = pd.DataFrame({
        "sub": np.repeat(np.arange(n), len(SCHEDULE)),
        "VISIT": np.tile(labels, n),
        "target": np.tile(target, n),
    })
    d = np.tile(drift, n)
    g["day"] = g["target"] + np.round((rng.random(len(g)) * 2 - 1) * d).astype(int)
    g["week"] = g["VISIT"].map({f"WEEK {w}": w for w in TABLE_WEEKS}).fillna(0).astype(int)
    end = s["follow_end_day"].to_numpy()[g["sub"]]
    # the duration ranges of the stages keep table visits consistent with the stage: a
    # subject followed through table week k has that visit on or before the cut-off (or the
    # stop), and the next table visit, if any, after it
    keep = g["day"] <= end
    # ordinary visits are sometimes missed; table-week visits never by chance
    keep &= (g["week"] > 0) | (g["VISIT"] == "DAY 1") | (rng.random(len(g)) > 0.07)
    g = g[keep].reset_index(drop=True)
    return g


def _categories(s: pd.DataFrame, rng: np.random.Generator, plan: dict) -> pd.DataFrame:
    """Response category (0: < 30, 1: 30-99, 2: >= 100) per subject and table week, with the
    evaluable subjects' counts exactly as planned; coherent over time through a latent score."""
    n = len(s)
    rows = []
    for k, w in enumerate(TABLE_WEEKS, start=1):
        noise = rng.normal(scale=0.6, size=n)
        rows.append(pd.DataFrame({"sub": np.arange(n), "week": w, "k": k,
                                  "score": s["score"].to_numpy() + noise,
                                  "phase": s["phase"].to_numpy(),
                                  "stage": s["stage"].to_numpy()}))
    c = pd.concat(rows, ignore_index=True)
    c["followed"] = c["stage"] >= c["k"]
    # missed table visits: followed beyond that week, but the visit falls in the next window
    c["missed"] = False
    beyond = (c["stage"] > c["k"]) | ((c["k"] == 4) & (s["dur"].to_numpy()[c["sub"]] >= 215))
    for w in TABLE_WEEKS:
        for p in range(3):
            m = (c["week"] == w) & (c["phase"] == p) & beyond
            idx = rng.permutation(np.flatnonzero(m.to_numpy()))[: plan["missed"][w][p]]
            c.loc[c.index[idx], "missed"] = True
    c["evaluable"] = c["followed"] & ~c["missed"]
    c["rank"] = (c[c["evaluable"]].groupby(["week", "phase"])["score"]
                 .rank(ascending=False, method="first"))
    r30 = np.array([plan["r30"][w] for w in TABLE_WEEKS])  # week x phase
    r100 = np.array([plan["r100"][w] for w in TABLE_WEEKS])
    wi = c["k"].to_numpy() - 1
    ph = c["phase"].to_numpy()
    rank = c["rank"].to_numpy()
    cat = np.where(rank <= r100[wi, ph], 2, np.where(rank <= r30[wi, ph], 1, 0))
    # subjects not evaluable still have a (never counted) trajectory
    cat = np.where(c["evaluable"], cat, np.where(c["score"] > 0.9, 2, np.where(c["score"] > -0.7, 1, 0)))
    c["cat"] = cat
    return c


def _value_in_category(cat: np.ndarray, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A platelet count (x10^9/L, integer) within the category."""
    u = rng.random(len(cat))
    v0 = base + np.floor((29.99 - base) * u ** 0.7)
    v1 = np.floor(np.exp(np.log(30) + (np.log(99.99) - np.log(30)) * u))
    v2 = np.floor(np.exp(np.log(100) + (np.log(320) - np.log(100)) * u ** 1.3))
    return np.select([cat == 0, cat == 1], [v0, v1], v2)


def _platelets(s: pd.DataFrame, g: pd.DataFrame, c: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Platelet count at every scheduled visit: exact category at the table weeks, a smooth
    log-scale trajectory between them."""
    n = len(s)
    base = s["BASEPLAT"].to_numpy().astype(float)
    anchor = {}
    for w in TABLE_WEEKS:
        cw = c[c["week"] == w]
        anchor[w] = _value_in_category(cw["cat"].to_numpy(), base, rng)
    lb, l6, l12, l16, l24 = (np.log(base), np.log(anchor[6]), np.log(anchor[12]),
                             np.log(anchor[16]), np.log(anchor[24]))
    walk = np.cumsum(rng.normal(scale=0.12, size=(n, 18)), axis=1)
    level = {
        "DAY 1": lb, "WEEK 1": lb + 0.25 * (l6 - lb), "WEEK 2": lb + 0.5 * (l6 - lb),
        "WEEK 4": lb + 0.8 * (l6 - lb), "WEEK 6": l6, "WEEK 8": (l6 + l12) / 2, "WEEK 12": l12,
        "WEEK 16": l16, "WEEK 20": (l16 + l24) / 2, "WEEK 24": l24,
    }
    for i, m in enumerate(range(7, 25)):
        level[f"MONTH {m}"] = l24 + walk[:, i]
    lv = np.empty(len(g))
    for label, arr in level.items():
        m = (g["VISIT"] == label).to_numpy()
        lv[m] = arr[g["sub"].to_numpy()[m]]
    noisy = ~g["VISIT"].isin(["DAY 1"] + [f"WEEK {w}" for w in TABLE_WEEKS]).to_numpy()
    lv = lv + np.where(noisy, rng.normal(scale=0.08, size=len(g)), 0.0)
    val = np.floor(np.exp(lv) + 0.5)
    val = np.clip(val, 1, 600)
    # keep table-week anchors exact
    for w in TABLE_WEEKS:
        m = (g["week"] == w).to_numpy()
        val[m] = anchor[w][g["sub"].to_numpy()[m]]
    m = (g["VISIT"] == "DAY 1").to_numpy()
    val[m] = base[g["sub"].to_numpy()[m]]
    g = g.copy()
    g["plat"] = val
    return g


# ---------------------------------------------------------------------------------------
# forms
# ---------------------------------------------------------------------------------------
def _exposure(s: pd.DataFrame, g: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Dosing periods: the dose follows the platelet count toward 50-150 x10^9/L, with a
    planned one-visit interruption for some subjects and a taper before a planned stop."""
    n = len(s)
    trt = s["TRTSDT"]
    dose_idx = np.searchsorted(DOSES, s["DOSESTRT"].to_numpy())
    dose_end = np.where(s["ongoing"], (EXTRACTION - trt).dt.days.to_numpy() + 1, s["dose_end_day"])
    cut_day = (CUTOFF - trt).dt.days.to_numpy() + 1
    steps = [v[0] for v in SCHEDULE if v[0] not in ("DAY 1", "WEEK 1")]
    plat = g.pivot_table(index="sub", columns="VISIT", values="plat", aggfunc="first")
    day = g.pivot_table(index="sub", columns="VISIT", values="day", aggfunc="first")
    plat = plat.reindex(index=np.arange(n), columns=steps)
    day = day.reindex(index=np.arange(n), columns=steps)
    # which subjects have a planned interruption, and at which step (Week 8 .. Month 12)
    interrupt_at = np.where(rng.random(n) < 0.08, rng.integers(5, 16, n), -1)
    taper = (s["dsreason"] == "TAPERED AND DISCONTINUED").to_numpy()
    cur = dose_idx.copy()  # index into DOSES; -1 = interrupted
    saved = cur.copy()
    starts = [np.zeros(n, int) + 1]
    doses = [DOSES[cur]]
    reasons = [np.full(n, "", dtype=object)]
    subs = [np.arange(n)]
    for t, label in enumerate(steps):
        v = plat[label].to_numpy()
        dday = day[label].to_numpy()
        ok = ~np.isnan(v) & ~np.isnan(dday) & (dday < dose_end) & (dday > 1)
        new = cur.copy()
        reason = np.full(n, "", dtype=object)
        active = cur >= 0
        up = ok & active & (v < 50) & (cur < 3)
        down = ok & active & (v > 150) & (cur > 0)
        new[up] += 1
        reason[up] = "PLATELETS BELOW TARGET"
        new[down] -= 1
        reason[down] = "PLATELETS ABOVE TARGET"
        # taper: step down over the last ~10 weeks before a planned stop
        tap = ok & active & taper & (dday > dose_end - 75) & (cur > 0) & ~down
        new[tap] -= 1
        reason[tap] = "TAPERING"
        # resume after a one-visit interruption
        resume = ok & ~active
        new[resume] = saved[resume]
        reason[resume] = "OTHER"
        # planned interruption (only well before the stop and before the cut-off)
        intr = ok & active & (interrupt_at == t) & (dday + 70 < np.minimum(dose_end, cut_day))
        saved = np.where(intr, new, saved)
        new[intr] = -1
        reason[intr] = "ADVERSE EVENT"
        changed = ok & (new != cur)
        starts.append(dday[changed].astype(int))
        doses.append(np.where(new[changed] >= 0, DOSES[np.maximum(new[changed], 0)], 0.0))
        reasons.append(reason[changed])
        subs.append(np.flatnonzero(changed))
        cur = np.where(changed, new, cur)
    ex = pd.DataFrame({"sub": np.concatenate(subs), "start": np.concatenate(starts),
                       "DOSE": np.concatenate(doses), "ADJREAS": np.concatenate(reasons)})
    ex = ex.sort_values(["sub", "start"], kind="stable").reset_index(drop=True)
    nxt = ex.groupby("sub")["start"].shift(-1)
    ex["end"] = (nxt - 1).astype("Float64")
    last = nxt.isna()
    ex.loc[last, "end"] = dose_end[ex.loc[last, "sub"]].astype(float)
    ex["ongoing_last"] = last & s["ongoing"].to_numpy()[ex["sub"]]
    return ex


def build(n: int = PUB_N, seed: int = 20250414, *, piece: int | None = None,
          numbered_after: np.ndarray | None = None) -> SimulatedStudy:
    """Simulate the study: raw forms (every value text), the truth and the planted traps.

    ``piece`` k (``build_pieces``): one piece of a study written in pieces, drawn from its
    own stream (seed and k); its subjects numbered at each site after ``numbered_after``, and
    the not-in-DM trap subject only in piece 0, so no subject id is in two pieces."""
    if n < 1:
        raise ValueError("--subjects must be at least 1")
    rng = np.random.default_rng(seed if piece is None else [seed, piece])
    plan = _plan_counts(n)
    s = _subjects(n, rng, plan, numbered_after)
    s = _diagnosis(s, rng)
    c = _categories(s, rng, plan)
    g = _visit_grid(s, rng)
    g = _platelets(s, g, c, rng)
    ex = _exposure(s, g, rng)
    traps: list[pd.DataFrame] = []
    forms = _forms(s, g, c, ex, rng, traps, orphans=piece in (None, 0))
    truth_subjects, truth_visits = _truth(s, g, c, forms)
    trap_df = (pd.concat(traps, ignore_index=True) if traps
               else pd.DataFrame(columns=["SUBJID", "trap", "form", "detail"]))
    return SimulatedStudy(forms, truth_subjects, truth_visits, trap_df)


def build_pieces(n: int, seed: int, pieces: int) -> Iterator[SimulatedStudy]:
    """A study of ``n`` subjects simulated as ``pieces`` smaller studies, one at a time (so a
    study larger than memory can be written): piece k holds its share of the subjects (sizes
    differ by at most one), drawn from its own stream of ``seed``; a site's subjects are
    numbered on from the earlier pieces' (``01-001``, ``01-002`` ... in piece 0, on from
    there in piece 1), so no subject id is in two pieces. Each piece carries the traps and
    the published proportions of a study its size, and its own truth."""
    if not 1 <= pieces <= n:
        raise ValueError(f"--pieces must be between 1 and the number of subjects ({n})")
    numbered = np.zeros(N_SITES, dtype=np.int64)
    for k, size in enumerate(_largest_remainder(n, np.ones(pieces))):
        study = build(int(size), seed, piece=k, numbered_after=numbered)
        dm = study.forms["DM"]
        last = (dm["SUBJID"].str.split("-").str[1].astype(np.int64)
                .groupby(dm["SITEID"].astype(int)).max())
        numbered[last.index.to_numpy() - 1] = last.to_numpy()
        yield study


def _trap_log(traps: list, subjid, trap: str, form: str, detail) -> None:
    subjid = np.atleast_1d(np.asarray(subjid, dtype=object))
    if len(subjid):
        traps.append(pd.DataFrame({"SUBJID": subjid, "trap": trap, "form": form,
                                   "detail": np.broadcast_to(np.asarray(detail, dtype=object),
                                                             subjid.shape)}))


def _times(rng: np.random.Generator, size: int, blank: float = 0.1) -> np.ndarray:
    """Morning sample times 'HH:MM', some blank (the time is not always collected)."""
    minutes = np.arange(7 * 60 + 30, 11 * 60 + 45)
    table = (pd.Index(minutes // 60).astype(str).str.zfill(2) + ":"
             + pd.Index(minutes % 60).astype(str).str.zfill(2)).to_numpy(dtype=object)
    t = table[rng.integers(0, len(minutes), size)]
    t[rng.random(size) < blank] = ""
    return t


def _date_of(trtsdt: pd.Series, sub: np.ndarray, day: np.ndarray) -> pd.Series:
    """Calendar date of a study day (no day 0: day -1 is the day before the first dose)."""
    day = np.asarray(day, dtype="int64")
    return pd.Series(trtsdt.to_numpy()[sub] + _days(np.where(day > 0, day - 1, day)).to_numpy())


def _lab_platelets(s, g, c, rng, traps) -> pd.DataFrame:
    """Platelet records with hidden columns _day, _std (x10^9/L, NaN when not evaluable)."""
    n = len(s)
    site = s["SITEID"].astype(int).to_numpy()
    rec = pd.DataFrame({"sub": g["sub"].to_numpy(), "VISIT": g["VISIT"].to_numpy(),
                        "_day": g["day"].to_numpy(), "_std": g["plat"].to_numpy(),
                        "_week": g["week"].to_numpy()})
    # screening, 3-14 days before the first dose
    scr = pd.DataFrame({"sub": np.arange(n), "VISIT": "SCREENING",
                        "_day": -rng.integers(3, 15, n),
                        "_std": np.clip(np.floor(s["BASEPLAT"].to_numpy()
                                                 * rng.uniform(0.75, 1.3, n) + 0.5), 1, 29),
                        "_week": 0})
    rec = pd.concat([scr, rec], ignore_index=True)
    rec["LBTIM"] = _times(rng, len(rec))
    rec["res"] = _fmt_num(rec["_std"].to_numpy(), 0)
    rec["LBORRESU"] = np.where(site[rec["sub"]] >= 11, "10^3/uL",
                               np.where(site[rec["sub"]] >= 9, "x10E9/L", "10^9/L"))
    rec["_trap"] = ""
    week = rec["_week"].to_numpy()
    sub = rec["sub"].to_numpy()
    cat_tab = c.pivot(index="sub", columns="week", values="cat")
    ev_tab = c.pivot(index="sub", columns="week", values="evaluable")
    miss_tab = c.pivot(index="sub", columns="week", values="missed")
    extra = []
    n_each = max(2, int(np.floor(3 * n / PUB_N + 0.5)))
    used = np.zeros(n, bool)  # one week-level trap per subject keeps the truth readable

    def pick(mask_sub: np.ndarray, k: int = n_each) -> np.ndarray:
        idx = rng.permutation(np.flatnonzero(mask_sub & ~used))[:k]
        used[idx] = True
        return idx

    def opposite(v: np.ndarray) -> np.ndarray:
        return np.where(v >= 30, np.maximum(np.floor(v / 3), 12).clip(max=26), v + 25)

    # missed table visits: the nominal label stays, the date moves into the next window
    for w, shift in zip(TABLE_WEEKS, (10, 17, 17, 25)):
        subs = np.flatnonzero(miss_tab[w].to_numpy())
        m = np.isin(sub, subs) & (week == w)
        rec.loc[m, "_day"] = WEEK_TARGET[w] + shift - 1 + rng.integers(0, 3, m.sum())
        rec.loc[m, "_trap"] = "label-in-other-window"
        used[subs] = True
        _trap_log(traps, s["SUBJID"].to_numpy()[subs], "label-in-other-window", "LAB",
                  f"WEEK {w} dated outside the Week {w} window")
    def row_of_subject(mask: np.ndarray) -> np.ndarray:
        """Per subject, the position of its one record in `mask` (NaN when it has none)."""
        return pd.Series(np.flatnonzero(mask), index=sub[mask]).reindex(np.arange(n)).to_numpy()

    def fmt0(v: np.ndarray) -> np.ndarray:
        return _fmt_num(np.asarray(v, dtype=float), 0)

    def log(idx: np.ndarray, trap: str, detail) -> None:
        _trap_log(traps, s["SUBJID"].to_numpy()[idx], trap, "LAB", detail)

    def copy_rows(r: np.ndarray, **cols) -> None:
        add = rec.iloc[r].copy()
        for k, v in cols.items():
            add[k] = v
        extra.append(add)

    for w in TABLE_WEEKS:
        ev = ev_tab[w].to_numpy()
        cat = cat_tab[w].to_numpy()
        at = (week == w) & (rec["VISIT"].to_numpy() != "UNSCHEDULED")
        row_of = row_of_subject(at)
        tgt = WEEK_TARGET[w]
        detail = f"Week {w}"
        # (1) CLUMPED sample on the target day, valid repeat two days later
        i = pick(ev); r = row_of[i].astype(int)
        copy_rows(r, _day=tgt + 2, VISIT="UNSCHEDULED", _trap="clumped-then-repeat")
        rec.loc[r, ["_day", "res", "_std", "_trap"]] = [tgt, "CLUMPED", np.nan, "clumped-then-repeat"]
        log(i, "clumped-then-repeat", detail)
        # (2) unscheduled visit on the target day; the nominal visit, farther away, disagrees
        i = pick(ev); r = row_of[i].astype(int)
        copy_rows(r, _day=tgt, VISIT="UNSCHEDULED", _trap="unscheduled-closer")
        dv = opposite(rec.loc[r, "_std"].to_numpy())
        rec.loc[r, "_day"], rec.loc[r, "_std"], rec.loc[r, "res"] = tgt + 5, dv, fmt0(dv)
        rec.loc[r, "_trap"] = "unscheduled-closer"
        log(i, "unscheduled-closer", detail)
        # (3) repeat sample the same day: the later time counts
        i = pick(ev); r = row_of[i].astype(int)
        dv = opposite(rec.loc[r, "_std"].to_numpy())
        copy_rows(r, _std=dv, res=fmt0(dv), LBTIM="08:05", _trap="same-day-repeat")
        rec.loc[r, ["LBTIM", "_trap"]] = ["11:40", "same-day-repeat"]
        log(i, "same-day-repeat", detail)
        # (4) two records equally far from the target: the later day counts
        i = pick(ev); r = row_of[i].astype(int)
        dv = opposite(rec.loc[r, "_std"].to_numpy())
        copy_rows(r, _day=tgt - 2, _std=dv, res=fmt0(dv), VISIT="UNSCHEDULED", _trap="tie-later-day")
        rec.loc[r, ["_day", "_trap"]] = [tgt + 2, "tie-later-day"]
        log(i, "tie-later-day", detail)
        # (5) '<10' below the limit of quantitation: AVAL = 10, an evaluable non-responder
        i = pick(ev & (cat == 0)); r = row_of[i].astype(int)
        rec.loc[r, ["res", "_std", "_trap"]] = ["<10", 10.0, "less-than"]
        log(i, "less-than", f"Week {w}: <10")
        # (6) platelets in /uL (x0.001) just below 30, and in 10^4/uL (x10) above it
        i = pick(ev & (cat == 0)); r = row_of[i].astype(int)
        v = rng.integers(20, 30, len(r)).astype(float)
        rec.loc[r, "res"], rec.loc[r, "_std"] = fmt0(v * 1000), v
        rec.loc[r, ["LBORRESU", "_trap"]] = ["/uL", "unit-per-uL"]
        log(i, "unit-per-uL", detail)
        i = pick(ev & (cat == 1)); r = row_of[i].astype(int)
        v = rng.integers(31, 99, len(r)).astype(float)
        rec.loc[r, "res"], rec.loc[r, "_std"] = _fmt_num(v / 10, 1), v
        rec.loc[r, ["LBORRESU", "_trap"]] = ["10^4/uL", "unit-10e4-per-uL"]
        log(i, "unit-10e4-per-uL", detail)
        # (7) unknown unit on the record closest to the target: it has no standard value
        i = pick(ev); r = row_of[i].astype(int)
        dv = opposite(rec.loc[r, "_std"].to_numpy())
        copy_rows(r, _day=tgt, _std=np.nan, res=fmt0(dv), LBORRESU="mmol/L", VISIT="UNSCHEDULED",
                  _trap="unknown-unit")
        rec.loc[r, ["_day", "_trap"]] = [tgt + 3, "unknown-unit"]
        log(i, "unknown-unit", f"Week {w}: mmol/L")
    # baseline traps
    base = s["BASEPLAT"].to_numpy()
    vis = rec["VISIT"].to_numpy()
    d1 = row_of_subject(vis == "DAY 1")
    sc = row_of_subject(vis == "SCREENING")
    i = pick(base <= 9)  # Day 1 clumped: the screening sample is the baseline
    rec.loc[d1[i], ["res", "_std", "_trap"]] = ["CLUMPED", np.nan, "baseline-clumped"]
    rec.loc[sc[i], "res"], rec.loc[sc[i], "_std"] = fmt0(base[i]), base[i].astype(float)
    rec.loc[sc[i], "_trap"] = "baseline-clumped"
    log(i, "baseline-clumped", "Day 1 CLUMPED, screening counts")
    i = pick(base <= 9)  # '<5' at Day 1; the screening sample is too early to count
    s.loc[i, "BASEPLAT"] = 5
    rec.loc[d1[i], ["res", "_std", "_trap"]] = ["<5", 5.0, "baseline-less-than"]
    rec.loc[sc[i], ["_day", "res", "_std", "_trap"]] = [-31, "14", 14.0, "baseline-less-than"]
    log(i, "baseline-less-than", "Day 1 <5; screening 31 days before")
    i = pick(base <= 9)  # baseline reported in /uL
    rec.loc[d1[i], "res"] = fmt0(base[i] * 1000)
    rec.loc[d1[i], ["LBORRESU", "_trap"]] = ["/uL", "baseline-per-uL"]
    log(i, "baseline-per-uL", "Day 1 in /uL")
    if extra:
        rec = pd.concat([rec] + extra, ignore_index=True)
    rec["sub"] = rec["sub"].astype(int)
    rec["_day"] = rec["_day"].astype(int)
    rec["_std"] = rec["_std"].astype(float)
    # ordinary mess: a few text results and other local units away from the traps
    plain = (rec["_trap"] == "").to_numpy() & (rec["_week"].to_numpy() == 0) & (rec["VISIT"].to_numpy() != "DAY 1") \
        & (rec["VISIT"].to_numpy() != "SCREENING")
    u = rng.random(len(rec))
    txt = plain & (u < 0.012)
    rec.loc[txt, "res"] = rng.choice(["CLUMPED", "NOT DONE"], txt.sum())
    rec.loc[txt, "_std"] = np.nan
    per_ul = plain & (u > 0.97)
    rec.loc[per_ul, "LBORRESU"] = "/uL"
    rec.loc[per_ul, "res"] = _fmt_num(rec.loc[per_ul, "_std"].to_numpy() * 1000, 0)
    e4 = plain & (u > 0.955) & (u <= 0.97)
    rec.loc[e4, "LBORRESU"] = "10^4/uL"
    rec.loc[e4, "res"] = _fmt_num(rec.loc[e4, "_std"].to_numpy() / 10, 1)
    factor = rec["LBORRESU"].map(PLAT_UNITS).to_numpy()
    rec["LBORNRLO"] = _fmt_num(np.where(np.isnan(factor), np.nan, 125 / factor), 1)
    rec["LBORNRHI"] = _fmt_num(np.where(np.isnan(factor), np.nan, 350 / factor), 1)
    rec["LBTEST"] = "Platelet count"
    return rec


def _lab_liver(s, g, rng, traps) -> pd.DataFrame:
    """ALT, AST and total bilirubin at screening, Day 1 and the hepatic visits: mostly normal,
    a few grade 1-2 elevations, never grade 3 or worse after baseline (the published safety)."""
    n = len(s)
    site = s["SITEID"].astype(int).to_numpy()
    vis = g[g["VISIT"].isin(HEPATIC_VISITS)][["sub", "VISIT", "day"]]
    scr = pd.DataFrame({"sub": np.arange(n), "VISIT": "SCREENING", "day": -rng.integers(3, 15, n)})
    vis = pd.concat([scr, vis], ignore_index=True)
    out = []
    for test, (units, uln, lln, mean) in LIVER.items():
        v = vis.copy()
        x = mean * np.exp(rng.normal(scale=0.35, size=len(v)))
        u = rng.random(len(v))
        x = np.where(u > 0.93, uln * rng.uniform(1.05, 2.6 if test != "Total bilirubin" else 1.45, len(v)), x)
        x = np.where(u > 0.988, uln * rng.uniform(3.2 if test != "Total bilirubin" else 1.6,
                                                  4.6 if test != "Total bilirubin" else 2.8, len(v)), x)
        v["_std"] = x
        alt_unit = list(units)[1]
        uses_alt = np.isin(site, [3, 9]) if test != "Total bilirubin" else np.isin(site, [2, 6, 10])
        v["LBORRESU"] = np.where(uses_alt[v["sub"]], alt_unit, list(units)[0])
        f = v["LBORRESU"].map(units).to_numpy()
        dec = np.where(v["LBORRESU"].isin(["ukat/L", "mg/dL"]), 2, np.where(test == "Total bilirubin", 1, 0))
        rep = np.round(x / f, 2)
        v["res"] = np.where(dec == 2, _fmt_num(rep, 2), np.where(dec == 1, _fmt_num(x, 1), _fmt_num(x, 0)))
        v["LBORNRLO"] = np.where(f == 1, _fmt_num(np.full(len(v), lln), 1),
                                 _fmt_num(np.full(len(v), lln) / f, 2))
        v["LBORNRHI"] = np.where(f == 1, _fmt_num(np.full(len(v), uln), 1),
                                 _fmt_num(np.full(len(v), uln) / f, 2))
        v["LBTEST"] = test
        out.append(v)
    lv = pd.concat(out, ignore_index=True).rename(columns={"day": "_day"})
    lv["_trap"] = ""
    lv["LBTIM"] = _times(rng, len(lv))
    # a few results reported without a normal range: no grade
    nr = rng.random(len(lv)) < 0.01
    lv.loc[nr, ["LBORNRLO", "LBORNRHI"]] = ""
    # hemolysed samples
    hem = (rng.random(len(lv)) < 0.006) & (lv["LBTEST"] != "Total bilirubin")
    lv.loc[hem, "res"] = "HEMOLYZED"
    # traps: ALT grade 3 at screening (pre-treatment, not post-baseline) ...
    k = max(1, int(np.floor(n / PUB_N + 0.5)))
    scr_alt = np.flatnonzero(((lv["VISIT"] == "SCREENING") & (lv["LBTEST"] == "ALT")
                              & (lv["LBORRESU"] == "U/L")).to_numpy())
    pick = rng.permutation(scr_alt)[:k]
    lv.loc[pick, ["res", "LBORNRLO", "LBORNRHI", "_trap"]] = ["215", "7", "40", "hepatic-grade3-screening"]
    _trap_log(traps, s["SUBJID"].to_numpy()[lv.loc[pick, "sub"].to_numpy()], "hepatic-grade3-screening",
              "LAB", "ALT 215 U/L (5.4 x ULN) at screening")
    # ... and after the cut-off (excluded from SDTM)
    ong = np.flatnonzero(s["ongoing"].to_numpy())
    subs = rng.permutation(ong)[:k]
    cut_day = (CUTOFF - s["TRTSDT"]).dt.days.to_numpy() + 1
    late = pd.DataFrame({"sub": subs, "VISIT": "UNSCHEDULED", "_day": cut_day[subs] + 9,
                         "LBORRESU": "U/L", "res": "260", "LBORNRLO": "7", "LBORNRHI": "40",
                         "LBTEST": "AST", "_trap": "hepatic-grade3-after-cutoff", "LBTIM": "09:15",
                         "_std": 260.0})
    _trap_log(traps, s["SUBJID"].to_numpy()[subs], "hepatic-grade3-after-cutoff", "LAB",
              "AST 260 U/L dated after the cut-off")
    return pd.concat([lv, late], ignore_index=True)


def _forms(s, g, c, ex, rng, traps, orphans: bool = True) -> dict[str, pd.DataFrame]:
    """Every form of the export as text, with the traps planted."""
    n = len(s)
    subjid = s["SUBJID"].to_numpy()
    forms: dict[str, pd.DataFrame] = {}

    # DM
    bkind = rng.choice(np.array(["full", "day", "month", "blank"]), n, p=[0.75, 0.15, 0.05, 0.05])
    ic = s["ICDAT"]
    anniv = pd.to_datetime(dict(year=ic.dt.year - s["AGE"], month=ic.dt.month,
                                day=np.minimum(ic.dt.day, 28)))
    birth = anniv - _days(rng.integers(1, 330, n))
    dm = pd.DataFrame({"STUDYID": STUDYID, "SITEID": s["SITEID"], "SUBJID": subjid,
                       "ICDAT": _fmt_dates(ic), "BRTHDAT": _fmt_partial(birth, bkind),
                       "AGE": s["AGE"].astype(str), "SEX": s["SEX"], "RACE": s["RACE"],
                       "ETHNIC": s["ETHNIC"]})
    dup = rng.permutation(np.flatnonzero(s["SEX"].to_numpy() == "Female"))[:max(1, n // PUB_N)]
    _trap_log(traps, subjid[dup], "duplicate-row", "DM", "row entered twice")
    forms["DM"] = pd.concat([dm, dm.iloc[dup]]).sort_index(kind="stable").reset_index(drop=True)

    # ITPHX
    forms["ITPHX"] = pd.DataFrame({"SUBJID": subjid, "DIAGDAT": s["DIAGDAT"],
                                   "PRIORLN": s["PRIORLN"].astype(str), "SPLENECT": s["SPLENECT"]})
    t = s["diag_trap"].to_numpy() != ""
    _trap_log(traps, subjid[t], "phase-decided-by-imputation", "ITPHX", s.loc[t, "DIAGDAT"].to_numpy())

    # BLEED: screening and Day 1 carry the baseline grade (screening sometimes differs)
    grade = s["WHOGRBL"].to_numpy()
    miss = grade < 0
    scr_day = np.where(miss, -35, -rng.integers(3, 15, n))
    scr_grade = np.where(miss, 1, np.where(rng.random(n) < 0.15, np.clip(grade + 1, 0, 2), grade))
    b = [pd.DataFrame({"sub": np.arange(n), "VISIT": "SCREENING", "day": scr_day, "WHOGR": scr_grade}),
         pd.DataFrame({"sub": np.flatnonzero(~miss), "VISIT": "DAY 1", "day": 1, "WHOGR": grade[~miss]})]
    post = g[g["VISIT"].isin(["WEEK 4", "WEEK 12", "WEEK 24", "MONTH 12", "MONTH 24"])]
    pg = np.where(post["plat"].to_numpy() >= 30, 0, rng.integers(0, 3, len(post)))
    b.append(pd.DataFrame({"sub": post["sub"].to_numpy(), "VISIT": post["VISIT"].to_numpy(),
                           "day": post["day"].to_numpy(), "WHOGR": pg}))
    bl = pd.concat(b, ignore_index=True).sort_values(["sub", "day"], kind="stable")
    _trap_log(traps, subjid[miss], "bleeding-baseline-too-early", "BLEED", "only assessment 35 days before")
    bleed = pd.DataFrame({"SUBJID": subjid[bl["sub"]], "VISIT": bl["VISIT"].to_numpy(),
                          "ASMDAT": _fmt_dates(_date_of(s["TRTSDT"], bl["sub"].to_numpy(), bl["day"].to_numpy())),
                          "WHOGR": bl["WHOGR"].astype(str).to_numpy()})
    d = rng.permutation(len(bleed))[:max(1, n // 80)]
    _trap_log(traps, bleed["SUBJID"].to_numpy()[d], "duplicate-row", "BLEED", "row entered twice")
    forms["BLEED"] = pd.concat([bleed, bleed.iloc[d]]).sort_index(kind="stable").reset_index(drop=True)

    # EXPOSURE
    trt = s["TRTSDT"]
    exs = _date_of(trt, ex["sub"].to_numpy(), ex["start"].to_numpy())
    exe = _date_of(trt, ex["sub"].to_numpy(), ex["end"].fillna(1).astype(int).to_numpy())
    exe_txt = _fmt_dates(exe)
    exe_txt[ex["ongoing_last"].to_numpy()] = ""
    # the end dates as written (NaT: open), kept beside the text for the truth's TRTEDT
    exe_true = exe.to_numpy(copy=True)
    exe_true[ex["ongoing_last"].to_numpy()] = np.datetime64("NaT")
    ds_reason = s["dsreason"].to_numpy().copy()
    ds_date = _date_of(trt, np.arange(n), s["dur"].to_numpy())
    # ongoing subjects who stopped between the cut-off and the extraction: still ongoing at
    # the cut-off (DS and the exposure end fall after it)
    ong = np.flatnonzero(s["ongoing"].to_numpy() & (s["dur"].to_numpy() > 60))
    late = np.sort(rng.permutation(ong)[:max(1, int(round(0.04 * len(ong))))])
    late_day = rng.integers(5, 40, len(late))
    late_date = CUTOFF + _days(late_day)
    ds_reason[late] = rng.choice(["TREATMENT FAILURE", "WITHDRAWAL BY SUBJECT"], len(late))
    ds_date.iloc[late] = late_date
    lastrow = ex.groupby("sub").tail(1)
    lr = lastrow[lastrow["sub"].isin(late)]
    late_end = CUTOFF + _days(late_day[np.searchsorted(late, lr["sub"])])
    exe_txt[lr.index.to_numpy()] = _fmt_dates(late_end)
    exe_true[lr.index.to_numpy()] = late_end.to_numpy()
    _trap_log(traps, subjid[late], "stopped-after-cutoff", "DS", "DS and last EXENDAT after the cut-off")
    # the longest-treated subject's open period written with a date after the cut-off
    imax = int(np.argmax(s["dur"].to_numpy()))
    r = lastrow.index[lastrow["sub"] == imax]
    exe_txt[r] = _fmt_dates(pd.Series([EXTRACTION - _days([3])[0]]))
    exe_true[r] = (EXTRACTION - _days([3])[0]).to_datetime64()
    _trap_log(traps, subjid[imax], "exposure-end-after-cutoff", "EXPOSURE", "open period ends after the cut-off")
    expo = pd.DataFrame({"sub": ex["sub"].to_numpy(), "SUBJID": subjid[ex["sub"]],
                         "EXSTDAT": _fmt_dates(exs), "EXENDAT": exe_txt,
                         "DOSE": _fmt_num(ex["DOSE"].to_numpy(), 1), "FREQ": "QD",
                         "ADJREAS": ex["ADJREAS"].to_numpy(),
                         "_st": exs.to_numpy(), "_en": exe_true, "_dose": ex["DOSE"].to_numpy()})
    # an interruption after the last dose: TRTEDT is the end of the last period with dose > 0
    dur = s["dur"].to_numpy()
    ok = (~s["ongoing"].to_numpy()) & (dur >= 241) & (dur <= 270) \
        & ((trt + _days(dur + 52)) < CUTOFF).to_numpy()
    cand = rng.permutation(np.flatnonzero(ok))[:max(1, n // PUB_N)]
    if len(cand):
        zs = _date_of(trt, cand, dur[cand] + 1)
        ze = _date_of(trt, cand, dur[cand] + 50)
        expo = pd.concat([expo, pd.DataFrame({"sub": cand, "SUBJID": subjid[cand], "EXSTDAT": _fmt_dates(zs),
                                              "EXENDAT": _fmt_dates(ze), "DOSE": "0", "FREQ": "QD",
                                              "ADJREAS": "ADVERSE EVENT", "_st": zs.to_numpy(),
                                              "_en": ze.to_numpy(), "_dose": 0.0})], ignore_index=True)
        ds_date.iloc[cand] = ze.to_numpy()
        ds_reason[cand] = "PHYSICIAN DECISION"
        _trap_log(traps, subjid[cand], "interrupted-after-last-dose", "EXPOSURE", "dose 0 period after the last dose")
    # rows not in date order for some subjects (the first row is not the starting dose)
    expo["_o"] = np.arange(len(expo), dtype=float)
    shuffled = rng.permutation(n)[: max(2, n // 20)]
    m = expo["sub"].isin(shuffled).to_numpy()
    expo.loc[m, "_o"] = expo.loc[m, "_o"] * -1.0
    expo = expo.sort_values(["sub", "_o"], kind="stable")
    _trap_log(traps, subjid[np.intersect1d(shuffled, expo["sub"][expo.groupby("sub")["sub"].transform("size") > 1])],
              "exposure-rows-unordered", "EXPOSURE", "periods listed latest first")
    dups = rng.permutation(len(expo))[:max(1, n // 80)]
    expo = pd.concat([expo, expo.iloc[dups]]).sort_index(kind="stable")
    _trap_log(traps, expo["SUBJID"].to_numpy()[-len(dups):], "duplicate-row", "EXPOSURE", "row entered twice")
    forms["_EX_HIDDEN"] = expo[["sub", "_st", "_en", "_dose"]].reset_index(drop=True)  # truth only
    forms["EXPOSURE"] = expo.drop(columns=["sub", "_o", "_st", "_en", "_dose"]).reset_index(drop=True)

    # LAB
    plat = _lab_platelets(s, g, c, rng, traps)
    liver = _lab_liver(s, g, rng, traps)
    lab = pd.concat([plat, liver], ignore_index=True)
    lab["_week"] = lab["_week"].fillna(0).astype(int)
    lab["_date"] = _date_of(trt, lab["sub"].to_numpy(), lab["_day"].to_numpy()).to_numpy()
    order = np.lexsort((lab["LBTIM"].to_numpy(dtype=object).astype("U5"),
                        pd.factorize(lab["LBTEST"], sort=True)[0],
                        lab["_date"].to_numpy(), lab["sub"].to_numpy()))
    lab = lab.iloc[order].reset_index(drop=True)
    lab_out = pd.DataFrame({"SUBJID": subjid[lab["sub"]], "VISIT": lab["VISIT"].to_numpy(),
                            "LBDAT": _fmt_dates(lab["_date"]), "LBTIM": lab["LBTIM"].to_numpy(),
                            "LBTEST": lab["LBTEST"].to_numpy(), "LBORRES": lab["res"].to_numpy(),
                            "LBORRESU": lab["LBORRESU"].to_numpy(), "LBORNRLO": lab["LBORNRLO"].to_numpy(),
                            "LBORNRHI": lab["LBORNRHI"].to_numpy(),
                            "LBNAM": ("Site " + s["SITEID"] + " hospital laboratory").to_numpy(dtype=object)[lab["sub"]]})
    # exact duplicates of some table-week platelet records
    cand = np.flatnonzero((lab["_week"].to_numpy() > 0) & (lab["_trap"].to_numpy() == "")
                          & (lab["LBTEST"].to_numpy() == "Platelet count"))
    dups = rng.permutation(cand)[:max(2, n // 40)]
    _trap_log(traps, lab_out["SUBJID"].to_numpy()[dups], "duplicate-row", "LAB", "row entered twice")
    lab_out = pd.concat([lab_out, lab_out.iloc[dups]]).sort_index(kind="stable").reset_index(drop=True)
    lab = pd.concat([lab, lab.iloc[dups]]).sort_index(kind="stable").reset_index(drop=True)
    forms["LAB"] = lab_out
    forms["_LAB_HIDDEN"] = lab  # for the truth only; never written

    # AE
    forms["AE"], forms["AECODING"] = _adverse_events(s, rng, traps)
    forms["CM"] = _con_meds(s, rng, traps)
    forms["DS"] = pd.DataFrame({"SUBJID": subjid, "DSDECOD": ds_reason,
                                "DSSTDAT": np.where(ds_reason == "ONGOING", "", _fmt_dates(ds_date))})
    s["_ds_date"] = ds_date.to_numpy()
    s["_ds_reason"] = ds_reason
    if orphans:
        _orphans(forms, s, rng, traps)
    return forms


def _adverse_events(s, rng, traps) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(s)
    subjid = s["SUBJID"].to_numpy()
    cnt = rng.poisson(1.4, n)
    sub = np.repeat(np.arange(n), cnt)
    m = len(sub)
    freq = np.array([t[7] for t in AE_TERMS], float)
    term_i = rng.choice(len(AE_TERMS), m, p=freq / freq.sum())
    verb = np.array([t[0] for t in AE_TERMS], dtype=object)[term_i]
    hepatic = np.isin(verb, list(HEPATIC_TERMS))
    end_day = np.maximum(s["follow_end_day"].to_numpy()[sub], 2)
    st_day = 1 + np.floor(rng.random(m) * (end_day - 1)).astype(int)
    trt = s["TRTSDT"]
    st = _date_of(trt, sub, st_day)
    en = st + _days(rng.integers(1, 45, m))
    grade = np.where(rng.random(m) < 0.68, 1, np.where(rng.random(m) < 0.85, 2, 3))
    grade = np.where(hepatic, np.minimum(grade, 2), grade)
    st_kind = rng.choice(np.array(["full", "day", "month"]), m, p=[0.86, 0.11, 0.03])
    ongoing = rng.random(m) < 0.15
    en_kind = np.where(ongoing, "blank", rng.choice(np.array(["full", "day"]), m, p=[0.85, 0.15]))
    ae = pd.DataFrame({"sub": sub, "AETERM": verb, "_st": st, "_en": en, "st_kind": st_kind,
                       "en_kind": en_kind, "AETOXGR": grade})
    # traps: verbatim with other case and blanks (still coded), uncoded terms
    k = max(1, n // 40)
    i = rng.permutation(np.flatnonzero(verb == "Headache"))[:k]
    ae.loc[i, "AETERM"] = "  HEADACHE "
    _trap_log(traps, subjid[ae.loc[i, "sub"]], "verbatim-case-blanks", "AE", "'  HEADACHE '")
    i = rng.permutation(np.flatnonzero(~hepatic))[:max(2, n // 60)]
    ae.loc[i, "AETERM"] = rng.choice(UNCODED_TERMS, len(i))
    _trap_log(traps, subjid[ae.loc[i, "sub"]], "uncoded-term", "AE", ae.loc[i, "AETERM"].to_numpy())
    # hepatic grade 3: one after the cut-off, one before the first dose (not treatment-emergent)
    extra = []
    kk = max(1, n // PUB_N)
    ong = rng.permutation(np.flatnonzero(s["ongoing"].to_numpy()))[:kk]
    cut_day = (CUTOFF - trt).dt.days.to_numpy() + 1
    extra.append(pd.DataFrame({"sub": ong, "AETERM": "Liver function abnormal",
                               "_st": _date_of(trt, ong, cut_day[ong] + 6).to_numpy(),
                               "_en": pd.NaT, "st_kind": "full", "en_kind": "blank", "AETOXGR": 3}))
    _trap_log(traps, subjid[ong], "hepatic-ae-after-cutoff", "AE", "grade 3 starting after the cut-off")
    pre = rng.permutation(n)[:kk]
    extra.append(pd.DataFrame({"sub": pre, "AETERM": "ALT increased",
                               "_st": _date_of(trt, pre, np.full(kk, -20)).to_numpy(),
                               "_en": _date_of(trt, pre, np.full(kk, -6)).to_numpy(),
                               "st_kind": "full", "en_kind": "full", "AETOXGR": 3}))
    _trap_log(traps, subjid[pre], "hepatic-ae-before-first-dose", "AE", "grade 3 ended before the first dose")
    # start known only to the first-dose month: imputed to the first dose date (TEAE)
    fm = rng.permutation(n)[:max(2, n // 50)]
    extra.append(pd.DataFrame({"sub": fm, "AETERM": "Headache",
                               "_st": trt.to_numpy()[fm], "_en": (trt + _days(np.full(n, 3))).to_numpy()[fm],
                               "st_kind": "day", "en_kind": "full", "AETOXGR": 1}))
    _trap_log(traps, subjid[fm], "ae-start-first-dose-month", "AE", "start UN <first-dose month>")
    ae = pd.concat([ae] + extra, ignore_index=True)
    ae["_st"] = pd.to_datetime(ae["_st"])
    ae["_en"] = pd.to_datetime(ae["_en"])
    ae = ae.sort_values(["sub", "_st"], kind="stable").reset_index(drop=True)
    ae["AESPID"] = ae.groupby("sub").cumcount() + 1
    m = len(ae)
    g = ae["AETOXGR"].to_numpy()
    ongo = ae["en_kind"].to_numpy() == "blank"
    ae_out = pd.DataFrame({
        "SUBJID": subjid[ae["sub"]], "AESPID": ae["AESPID"].astype(str), "AETERM": ae["AETERM"],
        "AESTDAT": _fmt_partial(ae["_st"], ae["st_kind"].to_numpy()),
        "AEENDAT": _fmt_partial(ae["_en"], ae["en_kind"].to_numpy()),
        "AEONGO": np.where(ongo, "Y", "N"), "AETOXGR": g.astype(str),
        "AESER": np.where((g >= 3) & (rng.random(m) < 0.5), "Y", "N"),
        "AEREL": rng.choice(["Related", "Possibly related", "Unlikely related", "Not related"], m,
                            p=[0.2, 0.3, 0.25, 0.25]),
        "AEACN": np.where(g >= 3, rng.choice(["Drug interrupted", "Drug withdrawn", "Dose reduced"], m),
                          rng.choice(["Dose not changed", "Not applicable"], m, p=[0.85, 0.15])),
        "AEOUT": np.where(ongo, rng.choice(["Recovering", "Not recovered"], m), "Recovered"),
    })
    dups = rng.permutation(m)[:max(1, n // 80)]
    _trap_log(traps, ae_out["SUBJID"].to_numpy()[dups], "duplicate-row", "AE", "row entered twice")
    ae_out = pd.concat([ae_out, ae_out.iloc[dups]]).sort_index(kind="stable").reset_index(drop=True)
    coding = pd.DataFrame([t[:7] for t in AE_TERMS],
                          columns=["AETERM", "AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEBODSYS", "AEBDSYCD"])
    coding = coding.astype(str)
    return ae_out, coding


def _con_meds(s, rng, traps) -> pd.DataFrame:
    n = len(s)
    subjid = s["SUBJID"].to_numpy()
    cnt = rng.poisson(1.1, n)
    sub = np.repeat(np.arange(n), cnt)
    m = len(sub)
    ti = rng.choice(len(CM_TERMS), m)
    trt = s["TRTSDT"]
    end_day = np.maximum(s["follow_end_day"].to_numpy()[sub], 2)
    st_day = np.where(ti == 0, -rng.integers(30, 400, m), 1 + np.floor(rng.random(m) * (end_day - 1)).astype(int))
    st = _date_of(trt, sub, st_day)
    en = st + _days(np.where(np.isin(ti, [2, 3]), rng.integers(1, 5, m), rng.integers(5, 120, m)))
    st_kind = rng.choice(np.array(["full", "day", "month"]), m, p=[0.8, 0.15, 0.05])
    en_kind = rng.choice(np.array(["full", "day", "blank"]), m, p=[0.7, 0.1, 0.2])
    terms = np.array(CM_TERMS, dtype=object)
    cm = pd.DataFrame({"SUBJID": subjid[sub], "CMTRT": terms[ti, 0], "CMINDC": terms[ti, 1],
                       "CMSTDAT": _fmt_partial(st, st_kind), "CMENDAT": _fmt_partial(en, en_kind),
                       "RESCUE": terms[ti, 2]})
    return cm


def _orphans(forms, s, rng, traps) -> None:
    """A subject present in EXPOSURE, LAB and AE but missing from DM (not enrolled); its
    SUBJID (site 00) can never be a generated subject's."""
    site, sid = ORPHAN_SITE, ORPHAN_SUBJID
    if sid in set(s["SUBJID"]):
        raise AssertionError(f"the not-in-DM trap subject {sid} is a generated subject")
    start = pd.Timestamp("2024-06-03")
    forms["EXPOSURE"] = pd.concat([forms["EXPOSURE"], pd.DataFrame(
        {"SUBJID": [sid], "EXSTDAT": _fmt_dates([start]), "EXENDAT": _fmt_dates([start + pd.Timedelta(days=60)]),
         "DOSE": ["5"], "FREQ": ["QD"], "ADJREAS": [""]})], ignore_index=True)
    days = np.array([0, 42])
    forms["LAB"] = pd.concat([forms["LAB"], pd.DataFrame(
        {"SUBJID": sid, "VISIT": ["DAY 1", "WEEK 6"], "LBDAT": _fmt_dates(start + _days(days)),
         "LBTIM": ["08:30", "09:10"], "LBTEST": "Platelet count", "LBORRES": ["8", "64"],
         "LBORRESU": "10^9/L", "LBORNRLO": "125", "LBORNRHI": "350",
         "LBNAM": f"Site {site} hospital laboratory"})], ignore_index=True)
    forms["AE"] = pd.concat([forms["AE"], pd.DataFrame(
        {"SUBJID": [sid], "AESPID": ["1"], "AETERM": ["Headache"], "AESTDAT": _fmt_dates([start + pd.Timedelta(days=5)]),
         "AEENDAT": _fmt_dates([start + pd.Timedelta(days=7)]), "AEONGO": ["N"], "AETOXGR": ["1"], "AESER": ["N"],
         "AEREL": ["Possibly related"], "AEACN": ["Dose not changed"], "AEOUT": ["Recovered"]})], ignore_index=True)
    _trap_log(traps, sid, "subject-not-in-dm", "EXPOSURE,LAB,AE", "rows for a subject missing from DM")


# ---------------------------------------------------------------------------------------
# truth
# ---------------------------------------------------------------------------------------
def _treatment_end(ex: pd.DataFrame, n: int) -> pd.Series:
    """TRTEDT per subject (index 0..n-1) by the SAP, from every exposure period as written
    (``sub``, start ``_st``, end ``_en`` with NaT for an open period, ``_dose``): periods
    starting after the cut-off are left out, a period running past the cut-off (or open)
    ends at it, and TRTEDT is the end of the last period (latest start) with dose > 0. So a
    dose-0 period at the end, or dosing that restarts after the cut-off, never sets it."""
    ex = ex[(ex["_st"] <= CUTOFF) & (ex["_dose"] > 0)]
    end = ex["_en"].fillna(CUTOFF).clip(upper=CUTOFF)
    ex = ex.assign(_en=end).sort_values(["sub", "_st", "_en"], kind="stable")
    return ex.groupby("sub")["_en"].last().reindex(np.arange(n))


def _truth(s, g, c, forms) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The figures each subject is meant to produce, computed from the simulator's own
    knowledge of every record (second programming of the SAP's selection rules)."""
    lab = forms.pop("_LAB_HIDDEN")
    n = len(s)
    cut_day = (CUTOFF - s["TRTSDT"]).dt.days.to_numpy() + 1
    p = lab[(lab["LBTEST"] == "Platelet count")].copy()
    p = p.drop_duplicates(subset=["sub", "_day", "LBTIM", "res", "LBORRESU", "VISIT"])
    p = p[np.isfinite(p["_std"].to_numpy()) & (p["_day"].to_numpy() <= cut_day[p["sub"]])]
    # baseline: last valid on/before day 1, no more than 28 days before (day -28 .. 1;
    # there is no day 0, so day -28 is exactly 28 days before the first dose)
    pre = p[(p["_day"] <= 1) & (p["_day"] >= -28)].sort_values(["sub", "_day", "LBTIM"])
    basev = pre.groupby("sub")["_std"].last()
    post = p[p["_day"] >= 2].copy()
    tgt = np.array(sorted(WINDOWS))
    lo = np.array([WINDOWS[t][0] for t in tgt])
    hi = np.array([WINDOWS[t][1] for t in tgt])
    j = np.searchsorted(lo, post["_day"].to_numpy(), side="right") - 1
    inwin = (j >= 0) & (post["_day"].to_numpy() <= hi[np.clip(j, 0, None)])
    post = post[inwin]
    post["target"] = tgt[j[inwin]]
    post["dist"] = (post["_day"] - post["target"]).abs()
    post = post.sort_values(["sub", "target", "dist", "_day", "LBTIM"],
                            ascending=[True, True, True, False, False])
    sel = post.groupby(["sub", "target"], as_index=False).first()
    label = {t: lab_ for lab_, t, _ in SCHEDULE if t in WINDOWS}
    avisitn = {8: 1, 15: 2, 29: 4, 43: 6, 57: 8, 85: 12, 113: 16, 141: 20, 169: 24}
    avisitn.update({t: 100 + int(label[t].split()[1]) for t in tgt if t > 169})
    visits = pd.DataFrame({
        "SUBJID": s["SUBJID"].to_numpy()[sel["sub"]],
        "AVISIT": sel["target"].map(label).str.title().to_numpy(),
        "AVISITN": sel["target"].map(avisitn).to_numpy(),
        "ADY": sel["_day"].to_numpy(),
        "AVAL": sel["_std"].to_numpy(),
        "CRIT1FL": np.where(sel["_std"] >= 30, "Y", "N"),
        "CRIT2FL": np.where(sel["_std"] >= 100, "Y", "N"),
        "ITPPHASE": np.array(PHASES)[s["phase"].to_numpy()[sel["sub"]]],
    })
    # self-check: the table weeks carry exactly the planned categories
    chk = c[c["evaluable"]][["sub", "week", "cat"]]
    got = sel.assign(week=sel["target"].map({43: 6, 85: 12, 113: 16, 169: 24}))
    got = got.dropna(subset=["week"]).astype({"week": int})
    mm = chk.merge(got[["sub", "week", "_std"]], on=["sub", "week"], how="outer", indicator=True)
    bad = mm[(mm["_merge"] != "both")
             | (np.where(mm["_std"] >= 100, 2, np.where(mm["_std"] >= 30, 1, 0)) != mm["cat"])]
    if len(bad):
        raise AssertionError(f"simulator truth differs from its plan for {len(bad)} subject-weeks:\n{bad.head()}")

    trtsdt = s["TRTSDT"]
    ongoing = s["ongoing"].to_numpy()
    trtedt = _treatment_end(forms.pop("_EX_HIDDEN"), n)
    if not (trtedt >= trtsdt).all():
        raise AssertionError("simulator truth: a subject without a dose > 0 before the cut-off")
    subj = pd.DataFrame({
        "SUBJID": s["SUBJID"], "AGE": s["AGE"], "SEX": s["SEX"].str[0],
        "TRTSDT": trtsdt.dt.strftime("%Y-%m-%d"),
        "TRTEDT": trtedt.dt.strftime("%Y-%m-%d"),
        "TRTDURD": (trtedt - trtsdt).dt.days + 1,
        "DOSESTRT": s["DOSESTRT"],
        "DIAGDT": s["DIAGDT"].dt.strftime("%Y-%m-%d"),
        "ITPDURM": s["ITPDURM"].round(4),
        "ITPPHASE": np.array(PHASES)[s["phase"]],
        "BASEPLAT": basev.reindex(np.arange(n)).to_numpy(),
        "WHOGRBL": s["WHOGRBL"].where(s["WHOGRBL"] >= 0).astype("Int64"),
        "EOTSTT": np.where(ongoing, "ONGOING", "DISCONTINUED"),
        "DCTREAS": np.where(ongoing, "", s["_ds_reason"]),
    })
    subj["TRTDURM"] = (subj["TRTDURD"] / DAYS_PER_MONTH).round(4)
    if not (subj["BASEPLAT"].to_numpy() == s["BASEPLAT"].to_numpy()).all():
        raise AssertionError("simulator baseline differs from its plan")
    return subj, visits


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
FORM_ORDER = ["DM", "ITPHX", "BLEED", "EXPOSURE", "LAB", "AE", "AECODING", "CM", "DS"]
# columns of LAB are written in an order other than raw-forms.md's: readers must use names
LAB_COLUMN_ORDER = ["SUBJID", "LBTEST", "VISIT", "LBDAT", "LBTIM", "LBORRES", "LBORRESU",
                    "LBORNRLO", "LBORNRHI", "LBNAM"]
FIXED_TIME = (2025, 5, 30, 0, 0, 0)


MARKER = "simulate.json"  # written into every export folder (and the truth folder of a workbook)
CREATOR = "itp-adam simulate"  # the creator property of every workbook the simulator writes
EARLIER = "an earlier `itp-adam simulate` output"


def write_export(study: SimulatedStudy, out: Path, fmt: str = "csv", *,
                 seed: int | None = None) -> list[Path]:
    """Write the raw export and its truth at ``out``, atomically; return the paths written.

    ``out`` a folder: ``out/<FORM>.csv`` (``fmt`` csv) or ``out/raw-export.xlsx`` (xlsx),
    ``out/truth/`` and the marker ``out/simulate.json``. ``out`` ending in ``.xlsx`` (``fmt``
    xlsx): that one workbook, with the truth and the marker in ``x.truth/`` beside it.

    The ``--out`` rules of ``itp-adam run`` apply (``pipeline.check_out``): only the
    simulator's own earlier output (a folder holding ``simulate.json``, a workbook whose
    creator is ``itp-adam simulate``) is replaced; an empty or new path is fine; anything else
    is refused with an :class:`InputError`. Everything is written into a temporary folder
    beside ``out`` and moved into place when complete, so a failure leaves the earlier output
    as it was. ``seed`` is recorded in the marker."""
    from ..stages.pipeline import publish, staged

    out = Path(out).absolute()
    truth = check_export_out(out, fmt)
    one_workbook = out.suffix.lower() == ".xlsx"  # else a folder (check_export_out)
    with staged(out) as staging:
        if one_workbook:
            names = _write_into(study, fmt, staging / out.name, staging / truth.name, seed, True)
            moves = [(staging / out.name, out), (staging / truth.name, truth)]
        else:
            names = _write_into(study, fmt, staging, staging / "truth", seed, False)
            moves = [(staging, out)]
        publish(moves, lambda target: _check_target(target, one_workbook and target == out))
    home = out.parent if one_workbook else out
    return [home / name for name in names]


def write_pieces(n: int, seed: int, pieces: int, out: Path) -> list[Path]:
    """Write a study of ``n`` subjects as an export in ``pieces`` pieces (``build_pieces``;
    ``docs/partitions.md``, "An export in pieces"): ``out/piece-000/`` ... each a CSV export
    of its subjects with its own ``truth/`` and marker, and the marker ``out/simulate.json``
    naming the pieces. One piece is held at a time. Atomic, and the ``--out`` rules of
    ``write_export`` apply; return the paths written."""
    from ..errors import InputError
    from ..stages.pipeline import publish, staged

    out = Path(out).absolute()
    if out.suffix.lower() == ".xlsx":
        raise InputError("names a workbook (it ends in .xlsx), but an export in pieces is a "
                         "folder of CSV folders", file=str(out),
                         expected="a folder name, or --pieces 1 for one workbook")
    check_export_out(out, "csv")
    with staged(out) as staging:
        written: list[str] = []
        names = [f"piece-{k:03d}" for k in range(pieces)]
        for name, study in zip(names, build_pieces(n, seed, pieces)):
            home = staging / name
            written += [f"{name}/{p}" for p in
                        _write_into(study, "csv", home, home / "truth", seed, False, piece=name)]
            del study
        about = {"written_by": CREATOR, "version": _version(), "seed": seed, "subjects": n,
                 "format": "csv", "pieces": names}
        (staging / MARKER).write_text(json.dumps(about, indent=2) + "\n", encoding="utf-8")
        written.append(MARKER)
        publish([(staging, out)], lambda target: _check_target(target, False))
    return [out / name for name in written]


def _version() -> str:
    from .. import __version__
    return __version__


def check_export_out(out: Path, fmt: str) -> Path:
    """Check that ``write_export`` may write at ``out`` (see there); return the truth folder.

    Cheap, so the command line calls it before it simulates a large study."""
    from ..errors import InputError

    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown format {fmt!r}: expected csv or xlsx")
    out = Path(out).absolute()
    one_workbook = out.suffix.lower() == ".xlsx"
    if one_workbook and fmt == "csv":
        raise InputError("names a workbook (it ends in .xlsx) but the format is csv", file=str(out),
                         expected="a folder name for the CSV export, or --format xlsx")
    truth = out.with_name(out.stem + ".truth") if one_workbook else out / "truth"
    _check_target(out, one_workbook)
    if one_workbook:
        _check_target(truth, False)
    return truth


def _check_target(target: Path, workbook: bool) -> None:
    from ..stages.pipeline import check_out

    if workbook:
        _check_workbook(target)
    else:
        check_out(target, MARKER, EARLIER)


def _write_into(study: SimulatedStudy, fmt: str, export: Path, truth: Path,
                seed: int | None, one_workbook: bool, piece: str | None = None) -> list[str]:
    """Write the export (a folder of CSVs or with raw-export.xlsx; with ``one_workbook`` the
    workbook file ``export`` itself), the truth folder and the marker (naming ``piece``, one
    piece of a study written in pieces); return the paths written, relative to the folder
    holding the export."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    frames = {k: study.forms[k] for k in FORM_ORDER}
    frames["LAB"] = frames["LAB"][LAB_COLUMN_ORDER]
    if one_workbook:  # the marker goes with the truth
        home, files, marker = export.parent, [export], truth / MARKER
        _write_workbook(frames, export)
    else:
        home, marker = export, export / MARKER
        export.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            files = [export / f"{name}.csv" for name in frames]
            for path, df in zip(files, frames.values()):
                table = pa.Table.from_pandas(df.astype(str).reset_index(drop=True), preserve_index=False)
                pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
        else:
            files = [export / "raw-export.xlsx"]
            _write_workbook(frames, files[0])
    exported = [p.relative_to(home).as_posix() for p in files]
    truth.mkdir()
    for name, df in (("subjects", study.truth_subjects), ("visits", study.truth_visits),
                     ("traps", study.traps)):
        path = truth / f"{name}.csv"
        df.to_csv(path, index=False, lineterminator="\n")
        files.append(path)
    about = {"written_by": CREATOR, "version": _version(), "seed": seed,
             "subjects": int(study.truth_subjects["SUBJID"].nunique()), "format": fmt,
             **({"piece": piece} if piece else {}), "export": exported,
             "truth": truth.relative_to(home).as_posix()}
    marker.write_text(json.dumps(about, indent=2) + "\n", encoding="utf-8")
    files.append(marker)
    return [p.relative_to(home).as_posix() for p in files]


def _check_workbook(path: Path) -> None:
    """Refuse to replace ``path`` unless it is absent or a workbook the simulator wrote."""
    from ..errors import InputError

    expected = "a new .xlsx file name or a workbook `itp-adam simulate` wrote"
    if path.is_dir():
        raise InputError("is a folder, not a workbook file", file=str(path), expected=expected)
    if not path.exists():
        return
    try:
        with zipfile.ZipFile(path) as book:
            core = book.read("docProps/core.xml").decode("utf-8", "replace")
        found = re.search(r"<dc:creator\b[^>]*>([^<]*)</dc:creator>", core)
        why = f"its creator is {found.group(1)!r}" if found else "it has no creator"
    except (OSError, KeyError, zipfile.BadZipFile):
        found, why = None, "it is not an .xlsx workbook"
    if found is None or found.group(1) != CREATOR:
        raise InputError(f"exists and is not {EARLIER} ({why}, not {CREATOR!r}); "
                         "refusing to replace it", file=str(path), expected=expected)


def _write_workbook(frames: dict[str, pd.DataFrame], path: Path) -> None:
    """One sheet per form, every cell text; byte-for-byte reproducible (fixed timestamps)."""
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for name, df in frames.items():
        ws = wb.create_sheet(name)
        ws.append(list(df.columns))
        for row in df.astype(str).itertuples(index=False, name=None):
            ws.append(row)
    stamp = dt.datetime(*FIXED_TIME)
    fixed = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = CREATOR  # marks the workbook as the simulator's own (_check_workbook)
    buf = io.BytesIO()
    wb.save(buf)
    # rewrite the zip with fixed member timestamps so that the same seed gives the same bytes
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin, \
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = item.external_attr
            data = zin.read(item.filename)
            if item.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + fixed, data)
            zout.writestr(info, data)
