"""The command line: simulate, run on the shipped study, and exit 2 with one message."""

from __future__ import annotations

import shutil
import subprocess
import sys

from itp_adam.cli import main


def test_simulate_writes_csv_and_truth(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "s"), "--subjects", "40", "--seed", "5"]) == 0
    names = sorted(p.name for p in (tmp_path / "s").glob("*.csv"))
    assert names == sorted(f"{f}.csv" for f in ("DM", "ITPHX", "BLEED", "EXPOSURE", "LAB", "AE",
                                                 "AECODING", "CM", "DS"))
    assert (tmp_path / "s" / "truth" / "subjects.csv").is_file()
    assert "wrote 40 subjects (seed 5)" in capsys.readouterr().out


def test_simulate_xlsx(tmp_path):
    assert main(["simulate", "--out", str(tmp_path), "--subjects", "20", "--format", "xlsx"]) == 0
    assert (tmp_path / "raw-export.xlsx").stat().st_size > 10_000


def test_run_writes_the_output_folder_and_replaces_an_earlier_run(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"outputs in {out.absolute()}" in said and "data issues:" in said
    for name in ("run.json", "data-issues.csv", "sdtm/dm.xpt", "sdtm/trace.csv", "results/response.csv",
                 "tables/response.rtf", "tables/response_by_visit.png"):  # tables: the worker
        assert (out / name).is_file(), name
    (out / "sdtm" / "stale.txt").write_text("from an earlier run")
    assert main(["run", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert not (out / "sdtm" / "stale.txt").exists()  # replaced as a whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


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


def test_failed_run_keeps_the_previous_output(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "--quiet"]) == 0
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
