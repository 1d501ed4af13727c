"""The command line: simulate, run on the shipped study, and exit 2 with one message."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from itp_adam import __version__
from itp_adam.cli import main
from itp_adam.errors import InputError


def test_simulate_writes_csv_and_truth(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "s"), "--subjects", "40", "--seed", "5"]) == 0
    names = sorted(p.name for p in (tmp_path / "s").glob("*.csv"))
    assert names == sorted(f"{f}.csv" for f in ("DM", "ITPHX", "BLEED", "EXPOSURE", "LAB", "AE",
                                                 "AECODING", "CM", "DS"))
    assert (tmp_path / "s" / "truth" / "subjects.csv").is_file()
    assert "wrote 40 subjects (seed 5)" in capsys.readouterr().out


def test_simulate_says_one_subject(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "s"), "--subjects", "1", "--seed", "5"]) == 0
    assert "wrote 1 subject (seed 5)" in capsys.readouterr().out


def test_simulate_xlsx(tmp_path):
    assert main(["simulate", "--out", str(tmp_path), "--subjects", "20", "--format", "xlsx"]) == 0
    assert (tmp_path / "raw-export.xlsx").stat().st_size > 10_000


@pytest.fixture(scope="module")
def default_run(default_run_folder):
    """``itp-adam run --out OUT`` (the default study, its shipped data, no --study) over an
    earlier run's output (a copy of conftest's ``shipped_out`` with a file of its own added,
    ``sdtm/stale.txt``): once per session, in a process of its own started early (conftest.py,
    ``_default_run``), read by the test of what a run writes and by the test comparing it with
    the run naming the study. Returns the folder holding OUT, OUT, the exit status and what the
    run printed."""
    folder, codes, said = default_run_folder
    assert len(codes) == 1  # the one command
    return folder, folder / "out", codes[0], said


def test_run_writes_the_output_folder_and_replaces_an_earlier_run(default_run):
    tmp_path, out, code, said = default_run
    assert code == 0
    assert f"outputs in {out.absolute()}" in said and "data issues:" in said
    assert f" info - see {out.absolute() / 'data-issues.csv'}" in said  # as in data-issues.csv, run.json
    for name in ("run.json", "data-issues.csv", "sdtm/dm.xpt", "sdtm/trace.csv", "results/response.csv",
                 "tables/response.rtf", "tables/response_by_visit.png",  # tables: the worker
                 "tables/response_by_visit.svg"):
        assert (out / name).is_file(), name
    import json

    import numpy
    import pandas
    import pyarrow
    import pyreadstat

    from itp_adam import __version__

    packages = json.loads((out / "run.json").read_text())["packages"]  # what made the outputs
    assert {name: packages[name] for name in ("itp-adam", "pandas", "numpy", "pyarrow", "pyreadstat")} == {
        "itp-adam": __version__, "pandas": pandas.__version__, "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__, "pyreadstat": pyreadstat.__version__}
    inputs = json.loads((out / "run.json").read_text())["inputs"]  # hashed while XPT is written
    import hashlib
    from pathlib import Path

    export = Path(next(iter(inputs))).parent
    assert sorted(inputs) == sorted(str(p) for p in export.glob("*.csv"))
    assert all(hashlib.sha256(Path(p).read_bytes()).hexdigest() == digest
               for p, digest in inputs.items())
    assert (out / "sdtm" / "csdrg.md").is_file() and (out / "adam" / "adrg.html").is_file()
    assert not (out / "sdtm" / "stale.txt").exists()  # replaced as a whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_outputs_have_the_permissions_of_any_file_the_user_writes(default_run, tmp_path):
    """The run's output folder, published from its staging folder, and a report replaced
    atomically get the user's umask like any file they write (0755 and 0644 as a rule), so a
    team on a shared drive can read them: they were tempfile's private 0700 and 0600 (the
    output folder unreadable by the QC programmer next door)."""
    import stat

    from itp_adam.errors import replace_own_file

    _, out, code, _ = default_run
    assert code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~_umask()
    report = tmp_path / "report.txt"
    replace_own_file(report, "COMPARE X\n", lambda line: True)
    assert stat.S_IMODE(report.stat().st_mode) == 0o666 & ~_umask()
    assert report.read_text() == "COMPARE X\n" and [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_a_run_dates_its_documents_by_one_clock(tmp_path, monkeypatch):
    """A run's documents all say when it started (run.json's ``started``): the tables' footers,
    define.xml's CreationDateTime and the guides' date. Each took its own clock before, so a
    run going past midnight dated its guides a day after its tables. Here the clocks of the
    define and guide writers are put a day past midnight: the run must not ask them."""
    import datetime as real
    import json
    from types import SimpleNamespace

    from itp_adam.io import define
    from itp_adam.report import guides

    class Tomorrow(real.date):
        @classmethod
        def today(cls):
            return real.date(2099, 1, 1)

    class Later(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return real.datetime(2099, 1, 1, 0, 1, tzinfo=tz)

    monkeypatch.setattr(guides, "dt", SimpleNamespace(date=Tomorrow, datetime=Later))
    monkeypatch.setattr(define, "dt", SimpleNamespace(date=Tomorrow, datetime=Later,
                                                      timezone=real.timezone))
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--quiet"]) == 0
    started = real.datetime.fromisoformat(json.loads((out / "run.json").read_text())["started"])
    assert started.tzinfo is not None and started.year < 2099
    day = started.date().isoformat()
    for guide in ("sdtm/csdrg.md", "adam/adrg.md"):
        assert f" on {day}" in (out / guide).read_text(), guide
    for name in ("sdtm/define.xml", "adam/define.xml", "define/define-adam.xml"):
        assert f'CreationDateTime="{started.isoformat()}"' in (out / name).read_text(), name
    footer = f"run {started:%Y-%m-%d %H:%M} UTC".encode()
    tables = sorted((out / "tables").glob("*.rtf"))
    assert tables and all(footer in table.read_bytes() for table in tables)
    assert not [p for p in out.rglob("*") if p.is_file() and b"2099-01-01" in p.read_bytes()]


def test_a_run_warns_of_an_xpt_file_over_the_regulators_size_limit(tmp_path, capsys):
    """A run whose XPT file is larger than conformance.yaml's max_file_gb (the FDA's 5 GB)
    succeeds, as xportr's writer does, but says so on stderr, also with --quiet: the file
    must be split before submission. Here the limit is set to 100 kB in a copy of the specs."""
    import shutil

    from itp_adam.paths import default_specs_dir, shipped_study_dir

    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs)
    conformance = specs / "conformance.yaml"
    text = conformance.read_text()
    assert text.count("\nmax_file_gb: 5\n") == 1
    conformance.write_text(text.replace("\nmax_file_gb: 5\n", "\nmax_file_gb: 0.0001\n"))
    out = tmp_path / "out"
    assert main(["run", "--specs", str(specs), "--raw", str(shipped_study_dir()), "--out", str(out),
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    large = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.xpt")
                   if p.stat().st_size > 100_000)
    assert large and sorted(line.split(" is ")[0] for line in err.splitlines()) == [
        f"itp-adam: warning: {name}" for name in large]
    assert all("over the 0.0001 GB a regulator takes" in line for line in err.splitlines())


def test_run_refuses_a_foreign_folder_or_a_file(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    assert main(["run", "--out", str(folder)]) == 2
    assert "not an earlier run's output" in capsys.readouterr().err
    assert (folder / "notes.txt").read_text() == "keep me"
    file = tmp_path / "file.txt"
    file.write_text("x")
    assert main(["run", "--out", str(file)]) == 2
    assert "exists and is a file" in capsys.readouterr().err


def test_failed_run_keeps_the_previous_output(tmp_path, capsys, shipped_out):
    out = tmp_path / "out"
    shutil.copytree(shipped_out, out)  # the previous output: a successful run's, as it wrote it
    before = (out / "run.json").read_bytes()
    assert main(["run", "--out", str(out), "--raw", str(tmp_path / "missing")]) == 2
    assert (out / "run.json").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_input_exit_2_without_traceback(tmp_path, capsys):
    assert main(["run", "--raw", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("itp-adam: error: ") and "raw export not found" in err
    assert "Traceback" not in err


def test_console_script():
    exe = shutil.which("itp-adam")
    cmd = [exe] if exe else [sys.executable, "-m", "itp_adam"]
    res = subprocess.run(cmd + ["--version"], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "itp-adam 0.1.0"
    # the command's exit status is main's: bad usage -> 2, the message and no traceback
    res = subprocess.run(cmd + ["run", "--partitions", "0", "--out", "x"], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.startswith("itp-adam: error: ") and "--partitions" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_closed_pipe_ends_a_command_quietly(shipped_out):
    # `itp-adam compare A B | head -1`: the reader goes before the report is printed; the
    # command stops with 141 (128 + SIGPIPE, as a shell reports it) and no error message
    dm = shipped_out / "sdtm" / "dm.xpt"
    exe = shutil.which("itp-adam")
    cmd = [exe] if exe else [sys.executable, "-m", "itp_adam"]
    import os

    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as usual
    proc = subprocess.Popen(cmd + ["compare", str(dm), str(dm)], env=buffered,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command has started: its first print finds no reader
    err = proc.stderr.read()
    assert (proc.wait(), err) == (141, b"")


def test_command_freezes_the_heap_then_exits_with_mains_status(monkeypatch):
    import gc

    from itp_adam import cli

    calls = []
    monkeypatch.setattr(cli, "main", lambda: calls.append("main") or 1)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    with pytest.raises(SystemExit) as stopped:
        cli.command()
    assert stopped.value.code == 1 and calls == ["main", "freeze"]


# --- simulate --out follows run's rules; --debug anywhere; options named as options ---------

def _snapshot(folder):
    """Every file under ``folder`` with its bytes (to check user files are left as they were)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("itp-adam: error: ") and "Traceback" not in err
    return err


