"""The Review page's keyboard: which key presses which button, and the listener that does it.

Each shortcut *clicks a button of the page* (found by its widget key, as Streamlit writes it in
the element's ``st-key-<key>`` class), so a key press and a click are one code path and a test
clicking the button tests the shortcut's effect. streamlit-shortcuts (1.2.2) works the same way,
but its listener also fires while one types in a text field -- here typing "2" in the batch
picker's search would save a label -- so the page uses this listener, which ignores keys typed
into inputs, text areas, selects and editable elements, and keys held with Ctrl/Alt/Meta.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

#: Widget keys of the page's buttons (letters, digits, ``_`` only: they become CSS classes).
ACCEPT_KEY = "review_accept"
PREVIOUS_KEY = "review_previous"
NEXT_KEY = "review_next"
UNDO_KEY = "review_undo"
#: Multi-label queues: save the labels toggled on (number keys toggle them).
SAVE_KEY = "review_save"
#: Number keys pick labels 1..9.
MAX_NUMBERED_LABELS = 9


def label_key(index: int) -> str:
    """The widget key of the button of label ``index`` (0-based)."""
    return f"review_label_{index}"


def bindings(labels: Sequence[str], multi_label: bool = False) -> dict[str, str]:
    """Key (as ``KeyboardEvent.key``, lower case) → widget key of the button it presses.

    Number keys press the label buttons: on a single-label queue that saves the label, on a
    multi-label one it toggles it, and S saves the labels toggled on."""
    keys = {str(i + 1): label_key(i) for i in range(min(len(labels), MAX_NUMBERED_LABELS))}
    keys.update({"enter": ACCEPT_KEY, "arrowleft": PREVIOUS_KEY, "arrowright": NEXT_KEY, "u": UNDO_KEY})
    if multi_label:
        keys["s"] = SAVE_KEY
    return keys


def key_hint(key: str) -> str:
    """How a key is written on its button."""
    return {"enter": "Enter", "arrowleft": "←", "arrowright": "→", "u": "U", "s": "S"}.get(key, key)


def listener_html(keys: dict[str, str]) -> str:
    """A script for ``st.html(..., unsafe_allow_javascript=True)`` (or an iframe of the app's
    origin: it reaches the app through ``window.parent``, which is the window itself at the top):
    one keydown listener on the app's document, replaced on every rerun so that the bindings
    follow the labels shown. It holds only key names and widget keys, never stored text."""
    return (
        """<script>
const doc = window.parent.document, host = window.parent;
const keys = """
        + json.dumps(keys)
        + """;
if (host.__longbertReviewKeys) doc.removeEventListener("keydown", host.__longbertReviewKeys);
host.__longbertReviewKeys = function (event) {
  if (event.ctrlKey || event.altKey || event.metaKey || event.repeat) return;
  const target = event.target;
  const fields = ["INPUT", "TEXTAREA", "SELECT"];
  if (target && (target.isContentEditable || fields.includes(target.tagName))) return;
  const widget = keys[event.key.toLowerCase()];
  if (!widget) return;
  const button = doc.querySelector(".st-key-" + widget + " button");
  if (!button || button.disabled) return;
  event.preventDefault();
  button.click();
};
doc.addEventListener("keydown", host.__longbertReviewKeys);
</script>"""
    )
