"""The engine names no study: no study name, ITP variable or ITP term in its Python files.

Study terms belong in a study's specs (``specs/NAME/``) or its study code
(``src/itp_adam/studies/``); the data simulator (``simulate/``) makes the shipped study's raw
export and may name its forms. A hit fails with ``file:line: text``."""

from __future__ import annotations

import re
from pathlib import Path

import itp_adam

ENGINE = Path(itp_adam.__file__).resolve().parent
ALLOWED = ("simulate", "studies")
"""Folders of ``itp_adam`` where study terms may appear."""

TERMS = re.compile("|".join([
    r"(?i:hetrombopag)", r"HETROM", r"\bITP\b", r"\bITP[A-Z]", r"(?i:itp_phase)",
    r"FASFL", r"BASEPLAT", r"WHOGR", r"CRIT\d", r"HEPAT", r"(?i:hepatic)", r"BLEED",
    r"EXPOSURE", r"AECODING", r"(?i:platelet)", r"\bPLAT\b", r"DRUG WITHDRAWN",
    r"(?i:WHO bleeding)", r"(?i:thrombo)", r"(?i:splen)",
]))
"""Study names, ITP variables (ITPPHASE, FASFL, BASEPLAT, WHOGRBL, CRIT1FL, HEPATFL), raw form
names of the shipped export (BLEED, ITPHX, EXPOSURE, AECODING) and ITP terms. ``itp-adam`` and
``itp_adam``, the package's own name, are no hit (lower case, followed by - or _)."""

KNOWN_EXCEPTIONS: dict[str, str] = {}
"""``path:text`` (path relative to ``itp_adam``, the line stripped) -> why it stays; empty:
the engine is study free."""


def engine_files() -> list[Path]:
    return sorted(p for p in ENGINE.rglob("*.py")
                  if p.relative_to(ENGINE).parts[0] not in ALLOWED)


def test_the_engine_files_are_found():
    names = {p.relative_to(ENGINE).as_posix() for p in engine_files()}
    assert {"cli.py", "stages/pipeline.py", "stages/results.py", "spec/model.py",
            "report/render.py"} <= names
    assert not any(name.startswith(("studies/", "simulate/")) for name in names)


def test_the_engine_names_no_study():
    hits = []
    for path in engine_files():
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if TERMS.search(text) and f"{path.relative_to(ENGINE)}:{text.strip()}" not in KNOWN_EXCEPTIONS:
                hits.append(f"{path}:{number}: {text.strip()}")
    assert not hits, "study terms in the engine (move them to the study's specs or studies/):\n" + \
        "\n".join(hits)


def test_the_term_list_finds_what_it_should():
    for text in ("hetrombopag-itp", "HETROM-ITP-RWS", "an ITP study", "ITPPHASE", "adsl FASFL",
                 "WHOGRBL", "CRIT1FL", "HEPATFL", "hepatic_terms", "BLEED", "ITPHX",
                 "{form: EXPOSURE}", "AECODING", "Platelet count", "['PLAT']",
                 "'DRUG WITHDRAWN'", "WHO bleeding grade", "itp_phase"):
        assert TERMS.search(text), text
    for text in ("itp-adam run", "import itp_adam", "exposure_end(df)", "PLATFORM", "SAFFL"):
        assert not TERMS.search(text), text