def test_simulate_refuses_a_users_folder_or_file(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "DM.csv").write_text("SUBJID\nmy own data\n")
    (tmp_path / "run-out").mkdir()
    (tmp_path / "run-out" / "run.json").write_text("{}")  # an earlier *run*, not a simulation
    (tmp_path / "file.txt").write_text("keep me")
    before = _snapshot(tmp_path)
    err = _refused(["simulate", "--out", str(mine), "--subjects", "5"], capsys)
    assert err == (f"itp-adam: error: {mine}: is a non-empty folder without a simulate.json, so it is "
                   "not an earlier `itp-adam simulate` output; refusing to replace it; expected a new "
                   "folder, an empty folder or an earlier `itp-adam simulate` output folder\n")
    err = _refused(["simulate", "--out", str(tmp_path / "run-out"), "--subjects", "5"], capsys)
    assert "run-out: is a non-empty folder without a simulate.json" in err
    err = _refused(["simulate", "--out", str(tmp_path / "file.txt"), "--subjects", "5"], capsys)
    assert f"{tmp_path / 'file.txt'}: exists and is a file" in err
    assert _snapshot(tmp_path) == before  # byte-identical, nothing added (no staging left)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "mine", "run-out"]


def test_simulate_replaces_its_own_earlier_output(tmp_path, capsys):
    out = tmp_path / "sim"
    out.mkdir()  # an empty folder is fine
    assert main(["simulate", "--out", str(out), "--subjects", "30", "--seed", "5"]) == 0
    marker = json.loads((out / "simulate.json").read_text())
    assert marker == {"written_by": "itp-adam simulate", "version": __version__, "seed": 5,
                      "subjects": 30, "format": "csv",
                      "export": ["DM.csv", "ITPHX.csv", "BLEED.csv", "EXPOSURE.csv", "LAB.csv", "AE.csv",
                                 "AECODING.csv", "CM.csv", "DS.csv"], "truth": "truth"}
    assert len(pd.read_csv(out / "truth" / "subjects.csv")) == 30
    (out / "stale.txt").write_text("left by the user in the simulator's folder")
    assert main(["simulate", "--out", str(out), "--subjects", "12", "--seed", "6", "--format", "xlsx"]) == 0
    assert "wrote 12 subjects (seed 6)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["raw-export.xlsx", "simulate.json", "truth"]
    assert json.loads((out / "simulate.json").read_text())["seed"] == 6
    assert len(pd.read_csv(out / "truth" / "subjects.csv")) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"]  # no staging or set-aside folder


