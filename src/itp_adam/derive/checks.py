"""Input checks of the derivations (admiral's ``assert_data_frame(required_vars = ...)``).

A derivation names the columns it reads in its arguments (``by_vars``, ``order``, ``date``,
``source_var`` ...). Each public derivation calls :func:`require_vars` first, so a wrong
column name fails with one message naming the function, the argument, the missing variable
and the columns the frame has, instead of a bare ``KeyError: 'TRTSDTX'`` from deep inside
pandas. Run from a spec, the evaluator adds the spec place (file, line, step).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..errors import InputError

MAX_LISTED = 30
"""At most this many of the frame's columns are listed in the message."""

Names = str | Iterable[object] | None
"""A column name, a list of names, an ``order`` list (items ``NAME`` or ``[NAME, asc|desc]``)
or ``None`` (an optional argument not given: nothing to check)."""


class MissingVariable(InputError, KeyError):
    """A derivation was given a column name that is not in its data frame.

    Both an :class:`~itp_adam.errors.InputError` (the command line exits 2 with the message,
    no traceback) and a ``KeyError`` (code that caught pandas' ``KeyError`` still does).
    ``function``, ``argument``, ``variable`` and ``columns`` say what was missing where."""

    def __init__(self, function: str, argument: str, variable: str, columns: list[str],
                 frame: str = "the dataset") -> None:
        self.function, self.argument, self.variable = function, argument, variable
        self.columns = list(columns)
        shown = ", ".join(self.columns[:MAX_LISTED])
        if len(self.columns) > MAX_LISTED:
            shown += f", ... ({len(self.columns) - MAX_LISTED} more)"
        from ..errors import did_you_mean

        super().__init__(f"{function}: variable {variable} (argument {argument}) is not in "
                         f"{frame}; it has: {shown or 'no columns'}"
                         f"{did_you_mean(variable, self.columns)}")
        self.column = variable  # for the error file (errors.csv)

    def __str__(self) -> str:  # KeyError's would quote the whole message
        return str(self.args[0])


def _names(value: Names) -> list[str]:
    """The column names in ``value`` (see :data:`Names`)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Iterable):  # None, or a value of the wrong kind: the function's own
        return []                        # code reports it, as before
    names = []
    for item in value:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
            names.append(item[0])  # an order key [NAME, direction]
    return names


def require_vars(df: pd.DataFrame, fn: str, /, *, frame: str = "the dataset",
                 **arguments: Names) -> None:
    """Raise :class:`MissingVariable` unless every column named by ``arguments`` is in ``df``.

    ``fn`` is the derivation's name and ``arguments`` maps each argument to the column name(s)
    it holds, e.g. ``require_vars(df, "derive_var_dy", ref_date=ref_date, date=date)``;
    ``frame`` names the frame in the message (``"dataset_add"`` for a second input)."""
    columns = df.columns
    for argument, value in arguments.items():
        for name in _names(value):
            if name not in columns:
                raise MissingVariable(fn, argument, name, [str(c) for c in columns], frame)
