"""Fuzzing spec loading with seeded random mutations of the shipped study's specs (issue 14).

Each case copies the shipped specs folder and changes one spec file (``raw.yaml``,
``study.yaml``, ``codelists.yaml``, ``sdtm/*.yaml``, ``adam/*.yaml``) the way a hand edit goes
wrong: a value of the wrong kind (list, text, number, mapping, boolean, null in each other's
place), an impossible date (``2025-04-41``), a negative, zero, huge, infinite or NaN number, a
required or optional key deleted, an unknown key added, a list or mapping emptied, an empty
file, broken YAML (truncated, a lost colon, a tab, an unclosed bracket or quote), a value YAML
cannot build (``!!int four``, an undefined alias, a second document) or a deleted file.
``conformance.yaml`` is left out: ``run`` does not read it (``validate`` does).

Allowed outcomes: the specs load, or an :class:`InputError` (in fact a ``SpecError``) whose
every line is ``FILE[, line N]: ...`` with FILE a spec file of the copy; the changed file is
named, with the line of the change or of one of its parents (``message_problem`` says where the
problem may rightly be elsewhere). Anything else (another exception, a message without the file
or the line) fails with the case number and the mutation, so ``CASES`` and ``pytest -k``
reproduce it.

The first refused case of each batch, and every ``CLI_EVERY``-th after it, also goes through
``itp_adam.cli.main``: exit status 2, that one message on stderr, nothing on stdout. The first
``BUILT`` cases whose specs still load are built in-process on a ten-subject slice (SDTM, ADaM
and the results), so a spec value that passes the checks but breaks a derivation is found too:
it may stop the build with an ``InputError`` (a ``BuildError`` naming the spec place), never
another exception. Only a few, as each takes seconds (a full CLI run longer still).
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from itp_adam import issues
from itp_adam.stages.adam import build_adam
from itp_adam.cli import main
from itp_adam.errors import InputError
from itp_adam.paths import default_specs_dir
from itp_adam.io.raw import read_export
from itp_adam.stages.results import write_results
from itp_adam.stages.sdtm import build_sdtm, prepare_forms
from itp_adam.spec.model import load_specs

from .test_bad_input import shipped_slice, write_export

CASES = 64  # seeds 0..CASES-1, split into BATCHES tests
BATCHES = 4
CLI_EVERY = 8  # the first refused case of a batch and every 8th after also through the command line
BUILT = 2  # cases whose specs still load that are built on the slice, in all (3 s of CPU each)
SUBJECTS = 10

SPECS = default_specs_dir()
SPEC_FILES = sorted(
    [p.relative_to(SPECS).as_posix() for p in SPECS.glob("*.yaml") if p.name != "conformance.yaml"]
    + [p.relative_to(SPECS).as_posix() for p in SPECS.glob("sdtm/*.yaml")]
    + [p.relative_to(SPECS).as_posix() for p in SPECS.glob("adam/*.yaml")])

OTHER_KINDS = ["text", 7, -2.5, True, None, ["a", 1], {"x": 1}]
BAD_NUMBERS = [-1, 0, -0.5, -1e9, 1e300, float("nan"), float("inf"), float("-inf"), 10**20]
IMPOSSIBLE_DATES = ["2025-04-41", "2025-02-29", "2025-13-01", "2024-00-10", "0000-00-00"]
UNKNOWN_KEYS = ["extra", "lenght", "Name", "descripton", "filter_"]
RAW = "zzRAWzz"  # a placeholder replaced by unquoted YAML text after dumping
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the cases' YAML work 3x faster
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# --------------------------------------------------------------------------------------------
# the YAML tree: paths, values, lines


def _paths(data: Any, path: tuple = ()) -> list[tuple]:
    """Every place below ``data``: mapping keys and sequence indexes from the root."""
    found: list[tuple] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        found.append((*path, key))
        found += _paths(value, (*path, key))
    return found


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    kinds = {dict: "mapping", list: "list", str: "text", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def lines_to(text: str, path: tuple) -> list[int]:
    """The 1-based lines of the keys (or sequence items) on the way to ``path`` in ``text``, the
    root's line (1) first and ``path``'s own last; found independently of the package, by
    walking PyYAML's node tree."""
    node = yaml.compose(text, Loader=LOADER)
    lines = [1]
    for part in path:
        if isinstance(node, yaml.MappingNode):
            key, node = next((k, v) for k, v in node.value if k.value == str(part))
            lines.append(key.start_mark.line + 1)
        else:
            node = node.value[part]
            lines.append(node.start_mark.line + 1)
    return lines