def test_simulate_one_workbook_file(tmp_path, capsys):
    book = tmp_path / "study.xlsx"
    assert main(["simulate", "--out", str(book), "--subjects", "20", "--seed", "4"]) == 0  # xlsx from the name
    assert capsys.readouterr().out == (f"wrote 20 subjects (seed 4) to the workbook {book}, "
                                       f"truth in {tmp_path / 'study.truth'}\n")
    assert book.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["study.truth", "study.xlsx"]
    assert sorted(p.name for p in (tmp_path / "study.truth").iterdir()) == [
        "simulate.json", "subjects.csv", "traps.csv", "visits.csv"]
    marker = json.loads((tmp_path / "study.truth" / "simulate.json").read_text())
    assert (marker["format"], marker["export"], marker["truth"], marker["subjects"]) == (
        "xlsx", ["study.xlsx"], "study.truth", 20)
    from openpyxl import load_workbook
    wb = load_workbook(book, read_only=True)
    assert wb.properties.creator == "itp-adam simulate"
    assert wb.sheetnames == ["DM", "ITPHX", "BLEED", "EXPOSURE", "LAB", "AE", "AECODING", "CM", "DS"]
    wb.close()
    # its own workbook is replaced, with its truth
    assert main(["simulate", "--out", str(book), "--subjects", "9", "--format", "xlsx"]) == 0
    assert len(pd.read_csv(tmp_path / "study.truth" / "subjects.csv")) == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.truth", "study.xlsx"]


