"""The reporting event in the JSON form of CDISC's Analysis Results Standard (ARS v1.0 logical
model, ``https://www.cdisc.org/ars/1-0``): ``results/ars.json``.

The root object is the ReportingEvent (``id``, ``name``, ``mainListOfContents``,
``analysisSets``, ``dataSubsets``, ``analysisGroupings`` (subject grouping factors),
``dataGroupings``, ``methods``, ``analyses``); each analysis carries its ``results``
(OperationResult: ``operationId``, ``resultGroups``, ``rawValue``, ``formattedValue``), the
rows of the ARD.

Conditions are written in the package's expression language; ARS writes them as where clauses
(``condition``: dataset, variable, comparator EQ/NE/LT/LE/GT/GE/IN/NOTIN, value; or a
``compoundExpression`` of clauses joined by AND / OR, or NOT). A condition made only of such
comparisons (and ``is_missing`` / ``not_missing``, written EQ / NE an empty value) is
translated; one that is not (arithmetic, functions, two variables compared) keeps its text in
``label`` and has no clause. An analysis set's condition must be a single comparison to
become a clause (ARS combines analysis sets, not clauses, in their compound expressions). The
group of everyone of a grouping is a group without condition; a count over several datasets
(``union_with``) is described in the analysis' ``description``.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ..spec.expr import _PARAM_PREFIX, _substitute_params
from .model import Analysis, Grouping, ReportingEvent, _Conditioned, level_text

SCHEMA = "https://www.cdisc.org/ars/1-0"

_COMPARATORS = {ast.Eq: "EQ", ast.NotEq: "NE", ast.Lt: "LT", ast.LtE: "LE", ast.Gt: "GT",
                ast.GtE: "GE", ast.In: "IN", ast.NotIn: "NOTIN"}
_MIRRORED = {"LT": "GT", "LE": "GE", "GT": "LT", "GE": "LE", "EQ": "EQ", "NE": "NE"}


class _Untranslatable(Exception):
    """A part of a condition ARS's where clauses cannot express."""


def where_clause(condition: _Conditioned, dataset: str) -> dict[str, Any] | None:
    """The ARS where clause of a condition on ``dataset`` (a ``condition`` or a
    ``compoundExpression``), or None when the condition is not made of simple comparisons."""
    source, _ = _substitute_params(" ".join(condition.condition.splitlines()))
    try:
        return _clause(ast.parse(source, mode="eval").body, dataset, condition.values)
    except (_Untranslatable, SyntaxError):
        return None


def _clause(node: ast.AST, dataset: str, values: dict[str, Any]) -> dict[str, Any]:
    if isinstance(node, ast.BoolOp):
        return {"compoundExpression": {
            "logicalOperator": "AND" if isinstance(node.op, ast.And) else "OR",
            "whereClauses": [_numbered(_clause(part, dataset, values), order)
                             for order, part in enumerate(node.values, start=1)]}}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return {"compoundExpression": {"logicalOperator": "NOT",
                                       "whereClauses": [_numbered(_clause(node.operand, dataset, values), 1)]}}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1 \
            and node.func.id in ("is_missing", "not_missing") and isinstance(node.args[0], ast.Name):
        return _condition(dataset, _variable(node.args[0]),
                          "EQ" if node.func.id == "is_missing" else "NE", [""])
    if isinstance(node, ast.Compare):
        if len(node.ops) > 1:  # a < X < b: (a < X) and (X < b)
            parts = [ast.Compare(left, [op], [right]) for left, op, right in
                     zip([node.left, *node.comparators], node.ops, node.comparators)]
            return _clause(ast.BoolOp(ast.And(), parts), dataset, values)
        op, right = node.ops[0], node.comparators[0]
        comparator = _COMPARATORS.get(type(op))
        if comparator is None:
            raise _Untranslatable
        if isinstance(node.left, ast.Name) and not node.left.id.startswith(_PARAM_PREFIX):
            return _condition(dataset, node.left.id, comparator, _literals(right, values))
        if comparator not in ("IN", "NOTIN") and isinstance(right, ast.Name) \
                and not right.id.startswith(_PARAM_PREFIX):
            return _condition(dataset, right.id, _MIRRORED[comparator], _literals(node.left, values))
    raise _Untranslatable


def _numbered(clause: dict[str, Any], order: int) -> dict[str, Any]:
    return {"level": 1, "order": order, **clause}


def _variable(node: ast.AST) -> str:
    if isinstance(node, ast.Name) and not node.id.startswith(_PARAM_PREFIX):
        return node.id
    raise _Untranslatable


def _literals(node: ast.AST, values: dict[str, Any]) -> list[str]:
    """The value(s) a comparison names, as ARS's list of text."""
    if isinstance(node, ast.Name) and node.id.startswith(_PARAM_PREFIX):
        value = values.get(node.id[len(_PARAM_PREFIX):])
        items = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(item, (dict, list, type(None), bool)) for item in items):
            raise _Untranslatable
        return [level_text(item) if isinstance(item, (int, float)) else str(item) for item in items]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [text for item in node.elts for text in _literals(item, values)]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)):
        return [level_text(-node.operand.value)]
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)) \
            and not isinstance(node.value, bool):
        return [level_text(node.value) if not isinstance(node.value, str) else node.value]
    raise _Untranslatable


