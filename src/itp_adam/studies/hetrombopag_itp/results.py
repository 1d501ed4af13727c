"""The hetrombopag ITP study's results: response rates, baseline characteristics and the
safety summary (study code: the results provider ``hetrombopag-itp``, ``stages/results.py``).

The numbers are the study's analyses (``specs/hetrombopag-itp/analyses/*.yaml``), computed by
the engine into the ARD (``itp_adam.analysis``, ``results/ard.csv``). ``write_results`` lays
them out as the study's machine-readable results in ``OUT/results/`` (``response.csv`` as fixed
in the contract, ``baseline.csv``, ``safety.csv``) and returns the summaries the figures of
``OUT/tables/`` are drawn from (``drawing.py``, ``figures.py``, in the engine's worker
process ``report/render.py``); the reviewer tables are display specs
(``analyses/tables.yaml``) the engine lays out. What is
the study's own here is the layout: which analysis gives which row, the row keys and labels.
The rules are described in ``docs/results.md``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...analysis.ard import ard_views
from ...analysis.model import ReportingEvent, level_text
from ...analysis.stats import rounded
from ...spec.model import Specs, SpecError, SpecProblem
from .parameters import HetrombopagStudy as Study

if TYPE_CHECKING:
    from ...report.render import Rendering

ALL = "All"
"""The group label of the whole population in ``response.csv`` (contract)."""

RESPONSE_PREFIX = "RESPONSE_"
"""The response analysis of criterion CRITn is ``RESPONSE_CRITn`` (analyses/response.yaml)."""
VISIT = "AVISITN"
"""The grouping variable of the analysis visits of a response analysis."""
PLATELETS = "PLATELETS_BY_VISIT"
"""The analysis of the platelet figure (analyses/platelets.yaml)."""

RESPONSE_COLUMNS = ["criterion", "group", "avisit", "avisitn", "n", "N", "pct", "ci_low", "ci_high"]
BASELINE_COLUMNS = ["row", "label", "stat", "n", "N", "value", "min", "max", "q1", "q3", "display"]
SAFETY_COLUMNS = ["row", "label", "n", "N", "pct", "display"]


# --------------------------------------------------------------------------------------------
# Small statistics (the engine's, as the tables and tests use them)


def round_half_up(value: float | int | Decimal, decimals: int = 0) -> Decimal:
    """``value`` rounded half up (0.5 -> 1) to ``decimals`` places, in decimal arithmetic."""
    return rounded(value, decimals, "half_up")


def percent(n: int, total: int, decimals: int = 0) -> float | int:
    """``100 n / N`` rounded half up; an int when ``decimals`` is 0; NaN when N is 0."""
    if total == 0:
        return np.nan
    value = round_half_up(Decimal(100 * int(n)) / Decimal(int(total)), decimals)
    return int(value) if decimals == 0 else float(value)


def _shown(text: str) -> str:
    """A rounded statistic of the ARD without trailing zeros (47.0 -> 47, 2.50 -> 2.5); ``-``
    when missing."""
    if not text:
        return "-"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number_of(text: str, decimals: int | None) -> float | int:
    """A shown value of the ARD as the CSVs hold it: an int for no decimals, else a float."""
    if not text:
        return np.nan
    return int(Decimal(text)) if not decimals else float(text)


def groups(study: Study) -> list[str]:
    """Result groups: All, then the disease phases in the order of ``itp_phase.labels``."""
    return [ALL, *study.itp_phase.labels]


def _problem(event: ReportingEvent, analysis_id: str, use: str, problem: str = "") -> SpecError:
    """The analyses do not give what a result needs: a spec error at the analysis' file and
    line, or naming the analyses folder when there is no such analysis."""
    try:
        analysis = event.analysis(analysis_id)
    except KeyError:
        folder = str(Path(event.files[0]).parent) if event.files else "analyses"
        return SpecError([SpecProblem(folder, None, f"no analysis {analysis_id}: the "
                                      f"hetrombopag-itp results need it for {use}")])
    return SpecError([analysis.problem(f"the hetrombopag-itp results use it for {use}: {problem}")])


def _analysis(event: ReportingEvent, analysis_id: str, use: str):
    try:
        return event.analysis(analysis_id)
    except KeyError:
        raise _problem(event, analysis_id, use) from None


Ard = pd.DataFrame | dict[str, pd.DataFrame]
"""The ARD, or its ``ard_views`` (made once by ``write_results`` for all the results)."""


def _views(ard: Ard) -> dict[str, pd.DataFrame]:
    return ard if isinstance(ard, dict) else ard_views(ard)


def _view(event: ReportingEvent, views: dict[str, pd.DataFrame], analysis_id: str, use: str,
          stats: tuple[str, ...] = ()) -> pd.DataFrame:
    """The ARD rows of an analysis, one per group and level (``views``: ``ard_views`` of the
    ARD), with the statistics ``stats`` (else a spec error saying what the result needs)."""
    _analysis(event, analysis_id, use)
    view = views.get(analysis_id, pd.DataFrame(columns=["variable", "variable_level"]))
    lacking = [stat for stat in stats if stat not in view.columns]
    if lacking and not view.empty:
        raise _problem(event, analysis_id, use, f"its method gives no {', '.join(lacking)}")
    return view


def _one(event: ReportingEvent, view: pd.DataFrame, analysis_id: str, use: str,
         level: str = "") -> dict:
    """The row of ``level`` of the variable (none: the analysis without a variable), as a
    mapping column -> value."""
    levels = view["variable_level"].to_numpy(dtype=object) if "variable_level" in view else []
    found = np.flatnonzero(np.asarray(levels) == level) if len(levels) else []
    if len(found) == 0:
        raise _problem(event, analysis_id, use, f"it gives no result{' for level ' + repr(level) if level else ''}")
    return {column: view[column].to_numpy()[found[0]] for column in view.columns}


def _decimals(event: ReportingEvent, analysis_id: str, stat: str) -> int | None:
    method = event.methods[event.analysis(analysis_id).method]
    return next((op.decimals for op in method.operations if op.stat == stat), None)


# --------------------------------------------------------------------------------------------
# Response


def response_rates(study: Study, ard: Ard, event: ReportingEvent) -> pd.DataFrame:
    """``results/response.csv`` from the ARD: per criterion of ``response.criteria``, the rows
    of analysis ``RESPONSE_<criterion>`` (groups: its visit grouping, AVISITN, and one other,
    the group column) with N >= 1; pct and the limits as the ARD shows them."""
    parts = []
    views = _views(ard)
    for crit in study.response.criteria:
        analysis_id = f"{RESPONSE_PREFIX}{crit.name}"
        view = _view(event, views, analysis_id, f"the response to {crit.name} in response.csv",
                     ("n", "N", "pct", "ci_low", "ci_high"))
        group_vars = [c for c in view.columns if c.startswith("group") and c[5:].isdigit()]
        names = [view[c].iloc[0] for c in group_vars] if len(view) else []
        if len(view) and (names.count(VISIT) != 1 or len(names) != 2):
            raise _problem(event, analysis_id, "response.csv", f"it needs two groupings, the "
                           f"visits ({VISIT}) and the group; it has {', '.join(names) or 'none'}")
        if view.empty:
            continue
        visit = group_vars[names.index(VISIT)]
        group = group_vars[1 - names.index(VISIT)]
        decimals = _decimals(event, analysis_id, "pct")
        view = view.loc[view["N"] >= 1]  # a visit nobody in the group is evaluable at: no row
        part = pd.DataFrame({
            "criterion": crit.name,
            "group": view[f"{group}_label"].to_numpy(dtype=object),
            "avisit": view[f"{visit}_label"].to_numpy(dtype=object),
            "AVISITN": view[f"{visit}_level"].astype("float64").to_numpy(),
            "n": view["n"].to_numpy(), "N": view["N"].to_numpy(),
            "pct": [_number_of(t, decimals) for t in view["pct_fmt"]],
            "ci_low": [_number_of(t, 1) for t in view["ci_low_fmt"]],
            "ci_high": [_number_of(t, 1) for t in view["ci_high_fmt"]]})
        parts.append(part)
    if not parts or all(part.empty for part in parts):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in RESPONSE_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out["avisitn"] = out["AVISITN"].astype(int) if (out["AVISITN"] % 1 == 0).all() else out["AVISITN"]
    out["n"] = out["n"].astype(int)
    out["N"] = out["N"].astype(int)
    return out[RESPONSE_COLUMNS]


def response_level(study: Study, event: ReportingEvent) -> float:
    """The confidence level of the response analyses' limits (their method's; the first
    criterion's), for the headers of the table and figure."""
    analysis = _analysis(event, f"{RESPONSE_PREFIX}{study.response.criteria[0].name}",
                         "the response table and figure")
    level = event.methods[analysis.method].confidence_level
    return level if level is not None else study.response.confidence_level