def test_simulate_refuses_a_workbook_it_did_not_write(tmp_path, capsys):
    from openpyxl import Workbook

    theirs = tmp_path / "theirs.xlsx"
    Workbook().save(theirs)  # openpyxl's own creator property, as any other tool's
    (tmp_path / "text.xlsx").write_text("not a workbook")
    (tmp_path / "folder.xlsx").mkdir()
    (tmp_path / "plain.truth").mkdir()
    (tmp_path / "plain.truth" / "notes.txt").write_text("mine")
    before = _snapshot(tmp_path)
    err = _refused(["simulate", "--out", str(theirs), "--subjects", "5"], capsys)
    assert err == (f"itp-adam: error: {theirs}: exists and is not an earlier `itp-adam simulate` output "
                   "(its creator is 'openpyxl', not 'itp-adam simulate'); refusing to replace it; "
                   "expected a new .xlsx file name or a workbook `itp-adam simulate` wrote\n")
    err = _refused(["simulate", "--out", str(tmp_path / "text.xlsx"), "--subjects", "5"], capsys)
    assert "text.xlsx: exists and is not an earlier `itp-adam simulate` output (it is not an .xlsx workbook" in err
    err = _refused(["simulate", "--out", str(tmp_path / "folder.xlsx"), "--subjects", "5"], capsys)
    assert "folder.xlsx: is a folder, not a workbook file" in err
    err = _refused(["simulate", "--out", str(tmp_path / "plain.xlsx"), "--subjects", "5"], capsys)
    assert "plain.truth: is a non-empty folder without a simulate.json" in err  # the truth's place
    err = _refused(["simulate", "--out", str(tmp_path / "x.xlsx"), "--format", "csv"], capsys)
    assert "x.xlsx: names a workbook (it ends in .xlsx) but the format is csv; expected a folder name" in err
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder.xlsx", "plain.truth", "text.xlsx", "theirs.xlsx"]


def test_failed_simulate_keeps_the_earlier_output(tmp_path, capsys, monkeypatch):
    from itp_adam.simulate import simulator

    out = tmp_path / "sim"
    assert main(["simulate", "--out", str(out), "--subjects", "10", "--format", "xlsx"]) == 0
    before = _snapshot(out)

    def disk_full(frames, path):
        path.write_bytes(b"PK half a workbook")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(simulator, "_write_workbook", disk_full)
    err = _refused(["simulate", "--out", str(out), "--subjects", "11", "--format", "xlsx"], capsys)
    assert "raw-export.xlsx: No space left on device" in err
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"]


