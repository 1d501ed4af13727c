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
def shipped_out(tmp_path_factory) -> Path:
    """The shipped study run once per session through ``pipeline.run`` (what ``itp-adam run``
    does): its output folder, for the tests that only read a whole run's files (QC, validate,
    the CLI's default run). Tests read it; none writes into it (test_validate copies it)."""
    from itp_adam.paths import default_specs_dir, shipped_study_dir
    from itp_adam.stages.pipeline import run

    folder = tmp_path_factory.mktemp("shipped-run") / "out"
    run(shipped_study_dir(), default_specs_dir(), folder)
    return folder


@pytest.fixture(scope="session")
def pilot_out(tmp_path_factory) -> Path:
    """``itp-adam run --study cdiscpilot01`` once per session (test_pilot.py, test_safety_analyses.py):
    the output folder. Tests read it; none writes into it."""
    from itp_adam.cli import main

    folder = tmp_path_factory.mktemp("pilot") / "out"
    assert main(["run", "--study", "cdiscpilot01", "--out", str(folder), "--quiet"]) == 0
    return folder


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
