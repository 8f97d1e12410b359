"""The member-count chart of a list: inline SVG geometry computed here, drawn by
``templates/web/lists/_chart.html`` (no script, no external asset)."""

from dataclasses import dataclass, field

from django.contrib.humanize.templatetags.humanize import intcomma

from loyalty_lists.lists.models import ListRunResult

from .templatetags.loyalty_web import absolute

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 30


@dataclass
class ChartPoint:
    x: float
    y: float
    size: int
    title: str
    outcome: str


@dataclass
class Chart:
    points: list[ChartPoint]
    summary: str
    width: int = WIDTH
    height: int = HEIGHT
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str, str]] = field(default_factory=list)  # x, text, text-anchor
    left: int = LEFT
    right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def _n(value: int) -> str:
    return intcomma(value, use_l10n=False)


def _title(result: ListRunResult, size: int) -> str:
    when = absolute(result.run.started_at)
    change = f"+{_n(result.added)} −{_n(result.removed)}"
    if result.outcome == ListRunResult.Outcome.HELD:
        note = f"held ({_n(result.removed)} removals waiting), {result.get_decision_display().lower()}"
    elif result.outcome == ListRunResult.Outcome.STALE:
        note = "skipped: the list is stale"
    else:
        note = change
    return f"Run #{result.run_id}, {when}: {_n(size)} members ({note})"


def member_count_chart(history: list[tuple[ListRunResult, int]]) -> Chart | None:
    """``history``: ``(ListRunResult, member count after the run)``, oldest first."""
    if not history:
        return None
    history = [(result, max(0, size)) for result, size in history]  # a count is never negative
    sizes = [size for _, size in history]
    low, high = min(sizes), max(sizes)
    if low == high:  # a flat series: draw it mid-height
        low, high = max(0, low - 1), low + 1
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = HEIGHT - TOP - BOTTOM
    step = inner_w / (len(history) - 1) if len(history) > 1 else 0

    def y_of(size: int) -> float:
        return TOP + inner_h * (high - size) / (high - low)

    points = []
    for index, (result, size) in enumerate(history):
        x = LEFT + step * index if len(history) > 1 else LEFT + inner_w / 2
        points.append(ChartPoint(x, y_of(size), size, _title(result, size), result.outcome))
    first, last = history[0], history[-1]
    if len(history) == 1:
        summary = f"Member count after the only run so far (#{first[0].run_id}): {_n(first[1])}."
    else:
        summary = (
            f"Member count over the last {len(history)} runs: {_n(first[1])} after run #{first[0].run_id}, "
            f"{_n(last[1])} after run #{last[0].run_id} (lowest {_n(min(sizes))}, highest {_n(max(sizes))})."
        )
    y_ticks = [(y_of(high), _n(high)), (y_of(low), _n(low))]
    x_ticks = [(points[0].x, absolute(first[0].run.started_at)[:16], "start")]
    if len(points) > 1:
        x_ticks.append((points[-1].x, absolute(last[0].run.started_at)[:16], "end"))
    return Chart(points=points, summary=summary, y_ticks=y_ticks, x_ticks=x_ticks)