def test_publish_puts_the_earlier_output_back_when_a_move_fails(tmp_path):
    from itp_adam.stages.pipeline import publish

    (tmp_path / "a.xlsx").write_text("old workbook")
    (tmp_path / "a.truth").mkdir()
    (tmp_path / "a.truth" / "t.csv").write_text("old truth")
    staging = tmp_path / ".staging"
    staging.mkdir()
    (staging / "a.xlsx").write_text("new workbook")  # staging/a.truth is missing: the 2nd move fails
    with pytest.raises(FileNotFoundError):
        publish([(staging / "a.xlsx", tmp_path / "a.xlsx"), (staging / "a.truth", tmp_path / "a.truth")],
                lambda target: None)
    assert (tmp_path / "a.xlsx").read_text() == "old workbook"
    assert (tmp_path / "a.truth" / "t.csv").read_text() == "old truth"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staging", "a.truth", "a.xlsx"]


def test_publish_puts_the_earlier_output_back_when_interrupted(tmp_path, monkeypatch):
    from pathlib import Path

    from itp_adam.stages.pipeline import publish

    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text(f"old {name}")
    staging = tmp_path / ".staging"
    staging.mkdir()
    for name in ("a.csv", "b.csv"):
        (staging / name).write_text(f"new {name}")
    rename = Path.rename

    def interrupted(self, target):  # Ctrl-C as the second staged file is moved into place
        if self == staging / "b.csv":
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        publish([(staging / "a.csv", tmp_path / "a.csv"), (staging / "b.csv", tmp_path / "b.csv")],
                lambda target: None)
    monkeypatch.undo()
    assert (tmp_path / "a.csv").read_text() == "old a.csv"
    assert (tmp_path / "b.csv").read_text() == "old b.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staging", "a.csv", "b.csv"]


def test_simulate_options_are_named_as_options(tmp_path, capsys):
    err = _refused(["simulate", "--out", str(tmp_path / "s"), "--subjects", "0"], capsys)
    assert err == "itp-adam: error: --subjects must be at least 1: found '0'\n"
    err = _refused(["simulate", "--out", str(tmp_path / "s"), "--seed", "-1"], capsys)
    assert err == "itp-adam: error: --seed must be 0 or more: found '-1'\n"
    assert not (tmp_path / "s").exists()


