"""Shared machinery of the ipywidgets panels: guarded callbacks, confirmation, static HTML.

Every button and observer callback of a panel runs through `Panel.act`, which

- reopens a workspace closed since the panel was built (a notebook ending in ``ws.close()``
  leaves its panels usable after "Run All"),
- shows any error in the panel's status line: an ``MlmkitError`` as its message, anything
  else as its type and message, never lost in the kernel's log,
- with ``verbose=True``, also shows the mlmkit log records the action emitted (alerts fired
  by a rollback, for example); otherwise they stay out of the notebook.
"""

from __future__ import annotations

import html
import logging
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mlmkit._lazy import require
from mlmkit.exceptions import MlmkitError

if TYPE_CHECKING:
    from mlmkit.workspace import Workspace

_ERROR = "color:#c0392b"
_OK = "color:#28a745"


def widgets() -> ModuleType:
    """The ``ipywidgets`` module."""
    return require("ipywidgets", "viz")


def frame_html(frame: Any, *, max_rows: int = 20) -> str:
    """A polars frame as a small HTML table (first ``max_rows`` rows)."""
    if frame is None or getattr(frame, "height", 0) == 0:
        return "<p><i>none</i></p>"
    return str(frame.head(max_rows)._repr_html_())


class _Records(logging.Handler):
    """Collects the records of the ``mlmkit`` logger while an action runs."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Panel:
    """Base: ``widget`` (an ipywidgets box), a ``status`` line, guarded callbacks, static HTML.

    Subclasses call `_setup` first, wire every widget callback with `on_click` /
    `observe`, and put [`status`][mlmkit.services.experiments.Rollout.status] in their box.
    """

    title = "mlmkit panel"
    widget: Any
    ws: Workspace
    status: Any
    verbose: bool
    #: The exception of the last failed action (``None`` after a success).
    last_error: BaseException | None

    def _setup(self, ws: Workspace, *, verbose: bool) -> None:
        self.ws, self.verbose, self.last_error = ws, bool(verbose), None
        self.status = widgets().HTML()

    # ------------------------------------------------------------------ guarded callbacks
    def act(self, label: str, action: Callable[[], str | None]) -> str | None:
        """Run ``action`` as a widget callback does, reporting its outcome in `status`.

        A closed workspace file is reopened first. A returned message is shown in green; an
        error is shown in red (``"<label> refused: …"`` for an ``MlmkitError``,
        ``"<label> failed: Type: …"`` for anything else) and kept in `last_error`.
        """
        logger = logging.getLogger("mlmkit")
        records = _Records()
        logger.addHandler(records)
        try:
            if self.ws.closed:
                self.ws.reopen()
            message = action()
        except MlmkitError as err:
            self._failed(label, "refused", str(err), err, records)
            return None
        # A widget callback is the UI's top level: an error re-raised here would end in the
        # kernel's log, where nobody reads it; the status line shows it instead.
        except Exception as err:
            self._failed(label, "failed", f"{type(err).__name__}: {err}", err, records)
            return None
        finally:
            logger.removeHandler(records)
        failed_before, self.last_error = self.last_error is not None, None
        if message is not None:
            self.status.value = f"<span style='{_OK}'>{html.escape(message)}</span>"
        elif failed_before:
            self.status.value = ""
        self.status.value += self._log_html(records)
        return message

    def on_click(self, button: Any, label: str, action: Callable[[], str | None]) -> None:
        """Call ``action`` (through `act`) when ``button`` is clicked."""
        button.on_click(lambda _: self.act(label, action))

    def observe(self, widget: Any, label: str, action: Callable[[], str | None]) -> None:
        """Call ``action`` (through `act`) when ``widget``'s value changes."""
        widget.observe(lambda _: self.act(label, action), names="value")

    def _failed(self, label: str, verb: str, text: str, err: BaseException,
                records: _Records) -> None:
        self.last_error = err
        body = (f"<span style='{_ERROR}'>{html.escape(label)} {verb}: "
                f"{html.escape(text)}</span>")
        if self.verbose and not isinstance(err, MlmkitError):
            trace = "".join(traceback.format_exception(err))
            body += (f"<details><summary>traceback</summary><pre>{html.escape(trace)}</pre>"
                     "</details>")
        self.status.value = body + self._log_html(records)

    def _log_html(self, records: _Records) -> str:
        if not self.verbose or not records.records:
            return ""
        lines = "".join(f"<li>{html.escape(r.levelname)} {html.escape(r.name)}: "
                        f"{html.escape(r.getMessage())}</li>" for r in records.records)
        return f"<ul class='mlmkit-log'>{lines}</ul>"

    # ------------------------------------------------------------------ display
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


class ConfirmAction:
    """An action button that asks for confirmation before calling ``action``.

    Clicking ``button`` reveals ``confirm`` / ``cancel``; clicking ``confirm`` runs
    ``action()`` through the panel's `Panel.act` (its message or error lands in the
    panel's status line).
    """

    def __init__(self, panel: Panel, label: str, action: Callable[[], str], *,
                 style: str = "warning") -> None:
        w = widgets()
        self.label, self.action, self.panel = label, action, panel
        self.button = w.Button(description=label, button_style=style,
                               layout=w.Layout(width="auto"))
        self.confirm = w.Button(description=f"Confirm: {label}", button_style="danger",
                                layout=w.Layout(display="none", width="auto"))
        self.cancel = w.Button(description="Cancel", layout=w.Layout(display="none"))
        panel.on_click(self.button, label, lambda: self._arm(True))
        panel.on_click(self.cancel, label, lambda: self._arm(False))
        panel.on_click(self.confirm, label, self._run)
        self.box = w.HBox([self.button, self.confirm, self.cancel])

    @property
    def armed(self) -> bool:
        """Whether the confirmation buttons are showing."""
        return bool(self.confirm.layout.display != "none")

    def _arm(self, on: bool) -> str | None:
        self.confirm.layout.display = None if on else "none"
        self.cancel.layout.display = None if on else "none"
        return f"{self.label}: confirm or cancel." if on else None

    def _run(self) -> str:
        self._arm(False)
        return self.action()