def _condition(dataset: str, variable: str, comparator: str, value: list[str]) -> dict[str, Any]:
    return {"condition": {"dataset": dataset, "variable": variable, "comparator": comparator,
                          "value": value}}


def _selection(item: _Conditioned, dataset: str, order: int, compound: bool = True) -> dict[str, Any]:
    """An analysis set or data subset with its where clause; ``compound``: whether its ARS
    class takes a compound expression of where clauses (a DataSubset does; an AnalysisSet's
    compound expression combines other analysis sets, so a condition of several comparisons
    stays text in its label)."""
    out: dict[str, Any] = {"id": item.id, "label": item.label, "level": 1, "order": order}
    clause = where_clause(item, dataset)
    if clause is not None and "compoundExpression" in clause and not compound:
        clause = None
    if clause is None:
        out["label"] = f"{item.label} ({item.condition})"
    else:
        out.update(clause)
    return out


def _subset_dataset(event: ReportingEvent, subset_id: str) -> str:
    """The dataset of the first analysis using a data subset (ARS names it in each clause)."""
    for analysis in event.analyses:
        if analysis.data_subset == subset_id:
            return analysis.dataset
        for part in analysis.union_with:
            if part.data_subset == subset_id:
                return part.dataset
    return ""


def group_ids(grouping: Grouping) -> dict[str, str]:
    """The ids of a grouping's predefined groups by the value the ARD gives them (the ``all``
    label for the group of everyone): ``PHASE_ALL``, ``PHASE_1``, ... (none when data driven)."""
    ids = {grouping.all: f"{grouping.id}_ALL"} if grouping.all is not None else {}
    ids.update({level.text: f"{grouping.id}_{number}"
                for number, level in enumerate(grouping.levels or [], start=1)})
    return ids


def _grouping(event: ReportingEvent, grouping: Grouping) -> dict[str, Any]:
    users = [a for a in event.analyses if grouping.id in a.groupings]
    dataset = grouping.dataset or (users[0].dataset if users else "")
    out: dict[str, Any] = {"id": grouping.id, "label": grouping.label, "groupingDataset": dataset,
                           "groupingVariable": grouping.variable, "dataDriven": grouping.data_driven}
    ids = group_ids(grouping)
    groups = []
    if grouping.all is not None:  # everyone: a group without condition (ARS has no word for it)
        groups.append({"id": ids[grouping.all], "label": grouping.all, "level": 1, "order": 1})
    for level in grouping.levels or []:
        groups.append({"id": ids[level.text], "label": level.shown, "level": 1,
                       "order": len(groups) + 1,
                       **_condition(dataset, grouping.variable, "EQ", [level.text])})
    if groups:
        out["groups"] = groups
    return out


def _method(event: ReportingEvent, method_id: str) -> dict[str, Any]:
    method = event.methods[method_id]
    operations = []
    ids = {op.stat: method.operation_id(op) for op in method.operations}
    for order, op in enumerate(method.operations, start=1):
        entry: dict[str, Any] = {"id": ids[op.stat], "name": op.stat, "label": op.shown_label,
                                 "order": order, "resultPattern": _pattern(op.decimals)}
        if op.stat == "pct" and "n" in ids and "N" in ids:
            entry["referencedOperationRelationships"] = [
                {"id": f"{ids['pct']}_NUM", "referencedOperationRole": {"controlledTerm": "NUMERATOR"},
                 "operationId": ids["n"]},
                {"id": f"{ids['pct']}_DEN", "referencedOperationRole": {"controlledTerm": "DENOMINATOR"},
                 "operationId": ids["N"]}]
        operations.append(entry)
    settings = [f"calculation {method.calculation}", f"rounding {method.rounding}"]
    if method.denominator:
        settings.append(f"denominator {method.denominator}")
    if method.confidence_level is not None:
        settings.append(f"{method.ci_method} confidence interval at {method.confidence_level:g}")
    if method.quantiles:
        settings.append(f"quantiles {method.quantiles}")
    description = "; ".join(filter(None, [method.description, ", ".join(settings)]))
    out: dict[str, Any] = {"id": method.id, "name": method.name, "description": description,
                           "operations": operations}
    if method.label:
        out["label"] = method.label
    return out


def _pattern(decimals: int | None) -> str:
    return "XX" if not decimals else "XX." + "X" * decimals


