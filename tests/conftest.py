"""Shared fixtures: the shipped study built once per test session.

Building SDTM and ADaM from the shipped export takes about a second; the modules that only read
the result share one build. Each module gets its own copies of the frames (copy-on-write makes
that cheap), so a test that adds a column cannot change what another module sees. The same goes
for the results stage on that build and its tables and figures drawn in this process
(``shipped_rendering``: test_results.py, test_render.py, test_figures.py), and for the whole
run of each shipped study (``shipped_out``, ``pilot_out``).
"""

from __future__ import annotations

import copy
import os
import pickle
import shutil
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
# hypothesis' default 200 ms deadline failed a correct test on a loaded CI machine. The
# examples are derived from each test's name (derandomize), so a run of the suite is the
# same on every machine and every day, like the seeded fuzz tests; a random search for new
# counterexamples: ITP_ADAM_HYPOTHESIS=explore (docs/bad-input.md).
settings.register_profile("itp-adam", deadline=None, derandomize=True)
settings.register_profile("itp-adam-explore", deadline=None, derandomize=False)
settings.load_profile("itp-adam-explore" if os.environ.get("ITP_ADAM_HYPOTHESIS") == "explore"
                      else "itp-adam")


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


@dataclass
class ShippedRendering:
    """The results stage on the shipped build (``stages.results.write_results``): ``folder``
    holds what it wrote (results/) and, drawn in this process by ``job.run()``, the tables and
    figures (tables/), listed in ``drawn`` in the order ``run`` returned them; ``job`` is the
    :class:`~itp_adam.report.render.Rendering` (tables, drawing module, ``content``)."""

    folder: Path
    job: Any
    drawn: list[Path]


@pytest.fixture(scope="session")
def _shipped_rendering(_shipped_build: Shipped, tmp_path_factory) -> ShippedRendering:
    from itp_adam.stages.results import write_results

    build = _shipped_build.copy()
    folder = tmp_path_factory.mktemp("shipped-results")
    job = write_results(build.specs, build.sdtm, build.adam, folder)
    return ShippedRendering(folder, job, job.run())


@pytest.fixture(scope="module")
def shipped_rendering(_shipped_rendering: ShippedRendering) -> ShippedRendering:
    """This module's copy of the shipped results stage and its drawing, made once per session
    (drawing the tables and figures takes seconds). The job is a deep copy, so a module that
    changes its frames cannot change another's; the folder is shared: read it, never write."""
    return ShippedRendering(_shipped_rendering.folder, copy.deepcopy(_shipped_rendering.job),
                            list(_shipped_rendering.drawn))


# --------------------------------------------------------------------------------------------
# Early work: whole runs and large builds, each in a process of its own, started early
#
# The suite runs in one process, which keeps one core busy. Some fixtures need seconds of work
# that uses none of this process' objects: a whole run of the command line, or a build whose
# result can be handed over (pickled). Such a fixture declares that work in an ``EARLY`` dict
# (its name -> ``Early``): conftest.py's own fixtures below, and any test module's (with a
# ``module.function``). The work is the same code the fixture would run here (a function of
# conftest.py or of the test module, or ``itp_adam.cli.main`` exactly as a user runs it), called
# in a new Python process; it is started as the session's first test starts, for the fixtures a
# test of this session needs, one after the other in the order the tests need them, so that it
# runs on the second core while the tests before them run here. The fixture waits for its work
# (``early``), which fails it if the process did not end cleanly, with everything it printed.


@dataclass(frozen=True)
class Early:
    """``function``: the name of a function of the declaring module, called in a new process
    with a new folder (and, with ``after``, the folder of that other early work, once it has
    ended); what it returns is pickled back to the fixture."""

    function: str
    after: str | None = None


