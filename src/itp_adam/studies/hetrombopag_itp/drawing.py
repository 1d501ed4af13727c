"""What the hetrombopag ITP study's figures are drawn from, and the drawing, run in the
engine's worker process (``report/render.py`` imports this module by the name the
:class:`~itp_adam.report.render.Rendering` carries). Its tables are display specs
(``specs/hetrombopag-itp/analyses/tables.yaml``), laid out and written by the engine."""

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
    response: pd.DataFrame
    platelets: pd.DataFrame
    confidence_level: float = 0.95  # of the response limits: the response analyses' method


def draw(content: Summaries, folder: Path, fork: bool = False) -> list[Path]:
    """Draw the figures into ``folder``; returns the files written.

    ``fork``: draw the response figure (the slower one) in a forked copy of this process
    while this one draws the platelet figure. The
    worker does so (it has the second core to itself by then); where ``os.fork`` is
    missing, or with ``fork=False``, everything is drawn here in turn."""
    from .figures import FIGURES, figure_files, platelet_figure, response_figure
    folder.mkdir(parents=True, exist_ok=True)
    platelets, response = (folder / stem for stem in FIGURES)
    draw_response = lambda: response_figure(content.study, content.response, response,  # noqa: E731
                                            content.confidence_level)
    join = _forked(draw_response) if fork and hasattr(os, "fork") else None
    try:
        platelet_files = platelet_figure(content.study, content.platelets, platelets)
    except BaseException:
        if join is not None:
            join(check=False)  # no child left behind; this error is the one to report
        raise
    if join is None:
        response_files = draw_response()
    else:
        join()
        response_files = figure_files(response)  # drawn by the forked child: the files it writes
    return platelet_files + response_files