# --------------------------------------------------------------------------------------------
# Baseline characteristics

BASELINE_SUMMARIES = {  # row key -> (analysis, label)
    "age": ("BASELINE_AGE", "Age (years)"),
    "baseplat": ("BASELINE_PLATELETS", "Baseline platelet count (10^9/L)"),
    "itpdurm": ("BASELINE_ITP_DURATION", "ITP duration (months)"),
    "dosestrt": ("BASELINE_DOSE", "Starting dose (mg)"),
    "trtdurm": ("BASELINE_TREATMENT_DURATION", "Treatment duration (months)"),
}


def baseline_characteristics(study: Study, ard: Ard, event: ReportingEvent) -> pd.DataFrame:
    """``results/baseline.csv``: the rows of the published baseline table (enrolled), from the
    analyses of analyses/baseline.yaml.

    Continuous rows: median with min, max, quartiles and the number of subjects with a value;
    count rows: n, N (= enrolled) and the percent as the ARD shows it."""

    why = "a row of baseline.csv"
    views = _views(ard)

    def view(analysis_id: str, stats: tuple[str, ...]) -> pd.DataFrame:
        return _view(event, views, analysis_id, why, stats)

    def summary_row(row: str) -> dict:
        analysis_id, label = BASELINE_SUMMARIES[row]
        found = _one(event, view(analysis_id, ("n", "median", "min", "max", "q1", "q3")),
                     analysis_id, why)
        median, low, high = (found[f"{s}_fmt"] for s in ("median", "min", "max"))
        return dict(row=row, label=label, stat="median (min-max)", n=int(found["n"]), N=np.nan,
                    value=found["median"], min=found["min"], max=found["max"], q1=found["q1"],
                    q3=found["q3"], display=f"{_shown(median)} ({_shown(low)}-{_shown(high)})")

    def count_rows(analysis_id: str, labels: dict[str, tuple[str, str]], keep_empty: set[str]) -> list[dict]:
        found = view(analysis_id, ("n", "N", "pct"))
        decimals = _decimals(event, analysis_id, "pct")
        out = []
        for item in found.itertuples():
            if item.variable_level not in labels:
                continue
            row, label = labels[item.variable_level]
            if item.n == 0 and item.variable_level not in keep_empty:
                continue
            pct = _number_of(item.pct_fmt, decimals)
            out.append(dict(row=row, label=label, stat="n (%)", n=int(item.n), N=int(item.N),
                            value=pct, min=np.nan, max=np.nan, q1=np.nan, q3=np.nan,
                            display=f"{int(item.n)} ({pct}%)"))
        return out

    enrolled = _one(event, view("BASELINE_ENROLLED", ("n",)), "BASELINE_ENROLLED", why)
    total = int(enrolled["n"])
    rows = [dict(row="enrolled", label="Enrolled, N", stat="N", n=total, N=total, value=total,
                 min=np.nan, max=np.nan, q1=np.nan, q3=np.nan, display=str(total))]
    rows.append(summary_row("age"))
    rows += count_rows("BASELINE_SEX", {"F": ("sex_female", "Female"), "M": ("sex_male", "Male")},
                       {"F", "M"})
    rows.append(summary_row("baseplat"))
    rows.append(summary_row("itpdurm"))
    phase = _analysis(event, "BASELINE_PHASE", why)
    labels = {label: (f"phase:{label}", f"Disease phase: {label}") for label in study.itp_phase.labels}
    if phase.missing is not None:
        labels[phase.missing] = ("phase:missing", "Disease phase: missing")
    rows += count_rows("BASELINE_PHASE", labels, set(study.itp_phase.labels))
    grades = view("BASELINE_WHO_GRADE", ("n", "N", "pct"))
    missing = _analysis(event, "BASELINE_WHO_GRADE", why).missing
    labels = {level: (f"whogrbl:{level}", f"WHO bleeding grade {level}")
              for level in grades.get("variable_level", []) if level != missing}
    if missing is not None:
        labels[missing] = ("whogrbl:missing", "WHO bleeding grade missing")
    rows += count_rows("BASELINE_WHO_GRADE", labels, set(labels) - {missing})
    rows.append(summary_row("dosestrt"))
    rows.append(summary_row("trtdurm"))
    out = pd.DataFrame(rows, columns=BASELINE_COLUMNS)
    return out.astype({"n": "Int64", "N": "Int64"})


