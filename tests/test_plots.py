"""Charts: the right axes, lines, bars and labels; Agg only; pyplot's state left alone."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tests._synthetic import synthetic_log
from verigator_nb import analysis, plots
from verigator_nb.schema import empty_frame


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return synthetic_log(4_000, seed=3, days=7)


def render(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def tick_labels(ax, axis: str = "y") -> list[str]:
    ticks = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in ticks]


def test_rate_over_time_draws_one_line_and_band_per_group(log) -> None:
    table = analysis.success_rate(log, by="method", period="D")
    figure = plots.plot_rate_over_time(table, title="Session success by day")
    (ax,) = figure.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["sms", "totp", "(none)"]
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 3
    assert figure.get_suptitle() == "Session success by day"
    assert ax.get_ylabel() == "rate" and ax.get_legend() is not None
    assert list(lines[0].get_ydata()) == table.loc[table["method"] == "sms", "rate"].tolist()
    assert render(figure).startswith(b"\x89PNG")


def test_rate_over_time_without_groups_has_one_line_and_no_legend(log) -> None:
    figure = plots.plot_rate_over_time(analysis.fallback_rate(log, period="D"))
    assert len(figure.axes[0].get_lines()) == 1 and figure.axes[0].get_legend() is None


def test_rate_by_group_draws_a_bar_per_group_with_literal_labels(log) -> None:
    hostile = log.assign(country=log["country"].replace({"EE": "E$E$", "LV": "<script>"}))
    table = analysis.fallback_rate(hostile, by="country")
    figure = plots.plot_rate_by_group(table)
    (ax,) = figure.axes
    assert len(bars(ax)) == len(table)
    labels = tick_labels(ax)
    assert labels[-1] == "(none)" and r"E\$E\$" in labels and "<script>" in labels
    render(figure)  # a "$" pair would fail here if it were parsed as mathtext


@pytest.mark.parametrize(
    ("metric", "by"), [("verify_outcomes", "country"), ("verify_errors", None)]
)
def test_a_breakdown_draws_a_bar_per_category_labelled_with_its_share(log, metric, by) -> None:
    category = analysis.METRICS[metric].category
    table = analysis.metric_table(log, metric, by=by)
    figure = plots.plot_breakdown(table, category, title=metric)
    (ax,) = figure.axes
    assert len(bars(ax)) == table[category].nunique() > 1
    assert sorted(tick_labels(ax)) == sorted(table[category].unique())
    assert sum(bar.get_width() for bar in bars(ax)) == table["n"].sum()
    total = table.drop_duplicates(by)["total"].sum() if by else table["total"].iloc[0]
    widest = max(bars(ax), key=lambda bar: bar.get_width()).get_width()
    notes = [text.get_text() for text in ax.texts]
    assert f" {widest / total:.1%} of {total:,}" in notes


def test_time_to_verify_marks_p50_and_p90_on_histogram_and_ecdf(log) -> None:
    seconds = analysis.verified_sessions(log)["seconds"]
    figure = plots.plot_time_to_verify(seconds)
    hist, ecdf = figure.axes
    assert len(bars(hist)) == 50
    p50, p90 = np.quantile(seconds, [0.5, 0.9])
    for ax in (hist, ecdf):
        marks = [line.get_xdata()[0] for line in ax.get_lines() if line.get_label()[:1] == "p"]
        assert marks == pytest.approx([p50, p90])
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert f"p50 = {p50:,.1f} s" in legend
    assert ecdf.get_lines()[0].get_label() == "ECDF"


def test_attempts_and_funnel_bars(log) -> None:
    attempts = analysis.verified_sessions(log)["attempts"]
    ax = plots.plot_attempts(attempts).axes[0]
    assert sum(bar.get_height() for bar in bars(ax)) == len(attempts)
    table = analysis.funnel(log)
    ax = plots.plot_funnel(table).axes[0]
    assert tick_labels(ax) == list(analysis.FUNNEL_STAGES)
    assert [bar.get_width() for bar in bars(ax)] == table["n"].tolist()


_EMPTY = empty_frame()


@pytest.mark.parametrize(
    "draw",
    [
        pytest.param(
            lambda: plots.plot_rate_over_time(analysis.success_rate(_EMPTY, period="D")),
            id="rate_over_time",
        ),
        pytest.param(
            lambda: plots.plot_rate_by_group(analysis.fallback_rate(_EMPTY, by="country")),
            id="rate_by_group",
        ),
        pytest.param(
            lambda: plots.plot_breakdown(analysis.verify_outcomes(_EMPTY), "result"),
            id="breakdown",
        ),
        pytest.param(
            lambda: plots.plot_time_to_verify(analysis.verified_sessions(_EMPTY)["seconds"]),
            id="time_to_verify",
        ),
        pytest.param(
            lambda: plots.plot_attempts(analysis.verified_sessions(_EMPTY)["attempts"]),
            id="attempts",
        ),
        pytest.param(
            lambda: plots.plot_funnel(analysis.funnel(_EMPTY)),
            id="funnel",
        ),
    ],
)
def test_empty_tables_give_a_figure_saying_no_data(draw) -> None:
    figure = draw()
    assert isinstance(figure, Figure)
    for ax in figure.axes:  # every panel says so, in its middle
        said = [t for t in ax.texts if t.get_text() == "no data"]
        assert len(said) == 1, [t.get_text() for t in ax.texts]
        assert said[0].get_position() == (0.5, 0.5) and said[0].get_transform() == ax.transAxes
    render(figure)


def test_figures_use_agg_and_leave_pyplot_alone(log) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figure = plots.plot_funnel(analysis.funnel(log))
    assert plt.get_fignums() == before and figure.canvas.manager is None
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_a_rate_over_time_axis_zooms_to_its_intervals() -> None:
    # 94 % moving by two points is a flat line on a 0-100 % axis.
    periods = pd.to_datetime(["2024-05-06", "2024-05-13", "2024-05-20"], utc=True)
    table = pd.DataFrame(
        {"period": periods, "rate": [0.94, 0.92, 0.95], "ci_low": [0.93, 0.91, 0.94],
         "ci_high": [0.95, 0.93, 0.96]}
    )  # fmt: skip
    low, high = plots.plot_rate_over_time(table).axes[0].get_ylim()
    assert 0.85 < low < 0.91 and 0.96 < high <= 1.02
    empty = table.iloc[:0]
    assert plots.plot_rate_over_time(empty).axes[0].get_ylim() == (0.0, 1.02)


def test_a_p_chart_draws_rate_centre_and_limits_per_group_and_marks_signals() -> None:
    from verigator_nb import analysis

    periods = pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"] * 2, utc=True)
    table = pd.DataFrame(
        {"method": ["sms"] * 3 + ["totp"] * 3, "period": periods,
         "n": [1000, 10, 1000, 500, 500, 500], "successes": [940, 7, 850, 480, 470, 250]}
    )  # fmt: skip
    table = analysis.p_chart(table.assign(rate=table["successes"] / table["n"]))
    ax = plots.plot_p_chart(table).axes[0]
    assert len(ax.get_lines()) == 2 * 4, "rate, centre, lower and upper limit per group"
    marked = sum(len(c.get_offsets()) for c in ax.collections)
    assert marked == int((table["signal"] != "").sum()) == 5  # sms high and low, totp all three
