"""Displays as specs: reviewer tables and listings laid out from the ARD (ARS Output/Display).

A display is a section item of ``analyses/*.yaml`` (``displays:``), checked when the specs are
loaded with the analyses it shows. A **table** is a stack of row blocks, each the results of
one analysis, by the levels of a column grouping (e.g. the treatment arm, with its ``all``
group), every cell a template over the analysis' statistics as the ARD shows them
(``"{n}/{N} ({pct}%)"``, ``"({ci_low}, {ci_high})"``). A **listing** shows the records of a
dataset in a data subset. :func:`build_tables` makes each display a
:class:`~itp_adam.report.tables.Table` (texts only); ``report/tables.py`` writes it as RTF
and XLSX. Nothing here computes a statistic: a number in a table is a number of the ARD.
``docs/displays.md`` describes the language.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from ..spec.model import SpecError, SpecProblem, _unknown
from .model import Analysis, Block, Columns, Display, ReportingEvent, level_text

TEMPLATE_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VALUE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
KINDS = {"table": "Table", "listing": "Listing"}


# --------------------------------------------------------------------------------------------
# Templates


def template_fields(template: str) -> list[str]:
    """The ``{name}`` fields of a template; ValueError for anything but plain names (no
    attribute or item access, no conversion)."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not TEMPLATE_FIELD.match(name) or conversion is not None:
            raise ValueError(f"{{{name}}} is not a plain name: write {{n}}, {{pct}}, {{label}}, ...")
        if spec and not re.fullmatch(r"[<>^]?\d*(\.\d+)?[fgd%]?", spec):
            raise ValueError(f"{{{name}:{spec}}}: only a number format such as :g or :.1f")
        names.append(name)
    return names


def fill(template: str, values: Mapping[str, Any]) -> str:
    """The template with its fields replaced (checked when loaded)."""
    return string.Formatter().vformat(template, (), dict(values))


def with_values(text: str, values: Mapping[str, Any]) -> str:
    """``@name`` replaced by the display's value of that name (a list joined by commas)."""
    def shown(match: re.Match) -> str:
        value = values[match.group(1)]
        if isinstance(value, list):
            return ", ".join(_plain_text(v) for v in value)
        return _plain_text(value)
    return VALUE.sub(shown, text)