def test_run_on_a_folder_holding_a_workbook(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--subjects", "8", "--format", "xlsx"]) == 0
    capsys.readouterr()
    before = _snapshot(sim)
    err = _refused(["run", "--raw", str(sim), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert err == (f"itp-adam: error: {sim}: the folder holds no form CSVs but holds a workbook "
                   f"raw-export.xlsx; pass the workbook itself: --raw {sim / 'raw-export.xlsx'}\n")
    assert _snapshot(sim) == before and not (tmp_path / "out").exists()


def test_debug_before_or_after_the_command(tmp_path, capsys):
    missing = str(tmp_path / "missing")
    assert main(["run", "--raw", missing, "--quiet"]) == 2  # no --debug: one message
    for argv in (["--debug", "run", "--raw", missing, "--quiet"], ["run", "--raw", missing, "--quiet", "--debug"],
                 ["simulate", "--out", str(tmp_path / "s"), "--subjects", "0", "--debug"]):
        with pytest.raises(InputError):  # --debug: the exception itself, with its traceback
            main(argv)


def test_help_shows_the_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # no line breaks inside a default
    for argv, defaults in ((["run", "--help"], ["(default: itp-adam-out)", "(default: the shipped study specs)",
                                                "(default: the study data shipped with the package)", "--debug"]),
                           (["simulate", "--help"], ["(default: 167)", "(default: 20250414)",
                                                     "(default: xlsx when --out ends in .xlsx"])):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 0
        said = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
        for text in defaults:
            assert text in said, (argv, text)


# --- a study is a folder of specs: --study NAME, --specs DIR, `itp-adam studies` -----------------

_XPT_TIME = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")  # created/modified in the XPT headers


def _outputs(out):
    """The run's data outputs as bytes, the XPT headers' timestamps blanked."""
    files = {name: (out / name).read_bytes() for name in ("data-issues.csv", "results/response.csv")}
    files.update({f"sdtm/{p.name}": _XPT_TIME.sub(b"", p.read_bytes())
                  for p in sorted((out / "sdtm").glob("*.xpt"))})
    return files


def test_studies_lists_the_shipped_study(capsys):
    from itp_adam.paths import default_specs_dir, shipped_studies, shipped_study_dir

    assert main(["studies"]) == 0
    said = capsys.readouterr().out
    assert ("hetrombopag-itp (default): Study parameters of HETROM-ITP-RWS.\n"
            f"  {default_specs_dir()}\n"
            f"  starts from raw forms; data shipped: {shipped_study_dir()}\n") in said
    assert shipped_studies()["hetrombopag-itp"] == default_specs_dir()
    assert (default_specs_dir() / "study.yaml").is_file()
    # the shipped study's raw export lives by convention in itp_adam/data/<study name>/
    assert shipped_study_dir().parts[-2:] == ("data", "hetrombopag-itp")
    assert (shipped_study_dir() / "DM.csv").is_file()


def test_a_raw_study_that_is_not_shipped_needs_raw(tmp_path, capsys, monkeypatch):
    """`run --specs DIR` without --raw: exit 2 naming --raw, never the shipped study's data; a
    shipped study without its data folder: the same, naming where the data were expected."""
    from itp_adam import paths

    specs = tmp_path / "specs" / "mine"
    shutil.copytree(paths.default_specs_dir(), specs)
    err = _refused(["run", "--specs", str(specs), "--out", str(tmp_path / "o")], capsys)
    assert err == (f"itp-adam: error: --raw is needed: the study starts from raw forms (inputs.raw, the "
                   f"default, in {specs / 'study.yaml'}) and it is not a shipped study, so no data ships "
                   "with it; give its raw export (a folder of form CSVs, an .xlsx workbook or a .zip "
                   "of either) with --raw\n")
    monkeypatch.setattr(paths, "studies_dir", lambda: tmp_path / "specs")  # now shipped, no data
    monkeypatch.setattr(paths, "data_dir", lambda: tmp_path / "data")
    err = _refused(["run", "--study", "mine", "--out", str(tmp_path / "o")], capsys)
    assert (f"--raw is needed: the study starts from raw forms (inputs.raw, the default, in "
            f"{specs / 'study.yaml'}) and no data ships with it (expected {tmp_path / 'data' / 'mine'}); "
            "give its raw export") in err
    assert not (tmp_path / "o").exists()
    assert main(["studies"]) == 0
    assert capsys.readouterr().out.endswith(
        f"  {specs}\n  starts from raw forms; no data shipped (give --raw or --sdtm)\n")


def test_run_study_by_name_equals_the_default_run(default_run, shipped_out):
    from .conftest import SHIPPED_RUN_ARGV

    # shipped_out is `itp-adam run --study hetrombopag-itp` (conftest.py, made once per session);
    # default_run is `itp-adam run` without --study (this module)
    assert SHIPPED_RUN_ARGV[:3] == ["run", "--study", "hetrombopag-itp"]
    assert "--specs" not in SHIPPED_RUN_ARGV and "--raw" not in SHIPPED_RUN_ARGV
    _, out, code, _ = default_run
    assert code == 0
    default, named = _outputs(out), _outputs(shipped_out)
    assert len(default) > 5 and default == named


def test_a_zipped_export_runs_as_its_folder(shipped_out, tmp_path, capsys):
    """`--raw export.zip` (an EDC export as delivered, its forms in a folder of the zip): the
    outputs of the export's folder; run.json names the zip and each member (export.zip/...)
    with the SHA-256 of the files zipped; nothing unpacked is left beside the output. A bad
    value in a member is named by the zip and member, and the run leaves nothing."""
    import hashlib
    import zipfile

    from itp_adam.paths import shipped_study_dir

    forms = sorted(shipped_study_dir().glob("*.csv"))
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for form in forms:
            zf.write(form, f"export/{form.name}")
        zf.writestr("export/README.txt", "not a form")
        zf.writestr("__MACOSX/export/._AE.csv", b"\x00\x05mac")
    out = tmp_path / "out"
    assert main(["run", "--raw", str(archive), "--out", str(out), "--quiet"]) == 0
    assert _outputs(out) == _outputs(shipped_out)
    record = json.loads((out / "run.json").read_text())
    assert record["raw"] == str(archive)
    sha = {str(archive): hashlib.sha256(archive.read_bytes()).hexdigest()}
    sha.update({f"{archive}/export/{form.name}": hashlib.sha256(form.read_bytes()).hexdigest()
                for form in forms})
    assert record["inputs"] == sha
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.zip", "out"]

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for form in forms:
            text = form.read_text()
            if form.name == "AE.csv":
                assert '"24 JAN 2024"' in text.splitlines()[2]  # row 3, its start date
                text = text.replace('"24 JAN 2024"', '"24 JXN 2024"', 1)
            zf.writestr(f"export/{form.name}", text)
    err = _refused(["run", "--raw", str(bad), "--out", str(tmp_path / "out2")], capsys)
    assert err.startswith(f"itp-adam: error: {bad}/export/AE.csv, row 3, column AESTDAT: invalid "
                          "value: found '24 JXN 2024'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "export.zip", "out",
                                                          "out2.errors.csv"]
    assert f"{bad}/export/AE.csv,3,AESTDAT" in (tmp_path / "out2.errors.csv").read_text()
    err = _refused(["run", "--raw", str(tmp_path / "missing.zip"), "--out", str(tmp_path / "o")],
                   capsys)
    assert err.startswith(f"itp-adam: error: {tmp_path / 'missing.zip'}: raw export zip not found")


def test_a_zipped_workbook_names_itself_in_the_data_issues(tmp_path):
    """A workbook in a zip: read as the workbook; the data issues' note of a sheet the layout
    does not have names the workbook in the zip, not the folder it was unpacked into."""
    import zipfile

    from openpyxl import load_workbook

    from itp_adam import simulate

    simulate.write_export(simulate.build(30, seed=5), tmp_path / "x", "xlsx")
    book = load_workbook(tmp_path / "x" / "raw-export.xlsx")
    book.create_sheet("NOTES")["A1"] = "site notes"
    book.save(tmp_path / "x" / "raw-export.xlsx")
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as zf:
        zf.write(tmp_path / "x" / "raw-export.xlsx", "delivery/raw-export.xlsx")
    out = tmp_path / "out"
    assert main(["run", "--raw", str(tmp_path / "export.zip"), "--out", str(out), "--quiet"]) == 0
    issues = pd.read_csv(out / "data-issues.csv", dtype=str, keep_default_na=False)
    assert issues.loc[issues["form"] == "NOTES", ["value", "rule"]].values.tolist() == [
        [f"{tmp_path / 'export.zip'}/delivery/raw-export.xlsx", "sheet not in the layout: ignored"]]


def test_unknown_study_is_exit_2_naming_the_shipped_ones(tmp_path, capsys):
    for argv in (["run", "--study", "no-such-study", "--out", str(tmp_path / "o")],
                 ["validate", str(tmp_path), "--study", "no-such-study"],
                 ["compare", str(tmp_path), str(tmp_path), "--study", "no-such-study"]):
        err = _refused(argv, capsys)
        assert "--study is not a shipped study: found 'no-such-study'" in err, argv
        assert "hetrombopag-itp" in err
    assert not (tmp_path / "o").exists()


def test_study_and_specs_together_is_a_usage_error(tmp_path, capsys):
    for command in (["run"], ["validate", str(tmp_path)], ["compare", str(tmp_path), str(tmp_path)]):
        with pytest.raises(SystemExit) as stop:
            main([*command, "--study", "hetrombopag-itp", "--specs", str(tmp_path)])
        assert stop.value.code == 2
        assert "not allowed with argument" in capsys.readouterr().err
