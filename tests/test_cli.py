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


def test_run_on_shipped_study_says_where_it_stops(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "LAB" in out and "5539 rows" in out
    assert "This version stops here" in out
    assert not (tmp_path / "out").exists()


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
