"""Live demos: a matplotlib figure redrawn in place when a slider moves (ipywidgets).

``LiveFigure(draw, controls)`` owns one figure that never goes through pyplot: ``draw(fig, **values)``
redraws it, the figure is rendered to PNG and written into one ``ipywidgets.Image``, so a slider
updates the picture in place (no flicker, no new output). Each update's wall-clock time is kept in
``last_seconds`` and its CPU time in ``last_cpu_seconds`` (the cost of the redraw itself, which a
busy shared machine does not inflate). In a static page (the book) widgets do not run: every notebook that uses one
also draws a static fallback figure right after it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["LiveFigure", "widgets_available"]


def widgets_available() -> bool:
    """True when ipywidgets can be imported (the live demos need it)."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class LiveFigure:
    """A figure redrawn in place by ``draw(fig, **values)`` whenever one of ``controls`` changes.

    draw: a function drawing on the (cleared) ``matplotlib.figure.Figure`` it is given, with one
    keyword argument per control. controls: {name: ipywidgets value widget} (a slider, a Play...).
    Display the object (or ``.widget``) in a notebook; ``update(**values)`` sets the controls from
    code and returns the seconds the redraw took. extra: more widgets shown beside the controls
    (e.g. an ``ipywidgets.Play`` linked to a slider).
    """

    def __init__(
        self,
        draw: Callable,
        controls: Mapping,
        *,
        figsize=(7.0, 3.5),
        dpi: int = 72,
        extra: tuple = (),
    ):
        if not callable(draw):
            raise ValueError("draw must be a function draw(fig, **values) that draws on fig.")
        if not isinstance(controls, Mapping) or not controls:
            raise ValueError("controls must be a non-empty dict {name: ipywidgets control}.")
        for name, control in controls.items():
            if not hasattr(control, "observe") or not hasattr(control, "value"):
                raise ValueError(
                    f"controls[{name!r}] must be an ipywidgets control with a .value (a slider), "
                    f"got {type(control).__name__}."
                )
        import ipywidgets as w

        self.draw, self.controls, self.dpi = draw, dict(controls), int(dpi)
        self.figure = Figure(figsize=figsize, dpi=self.dpi)
        FigureCanvasAgg(self.figure)
        self.image = w.Image(format="png")
        self.last_seconds = self.last_cpu_seconds = float("nan")
        self.updates = 0
        self.render()
        for control in self.controls.values():
            control.observe(lambda _change: self.render(), names="value")
        self.widget = w.VBox([w.HBox(list(extra) + list(self.controls.values())), self.image])

    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def render(self) -> float:
        """Redraw with the controls' current values; returns the seconds it took."""
        start, cpu_start = time.perf_counter(), time.process_time()
        self.figure.clear()
        self.draw(self.figure, **self.values())
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=self.dpi)
        self.image.value = buffer.getvalue()
        self.last_seconds = time.perf_counter() - start
        self.last_cpu_seconds = time.process_time() - cpu_start
        self.updates += 1
        return self.last_seconds

    def update(self, **values) -> float:
        """Move the controls from code (as a learner would with the mouse); returns the redraw's CPU
        seconds (the wall-clock seconds are in ``last_seconds``)."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(
                f"unknown control(s) {sorted(unknown)}; the controls are {sorted(self.controls)}."
            )
        before = self.updates
        for name, value in values.items():
            self.controls[name].value = value
        if self.updates == before:  # the value did not change: redraw anyway so the time is measured
            self.render()
        return self.last_cpu_seconds

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
