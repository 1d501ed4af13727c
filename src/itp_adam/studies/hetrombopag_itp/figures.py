"""Reviewer figures (PNG, matplotlib Agg backend).

- ``platelets_by_visit.png``: median and interquartile range of the analysis platelet count
  (FAS, ANL01FL = Y) at baseline and every analysis visit, one line per disease phase, on a
  logarithmic axis, with the response thresholds of ``response.criteria`` drawn.
- ``response_by_visit.png``: response rate with its exact confidence interval at every
  analysis visit; one row of panels per criterion, one column per group (All and each phase).

Time runs in weeks since the first dose, at each visit's target day (``analysis_windows``), so
the spacing of the visits is true to time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .results import ALL, groups
from .parameters import HetrombopagStudy as Study

DPI = 150
PNG_COMPRESSION = 1
"""zlib level of the PNG files (lossless at every level): 1 is the fastest, 10% larger files."""
UNIT = r"$\times10^{9}$/L"  # platelet unit in matplotlib mathtext
SYMBOL = {">=": "\u2265", "<=": "\u2264", ">": ">", "<": "<"}  # criterion operators as drawn
FIGURES = ("platelets_by_visit.png", "response_by_visit.png")
"""The figure files: ``platelet_figure``, ``response_figure`` (drawn by ``render.Rendering``)."""
COLORS = {0: "#4d4d4d", 1: "#1b9e77", 2: "#d95f02", 3: "#7570b3", 4: "#e7298a"}  # by group order


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _margins(fig, left: float, right: float, bottom: float, top: float,
             wspace: float = 0.0, hspace: float = 0.0) -> None:
    """Fixed margins and gaps between panels, in inches. The figures' text is laid out by the
    code (titles, axis labels, tick labels of known width), so fixed margins fit; matplotlib's
    ``tight_layout`` would measure every text first and cost a third of the drawing time."""
    width, height = fig.get_size_inches()
    grid = fig.axes[0].get_subplotspec().get_gridspec() if fig.axes else None
    rows, cols = grid.get_geometry() if grid is not None else (1, 1)
    panel_w = (width - left - right - wspace * (cols - 1)) / cols
    panel_h = (height - bottom - top - hspace * (rows - 1)) / rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=wspace / panel_w, hspace=hspace / panel_h)


def _weeks(target_day: pd.Series) -> pd.Series:
    """Study day (day 1 = first dose) as weeks since the first dose."""
    return (target_day - 1) / 7


def _week_axis(ax, last_week: float) -> None:
    from matplotlib.ticker import MultipleLocator

    ax.set_xlim(-2, last_week + 3)
    ax.xaxis.set_major_locator(MultipleLocator(8 if last_week > 40 else 4))
    ax.grid(axis="both", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)


def platelet_figure(study: Study, summary: pd.DataFrame, path: Path) -> None:
    """Median (line) and IQR (bars) of the platelet count by visit, per disease phase."""
    plt = _pyplot()
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    phases = study.itp_phase.labels
    fig, ax = plt.subplots(figsize=(11, 6))
    data = summary.loc[summary["group"].isin(phases)].copy()
    data["week"] = _weeks(data["target"])
    step = 0.35  # horizontal dodge in weeks so the IQR bars do not hide each other
    for k, phase in enumerate(phases):
        part = data.loc[data["group"].eq(phase)].sort_values("AVISITN")
        if part.empty:
            continue
        x = part["week"] + (k - (len(phases) - 1) / 2) * step
        color = COLORS[groups(study).index(phase) % len(COLORS)]
        ax.errorbar(x, part["median"], yerr=[part["median"] - part["q1"], part["q3"] - part["median"]],
                    fmt="o-", color=color, markersize=4, linewidth=1.6, elinewidth=1, capsize=2,
                    alpha=0.9, label=f"{phase}")
    for crit in study.response.criteria:
        ax.axhline(crit.threshold, color="#b22222", linestyle="--", linewidth=1)
        ax.annotate(f"{crit.name}: {SYMBOL[crit.operator]} {crit.threshold:g} {UNIT}", xy=(1, crit.threshold),
                    xycoords=("axes fraction", "data"), xytext=(-6, 4), textcoords="offset points",
                    ha="right", va="bottom", color="#b22222", fontsize=9,
                    bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85))
    ax.set_yscale("log")
    low = max(1.0, float(data["q1"].min()) * 0.8) if not data.empty else 1.0
    high = float(data["q3"].max()) * 1.25 if not data.empty else 1000.0
    ticks = [t for t in (1, 2, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000) if low <= t <= high]
    ax.set_ylim(low, high)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())
    _week_axis(ax, float(data["week"].max()) if not data.empty else 52)
    ax.set_xlabel("Weeks since first dose (analysis visit target day; 0 = baseline)")
    ax.set_ylabel(f"Platelet count ({UNIT}), log scale")
    ax.set_title("Platelet count over time by disease phase: median and interquartile range\n"
                 "Full analysis set, analysis record per visit (ANL01FL = Y)", fontsize=12)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title="Disease phase", loc="lower right", frameon=True, fontsize=9)
    else:
        ax.text(0.5, 0.5, "No analysis platelet counts in the full analysis set",
                transform=ax.transAxes, ha="center", va="center", color="#777777")
    _margins(fig, left=0.75, right=0.2, bottom=0.6, top=0.7)
    fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESSION})
    plt.close(fig)


def response_figure(study: Study, response: pd.DataFrame, path: Path,
                    confidence_level: float | None = None) -> None:
    """Response rate and exact CI by visit: rows = criteria, columns = All and each phase;
    ``confidence_level`` that of the limits (the response analyses' method)."""
    plt = _pyplot()

    names = groups(study)
    criteria = study.response.criteria
    windows = {w.avisitn: w.target for w in study.analysis_windows.windows}
    data = response.assign(week=_weeks(response["avisitn"].map(windows)))
    last = float(data["week"].max()) if not data.empty else 52
    level = f"{(confidence_level or study.response.confidence_level) * 100:g}%"
    fig, axes = plt.subplots(len(criteria), len(names), figsize=(4 * len(names), 3.4 * len(criteria) + 0.8),
                             sharex=True, sharey=True, squeeze=False)
    for i, crit in enumerate(criteria):
        for j, group in enumerate(names):
            ax = axes[i][j]
            part = data.loc[data["criterion"].eq(crit.name) & data["group"].eq(group)].sort_values("avisitn")
            color = COLORS[j % len(COLORS)]
            if not part.empty:
                rate = 100 * part["n"] / part["N"]
                # limits are rounded to 0.1 %: with large N the rate can lie just outside them
                yerr = [(rate - part["ci_low"]).clip(lower=0), (part["ci_high"] - rate).clip(lower=0)]
                ax.errorbar(part["week"], rate, yerr=yerr,
                            fmt="o-", color=color, markersize=3.5, linewidth=1.2, elinewidth=0.8,
                            capsize=1.5, ecolor=color, alpha=0.9)
            ax.set_ylim(-4, 104)
            ax.set_yticks(range(0, 101, 20))
            _week_axis(ax, last)
            if i == 0:
                ax.set_title(group if group != ALL else "All subjects", fontsize=11)
            if j == 0:
                ax.set_ylabel(f"{crit.name}: {SYMBOL[crit.operator]} {crit.threshold:g} {UNIT}\n% responders",
                              fontsize=10)
            if i == len(criteria) - 1:
                ax.set_xlabel("Weeks since first dose")
    fig.suptitle(f"Platelet response rate by analysis visit with exact (Clopper-Pearson) {level} CI\n"
                 "Full analysis set; N = subjects with an analysis platelet count in the visit window",
                 fontsize=12)
    _margins(fig, left=0.95, right=0.15, bottom=0.55, top=1.0, wspace=0.15, hspace=0.3)
    fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESSION})
    plt.close(fig)
