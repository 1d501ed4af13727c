"""Plug-in derivations: Python files a study's spec folder declares, loaded only when allowed.

A study whose SAP needs a derivation the package does not have writes it in Python and lists
the file in ``study.yaml``::

    plugins: [plugins/derivations.py]     # paths relative to the specs folder

The file registers its functions with ``@itp_adam.spec.registry.derivation("name")``, and the
dataset specs call them by name like any built-in. A spec folder is otherwise data (YAML and
the expression language of :mod:`itp_adam.spec.expr`); a plug-in is code that runs with the user's
permissions, so ``run`` loads it only when asked to (``itp-adam run --allow-plugins``,
``pipeline.run(..., allow_plugins=True)``). Without that permission a study declaring
plug-ins stops with exit 2 naming the file. A plug-in that cannot be imported, or that
registers a name already taken, stops the run the same way. The registrations end with the
run (:func:`itp_adam.spec.registry.scoped`), and ``run.json`` lists each plug-in with its SHA-256.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import registry
from .model import SpecError, SpecProblem, _read_yaml


@dataclass(frozen=True)
class Plugin:
    """A loaded plug-in file: as written in ``study.yaml``, where it is, and its SHA-256."""

    name: str
    path: Path
    sha256: str


class _BytesLoader(importlib.abc.SourceLoader):
    """Imports the exact bytes that were hashed (no second read of the file, no ``.pyc``)."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data = path, data

    def get_filename(self, fullname: str) -> str:
        return str(self.path)

    def get_data(self, path: str) -> bytes:
        return self.data


def declared(specs_dir: Path) -> list[tuple[str, Path, int]]:
    """The plug-in files ``study.yaml`` declares: (as written, path, YAML line). Each must be a
    ``.py`` file inside the specs folder (a SpecError names study.yaml and the line if not).
    A ``study.yaml`` that is missing or malformed is left to :func:`itp_adam.spec.model.load_study`."""
    study = Path(specs_dir) / "study.yaml"
    if not study.is_file():
        return []
    document = _read_yaml(study, "study")
    data = document.data if isinstance(document.data, dict) else {}
    entries = data.get("plugins")
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        return []  # not a list of file names: load_study reports it
    root = Path(specs_dir).resolve()
    found: list[tuple[str, Path, int]] = []
    problems: list[SpecProblem] = []
    for index, entry in enumerate(entries):
        line = document.line_of(("plugins", index))
        path = (root / entry).resolve()
        if Path(entry).is_absolute() or not path.is_relative_to(root):
            why = "must be a path inside the specs folder"
        elif path.suffix != ".py":
            why = "must be a Python file (.py)"
        elif not path.is_file():
            why = f"file not found ({path})"
        else:
            found.append((entry, path, line))
            continue
        problems.append(SpecProblem(document.file, line, f"plug-in {entry!r}: {why}", context="plugins"))
    if problems:
        raise SpecError(problems)
    return found


@contextmanager
def loaded(specs_dir: Path, allow: bool) -> Iterator[list[Plugin]]:
    """Load the study's plug-ins for the duration of the block (nothing when it declares none).

    Raises SpecError (exit 2) when the study declares plug-ins and ``allow`` is false, when a
    plug-in cannot be imported, or when it registers a derivation name already registered."""
    files = declared(specs_dir)
    if files and not allow:
        study = str(Path(specs_dir) / "study.yaml")
        names = ", ".join(str(path) for _, path, _ in files)
        raise SpecError([SpecProblem(study, files[0][2], (
            f"the study declares plug-in code ({names}): Python that would run on this machine "
            "with your permissions. It is loaded only when you allow it: itp-adam run "
            "--allow-plugins (pipeline.run(..., allow_plugins=True))"), context="plugins")])
    modules: list[str] = []
    with registry.scoped():
        try:
            yield [_load(entry, path, line, specs_dir, modules) for entry, path, line in files]
        finally:
            for module in modules:
                sys.modules.pop(module, None)


def _load(entry: str, path: Path, line: int, specs_dir: Path, modules: list[str]) -> Plugin:
    """Import one plug-in file as a fresh module; its ``@derivation`` calls register it."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    name = f"itp_adam_plugin_{digest[:12]}_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
    loader = _BytesLoader(path, data)
    module_spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert module_spec is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # for code that looks itself up (dataclasses, pickling)
    modules.append(name)
    study = str(Path(specs_dir) / "study.yaml")
    try:
        loader.exec_module(module)
    except registry.DerivationClash as exc:
        raise SpecError([SpecProblem(str(path), None, f"plug-in {entry!r} (declared in {study}, "
                                     f"line {line}): {exc}", context="plugins")]) from exc
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of foreign code: exit 2
        raise SpecError([SpecProblem(str(path), getattr(exc, "lineno", None),
                                     f"plug-in {entry!r} (declared in {study}, line {line}) cannot "
                                     f"be loaded: {type(exc).__name__}: {exc}", context="plugins")]) from exc
    return Plugin(entry, path, digest)
