"""The hetrombopag ITP study's figures (itp_adam/studies/hetrombopag_itp/figures.py), drawn from
the summary frames of the shipped study.

Each figure is a 300 dpi PNG (the pixels matplotlib's own PNG writer gives) and an SVG copy,
byte-for-byte the same when drawn twice and without a date; the N under the axes are those of
the summaries, at their visits' weeks, and no text overlaps another; the thresholds and the
platelet unit are written with the signs (>= as U+2265, x10^9 in mathtext)."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from itp_adam.studies.hetrombopag_itp import figures
from itp_adam.studies.hetrombopag_itp.figures import (
    DPI,
    FIGURES,
    FORMATS,
    figure_files,
    platelet_figure,
    response_figure,
)


@pytest.fixture(scope="module")
def content(shipped_rendering):
    """The summary frames the figures are drawn from (``drawing.Summaries``): the content of
    the results provider's job, ``write_results`` on the shipped build (conftest.py, made once
    per session; this module's own deep copy)."""
    return shipped_rendering.job.content


def _draw(content, folder: Path, response: pd.DataFrame | None = None,
          platelets_too: bool = True) -> dict:
    """Draw both figures into ``folder`` (``platelets_too=False``: the response figure only):
    per stem, the files returned and the matplotlib figure."""
    drawn = {}
    save = figures._save

    def keep(fig, path):
        drawn[Path(path).stem] = {"figure": fig}
        return save(fig, path)

    folder.mkdir(parents=True, exist_ok=True)
    platelets, responses = (folder / stem for stem in FIGURES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(figures, "_save", keep)
        if platelets_too:
            drawn[platelets.name]["files"] = platelet_figure(content.study, content.platelets, platelets)
        drawn[responses.name]["files"] = response_figure(
            content.study, content.response if response is None else response, responses,
            content.confidence_level)
    return drawn


@pytest.fixture(scope="module")
def drawn(content, tmp_path_factory):
    return _draw(content, tmp_path_factory.mktemp("figures"))


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, at = [], 8
    while at < len(data):
        (size,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + size]
        assert struct.unpack(">I", data[at + 8 + size:at + 12 + size])[0] == zlib.crc32(kind + body)
        out.append((kind, body))
        at += 12 + size
    return out


def test_each_figure_is_a_png_then_an_svg_with_one_stem(drawn):
    assert FORMATS == (".png", ".svg")
    for stem in FIGURES:
        files = drawn[stem]["files"]
        assert [p.suffix for p in files] == [".png", ".svg"] and {p.stem for p in files} == {stem}
        assert files == figure_files(files[0].with_suffix("")) == figure_files(files[0])
        assert all(p.is_file() for p in files)


@pytest.mark.parametrize("stem", FIGURES)
def test_the_png_is_300_dpi_without_text_and_holds_the_figure(drawn, stem):
    from PIL import Image

    png = drawn[stem]["files"][0]
    chunks = _chunks(png.read_bytes())
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert not {b"tIME", b"tEXt", b"iTXt", b"zTXt"} & set(kinds)  # no date, no text at all
    per_metre = struct.unpack(">IIB", dict(chunks)[b"pHYs"])
    assert per_metre == (11811, 11811, 1)  # 300 dpi
    width, height = struct.unpack(">II", dict(chunks)[b"IHDR"][:8])
    fig_width, fig_height = drawn[stem]["figure"].get_size_inches()
    # the canvas is the figure's size at 300 dpi (matplotlib < 3.8 truncates, later rounds)
    assert abs(width - fig_width * DPI) < 1 and abs(height - fig_height * DPI) < 1
    assert 3000 <= width <= 6000 and 1500 <= height <= 4000
    with Image.open(png) as image:
        assert image.size == (width, height) and image.mode == "RGB"


def test_the_png_has_the_pixels_of_matplotlibs_own_writer(drawn, tmp_path):
    from PIL import Image

    fig = drawn["platelets_by_visit"]["figure"]
    fig.savefig(tmp_path / "matplotlib.png", dpi=DPI)
    with Image.open(tmp_path / "matplotlib.png") as theirs:
        theirs = np.asarray(theirs)
    with Image.open(drawn["platelets_by_visit"]["files"][0]) as ours:
        ours = np.asarray(ours)
    assert (theirs[..., 3] == 255).all()  # opaque: RGB loses nothing
    assert np.array_equal(theirs[..., :3], ours)


def test_drawing_twice_gives_the_same_bytes_and_the_svg_has_no_date(content, drawn, tmp_path):
    again = _draw(content, tmp_path / "again")
    for stem in FIGURES:
        for first, second in zip(drawn[stem]["files"], again[stem]["files"]):
            assert first.read_bytes() == second.read_bytes(), first.name
        svg = drawn[stem]["files"][1].read_text(encoding="utf-8")
        root = ET.fromstring(svg)
        assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
        assert "<dc:date>" not in svg and "Matplotlib" in svg


def _counts(fig) -> list:
    """The N under the axes: the texts turned by 90 degrees."""
    return [t for t in fig.texts if t.get_rotation() == 90]


def test_the_platelet_figure_shows_the_n_of_every_phase_and_visit(content, drawn):
    fig = drawn["platelets_by_visit"]["figure"]
    data = content.platelets.loc[content.platelets["group"].isin(content.study.itp_phase.labels)]
    expected = sorted((round((t - 1) / 7, 6), str(n)) for t, n in zip(data["target"], data["N"]))
    shown = sorted((round(t.get_position()[0], 6), t.get_text()) for t in _counts(fig))
    assert shown == expected
    rows = [t.get_text() for t in fig.texts if t.get_rotation() == 0]
    assert all(phase in rows for phase in content.study.itp_phase.labels)  # the row labels
    colors = {t.get_text(): t.get_color() for t in fig.texts if t.get_text() in content.study.itp_phase.labels}
    assert len(set(colors.values())) == len(colors)  # colour-keyed, as the lines


def test_the_response_figure_shows_the_n_of_every_point_once_per_group(content, drawn):
    fig = drawn["response_by_visit"]["figure"]
    windows = {w.avisitn: w.target for w in content.study.analysis_windows.windows}
    data = content.response.drop_duplicates(["group", "avisitn"])
    expected = sorted((round((windows[v] - 1) / 7, 6), str(n)) for v, n in zip(data["avisitn"], data["N"]))
    shown = sorted((round(t.get_position()[0], 6), t.get_text()) for t in _counts(fig))
    assert shown == expected  # the N is every criterion's: written once, under the last row
    bottom = min(ax.get_position().y0 for ax in fig.axes)
    assert all(t.get_window_extent().y1 / fig.dpi / fig.get_figheight() < bottom for t in _counts(fig))


def test_an_n_that_differs_between_criteria_is_shown_under_every_panel(content, tmp_path):
    response = content.response.copy()
    second = response["criterion"].ne(response["criterion"].iloc[0]) & response["avisitn"].eq(6)
    response.loc[second, "N"] += 1
    # only the response figure is looked at: the platelet one is not drawn
    fig = _draw(content, tmp_path, response, platelets_too=False)["response_by_visit"]["figure"]
    assert len(_counts(fig)) == len(response)
    rows = sorted({round(ax.get_position().y0, 6) for ax in fig.axes})
    assert len(rows) == len(content.study.response.criteria) == 2
    between = [t for t in _counts(fig) if t.get_position()[1] / fig.get_figheight() > rows[0]]
    assert len(between) == response["criterion"].eq(response["criterion"].iloc[0]).sum()


def _texts(fig) -> list:
    out = list(fig.texts)
    if fig._suptitle is not None:
        out.append(fig._suptitle)
    for ax in fig.axes:
        out += [ax.title, ax.xaxis.label, ax.yaxis.label] + list(ax.texts)
        for axis in (ax.xaxis, ax.yaxis):  # the tick labels drawn: in the view, visible
            low, high = sorted(axis.get_view_interval())
            out += [t.label1 for t in axis.get_major_ticks()
                    if t.label1.get_visible() and low <= t.get_loc() <= high]
        if ax.get_legend() is not None:
            out += list(ax.get_legend().get_texts()) + [ax.get_legend().get_title()]
    unique = {id(t): t for t in out}  # the suptitle is one of fig.texts too
    return [t for t in unique.values() if t.get_text() and t.get_visible()]


@pytest.mark.parametrize("stem", FIGURES)
def test_no_text_overlaps_another(drawn, stem):
    """Boxes of the texts (the N by their ink: a digit is 0.73 em high, the box 1.2 em)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = drawn[stem]["figure"]
    fig.set_dpi(100)
    renderer = FigureCanvasAgg(fig).get_renderer()  # the figure is closed: a canvas of its own
    fig.draw(renderer)
    texts = _texts(fig)
    boxes = [t.get_window_extent(renderer) for t in texts]
    counts = set(_counts(fig))
    for a in range(len(texts)):
        for b in range(a + 1, len(texts)):
            one, two = texts[a], texts[b]
            if not boxes[a].overlaps(boxes[b]):
                continue
            assert one in counts and two in counts, (one.get_text(), two.get_text())
            assert one.get_position()[1] == two.get_position()[1]  # on one line of N
            ink = 0.73 * figures.COUNT_SIZE / 72 * fig.dpi
            assert abs(boxes[a].x0 + boxes[a].x1 - boxes[b].x0 - boxes[b].x1) / 2 > ink + 1


def test_lines_put_an_n_too_close_to_the_last_on_the_next_line():
    assert figures._lines([0, 1, 2, 4, 4.5, 5], 1.0, 1.5) == [0, 1, 0, 0, 1, 2]
    assert figures._lines([], 1.0, 1.5) == []


def test_thresholds_and_unit_are_written_with_their_signs(drawn):
    for stem in FIGURES:
        words = [t.get_text() for t in _texts(drawn[stem]["figure"])]
        assert not [w for w in words if ">=" in w or "<=" in w or "x10" in w or "10^9" in w]
        assert any("\u2265" in w and r"$\times10^{9}$/L" in w for w in words)
    platelets = drawn["platelets_by_visit"]["figure"].axes[0]
    assert platelets.get_ylabel() == r"Platelet count ($\times10^{9}$/L), log scale"