def dump(data: Any, raw: str | None = None) -> str:
    text = yaml.dump(data, Dumper=DUMPER, sort_keys=False, allow_unicode=True, width=1000)
    return text if raw is None else text.replace(RAW, raw)


# --------------------------------------------------------------------------------------------
# mutations of one file's tree: each takes (rng, data) and returns (text, what, path of the
# change or None); the text is the changed tree dumped as YAML


def retype(rng, data):
    path = rng.choice(_paths(data))
    old = _get(data, path)
    new = rng.choice([v for v in OTHER_KINDS if _kind(v) != _kind(old)])
    _get(data, path[:-1])[path[-1]] = new
    return dump(data), f"{_dotted(path)}: {_kind(old)} -> {new!r}", path


def impossible_date(rng, data):
    scalars = [p for p in _paths(data) if not isinstance(_get(data, p), (dict, list))]
    path = ("cutoff_date",) if "cutoff_date" in data and rng.random() < 0.5 else rng.choice(scalars)
    value = rng.choice(IMPOSSIBLE_DATES)
    _get(data, path[:-1])[path[-1]] = RAW
    return dump(data, raw=value), f"{_dotted(path)} = {value} (unquoted)", path


def bad_number(rng, data):
    numbers = [p for p in _paths(data) if _kind(_get(data, p)) == "number"]
    if not numbers:
        return retype(rng, data)
    path = rng.choice(numbers)
    value = rng.choice(BAD_NUMBERS)
    _get(data, path[:-1])[path[-1]] = value
    return dump(data), f"{_dotted(path)} = {value!r}", path


def drop_key(rng, data):
    path = rng.choice([p for p in _paths(data) if isinstance(p[-1], str)])
    del _get(data, path[:-1])[path[-1]]
    return dump(data), f"key {_dotted(path)} deleted", path[:-1]


def unknown_key(rng, data):
    mappings = [()] + [p for p in _paths(data) if isinstance(_get(data, p), dict)]
    path = rng.choice(mappings)
    key = rng.choice(UNKNOWN_KEYS)
    _get(data, path)[key] = "x"
    return dump(data), f"unknown key {_dotted((*path, key))}", (*path, key)


def empty_container(rng, data):
    containers = [p for p in _paths(data) if isinstance(_get(data, p), (dict, list))]
    path = rng.choice(containers)
    old = _get(data, path)
    _get(data, path[:-1])[path[-1]] = type(old)()
    return dump(data), f"{_dotted(path)} emptied", path


TREE_MUTATIONS = [retype, retype, retype, impossible_date, bad_number, bad_number, drop_key, drop_key,
                  unknown_key, empty_container]


# mutations of the file's text: each takes (rng, text) and returns (text, what); no tree place


def empty_file(rng, text):
    new = rng.choice(["", "\n", "# nothing here\n", "---\n", "~\n", "[]\n", "just text\n", "42\n"])
    return new, f"file replaced by {new!r}"


def broken_yaml(rng, text):
    lines = text.split("\n")
    indented = [i for i, line in enumerate(lines) if line.startswith("  ") and line.strip()]
    colons = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
    how = rng.choice(["truncate", "colon", "tab", "bracket", "quote", "indent"])
    if how == "truncate":
        cut = rng.randrange(1, len(text))
        return text[:cut], f"truncated at character {cut} of {len(text)}"
    at = rng.choice(indented if how in ("tab", "indent") else colons)
    line = lines[at]
    if how == "colon":
        lines[at] = line.replace(":", "", 1)
    elif how == "tab":
        lines[at] = "\t" + line[2:]
    elif how == "indent":
        lines[at] = " " + line
    else:
        lines[at] = line.replace(":", ": [" if how == "bracket" else ': "', 1)
    return "\n".join(lines), f"line {at + 1}: {how} ({lines[at].strip()[:40]!r})"


