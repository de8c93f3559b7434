"""Models: registered checkpoints with their metrics and configuration."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from longbert.config import models_dir
from longbert.ui import charts
from longbert.ui.models import scan_checkpoints
from pages import shared

shared.ensure_app_navigation()
st.title("Models")
store = shared.store()
checkpoints, problems = scan_checkpoints()
registered = {m.name: m for m in store.list_models()}
st.caption(f"Checkpoints are folders under `{models_dir()}` (set `LONGBERT_MODELS_DIR` to move "
           "them); trained models are also registered in the database with their metrics.")
for problem in problems:
    st.warning(f"Skipped a broken checkpoint: {problem}")

if not checkpoints:
    st.info(
        "No trained model yet. Label a batch with zero-shot labels, correct them, and train the "
        "first model on the **Train** page (or run `python -m longbert.train --help`). Until "
        "then, every page offers zero-shot labelling with the packaged default encoder."
    )


def _metrics(choice: Any) -> dict[str, Any]:
    metrics = dict(choice.metrics)
    name = choice.path.rsplit("/", 1)[-1] if choice.path else choice.key
    record = registered.get(name) or registered.get(choice.title.split(" — ")[0])
    if record is not None:
        metrics = {**record.metrics, **metrics}
    return metrics


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    """Top-level numeric metrics, and one level of nesting (``dev.macro_f1``)."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            flat[key] = float(value)
        elif isinstance(value, dict):
            for sub, inner in value.items():
                if isinstance(inner, int | float) and not isinstance(inner, bool):
                    flat[f"{key}.{sub}"] = float(inner)
    return flat


rows = []
for choice in checkpoints:
    flat = _flat(_metrics(choice))
    rows.append({
        "name": choice.title.split(" — ")[0], "labels": ", ".join(choice.labels),
        "strategy": (choice.strategy or {}).get("name"), "multi_label": choice.multi_label,
        "saved": choice.saved_at, "folder": choice.path,
        **{k: round(v, 4) for k, v in flat.items() if "f1" in k or "accuracy" in k},
    })
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="models:table")
    keys = sorted({k for r in rows for k in r if "f1" in k or "accuracy" in k})
    if keys:
        st.plotly_chart(
            charts.metrics_figure(
                [{"name": r["name"], "metrics": {k: r.get(k) for k in keys}} for r in rows],
                keys[:6]),
            key="models:metrics",
        )
    names = [r["name"] for r in rows]
    picked = st.selectbox("Details of", names, key="models:detail")
    choice = checkpoints[names.index(picked)]
    left, right = st.columns(2)
    with left:
        st.markdown("**Configuration**")
        st.json({"labels": list(choice.labels), "strategy": choice.strategy,
                 "encoder": choice.encoder, "multi_label": choice.multi_label,
                 "folder": choice.path, "saved_at": choice.saved_at}, expanded=True)
    with right:
        st.markdown("**Metrics and training metadata**")
        st.json(choice.metadata or {"metrics": "none recorded"}, expanded=1)

others = [m for m in registered.values() if m.folder is None or m.zero_shot]
if others:
    st.subheader("Other models seen in predictions")
    st.dataframe(pd.DataFrame([
        {"name": m.name, "kind": m.kind, "labels": ", ".join(m.labels),
         "first used": m.created_at.strftime("%Y-%m-%d %H:%M")} for m in others
    ]), hide_index=True, key="models:others")
