"""The API reference page ``docs/api.md``, generated from the docstrings so it cannot drift.

``python -m itp_adam.spec.reference > docs/api.md`` rewrites the page; ``tests/test_api.py``
regenerates it in memory and fails when the committed page differs. For every public
derivation (``itp_adam.derive.DERIVATIONS``, grouped by module) the page gives its spec name,
signature, module and docstring (the first paragraph is its one-line job); then the public
helpers (``itp_adam.HELPERS``).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable
from typing import Any

COMMAND = "python -m itp_adam.spec.reference > docs/api.md"
"""How to regenerate the page (quoted in the page and in the test's failure message)."""

_ROLE = re.compile(r":(?:func|class|meth|data|mod|attr|exc):`~?([\w.]+)`")


class _Text:
    """An annotation or default shown as its source text (no quotes, no memory address)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def signature(func: Callable[..., Any]) -> str:
    """``name(arg: type = default, ...) -> type`` as written in the source, deterministic."""
    sig = inspect.signature(func)
    params = []
    for param in sig.parameters.values():
        changes: dict[str, Any] = {}
        if param.annotation is not inspect.Parameter.empty:
            changes["annotation"] = _Text(str(param.annotation))
        if param.default is not inspect.Parameter.empty and callable(param.default):
            changes["default"] = _Text("<function>")  # e.g. a lambda: its repr has an address
        params.append(param.replace(**changes))
    ret = sig.return_annotation
    ret = inspect.Signature.empty if ret is inspect.Signature.empty else _Text(str(ret))
    return f"{func.__name__}{sig.replace(parameters=params, return_annotation=ret)}"


def _markdown(text: str) -> str:
    """Docstring text for Markdown: Sphinx roles become code spans."""
    return _ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", text)


def split_doc(obj: object) -> tuple[str, str]:
    """The docstring's first paragraph on one line (the one-line job) and the rest."""
    doc = inspect.getdoc(obj) or ""
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip()


def _entry(name: str, func: Callable[..., Any], *, spec_name: bool) -> list[str]:
    summary, rest = split_doc(func)
    where = f"module `{func.__module__}`"
    if spec_name:
        where = f"spec name `{name}` · " + where
    lines = [f"### `{name}`", "", where, "", "```python", signature(func), "```", "",
             _markdown(summary) or "*(no docstring)*", ""]
    if rest:
        lines += [_markdown(rest), ""]
    return lines


def _anchor(title: str) -> str:
    """The GitHub anchor of a heading ``title``."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def render_reference() -> str:
    """The whole ``docs/api.md`` page as text."""
    import itp_adam
    from itp_adam.derive import DERIVATIONS

    modules: dict[str, list[str]] = {}
    for name, module in DERIVATIONS.items():
        modules.setdefault(module, []).append(name)
    out = ["# API reference", "",
           f"Generated from the docstrings by `{COMMAND}`; do not edit by hand "
           "(`tests/test_api.py` fails when this page and the code differ).", "",
           "Every name here is importable from the package, e.g. "
           "`import itp_adam as ia; ia.derive_var_dy(adlb, new_var=\"ADY\", "
           "ref_date=\"TRTSDT\", date=\"ADT\")`; the derivations also from `itp_adam.derive`. "
           "A spec calls a derivation by its spec name (`{derivation: NAME, args: {...}}`, "
           "[specs.md](specs.md)). A column named in an argument that is not in the data frame "
           "raises `MissingVariable` naming the function, argument and variable.", "",
           "## Contents", ""]
    body: list[str] = []
    for module, names in modules.items():
        mod = importlib.import_module(f"itp_adam.derive.{module}")
        title = f"Derivations: {module}"
        out.append(f"- [{title}](#{_anchor(title)}): " + ", ".join(
            f"[`{name}`](#{_anchor(name)})" for name in sorted(names)))
        summary, _ = split_doc(mod)
        body += [f"## {title}", "", f"`itp_adam.derive.{module}`: {_markdown(summary)}", ""]
        for name in sorted(names):
            body += _entry(name, getattr(mod, name), spec_name=True)
    title = "Helpers"
    out.append(f"- [{title}](#{_anchor(title)}): " + ", ".join(
        f"[`{name}`](#{_anchor(name)})" for name in sorted(itp_adam.HELPERS)))
    body += [f"## {title}", "", "The functions and errors a programmer calls besides the "
             "derivations.", ""]
    for name in sorted(itp_adam.HELPERS):
        obj = getattr(itp_adam, name)
        if inspect.isclass(obj):
            summary, rest = split_doc(obj)
            body += [f"### `{name}`", "", f"class in module `{obj.__module__}`", "",
                     _markdown(summary), ""] + ([_markdown(rest), ""] if rest else [])
        else:
            body += _entry(name, obj, spec_name=False)
    text = "\n".join([*out, "", *body])
    return text.rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_reference())
