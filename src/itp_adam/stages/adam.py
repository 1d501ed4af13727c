"""ADaM stage: every ADaM dataset spec (``specs/adam/*.yaml``) evaluated over the SDTM datasets.

The specs read SDTM datasets (``input: {dataset: LB}``, ``{dataset: EX}`` arguments) and each
other (``{from: ADSL.TRTSDT}``); they are built in dependency order (ADSL first).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..spec.evaluate import build_dataset
from ..spec.model import Specs, build_order


def build_adam(specs: Specs, sdtm: dict[str, pd.DataFrame],
               tick: Callable[[str], None] = lambda _: None) -> dict[str, pd.DataFrame]:
    """Every ADaM dataset of ``specs``, built from the SDTM datasets ``sdtm``.

    ``tick(name)`` is called after each dataset (the progress bar)."""
    built = dict(sdtm)
    adam: dict[str, pd.DataFrame] = {}
    for name in build_order(specs.adam):
        adam[name] = built[name] = build_dataset(specs.adam[name], forms={}, built=built,
                                                 study=specs.study, codelists=specs.codelists)
        tick(name)
    return adam