YAML_ODDITIES = ["!!int four", "!!float 1.2.3", "!!timestamp soon", "!!binary '%%'", "!!set {a, b}",
                 "!!python/object:os.system x", "*undefined_alias", "&a [*a]", "2025-02-30 25:61:00"]


def yaml_oddity(rng, text):
    lines = text.split("\n")
    values = [i for i, line in enumerate(lines) if re.match(r"^\s*(- )?[\w.]+: +[^\s#]", line)]
    if not values or rng.random() < 0.15:
        return text + "---\nanother: document\n", "a second YAML document appended"
    at = rng.choice(values)
    key, _ = lines[at].split(": ", 1)
    lines[at] = f"{key}: {rng.choice(YAML_ODDITIES)}"
    return "\n".join(lines), f"line {at + 1}: {lines[at].strip()!r}"


TEXT_MUTATIONS = [empty_file, broken_yaml, broken_yaml, yaml_oddity]


def _dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(root)"


@dataclass
class Mutation:
    file: str  # the spec file changed, relative to the specs folder
    kind: str  # the mutation function's name, or "delete_file"
    what: str
    lines: list[int] | None = None  # tree mutations: lines from the root to the change (lines_to)


def mutate(seed: int, folder: Path) -> Mutation:
    """Copy the shipped specs into ``folder`` and change one file."""
    rng = random.Random(seed)
    shutil.copytree(SPECS, folder)
    name = rng.choice(SPEC_FILES)
    path = folder / name
    text = path.read_text(encoding="utf-8")
    roll = rng.random()
    if roll < 0.04:
        path.unlink()
        return Mutation(name, "delete_file", "file deleted")
    if roll < 0.3:
        how = rng.choice(TEXT_MUTATIONS)
        new, what = how(rng, text)
        path.write_text(new, encoding="utf-8")
        return Mutation(name, how.__name__, what)
    how = rng.choice(TREE_MUTATIONS)
    new, what, place = how(rng, yaml.load(text, Loader=LOADER))
    path.write_text(new, encoding="utf-8")
    return Mutation(name, how.__name__, what, lines_to(new, place))


# --------------------------------------------------------------------------------------------
# the checks


PROBLEM = re.compile(r"^(?P<file>/[^:]*?)(, line (?P<line>\d+))?: \S")


def message_problem(message: str, folder: Path, mutation: Mutation) -> str:
    """What is wrong with a refusal's message ('' when it names the right file and line).

    Every problem is ``FILE[, line N]: ...`` with FILE a spec file of ``folder``. The changed
    file is named with a line number, and after a change at a place in the tree one of the lines
    named is that place's or one of its parents' (a missing key is reported at its mapping).
    Two exceptions, where the problem is rightly elsewhere: a deleted file (the specs reading
    its dataset are named) and a deleted key of ``raw.yaml`` or ``codelists.yaml`` (the dataset
    specs using that column or codelist are named).
    """
    if "Traceback" in message:
        return "a traceback in the message"
    problems = message.split("\n")
    if len(problems) > 1:
        if not re.fullmatch(r"\d+ problems in the specs:", problems[0]):
            return f"several lines without the header 'N problems in the specs:': {problems[0]!r}"
        problems = [text[2:] for text in problems[1:]]
    named: list[int | None] = []
    for text in problems:
        match = PROBLEM.match(text)
        if match is None or not Path(match["file"]).is_relative_to(folder):
            return f"a problem that does not start with a spec file of {folder}: {text!r}"
        if Path(match["file"]).relative_to(folder).as_posix() == mutation.file:
            named.append(int(match["line"]) if match["line"] else None)
    elsewhere = mutation.kind == "delete_file" or (
        mutation.kind == "drop_key" and mutation.file in ("raw.yaml", "codelists.yaml"))
    if not named:
        return "" if elsewhere else f"{mutation.file} is not named"
    if mutation.kind != "delete_file" and not any(named):
        return f"{mutation.file} is named without a line number"
    if mutation.lines and not set(named) & set(mutation.lines):
        return f"{mutation.file} is named at lines {named}, none of them the change's {mutation.lines}"
    return ""


