"""What the hetrombopag ITP study's tables and figures are drawn from, and the drawing, run in
the engine's worker process (``report/render.py`` imports this module by the name the
:class:`~itp_adam.report.render.Rendering` carries)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ...report.render import _forked
from .parameters import HetrombopagStudy


@dataclass
class Summaries:
    """The small summary frames of ``results.write_results`` (a few hundred rows)."""

    study: HetrombopagStudy
    baseline: pd.DataFrame
    response: pd.DataFrame
    safety: pd.DataFrame
    platelets: pd.DataFrame
    populations: dict
    confidence_level: float = 0.95  # of the response limits: the response analyses' method


def draw(content: Summaries, folder: Path, fork: bool = False) -> list[Path]:
    """Write the tables and figures into ``folder``; returns the files written.

    ``fork``: draw the response figure (the slowest item, about half the time) in a forked
    copy of this process while this one writes the tables and the platelet figure. The
    worker does so (it has the second core to itself by then); where ``os.fork`` is
    missing, or with ``fork=False``, everything is drawn here in turn."""
    from .figures import FIGURES, platelet_figure, response_figure
    from .tables import write_tables

    folder.mkdir(parents=True, exist_ok=True)
    platelets, response = (folder / name for name in FIGURES)
    draw_response = lambda: response_figure(content.study, content.response, response,  # noqa: E731
                                            content.confidence_level)
    join = _forked(draw_response) if fork and hasattr(os, "fork") else None
    try:
        written = write_tables(content.study, content.baseline, content.response, content.safety,
                               content.populations, folder, content.confidence_level)
        platelet_figure(content.study, content.platelets, platelets)
    except BaseException:
        if join is not None:
            join(check=False)  # no child left behind; this error is the one to report
        raise
    if join is None:
        draw_response()
    else:
        join()
    return written + [platelets, response]