# --------------------------------------------------------------------------------------------
# Safety


def safety_summary(study: Study, ard: Ard, event: ReportingEvent) -> pd.DataFrame:
    """``results/safety.csv``: subjects of the safety population with each kind of event, from
    the analyses of analyses/safety.yaml (n = subjects with at least one such event, N = the
    safety population, pct as the ARD shows it)."""
    severe = study.toxicity_grading.hepatic_dysfunction_grade

    why = "a row of safety.csv"
    views = _views(ard)

    def row(key: str, label: str, analysis_id: str, level: str = "") -> dict:
        view = _view(event, views, analysis_id, why, ("n", "N", "pct"))
        found = _one(event, view, analysis_id, why, level)
        n, total = int(found["n"]), int(found["N"])
        pct = _number_of(found["pct_fmt"], _decimals(event, analysis_id, "pct"))
        return dict(row=key, label=label, n=n, N=total, pct=pct,
                    display=f"{n} ({pct}%)" if total else str(n))

    rows = [
        row("teae", "Any TEAE", "SAFETY_TEAE"),
        row(f"teae_grade_ge{severe}", f"TEAE of grade >= {severe}", "SAFETY_TEAE_SEVERE"),
        row("teae_serious", "Serious TEAE", "SAFETY_TEAE_SERIOUS"),
        row("teae_withdrawal", "TEAE leading to withdrawal of study drug", "SAFETY_TEAE_WITHDRAWAL"),
        row("teae_hepatic", "Hepatic TEAE", "SAFETY_TEAE_HEPATIC"),
        row(f"teae_hepatic_grade_ge{severe}", f"Hepatic TEAE of grade >= {severe}",
            "SAFETY_TEAE_HEPATIC_SEVERE"),
    ]
    worst = _analysis(event, "SAFETY_HEPATIC_LAB_WORST", why)
    for value in worst.levels or []:
        text = level_text(value)
        rows.append(row(f"hepatic_lab_worst:{text}", f"Worst post-baseline hepatic lab grade {text}",
                        worst.id, text))
    if worst.missing is not None:
        rows.append(row("hepatic_lab_worst:missing", "Worst post-baseline hepatic lab grade: not graded",
                        worst.id, worst.missing))
    rows.append(row(f"hepatic_lab_grade_ge{severe}", f"Hepatic lab grade >= {severe}",
                    "SAFETY_HEPATIC_LAB_SEVERE"))
    rows.append(row(f"hepatic_dysfunction_ge{severe}", f"Hepatic dysfunction of grade >= {severe}",
                    "SAFETY_HEPATIC_DYSFUNCTION"))
    return pd.DataFrame(rows, columns=SAFETY_COLUMNS)