def build(specs, raw: Path, out: Path) -> None:
    """The stages a run goes through after the specs, up to results (no XPT, tables, define)."""
    export = read_export(raw, specs.layout)
    with issues.collect():
        forms = prepare_forms(export, specs)
        sdtm = build_sdtm(specs, forms)
        adam = build_adam(specs, sdtm)
        if adam:
            out.mkdir()
            write_results(specs, sdtm, adam, out)


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return write_export(shipped_slice(SUBJECTS), tmp_path_factory.mktemp("raw"))


@pytest.fixture(scope="module")
def built() -> list[int]:
    """The seeds of the cases built so far, over all batches (at most BUILT)."""
    return []


def run_case(seed: int, folder: Path, raw: Path, state: dict[str, int], built: list[int]) -> str:
    """Mutate, load; '' when the outcome is allowed, else what went wrong."""
    mutation = mutate(seed, folder / "specs")
    case = f"case {seed} ({mutation.file}: {mutation.what})"
    try:
        specs = load_specs(folder / "specs")
    except InputError as exc:
        wrong = message_problem(str(exc), folder / "specs", mutation)
        if wrong:
            return f"{case}: {wrong}:\n{exc}"
        state["refused"] += 1
        if state["refused"] % CLI_EVERY == 1:
            code, out, err = cli("run", "--raw", str(raw), "--specs", str(folder / "specs"),
                                 "--out", str(folder / "out"), "--quiet")
            if (code, out, err) != (2, "", f"itp-adam: error: {exc}\n"):
                return f"{case}: the command line gave exit {code}, stdout {out!r}, stderr {err!r}"
        return ""
    except Exception as exc:  # noqa: BLE001 - the point of the test
        return f"{case}: {type(exc).__name__}: {exc}"
    state["loaded"] += 1
    if len(built) >= BUILT:
        return ""
    built.append(seed)
    try:
        build(specs, raw, folder / "results")
    except InputError as exc:
        message = str(exc)
        if "Traceback" in message or (str(folder / "specs") not in message and str(raw) not in message):
            return f"{case}: the specs load, and the build's message names no file: {message!r}"
    except Exception as exc:  # noqa: BLE001
        return f"{case}: the specs load, and the build fails: {type(exc).__name__}: {exc}"
    return ""


@pytest.mark.parametrize("batch", range(BATCHES))
def test_mutated_specs_load_or_fail_with_file_and_line(batch, raw, built, tmp_path):
    failures = []
    state = {"refused": 0, "loaded": 0}
    for seed in range(batch, CASES, BATCHES):
        failure = run_case(seed, tmp_path / f"case{seed}", raw, state, built)
        if failure:
            failures.append(failure)
        shutil.rmtree(tmp_path / f"case{seed}", ignore_errors=True)
    assert state["refused"] >= CASES // BATCHES // 2, state  # the mutations do break specs
    assert not failures, "\n".join(failures)


def test_message_check_finds_a_missing_file_or_line(tmp_path):
    folder = tmp_path / "specs"
    change = Mutation("study.yaml", "retype", "cutoff_date: date -> 7", [1, 12])
    good = f"{folder}/study.yaml, line 12: cutoff_date: must be a calendar date"
    assert message_problem(good, folder, change) == ""
    assert message_problem(f"{folder}/study.yaml, line 11: x", folder, change) == (
        "study.yaml is named at lines [11], none of them the change's [1, 12]")
    assert message_problem(f"{folder}/study.yaml: x", folder, change) == (
        "study.yaml is named without a line number")
    assert message_problem(f"{folder}/raw.yaml, line 3: x", folder, change) == "study.yaml is not named"
    assert message_problem("cutoff_date: day is out of range", folder, change).startswith(
        "a problem that does not start with a spec file")
    assert message_problem(f"{good}\n{good}", folder, change).startswith("several lines without")
    assert message_problem(f"2 problems in the specs:\n  {good}\n  {good}", folder, change) == ""
