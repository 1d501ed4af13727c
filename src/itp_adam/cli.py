"""The ``itp-adam`` command line. Imports stay inside the commands so start-up is quick."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from . import __version__
from .errors import InputError

DEFAULT_SEED = 20250414


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="itp-adam", description=(
        "A clinical study's data -> SDTM -> ADaM (SAS XPT v5, define) -> the study's results, "
        "driven by the study's YAML specs."))
    p.add_argument("--version", action="version", version=f"itp-adam {__version__}")
    debug_help = "show the full traceback on errors"
    p.add_argument("--debug", action="store_true", help=debug_help)
    # --debug is also accepted after the command; SUPPRESS keeps a --debug given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common],
                         help="run a study: its raw export or SDTM -> SDTM -> ADaM -> results (default: the shipped default study)")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--raw", type=Path, help="folder of form CSVs or one .xlsx workbook, or "
                        "a folder of such CSV folders (an export in pieces: each piece read and "
                        "built as one partition; all of a subject's rows in one piece), or a "
                        ".zip of any of these "
                        "(default: the study data shipped with the package)")
    source.add_argument("--sdtm", type=Path, metavar="DIR",
                        help="folder of SDTM datasets (.xpt, .sas7bdat, .csv, .parquet; one file "
                        "per domain) or a .zip of them, for a study whose study.yaml declares "
                        "inputs: sdtm (default: the study data shipped with the package); for a "
                        "study that is not shipped, --raw or --sdtm is needed")
    _study_options(run)
    run.add_argument("--out", type=Path, default=Path("itp-adam-out"),
                     help="output folder: new, empty, or an earlier run's (default: %(default)s)")
    run.add_argument("--quiet", action="store_true", help="print only errors")
    run.add_argument("--allow-plugins", action="store_true",
                     help="load the Python plug-in files the study's specs declare (study.yaml "
                     "plugins:); they run with your permissions, so only for specs you trust")
    run.add_argument("--partitions", type=int, metavar="N",
                     help="build SDTM and ADaM in N partitions of subjects (default: one per "
                     "25,000 subjects or 256 MiB of input, so 1 for a smaller study); the outputs "
                     "are the same for any N")
    run.add_argument("--jobs", type=int, metavar="N",
                     help="partitions built at a time, each in its own process (default: the "
                     "machine's cores)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="build the partitions on a Dask cluster: its scheduler's address "
                     "(tcp://host:8786) or 'local' (needs pip install itp-adam[dask])")

    from .paths import DEFAULT_STUDY

    sim = sub.add_parser("simulate", parents=[common],
                         help=f"write a synthetic raw export of the shipped {DEFAULT_STUDY} study")
    sim.add_argument("--out", type=Path, required=True,
                     help="folder to write the export into, or a .xlsx file name for one workbook; "
                     "new, empty, or an earlier simulate output")
    sim.add_argument("--subjects", type=int, default=167, help="number of subjects (default: %(default)s)")
    sim.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    sim.add_argument("--pieces", type=int, default=1,
                     help="write the study as an export in this many pieces, OUT/piece-000/ ... "
                     "(CSV), one held in memory at a time: for a study larger than memory "
                     "(default: %(default)s, one export)")
    sim.add_argument("--format", choices=["csv", "xlsx"],
                     help="csv: one CSV per form; xlsx: one workbook, --out itself when it ends in "
                     ".xlsx, else OUT/raw-export.xlsx (default: xlsx when --out ends in .xlsx, "
                     "else csv)")

    # --- compare (owned by itp_adam.checks.compare) ---
    cmp = sub.add_parser("compare", parents=[common],
                         help="PROC COMPARE-style comparison of two datasets or folders "
                         "of datasets (XPT, sas7bdat, CSV or Parquet); exit 1 when they differ")
    cmp.add_argument("base", type=Path, help="base dataset file, or a folder of datasets")
    cmp.add_argument("compare", type=Path, help="compare dataset file, or a folder of datasets")
    cmp.add_argument("--keys", nargs="+", metavar="VAR",
                     help="key variables matching records, space or comma separated "
                     "(default: the keys of the dataset's spec)")
    _study_options(cmp, "for the default keys ")
    cmp.add_argument("--tolerance", type=float, default=0.0,
                     help="absolute tolerance for numeric values (default 0: exact)")
    cmp.add_argument("--max-diffs", type=int, default=10,
                     help="differing records listed per variable (default 10)")
    cmp.add_argument("--report", type=Path, help="also write the report to this file")
    # --- end compare ---

    # --- validate (owned by itp_adam.checks.validate) ---
    val = sub.add_parser("validate", parents=[common], help="conformance checks of an output folder "
                         "(SDTMIG rules and the specs); exit 1 on errors")
    val.add_argument("folder", type=Path, help="output folder of `itp-adam run`")
    _study_options(val)
    val.add_argument("--report", type=Path,
                     help="findings CSV (default: FOLDER/validation.csv)")
    # --- end validate ---

    sub.add_parser("studies", parents=[common], help="list the shipped studies (for --study)")
    return p


def _study_options(command: argparse.ArgumentParser, purpose: str = "") -> None:
    """``--study NAME`` or ``--specs DIR`` (neither: the default study, ``paths.DEFAULT_STUDY``)."""
    from .paths import DEFAULT_STUDY

    which = command.add_mutually_exclusive_group()
    which.add_argument("--study", metavar="NAME",
                       help=f"a shipped study's specs {purpose}(`itp-adam studies` lists them; "
                       f"default: {DEFAULT_STUDY})")
    which.add_argument("--specs", type=Path, metavar="DIR",
                       help=f"a folder of specs {purpose}(default: the shipped study specs)")


def _resolve_study(args: argparse.Namespace) -> None:
    """``--study NAME`` -> ``args.specs``, the shipped study's folder (unknown: exit 2)."""
    if getattr(args, "study", None) is not None:
        from .paths import study_dir

        args.specs = study_dir(args.study)


