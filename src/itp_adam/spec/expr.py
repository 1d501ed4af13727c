"""The expression language of the specs: every filter, condition and computed value.

A spec is data, not code. An expression such as ``"PARAMCD == @parameter and ADY >= 2"`` is
parsed once with :mod:`ast`, checked against a whitelist of syntax and functions, and turned
into a tree of small Python functions that work on whole columns (numpy / pandas). Nothing a
spec writes is ever handed to ``eval``, ``DataFrame.eval`` or ``DataFrame.query``, so a spec
cannot reach Python objects, modules or the shell. The language is described in
``docs/specs.md`` ("Expressions").

>>> expr = compile_expression("AVAL >= 30 and PARAMCD in ['HGB']")
>>> sorted(expr.columns), sorted(expr.params)
(['AVAL', 'PARAMCD'], [])

Missing values: NaN (numbers), NaT (dates) and None / NaN in a text column. Text follows the
frame convention, where a missing text value is ``""``. Any comparison (``==`` and ``!=`` too)
with a missing number or date is false; ``is_missing(X)`` tests for it.
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import keyword
import operator as op
import re
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import pandas as pd

MAX_LENGTH = 2000
"""Longest expression accepted (characters)."""
MAX_EXPONENT = 100
"""Largest ``abs(n)`` of a literal exponent ``x ** n``."""

Kind = Literal["text", "num", "date", "bool", "list"]


class ExpressionError(ValueError):
    """An expression outside the language (found when the spec is loaded) or one that cannot
    be computed on the data (at evaluation: a missing ``@name``, mixed types)."""


# --------------------------------------------------------------------------------------------
# Values during evaluation


@dataclass(frozen=True)
class _Value:
    """An evaluated value: one scalar, or one value per row (numpy array; text: a pandas Series
    of ``str`` with ``""`` for missing)."""

    kind: Kind
    data: Any
    scalar: bool


@dataclass
class _Env:
    """What one evaluation reads: the frame and the ``@name`` values."""

    frame: pd.DataFrame
    values: Mapping[str, Any]
    text: str
    cache: dict[str, _Value] = field(default_factory=dict)


Node = Callable[[_Env], _Value]

_TEXT_FUNCTIONS = {"upper": "upper", "lower": "lower", "strip": "strip"}
_SEARCH_FUNCTIONS = {"contains", "starts_with"}
FUNCTIONS: dict[str, tuple[int, int | None, str]] = {
    # name: (fewest arguments, most arguments (None: any), what it does - for messages and docs)
    "upper": (1, 1, "text in upper case"),
    "lower": (1, 1, "text in lower case"),
    "title": (1, 1, "each space-separated word: first character upper case, the rest lower"),
    "in_parentheses": (1, 1, "in_parentheses(text): the text inside its last pair of parentheses"),
    "number": (1, 1, "number(text): the text as a number (missing when it is not one)"),
    "strip": (1, 1, "text without leading and trailing blanks"),
    "substr": (2, 3, "substr(text, start, length): part of the text, start counted from 1"),
    "contains": (2, 2, "contains(text, 'literal'): true where the text contains the literal"),
    "starts_with": (2, 2, "starts_with(text, 'literal'): true where the text starts with it"),
    "date": (1, 1, "date('2024-01-31'): a date from ISO text (a partial date gives missing)"),
    "year": (1, 1, "year of a date"),
    "month": (1, 1, "month of a date"),
    "day": (1, 1, "day of the month of a date"),
    "add_days": (2, 2, "add_days(date, n): the date n days later (n < 0: earlier)"),
    "round": (1, 2, "round(x, digits=0): halves away from zero"),
    "abs": (1, 1, "absolute value"),
    "min": (2, None, "smallest of the arguments, missing values ignored"),
    "max": (2, None, "largest of the arguments, missing values ignored"),
    "coalesce": (2, None, "first argument that is not missing"),
    "is_missing": (1, 1, "true where the value is missing (NaN, NaT, '')"),
    "not_missing": (1, 1, "true where the value is not missing"),
}

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: op.eq, ast.NotEq: op.ne, ast.Lt: op.lt, ast.LtE: op.le, ast.Gt: op.gt, ast.GtE: op.ge,
}
_COMPARE_TEXT = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: op.add, ast.Sub: op.sub, ast.Mult: op.mul, ast.Div: op.truediv,
    ast.FloorDiv: op.floordiv, ast.Mod: op.mod, ast.Pow: op.pow,
}
_REFUSED_OPERATORS = {
    ast.BitAnd: "'&' is not allowed: write 'and'", ast.BitOr: "'|' is not allowed: write 'or'",
    ast.Invert: "'~' is not allowed: write 'not'", ast.BitXor: "'^' is not allowed",
    ast.LShift: "'<<' is not allowed", ast.RShift: "'>>' is not allowed",
    ast.MatMult: "'@' between two values is not allowed; '@name' takes a value the spec passes",
    ast.Is: "'is' is not allowed: use is_missing(X) or ==",
    ast.IsNot: "'is not' is not allowed: use not_missing(X) or !=",
}
_REFUSED_NODES = {
    ast.Attribute: "attribute access (.name)", ast.Subscript: "subscripts ([...])",
    ast.Lambda: "lambda", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.Starred: "starred (*) values",
    ast.JoinedStr: "f-strings", ast.FormattedValue: "f-strings", ast.NamedExpr: "assignment (:=)",
    ast.Dict: "dicts ({...})", ast.Set: "sets ({...})", ast.IfExp: "'... if ... else ...'",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slices",
}
_PARAM_PREFIX = "_at_"  # '@name' becomes the Python name '_at_name' (a spec cannot write it)


# --------------------------------------------------------------------------------------------
# The compiled expression


@dataclass(frozen=True)
class Expression:
    """A checked expression, ready to evaluate on any frame.

    ``columns`` are the variables it reads, ``params`` the ``@names`` whose values the spec must
    pass. Build it with :func:`compile_expression`."""

    text: str
    columns: frozenset[str]
    params: frozenset[str]
    _node: Node = field(repr=False, compare=False)

    def evaluate(self, frame: pd.DataFrame, values: Mapping[str, Any] | None = None) -> pd.Series:
        """One value per row of ``frame`` (``@name`` taken from ``values``), as a Series with
        the frame's index: float (numbers), ``str`` (text), datetime64 (dates) or bool."""
        env = _Env(frame, dict(values or {}), self.text)
        result = self._node(env)
        return _to_series(result, frame.index)

    def mask(self, frame: pd.DataFrame, values: Mapping[str, Any] | None = None) -> np.ndarray:
        """The rows of ``frame`` where the condition holds, as a boolean array."""
        env = _Env(frame, dict(values or {}), self.text)
        result = self._node(env)
        if result.kind != "bool":
            raise ExpressionError(f"{self.text!r} is not a condition: it gives {_WORDS[result.kind]}, "
                                  "not true or false (compare it, e.g. X == 'Y')")
        if result.scalar:
            return np.full(len(frame), bool(result.data))
        return np.asarray(result.data, dtype=bool)


