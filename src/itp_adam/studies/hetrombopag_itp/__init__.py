"""The hetrombopag ITP study's results (``results: hetrombopag-itp`` in its study.yaml):
response rates, baseline characteristics and the safety summary as CSV (``results.py``), the
figures (``figures.py``, drawn through ``drawing.py``), and the study parameters they read
(``parameters.py``). Its reviewer tables are display specs (``analyses/tables.yaml``). See ``docs/results.md``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .parameters import HetrombopagStudy as STUDY

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from ...report.render import Rendering
    from ...spec.model import Specs

__all__ = ["STUDY", "write_results"]


def write_results(specs: Specs, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame],
                  folder: Path, ard: pd.DataFrame | None = None) -> Rendering:
    """The results provider's stage: ``results.write_results`` (``ard``: the ARD of the
    study's analyses, when the engine has computed it)."""
    from .results import write_results as write

    return write(specs, sdtm, adam, folder, ard=ard)