# --------------------------------------------------------------------------------------------
# Platelet summary for the figure


def platelet_summary(study: Study, ard: Ard, event: ReportingEvent) -> pd.DataFrame:
    """Median, quartiles and N of the analysis platelet count per group and visit (FAS),
    baseline included (analysis PLATELETS_BY_VISIT), with each visit's target day
    (``analysis_windows``, 1 for baseline) for the time axis; groups with no value left out."""
    windows = study.analysis_windows
    targets = {w.avisitn: w.target for w in windows.windows}
    targets[windows.baseline_avisitn] = 1.0
    view = _view(event, _views(ard), PLATELETS, "the platelet figure", ("n", "median", "q1", "q3"))
    columns = ["group", "AVISITN", "avisit", "N", "median", "q1", "q3", "target"]
    if view.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    names = [view[c].iloc[0] for c in view.columns if c.startswith("group") and c[5:].isdigit()]
    if VISIT not in names or len(names) != 2:
        raise _problem(event, PLATELETS, "the platelet figure", f"it needs two groupings, the "
                       f"visits ({VISIT}) and the group; it has {', '.join(names) or 'none'}")
    visit = f"group{names.index(VISIT) + 1}"
    group = f"group{2 - names.index(VISIT)}"
    out = pd.DataFrame({"group": view[f"{group}_label"].to_numpy(dtype=object),
                        "AVISITN": view[f"{visit}_level"].astype("float64").to_numpy(),
                        "avisit": view[f"{visit}_label"].to_numpy(dtype=object),
                        "N": view["n"].to_numpy(), "median": view["median"].to_numpy(),
                        "q1": view["q1"].to_numpy(), "q3": view["q3"].to_numpy()})
    out = out.loc[out["N"] > 0].reset_index(drop=True)
    out["N"] = out["N"].astype(int)
    out["target"] = out["AVISITN"].map(targets)
    return out


