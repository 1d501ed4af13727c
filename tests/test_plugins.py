"""Plug-in derivations (``itp_adam.spec.plugins``): declared in study.yaml, loaded only when allowed,
listed in run.json with their SHA-256, and forgotten when the run ends."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from itp_adam.stages import pipeline
from itp_adam.cli import main
from itp_adam.paths import default_specs_dir, shipped_study_dir
from itp_adam.spec.registry import derivation_names
from itp_adam.spec.model import SpecError

PLUGIN = '''
from pathlib import Path

from itp_adam.derive.adam import derive_var_flag
from itp_adam.spec.registry import derivation

(Path(__file__).parent / "imported.txt").write_text("the plug-in ran")


@derivation("study_population_flag")
def study_population_flag(df, new_var, condition):
    """SAFFL the study's way (here: the same rule as the built-in flag)."""
    return derive_var_flag(df, new_var, condition)
'''


def study_with_plugin(tmp_path: Path, code: str = PLUGIN, entry: str = "plugins/derivations.py") -> Path:
    """A copy of the shipped specs whose ADSL SAFFL step uses a plug-in derivation."""
    specs = tmp_path / "specs"
    shutil.copytree(default_specs_dir(), specs)
    (specs / "plugins").mkdir()
    (specs / "plugins" / "derivations.py").write_text(code, encoding="utf-8")
    study = specs / "study.yaml"
    study.write_text(study.read_text(encoding="utf-8") + f"plugins: [{entry}]\n", encoding="utf-8")
    adsl = specs / "adam" / "adsl.yaml"
    text = adsl.read_text(encoding="utf-8")
    old = "    derivation: derive_var_flag\n    args: {new_var: SAFFL"
    assert old in text
    adsl.write_text(text.replace(old, "    derivation: study_population_flag\n    args: {new_var: SAFFL"),
                    encoding="utf-8")
    return specs


def plugin_modules() -> list[str]:
    return [name for name in sys.modules if name.startswith("itp_adam_plugin_")]


def test_refused_without_permission(tmp_path, capsys):
    specs = study_with_plugin(tmp_path)
    assert main(["run", "--specs", str(specs), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{specs / 'study.yaml'}, line" in err and "--allow-plugins" in err
    assert str(specs / "plugins" / "derivations.py") in err
    assert not (specs / "plugins" / "imported.txt").exists()  # not a line of it ran
    assert not (tmp_path / "out").exists()
    with pytest.raises(SpecError, match="allow_plugins=True"):  # the Python API the same way
        pipeline.run(shipped_study_dir(), specs, tmp_path / "out2")


def test_loaded_when_allowed_listed_in_run_json_and_forgotten_after(tmp_path, shipped):
    specs = study_with_plugin(tmp_path)
    out = tmp_path / "out"
    assert main(["run", "--specs", str(specs), "--raw", str(shipped_study_dir()), "--out", str(out),
                 "--quiet", "--allow-plugins"]) == 0
    assert (specs / "plugins" / "imported.txt").read_text() == "the plug-in ran"
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    code = (specs / "plugins" / "derivations.py").read_bytes()
    assert info["plugins"] == {"plugins/derivations.py": hashlib.sha256(code).hexdigest()}
    adsl = pd.read_sas(out / "adam" / "adsl.xpt", format="xport", encoding="ascii")
    assert adsl["SAFFL"].tolist() == shipped.adam["ADSL"]["SAFFL"].tolist()  # the plug-in's flag
    # the registration ended with the run: the next run in this process does not see it
    assert "study_population_flag" not in derivation_names() and plugin_modules() == []


def test_a_plugin_name_without_the_declaration_is_an_unknown_derivation(tmp_path):
    with pytest.raises(SpecError):  # specs that use the plug-in's name without it: unknown
        pipeline.run(shipped_study_dir(), _without_declaration(study_with_plugin(tmp_path)),
                     tmp_path / "out", allow_plugins=True)
    assert "study_population_flag" not in derivation_names()


def _without_declaration(specs: Path) -> Path:
    study = specs / "study.yaml"
    study.write_text(study.read_text(encoding="utf-8").replace("plugins: [plugins/derivations.py]\n", ""),
                     encoding="utf-8")
    return specs


@pytest.mark.parametrize("code, found", [
    ("import itp_adam_no_such_module\n", "ModuleNotFoundError: No module named 'itp_adam_no_such_module'"),
    ("def broken(:\n", "SyntaxError"),
    ("raise SystemExit(3)\n", "SystemExit"),
])
def test_import_error_exit_2_naming_the_file(tmp_path, capsys, code, found):
    specs = study_with_plugin(tmp_path, code)
    assert main(["run", "--specs", str(specs), "--out", str(tmp_path / "out"), "--quiet",
                 "--allow-plugins"]) == 2
    err = capsys.readouterr().err
    assert str(specs / "plugins" / "derivations.py") in err and found in err
    assert plugin_modules() == []


def test_name_clash_exit_2_naming_the_file(tmp_path, capsys):
    clash = ("from itp_adam.spec.registry import derivation\n\n"
             "@derivation('derive_var_flag')\ndef derive_var_flag(df, new_var, condition):\n    return df\n")
    specs = study_with_plugin(tmp_path, clash)
    assert main(["run", "--specs", str(specs), "--out", str(tmp_path / "out"), "--quiet",
                 "--allow-plugins"]) == 2
    err = capsys.readouterr().err
    assert str(specs / "plugins" / "derivations.py") in err
    assert "derivation 'derive_var_flag' is already registered to itp_adam.derive.adam" in err
    assert "derive_var_flag" in derivation_names()  # the built-in is still there, unchanged
    from itp_adam.derive.adam import derive_var_flag
    from itp_adam.spec.registry import get_derivation
    assert get_derivation("derive_var_flag") is derive_var_flag


@pytest.mark.parametrize("entry, why", [
    ("../outside.py", "must be a path inside the specs folder"),
    ("/etc/passwd.py", "must be a path inside the specs folder"),
    ("plugins/derivations.txt", "must be a Python file"),
    ("plugins/missing.py", "file not found"),
])
def test_plugin_path_must_be_a_python_file_in_the_specs_folder(tmp_path, capsys, entry, why):
    specs = study_with_plugin(tmp_path, entry=entry)
    (tmp_path / "outside.py").write_text("raise SystemExit('ran')\n", encoding="utf-8")
    assert main(["run", "--specs", str(specs), "--out", str(tmp_path / "out"), "--quiet",
                 "--allow-plugins"]) == 2
    err = capsys.readouterr().err
    assert f"{specs / 'study.yaml'}, line" in err and why in err and entry in err