def compile_expression(text: str) -> Expression:
    """Parse and check ``text``; raise :class:`ExpressionError` naming the offending part.
    Parsed once per distinct text (cached)."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, not {type(text).__name__} ({text!r})")
    return _compile(text)


@lru_cache(maxsize=4096)
def _compile(text: str) -> Expression:
    if not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression has {len(text)} characters; at most {MAX_LENGTH}")
    source, params = _substitute_params(" ".join(text.splitlines()))
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        at = f" at {source[max((exc.offset or 1) - 1, 0):][:20]!r}" if exc.offset else ""
        raise ExpressionError(f"not a valid expression{at}: {exc.msg}") from None
    except (MemoryError, RecursionError):  # pathologically nested
        raise ExpressionError("the expression is nested too deeply") from None
    checker = _Compiler(source)
    try:
        node = checker.compile(tree.body)
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply") from None
    return Expression(text, frozenset(checker.columns), frozenset(params), node)


def _substitute_params(text: str) -> tuple[str, set[str]]:
    """``@name`` -> the Python name ``_at_name``; refuse names a spec may not write."""
    params: set[str] = set()
    pieces: list[str] = []
    position = 0
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ExpressionError(f"not a valid expression: {exc.args[0]}") from None
    previous: tokenize.TokenInfo | None = None
    for index, token in enumerate(tokens):
        if token.type == tokenize.NAME and (token.string.startswith("__")
                                            or token.string.startswith(_PARAM_PREFIX)):
            raise ExpressionError(f"the name {token.string!r} is not allowed (names starting "
                                  f"with '__' or '{_PARAM_PREFIX}' are reserved)")
        if token.type == tokenize.STRING and re.match(r"[A-Za-z]", token.string):
            raise ExpressionError(f"{token.string!r}: prefixed strings (f-strings, b'', r'') "
                                  "are not allowed; write plain 'text'")
        if token.type == tokenize.OP and token.string == "@":
            after = tokens[index + 1] if index + 1 < len(tokens) else None
            operand = previous is not None and (
                (previous.type == tokenize.NAME and not keyword.iskeyword(previous.string))
                or previous.type in (tokenize.NUMBER, tokenize.STRING)
                or previous.string in (")", "]"))
            if after is None or after.type != tokenize.NAME or after.start != token.end or operand:
                raise ExpressionError(_REFUSED_OPERATORS[ast.MatMult])
            start = token.start[1]
            pieces.append(text[position:start] + _PARAM_PREFIX)
            position = start + 1
            params.add(after.string)
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.COMMENT):
            previous = token
        if token.type == tokenize.COMMENT:
            raise ExpressionError("'#' comments are not allowed in an expression")
    pieces.append(text[position:])
    return "".join(pieces), params


def _shown(source: str, node: ast.AST) -> str:
    """The part of the expression a node stands for, as the spec wrote it."""
    segment = ast.get_source_segment(source, node) or ast.unparse(node)
    return re.sub(rf"\b{_PARAM_PREFIX}(\w+)", r"@\1", segment)


# --------------------------------------------------------------------------------------------
# Checking and compiling the syntax tree


class _Compiler:
    """Checks each node against the whitelist and returns the function that evaluates it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.columns: set[str] = set()

    def refuse(self, node: ast.AST, why: str) -> ExpressionError:
        return ExpressionError(f"{why}: {_shown(self.source, node)!r}")

    def compile(self, node: ast.AST) -> Node:
        kind = type(node)
        if kind in _REFUSED_NODES:
            raise self.refuse(node, f"{_REFUSED_NODES[kind]} not allowed")
        method = getattr(self, f"_{kind.__name__}", None)
        if method is None:
            raise self.refuse(node, f"{kind.__name__} not allowed")
        return method(node)

    # -- leaves --------------------------------------------------------------------------

    def _Constant(self, node: ast.Constant) -> Node:
        value = node.value
        if isinstance(value, bool):
            result = _Value("bool", value, True)
        elif isinstance(value, (int, float)):
            result = _Value("num", float(value), True)
        elif isinstance(value, str):
            result = _Value("text", value, True)
        elif value is None:
            raise self.refuse(node, "None not allowed: use is_missing(X)")
        else:
            raise self.refuse(node, f"a {type(value).__name__} literal not allowed")
        return lambda env: result

    def _Name(self, node: ast.Name) -> Node:
        name = node.id
        if name.startswith(_PARAM_PREFIX):
            param = name[len(_PARAM_PREFIX):]
            return lambda env: _param(env, param)
        self.columns.add(name)
        return lambda env: _column(env, name)

    # -- operators -----------------------------------------------------------------------

    def _BoolOp(self, node: ast.BoolOp) -> Node:
        parts = [self.compile(value) for value in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        word = "and" if isinstance(node.op, ast.And) else "or"

        def run(env: _Env) -> _Value:
            values = [_need_bool(part(env), word) for part in parts]
            data = values[0].data
            for value in values[1:]:
                data = combine(data, value.data)
            return _Value("bool", data, all(v.scalar for v in values))
        return run

    def _UnaryOp(self, node: ast.UnaryOp) -> Node:
        if type(node.op) in _REFUSED_OPERATORS:
            raise self.refuse(node, _REFUSED_OPERATORS[type(node.op)])
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            def negate(env: _Env) -> _Value:
                value = _need_bool(operand(env), "not")
                return _Value("bool", np.logical_not(value.data), value.scalar)
            return negate
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0

        def signed(env: _Env) -> _Value:
            value = operand(env)
            if value.kind != "num":
                raise ExpressionError(f"{_shown(self.source, node)!r}: a sign needs a number, "
                                      f"not {_WORDS[value.kind]}")
            return _Value("num", sign * value.data, value.scalar)
        return signed

    def _BinOp(self, node: ast.BinOp) -> Node:
        kind = type(node.op)
        if kind in _REFUSED_OPERATORS:
            raise self.refuse(node, _REFUSED_OPERATORS[kind])
        if kind is ast.Pow:
            exponent = _literal_number(node.right)
            if exponent is None or abs(exponent) > MAX_EXPONENT:
                raise self.refuse(node, f"the exponent of ** must be a number from -{MAX_EXPONENT} "
                                  f"to {MAX_EXPONENT} written in the expression")
        left, right = self.compile(node.left), self.compile(node.right)
        shown = _shown(self.source, node)
        return lambda env: _arithmetic(kind, left(env), right(env), shown)

    def _Compare(self, node: ast.Compare) -> Node:
        for operator in node.ops:
            if type(operator) in _REFUSED_OPERATORS:
                raise self.refuse(node, _REFUSED_OPERATORS[type(operator)])
        operands = [self.compile(node.left)]
        for operator, comparator in zip(node.ops, node.comparators):
            if isinstance(operator, (ast.In, ast.NotIn)):
                operands.append(self._members(comparator))
            else:
                operands.append(self.compile(comparator))
        ops = [type(operator) for operator in node.ops]
        shown = _shown(self.source, node)

        def run(env: _Env) -> _Value:  # a < b < c: (a < b) and (b < c), b evaluated once
            values = [operand(env) for operand in operands]
            result: _Value | None = None
            for kind, left, right in zip(ops, values, values[1:]):
                part = _compare(kind, left, right, shown)
                result = part if result is None else _Value(
                    "bool", np.logical_and(result.data, part.data), result.scalar and part.scalar)
            assert result is not None
            return result
        return run

    def _members(self, node: ast.AST) -> Node:
        """The right side of ``in``: a list of literals, or an ``@name`` the spec passes."""
        if isinstance(node, ast.Name) and node.id.startswith(_PARAM_PREFIX):
            return self._Name(node)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = []
            for item in node.elts:
                number = _literal_number(item)
                if number is not None:
                    items.append(number)
                elif isinstance(item, ast.Constant) and isinstance(item.value, str):
                    items.append(item.value)
                else:
                    raise self.refuse(item, "a list after 'in' may hold only numbers and 'text'")
            result = _Value("list", items, True)
            return lambda env: result
        raise self.refuse(node, "'in' needs a list such as ['A', 'B'] or an @name")

    def _List(self, node: ast.List) -> Node:
        raise self.refuse(node, "a list is allowed only after 'in'")

    _Tuple = _List

    def _Call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            what = node.func.id if isinstance(node.func, ast.Name) else _shown(self.source, node.func)
            raise self.refuse(node, f"function {what!r} not allowed (functions: {', '.join(FUNCTIONS)})")
        name = node.func.id
        if node.keywords:
            raise self.refuse(node, f"{name}(): keyword arguments not allowed")
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.refuse(argument, f"{_REFUSED_NODES[ast.Starred]} not allowed")
        fewest, most, _ = FUNCTIONS[name]
        count = len(node.args)
        if count < fewest or (most is not None and count > most):
            wanted = f"{fewest}" if fewest == most else (f"{fewest} or more" if most is None
                                                         else f"{fewest} to {most}")
            raise self.refuse(node, f"{name}() takes {wanted} argument(s), not {count}")
        if name == "round" and count == 2:
            digits = _literal_number(node.args[1])
            if digits is None or digits != int(digits) or not 0 <= digits <= 15:
                raise self.refuse(node, "round(x, digits): digits must be a whole number 0-15")
        if name == "substr":
            for argument in node.args[1:]:
                number = _literal_number(argument)
                if number is None or number != int(number) or number < (1 if argument is node.args[1] else 0):
                    raise self.refuse(node, "substr(text, start, length): start (from 1) and "
                                      "length must be whole numbers written in the expression")
        if name in _SEARCH_FUNCTIONS:
            literal = node.args[1]
            if not (isinstance(literal, ast.Constant) and isinstance(literal.value, str)
                    and literal.value):
                raise self.refuse(node, f"{name}(text, 'literal'): the literal must be non-empty "
                                  "text written in the expression")
        if name == "date" and isinstance(node.args[0], ast.Constant):
            if not isinstance(node.args[0].value, str) or _iso_date(node.args[0].value) is None:
                raise self.refuse(node, "date('YYYY-MM-DD') needs a complete, real ISO date")
        arguments = [self.compile(argument) for argument in node.args]
        literals = [_literal_number(argument) for argument in node.args]
        shown = _shown(self.source, node)
        return lambda env: _call(name, [argument(env) for argument in arguments], literals, shown)


def _literal_number(node: ast.AST) -> float | None:
    """The number a node writes (``3``, ``-2.5``), or None."""
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        node = node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return sign * float(node.value)
    return None


# --------------------------------------------------------------------------------------------
# Evaluation on whole columns


_WORDS = {"text": "text", "num": "a number", "date": "a date", "bool": "a condition",
          "list": "a list"}


def _param(env: _Env, name: str) -> _Value:
    if name not in env.values:
        known = ", ".join(f"@{key}" for key in sorted(env.values)) or "none"
        raise ExpressionError(f"{env.text!r}: @{name} is not passed by the spec (passed: {known})")
    return _scalar(env.values[name], f"@{name}")


def _scalar(value: Any, what: str) -> _Value:
    """A value the spec passes (``filter_values``, study parameters) as an expression value."""
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return _Value("bool", bool(value), True)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return _Value("num", float(value), True)
    if isinstance(value, str):
        return _Value("text", value, True)
    if isinstance(value, (dt.date, pd.Timestamp, np.datetime64)):
        return _Value("date", np.datetime64(pd.Timestamp(value), "ns"), True)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_scalar(item, what) for item in value]
        if any(item.kind not in ("num", "text") for item in items):
            raise ExpressionError(f"{what}: a list of numbers or text is needed")
        return _Value("list", [item.data for item in items], True)
    raise ExpressionError(f"{what}: a {type(value).__name__} cannot be used in an expression")


