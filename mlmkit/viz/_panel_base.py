"""Shared machinery of the ipywidgets panels: confirmation, status line, static HTML."""

from __future__ import annotations

import html
from collections.abc import Callable
from types import ModuleType
from typing import Any

from mlmkit._lazy import require


def widgets() -> ModuleType:
    """The ``ipywidgets`` module."""
    return require("ipywidgets", "viz")


def frame_html(frame: Any, *, max_rows: int = 20) -> str:
    """A polars frame as a small HTML table (first ``max_rows`` rows)."""
    if frame is None or getattr(frame, "height", 0) == 0:
        return "<p><i>none</i></p>"
    return str(frame.head(max_rows)._repr_html_())


class ConfirmAction:
    """An action button that asks for confirmation before calling ``action``.

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def __init__(self, label: str, action: Callable[[], str], status: Any, *,
                 style: str = "warning") -> None:
        w = widgets()
        self.label = label
        self.action = action
        self.status = status
        self.button = w.Button(description=label, button_style=style,
                               layout=w.Layout(width="auto"))
        self.confirm = w.Button(description=f"Confirm: {label}", button_style="danger",
                                layout=w.Layout(display="none", width="auto"))
        self.cancel = w.Button(description="Cancel", layout=w.Layout(display="none"))
        self.button.on_click(lambda _: self._arm(True))
        self.cancel.on_click(lambda _: self._arm(False))
        self.confirm.on_click(lambda _: self._run())
        self.box = w.HBox([self.button, self.confirm, self.cancel])

    @property
    def armed(self) -> bool:
        """Whether the confirmation buttons are showing."""
        return bool(self.confirm.layout.display != "none")

    def _arm(self, on: bool) -> None:
        self.confirm.layout.display = None if on else "none"
        self.cancel.layout.display = None if on else "none"
        if on:
            self.status.value = f"<b>{html.escape(self.label)}</b>: confirm or cancel."

    def _run(self) -> None:
        from mlmkit.exceptions import MlmkitError

        self._arm(False)
        try:
            message = self.action()
        except MlmkitError as err:
            self.status.value = (f"<span style='color:#c0392b'>{html.escape(self.label)} "
                                 f"refused: {html.escape(str(err))}</span>")
            return
        self.status.value = f"<span style='color:#28a745'>{html.escape(message)}</span>"


class Panel:
    """Base: ``widget`` (an ipywidgets box) plus a static HTML rendering for nbconvert."""

    title = "mlmkit panel"
    widget: Any

    def static_html(self) -> str:
        """The panel's current content as plain HTML (no widgets, no scripts)."""
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.static_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = f"<{type(self).__name__}>"
        return bundle

    def _section(self, title: str, body: str) -> str:
        return f"<h4>{html.escape(title)}</h4>{body}"

    def _frame(self, parts: list[str]) -> str:
        return (f"<div class='mlmkit-panel'><h3>{html.escape(self.title)}</h3>"
                + "".join(parts) + "</div>")
