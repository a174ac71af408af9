"""``PinEntry``: a PIN box and a Verify button whose submit carries the typed text itself.

Why not ``widgets.Text`` with ``on_submit``: the browser holds back a model's value updates while
an earlier one awaits the kernel, but sends the "submit" message (and a button's click) at once,
so text typed at machine speed is verified as an older value. Here the text travels inside the
submit message, so the kernel gets exactly what the box held when Enter or Verify was pressed.

The PIN is never widget state (which a notebook saves): the front end sends it in a custom
message and empties the box as it does. A message that is not a well-formed submit is ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import anywidget
import traitlets

__all__ = ["PinEntry"]

_MAX_LENGTH = 64  # longer than any PIN; a longer "submit" is not from this widget's box

# Reuses ipywidgets' own CSS classes (loaded with every widget) so it looks like Text + Button.
_ESM = """
export default {
  render({ model, el }) {
    const row = document.createElement("div");
    row.className = "jupyter-widget-inline-hbox verigator-pin";
    const box = document.createElement("div");
    box.className = "jupyter-widgets jupyter-widget-inline-hbox jupyter-widget-text";
    const label = document.createElement("label");
    label.className = "jupyter-widget-label";
    const input = document.createElement("input");
    Object.assign(input, {
      type: "text", className: "verigator-pin-input", maxLength: MAX_LENGTH,
      autocomplete: "one-time-code", inputMode: "numeric", spellcheck: false,
    });
    input.id = label.htmlFor = `verigator-pin-${Math.random().toString(36).slice(2)}`;
    const button = document.createElement("button");
    button.className = "jupyter-widgets jupyter-button jupyter-widget-button mod-success "
      + "verigator-pin-verify";
    button.textContent = "Verify";
    box.append(label, input);
    row.append(box, button);
    el.append(row);

    let refocus = false;  // the box is disabled while the kernel answers: focus comes back
    const show = () => {
      label.textContent = model.get("description");
      label.hidden = !label.textContent;
      input.placeholder = model.get("placeholder");
      input.disabled = button.disabled = model.get("disabled");
      if (!input.disabled && refocus) {
        refocus = false;
        input.focus();
      }
    };
    // The value goes with the event, so no value update can be overtaken.
    const submit = () => {
      if (input.disabled) return;
      model.send({ event: "submit", value: input.value });
      input.value = "";
      refocus = true;
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    });
    button.addEventListener("click", submit);
    model.on("msg:custom", (msg) => {
      if (msg?.event === "clear") input.value = "";
      // Text the kernel refused to send: back in the box, to be corrected.
      if (msg?.event === "restore" && typeof msg.value === "string" && input.value === "") {
        input.value = msg.value;
      }
    });
    for (const name of ["description", "placeholder", "disabled"]) {
      model.on(`change:${name}`, show);
    }
    show();
  },
};
""".replace("MAX_LENGTH", str(_MAX_LENGTH))


class PinEntry(anywidget.AnyWidget):
    """A PIN box and a Verify button; Enter or a click hands the typed text to ``on_submit``
    callbacks. ``submit(text)`` does the same from Python, for tests and notebooks.

    While ``disabled``, the box and button are off in the browser and submits are ignored.
    """

    max_length: ClassVar[int] = _MAX_LENGTH

    _esm = _ESM
    description = traitlets.Unicode("PIN", help="The label left of the box.").tag(sync=True)
    placeholder = traitlets.Unicode("", help="Grey text in the empty box.").tag(sync=True)
    disabled = traitlets.Bool(False, help="Box and button off; submits ignored.").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._callbacks: list[Callable[[str], object]] = []
        self.typed = ""  # typed from Python (a notebook cell, a test); never sent to the page
        self.from_page = False  # True while callbacks run for a submit from the browser
        self.on_msg(self._on_front_end_msg)

    def __repr__(self) -> str:
        return f"PinEntry(description={self.description!r}, disabled={self.disabled!r})"

    def on_submit(self, callback: Callable[[str], object], *, remove: bool = False) -> None:
        """Call ``callback(text)`` with the submitted text on every submit (``remove`` undoes)."""
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    def submit(self, text: str) -> bool:
        """Run the callbacks with ``text`` as a submit from the browser would; False (and no
        call) while ``disabled``. Raises ``TypeError``/``ValueError`` for text the box could not
        hold: not a str, or longer than ``max_length``. A callback's exception propagates."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        if len(text) > self.max_length:
            raise ValueError(f"text is longer than {self.max_length} characters")
        if self.disabled:  # a submit sent just before the kernel disabled the box
            return False
        for callback in list(self._callbacks):
            callback(text)
        return True

    def click(self) -> bool:
        """Press Verify from Python: submit what ``typed`` holds, emptying it first."""
        text, self.typed = self.typed, ""
        return self.submit(text)

    def restore(self, text: str) -> None:
        """Put ``text`` back in an empty box in every browser view (a submit the kernel
        refused, so the person can correct it rather than type it again)."""
        self.send({"event": "restore", "value": text[: self.max_length]})

    def clear(self) -> None:
        """Empty the box in every browser view showing it (a no-op with no front end)."""
        self.send({"event": "clear"})

    def _on_front_end_msg(self, _: PinEntry, content: object, buffers: object) -> None:
        if not isinstance(content, dict) or content.get("event") != "submit":
            return
        value = content.get("value")
        if isinstance(value, str) and len(value) <= self.max_length:
            self.from_page = True
            try:
                self.submit(value)
            finally:
                self.from_page = False