def _column(env: _Env, name: str) -> _Value:
    """A column of the frame as an expression value (read once per evaluation)."""
    if name in env.cache:
        return env.cache[name]
    frame = env.frame
    if name not in frame.columns:
        from ..errors import did_you_mean

        known = ", ".join(map(str, frame.columns[:40]))
        raise ExpressionError(f"{env.text!r}: no variable {name!r} in the data (variables: "
                              f"{known}){did_you_mean(name, frame.columns)}")
    series = frame[name]
    if isinstance(series, pd.DataFrame):
        raise ExpressionError(f"{env.text!r}: the data has two columns called {name!r}")
    value = _series_value(series, name, env.text)
    env.cache[name] = value
    return value


def _series_value(series: pd.Series, name: str, text: str) -> _Value:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _Value("bool", series.to_numpy(dtype=bool, na_value=False), False)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _Value("date", series.to_numpy(dtype="datetime64[ns]"), False)
    if pd.api.types.is_numeric_dtype(dtype):
        return _Value("num", series.to_numpy(dtype="float64", na_value=np.nan), False)
    if dtype == object:
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred in ("string", "empty"):
            return _Value("text", series.astype("str").fillna(""), False)
        if inferred in ("date", "datetime", "datetime64"):
            return _Value("date", pd.to_datetime(series).to_numpy(dtype="datetime64[ns]"), False)
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return _Value("num", pd.to_numeric(series).to_numpy(dtype="float64"), False)
        if inferred == "boolean":
            return _Value("bool", series.fillna(False).to_numpy(dtype=bool), False)
        raise ExpressionError(f"{text!r}: variable {name!r} holds values of mixed types ({inferred})")
    if pd.api.types.is_string_dtype(dtype):
        return _Value("text", series.fillna("") if series.hasnans else series, False)
    raise ExpressionError(f"{text!r}: variable {name!r} has type {dtype}, which expressions cannot use")


