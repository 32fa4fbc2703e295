"""Bar charts drawn on the server as inline SVG: no script, no outside files. Each bar links
to the cases it counts; every number is also written in the table beside the chart."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 760, 220
TOP, BOTTOM, LEFT, RIGHT = 16, 34, 44, 8  # room for the values above and the labels below


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar (a month)
    text: str  # the value as written ("42", "87 %")
    title: str  # what a screen reader and a tooltip say
    href: str
    x: float
    y: float
    width: float
    height: float

    @property
    def centre(self) -> float:
        return round(self.x + self.width / 2, 1)

    @property
    def value_y(self) -> float:
        return round(self.y - 4, 1)


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    bars: list[Bar]
    ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def baseline(self) -> float:
        return self.height - BOTTOM

    @property
    def label_y(self) -> float:
        return self.baseline + 14

    @property
    def left(self) -> int:
        return LEFT

    @property
    def tick_x(self) -> int:
        return LEFT - 4

    @property
    def right(self) -> int:
        return self.width - RIGHT


def bar_chart(
    id: str,
    title: str,
    description: str,
    items: list[tuple[str, float | None, str, str, str]],
    *,
    top: float | None = None,
    tick_format=str,
) -> Chart:
    """A chart of (label, value, text, title, href) items; a None value draws no bar. `top`
    is the scale's maximum (else the largest value)."""
    plot_height = HEIGHT - TOP - BOTTOM
    plot_width = WIDTH - LEFT - RIGHT
    largest = max((v for _l, v, *_rest in items if v is not None), default=0)
    top = top if top is not None else (largest or 1)
    slot = plot_width / max(len(items), 1)
    gap = min(slot * 0.25, 12)
    bars = []
    for index, (label, value, text, bar_title, href) in enumerate(items):
        height = 0.0 if value is None else plot_height * min(value, top) / top
        bars.append(
            Bar(
                label=label,
                text=text,
                title=bar_title,
                href=href,
                x=round(LEFT + index * slot + gap / 2, 1),
                y=round(HEIGHT - BOTTOM - height, 1),
                width=round(slot - gap, 1),
                height=round(height, 1),
            )
        )
    ticks = [
        Tick(round(HEIGHT - BOTTOM - plot_height * part, 1), tick_format(top * part))
        for part in (0, 0.5, 1)
    ]
    return Chart(id, title, description, bars, ticks)
