"""The results stage of ``itp-adam run``: the study's own results, if it declares any.

A study names its results provider in ``study.yaml`` (``results: NAME``, ``docs/results.md``);
a study without ``results`` ends after ADaM, define and the data-issue log, with no
``results/`` or ``tables/`` folder. The engine computes no analysis itself: a provider is
study code (``itp_adam/studies/``), registered by name in :data:`itp_adam.studies.RESULTS`,
and is a module with

``STUDY``
    a subclass of :class:`~itp_adam.spec.model.Study` declaring the study's own parameters;
    ``study.yaml`` is read as it when the specs are loaded, so a mistake in them is reported
    with the file, line and key before any data is read (``Study.problems`` adds checks
    across fields);
``write_results(specs, sdtm, adam, folder)``
    writes ``folder/results/`` and returns the :class:`~itp_adam.report.render.Rendering` of
    its tables and figures (drawn by the run's worker process into ``folder/tables/``), or
    None when it draws nothing.
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


def write_results(specs: Specs, sdtm: dict[str, pd.DataFrame], adam: dict[str, pd.DataFrame],
                  folder: Path) -> Rendering | None:
    """Run the study's results provider into ``folder``; None when the study declares none
    (or its provider draws nothing)."""
    if specs.study.results is None:
        return None
    return results_provider(specs.study.results).write_results(specs, sdtm, adam, Path(folder))
