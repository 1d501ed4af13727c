"""Reviewer tables and figures drawn in a second process, while the main process writes files.

``itp-adam run`` starts the worker (a ``python`` process running :func:`_serve`) first thing. The
worker imports matplotlib, pandas and the spec models (:func:`warm_up`, about 1.5 s)
while the main process builds SDTM and ADaM on the other core. The results stage
(``stages/results.py``) then sends it a :class:`Rendering`: the reviewer tables laid out from
the display specs (texts only) and, for a study with a results provider, the small summary
frames its figures are drawn from (a few hundred rows at any study size) and the name of the
study code that draws them, which the worker imports. The worker draws them into the run's
staging folder while the main process writes the XPT files, ``trace.csv`` and the define
files, and the run waits for it before publishing.

The worker is an ordinary child process of the run: it reads one pickled job on stdin and
answers with one pickled reply on stdout. An exception in the worker is raised again in the
main process with the worker's traceback attached as a note, so a failure looks the same as if
the drawing had run in the main process. If the run fails or is interrupted first, the worker
is killed; it ignores Ctrl-C itself so that only the main process reports the interruption.
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

_SIZE = struct.Struct("<Q")  # the reply is its length, then the pickle
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); import itp_adam.report.render as worker; "
         "del sys.path[0]; sys.exit(worker._serve())")
"""The worker's start: this process's ``itp_adam`` (its folder first on the path only while the
package is imported, so nothing else is taken from there; ``-P``: nor from the current folder)."""


@dataclass
class Rendering:
    """A study's tables and figures to draw into ``folder``: ``tables``, the reviewer tables of
    its display specs (:class:`~itp_adam.report.tables.Table`, written as RTF and XLSX), and
    ``drawing``, the study code that draws its own figures (a module with ``draw(content,
    folder, fork=False) -> list[Path]``, a results provider's, ``stages/results.py``) from
    ``content`` (picklable); None when it has none."""

    folder: Path
    tables: list = field(default_factory=list)
    drawing: str | None = None
    content: Any = None

    def run(self, fork: bool = False) -> list[Path]:
        """Write the tables and figures into ``folder``; returns the files written.

        ``fork``: the drawing code may draw part of them in a forked copy of this process
        (:func:`_forked`); the worker asks for it, having the second core to itself by then."""
        from .tables import write_tables

        folder = Path(self.folder)
        written = write_tables(self.tables, folder) if self.tables else []
        if self.drawing is not None:
            module = importlib.import_module(self.drawing)
            written += module.draw(self.content, folder, fork=fork)
        return written


def _forked(action: Callable[[], object]) -> Callable[..., None]:
    """Start ``action`` in a forked copy of this process; returns ``join(check=True)``, which
    waits for it and (``check``) raises a RuntimeError with the child's traceback if it failed."""
    import warnings

    read, write = os.pipe()
    with warnings.catch_warnings():  # Python >= 3.12 warns about forking with threads running
        warnings.simplefilter("ignore", DeprecationWarning)  # (here: OpenBLAS's, fork-safe)
        pid = os.fork()
    if pid == 0:  # the child: do the one thing, report a failure on the pipe, leave at once
        os.close(read)
        code = 0
        try:
            action()
        except BaseException:
            os.write(write, traceback.format_exc().encode("utf-8", "replace"))
            code = 1
        finally:
            os._exit(code)
    os.close(write)

    def join(check: bool = True) -> None:
        with os.fdopen(read, "rb") as pipe:
            text = pipe.read().decode("utf-8", "replace")
        _, status = os.waitpid(pid, 0)
        if check and status != 0:
            raise RuntimeError(f"drawing in a forked process failed (wait status {status}):\n{text}")

    return join


class Worker:
    """The rendering process of one run (see the module docstring)."""

    def __init__(self) -> None:
        self.answered = False
        package_root = str(Path(__file__).resolve().parents[2])  # the same itp_adam as ours
        self.process = subprocess.Popen([sys.executable, "-P", "-c", _BOOT, package_root],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.seconds: float | None = None
        """Time the worker spent drawing (not waiting), once :meth:`result` has returned."""

    def submit(self, job: Rendering) -> None:
        """Send the job; the worker starts drawing as soon as it has its imports."""
        assert self.process.stdin is not None
        try:
            pickle.dump(job, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.close()
        except BrokenPipeError:
            pass  # the worker died; result() says why

    def result(self) -> list[Path]:
        """Wait for the worker; its files, or its exception raised again here."""
        assert self.process.stdout is not None
        head = self.process.stdout.read(_SIZE.size)
        reply = self.process.stdout.read(_SIZE.unpack(head)[0]) if len(head) == _SIZE.size else b""
        try:
            status, value, seconds, worker_traceback = pickle.loads(reply)
        except Exception:
            code = self.process.wait()
            raise RuntimeError(f"the table and figure worker (itp_adam.report.render) ended "
                               f"without an answer, exit status {code}; its messages are above") from None
        self.answered = True
        self.seconds = seconds
        if status == "ok":
            return value
        value.add_note(f"raised in the table and figure worker (itp_adam.report.render):\n{worker_traceback}")
        raise value

    def close(self) -> None:
        """Stop the worker if it is still running (the run failed or was interrupted); after
        its answer it is only ending (``os._exit``), so it is waited for."""
        if self.answered:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def warm_up() -> None:
    """Import the drawing libraries a study's tables and figures use (matplotlib with its
    fonts and mathtext parser; pyarrow's compute functions, which lay out the tables' rows),
    and what a results provider's job carries (pandas frames, the study's parameters as a
    ``spec.model.Study``), before the job arrives: read when it arrives, the job would
    otherwise import pandas and pydantic's models then (about 0.8 s), while the run waits for
    the drawing."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import pandas  # noqa: F401
    import pyarrow.compute  # noqa: F401

    from ..spec import model  # noqa: F401

    fig = plt.figure(figsize=(1, 1))
    fig.text(0.5, 0.5, r"0 $\times10^{2}$")
    fig.canvas.draw()
    plt.close(fig)


def _serve() -> int:
    """The worker: import the drawing libraries, then run the one job read from stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and kills us
    reply_to = os.fdopen(os.dup(1), "wb")  # the reply's own copy of stdout; then anything a
    os.dup2(2, 1)                          # library prints (Python or C) goes to stderr
    sys.stdout = sys.stderr
    warm_up()
    # what the imports made lives until the worker ends: out of the collector's reach, so the
    # collections while it draws walk only the drawing's objects (a full one took 0.1 s),
    # and a forked child does not copy the pages a collection would touch
    gc.freeze()
    try:
        job = pickle.load(sys.stdin.buffer)
    except EOFError:
        return 0  # the run ended before the results stage
    start = time.perf_counter()
    try:
        reply = ("ok", job.run(fork=True), time.perf_counter() - start, "")
    except BaseException as exc:  # sent back and raised again in the main process
        reply = ("error", exc, time.perf_counter() - start, traceback.format_exc())
    try:
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
    except Exception:  # an exception that cannot be sent as it is: send its text
        error = RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")
        data = pickle.dumps(("error", error, reply[2], reply[3]), protocol=pickle.HIGHEST_PROTOCOL)
    reply_to.write(_SIZE.pack(len(data)) + data)
    reply_to.flush()
    sys.stderr.flush()
    os._exit(0)  # the reply is sent: skip the interpreter's clean-up (matplotlib, fonts)
