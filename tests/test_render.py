"""The table and figure worker process (render.py).

The worker must draw exactly what the same job draws in this process, hand back the
worker's exception as the same exception (with the worker's traceback as a note), report a
worker that died, and stop quietly when the run ends without a job."""

from __future__ import annotations

import signal
import time

import pytest

from itp_adam.report.render import Rendering, Worker, _forked


@pytest.fixture(scope="module")
def job(shipped_rendering) -> Rendering:
    """The shipped study's tables and figures to draw: the job of the study's results provider
    (``stages.results.write_results`` on the shipped build, conftest.py: this module's copy)."""
    return shipped_rendering.job


@pytest.fixture(scope="module")
def here(shipped_rendering) -> list:
    """The files the same job draws in this process (``job.run()``, no fork), drawn once per
    session (conftest.py) and compared here with the worker's and the forked drawing."""
    return shipped_rendering.drawn


def _with_folder(job: Rendering, folder) -> Rendering:
    return Rendering(**{**vars(job), "folder": folder})


def test_the_worker_draws_the_same_files_as_this_process(job, here, tmp_path):
    worker = Worker()
    try:
        worker.submit(_with_folder(job, tmp_path / "worker"))
        there = worker.result()
    finally:
        worker.close()
    assert [p.name for p in there] == [p.name for p in here]
    suffixes = sorted(p.suffix for p in here)
    assert [s for s in suffixes if s in (".png", ".svg")] == [".png"] * 2 + [".svg"] * 2  # figures
    tables = len(job.tables)  # one per display spec of the study
    assert tables == 9 and [s for s in suffixes if s not in (".png", ".svg")] == [".rtf"] * tables + [".xlsx"] * tables
    for mine, theirs in zip(here, there):
        assert theirs.parent == tmp_path / "worker"
        assert theirs.read_bytes() == mine.read_bytes(), mine.name
    assert worker.seconds is not None and worker.seconds > 0
    assert worker.process.returncode == 0


def test_an_exception_in_the_worker_is_raised_here_with_its_traceback(job, tmp_path):
    blocked = tmp_path / "tables"
    blocked.write_text("a file where the tables folder should be")
    worker = Worker()
    try:
        worker.submit(_with_folder(job, blocked))
        with pytest.raises(FileExistsError) as caught:
            worker.result()
    finally:
        worker.close()
    assert caught.value.filename == str(blocked)
    notes = "".join(getattr(caught.value, "__notes__", []))
    assert "table and figure worker" in notes and "render.py" in notes and "mkdir" in notes


def test_a_worker_that_died_is_reported(job, tmp_path):
    worker = Worker()
    try:
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait()
        worker.submit(_with_folder(job, tmp_path / "t"))  # a broken pipe is not an error here
        with pytest.raises(RuntimeError, match=r"ended without an answer, exit status -9"):
            worker.result()
    finally:
        worker.close()
    assert not (tmp_path / "t").exists()


def test_a_run_that_ends_before_the_results_stops_the_worker(tmp_path):
    worker = Worker()
    start = time.perf_counter()
    worker.close()  # the run failed: no job is sent
    assert worker.process.returncode is not None
    assert time.perf_counter() - start < 5


def test_a_worker_without_a_job_exits_cleanly():
    worker = Worker()
    worker.process.stdin.close()  # end of input: the run never reached the results stage
    assert worker.process.wait(timeout=60) == 0
    worker.close()


def test_a_forked_drawing_is_waited_for_and_its_error_raised(tmp_path):
    """Rendering.run(fork=True) draws the response figure in a forked child (the worker does)."""
    target = tmp_path / "child.txt"
    _forked(lambda: target.write_text("drawn by the child"))()
    assert target.read_text() == "drawn by the child"
    join = _forked(lambda: 1 / 0)
    with pytest.raises(RuntimeError, match=r"(?s)failed \(wait status 256\).*ZeroDivisionError"):
        join()
    _forked(lambda: 1 / 0)(check=False)  # a failure not reported: nothing raised, child reaped


def test_fork_and_no_fork_draw_the_same_files(job, here, tmp_path):
    serial = here  # drawn by job.run() without fork, in this process
    forked = _with_folder(job, tmp_path / "forked").run(fork=True)
    assert [p.name for p in forked] == [p.name for p in serial]
    for a, b in zip(serial, forked):
        assert a.read_bytes() == b.read_bytes(), a.name