def _need_bool(value: _Value, word: str) -> _Value:
    if value.kind != "bool":
        raise ExpressionError(f"'{word}' needs conditions (true or false), not {_WORDS[value.kind]}")
    return value


def _missing(value: _Value) -> Any:
    """Where the value is missing (bool scalar or array)."""
    data = value.data
    if value.kind == "num":
        return np.isnan(data)
    if value.kind == "date":
        return np.isnat(data)
    if value.kind == "text":
        return data == "" if value.scalar else data.eq("").to_numpy(dtype=bool)
    return False if value.scalar else np.zeros(len(data), dtype=bool)


def _compare(kind: type, left: _Value, right: _Value, shown: str) -> _Value:
    scalar = left.scalar and right.scalar
    if kind in (ast.In, ast.NotIn):
        return _member(kind is ast.NotIn, left, right, shown)
    if left.kind != right.kind:
        raise ExpressionError(f"{shown!r}: cannot compare {_WORDS[left.kind]} with {_WORDS[right.kind]}")
    if left.kind in ("bool", "list") and kind not in (ast.Eq, ast.NotEq):
        raise ExpressionError(f"{shown!r}: {_COMPARE_TEXT[kind]} needs numbers, dates or text")
    function = _COMPARE[kind]
    if left.kind == "text":
        result = function(left.data, right.data)
        if not scalar:
            result = np.asarray(result.to_numpy(dtype=bool) if isinstance(result, pd.Series)
                                else result, dtype=bool)
        return _Value("bool", result, scalar)
    with np.errstate(invalid="ignore"):
        result = function(left.data, right.data)
    if left.kind in ("num", "date"):  # missing on either side: false, for != too
        result = np.logical_and(result, np.logical_not(np.logical_or(_missing(left), _missing(right))))
    return _Value("bool", bool(result) if scalar else np.asarray(result, dtype=bool), scalar)