def _analysis(event: ReportingEvent, analysis: Analysis, results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": analysis.id, "name": analysis.name}
    for key in ("label", "description"):
        if getattr(analysis, key):
            out[key] = getattr(analysis, key)
    if analysis.union_with:
        parts = ", ".join(f"{p.dataset} records of data subset {p.data_subset}" for p in analysis.union_with)
        out["description"] = " ".join(filter(None, [out.get("description"),
                                                    f"A subject also counts with {parts}."]))
    if analysis.reason:
        out["reason"] = {"controlledTerm": analysis.reason}
    if analysis.purpose:
        out["purpose"] = {"controlledTerm": analysis.purpose}
    out.update({"methodId": analysis.method, "analysisSetId": analysis.analysis_set,
                "dataset": analysis.dataset})
    if analysis.data_subset:
        out["dataSubsetId"] = analysis.data_subset
    if analysis.variables:
        out["variable"] = ", ".join(analysis.variables)
    if analysis.groupings:
        out["orderedGroupings"] = [{"order": order, "groupingId": name, "resultsByGroup": True}
                                   for order, name in enumerate(analysis.groupings, start=1)]
    out["results"] = results
    return out


def _results(event: ReportingEvent, ard: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """The ARD's rows as ARS OperationResults, per analysis (a loop over result rows, not data)."""
    out: dict[str, list[dict[str, Any]]] = {a.id: [] for a in event.analyses}
    grouping_ids = {a.id: a.groupings for a in event.analyses}
    predefined = {g.id: group_ids(g) for g in event.groupings.values()}
    groups = sorted({int(c[5:]) for c in ard.columns if c.startswith("group") and c[5:].isdigit()})
    column = {name: ard[name].to_numpy(dtype=object) for name in ard.columns if name != "stat"}
    stat = ard["stat"].to_numpy(dtype="float64")
    for row in range(len(ard)):
        analysis_id = column["analysis_id"][row]
        ids = grouping_ids.get(analysis_id, [])
        result_groups = []
        for k in groups:
            variable = column[f"group{k}"][row]
            if not variable:
                continue
            grouping = ids[k - 1] if k <= len(ids) else variable
            level = column[f"group{k}_level"][row]
            group_id = predefined.get(grouping, {}).get(level)
            result_groups.append({"groupingId": grouping, "groupId": group_id} if group_id
                                 else {"groupingId": grouping, "groupValue": level})
        if column["variable_level"][row]:
            result_groups.append({"groupingId": column["variable"][row],
                                  "groupValue": column["variable_level"][row]})
        entry: dict[str, Any] = {"operationId": column["operation_id"][row]}
        if result_groups:
            entry["resultGroups"] = result_groups
        value = stat[row]
        entry["rawValue"] = "" if math.isnan(value) else level_text(float(value))
        entry["formattedValue"] = column["stat_fmt"][row]
        out.setdefault(analysis_id, []).append(entry)
    return out


def reporting_event_json(event: ReportingEvent, ard: pd.DataFrame | None = None) -> dict[str, Any]:
    """The reporting event (and, with ``ard``, every analysis' results) as ARS JSON data."""
    results = _results(event, ard) if ard is not None else {a.id: [] for a in event.analyses}
    subject_groupings, data_groupings = [], []
    for grouping in event.groupings.values():
        users = [a for a in event.analyses if grouping.id in a.groupings]
        subject = any(event.subject_grouping(a, grouping) for a in users) if users else \
            grouping.dataset is not None
        (subject_groupings if subject else data_groupings).append(_grouping(event, grouping))
    out: dict[str, Any] = {"$schema": SCHEMA, "id": event.id, "name": event.name}
    if event.description:
        out["description"] = event.description
    if event.version:
        out["version"] = event.version
    out["mainListOfContents"] = {"name": "Analyses", "contentsList": {"listItems": [
        {"name": a.name, "level": 1, "order": order, "analysisId": a.id}
        for order, a in enumerate(event.analyses, start=1)]}}
    out["analysisSets"] = [_selection(s, s.dataset, order, compound=False)
                           for order, s in enumerate(event.analysis_sets.values(), start=1)]
    out["dataSubsets"] = [_selection(s, _subset_dataset(event, s.id), order)
                          for order, s in enumerate(event.data_subsets.values(), start=1)]
    out["analysisGroupings"] = subject_groupings
    out["dataGroupings"] = data_groupings
    out["methods"] = [_method(event, method_id) for method_id in event.methods]
    out["analyses"] = [_analysis(event, a, results.get(a.id, [])) for a in event.analyses]
    return out


def write_ars(event: ReportingEvent, ard: pd.DataFrame | None, path: Path) -> Path:
    """Write :func:`reporting_event_json` to ``path`` (UTF-8, keys in the model's order): the
    definitions indented, each analysis' results as one line per result (json's fast encoder:
    a pretty-printed list of thousands of results costs a second)."""
    data = reporting_event_json(event, ard)
    results = []
    for number, analysis in enumerate(data["analyses"]):
        results.append(analysis["results"])
        analysis["results"] = f"\u0000results{number}"
    text = json.dumps(data, indent=1, ensure_ascii=False)
    for number, items in enumerate(results):
        lines = ",\n   ".join(json.dumps(item, ensure_ascii=False) for item in items)
        text = text.replace(json.dumps(f"\u0000results{number}"), f"[\n   {lines}\n  ]" if items else "[]", 1)
    path = Path(path)
    path.write_text(text + "\n", encoding="utf-8")
    return path
