"""Reviewer figures (matplotlib, Agg backend), each written as a 300 dpi PNG and as an SVG
(vector) copy of the same drawing: ``<stem>.png``, ``<stem>.svg`` (``FIGURES``, ``FORMATS``).

- ``platelets_by_visit``: median and interquartile range of the analysis platelet count
  (FAS, ANL01FL = Y) at baseline and every analysis visit, one line per disease phase, on a
  logarithmic axis, with the response thresholds of ``response.criteria`` drawn; under the
  axis a table of the number of subjects with a value (N) per phase and visit.
- ``response_by_visit``: response rate with its exact confidence interval at every
  analysis visit; one row of panels per criterion, one column per group (All and each phase);
  under the panels the N (evaluable subjects) of every point.

Time runs in weeks since the first dose, at each visit's target day (``analysis_windows``), so
the spacing of the visits is true to time. The N are written turned by 90 degrees, centred on
their visit's week: visits one week apart leave no room for numbers written across. Where two
visits are still too close, the second goes on a second line (``_lines``), so no two numbers
overlap. The files are byte-for-byte the same from run to run: no date in the SVG, fixed SVG
ids (``svg.hashsalt``), and no text at all in the PNG (``_write_png``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .results import ALL, groups
from .parameters import HetrombopagStudy as Study

DPI = 300
PNG_COMPRESSION = 1
"""zlib level of the PNG files (lossless at every level): 1 is the fastest (``_write_png``)."""
FIGURES = ("platelets_by_visit", "response_by_visit")
"""The figures' file stems: ``platelet_figure``, ``response_figure`` (drawn by ``render.Rendering``);
each is written once per suffix of ``FORMATS`` (``figure_files``)."""
FORMATS = (".png", ".svg")
"""The files of one figure, by suffix: the PNG (``DPI``) first, then the vector copy."""
SVG_HASHSALT = "itp-adam"
"""Seed of the ids in the SVG files (clip paths, glyphs): fixed, so two runs write the same bytes."""
UNIT = r"$\times10^{9}$/L"  # platelet unit in matplotlib mathtext
SYMBOL = {">=": "\u2265", "<=": "\u2264", ">": ">", "<": "<"}  # criterion operators as drawn
COLORS = {0: "#4d4d4d", 1: "#1b9e77", 2: "#d95f02", 3: "#7570b3", 4: "#e7298a"}  # by group order
COUNT_SIZE = 7
"""Font size (points) of the N under the axes."""
DIGIT = 0.65
"""Width of a digit in ems (DejaVu Sans: 0.636): the length of an N turned on its side."""
ROOM = 0.95
"""Least distance, in ems, between the centres of two N on one line (a digit is 0.73 em high)."""


def figure_files(path: Path) -> list[Path]:
    """The files a figure drawn to ``path`` (its stem; a suffix is replaced) is written to,
    the PNG first: ``platelet_figure`` and ``response_figure`` return them."""
    return [path.with_suffix(suffix) for suffix in FORMATS]


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


def _save(fig, path: Path) -> list[Path]:
    """Write ``fig`` to ``figure_files(path)``; no date or other changing metadata in either.

    The PNG's pixels are drawn first; they are deflated and written by a second thread while
    this one draws the SVG (zlib and the file write release the GIL), so the compression
    (a fifth of a figure's time at 300 dpi) is not waited for."""
    from concurrent.futures import ThreadPoolExecutor

    import matplotlib

    files = figure_files(path)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="itp-adam-png") as pool:
        pending = []
        for file in files:
            if file.suffix == ".png":
                pending.append(pool.submit(_write_png, file, _png_rows(fig)))
            else:  # text as glyph outlines: the same look wherever the file is opened
                with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "path"}):
                    fig.savefig(file, metadata={"Date": None})
        for written in pending:
            written.result()  # a failed write is raised here
    return files


def _png_rows(fig):
    """The rows of ``fig``'s PNG: the pixels ``fig.savefig(file, dpi=DPI)`` draws, as RGB, each
    row stored as its difference from the row above (PNG filter 2, "Up": per row the filter
    byte, then the differences modulo 256), a ``uint8`` array. Matplotlib's writer (Pillow)
    tries five filters on every row: at 300 dpi that took two to three times as long, for
    larger files."""
    import numpy as np

    dpi = fig.dpi
    fig.set_dpi(DPI)
    try:
        fig.canvas.draw()
        pixels = np.asarray(fig.canvas.buffer_rgba())  # opaque (the white figure): alpha 255
    finally:
        fig.set_dpi(dpi)
    height, width = pixels.shape[:2]
    # the differences on the whole RGBA rows (contiguous: a third faster than on their RGB
    # bytes, a strided view), then their RGB bytes into the filtered rows (a view of
    # ``data``: only its last axis is split)
    up = np.empty_like(pixels)
    up[0] = pixels[0]
    np.subtract(pixels[1:], pixels[:-1], out=up[1:])  # modulo 256, as PNG wants
    data = np.empty((height, width * 3 + 1), dtype=np.uint8)
    data[:, 0] = 2  # filter "Up"; the first row's row above is zeros
    data[:, 1:].reshape(height, width, 3)[...] = up[..., :3]
    return data