def _member(negate: bool, left: _Value, right: _Value, shown: str) -> _Value:
    if right.kind != "list":
        right = _Value("list", [right.data], True) if right.scalar and right.kind in ("num", "text") \
            else right
    if right.kind != "list":
        raise ExpressionError(f"{shown!r}: 'in' needs a list")
    items = right.data
    wanted = str if left.kind == "text" else float
    if left.kind not in ("text", "num") or any(not isinstance(item, wanted) for item in items):
        raise ExpressionError(f"{shown!r}: 'in' compares {_WORDS[left.kind]} with a list "
                              "holding other kinds of values")
    if left.scalar:
        found = left.data in items
        missing = bool(_missing(left)) and left.kind == "num"
    elif left.kind == "text":
        found = left.data.isin(items).to_numpy(dtype=bool)
        missing = False
    else:
        found = np.isin(left.data, np.asarray(items, dtype="float64"))
        missing = np.isnan(left.data)
    result = np.logical_and(np.logical_not(found) if negate else found, np.logical_not(missing))
    return _Value("bool", bool(result) if left.scalar else result, left.scalar)


def _finite(result: Any, scalar: bool) -> Any:
    """Numbers that are not finite (division by zero, overflow) become missing."""
    if scalar:
        return float(result) if np.isfinite(result) else np.nan
    return np.where(np.isfinite(result), result, np.nan)


