"""The hetrombopag ITP study's results: response rates, baseline characteristics and the
safety summary (study code: the results provider ``hetrombopag-itp``, ``stages/results.py``).

``write_results`` is the study's results stage of ``itp-adam run``: from the ADaM
frames it writes the machine-readable results to ``OUT/results/`` (``response.csv`` as fixed
in the contract, ``baseline.csv``, ``safety.csv``) and returns the summaries the reviewer
tables (RTF, XLSX) and figures (PNG) of ``OUT/tables/`` are drawn from (``drawing.py``,
``tables.py``, ``figures.py``, in the engine's worker process ``report/render.py``). The rules are described in
``docs/results.md``; every number a statistician could change (criteria, confidence level,
percent decimals, phase labels, windows, grades) comes from ``specs.study`` (``parameters.py``).

The calculations are vectorised (groupby over subjects); the only loops run over the handful
of criteria, groups and table rows.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...derive.columns import positions
from ...derive.core import text_is_in
from ...spec.model import Specs
from .parameters import HetrombopagStudy as Study

if TYPE_CHECKING:
    from ...report.render import Rendering

ALL = "All"
"""The group label of the whole population in ``response.csv`` (contract)."""
CI_DECIMALS = 1
"""Decimals of the confidence limits in percent (contract: "in percent, one decimal")."""
WITHDRAWN = "DRUG WITHDRAWN"
"""AEACN term (CDISC codelist C66767) of an AE that led to withdrawal of the study drug."""

FLAG_CELLS = 200_000_000
"""Distinct subjects per (group, visit) are counted with one flag per cell and subject up to
this many flags (bytes); above it, by hashing (same result, slower)."""

RESPONSE_COLUMNS = ["criterion", "group", "avisit", "avisitn", "n", "N", "pct", "ci_low", "ci_high"]
BASELINE_COLUMNS = ["row", "label", "stat", "n", "N", "value", "min", "max", "q1", "q3", "display"]
SAFETY_COLUMNS = ["row", "label", "n", "N", "pct", "display"]


# --------------------------------------------------------------------------------------------
# Small statistics


def round_half_up(value: float | int | Decimal, decimals: int = 0) -> Decimal:
    """``value`` rounded half up (0.5 -> 1) to ``decimals`` places, in decimal arithmetic."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def percent(n: int, total: int, decimals: int = 0) -> float | int:
    """``100 n / N`` rounded half up; an int when ``decimals`` is 0; NaN when N is 0."""
    if total == 0:
        return np.nan
    value = round_half_up(Decimal(100 * int(n)) / Decimal(int(total)), decimals)
    return int(value) if decimals == 0 else float(value)


def exact_ci(n: int, total: int, level: float) -> tuple[float, float]:
    """Clopper-Pearson (exact) limits of n/N at ``level``, in percent, ``CI_DECIMALS`` places."""
    low, high = exact_limits(np.array([n]), np.array([total]), level)
    return (float(round_half_up(100 * low[0], CI_DECIMALS)),
            float(round_half_up(100 * high[0], CI_DECIMALS)))