def _write_png(file: Path, rows) -> None:
    """Write the PNG of ``_png_rows``: the size, the resolution (``DPI``) and the rows deflated
    at level ``PNG_COMPRESSION``; no text, so no date. Touches only ``rows``, so it may run in
    another thread."""
    import struct
    import zlib

    height, width = rows.shape[0], (rows.shape[1] - 1) // 3

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    per_metre = round(DPI / 0.0254)
    file.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1))
                     + chunk(b"IDAT", zlib.compress(rows, PNG_COMPRESSION))
                     + chunk(b"IEND", b""))


def _lines(weeks, inches_per_week: float, room: float) -> list[int]:
    """The line (0, 1, ...) of each N at ``weeks`` (ascending): the first line whose last N is
    at least ``room`` inches to the left, so that no two N of one line overlap."""
    last: list[float] = []
    out = []
    for x in (float(w) * inches_per_week for w in weeks):
        line = next((k for k, prev in enumerate(last) if x - prev >= room), len(last))
        last[line:line + 1] = [x]
        out.append(line)
    return out


def _count_height(counts) -> float:
    """Height in inches of one line of ``counts`` turned on their side, with a little room."""
    digits = max((len(str(int(n))) for n in counts), default=1)
    return (digits * DIGIT + 0.9) * COUNT_SIZE / 72


def _write_counts(fig, ax, weeks, counts, lines, top: float, line_height: float, color: str) -> None:
    """Write ``counts`` under ``ax`` turned on their side, centred on their weeks; line k is
    centred ``top - (k + 0.5) * line_height`` inches from the figure's bottom edge."""
    from matplotlib.transforms import blended_transform_factory

    where = blended_transform_factory(ax.transData, fig.dpi_scale_trans)  # x: weeks, y: inches
    for week, n, line in zip(weeks, counts, lines):
        fig.text(float(week), top - (line + 0.5) * line_height, f"{int(n)}", transform=where,
                 rotation=90, ha="center", va="center", fontsize=COUNT_SIZE, color=color)


def _weeks(target_day: pd.Series) -> pd.Series:
    """Study day (day 1 = first dose) as weeks since the first dose."""
    return (target_day - 1) / 7


def _week_axis(ax, last_week: float) -> None:
    from matplotlib.ticker import MultipleLocator

    ax.set_xlim(-2, last_week + 3)
    ax.xaxis.set_major_locator(MultipleLocator(8 if last_week > 40 else 4))
    ax.grid(axis="both", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)


def platelet_figure(study: Study, summary: pd.DataFrame, path: Path) -> list[Path]:
    """Median (line) and IQR (bars) of the platelet count by visit, per disease phase, with
    the N per phase and visit under the axis; returns the files written (``figure_files``)."""
    plt = _pyplot()
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    phases = study.itp_phase.labels
    data = summary.loc[summary["group"].isin(phases)].copy()
    data["week"] = _weeks(data["target"])
    last = float(data["week"].max()) if not data.empty else 52
    # the layout in inches: fixed margins (see _margins), the N table under the x-axis label
    width, left, right, top, plot, under_axis = 12.0, 1.25, 0.2, 0.7, 4.7, 0.6
    per_week = (width - left - right) / (last + 5)  # _week_axis: from -2 to last + 3 weeks
    rows = []  # (phase, colour, its rows of the summary by visit, line of each N, line height)
    for phase in phases:
        part = data.loc[data["group"].eq(phase)].sort_values("week")
        if not part.empty:
            lines = _lines(part["week"], per_week, ROOM * COUNT_SIZE / 72)
            rows.append((phase, COLORS[groups(study).index(phase) % len(COLORS)], part, lines,
                         _count_height(part["N"])))
    header = 0.22 if rows else 0.0
    table = header + sum((max(lines) + 1) * height for *_, lines, height in rows)
    bottom = under_axis + table + (0.1 if rows else 0.0)
    fig, ax = plt.subplots(figsize=(width, top + plot + bottom))
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
    _week_axis(ax, last)
    ax.set_xlabel("Weeks since first dose (analysis visit target day; 0 = baseline)")
    ax.set_ylabel(f"Platelet count ({UNIT}), log scale")
    ax.set_title("Platelet count over time by disease phase: median and interquartile range\n"
                 "Full analysis set, analysis record per visit (ANL01FL = Y)", fontsize=12)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(title="Disease phase", loc="lower right", frameon=True, fontsize=9)
    else:
        ax.text(0.5, 0.5, "No analysis platelet counts in the full analysis set",
                transform=ax.transAxes, ha="center", va="center", color="#777777")
    _margins(fig, left=left, right=right, bottom=bottom, top=top)
    y = bottom - under_axis  # top of the N table, inches from the figure's bottom edge
    if rows:
        fig.text(0.1, y - header / 2, "Number of subjects with an analysis platelet count (N), "
                 "by disease phase and visit", transform=fig.dpi_scale_trans, fontsize=9,
                 ha="left", va="center")
        y -= header
    for phase, color, part, lines, height in rows:
        size = (max(lines) + 1) * height
        fig.text(left - 0.1, y - size / 2, phase, transform=fig.dpi_scale_trans, fontsize=8.5,
                 ha="right", va="center", color=color)
        _write_counts(fig, ax, part["week"], part["N"], lines, y, height, color)
        y -= size
    files = _save(fig, path)
    plt.close(fig)
    return files