_EARLY_SCRIPT = """
import importlib, pathlib, pickle, sys
root, module, function, folder, after = sys.argv[1:6]
sys.path.insert(0, root)
args = [pathlib.Path(folder)] + ([pathlib.Path(after)] if after else [])
result = getattr(importlib.import_module(module), function)(*args)
with open(pathlib.Path(folder) / "early.pickle", "wb") as fh:
    pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
"""
_ROOT = Path(__file__).resolve().parents[1]  # the folder holding the tests package


class EarlyWork:
    """The early work of a session: ``submit`` queues it (one process at a time, in order),
    ``result`` waits for it (or does it now, if it was never queued) and returns what the
    function returned, and ``folder`` where it wrote."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="early-work")
        self.jobs: dict[str, tuple[Path, Future]] = {}
        self.processes: list[subprocess.Popen] = []
        self.results: dict[str, object] = {}
        self.stopped = False

    def submit(self, module: str, name: str, early: Early) -> None:
        key = f"{module}:{name}"
        if key in self.jobs:
            return
        after = None
        if early.after is not None:
            self.submit(module, early.after, _declared(module)[early.after])
            after = self.jobs[f"{module}:{early.after}"]
        folder = self.factory.mktemp(name.replace("_", "-"))
        self.jobs[key] = (folder, self.pool.submit(self._do, module, early, folder, after))

    def _do(self, module: str, early: Early, folder: Path,
            after: tuple[Path, Future] | None) -> int:
        if after is not None and after[1].result() != 0:
            return -1  # what it needs failed: that fixture says why
        after_folder = str(after[0]) if after is not None else ""
        with open(folder / "stdout.txt", "wb") as out, open(folder / "stderr.txt", "wb") as err:
            if self.stopped:
                return -1
            process = subprocess.Popen([sys.executable, "-c", _EARLY_SCRIPT, str(_ROOT), module,
                                        early.function, str(folder), after_folder],
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            self.processes.append(process)
            return process.wait()

    def folder(self, module: str, name: str) -> Path:
        self.result(module, name)
        return self.jobs[f"{module}:{name}"][0]

    def result(self, module: str, name: str):
        key = f"{module}:{name}"
        if key not in self.results:
            self.submit(module, name, _declared(module)[name])
            folder, future = self.jobs[key]
            code = future.result()
            said = "".join(f"--- {part}:\n" + (folder / part).read_text(errors="replace")
                           for part in ("stdout.txt", "stderr.txt") if (folder / part).is_file())
            assert code == 0, f"the early work {key} ended with exit status {code}\n{said}"
            path = folder / "early.pickle"
            with open(path, "rb") as fh:
                self.results[key] = pickle.load(fh)
            path.unlink()  # it can be large; what it held is in memory now
        return self.results[key]

    def stop(self) -> None:
        self.stopped = True
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()


def _declared(module: str) -> dict[str, Early]:
    return getattr(sys.modules[module], "EARLY", {})


@pytest.fixture(scope="session", autouse=True)
def _early_work(request, tmp_path_factory):
    """Queues the early work of every fixture a test of this session needs (directly or
    through another fixture), in the order of the tests, before the first test runs."""
    work = EarlyWork(tmp_path_factory)
    for item in request.session.items:
        module = getattr(item, "module", None)
        local = _declared(module.__name__) if module is not None else {}
        for name in getattr(item, "fixturenames", ()):
            if name in local:
                work.submit(module.__name__, name, local[name])
            elif name in EARLY:
                work.submit(__name__, name, EARLY[name])
    yield work
    work.stop()


@pytest.fixture(scope="session")
def early(_early_work) -> EarlyWork:
    """The session's early work (``EarlyWork``): ``early.result(__name__, "fixture")``."""
    return _early_work


def cli_runs(*commands: list[str]) -> list[int]:
    """``itp_adam.cli.main(argv)`` for each ``argv`` in turn (stopping at the first exit status
    other than 0); the exit statuses. What they print is the process' output."""
    from itp_adam.cli import main

    codes = []
    for argv in commands:
        codes.append(main(list(argv)))
        if codes[-1]:
            break
    return codes