# --------------------------------------------------------------------------------------------
# The stage


def write_results(specs: Specs, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame],
                  folder: Path, ard: pd.DataFrame | None = None) -> Rendering:
    """Write ``results/`` (CSV) into the run folder from the ARD of the study's analyses
    (``ard``, computed here when not given); return the figures still to draw into
    ``tables/`` (``Rendering.run``, in the run's worker process: ``report/render.py``)."""
    from ...report.render import Rendering
    from ...stages.results import analysis_results
    from .drawing import Summaries

    study: Study = specs.study  # type: ignore[assignment]  (read as STUDY: parameters.py)
    event: ReportingEvent | None = specs.analyses
    if event is None:
        raise SpecError([SpecProblem(str(Path(study._file).parent / "analyses"), None,
                                     "the hetrombopag-itp results are made from the study's "
                                     "analyses: no analysis spec found (analyses/*.yaml)")])
    if ard is None:
        ard = analysis_results(specs, sdtm, adam)
    results_dir = Path(folder) / "results"
    results_dir.mkdir(parents=True, exist_ok=True)

    views = ard_views(ard)  # the analyses' rows, once for all the results
    response = response_rates(study, views, event)
    baseline = baseline_characteristics(study, views, event)
    safety = safety_summary(study, views, event)
    response.to_csv(results_dir / "response.csv", index=False)
    baseline.to_csv(results_dir / "baseline.csv", index=False)
    safety.to_csv(results_dir / "safety.csv", index=False)

    summaries = Summaries(study=study, response=response,
                          platelets=platelet_summary(study, views, event),
                          confidence_level=response_level(study, event))
    return Rendering(folder=Path(folder) / "tables", drawing=f"{__package__}.drawing",
                     content=summaries)