def exact_limits(n: np.ndarray, total: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson limits (proportions) of n/N at ``level``, for whole arrays: the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of Beta(n, N - n + 1) and
    Beta(n + 1, N - n), 0 for n = 0 and 1 for n = N. The same interval as scipy's
    ``binomtest(...).proportion_ci(method="exact")``, without its per-row root finding and
    the 0.7 s import of ``scipy.stats``."""
    from scipy.special import betaincinv

    n, total = np.asarray(n, dtype="float64"), np.asarray(total, dtype="float64")
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(n == 0, 0.0, betaincinv(np.maximum(n, 1), total - n + 1, tail))
        high = np.where(n == total, 1.0, betaincinv(n + 1, np.maximum(total - n, 1), 1 - tail))
    return low, high


def format_n_pct(n: int, total: int, pct: float | int) -> str:
    """``n/N (pct%)`` as in the publication."""
    return f"{n}/{total} ({pct}%)"


def format_ci(low: float, high: float) -> str:
    return f"{low:.{CI_DECIMALS}f}, {high:.{CI_DECIMALS}f}"


def _number(value: float, decimals: int) -> str:
    """``value`` rounded half up to ``decimals`` places, without trailing zeros (47, 2.5)."""
    if pd.isna(value):
        return "-"
    text = f"{round_half_up(value, decimals):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --------------------------------------------------------------------------------------------
# Response


def groups(study: Study) -> list[str]:
    """Result groups: All, then the disease phases in the order of ``itp_phase.labels``."""
    return [ALL, *study.itp_phase.labels]


def _evaluable(study: Study, adsl: pd.DataFrame, adlb: pd.DataFrame) -> pd.DataFrame:
    """The analysis platelet records of FAS subjects at post-baseline analysis visits.

    One row per subject and visit: ADLB ``PARAMCD`` = ``response.parameter``, ``ANL01FL`` = Y,
    ``AVAL`` present, ``AVISITN`` a post-baseline window of ``analysis_windows``. The
    population and the phase come from ADSL (the subject-level source of both)."""
    windows = study.analysis_windows
    post = [w.avisitn for w in windows.windows]
    keep = ["USUBJID", "AVISIT", "AVISITN", "AVAL"] + [f"{c.name}FL" for c in study.response.criteria]
    rec = adlb.loc[
        adlb["PARAMCD"].eq(study.response.parameter)
        & adlb["ANL01FL"].eq("Y")
        & adlb["AVAL"].notna()
        & adlb["AVISITN"].isin(post),
        keep,
    ]
    fas = adsl.loc[adsl["FASFL"].eq("Y"), ["USUBJID", "ITPPHASE"]]
    return _with_subject_values(rec, fas)


def _with_subject_values(records: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """The records of the subjects in ``subjects`` (one row per USUBJID), with that frame's
    other columns added: an inner many-to-one merge on USUBJID, in the records' order, done
    as one index lookup instead of a join of text keys."""
    if subjects["USUBJID"].duplicated().any():
        raise ValueError("subjects must have one row per USUBJID")
    rows = positions(records["USUBJID"], subjects["USUBJID"])
    found = rows >= 0
    out = records.loc[found].reset_index(drop=True)
    for name in subjects.columns.drop("USUBJID"):
        out[name] = subjects[name].take(rows[found]).array  # dtype kept (no object round trip)
    return out


def response_rates(study: Study, adsl: pd.DataFrame, adlb: pd.DataFrame) -> pd.DataFrame:
    """``results/response.csv``: n, N, pct and exact CI per criterion, group and visit."""
    data = _evaluable(study, adsl, adlb)
    level = study.response.confidence_level
    decimals = study.response.percent_decimals
    order = {name: i for i, name in enumerate(groups(study))}
    # integer codes throughout: subjects, visits, and the (group, visit) cell of each row of
    # the records stacked as group All plus one copy per phase
    subject = pd.factorize(data["USUBJID"])[0]
    visit, visits = pd.factorize(data["AVISITN"])
    phase = positions(data["ITPPHASE"], pd.Series(study.itp_phase.labels, dtype="str"))
    rows = np.concatenate([np.arange(len(data)), np.flatnonzero(phase >= 0)])
    group = np.concatenate([np.zeros(len(data), dtype=np.intp), phase[phase >= 0] + 1])
    cell = group * len(visits) + visit[rows]
    cells = len(groups(study)) * len(visits)
    named = data["AVISIT"].notna().to_numpy()[rows]  # "first" of a groupby skips missing values
    first = pd.Series(cell[named]).drop_duplicates()  # the first row of each cell
    avisit = pd.Series(np.nan, index=range(cells), dtype="str")
    avisit.iloc[first.to_numpy()] = data["AVISIT"].to_numpy()[rows[named][first.index.to_numpy()]]
    span = int(subject.max(initial=-1)) + 1  # subject codes are 0 .. span - 1

    def distinct_subjects(keep: np.ndarray) -> np.ndarray:
        """Per cell, the number of distinct subjects among the rows kept: one flag per cell
        and subject (about 11 MB at 100,000 subjects), or hashing when that would be large."""
        pairs = cell[keep] * span + subject[rows][keep]
        if cells * span <= FLAG_CELLS:
            seen = np.zeros(cells * span, dtype=bool)
            seen[pairs] = True
            return seen.reshape(cells, span).sum(axis=1)
        return np.bincount(pd.unique(pairs) // span, minlength=cells)

    totals = distinct_subjects(np.ones(len(rows), dtype=bool))
    present = np.flatnonzero(totals > 0)
    parts = []
    for crit in study.response.criteria:
        responders = distinct_subjects(data[f"{crit.name}FL"].eq("Y").to_numpy()[rows])
        parts.append(pd.DataFrame({
            "group": np.asarray(groups(study), dtype=object)[present // len(visits)],
            "AVISITN": visits[present % len(visits)],
            "avisit": avisit.iloc[present].to_numpy(),
            "n": responders[present], "N": totals[present], "criterion": crit.name}))
    if not parts or data.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in RESPONSE_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out = out.loc[out["N"] > 0]
    crit_order = {c.name: i for i, c in enumerate(study.response.criteria)}
    out = (out.assign(_c=out["criterion"].map(crit_order), _g=out["group"].map(order))
           .sort_values(["_c", "_g", "AVISITN"]).reset_index(drop=True))
    out["avisitn"] = out["AVISITN"].astype(int) if (out["AVISITN"] % 1 == 0).all() else out["AVISITN"]
    out["n"] = out["n"].astype(int)
    out["N"] = out["N"].astype(int)
    out["pct"] = [percent(n, total, decimals) for n, total in zip(out["n"], out["N"])]
    low, high = exact_limits(out["n"].to_numpy(), out["N"].to_numpy(), level)
    out["ci_low"] = [float(round_half_up(100 * v, CI_DECIMALS)) for v in low]
    out["ci_high"] = [float(round_half_up(100 * v, CI_DECIMALS)) for v in high]
    return out[RESPONSE_COLUMNS]


# --------------------------------------------------------------------------------------------
# Baseline characteristics


def _summary_row(row: str, label: str, values: pd.Series, decimals: int) -> dict:
    values = values.dropna().astype(float)
    stats = dict(n=len(values), N=np.nan, value=values.median() if len(values) else np.nan,
                 min=values.min() if len(values) else np.nan, max=values.max() if len(values) else np.nan,
                 q1=values.quantile(0.25) if len(values) else np.nan,
                 q3=values.quantile(0.75) if len(values) else np.nan)
    display = (f"{_number(stats['value'], decimals)} "
               f"({_number(stats['min'], decimals)}-{_number(stats['max'], decimals)})")
    return dict(row=row, label=label, stat="median (min-max)", display=display, **stats)


def _count_row(row: str, label: str, n: int, total: int, decimals: int) -> dict:
    pct = percent(n, total, decimals)
    return dict(row=row, label=label, stat="n (%)", n=int(n), N=int(total), value=pct,
                min=np.nan, max=np.nan, q1=np.nan, q3=np.nan, display=f"{n} ({pct}%)")


def baseline_characteristics(study: Study, adsl: pd.DataFrame) -> pd.DataFrame:
    """``results/baseline.csv``: the rows of the published baseline table, enrolled population.

    Continuous rows: median with min, max, quartiles and the number of subjects with a value;
    count rows: n, N (= enrolled) and the percent rounded half up (``response.percent_decimals``).
    """
    decimals = study.response.percent_decimals
    enrolled = adsl.loc[adsl["ENRLFL"].eq("Y")]
    total = len(enrolled)
    rows = [dict(row="enrolled", label="Enrolled, N", stat="N", n=total, N=total, value=total,
                 min=np.nan, max=np.nan, q1=np.nan, q3=np.nan, display=str(total))]
    rows.append(_summary_row("age", "Age (years)", enrolled["AGE"], 1))
    rows.append(_count_row("sex_female", "Female", int(enrolled["SEX"].eq("F").sum()), total, decimals))
    rows.append(_count_row("sex_male", "Male", int(enrolled["SEX"].eq("M").sum()), total, decimals))
    rows.append(_summary_row("baseplat", "Baseline platelet count (10^9/L)", enrolled["BASEPLAT"], 1))
    rows.append(_summary_row("itpdurm", "ITP duration (months)", enrolled["ITPDURM"], 1))
    phase = enrolled["ITPPHASE"].value_counts()
    for label in study.itp_phase.labels:
        rows.append(_count_row(f"phase:{label}", f"Disease phase: {label}",
                               int(phase.get(label, 0)), total, decimals))
    missing_phase = int((~enrolled["ITPPHASE"].isin(study.itp_phase.labels)).sum())
    if missing_phase:
        rows.append(_count_row("phase:missing", "Disease phase: missing", missing_phase, total, decimals))
    grade = enrolled["WHOGRBL"]
    grade_counts = grade.dropna().astype(int).value_counts().sort_index()
    for value, n in grade_counts.items():
        rows.append(_count_row(f"whogrbl:{value}", f"WHO bleeding grade {value}", int(n), total, decimals))
    if grade.isna().any():
        rows.append(_count_row("whogrbl:missing", "WHO bleeding grade missing",
                               int(grade.isna().sum()), total, decimals))
    rows.append(_summary_row("dosestrt", "Starting dose (mg)", enrolled["DOSESTRT"], 1))
    rows.append(_summary_row("trtdurm", "Treatment duration (months)", enrolled["TRTDURM"], 1))
    out = pd.DataFrame(rows, columns=BASELINE_COLUMNS)
    return out.astype({"n": "Int64", "N": "Int64"})


# --------------------------------------------------------------------------------------------
# Safety


def _grade(series: pd.Series) -> pd.Series:
    """Character grades ("0"-"5", "" missing) as numbers (NaN missing)."""
    codes, distinct = pd.factorize(series.astype("str").str.strip())  # parsed once per grade
    numbers = pd.to_numeric(pd.Series(distinct, dtype="str").replace("", None), errors="coerce")
    return pd.Series(numbers.to_numpy(dtype="float64", na_value=np.nan)[codes], index=series.index)


def hepatic_lab_grades(study: Study, adsl: pd.DataFrame, adlb: pd.DataFrame) -> pd.Series:
    """Worst on-treatment hepatic lab grade per safety subject (NaN: no graded record).

    Records of the graded tests (``toxicity_grading.uln_multiples``) with a grade, dated
    post-baseline (``ADY >= analysis_windows.first_post_baseline_day``) and on or before
    ``TRTEDT + trtemfl_window_days`` (the treatment-emergent window of the AEs)."""
    safety = adsl.loc[adsl["SAFFL"].eq("Y"), ["USUBJID", "TRTEDT"]]
    lab = adlb.loc[adlb["PARAMCD"].isin(list(study.toxicity_grading.uln_multiples)),
                   ["USUBJID", "ADT", "ADY", "ATOXGR"]]
    lab = _with_subject_values(lab, safety)
    grade = _grade(lab["ATOXGR"])
    end = lab["TRTEDT"] + pd.to_timedelta(study.trtemfl_window_days, unit="D")
    on_treatment = (lab["ADY"].ge(study.analysis_windows.first_post_baseline_day)
                    & (lab["ADT"].le(end) | lab["TRTEDT"].isna()) & grade.notna())
    worst = grade[on_treatment].groupby(lab.loc[on_treatment, "USUBJID"]).max()
    return worst.reindex(safety["USUBJID"].to_numpy())


def safety_summary(study: Study, adsl: pd.DataFrame, adlb: pd.DataFrame,
                   adae: pd.DataFrame) -> pd.DataFrame:
    """``results/safety.csv``: subjects of the safety population with each kind of event.

    n = subjects with at least one such event, N = safety population, pct rounded half up."""
    decimals = study.response.percent_decimals
    severe = study.toxicity_grading.hepatic_dysfunction_grade
    safety = adsl.loc[adsl["SAFFL"].eq("Y"), "USUBJID"]
    total = len(safety)
    teae = adae.loc[adae["TRTEMFL"].eq("Y").to_numpy(dtype=bool)
                    & text_is_in(adae["USUBJID"], safety)]
    ae_grade = _grade(teae["ATOXGR"])
    hepatic = teae["HEPATFL"].eq("Y")
    worst = hepatic_lab_grades(study, adsl, adlb)
    max_grade = max(len(m) for m in study.toxicity_grading.uln_multiples.values())
    lab_severe = pd.Index(worst.index[worst.ge(severe)])
    ae_hepatic_severe = pd.Index(teae.loc[hepatic & ae_grade.ge(severe), "USUBJID"])

    def row(key: str, label: str, subjects) -> dict:
        n = pd.Index(subjects).nunique(dropna=False)  # distinct subjects
        pct = percent(n, total, decimals)
        return dict(row=key, label=label, n=n, N=total, pct=pct,
                    display=f"{n} ({pct}%)" if total else str(n))

    rows = [
        row("teae", "Any TEAE", teae["USUBJID"]),
        row(f"teae_grade_ge{severe}", f"TEAE of grade >= {severe}", teae.loc[ae_grade.ge(severe), "USUBJID"]),
        row("teae_serious", "Serious TEAE", teae.loc[teae["AESER"].eq("Y"), "USUBJID"]),
        row("teae_withdrawal", "TEAE leading to withdrawal of study drug",
            teae.loc[teae["AEACN"].eq(WITHDRAWN), "USUBJID"]),
        row("teae_hepatic", "Hepatic TEAE", teae.loc[hepatic, "USUBJID"]),
        row(f"teae_hepatic_grade_ge{severe}", f"Hepatic TEAE of grade >= {severe}", ae_hepatic_severe),
    ]
    for value in range(max_grade + 1):
        rows.append(row(f"hepatic_lab_worst:{value}",
                        f"Worst post-baseline hepatic lab grade {value}", worst.index[worst.eq(value)]))
    rows.append(row("hepatic_lab_worst:missing", "Worst post-baseline hepatic lab grade: not graded",
                    worst.index[worst.isna()]))
    rows.append(row(f"hepatic_lab_grade_ge{severe}", f"Hepatic lab grade >= {severe}", lab_severe))
    rows.append(row(f"hepatic_dysfunction_ge{severe}", f"Hepatic dysfunction of grade >= {severe}",
                    lab_severe.append(ae_hepatic_severe)))
    return pd.DataFrame(rows, columns=SAFETY_COLUMNS)


# --------------------------------------------------------------------------------------------
# Platelet summary for the figure


def platelet_summary(study: Study, adsl: pd.DataFrame, adlb: pd.DataFrame) -> pd.DataFrame:
    """Median, quartiles and N of the analysis platelet count per phase and visit (FAS),
    baseline included, with the visit's target day (``analysis_windows``) for the time axis."""
    windows = study.analysis_windows
    targets = {w.avisitn: w.target for w in windows.windows}
    targets[windows.baseline_avisitn] = 1.0
    rec = adlb.loc[adlb["PARAMCD"].eq(study.response.parameter) & adlb["ANL01FL"].eq("Y")
                   & adlb["AVAL"].notna() & adlb["AVISITN"].isin(list(targets)),
                   ["USUBJID", "AVISIT", "AVISITN", "AVAL"]]
    fas = adsl.loc[adsl["FASFL"].eq("Y"), ["USUBJID", "ITPPHASE"]]
    rec = _with_subject_values(rec, fas)
    stacked = pd.concat([rec.assign(group=ALL), rec.assign(group=rec["ITPPHASE"])])
    stacked = stacked.loc[stacked["group"].isin(groups(study))]
    grouped = stacked.groupby(["group", "AVISITN"])
    out = grouped.agg(avisit=("AVISIT", "first"), N=("AVAL", "size"), median=("AVAL", "median"))
    quartiles = grouped["AVAL"].quantile([0.25, 0.75]).unstack()  # linear interpolation
    out = out.assign(q1=quartiles[0.25], q3=quartiles[0.75]).reset_index()
    out["target"] = out["AVISITN"].map(targets)
    return out


# --------------------------------------------------------------------------------------------
# The stage


def write_results(specs: Specs, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame],
                  folder: Path) -> Rendering:
    """Write ``results/`` (CSV) into the run folder; return the reviewer tables and figures still
    to draw into ``tables/`` (``Rendering.run``, in the run's worker process: ``report/render.py``)."""
    from ...report.render import Rendering
    from .drawing import Summaries

    study: Study = specs.study  # type: ignore[assignment]  (read as STUDY: parameters.py)
    adsl, adlb, adae = adam["ADSL"], adam["ADLB"], adam["ADAE"]
    results_dir = Path(folder) / "results"
    results_dir.mkdir(parents=True, exist_ok=True)

    response = response_rates(study, adsl, adlb)
    baseline = baseline_characteristics(study, adsl)
    safety = safety_summary(study, adsl, adlb, adae)
    response.to_csv(results_dir / "response.csv", index=False)
    baseline.to_csv(results_dir / "baseline.csv", index=False)
    safety.to_csv(results_dir / "safety.csv", index=False)

    fas = adsl.loc[adsl["FASFL"].eq("Y")]
    phase_n = fas["ITPPHASE"].value_counts()
    populations = {
        "enrolled": int(adsl["ENRLFL"].eq("Y").sum()),
        "safety": int(adsl["SAFFL"].eq("Y").sum()),
        "fas": len(fas),
        "fas_groups": {ALL: len(fas), **{g: int(phase_n.get(g, 0)) for g in study.itp_phase.labels}},
    }
    summaries = Summaries(study=study, baseline=baseline, response=response, safety=safety,
                          platelets=platelet_summary(study, adsl, adlb), populations=populations)
    return Rendering(drawing=f"{__package__}.drawing", content=summaries,
                     folder=Path(folder) / "tables")