# How ``shipped_out`` is made: the shipped study named on the command line. test_cli.py compares
# this run with the default run (no --study), so one run of each serves both (it checks this).
SHIPPED_RUN_ARGV = ["run", "--study", "hetrombopag-itp", "--quiet"]
PILOT_RUN_ARGV = ["run", "--study", "cdiscpilot01", "--quiet"]
# The simulated study of tests/qc/test_qc.py: `itp-adam simulate` (CSV) then `itp-adam run` on it.
QC_SIM_SUBJECTS, QC_SIM_SEED = 1000, 90210  # not the shipped study's seed (20250414)


def _shipped_run(folder: Path) -> list[int]:
    return cli_runs([*SHIPPED_RUN_ARGV, "--out", str(folder / "out")])


def _pilot_run(folder: Path) -> list[int]:
    return cli_runs([*PILOT_RUN_ARGV, "--out", str(folder / "out")])


def _qc_simulated_run(folder: Path) -> list[int]:
    raw = str(folder / "raw")
    return cli_runs(["simulate", "--subjects", str(QC_SIM_SUBJECTS), "--seed", str(QC_SIM_SEED),
                     "--format", "csv", "--out", raw],
                    ["run", "--raw", raw, "--out", str(folder / "out"), "--quiet"])


def _default_run(folder: Path, shipped: Path) -> list[int]:
    """``itp-adam run --out OUT`` (no --study), OUT a copy of the shipped run's output with a
    file of its own added (``sdtm/stale.txt``): an earlier run's folder, to be replaced."""
    out = folder / "out"
    shutil.copytree(shipped / "out", out)
    (out / "sdtm" / "stale.txt").write_text("from an earlier run")
    return cli_runs(["run", "--out", str(out)])


EARLY = {
    "shipped_out": Early("_shipped_run"),
    "qc_simulated_run": Early("_qc_simulated_run"),
    "pilot_out": Early("_pilot_run"),
    "default_run_folder": Early("_default_run", after="shipped_out"),
}


def _ran(early: EarlyWork, name: str) -> Path:
    codes = early.result(__name__, name)
    folder = early.folder(__name__, name)
    said = (folder / "stdout.txt").read_text() + (folder / "stderr.txt").read_text()
    assert codes and codes[-1] == 0, f"{name}: exit statuses {codes}\n{said}"
    return folder


@pytest.fixture(scope="session")
def shipped_out(early) -> Path:
    """``itp-adam run --study hetrombopag-itp --out OUT`` once per session (``SHIPPED_RUN_ARGV``):
    its output folder OUT, for the tests that only read a whole run's files (QC, validate,
    partitions, the CLI's earlier-run and named-study tests). Tests read it; none writes into
    it (those that change an output copy it first)."""
    return _ran(early, "shipped_out") / "out"


@pytest.fixture(scope="session")
def pilot_out(early) -> Path:
    """``itp-adam run --study cdiscpilot01 --out OUT`` once per session (test_pilot.py,
    test_safety_analyses.py, test_partitions.py): the output folder OUT. Tests read it; none
    writes into it."""
    return _ran(early, "pilot_out") / "out"


@pytest.fixture(scope="session")
def qc_simulated_run(early) -> Path:
    """``itp-adam simulate --subjects 1000 --seed 90210 --format csv --out RAW`` then
    ``itp-adam run --raw RAW --out OUT`` (tests/qc/test_qc.py): the folder holding RAW (raw/)
    and OUT (out/)."""
    return _ran(early, "qc_simulated_run")


@pytest.fixture(scope="session")
def default_run_folder(early) -> tuple[Path, list[int], str]:
    """The default run over an earlier run's output (``_default_run``), for test_cli.py: the
    folder holding OUT (out/), the exit statuses and what the run printed on stdout."""
    codes = early.result(__name__, "default_run_folder")
    folder = early.folder(__name__, "default_run_folder")
    return folder, codes, (folder / "stdout.txt").read_text(encoding="utf-8")


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
