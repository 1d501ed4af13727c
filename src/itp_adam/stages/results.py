"""The results stage of ``itp-adam run``: the study's analyses and its own results, if it
declares any.

**Analyses** (``analyses/*.yaml`` of the specs folder, ``docs/analyses.md``) are specs the
engine computes for any study (``itp_adam.analysis``): every analysis' results go into one long
table, the ARD (``results/ard.csv``, ``results/ard.parquet``), and the reporting event into its
ARS JSON form (``results/ars.json``). Its **displays** (``docs/displays.md``) are laid out from
the ARD as reviewer tables and listings, written by the worker as ``tables/*.rtf`` and ``*.xlsx``.

A **results provider** is named in ``study.yaml`` (``results: NAME``, ``docs/results.md``);
a study with no analyses and no provider ends after ADaM, define and the data-issue log, with no
``results/`` or ``tables/`` folder. A provider is study code (``itp_adam/studies/``), registered by name in
:data:`itp_adam.studies.RESULTS`, and is a module with

``STUDY``
    a subclass of :class:`~itp_adam.spec.model.Study` declaring the study's own parameters;
    ``study.yaml`` is read as it when the specs are loaded, so a mistake in them is reported
    with the file, line and key before any data is read (``Study.problems`` adds checks
    across fields);
``write_results(specs, sdtm, adam, folder, ard=None)``
    writes ``folder/results/`` (from the ARD of the study's analyses where it can: ``ard`` is
    that frame, None when the study has no analyses) and returns the
    :class:`~itp_adam.report.render.Rendering` of its own figures (``drawing`` and
    ``content``; drawn by the run's worker process into ``folder/tables/``), or None when it
    draws nothing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from ..report.render import Rendering
    from ..spec.model import Specs


def provider_names() -> list[str]:
    """The registered results providers, by the name ``study.yaml`` gives them."""
    from ..studies import RESULTS

    return sorted(RESULTS)


def results_provider(name: str) -> ModuleType:
    """The module of the results provider registered as ``name`` (KeyError if none is)."""
    from ..studies import RESULTS

    return importlib.import_module(RESULTS[name])


def analysis_results(specs: Specs, sdtm: dict[str, pd.DataFrame],
                     adam: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """The ARD of the study's analyses on its built datasets (None: the study has none)."""
    if specs.analyses is None:
        return None
    from ..analysis.ard import build_ard

    return build_ard(specs.analyses, {**sdtm, **adam})


def write_results(specs: Specs, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame],
                  folder: Path, run_time: str | None = None) -> Rendering | None:
    """Compute the study's analyses into ``folder/results/`` (ARD and ARS JSON) and lay out
    its displays (the reviewer tables of its display specs), then run its results provider
    into ``folder``. Returns what the worker draws into ``folder/tables/`` (the tables, and
    the provider's figures), or None when there is nothing to draw.

    ``run_time``: the run's date and time for the tables' footers (default: now, UTC)."""
    folder = Path(folder)
    ard = analysis_results(specs, sdtm, adam)
    tables: list = []
    if ard is not None:
        from ..analysis.ard import ard_views, write_ard

        write_ard(ard, specs.analyses, folder / "results")
        if specs.analyses.displays:
            from ..analysis.display import build_tables

            tables = build_tables(specs.analyses, ard_views(ard), {**sdtm, **adam}, specs.study,
                                  program=program_line(specs, run_time))
    provider = None
    if specs.study.results is not None:
        provider = results_provider(specs.study.results).write_results(specs, sdtm, adam, folder,
                                                                        ard=ard)
    if not tables:
        return provider
    from ..report.render import Rendering

    return Rendering(folder=folder / "tables", tables=tables,
                     drawing=provider.drawing if provider is not None else None,
                     content=provider.content if provider is not None else None)


def program_line(specs: Specs, run_time: str | None = None) -> str:
    """The tables' footer: the package and its version, the study and the run's date."""
    from datetime import datetime, timezone

    from .. import __version__

    when = run_time or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"itp-adam {__version__}, specs {specs.study.study_id}; run {when}"