def _arithmetic(kind: type, left: _Value, right: _Value, shown: str) -> _Value:
    scalar = left.scalar and right.scalar
    if kind is ast.Add and left.kind == right.kind == "text":
        if scalar:
            return _Value("text", left.data + right.data, True)
        joined = left.data + right.data
        return _Value("text", joined if isinstance(joined, pd.Series) else pd.Series(joined), False)
    if kind is ast.Sub and left.kind == right.kind == "date":
        days = (np.asarray(left.data) - np.asarray(right.data)) / np.timedelta64(1, "D")
        return _Value("num", float(days) if scalar else days, scalar)
    if left.kind != "num" or right.kind != "num":
        hint = "; use add_days(date, n)" if "date" in (left.kind, right.kind) else ""
        raise ExpressionError(f"{shown!r}: cannot compute with {_WORDS[left.kind]} and "
                              f"{_WORDS[right.kind]}{hint}")
    a, b = np.float64(left.data) if left.scalar else left.data, \
        np.float64(right.data) if right.scalar else right.data
    with np.errstate(all="ignore"):
        result = _ARITHMETIC[kind](a, b)
    return _Value("num", _finite(result, scalar), scalar)


def _iso_date(text: str) -> np.datetime64 | None:
    try:
        return np.datetime64(dt.date.fromisoformat(text), "ns") if re.fullmatch(
            r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def _text_op(value: _Value, shown: str, scalar_op: Callable[[str], str],
             series_op: Callable[[pd.Series], pd.Series]) -> _Value:
    if value.kind != "text":
        raise ExpressionError(f"{shown!r}: needs text, not {_WORDS[value.kind]}")
    if value.scalar:
        return _Value("text", scalar_op(value.data), True)
    return _Value("text", series_op(value.data), False)


def _search(name: str, value: _Value, literal: str, shown: str) -> _Value:
    """``contains`` / ``starts_with``: whether the text holds the literal (case-sensitive; a
    missing text is ``""``, which holds no literal since the literal is never empty)."""
    if value.kind != "text":
        raise ExpressionError(f"{shown!r}: {name}() needs text, not {_WORDS[value.kind]}")
    if value.scalar:
        found = literal in value.data if name == "contains" else value.data.startswith(literal)
        return _Value("bool", bool(found), True)
    text = value.data.astype("str")  # pyarrow strings: searched without Python per value
    found = text.str.contains(literal, regex=False) if name == "contains" \
        else text.str.startswith(literal)
    return _Value("bool", found.fillna(False).to_numpy(dtype=bool), False)


def _title(text: str) -> str:
    """Title case word by word, words split at blanks only (SAS PROPCASE with a blank as the
    only delimiter): ``UNSCHEDULED 1.1`` -> ``Unscheduled 1.1``, ``X-RAY`` -> ``X-ray``."""
    return " ".join(word[:1].upper() + word[1:].lower() for word in text.split(" "))


_PARENTHESES = re.compile(r"\(([^()]*)\)[^()]*$")


def _inside(text: str) -> str:
    """The text inside the last pair of parentheses (``Albumin (g/L)`` -> ``g/L``), or ``""``."""
    found = _PARENTHESES.search(text)
    return found.group(1) if found else ""


def _per_distinct(values: pd.Series, function: Callable[[str], str]) -> pd.Series:
    """``function`` applied once per distinct text (visit names, parameters: few), spread back."""
    codes, distinct = pd.factorize(values.astype("str").fillna(""), use_na_sentinel=False)
    mapped = np.asarray([function(text) for text in distinct], dtype=object)
    return pd.Series(mapped[codes] if len(distinct) else np.array([], dtype=object),
                     index=values.index, dtype="str")


def _call(name: str, args: list[_Value], literals: list[float | None], shown: str) -> _Value:
    first = args[0]
    if name in _TEXT_FUNCTIONS:
        method = _TEXT_FUNCTIONS[name]
        return _text_op(first, shown, lambda s: getattr(s, method)(),
                        lambda s: getattr(s.str, method)())
    if name in _SEARCH_FUNCTIONS:
        return _search(name, first, args[1].data, shown)
    if name == "title":
        return _text_op(first, shown, _title, lambda s: _per_distinct(s, _title))
    if name == "in_parentheses":
        return _text_op(first, shown, lambda s: _per_distinct(pd.Series([s]), _inside)[0],
                        lambda s: _per_distinct(s, _inside))
    if name == "number":
        if first.kind != "text":
            raise ExpressionError(f"{shown!r}: number() needs text, not {_WORDS[first.kind]}")
        values = pd.Series([first.data] if first.scalar else first.data, dtype="str")
        codes, distinct = pd.factorize(values, use_na_sentinel=True)  # parsed once per distinct text
        parsed = pd.to_numeric(pd.Series(distinct, dtype="str").str.strip(),
                               errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        parsed = np.append(np.where(np.isfinite(parsed), parsed, np.nan), np.nan)
        numbers = parsed[codes]  # a missing text (code -1) takes the last: NaN
        return _Value("num", float(numbers[0]) if first.scalar else numbers, first.scalar)
    if name == "substr":
        start = int(literals[1]) - 1  # type: ignore[arg-type]
        stop = None if len(args) < 3 else start + int(literals[2])  # type: ignore[arg-type]
        return _text_op(first, shown, lambda s: s[start:stop], lambda s: s.str.slice(start, stop))
    if name == "date":
        if first.kind == "date":
            return first
        if first.kind != "text":
            raise ExpressionError(f"{shown!r}: date() needs ISO text, not {_WORDS[first.kind]}")
        if first.scalar:
            found = _iso_date(first.data[:10])
            return _Value("date", np.datetime64("NaT", "ns") if found is None else found, True)
        # parsed once per distinct date (a study has few days; 3M lab records would take
        # seconds one by one), spread back by code; a missing text (code -1) takes NaT
        codes, distinct = pd.factorize(first.data.str.slice(0, 10), use_na_sentinel=True)
        parsed = pd.to_datetime(pd.Series(distinct, dtype="str"), format="%Y-%m-%d",
                                errors="coerce").to_numpy(dtype="datetime64[ns]")
        return _Value("date", np.append(parsed, np.datetime64("NaT", "ns"))[codes], False)
    if name in ("year", "month", "day"):
        if first.kind != "date":
            raise ExpressionError(f"{shown!r}: {name}() needs a date, not {_WORDS[first.kind]}")
        part = getattr(pd.DatetimeIndex(np.atleast_1d(first.data)), name)
        numbers = np.asarray(part, dtype="float64")
        return _Value("num", float(numbers[0]) if first.scalar else numbers, first.scalar)
    if name == "add_days":
        days = args[1]
        if first.kind != "date" or days.kind != "num":
            raise ExpressionError(f"{shown!r}: add_days(date, n) needs a date and a number")
        whole = np.trunc(days.data)
        step = np.where(np.isnan(whole), np.timedelta64("NaT", "ns"),
                        (np.nan_to_num(whole) * 86_400_000_000_000).astype("int64").astype("timedelta64[ns]"))
        scalar = first.scalar and days.scalar
        result = np.asarray(first.data + step)
        return _Value("date", result[()] if scalar else result, scalar)
    if name in ("round", "abs"):
        if first.kind != "num":
            raise ExpressionError(f"{shown!r}: {name}() needs a number, not {_WORDS[first.kind]}")
        if name == "abs":
            return _Value("num", np.abs(first.data), first.scalar)
        factor = 10.0 ** (int(literals[1]) if len(args) > 1 else 0)  # type: ignore[arg-type]
        with np.errstate(all="ignore"):
            scaled = np.round(first.data * factor, 9)  # binary noise (2.675 * 100) away first
            rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) / factor
        return _Value("num", _finite(rounded, first.scalar), first.scalar)
    if name == "is_missing":
        missing = _missing(first)
        return _Value("bool", bool(missing) if first.scalar else missing, first.scalar)
    if name == "not_missing":
        missing = _missing(first)
        return _Value("bool", not missing if first.scalar else np.logical_not(missing), first.scalar)
    # min, max, coalesce: every argument of one kind
    kinds = {arg.kind for arg in args}
    if len(kinds) != 1:
        raise ExpressionError(f"{shown!r}: {name}() needs arguments of one kind, not "
                              + " and ".join(sorted(_WORDS[kind] for kind in kinds)))
    kind = kinds.pop()
    scalar = all(arg.scalar for arg in args)
    if name in ("min", "max"):
        if kind not in ("num", "date"):
            raise ExpressionError(f"{shown!r}: {name}() needs numbers or dates, not {_WORDS[kind]}")
        function = np.fmin if name == "min" else np.fmax
        data = args[0].data
        for arg in args[1:]:
            data = function(data, arg.data)
        return _Value(kind, data, scalar)
    if kind == "text":  # coalesce of text: the first non-empty
        if scalar:
            return _Value("text", next((arg.data for arg in args if arg.data != ""), ""), True)
        series = [arg.data for arg in args if not arg.scalar]
        index = series[0].index
        out = pd.Series(args[-1].data, index=index, dtype="str") if args[-1].scalar else args[-1].data
        for arg in reversed(args[:-1]):
            value = pd.Series(arg.data, index=index, dtype="str") if arg.scalar else arg.data
            out = value.where(value.ne(""), out)
        return _Value("text", out, False)
    data = args[-1].data
    for arg in reversed(args[:-1]):
        data = np.where(_missing(arg), data, arg.data)
    return _Value(kind, data[()] if scalar else data, scalar)


def _to_series(value: _Value, index: pd.Index) -> pd.Series:
    if value.kind == "list":
        raise ExpressionError("an expression cannot give a list")
    if value.kind == "text":
        if value.scalar:
            return pd.Series(value.data, index=index, dtype="str")
        return pd.Series(value.data.array, index=index, dtype="str", copy=False)
    dtypes = {"num": "float64", "date": "datetime64[ns]", "bool": bool}
    data = np.full(len(index), value.data) if value.scalar else value.data
    return pd.Series(np.asarray(data), index=index, dtype=dtypes[value.kind])
