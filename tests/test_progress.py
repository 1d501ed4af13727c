"""The run's terminal progress: plain stage lines in logs, a bar redrawn in place on a terminal."""

import io

import pytest

from itp_adam.report.progress import Progress


def test_without_terminal_only_stage_lines_are_written():
    lines: list[str] = []
    progress = Progress(lines.append)
    out = progress.steps("sdtm", 2, lambda tick: (tick("DM"), tick("LB"), 42)[-1])
    assert out == 42
    assert lines == ["sdtm ..."]
    assert set(progress.timings) == {"sdtm"} and progress.timings["sdtm"] >= 0


def test_on_a_terminal_the_bar_fills_step_by_step_and_is_replaced_by_the_time():
    lines: list[str] = []
    terminal = io.StringIO()
    progress = Progress(lines.append, terminal)
    progress.steps("adam", 4, lambda tick: [tick(name) for name in ("ADSL", "ADAE", "ADLB", "X")])
    frames = terminal.getvalue().split("\r\033[K")
    # 24-character bar: 0/4 empty, 1/4 six '#', 2/4 twelve, 4/4 full; then the line is cleared
    assert frames[1] == "adam [" + "." * 24 + "] 0/4 "
    assert frames[2] == "adam [" + "#" * 6 + "." * 18 + "] 1/4 ADSL"
    assert frames[3] == "adam [" + "#" * 12 + "." * 12 + "] 2/4 ADAE"
    assert frames[5] == "adam [" + "#" * 24 + "] 4/4 X"
    assert frames[6] == ""  # cleared before the summary line
    assert len(lines) == 1 and lines[0].startswith("adam ... 4 done in ")


def test_a_failing_stage_clears_the_bar_and_records_no_time():
    terminal = io.StringIO()
    progress = Progress(lambda _: None, terminal)

    def fail(tick):
        tick("DM")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        progress.steps("sdtm", 3, fail)
    assert terminal.getvalue().endswith("\r\033[K")
    assert "sdtm" not in progress.timings


def test_a_single_stage_prints_its_name():
    lines: list[str] = []
    assert Progress(lines.append, io.StringIO()).stage("specs", lambda: "ok") == "ok"
    assert lines == ["specs ..."]