def _cmd_studies(args: argparse.Namespace) -> int:
    """List the shipped studies: name, study id and the first line of study.yaml's leading
    comment, the specs folder, and what the study starts from with the data shipped for it."""
    import re

    from .paths import DEFAULT_STUDY, shipped_input, shipped_studies

    for name, folder in shipped_studies().items():
        text = (folder / "study.yaml").read_text(encoding="utf-8")
        found = re.search(r"^study_id:\s*['\"]?([^'\"#\n]*?)['\"]?\s*(#.*)?$", text, re.M)
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        title = first.lstrip("#").strip() if first.startswith("#") else ""
        study_id = found[1] if found else ""
        about = title if study_id in title else " - ".join(p for p in (study_id, title) if p)
        default = " (default)" if name == DEFAULT_STUDY else ""
        print(f"{name}{default}" + (f": {about}" if about else ""))
        print(f"  {folder}")
        kind, starts = _starts_from(text)
        data = shipped_input(folder, kind) if kind else None
        print(f"  starts from {starts}; " + (f"data shipped: {data}" if data else
                                              "no data shipped (give --raw or --sdtm)"))
    return 0


def _starts_from(study_yaml: str) -> tuple[str | None, str]:
    """``(kind, in words)`` of what a study.yaml's ``inputs`` say the study starts from: raw
    forms (the default) or SDTM datasets; ``(None, ...)`` if the file cannot be read."""
    import yaml

    try:
        inputs = (yaml.safe_load(study_yaml) or {}).get("inputs") or {}
    except (yaml.YAMLError, AttributeError):
        return None, "? (study.yaml cannot be read: `itp-adam run` names the problem)"
    sdtm = inputs.get("sdtm") if isinstance(inputs, dict) else None
    if sdtm is not None:
        domains = sdtm.get("domains") if isinstance(sdtm, dict) else None
        listed = f" ({', '.join(map(str, domains))})" if isinstance(domains, list) else ""
        return "sdtm", f"SDTM datasets{listed}"
    return "raw", "raw forms"


