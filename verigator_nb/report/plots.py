"""Charts of the analysis tables: each function takes a table (or per-session values) from
``verigator_nb.analysis`` (or the same-shaped ones from ``analysis.scale``) and returns a new
``matplotlib.figure.Figure``.

Figures are built with the object API (``Figure()``, never ``pyplot``), so nothing is shown,
nothing is registered with pyplot's global state and nothing needs closing; they render with
the Agg backend on a machine without a display (``fig.savefig(buffer, format="png")``).
Labels taken from the data are shown literally (a ``$`` in a country name is not mathtext).

The rate charts carry hover texts (each point's or bar's group, period, rate, interval and
n) on their artists, which the HTML report shows as SVG tooltips; a PNG shows none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from verigator_nb.report import _hover
from verigator_nb.report._format import percent

__all__ = [
    "plot_attempts",
    "plot_breakdown",
    "plot_cusum",
    "plot_funnel",
    "plot_p_chart",
    "plot_rate_by_group",
    "plot_rate_over_time",
    "plot_time_to_verify",
]

# The value columns of the analysis tables (every other column is a group).
_METRIC_COLUMNS = frozenset(
    {"n", "successes", "rate", "ci_low", "ci_high", "share", "total", "dropout", "period"}
    | {"center", "lcl", "ucl", "signal"}  # a p-chart's (``analysis.p_chart``)
)
_SIZE = (7.0, 3.6)


def _text(value: object) -> str:
    """A data value as a literal label: missing shows as "(none)", ``$`` is not mathtext."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "(none)"
    return str(value).replace("$", r"\$")