def _plain_text(value: Any) -> str:
    return level_text(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


# --------------------------------------------------------------------------------------------
# Checks (when the specs are loaded)


def display_problems(event: ReportingEvent, displays: list[Display]) -> list[SpecProblem]:
    """Every id a display names exists, its templates name statistics its analyses give, its
    @names have values."""
    problems: list[SpecProblem] = []
    seen: dict[str, Display] = {}
    for display in displays:
        for other in seen.values():
            if other.stem == display.stem:
                problems.append(display.problem(f"file {display.stem!r} is also written by display "
                                                f"{other.id}", "file"))
        seen[display.id] = display
        texts = [("title",), ("subtitle",)] + [("footnotes", i) for i in range(len(display.footnotes))]
        texts += [("rows", i, "section") for i in range(len(display.rows))]
        texts += [("rows", i, "label") for i in range(len(display.rows))]
        texts += [("rows", i, "level_labels", level) for i, block in enumerate(display.rows)
                  for level in block.level_labels]
        for keys in texts:
            text = _at(display, keys)
            for name in VALUE.findall(text or ""):
                if name not in display.values:  # at values: where the value is missing
                    where = ".".join(str(k) for k in keys)
                    given = ", ".join(f"@{v}" for v in sorted(display.values)) or "none"
                    problems.append(display.problem(
                        f"{where}: @{name} is not passed by values (passed here: {given})", "values"))
        if display.kind == "listing":
            problems += _listing_problems(event, display)
        else:
            problems += _table_problems(event, display)
    return problems


def _at(display: Display, keys: tuple) -> str | None:
    value: Any = display
    for key in keys:
        value = value[key] if isinstance(key, int) or isinstance(value, dict) else getattr(value, key)
    return value


def _template(display: Display, template: str, allowed: set[str] | None, keys: tuple,
              what: str, problems: list[SpecProblem]) -> None:
    try:
        names = template_fields(template)
    except ValueError as exc:
        problems.append(display.problem(f"{what}: {exc}", *keys))
        return
    if allowed is not None:
        for name in names:
            if name not in allowed:
                problems.append(display.problem(
                    f"{what} {template!r}: {{{name}}} is not one of {', '.join(sorted(allowed))}", *keys))


def _table_problems(event: ReportingEvent, display: Display) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    if display.columns is None or not display.rows:
        problems.append(display.problem("a table needs columns (with cells) and rows"))
        return problems
    for key in ("dataset", "analysis_set", "data_subset"):
        if getattr(display, key) is not None:
            problems.append(display.problem(f"{key}: only a listing has one", key))
    columns = display.columns
    if columns.grouping is not None and columns.grouping not in event.groupings:
        problems.append(display.problem(_unknown("grouping", columns.grouping, event.groupings),
                                        "columns", "grouping"))
    known = {a.id: a for a in event.analyses}
    header_names = {"label", "N", "confidence_level"}
    if display.population is None:
        header_names -= {"N"}
    elif display.population not in known:
        problems.append(display.problem(_unknown("analysis", display.population, known), "population"))
    else:
        population = known[display.population]
        if population.variables or population.data_subset is not None \
                or event.methods[population.method].calculation != "count":
            problems.append(display.problem(
                f"population: analysis {population.id} must count the analysis set's subjects "
                "(a count without variable or data subset)", "population"))
        problems += _grouping_problems(display, population, ("population",))
    _template(display, columns.header, header_names, ("columns", "header"), "header", problems)
    for index, cell in enumerate(columns.cells):
        _template(display, cell.header, header_names - {"N", "label"}, ("columns", "cells", index, "header"),
                  "header", problems)
    for index, stub in enumerate(display.stub):
        if (stub.text is None) != (stub.lookup is None) or (index == 0 and stub.lookup is not None):
            problems.append(display.problem("a stub column after the first needs text and lookup; "
                                            "the first gives the row labels", "stub", index))
        elif stub.text is not None and stub.lookup is not None:
            _template(display, stub.text, None, ("stub", index, "text"), "text", problems)
            if any(stub.lookup.key not in item for item in stub.lookup.table):
                problems.append(display.problem(f"lookup: key {stub.lookup.key!r} is not in every "
                                                "item of the table", "stub", index, "lookup"))
    for index, block in enumerate(display.rows):
        at = ("rows", index)
        analysis = known.get(block.analysis)
        if analysis is None:
            problems.append(display.problem(_unknown("analysis", block.analysis, known), *at, "analysis"))
            continue
        method = event.methods[analysis.method]
        stats = {op.stat for op in method.operations}
        problems += _grouping_problems(display, analysis, at)
        if method.calculation == "summary":
            for k, row in enumerate(block.statistics or display.summary_rows):
                _template(display, row.format, stats, (*at, "statistics", k), "format", problems)
        else:
            if block.statistics is not None:
                problems.append(display.problem(f"statistics: analysis {analysis.id} is not a summary",
                                                *at, "statistics"))
            formats = [block.format] if block.format else [c.format for c in columns.cells]
            for k, template in enumerate(formats):
                _template(display, template, stats, (*at, "format") if block.format else
                          ("columns", "cells", k, "format"), f"format (analysis {analysis.id})", problems)
        if columns.variable_levels and method.calculation not in ("count", "worst", "shift"):
            problems.append(display.problem(f"columns: variable_levels needs a count, worst or shift "
                                            f"analysis ({analysis.id} is a {method.calculation})", *at))
        if block.sort == "frequency" and "n" not in stats:
            problems.append(display.problem(f"sort: frequency needs the statistic n of analysis "
                                            f"{analysis.id}", *at, "sort"))
    return problems


def _grouping_problems(display: Display, analysis: Analysis, at: tuple) -> list[SpecProblem]:
    grouping = display.columns.grouping if display.columns is not None else None
    if grouping is not None and grouping not in analysis.groupings:
        return [display.problem(f"analysis {analysis.id} is not grouped by the columns' grouping "
                                f"{grouping}", *at)]
    return []


def _listing_problems(event: ReportingEvent, display: Display) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    if display.dataset is None or not display.variables:
        problems.append(display.problem("a listing needs a dataset and variables"))
    if display.rows or display.columns is not None or display.population is not None:
        problems.append(display.problem("rows, columns and population: only a table has them"))
    if display.analysis_set is not None and display.analysis_set not in event.analysis_sets:
        problems.append(display.problem(_unknown("analysis set", display.analysis_set,
                                                 event.analysis_sets), "analysis_set"))
    if display.data_subset is not None and display.data_subset not in event.data_subsets:
        problems.append(display.problem(_unknown("data subset", display.data_subset,
                                                 event.data_subsets), "data_subset"))
    return problems


# --------------------------------------------------------------------------------------------
# Building the tables


def build_tables(event: ReportingEvent, views: Mapping[str, pd.DataFrame],
                 datasets: Mapping[str, pd.DataFrame], study: Any = None, program: str = "") -> list:
    """Every display of the reporting event as a :class:`~itp_adam.report.tables.Table`
    (``views``: ``ard_views`` of the ARD; ``datasets`` for the listings; ``program``: the
    footer's program and run line)."""
    return [build_table(event, display, views, datasets, study, program) for display in event.displays]


def build_table(event: ReportingEvent, display: Display, views: Mapping[str, pd.DataFrame],
                datasets: Mapping[str, pd.DataFrame], study: Any = None, program: str = ""):
    from ..report.tables import Table

    values = display.values
    titles = [f"{KINDS[display.kind]} {display.number}", with_values(display.title, values)]
    if display.subtitle:
        titles.append(with_values(display.subtitle, values))
    footnotes = [with_values(text, values) for text in display.footnotes]
    if display.kind == "listing":
        laid = _listing(event, display, datasets)
    else:
        laid = _table(event, display, views)
    used = laid.pop("datasets")
    source = _source(used, study)
    return Table(name=display.stem, titles=titles, footnotes=footnotes, source=source,
                 program=f"{program} ({display.id})" if program else display.id,
                 landscape=display.orientation == "landscape", **laid)


def _source(datasets: list[str], study: Any) -> str:
    adam = [d for d in datasets if d.upper().startswith("AD")]
    sdtm = [d for d in datasets if d not in adam]
    parts = [f"ADaM {', '.join(adam)}" if adam else "", f"SDTM {', '.join(sdtm)}" if sdtm else ""]
    text = "Source: " + "; ".join(p for p in parts if p)
    if study is not None:
        text += f"; study {study.study_id}"
        cutoff = getattr(study, "cutoff_date", None)
        if cutoff is not None:
            text += f", data cut-off {cutoff.isoformat()}"
    return text + "."


def _condition_text(condition: str) -> str:
    """``XFL == 'Y'`` as a reader writes it: ``XFL = Y``."""
    return re.sub(r"\s*==\s*", " = ", condition).replace("'", "").replace('"', "")


def _group_names(view: pd.DataFrame) -> dict[str, str]:
    """Group column -> the variable it groups by (its first non-blank name: a hierarchy's
    outer-level columns are blank on the outer rows)."""
    names = {}
    for column in view.columns:
        if re.fullmatch(r"group\d+", column):
            found = [v for v in pd.unique(view[column]) if v]
            names[column] = found[0] if found else ""
    return names


def _group_column(view: pd.DataFrame, variable: str) -> str | None:
    return next((c for c, name in _group_names(view).items() if name == variable), None)


class _Groups:
    """The column groups: (level, label) in order, and each group's N."""

    def __init__(self, event: ReportingEvent, display: Display, views: Mapping[str, pd.DataFrame]):
        columns = display.columns
        assert columns is not None
        self.grouping = event.groupings[columns.grouping] if columns.grouping else None
        self.levels: list[tuple[str, str]] = []
        self.big_n: dict[str, str] = {}
        self.population_n = ""
        if display.population is not None:
            view = views.get(display.population, pd.DataFrame())
            column = _group_column(view, self.grouping.variable) if self.grouping else None
            for row in view.itertuples(index=False):
                row = row._asdict()
                level = row[f"{column}_level"] if column else ""
                label = row[f"{column}_label"] if column else ""
                self.levels.append((level, label))
                self.big_n[level] = row.get("n_fmt", "")
            if self.grouping is None or self.grouping.all is not None:
                self.population_n = self.big_n.get(self.levels[0][0] if self.levels else "", "")
            else:
                self.population_n = str(int(sum(float(v or 0) for v in self.big_n.values())))
        if not self.levels:  # no population analysis: the levels of the first block
            if self.grouping is None:
                self.levels = [("", "")]
            else:
                view = views.get(display.rows[0].analysis, pd.DataFrame())
                column = _group_column(view, self.grouping.variable)
                if column is not None:
                    pairs = view[[f"{column}_level", f"{column}_label"]].drop_duplicates()
                    self.levels = list(pairs.itertuples(index=False, name=None))


def _table(event: ReportingEvent, display: Display, views: Mapping[str, pd.DataFrame]) -> dict:
    columns = display.columns
    assert columns is not None
    groups = _Groups(event, display, views)
    levels = (event.methods[event.analysis(b.analysis).method].confidence_level for b in display.rows)
    confidence = next((level for level in levels if level), None)  # the first block's with one
    head_values = {"confidence_level": f"{confidence * 100:g}" if confidence else ""}
    # the variable's levels as columns (shift tables): those of the first block
    variable_levels: list[tuple[str, str]] = [("", "")]
    if columns.variable_levels:
        first = views.get(display.rows[0].analysis, pd.DataFrame())
        found = list(dict.fromkeys(first.get("variable_level", pd.Series(dtype=object)).tolist()))
        labels = display.rows[0].level_labels
        variable_levels = [(level, labels.get(level, level)) for level in found]
    cells = columns.cells
    per_group = len(variable_levels) * len(cells)

    # headers
    top = [(stub.header, 1) for stub in display.stub]
    group_headers = [fill(columns.header, {"label": label, "N": groups.big_n.get(level, ""),
                                           **head_values}) for level, label in groups.levels]
    cell_headers = [fill(cell.header, head_values) for cell in cells]
    headers: list[list[tuple[str, int]]]
    if per_group == 1:  # one header row: the group's header over its one cell's
        text = [f"{h}\n{cell_headers[0]}" if h and cell_headers[0] else h or cell_headers[0]
                for h in group_headers]
        headers = [top + [(t, 1) for t in text]]
    else:
        leaf = [(f"{label}\n{h}" if label and h else label or h, 1)
                for _ in groups.levels for _, label in variable_levels for h in cell_headers]
        headers = [top + leaf]
        if any(group_headers):
            headers.insert(0, [("", 1) for _ in display.stub] + [(h, per_group) for h in group_headers])
    widths = [stub.width for stub in display.stub]
    widths += [cell.width for _ in groups.levels for _ in variable_levels for cell in cells]
    align = ["l"] + ["c"] * (len(widths) - 1)

    rows: list[list[str]] = []
    section: list[str] = []
    indent: list[int] = []
    emphasis: list[bool] = []
    used: list[str] = []
    for block in display.rows:
        analysis = event.analysis(block.analysis)
        for name in (analysis.dataset, event.analysis_sets[analysis.analysis_set].dataset,
                     *(part.dataset for part in analysis.union_with)):
            if name not in used:
                used.append(name)
        heading = with_values(block.section, display.values) if block.section else ""
        for cells_text, label, level, depth, bold, outer in _block_rows(
                event, display, block, analysis, views, groups, variable_levels):
            stub_texts = [label]
            for stub in display.stub[1:]:
                assert stub.lookup is not None and stub.text is not None
                item = next((i for i in stub.lookup.table if level is not None
                             and level_text(i[stub.lookup.key]) == level), None)
                stub_texts.append(fill(stub.text, item) if item is not None else "")
            rows.append(stub_texts + cells_text)
            section.append(": ".join(part for part in (heading, outer) if part))
            indent.append(depth)
            emphasis.append(bold)
    if display.population is not None:
        population = event.analysis(display.population)
        analysis_set = event.analysis_sets[population.analysis_set]
        text = (f"Population: {analysis_set.label} ({_condition_text(analysis_set.condition)}), "
                f"N = {groups.population_n}")
    else:
        text = ""
    return dict(population=text, headers=headers, rows=rows, widths=widths, align=align,
                section=section if any(section) else None,
                indent=indent if any(indent) else None,
                emphasis=emphasis if any(emphasis) else None, datasets=used)


def _block_rows(event: ReportingEvent, display: Display, block: Block, analysis: Analysis,
                views: Mapping[str, pd.DataFrame], groups: _Groups,
                variable_levels: list[tuple[str, str]]):
    """The rows of one block: (cell texts, label, level of the innermost row key, indent, bold,
    outer heading).

    A row is a combination of the analysis' row keys: the levels of its groupings other than
    the columns' (e.g. the visit), a hierarchy's outer levels, and the variable's level
    (unless the variable's levels are columns). With two or more such groupings (parameter,
    then baseline grade) the outer ones' labels head the rows (a section per parameter)."""
    columns = display.columns
    assert columns is not None
    method = event.methods[analysis.method]
    view = views.get(analysis.id, pd.DataFrame()).reset_index(drop=True)
    names = _group_names(view)
    group_col = next((c for c, n in names.items()
                      if groups.grouping is not None and n == groups.grouping.variable), None)
    hierarchy = method.calculation == "hierarchy"
    outer = [c for c, n in names.items() if hierarchy and n in analysis.variables]
    other = [c for c in names if c != group_col and c not in outer]
    by_variable = columns.variable_levels
    # a variable with one level listed (a flag: subjects with the level) gives no row per level
    flag = analysis.levels is not None and len(analysis.levels) == 1 and analysis.missing is None
    levelled = bool(analysis.variables) and not by_variable and not flag
    key_columns = [f"{c}_level" for c in other + outer]
    if levelled:
        key_columns += ["variable", "variable_level"]
    key_of = (list(view[key_columns].itertuples(index=False, name=None))
              if key_columns and len(view) else [()] * len(view))
    keys = list(dict.fromkeys(key_of)) if len(view) else []
    group_level = view[f"{group_col}_level"].to_numpy(dtype=object) if group_col else None
    position: dict[tuple, int] = {}
    variable_level = view["variable_level"].to_numpy(dtype=object) if by_variable else None
    for i, key in enumerate(key_of):
        var_level = variable_level[i] if variable_level is not None else ""
        group = group_level[i] if group_level is not None else ""
        position.setdefault((key, group, var_level), i)
    all_first = groups.grouping is not None and groups.grouping.all is not None
    # the view's columns as arrays, read once: a cell is a few values of one row, and pandas'
    # per-value access (view[column].iat[i]) cost more than the rest of the layout
    counts = view["n"].to_numpy() if "n" in view else None
    shown: dict[str, np.ndarray] = {}

    def shown_value(name: str, i: int) -> Any:
        if name not in shown:
            shown[name] = view[f"{name}_fmt"].to_numpy(dtype=object)
        return shown[name][i]

    def cell_texts(key: tuple, templates: list[str]) -> tuple[list[str], float]:
        """The texts of a row, and its count for sorting (the all group's n, or the sum)."""
        texts, sort_n = [], 0.0
        for g, (level, _) in enumerate(groups.levels):
            for var_level, _ in variable_levels:
                i = position.get((key, level, var_level))
                n = float(counts[i]) if i is not None and counts is not None else np.nan
                if not np.isnan(n) and (not all_first or g == 0):
                    sort_n += n
                for template in templates:
                    stats = ({} if i is None else
                             {name: shown_value(name, i) for name in template_fields(template)})
                    texts.append(display.empty if i is None or any(v == "" for v in stats.values())
                                 else fill(template, stats))
        return texts, sort_n

    def zero(key: tuple) -> bool:
        found = [position.get((key, level, v)) for level, _ in groups.levels for v, _ in variable_levels]
        return counts is not None and all(i is None or not counts[i] for i in found)

    labels = {(c, level): label for c in other
              for level, label in zip(view[f"{c}_level"], view[f"{c}_label"])}

    def outer_heading(key: tuple) -> str:
        return ", ".join(labels.get((c, level), level) for c, level in zip(other[:-1], key))

    templates = [block.format] if block.format else [c.format for c in columns.cells]
    title = with_values(block.label, display.values) if block.label else analysis.name
    blank = [""] * _width(groups, variable_levels, columns)
    if method.calculation == "summary":
        out = [(blank, title, None, 0, False, "")]
        key = keys[0] if keys else ()
        for stat_row in block.statistics or display.summary_rows:
            texts, _ = cell_texts(key, [stat_row.format])
            out.append((_spread(texts, len(templates)), stat_row.label, None, 1, False, ""))
        return out
    heading = block.label is not None and (levelled or bool(other))
    entries = []
    for key in keys:
        if block.hide_zero and zero(key):
            continue
        texts, sort_n = cell_texts(key, templates)
        level = key[-1] if key else None
        if levelled:
            label = with_values(block.level_labels.get(level, level), display.values)
            depth = analysis.variables.index(key[-2]) if hierarchy else 0
            path = (*[k for k in key[len(other):-2] if k], level) if hierarchy else (level,)
        else:
            label = title
            if other:
                    label = block.level_labels.get(level, labels.get((other[-1], level), level))
            depth, path = 0, (level,)
        entries.append(dict(texts=texts, label=label, level=level, depth=depth, n=sort_n, path=path,
                            outer=outer_heading(key)))
    if block.sort == "frequency":
        entries = _by_frequency(entries)
    out = [(blank, title, None, 0, False, "")] if heading else []
    for entry in entries:
        bold = hierarchy and entry["depth"] == 0 and len(analysis.variables) > 1
        out.append((entry["texts"], entry["label"], entry["level"],
                    entry["depth"] + (1 if heading else 0), bold, entry["outer"]))
    return out


def _width(groups: _Groups, variable_levels: list, columns: Columns) -> int:
    return len(groups.levels) * len(variable_levels) * len(columns.cells)


def _spread(texts: list[str], cells: int) -> list[str]:
    """A summary row's one text per group into the group's cells (the first; others blank)."""
    out: list[str] = []
    for text in texts:
        out += [text] + [""] * (cells - 1)
    return out


def _by_frequency(entries: list[dict]) -> list[dict]:
    """Most frequent first (ties by label); in a hierarchy each level's children right under it,
    sorted the same way."""
    children: dict[tuple, list[dict]] = {}
    for entry in entries:
        children.setdefault(entry["path"][:-1], []).append(entry)

    def walk(parent: tuple) -> list[dict]:
        out = []
        for entry in sorted(children.get(parent, []), key=lambda e: (-e["n"], str(e["label"]))):
            out.append(entry)
            out += walk(entry["path"])
        return out

    return walk(())


# --------------------------------------------------------------------------------------------
# Listings


def _listing(event: ReportingEvent, display: Display, datasets: Mapping[str, pd.DataFrame]) -> dict:
    from .ard import _Data

    assert display.dataset is not None
    data = _Data(event, datasets)
    frame = data.frame(display.dataset, display, "dataset")
    keep = np.ones(len(frame), dtype=bool)
    used = [display.dataset]
    if display.analysis_set is not None:
        analysis_set = event.analysis_sets[display.analysis_set]
        subjects = data.subject_rows(display.dataset, analysis_set.dataset, display)
        in_set = data.mask(analysis_set, analysis_set.dataset, analysis_set.dataset)
        keep &= (subjects >= 0) & in_set[np.maximum(subjects, 0)]
        if analysis_set.dataset not in used:
            used.append(analysis_set.dataset)
    if display.data_subset is not None:
        subset = event.data_subsets[display.data_subset]
        subjects_name = (event.analysis_sets[display.analysis_set].dataset
                         if display.analysis_set else display.dataset)
        keep &= data.mask(subset, display.dataset, subjects_name)
    missing = [c.variable for c in display.variables if c.variable not in frame.columns]
    missing += [v for v in display.order if v not in frame.columns]
    if missing:
        raise SpecError([display.problem(f"no variable {', '.join(dict.fromkeys(missing))} in "
                                         f"dataset {display.dataset}", "variables")])
    chosen = frame.loc[keep]
    if display.order:
        chosen = chosen.sort_values(display.order, kind="stable", na_position="last")
    texts = [_listing_text(chosen[c.variable]) for c in display.variables]
    rows = [list(row) for row in zip(*texts)] if len(chosen) else []
    return dict(population=(f"Population: {event.analysis_sets[display.analysis_set].label}"
                            if display.analysis_set else ""),
                headers=[[(c.header, 1) for c in display.variables]], rows=rows,
                widths=[c.width for c in display.variables],
                align=["l"] * len(display.variables), datasets=used)


def _listing_text(values: pd.Series) -> list[str]:
    """A listed variable as text: dates as ISO dates, whole numbers without decimals."""
    if pd.api.types.is_datetime64_any_dtype(values):
        times = values.dt
        whole_days = bool(((times.hour == 0) & (times.minute == 0) & (times.second == 0)).all())
        shown = values.dt.strftime("%Y-%m-%d" if whole_days else "%Y-%m-%dT%H:%M")
        return shown.fillna("").tolist()
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
        whole = numbers.notna() & (numbers % 1 == 0) & (numbers.abs() < 1e15)
        text = numbers.astype(str).astype(object).where(numbers.notna(), "")
        text[whole] = numbers[whole].astype("int64").astype(str)
        return text.tolist()
    return values.fillna("").astype(str).str.strip().tolist()
