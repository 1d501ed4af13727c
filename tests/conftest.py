"""Shared fixtures: the shipped study built once per test session.

Building SDTM and ADaM from the shipped export takes about a second; the modules that only read
the result share one build. Each module gets its own copies of the frames (copy-on-write makes
that cheap), so a test that adds a column cannot change what another module sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

from itp_adam import issues
from itp_adam.stages.adam import build_adam
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.io.raw import read_export
from itp_adam.stages.sdtm import build_sdtm, prepare_forms
from itp_adam.spec.model import Specs, load_specs


# No property test has a time limit: speed is measured in benchmarks/, never by a test, and
# hypothesis' default 200 ms deadline failed a correct test on a loaded CI machine.
settings.register_profile("itp-adam", deadline=None)
settings.load_profile("itp-adam")


@dataclass
class Shipped:
    """The shipped study: specs, prepared raw forms, SDTM, ADaM and the data-issues log."""

    specs: Specs
    forms: dict[str, pd.DataFrame]
    sdtm: dict[str, pd.DataFrame]
    adam: dict[str, pd.DataFrame]
    issues: pd.DataFrame

    def copy(self) -> "Shipped":
        def frames(d: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
            return {name: frame.copy() for name, frame in d.items()}
        return Shipped(self.specs, frames(self.forms), frames(self.sdtm), frames(self.adam),
                       self.issues.copy())


@pytest.fixture(scope="session")
def _shipped_build() -> Shipped:
    specs = load_specs(default_specs_dir())
    export = read_export(shipped_study_dir(), specs.layout)
    with issues.collect() as log:
        forms = prepare_forms(export, specs)
        sdtm = build_sdtm(specs, forms)
        adam = build_adam(specs, sdtm)
    return Shipped(specs, forms, sdtm, adam, log.frame())


@pytest.fixture(scope="module")
def shipped(_shipped_build: Shipped) -> Shipped:
    """This module's copy of the shipped study built once (see the module docstring)."""
    return _shipped_build.copy()


# --------------------------------------------------------------------------------------------
# The second study (CDISC pilot): its SDTM and the independent QC datasets, made once per session
# for tests/qc/test_pilot_qc.py and tests/test_pilot.py.


@pytest.fixture(scope="session")
def pilot_sdtm():
    from .qc import pilot_qc

    return pilot_qc.read_sdtm(Path(__file__).resolve().parents[1] / "src" / "itp_adam" / "data"
                              / "cdiscpilot01" / "sdtm.zip")


@pytest.fixture(scope="session")
def pilot_qc_frames(pilot_sdtm):
    from .qc import pilot_qc

    adsl = pilot_qc.derive_adsl(pilot_sdtm)
    return {"ADSL": adsl, "ADAE": pilot_qc.derive_adae(pilot_sdtm, adsl),
            "ADLB": pilot_qc.derive_adlb(pilot_sdtm, adsl),
            "ADVS": pilot_qc.derive_advs(pilot_sdtm, adsl)}