def _plain(value: object) -> str:
    """A data value as hover text: as it is, missing as "(none)"."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "(none)"
    return str(value)


def _group_columns(table: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    return [c for c in table.columns if c not in _METRIC_COLUMNS and c not in exclude]


def _labels(
    table: pd.DataFrame, columns: list[str], show: Callable[[object], str] = _text
) -> list[str]:
    if not columns:
        return ["all"] * len(table)
    parts = [table[column].astype(object).map(show) for column in columns]
    return [", ".join(row) for row in zip(*parts, strict=True)]


def _new(title: str, *, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(_SIZE[0] * (1 if ncols == 1 else 1.5), _SIZE[1]), layout="constrained")
    axes = [figure.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    figure.suptitle(_text(title))
    return figure, axes


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)


def plot_rate_over_time(
    table: pd.DataFrame, *, title: str = "Session success rate", ylabel: str = "rate"
) -> Figure:
    """A rate table with a ``period`` column as lines (one per group) with 95 % bands.

    Examples:
        >>> table = pd.DataFrame({"period": pd.to_datetime(["2024-05-06", "2024-05-13"],
        ...     utc=True), "rate": [0.6, 0.7], "ci_low": [0.5, 0.6], "ci_high": [0.7, 0.8]})
        >>> len(plot_rate_over_time(table).axes[0].get_lines())
        1
    """
    figure, (ax,) = _new(title)
    groups, x = _group_columns(table), _period_starts(table)
    texts, drawn = _hover_texts(table, groups), _drawn(table, x)
    for label, rows in _series(table, groups):
        (line,) = ax.plot(x[rows], table["rate"][rows], marker="o", label=label)
        _hover.attach(line, texts[rows & drawn].tolist())
        band = (table["ci_low"][rows], table["ci_high"][rows])
        ax.fill_between(x[rows], *band, color=line.get_color(), alpha=0.2)
    _finish_over_time(figure, ax, table, groups, ylabel, _rate_limits(table))
    return figure


def plot_p_chart(table: pd.DataFrame, *, title: str = "p-chart", ylabel: str = "rate") -> Figure:
    """An ``analysis.p_chart`` table: per group, the rate per period, its centre line and its
    control limits (wider on quieter periods); periods outside them marked red."""
    figure, (ax,) = _new(title)
    groups, x = _group_columns(table), _period_starts(table)
    texts, drawn = _hover_texts(table, groups, limits=True), _drawn(table, x)
    for label, rows in _series(table, groups):
        (line,) = ax.plot(x[rows], table["rate"][rows], marker="o", markersize=3, label=label)
        _hover.attach(line, texts[rows & drawn].tolist())
        colour = line.get_color()
        ax.plot(x[rows], table["center"][rows], color=colour, linestyle="--", linewidth=1)
        for limit in ("lcl", "ucl"):
            ax.step(x[rows], table[limit][rows], where="mid", color=colour, linewidth=0.8)
        flagged = rows & (table["signal"] != "").to_numpy()
        ax.scatter(x[flagged], table["rate"][flagged], color="tab:red", zorder=3, s=30)
    low, high = np.fmin(table["lcl"], table["rate"]), np.fmax(table["ucl"], table["rate"])
    shown = pd.DataFrame({"ci_low": low, "ci_high": high})  # the limits and every point
    _finish_over_time(figure, ax, table, groups, ylabel, _rate_limits(shown))
    return figure


def plot_cusum(
    table: pd.DataFrame, *, by: str, title: str = "Bernoulli CUSUM of conversion"
) -> Figure:
    """An ``analysis.cusum`` table: each group's statistic at the end of each day as a share
    of its own h, so every group's alarm line is the same 1.0; days that signalled in red.
    Groups without a chart (a ``note``) are left out."""
    figure, (ax,) = _new(title)
    charted = table[table["h"].notna()]
    for key, rows in charted.groupby(by, dropna=False, sort=True):
        days = pd.to_datetime(rows["period"])
        share = (rows["peak"] / rows["h"]).to_numpy()
        ax.plot(days, share, marker="o", markersize=2, linewidth=1, label=_text(key))
        flagged = rows["signal"].to_numpy(dtype=bool)
        ax.scatter(days[flagged], share[flagged], color="tab:red", zorder=3, s=30)
    if charted.empty:
        _no_data(ax)
    ax.axhline(1.0, color="tab:red", linestyle="--", linewidth=1)
    top = float((charted["peak"] / charted["h"]).max()) if len(charted) else 0.0
    ax.set_ylim(0, max(1.2, top * 1.05))
    ax.set_xlabel("day (UTC)")
    ax.set_ylabel("day's peak of S ÷ h (alarm at 1)")
    if not charted.empty:
        ax.legend(title=by, fontsize="small", ncols=2)
    figure.autofmt_xdate()
    return figure


def _period_starts(table: pd.DataFrame) -> pd.Series:
    """The ``period`` column as naive UTC times, which matplotlib draws."""
    return pd.to_datetime(table["period"], utc=True).dt.tz_localize(None)


def _drawn(table: pd.DataFrame, x: pd.Series) -> npt.NDArray[np.bool_]:
    """The rows a line draws a marker for: a period and a rate (matplotlib skips NaN)."""
    return (x.notna() & pd.to_numeric(table["rate"], errors="coerce").notna()).to_numpy()


def _hover_texts(
    table: pd.DataFrame, groups: list[str], *, limits: bool = False
) -> npt.NDArray[np.object_]:
    """Each row's hover text, in the tables' formats: its group and period, the rate with its
    95 % interval (with ``limits``, a p-chart's control limits and signal instead), and n."""
    where = [_labels(table, groups, _plain)] if groups else []
    if "period" in table:
        starts = _period_starts(table).dropna()
        daily = bool((starts == starts.dt.normalize()).all())
        shown = _period_starts(table).dt.strftime("%Y-%m-%d" if daily else "%Y-%m-%d %H:%M")
        where.append(shown.fillna("(none)").tolist())
    places = [", ".join(parts) for parts in zip(*where, strict=True)] if where else None
    counts = [f", n = {n:,}" for n in table["n"]] if "n" in table else [""] * len(table)
    low, high = table["lcl" if limits else "ci_low"], table["ucl" if limits else "ci_high"]
    notes = table["signal"].map(lambda s: f"; {s}" if s else "") if limits else [""] * len(table)
    texts = [
        f"{place}: {percent(rate)}{count}; limits {percent(lo)} – {percent(hi)}{note}"
        if limits
        else f"{place}: {percent(rate)} ({percent(lo)} – {percent(hi)}){count}"
        for place, rate, count, lo, hi, note in zip(
            places or ["all"] * len(table), table["rate"], counts, low, high, notes, strict=True
        )
    ]
    return np.array(texts, dtype=object)


def _series(table: pd.DataFrame, groups: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Each group's label and the mask of its rows, in the order groups first appear."""
    labels = pd.Series(_labels(table, groups), index=table.index)
    for label in dict.fromkeys(labels):
        yield label, (labels == label).to_numpy()


def _finish_over_time(
    figure: Figure,
    ax: Axes,
    table: pd.DataFrame,
    groups: list[str],
    ylabel: str,
    limits: tuple[float, float],
) -> None:
    """A rate-by-period chart's axes: the rate axis in percent within ``limits``, the UTC
    period starts, and a legend of the groups."""
    if table.empty:
        _no_data(ax)
    ax.set_ylim(*limits)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("period start (UTC)")
    ax.set_ylabel(_text(ylabel))
    if groups and not table.empty:
        ax.legend(title=", ".join(groups), fontsize="small")
    figure.autofmt_xdate()


def _rate_limits(table: pd.DataFrame) -> tuple[float, float]:
    """The rate axis around the intervals shown (a tenth of their span either side, at
    least 2 points), within 0–100 %: a 94 % rate moving by 2 points is a flat line on a full
    0–100 % axis. The axis says where it starts; nobody reads it as starting at zero."""
    values = pd.concat([table.get("ci_low", pd.Series()), table.get("ci_high", pd.Series())])
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return 0.0, 1.02
    low, high = float(values.min()), float(values.max())
    pad = max((high - low) / 10, 0.02)
    return max(0.0, low - pad), min(1.02, high + pad)


def plot_rate_by_group(
    table: pd.DataFrame, *, title: str = "Fallback rate by country", ylabel: str = "rate"
) -> Figure:
    """A rate table without periods as horizontal bars with 95 % interval whiskers."""
    figure, (ax,) = _new(title)
    labels = _labels(table, _group_columns(table))
    rate = table["rate"].to_numpy(dtype=float)
    low = np.nan_to_num(rate - table["ci_low"].to_numpy(dtype=float))
    high = np.nan_to_num(table["ci_high"].to_numpy(dtype=float) - rate)
    y = np.arange(len(table))
    bars = ax.barh(y, np.nan_to_num(rate), xerr=[low, high], capsize=3, color="tab:blue")
    for bar, text in zip(bars, _hover_texts(table, _group_columns(table)), strict=True):
        _hover.attach(bar, [text])
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(_text(ylabel))
    for position, count in zip(y, table["n"], strict=True):
        ax.annotate(f"n={count:,}", (1.0, position), ha="right", va="center", fontsize="small")
    if table.empty:
        _no_data(ax)
    return figure


def plot_breakdown(table: pd.DataFrame, category: str, *, title: str = "Verify outcomes") -> Figure:
    """A breakdown table (``verify_outcomes``, ``verify_errors``, ``session_endings``...) as
    bars of ``n`` per ``category`` value, groups summed, each labelled with its share of
    the denominator (the groups' ``total``)."""
    figure, (ax,) = _new(title)
    counts = table.groupby(category, sort=False, dropna=False)["n"].sum()
    counts = counts.sort_values(ascending=True)
    groups = _group_columns(table, [category])
    firsts = table.drop_duplicates(groups) if groups else table.head(1)
    total = int(firsts["total"].sum())
    y = np.arange(len(counts))
    ax.barh(y, counts.to_numpy(), color="tab:red")
    ax.set_yticks(y, [_text(value) for value in counts.index])
    ax.set_xlabel("count")
    ax.set_xlim(0, max(1, counts.max() if len(counts) else 1) * 1.2)
    for position, count in zip(y, counts, strict=True):
        share = f" {count / total:.1%} of {total:,}" if total else ""
        ax.annotate(share, (count, position), va="center", fontsize="small")
    if counts.empty:
        _no_data(ax)
    return figure


def _quantile_marks(ax: Axes, values: npt.NDArray[np.float64], unit: str) -> None:
    for name, q, style in (("p50", 0.5, "--"), ("p90", 0.9, ":")):
        mark = float(np.quantile(values, q))
        ax.axvline(mark, color="black", linestyle=style, label=f"{name} = {mark:,.1f} {unit}")
    ax.legend(fontsize="small")


def plot_time_to_verify(
    seconds: pd.Series | npt.ArrayLike, *, title: str = "Time to verify"
) -> Figure:
    """Per-session seconds (``verified_sessions(...)["seconds"]``) as a histogram and an ECDF,
    both marked at p50 and p90."""
    values = pd.Series(seconds, dtype="float64").dropna().to_numpy()
    figure, (hist, ecdf) = _new(title, ncols=2)
    if len(values) == 0:
        _no_data(hist)
        _no_data(ecdf)
        return figure
    upper = float(np.quantile(values, 0.995))
    hist.hist(values, bins=50, range=(min(0.0, values.min()), upper), color="tab:green")
    hist.set_xlabel("seconds (up to p99.5)")
    hist.set_ylabel("sessions")
    levels = np.linspace(0, 1, 501)
    ecdf.plot(np.quantile(values, levels), levels, drawstyle="steps-post", label="ECDF")
    ecdf.yaxis.set_major_formatter(PercentFormatter(1.0))
    ecdf.set_xlabel("seconds")
    ecdf.set_ylabel("share of verified sessions")
    for ax in (hist, ecdf):
        _quantile_marks(ax, values, "s")
    return figure


def plot_attempts(attempts: pd.Series | npt.ArrayLike, *, title: str = "Attempts") -> Figure:
    """Per-session attempts (``verified_sessions(...)["attempts"]``) as bars per attempt count."""
    figure, (ax,) = _new(title)
    counts = pd.Series(attempts, dtype="Float64").dropna().astype("int64").value_counts()
    counts = counts.sort_index()
    ax.bar(counts.index.astype(str), counts.to_numpy(), color="tab:purple")
    ax.set_xlabel("attempts to success")
    ax.set_ylabel("verified sessions")
    if counts.empty:
        _no_data(ax)
    return figure


def plot_funnel(table: pd.DataFrame, *, title: str = "Verification funnel") -> Figure:
    """A ``funnel`` table as bars per stage (groups summed), labelled with the share of
    initiated sessions and the drop-out from the stage before."""
    figure, (ax,) = _new(title)
    counts = table.groupby("stage", observed=True, sort=True)["n"].sum()
    y = np.arange(len(counts))
    ax.barh(y, counts.to_numpy(), color="tab:blue")
    ax.set_yticks(y, [_text(stage) for stage in counts.index])
    ax.invert_yaxis()
    ax.set_xlabel("sessions")
    ax.set_xlim(0, max(1, counts.max() if len(counts) else 1) * 1.4)
    first = counts.iloc[0] if len(counts) else 0
    for step, (position, count) in enumerate(zip(y, counts, strict=True)):
        note = f" {count:,} ({count / first:.1%})" if first else f" {count:,}"
        if step and counts.iloc[step - 1]:
            note += f", dropout {1 - count / counts.iloc[step - 1]:.1%}"
        ax.annotate(note, (count, position), va="center", fontsize="small")
    if not counts.any():  # no stages, or no session initiated: zero bars say nothing
        _no_data(ax)
    return figure