def response_figure(study: Study, response: pd.DataFrame, path: Path,
                    confidence_level: float | None = None) -> list[Path]:
    """Response rate and exact CI by visit: rows = criteria, columns = All and each phase;
    ``confidence_level`` that of the limits (the response analyses' method). Under the panels
    the N of every point: once under each column when every criterion has the same N (the
    subjects with a value), else under every panel. Returns the files written (``figure_files``)."""
    plt = _pyplot()

    names = groups(study)
    criteria = study.response.criteria
    windows = {w.avisitn: w.target for w in study.analysis_windows.windows}
    data = response.assign(week=_weeks(response["avisitn"].map(windows)))
    last = float(data["week"].max()) if not data.empty else 52
    level = f"{(confidence_level or study.response.confidence_level) * 100:g}%"
    # the layout in inches (see _margins); panel: the plotting area of one criterion and group
    panel_w, panel_h, left, right, top = 3.6125, 2.875, 0.95, 0.15, 1.0
    wspace, hspace, under_axis = 0.15, 0.3, 0.55  # under_axis: tick labels and x-axis label
    shared = not data.drop_duplicates(["group", "avisitn", "N"]).duplicated(["group", "avisitn"]).any()
    counts = data if not shared else data.drop_duplicates(["group", "avisitn"])
    per_week = panel_w / (last + 5)  # _week_axis: from -2 to last + 3 weeks
    rows_of_n = [None] if shared else [c.name for c in criteria]  # the N of all criteria, or of one
    blocks = {}  # (criterion or None, group) -> (its rows by visit, line of each N, line height)
    for name in rows_of_n:
        for group in names:
            part = counts.loc[counts["group"].eq(group) & (counts["criterion"].eq(name) if name else True)]
            part = part.drop_duplicates("avisitn").sort_values("week")
            if not part.empty:
                blocks[name, group] = (part, _lines(part["week"], per_week, ROOM * COUNT_SIZE / 72),
                                       _count_height(part["N"]))
    block = max(((max(lines) + 1) * height for _, lines, height in blocks.values()), default=0.0)
    block += 0.1 if blocks else 0.0
    bottom = under_axis + block
    if not shared:
        hspace += block
    width = left + right + len(names) * panel_w + (len(names) - 1) * wspace
    height = top + bottom + len(criteria) * panel_h + (len(criteria) - 1) * hspace
    fig, axes = plt.subplots(len(criteria), len(names), figsize=(width, height),
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
    _margins(fig, left=left, right=right, bottom=bottom, top=top, wspace=wspace, hspace=hspace)
    for i, crit in enumerate(criteria):
        if shared and i < len(criteria) - 1:
            continue
        below = under_axis if i == len(criteria) - 1 else 0.1  # inner rows: no tick labels
        y = height - top - (i + 1) * panel_h - i * hspace - below  # top of the N, in inches
        for j, group in enumerate(names):
            found = blocks.get((None if shared else crit.name, group))
            if found is None:
                continue
            part, lines, line_height = found
            _write_counts(fig, axes[i][j], part["week"], part["N"], lines, y, line_height,
                          COLORS[j % len(COLORS)])
        size = max(((max(lines) + 1) * h for (name, _), (_, lines, h) in blocks.items()
                    if name == (None if shared else crit.name)), default=0.0)
        if size:
            fig.text(left - 0.1, y - size / 2, "N", transform=fig.dpi_scale_trans, fontsize=8.5,
                     ha="right", va="center")
    files = _save(fig, path)
    plt.close(fig)
    return files
