"""The ``itp-adam run`` pipeline: raw -> SDTM -> ADaM -> the study's results (if it declares
any), written atomically.

Everything is written into a temporary folder beside ``--out`` and moved into place only when
every stage succeeded (``docs/design.md``, "Atomic output"), so a failed or interrupted run
leaves the previous output as it was. ``--out`` may name an earlier run's folder (it has a
``run.json``), which is replaced as a whole; any other non-empty folder, or a file, is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import __version__, issues
from ..errors import InputError, InputErrors, new_beside
from ..io.csvfile import append_file, write_csv, write_csv_rows
from ..io.pieces import WRITE_PIECE
from ..paths import TRACE_FILE
from ..report.progress import Progress, Say
from ..spec.model import Dataset, Specs, load_specs, spec_file_digests
from .partitions import built_here

if TYPE_CHECKING:
    from concurrent.futures import Future

    from ..io.raw import Spill
    from ..io.sdtm import SdtmInput
    from ..spec.plugins import Plugin
    from ..report.render import Worker
    from ..io.xpt import PreparedXpt, XptLayout
    from .partitions import Runner


@dataclass
class RunResult:
    """What a run produced: the output folder, row counts, data-issue counts and timings."""

    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    issue_counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    worker_seconds: dict[str, float] = field(default_factory=dict)
    partitions: int = 1  # partitions of subjects SDTM and ADaM were built in
    partitions_built: dict = field(default_factory=built_here)  # where (partitions.Runner)
    # the run's one clock: its tables' footers, define.xml's CreationDateTime and the guides'
    # date all say when the run started, also for a run that goes past midnight
    started: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
    # what the user must see although the run succeeded (printed on stderr, also with --quiet):
    # an XPT file over conformance.yaml's max_file_gb
    warnings: list[str] = field(default_factory=list)


def check_out(out: Path, marker: str = "run.json", what: str = "an earlier run's output") -> None:
    """Refuse an ``--out`` that is a file or a non-empty folder without ``marker``.

    ``marker`` is the file the command writes into every output folder, so a folder holding it
    is the command's own earlier output (``run.json`` for ``run``, ``simulate.json`` for
    ``simulate``); ``what`` names that output in the message. Such a folder is replaced as a
    whole (the contract's rule), including any file put into it since."""
    expected = f"a new folder, an empty folder or {what} folder"
    if out.exists() and not out.is_dir():
        raise InputError("exists and is a file", file=str(out), expected=expected)
    with contextlib.suppress(OSError):  # the working folder gone (a shell left in one)
        if out.is_dir() and Path.cwd().resolve().is_relative_to(out.resolve()):
            raise InputError("is the current folder or holds it: the folder is replaced as a "
                             "whole, which would leave this shell in a removed folder",
                             file=str(out), expected="a folder below the current one, e.g. "
                             "--out itp-adam-out")
    if out.is_dir() and any(out.iterdir()) and not (out / marker).is_file():
        raise InputError(f"is a non-empty folder without a {marker}, so it is not {what}; "
                         "refusing to replace it", file=str(out), expected=expected)


def staging_beside(out: Path) -> Path:
    """A new temporary folder beside ``out`` (same file system, so publishing is a rename)."""
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise InputError(f"cannot be created: {blocking} is a file, not a folder", file=str(out),
                         expected="a path whose parent folders are folders")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return new_beside(out.parent, f".{out.name}.tmp-", folder=True)  # the user's umask
    except OSError as exc:
        raise InputError(f"cannot write there ({exc.strerror})", file=str(out),
                         expected="a folder the user can write to") from exc


@contextlib.contextmanager
def staged(out: Path):
    """A staging folder beside ``out`` (:func:`staging_beside`) for a command's outputs,
    removed on leaving. When the command fails, the parent folders of ``out`` that it created
    for the staging folder are removed too, the deepest first, as long as they are empty: a
    failed ``--out new/deep/out`` leaves no ``new/deep/`` behind (``OUT.errors.csv``, the list
    of a failed run's problems, makes its folder again when there is one to write)."""
    created = [p for p in Path(out).parents if not p.exists()]  # the deepest first
    done = False
    try:
        staging = staging_beside(out)
        try:
            yield staging
            done = True
        finally:
            remove_staging(staging)
    finally:
        if not done:
            for folder in created:
                try:
                    folder.rmdir()  # only an empty folder: nothing of anyone else's is lost
                except OSError:
                    break


def leftover_staging(out: Path) -> list[tuple[Path, int]]:
    """Folders beside ``out`` that a command writing ``out`` made and did not remove, with
    their sizes in bytes: staging folders (``staging_beside``), a partitioned run's store
    (``store_beside``), a zipped export unpacked (``unpacked_beside``) and earlier outputs set
    aside by ``publish``. A command removes its own
    in every case but one: a process killed outright (SIGKILL, a machine going down). Such a
    folder may also belong to a command still running on the same ``out`` (here or on another
    machine sharing the folder), so they are named, not removed (``cli`` warns)."""
    import glob

    found = []
    for pattern in (f"{glob.escape('.' + out.name)}.tmp-*", f"{glob.escape('.' + out.name)}.old-*"):
        for path in sorted(out.parent.glob(pattern)) if out.parent.is_dir() else []:
            if path.is_dir() and not path.is_symlink():
                found.append((path, _folder_bytes(path)))
    return found


def _folder_bytes(folder: Path) -> int:
    """The bytes of the files under ``folder``; files and folders that go meanwhile (a
    command still writing there removes them) are left out, not an error."""
    total = 0
    for root, _, names in os.walk(folder, onerror=lambda _: None):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def remove_staging(staging: Path) -> None:
    """Remove a staging folder (``staging_beside``) to the end, even when the command is
    stopped again meanwhile: Ctrl-C and SIGTERM are ignored while it is removed (a large
    run's takes seconds; a second ``kill``, or a scheduler repeating its SIGTERM, would
    otherwise stop the removal half way and leave tens of GB beside ``--out``). The command
    is stopping or done by then, so nothing is lost by ignoring them."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # signals cannot be set
        shutil.rmtree(staging, ignore_errors=True)
        return
    held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        for sig, handler in held.items():
            if handler is not None:  # None: set outside Python, and left ignored
                signal.signal(sig, handler)


def run(raw: Path | None, specs_dir: Path, out: Path, say: Say | Progress = lambda _: None,
        worker: Worker | None = None, *, allow_plugins: bool = False,
        sdtm: Path | None = None, partitions: int | None = None, jobs: int | None = None,
        scheduler: str | None = None) -> RunResult:
    """Run every stage on ``raw`` with ``specs_dir`` and publish the outputs at ``out``.

    ``say`` receives the stage lines; pass a :class:`Progress` to also draw progress bars.
    ``worker``: the table and figure process (``report/render.py``), if the caller started it earlier
    (the command line does, before it imports pandas); otherwise the run starts one first
    thing. The run stops it in every case.
    ``allow_plugins``: load the Python plug-ins the study declares (``itp_adam.spec.plugins``);
    without it such a study is refused.
    ``sdtm``: the folder of SDTM datasets, or a ``.zip`` of them, for a study that starts from
    SDTM (``inputs.sdtm`` of study.yaml; ``io/sdtm.py``): then ``raw`` is None, and the raw and
    SDTM stages are skipped (the input SDTM is the source; no ``sdtm/`` folder, no
    ``trace.csv``). Neither ``raw`` nor ``sdtm``: the data shipped with the study, when
    ``specs_dir`` is a shipped study's (``paths.shipped_input``: ``data/NAME/``, or
    ``data/NAME/sdtm.zip`` for an SDTM study); any other study is refused (InputError naming
    the option it needs).
    ``partitions``: build SDTM and ADaM in that many partitions of subjects (default: one per
    ``partitions.SUBJECTS_PER_PARTITION`` subjects or ``INPUT_PER_PARTITION`` bytes of input,
    so one for a smaller study), ``jobs`` processes at a time (default: the machine's cores),
    or on the Dask cluster at ``scheduler``
    (``local``: a local one); the outputs are the same whatever they are
    (``stages/partitions.py``)."""
    if worker is None:
        from ..report.render import Worker
        worker = Worker()  # imports the drawing libraries while the data stages run
    try:
        return _run(raw, specs_dir, out, say, worker, allow_plugins, sdtm,
                    Split(partitions, jobs, scheduler))
    finally:
        worker.close()


@dataclass(frozen=True)
class Split:
    """How a run splits its subjects (``run``'s ``partitions``, ``jobs``, ``scheduler``)."""

    partitions: int | None = None
    jobs: int | None = None
    scheduler: str | None = None


def _run(raw: Path | None, specs_dir: Path, out: Path, say: Say | Progress, worker: Worker,
         allow_plugins: bool = False, sdtm: Path | None = None, split: Split = Split()) -> RunResult:
    from ..spec.plugins import loaded

    clock = say if isinstance(say, Progress) else Progress(say)
    out = Path(out).absolute()
    check_out(out)
    if split.scheduler is not None:  # before the input is looked at
        from .partitions import check_scheduler

        check_scheduler(split.scheduler)
    missing = _missing_input(raw, sdtm)
    if missing is not None:  # before the staging folder's parents are made: --out may be in it
        raise missing
    check_inputs_apart(out, {"raw export (--raw)": raw, "SDTM input (--sdtm)": sdtm,
                             "specs (--specs)": specs_dir})
    with staged(out) as staging:
        try:
            with loaded(specs_dir, allow_plugins) as plugins:  # their derivations: this run only
                result = _run_into(raw, specs_dir, staging, clock, worker, plugins, sdtm, split)
            publish([(staging, out)], check_out)
            result.out = out
            return result
        except InputError as exc:  # a zipped export's files named in the zip (export.zip/AE.csv)
            if not unpacked_beside(staging).exists():
                raise
            zipped = str(Path(raw).absolute())
            raise _renamed(exc, [(str(unpacked_beside(staging)), zipped)]) from None
        finally:
            remove_staging(store_beside(staging))  # removed earlier, unless a file was held
            remove_staging(unpacked_beside(staging))


def store_beside(staging: Path) -> Path:
    """The folder of a partitioned run's store (``stages/partitions.py``): beside the staging
    folder, not inside it, so that whatever of it cannot be removed (e.g. on Windows a file
    still memory-mapped) is never published with the output; its name starts as the staging
    folder's, so :func:`leftover_staging` names it if the command is killed outright."""
    return staging.with_name(f"{staging.name}.partitions")


def unpacked_beside(staging: Path) -> Path:
    """The folder a zipped raw export (``--raw FILE.zip``) is unpacked into: beside the staging
    folder, as the store, and removed when the run ends, also when it fails."""
    return staging.with_name(f"{staging.name}.raw")


def check_inputs_apart(out: Path, inputs: dict[str, Path | None]) -> None:
    """Refuse an ``--out`` that holds one of the run's inputs (``{what: path}``): an earlier
    run's folder is replaced as a whole, so a raw export or specs kept in it would be deleted
    by the run that reads them."""
    where = Path(out).resolve()
    for what, path in inputs.items():
        if path is not None and Path(path).resolve().is_relative_to(where):
            raise InputError(f"{out} holds the run's {what}, {path}: replacing the folder with "
                             "this run's output would delete it", option="--out",
                             expected="an output folder apart from the run's input and specs")


def _missing_input(raw: Path | None, sdtm: Path | None) -> InputError | None:
    """The readers' error for a ``--raw`` or ``--sdtm`` path that does not exist, found before
    anything is made: the staging folder's parent folders are created first thing, and an
    ``--out`` inside the missing path would create it (then read as an empty export)."""
    from ..io.raw import export_not_found
    from ..io.sdtm import sdtm_not_found

    if raw is not None and not Path(raw).exists():
        return export_not_found(Path(raw))
    if sdtm is not None and not Path(sdtm).exists():
        return sdtm_not_found(Path(sdtm))
    return None


def publish(moves: list[tuple[Path, Path]], check: Callable[[Path], None]) -> None:
    """Move finished files or folders into place: each ``(staged, target)`` pair in turn.

    ``check`` is called on every existing target first (it must still be the command's own
    earlier output, or empty); each such target is set aside, the staged one renamed into
    place, and the set-aside ones deleted only when every move succeeded. When a move fails
    or the command is interrupted (Ctrl-C) between two moves, the targets already moved are
    put back, so the earlier output is left as it was."""
    for _, target in moves:
        if target.exists():
            check(target)
    done: list[tuple[Path, Path | None]] = []  # (target, where its earlier version was set aside)
    try:
        for staged, target in moves:
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                target.rename(old)
            done.append((target, old))
            staged.rename(target)
    except BaseException:  # an OSError, or an interrupt between two moves
        for target, old in reversed(done):
            if target.exists():  # the new version, moved in before the failure
                _remove(target)
            if old is not None:
                old.rename(target)
        raise
    for _, old in done:
        if old is not None:
            _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _input_problem(specs: Specs, raw: Path | None, sdtm_dir: Path | None,
                   specs_dir: Path | None = None) -> InputError | None:
    """The usage error when the input given is not what the study declares (``inputs``);
    ``raw`` and ``sdtm_dir`` both None: no input was given and none ships with the study."""
    study_file = specs.study._file
    kind = specs.study.inputs.kind
    if raw is None and sdtm_dir is None:
        from .. import paths

        name = paths.shipped_name(specs_dir) if specs_dir is not None else None
        if name is not None:
            data = paths.study_data(name)
            why = f"no data ships with it (expected {data / paths.SDTM_ZIP if kind == 'sdtm' else data})"
        else:
            why = "it is not a shipped study, so no data ships with it"
        if kind == "sdtm":
            return InputError(f"is needed: the study starts from SDTM datasets (inputs.sdtm in "
                              f"{study_file}) and {why}; give the folder (or .zip) of its SDTM "
                              "datasets with --sdtm", option="--sdtm")
        return InputError(f"is needed: the study starts from raw forms (inputs.raw, the default, "
                          f"in {study_file}) and {why}; give its raw export (a folder of form "
                          "CSVs, an .xlsx workbook or a .zip of either) with --raw", option="--raw")
    if kind == "sdtm" and sdtm_dir is None:
        return InputError(f"is needed: the study starts from SDTM datasets (inputs.sdtm in "
                          f"{study_file}), not from a raw export", option="--sdtm")
    if kind == "raw" and sdtm_dir is not None:
        return InputError(f"cannot be used: the study starts from raw forms (inputs.raw, the "
                          f"default, in {study_file}); give the raw export with --raw",
                          option="--sdtm")
    return None


def read_sdtm_input(path: Path, domains: Sequence[str],
                    store: Path | None = None) -> tuple[SdtmInput, dict[str, str]]:
    """The SDTM ``domains`` of a folder, or of a ``.zip`` of domain files, and the SHA-256 of
    every input file (run.json ``inputs``). ``store``: when the domains' files hold at least
    ``partitions.READ_INTO_STORE`` bytes, they are read into files there (``io.sdtm.read_sdtm``
    with a Spill), so that the input is never held whole in memory.

    A zip (a shipped study's ``sdtm.zip``, or ``--sdtm FILE.zip``) is read through the folder
    reader (``io.sdtm.read_sdtm``): the members that are files of the declared domains
    (``.xpt``, ``.sas7bdat``, ``.csv``, ``.parquet``, in any sub-folder) are extracted into a
    private temporary folder, read and hashed there, and the folder is removed, also when the
    read fails. Messages and ``inputs`` name the zip and its members (``sdtm.zip/ae.xpt``), and
    ``inputs`` has the zip's own SHA-256 too."""
    from pathlib import PurePosixPath

    from ..io.sdtm import not_read_note, read_sdtm

    from ..io.raw import is_zip, sha256_file

    path = Path(path)
    if not is_zip(path):
        data = read_sdtm(path, domains, _sdtm_spill(path, domains, store))
        return data, data.checksums()

    with tempfile.TemporaryDirectory(prefix="itp-adam-sdtm-") as tmp:
        folder = Path(tmp)
        not_read: list[str] = []  # the zip's other dataset files (data issues)
        members = _extract_domains(path, folder, domains, not_read)  # extracted name -> member
        try:
            data = read_sdtm(folder, domains, _sdtm_spill(folder, domains, store))
        except InputError as exc:
            raise _named_in_zip(exc, folder, path, members) from None
        data.notes[:0] = [not_read_note(PurePosixPath(member).stem.upper(), f"{path.name}/{member}")
                          for member in sorted(not_read)]
        inputs = {str(path.absolute()): sha256_file(path)}
        inputs.update({f"{path.absolute()}/{members[p.name]}": sha256_file(p)
                       for p in sorted(data.files.values())})
    data.source = path
    data.files = {domain: Path(f"{path}/{members[p.name]}") for domain, p in data.files.items()}
    return data, inputs


NOT_IN_DM = "subject not in DM: record left out of ADaM"


def leave_out_subjects_not_in_dm(data: SdtmInput) -> list[pd.DataFrame]:
    """The input SDTM's records whose subject DM does not have (SDTMIG: every subject of a
    domain is in DM) are left out of its domains, as the raw rules leave out a form's rows
    (``subject not in DM``): no ADaM record without its ADSL subject. Returns them, each with
    its domain (``_FORM``) and record number (``_ROW``), for ``data-issues.csv`` (a warning
    each, reported when the run's log is open). Done on the whole input before it is split,
    so the same records are left out whatever the partitions."""
    dm = data.datasets.get("DM")
    if dm is None or "USUBJID" not in dm.columns:
        return []
    left: list[pd.DataFrame] = []
    for domain, frame in data.datasets.items():
        if domain == "DM" or "USUBJID" not in frame.columns:
            continue
        known = frame["USUBJID"].isin(dm["USUBJID"]).to_numpy(dtype=bool)
        if known.all():
            continue
        rows = np.flatnonzero(~known)
        left.append(pd.DataFrame({"_FORM": domain, "_ROW": rows + 1,
                                  "USUBJID": frame["USUBJID"].to_numpy()[rows]}))
        data.datasets[domain] = frame.loc[known].reset_index(drop=True)
    return left


def _sdtm_spill(folder: Path, domains: Sequence[str], store: Path | None) -> Spill | None:
    """How an SDTM folder is read: into ``store`` when its files of the ``domains`` are large
    (:func:`_spill_if_large`), else in memory (None)."""
    from ..io.sdtm import FORMATS, may_read

    if store is None or not folder.is_dir():
        return None
    wanted = {domain.upper() for domain in domains}
    files = [p for p in folder.iterdir() if p.suffix.lower() in FORMATS and may_read(p.stem, wanted)]
    return _spill_if_large(_file_bytes(files), store)


def _extract_domains(archive: Path, folder: Path, domains: Sequence[str],
                     not_read: list[str] | None = None) -> dict[str, str]:
    """Extract the members of ``archive`` that are files of ``domains`` or may be their split
    datasets (``io.sdtm.may_read``) into ``folder`` (each under its own file name,
    whatever its sub-folder); returns file name -> member name.
    ``not_read``: gets the member names of the other dataset files."""
    import zipfile
    from pathlib import PurePosixPath

    from ..io.sdtm import FORMATS, may_read

    wanted = {domain.upper() for domain in domains}
    expected = f"a .zip of SDTM datasets, one file per domain ({', '.join(FORMATS)})"
    members: dict[str, str] = {}
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = PurePosixPath(info.filename).name
                stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
                if info.is_dir() or suffix.lower() not in FORMATS:
                    continue
                if not may_read(stem, wanted):
                    if not_read is not None:
                        not_read.append(info.filename)
                    continue
                if name in members:
                    raise InputError(f"two members named {name}: {members[name]} and "
                                     f"{info.filename}", file=str(archive),
                                     expected="one file per domain")
                members[name] = info.filename
                try:
                    with zf.open(info) as source, open(folder / name, "wb") as target:
                        shutil.copyfileobj(source, target, WRITE_PIECE)
                except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError) as exc:
                    raise InputError(f"cannot extract {info.filename} ({exc})", file=str(archive),
                                     expected=expected) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise InputError(f"cannot be read as a zip archive ({exc})", file=str(archive),
                         expected=expected) from exc
    return members


def _named_in_zip(exc: InputError, folder: Path, archive: Path,
                  members: dict[str, str]) -> InputError:
    """``exc`` (of the reader, naming files of the temporary ``folder``) naming the zip and
    its members instead."""
    places = [(str(folder / name), f"{archive}/{member}") for name, member in members.items()]
    return _renamed(exc, places + [(str(folder), str(archive))])


def _renamed(exc: InputError, places: list[tuple[str, str]]) -> InputError:
    """``exc`` with each ``(temporary, real)`` path of its texts replaced, in that order."""

    def renamed(text: str | None) -> str | None:
        if text is None:
            return None
        for temporary, real in places:
            text = text.replace(temporary, real)
        return text

    def one(error: InputError) -> InputError:
        return InputError(renamed(error.message), file=renamed(error.file), row=error.row,
                          column=error.column, value=error.value, expected=renamed(error.expected),
                          option=error.option)

    if isinstance(exc, InputErrors):
        return InputErrors([one(error) for error in exc.errors], exc.count)
    return one(exc)


def _run_into(raw: Path | None, specs_dir: Path, folder: Path, clock: Progress, worker: Worker,
              plugins: Sequence[Plugin] = (), sdtm_dir: Path | None = None,
              split: Split = Split()) -> RunResult:
    from ..io.raw import (ExportInPieces, export_pieces, is_zip, read_export, sha256_file,
                          unpack_export)
    from .sdtm import build_sdtm, prepare_forms

    specs: Specs = clock.stage("specs", lambda: load_specs(specs_dir))
    from ..io.define_spec import load_define_spec  # study.yaml's define keys, checked before any data
    define_spec = load_define_spec(specs_dir, specs)
    from ..report.guides import load_guide_text, write_guides  # the reviewer's guides

    guide_text = load_guide_text(specs_dir)  # guides.yaml: a bad one stops the run here
    from ..checks.validate import load_conformance, oversized_files, too_large

    conformance = load_conformance(specs_dir)  # the same for conformance.yaml
    if raw is None and sdtm_dir is None:  # the data shipped with the study, if any
        from ..paths import shipped_input

        found = shipped_input(specs_dir, specs.study.inputs.kind)
        raw, sdtm_dir = (None, found) if specs.study.inputs.kind == "sdtm" else (found, None)
    problem = _input_problem(specs, raw, sdtm_dir, specs_dir)
    if problem is not None:
        raise problem
    zipped = None  # a zipped raw export: read from its files unpacked beside the staging folder
    if not sdtm_dir and is_zip(raw):
        zipped, raw = Path(raw).absolute(), unpack_export(Path(raw), unpacked_beside(folder))
    from_sdtm = sdtm_dir is not None
    pieces = [] if from_sdtm else export_pieces(raw, specs.layout)
    store = store_beside(folder)  # the partitions' files, removed before run.json is written
    spill = pool = None
    not_in_dm: list[pd.DataFrame] = []  # an SDTM input's records left out (reported below)
    result = RunResult(out=folder)
    try:
        if from_sdtm:
            domains = specs.study.inputs.sdtm.domains
            into = None if split.partitions == 1 else store / "read"  # a large input: into the store
            export, inputs = clock.stage("read", lambda: read_sdtm_input(sdtm_dir, domains, into))
            not_in_dm = leave_out_subjects_not_in_dm(export)
        elif pieces:  # an export in pieces: each is read by the partition that builds it
            export, inputs = ExportInPieces(Path(raw), pieces), None
        else:
            csv_bytes = _csv_bytes(Path(raw))
            spill = _read_spill(Path(raw), split, store, csv_bytes)  # large: read into the store
            if spill is not None:  # and built in partitions: a pool's processes start (imports,
                # specs) while it is read, on the core the reading leaves idle
                pool = _pool_ahead(specs_dir, split, plugins, csv_bytes)
            export = clock.stage("read", lambda: read_export(raw, specs.layout, spill))
            inputs = None
        # each partition's input is split into the store (a remote cluster's partitions are
        # read back from it just before they are sent: partitions._on_cluster)
        parts = _partitions(specs, export, from_sdtm, split, clock, store)
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    if pool is not None and len(parts) <= 1:  # not partitioned after all: the processes go
        pool.close()
        pool = None
    result.partitions = len(parts)
    if len(parts) <= 1 and (split.scheduler is not None or split.jobs is not None):
        clock(f"one partition: built in this process ({'--scheduler' if split.scheduler else '--jobs'}"
              " applies to a run in partitions: --partitions N)")
    if spill is not None and len(parts) > 1:
        # the forms are in the partitions' files now (a reference form's frame, still mapped
        # from these files, stays readable until let go)
        shutil.rmtree(spill.folder, ignore_errors=True)
    partitioned = len(parts) > 1 or bool(pieces)  # else built here, in one piece
    merged: dict = {}  # a partitioned run's merged datasets, as files of the store
    merged_files: dict = {}  # the same by their XPT file (removed once it is written)
    files = _XptFiles(folder, result)

    def on_merged(group: str, name: str, made) -> None:
        """A dataset merged in the store: kept for trace.csv and define; with more than one
        process, its XPT file started at once by an XPT process (the merged files are
        still in the page cache, and the other datasets are still being merged)."""
        merged[name] = made
        merged_files[files.folder / group / f"{name.lower()}.xpt"] = made
        if _cores(split) > 1:
            files.start_stored(group, name, made, (specs.sdtm if group == "sdtm" else specs.adam)[name])

    try:
        with issues.collect() as log:
            if from_sdtm:  # what its reader did (NA read as missing, files not read)
                from .sdtm import report_reader_notes
                report_reader_notes(export.notes)
            for rows in not_in_dm:
                issues.report(rows, rule=NOT_IN_DM, severity="warning", column="USUBJID",
                              values=rows["USUBJID"])
            adam: dict[str, pd.DataFrame] = {}
            if partitioned:  # SDTM and ADaM per partition, then put together
                sdtm, adam, result.partitions_built = clock.stage("partitions", lambda: (
                    _build_partitioned(specs, specs_dir, export, from_sdtm, parts, split, plugins,
                                       log, store, on_merged, pool)))
                if not from_sdtm:
                    clock.steps("sdtm xpt", len(sdtm),
                                lambda tick: files.submit("sdtm", sdtm, specs.sdtm, tick))
            elif from_sdtm:  # the input SDTM is the source: no raw rules, no SDTM written
                sdtm = dict(export.datasets)
            else:
                forms = clock.stage("prepare", lambda: prepare_forms(export, specs))
                sdtm = clock.steps("sdtm", len(specs.sdtm), lambda tick: build_sdtm(specs, forms, tick))
                clock.steps("sdtm xpt", len(sdtm),
                            lambda tick: files.submit("sdtm", sdtm, specs.sdtm, tick))
            if specs.adam and not partitioned:
                from .adam import build_adam
                adam = clock.steps("adam", len(specs.adam), lambda tick: build_adam(specs, sdtm, tick))
            if adam:
                clock.steps("adam xpt", len(adam), lambda tick: files.submit("adam", adam, specs.adam, tick))

        rendering = None
        if adam and (specs.study.results is not None or specs.analyses is not None):
            # the study's analyses (results/ard.*) and results provider (stages/results.py):
            from . import results  # results/*.csv here; tables and figures drawn by the worker
            rendering = clock.stage("results",  # during "write"
                                    lambda: results.write_results(
                                        specs, sdtm, adam, folder,
                                        result.started.strftime("%Y-%m-%d %H:%M UTC")))
            if rendering is not None:
                worker.submit(rendering)

        def write(tick) -> Future | None:
            if not from_sdtm:
                write_trace(sdtm, specs, folder / "sdtm" / TRACE_FILE,
                            {name: made.trace for name, made in merged.items() if made.trace})
                tick("trace.csv")
            found = log.frame()
            if zipped is not None:  # a reader's note naming a file names it in the zip
                text = found["value"].astype("string")
                named = text.str.contains(str(unpacked_beside(folder)), regex=False).fillna(False)
                found.loc[named, "value"] = text[named].str.replace(
                    str(unpacked_beside(folder)), str(zipped), regex=False).astype(object)
            write_csv(found, folder / "data-issues.csv")
            tick("data-issues.csv")
            # sdtm/define.xml, adam/define.xml (with stylesheet and documents), define/ and
            # define/specification.xlsx (docs/define.md)
            from ..io.define import write_define
            write_define(specs, {} if from_sdtm else sdtm, adam, folder, specs_dir,
                         define_spec=define_spec,  # a partitioned run's facts: from its partitions
                         facts={name: made.facts for name, made in merged.items() if made.facts},
                         created=result.started, conformance=conformance)
            tick("define")
            # cSDRG and ADRG beside the datasets and their define.xml (docs/reviewers-guides.md),
            # and the inputs' SHA-256 for run.json (a thread: hashlib lets go of the GIL), while
            # the XPT files are finished and the worker draws: they need the datasets' row
            # counts, not their files
            hashing = _in_thread(export.checksums) if inputs is None else None
            write_guides(folder, specs, None, found, specs_dir=specs_dir, rows=result.rows,
                         guide=guide_text, conformance=conformance,
                         made=result.started.date())
            tick("guides")
            # every dataset is in its XPT file or on its way there: this process lets go of
            # them (a partitioned run's merged columns are mapped files), and each merged
            # dataset's files are removed once its XPT file is written, while the XPT process
            # finishes the others (the kernel frees their pages now, not after run.json)
            sdtm.clear()
            adam.clear()
            files.wait(tick, lambda path: merged_files[path].remove() if path in merged_files
                       else None)
            return hashing  # the inputs' checksums, when still to be read from the files

        hashing = clock.steps("write", 3 + (0 if from_sdtm else 1 + len(sdtm)) + len(adam), write)
    finally:
        files.close()
        if pool is not None:  # build_partitions closed it, unless the run failed before
            pool.close()
    if rendering is not None:  # the wait for the worker, if it is still drawing
        clock.stage("tables", worker.result)
        result.worker_seconds["tables"] = round(worker.seconds, 3)
    result.issue_counts = log.counts()
    result.timings = clock.timings
    result.warnings += [too_large(name, size, conformance.max_file_gb) for name, size
                        in oversized_files(folder, conformance.max_file_gb).items()]
    shutil.rmtree(store, ignore_errors=True)  # the datasets mapped from it are no longer read
    inputs = hashing.result() if hashing is not None else inputs
    if zipped is not None:  # the zip and its members (export.zip/AE.csv), as --sdtm names them
        inputs = {str(zipped): sha256_file(zipped), **{
            name.replace(str(unpacked_beside(folder)), str(zipped)): digest
            for name, digest in inputs.items()}}
    _write_run_json(folder, zipped or (sdtm_dir if from_sdtm else raw), specs_dir, inputs, result,
                    files.hashed, plugins, "sdtm" if from_sdtm else "raw")
    return result


def _in_thread(action: Callable[[], object]) -> Future:
    """``action()`` run by a thread of its own; its result (or error) in the future returned."""
    import threading
    from concurrent.futures import Future

    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(action())
        except BaseException as error:  # noqa: BLE001  (raised by whoever asks the result)
            future.set_exception(error)

    threading.Thread(target=run, name="itp-adam-hash", daemon=True).start()
    return future


def _read_spill(raw: Path, split: Split, store: Path, csv_bytes: int) -> Spill | None:
    """How a raw export is read: a CSV folder (of ``csv_bytes``, :func:`_csv_bytes`) in a run
    that may build partitions into the store when large (:func:`_spill_if_large`); else None
    (read into memory)."""
    if split.partitions == 1 or not raw.is_dir():
        return None
    return _spill_if_large(csv_bytes, store / "read")


def _csv_bytes(raw: Path) -> int:
    """The bytes of the CSV files of the export folder ``raw`` (0: a workbook)."""
    return _file_bytes([p for p in raw.iterdir() if p.suffix.lower() == ".csv"]) if raw.is_dir() else 0


def _file_bytes(files: Sequence[Path]) -> int:
    return sum(p.stat().st_size for p in files if p.is_file())


def _spill_if_large(size: int, folder: Path) -> Spill | None:
    """A Spill in ``folder`` (``io.raw.Spill``: the input read into files there, never held
    whole in memory) for an input of ``size`` bytes of files of at least
    ``partitions.READ_INTO_STORE``, else None."""
    from ..io.raw import Spill
    from .partitions import READ_INTO_STORE

    return Spill(folder) if size >= READ_INTO_STORE else None


def _pool_ahead(specs_dir: Path, split: Split, plugins: Sequence[Plugin], csv_bytes: int
                ) -> Runner | None:
    """The process pool a partitioned run of these options builds in (None: Dask, plug-ins or
    one job), with as many processes started now (``Runner.start``) as the run will surely
    use: ``--partitions``, else one per ``partitions.INPUT_PER_PARTITION`` of the export's
    ``csv_bytes`` (its columns in memory take at least as much), at most ``--jobs``. More
    start when the partitions are known, as without this."""
    cores = _cores(split)
    if split.scheduler is not None or plugins or cores <= 1:
        return None
    from .partitions import INPUT_PER_PARTITION, process_pool

    pool = process_pool(cores, specs_dir)
    pool.start(min(cores, split.partitions or -(-csv_bytes // INPUT_PER_PARTITION)))
    return pool


def _partitions(specs: Specs, export, from_sdtm: bool, split: Split, clock: Progress,
                store: Path | None = None) -> list[dict[str, pd.DataFrame | Path]] | list[Path]:
    """The run's input split by subject (one part: no split). ``split.partitions`` None: one
    partition per ``SUBJECTS_PER_PARTITION`` subjects or ``INPUT_PER_PARTITION`` bytes of input
    (one for a small study); a study that cannot be split (``partitions.plan_problems``) is
    refused when partitions were asked for, else one part. An export in pieces: its pieces,
    one partition each. ``store``: each partition's part of a form is written there as it is
    split (``split_frames``, the stage "split")."""
    from ..io.raw import ExportInPieces
    from .partitions import (default_partitions, distinct_subjects, input_bytes, plan_problems,
                             split_frames)

    if isinstance(export, ExportInPieces):
        count = len(export.pieces)
        if split.partitions is not None and split.partitions != count:
            raise InputError(f"cannot be used with an export in {count} pieces ({export.source}): "
                             "each piece is one partition", option="--partitions",
                             value=str(split.partitions), expected=f"{count} or no --partitions")
        problems = plan_problems(specs)
        if problems:
            raise InputError("this study's datasets cannot be built per piece of the export: "
                             + "; ".join(problems), file=str(export.source),
                             expected="the export in one folder (no pieces)")
        return list(export.pieces)

    frames = export.datasets if from_sdtm else export.forms
    if split.partitions == 1:
        return [frames]
    subject = "USUBJID" if from_sdtm else specs.layout.subject_column
    listing = frames.get("DM" if from_sdtm else specs.layout.subject_form)
    ids = listing[subject] if listing is not None and subject in listing else pd.Series([], dtype="str")
    subjects = len(distinct_subjects([ids]))
    # by default one partition per SUBJECTS_PER_PARTITION subjects or INPUT_PER_PARTITION
    # bytes of input: one for a small study (no pool, nothing imported), several for a large
    # one (a quarter of the memory at 100,000 subjects: performance.md)
    count = split.partitions
    if count is not None and count > subjects > 0:  # most of them would be empty, each a cost
        raise InputError(f"asks for more partitions than the input has subjects ({subjects})",
                         option="--partitions", value=str(count),
                         expected=f"at most {subjects}, or no --partitions")
    if count is None:  # the input's size as read: its columns' bytes in memory
        count = default_partitions(subjects, input_bytes(frames))
    if count <= 1 or subjects == 0:  # no subjects at all: the one-partition run says so
        return [frames]
    problems = plan_problems(specs)
    if problems:
        if split.partitions is not None:
            raise InputError("this study's datasets cannot be built per partition of subjects: "
                             + "; ".join(problems), expected="--partitions 1 (the default for it)")
        return [frames]
    return clock.stage("split", lambda: split_frames(frames, subject, count, store))


def _build_partitioned(specs: Specs, specs_dir: Path, export, from_sdtm: bool,
                       parts: list[dict[str, pd.DataFrame]], split: Split,
                       plugins: Sequence[Plugin], log, store: Path, on_merged,
                       pool: Runner | None = None) -> tuple[dict, dict, dict]:
    """SDTM and ADaM built per partition (in a process pool, on Dask, or here when the study
    loads plug-ins or one job is asked for) and put together; their issues into ``log``; the
    third item says where they were built (``Runner.built_in``, for run.json).
    ``store``: the folder of the partitions' files; ``on_merged`` is told of each dataset
    merged there (``partitions.OnMerged``); ``pool``: the run's process pool if it was
    started ahead (:func:`_pool_ahead`)."""
    from .partitions import (PartitionJob, build_partitions, dask_cluster, in_process, input_bytes,
                             process_pool, reference_forms, store_compression)

    if parts and isinstance(parts[0], Path):  # an export in pieces: each read by its partition
        jobs = [PartitionJob(number=k, specs_dir=Path(specs_dir), frames={}, from_sdtm=False,
                             source=piece, piece=piece.name) for k, piece in enumerate(parts)]
    else:
        jobs = [PartitionJob(number=k, specs_dir=Path(specs_dir), frames=frames,
                             from_sdtm=from_sdtm, source=None if from_sdtm else export.source,
                             kind="sdtm" if from_sdtm else export.kind,
                             files=None if from_sdtm else export.files,
                             notes=None if from_sdtm or k else export.notes)
                for k, frames in enumerate(parts)]
    workers = _cores(split)
    if pool is not None:
        runner = pool
    elif split.scheduler is not None:
        runner = dask_cluster(split.scheduler)
    elif workers <= 1 or plugins:  # plug-ins are loaded in this process only
        runner = in_process(specs)
    else:
        runner = process_pool(workers, specs_dir)
    # a reference form's issues once (every hash partition has the same one); each piece has
    # its own file of it
    shared = () if from_sdtm or not export.forms else reference_forms(export.forms,
                                                                       specs.layout.subject_column)
    # the partitions' datasets kept uncompressed in the store for an input of a known, moderate
    # size (an export in pieces: not known; partitions.COMPRESS_STORE_ABOVE)
    compression = store_compression(None if jobs[0].piece is not None else input_bytes(
        export.datasets if from_sdtm else export.forms))
    if not from_sdtm:
        export.forms.clear()  # the partitions hold the forms now: one copy of the input, not two
    sdtm, adam, found = build_partitions(specs, jobs, runner, store,
                                         dict(export.datasets) if from_sdtm else None, shared,
                                         on_merged, compression)
    log.extend(found)
    return sdtm, adam, runner.built_in


def _cores(split: Split) -> int:
    """The processes a run may use (``--jobs``, default: the machine's cores)."""
    return split.jobs if split.jobs is not None else (os.cpu_count() or 1)


class _XptFiles:
    """The run's XPT files, written by one background thread.

    Each dataset is checked and converted in the calling thread (``xpt.prepare_xpt``: pandas,
    and an XptLimitError stops the run before the next stage); packing, hashing and writing the
    bytes (numpy, pyarrow, file I/O, which release the GIL) run in the background, so the SDTM
    files are written while ADaM is built and the ADaM files while results and define are
    made, on the machine's second core. The background thread never touches a pandas object.

    A dataset of more than ``xpt.STRETCH_ROWS`` rows is converted and written a stretch of rows
    at a time (``xpt.XptWriter``, the widths of the whole known first), and the converted
    stretches waiting for the thread are kept under :attr:`BUDGET` bytes: the conversion never
    holds a large dataset whole (the bytes are the same as in one piece).

    A partitioned run may use more than one process (``--jobs``): then the datasets merged in
    the store are converted and written by a process of their own (:meth:`start_stored`,
    :func:`_write_stored`, the same code), one after another as they are merged, while the
    other datasets are merged and this process goes on with the analyses and define. Once
    this process has nothing left but to wait (:meth:`wait`), it writes the merged datasets
    that process has not started yet itself: the two share one queue, so the largest files
    are not left to one core after the analyses are done (docs/performance.md, "Eleventh
    round"), and no more processes are busy than before."""

    BUDGET = 1 << 29
    """Bytes of converted records that may wait for the writing thread (512 MiB)."""

    def __init__(self, folder: Path, result: RunResult) -> None:
        import threading
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.folder = folder
        self.result = result
        self.process = None  # the process that writes the stored datasets (started when needed)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="itp-adam-xpt")
        self.pending: dict[Path, Future] = {}
        # merged datasets not started yet (merged files, spec, path), taken in order by that
        # process (one at a time, handed by the feeder thread) or by this one in ``wait``
        self.stored: deque[tuple[object, Dataset, Path]] = deque()
        self.busy = False  # the feeder thread is running
        self.feeder = None  # that thread's executor (started when needed)
        self.lock = threading.Lock()
        self.hashed: dict[Path, str] = {}  # SHA-256 of each file, computed while writing it
        self.queued: deque[tuple[Future, int]] = deque()  # converted bytes waiting
        self.waiting = 0

    def submit(self, group: str, datasets: dict[str, pd.DataFrame], specs: dict[str, Dataset],
               tick) -> None:
        (self.folder / group).mkdir(exist_ok=True)
        for name, frame in datasets.items():
            path = self.folder / group / f"{name.lower()}.xpt"
            if path in self.pending:  # started when it was merged (start_stored): its place
                self.pending[path] = self.pending.pop(path)  # in the datasets' order (wait)
            else:
                self.submit_one(frame, specs[name], path)
            self.result.rows[name] = len(frame)
            tick(name)

    def start_stored(self, group: str, name: str, merged, spec: Dataset) -> None:
        """Queue the dataset merged in the store (``partitions.Merged``) to be written as
        ``group/name.xpt`` by the XPT process (:func:`_write_stored`), or by this process if
        it is still queued when :meth:`wait` is called; :meth:`submit` then leaves it alone."""
        from concurrent.futures import Future, ThreadPoolExecutor

        (self.folder / group).mkdir(exist_ok=True)
        path = self.folder / group / f"{name.lower()}.xpt"
        self.pending[path] = Future()  # done by whichever process writes it
        with self.lock:
            self.stored.append((merged, spec, path))
            start, self.busy = not self.busy, True
        if start:  # else the feeder running takes it in its turn
            if self.feeder is None:
                self._process()  # started here, so that ``close`` finds it
                self.feeder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="itp-adam-feed")
            self.feeder.submit(self._feed)

    def _feed(self) -> None:
        """In a thread of this process: hand the XPT process the queued merged datasets one at
        a time (so that the rest stay in the queue for :meth:`wait`), each one's hash or error
        to its ``pending`` future; ends when the queue is empty."""
        while True:
            with self.lock:
                if not self.stored:
                    self.busy = False
                    return
                merged, spec, path = self.stored.popleft()
            try:
                digest = self._process().submit(_write_stored, merged, spec, path).result()
            except BaseException as error:  # noqa: BLE001  (raised by ``wait``)
                self.pending[path].set_exception(error)
            else:
                self.pending[path].set_result(digest)

    def submit_one(self, frame: pd.DataFrame, spec: Dataset, path: Path) -> None:
        """Check and convert ``frame`` here and queue its writing (``pending[path]``)."""
        from ..io.xpt import STRETCH_ROWS

        if len(frame) <= STRETCH_ROWS:
            prepared = prepare_dataset(frame, spec)
            self.pending[path] = self._queue(prepared.nbytes, prepared.write, path)
        else:
            self.pending[path] = self._stretches(frame, spec, path)

    def _process(self):
        if self.process is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from .partitions import use_jemalloc

            self.process = ProcessPoolExecutor(max_workers=1, initializer=use_jemalloc,
                                               mp_context=multiprocessing.get_context("spawn"))
        return self.process

    def _stretches(self, frame: pd.DataFrame, spec: Dataset, path: Path) -> Future:
        """Write ``frame`` a stretch of rows at a time; the future of the file's SHA-256."""
        from ..io.xpt import STRETCH_ROWS, XptLimitError, XptWriter, xpt_layout

        columns = frame[[var.name for var in spec.variables]]
        layout = xpt_layout(columns)
        writer = XptWriter(path)
        added: list[Future] = []
        try:
            for start in range(0, len(frame), STRETCH_ROWS):
                rows = frame.iloc[start:start + STRETCH_ROWS]
                prepared = prepare_dataset(rows, spec, layout.stretch(
                    start + STRETCH_ROWS >= len(frame)))
                added.append(self._queue(prepared.nbytes, writer.add, prepared))
        except XptLimitError:  # the problems as the whole dataset's check words them
            for future in added:  # the stretches queued: written (or failed), then removed
                future.exception()
            writer.abort()
            prepare_dataset(frame, spec)
            raise
        return self.pool.submit(writer.close)

    def _queue(self, size: int, write, *args) -> Future:
        """Submit ``write(*args)`` of ``size`` bytes of converted records, after waiting until
        the bytes waiting for the thread leave room for them under the budget."""
        while self.queued and self.waiting + size > self.BUDGET:
            done, done_size = self.queued.popleft()
            self.waiting -= done_size
            done.exception()  # wait; a failure is raised by ``wait``
        future = self.pool.submit(write, *args)
        self.queued.append((future, size))
        self.waiting += size
        return future

    def wait(self, tick, written: Callable[[Path], None] = lambda _path: None) -> None:
        """Wait for every file; the first failed write in the files' order is raised here: the
        order of :meth:`submit`, the datasets' (not the order the merges ended in, which
        depends on timing: the same error whatever the run's processes). The merged datasets
        the XPT process has not started are written here meanwhile. ``written(path)`` is
        called as each file is done, in that order."""
        from concurrent.futures import Future

        from .partitions import merged_frame

        while True:
            with self.lock:
                if not self.stored:
                    break
                merged, spec, path = self.stored.popleft()
            try:
                self.submit_one(merged_frame(merged), spec, path)
            except Exception as error:  # raised below, in the files' order
                failed: Future = Future()
                failed.set_exception(error)
                self.pending[path] = failed
        for path, future in self.pending.items():
            self.hashed[path] = future.result()
            written(path)
            tick(path.name)

    def close(self) -> None:
        """Finish the file being written and drop the rest (the run failed or is done)."""
        with self.lock:
            self.stored.clear()  # not started: dropped
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.feeder is not None:  # ends once the dataset the process writes is done
            self.feeder.shutdown(wait=True)
        if self.process is not None:
            self.process.shutdown(wait=True, cancel_futures=True)


def _write_stored(merged, spec: Dataset, path: Path) -> str:
    """In a process of its own: a dataset merged in the store written as ``_XptFiles`` writes
    it (checks first, a stretch at a time when large); returns the file's SHA-256."""
    from .partitions import merged_frame

    files = _XptFiles(path.parent, RunResult(out=path.parent))
    try:
        frame = merged_frame(merged)
        files.submit_one(frame, spec, path)
        return files.pending[path].result()
    finally:
        files.close()


def write_trace(sdtm: dict[str, pd.DataFrame], specs: Specs, path: Path,
                written: dict[str, Path]) -> None:
    """Write ``sdtm/trace.csv``: one row per SDTM record (``sdtm.trace_parts``), dataset by
    dataset; a dataset whose rows a partitioned run's merge has written already (``written``:
    their file, CSV without a header) is copied from it, and the file removed."""
    import pyarrow as pa
    from pyarrow import csv

    from .sdtm import TRACE_SCHEMA, trace_parts

    with open(path, "wb") as out:
        csv.write_csv(TRACE_SCHEMA.empty_table(), out)  # the header
        for name in sdtm:
            if name in written:
                append_file(written[name], out)
                written[name].unlink()
                continue
            for part in trace_parts({name: sdtm[name]}, specs):
                write_csv_rows(pa.Table.from_pandas(part, preserve_index=False), out,
                               TRACE_SCHEMA)


def write_dataset(frame: pd.DataFrame, spec: Dataset, path: Path) -> str:
    """Write one dataset as XPT v5 with the spec's names, labels, DATE9. dates and
    DATETIME20. datetimes; returns the file's SHA-256."""
    return prepare_dataset(frame, spec).write(path)


def prepare_dataset(frame: pd.DataFrame, spec: Dataset, layout: XptLayout | None = None
                    ) -> PreparedXpt:
    """One dataset checked and converted for XPT v5 with the spec's names, labels and DATE9.
    dates (``xpt.prepare_xpt``); raises XptLimitError. ``layout``: ``frame`` is a stretch of
    the dataset (``_XptFiles``)."""
    from ..io.xpt import prepare_xpt

    names = [var.name for var in spec.variables]
    formats = {var.name: (var.format or "").upper() for var in spec.variables}
    stamps = [name for name, fmt in formats.items() if fmt.startswith("DATETIME")]
    dates = [name for name, fmt in formats.items()
             if fmt.startswith("DATE") and name not in stamps]
    return prepare_xpt(frame[names], dataset=spec.name, label=spec.label,
                       column_labels={var.name: var.label for var in spec.variables},
                       date_columns=dates, datetime_columns=stamps, layout=layout)


def package_versions() -> dict[str, str]:
    """Name and version of every package installed where this Python imports from.

    What made the outputs, for run.json (with a locked installation, constraints/lock.txt, these
    are the locked versions). Read from the ``NAME-VERSION.dist-info`` folder names on
    ``sys.path``, the first of a name winning as for imports: parsing each package's metadata
    would cost a third of a second, the folder names a millisecond."""
    found: dict[str, str] = {}
    for entry in sys.path:
        folder = Path(entry or ".")
        if not folder.is_dir():
            continue
        for info in sorted(folder.glob("*.dist-info")):
            name, _, version = info.name[: -len(".dist-info")].partition("-")
            found.setdefault(name.replace("_", "-").lower(), version)
    return dict(sorted(found.items()))


def _write_run_json(folder: Path, raw: Path, specs_dir: Path, inputs: dict[str, str],
                    result: RunResult, hashed: dict[Path, str], plugins: Sequence[Plugin] = (),
                    kind: str = "raw") -> None:
    """run.json; ``hashed`` holds checksums already computed while writing (the XPT files);
    ``kind``: what ``raw`` is, ``"raw"`` (the raw export) or ``"sdtm"`` (the SDTM folder)."""
    from ..io.raw import sha256_file

    specs_dir = Path(specs_dir)
    outputs = sorted(p for p in folder.rglob("*") if p.is_file())
    info = {
        "package": "itp-adam",
        "version": __version__,
        "python": sys.version.split()[0],
        "pandas": pd.__version__,
        "packages": package_versions(),  # the installed packages that made the outputs
        "started": result.started.isoformat(),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        kind: str(Path(raw).absolute()),
        "specs": str(specs_dir.absolute()),
        # every input file by its absolute path, as the folders above (a relative --raw or
        # --sdtm gave relative names, a zip's members absolute ones)
        "inputs": {str(Path(name).absolute()): digest for name, digest in inputs.items()},
        "spec_files": spec_file_digests(specs_dir),
        "plugins": {plugin.name: plugin.sha256 for plugin in plugins},  # the code it ran
        "outputs": {p.relative_to(folder).as_posix(): hashed.get(p) or sha256_file(p)
                    for p in outputs},
        "rows": result.rows,
        "data_issues": result.issue_counts,
        "timings_seconds": result.timings,
        "worker_seconds": result.worker_seconds,
        "partitions": result.partitions,
        "partitions_built": result.partitions_built,
    }
    (folder / "run.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