def _cmd_run(args: argparse.Namespace) -> int:
    from .report.render import Worker

    previous = _stop_on_terminate()
    try:
        worker = Worker()  # first: its imports (pandas, matplotlib, ...) overlap ours on a second core
        try:
            return _run(args, worker)
        finally:
            worker.close()
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)


def _stop_on_terminate():
    """Make SIGTERM (``kill``, a batch scheduler stopping a job) stop the run as Ctrl-C does:
    the run's staging folder is removed and an earlier output is left as it was (without
    this, the process ends at once and leaves the staging folder beside ``--out``). Returns
    the handler it replaced (None when not in the main thread, where signals cannot be set)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame) -> None:
        raise KeyboardInterrupt(f"terminated (signal {signum})")

    return signal.signal(signal.SIGTERM, stop)


def _run(args: argparse.Namespace, worker) -> int:
    from .paths import default_specs_dir
    from .report.progress import Progress
    from .stages.partitions import use_jemalloc
    from .stages.pipeline import run

    use_jemalloc()  # this process's; the processes a run starts set their own

    specs = args.specs or default_specs_dir()
    raw = args.raw  # neither --raw nor --sdtm: the data shipped with the study (pipeline.run)
    say = (lambda _: None) if args.quiet else (lambda text: print(text, flush=True))
    terminal = sys.stdout if sys.stdout.isatty() and not args.quiet else None
    for option, value in (("--partitions", args.partitions), ("--jobs", args.jobs)):
        if value is not None and value < 1:
            raise InputError("must be at least 1", option=option, value=str(value))
    _warn_leftovers(args.out)
    result = run(raw, specs, args.out, Progress(say, terminal), worker,
                 allow_plugins=args.allow_plugins, sdtm=args.sdtm, partitions=args.partitions,
                 jobs=args.jobs, scheduler=args.scheduler)
    counts = result.issue_counts
    for warning in result.warnings:  # on stderr, also with --quiet
        print(f"itp-adam: warning: {warning}", file=sys.stderr)
    say(f"done in {sum(result.timings.values()):.1f} s: outputs in {result.out}")
    say("  " + ", ".join(f"{name} {rows}" for name, rows in result.rows.items()) + " records")
    say(f"  data issues: {counts.get('error', 0)} errors, {counts.get('warning', 0)} warnings, "
        f"{counts.get('info', 0)} info - see {result.out / 'data-issues.csv'}")
    return 0


def _warn_leftovers(out: Path) -> None:
    """Name on stderr (also with --quiet) the folders an earlier command on ``out`` left
    beside it when it was killed outright (``pipeline.leftover_staging``)."""
    from .stages.pipeline import leftover_staging

    for path, size in leftover_staging(Path(out).absolute()):
        amount = f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"
        print(f"itp-adam: warning: {path} ({amount}) was left by a command writing "
              f"{Path(out).name} that was killed or is still running; delete it when no command "
              "is writing there", file=sys.stderr, flush=True)


def _subjects(n: int) -> str:
    return f"{n} subject" if n == 1 else f"{n} subjects"


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import MARKER, build, check_export_out, write_export, write_pieces

    if args.subjects < 1:
        raise InputError("must be at least 1", option="--subjects", value=str(args.subjects))
    if args.seed < 0:
        raise InputError("must be 0 or more", option="--seed", value=str(args.seed))
    if not 1 <= args.pieces <= args.subjects:
        raise InputError("must be between 1 and --subjects", option="--pieces", value=str(args.pieces))
    out = args.out
    _warn_leftovers(out)
    if args.pieces > 1:
        if args.format == "xlsx":
            raise InputError("must be csv for an export in pieces", option="--format",
                             value="xlsx", expected="csv, or --pieces 1 for one workbook")
        write_pieces(args.subjects, args.seed, args.pieces, out)
        print(f"wrote {_subjects(args.subjects)} (seed {args.seed}) to {out} in {args.pieces} "
              f"pieces: {out / 'piece-000'} ..., truth in each piece's truth folder")
        return 0
    fmt = args.format or ("xlsx" if out.suffix.lower() == ".xlsx" else "csv")
    truth = check_export_out(out, fmt)  # before the simulation, which takes a while when large
    written = write_export(build(args.subjects, args.seed), out, fmt, seed=args.seed)
    said = f"wrote {_subjects(args.subjects)} (seed {args.seed}) to "
    if out.is_file():
        print(f"{said}the workbook {out}, truth in {out.parent / truth.name}")
    else:
        home = out.absolute()
        files = sum(1 for p in written if p.parent == home and p.name != MARKER)
        print(f"{said}{out}: {files} export file(s), truth in {out / 'truth'}")
    return 0


def _commands():
    def compare(args: argparse.Namespace) -> int:
        from .checks.compare import command
        return command(args)

    def validate(args: argparse.Namespace) -> int:
        from .checks.validate import command
        return command(args)

    return {"run": _cmd_run, "simulate": _cmd_simulate, "compare": compare, "validate": validate,
            "studies": _cmd_studies}


SHOWN_ERRORS = 20  # messages printed when the raw export has several problems


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .errors import InputErrors, error_file, remove_error_file, write_error_file

    # run: the problems of the raw export go to OUT.errors.csv beside --out (docs/bad-input.md);
    # an earlier run's list is removed first, so the file is always the latest run's
    out = getattr(args, "out", None) if args.command == "run" else None
    listing = error_file(out) if out is not None and out.absolute().name else None
    if listing is not None:
        try:
            remove_error_file(listing)
        except OSError:
            pass
    try:
        _resolve_study(args)
        code = _commands()[args.command](args)
        sys.stdout.flush()  # a pipe's buffer: a reader gone is found here, not at exit
        return code
    except InputError as exc:
        found = exc.errors if isinstance(exc, InputErrors) else [exc]
        count = exc.count if isinstance(exc, InputErrors) else 1
        where = None
        if isinstance(exc, InputErrors) and listing is not None:
            try:
                write_error_file(found, listing)
                which = "all" if len(found) == count else f"the first {len(found)} of"
                where = f"{which} {count} in {listing}"
            except OSError as failed:
                where = f"the list could not be written to {listing}: {failed.strerror or failed}"
        if args.debug:
            raise
        print(f"itp-adam: error: {exc}", file=sys.stderr)
        for other in found[1:SHOWN_ERRORS]:
            print(f"  {other}", file=sys.stderr)
        if count > 1:
            shown = min(len(found), SHOWN_ERRORS)
            more = f"... and {count - shown} more" if count > shown else f"{count} problems"
            print(f"itp-adam: {more}" + (f"; {where}" if where else ""), file=sys.stderr)
        return 2
    except BrokenPipeError:  # whoever read the printed report stopped (`| head`): stop quietly,
        # as other commands do, and let the interpreter's last flush go nowhere
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command ended by a closed pipe
    except OSError as exc:  # a file or folder the command cannot read or write (e.g. --out)
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"itp-adam: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        from .io.xpt import XptLimitError

        if args.debug or not isinstance(exc, XptLimitError):
            raise
        print(f"itp-adam: error: values the SAS transport files cannot hold: {exc}", file=sys.stderr)
        return 2


def command() -> None:
    """The ``itp-adam`` command (and ``python -m itp_adam``): :func:`main`, then leave.

    Before the interpreter ends, every object still alive is moved out of the garbage
    collector's reach (``gc.freeze``): its final collections would otherwise walk all of
    them (pandas, the specs' models, the datasets' frames) only to free memory the
    process is about to give back, 0.25 s of the shipped study's 3 s
    (docs/performance.md, "Thirteenth round"). Exit handlers and threads still run and end
    as usual. Not in :func:`main`, which tests and programs call in their own process."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    command()
