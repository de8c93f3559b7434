"""Models: registered checkpoints with their metrics and configuration."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from longbert.settings import models_dir
from longbert.ui import charts
from longbert.ui.models import checkpoint_row, is_score, metrics_title, scan_checkpoints
from longbert.ui.tables import table_frame
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


rows = [checkpoint_row(choice, registered) for choice in checkpoints]
if rows:
    frame = table_frame(rows, list(dict.fromkeys(k for r in rows for k in r)))
    st.dataframe(frame, hide_index=True, key="models:table", column_config=shared.column_config(
        frame, dev_docs=st.column_config.Column(
            "dev docs", help="Documents the metrics were measured on (the dev set)",
            alignment="right")))
    keys = sorted({k for r in rows for k in r if is_score(k)})
    if keys:
        st.plotly_chart(
            charts.metrics_figure(
                [{"name": r["name"], "metrics": {k: r.get(k) for k in keys}} for r in rows],
                keys[:6], title=metrics_title(rows)),
            key="models:metrics",
        )
        if any(r.get("dev_docs") is not None and r["dev_docs"] < 30 for r in rows):
            st.caption("Metrics from a dev set of a few dozen documents or fewer move a lot with "
                       "each document; treat them as a rough guide.")
    picked = st.selectbox("Details of", range(len(rows)), key="models:detail",
                          format_func=lambda i: f"{rows[i]['name']} ({rows[i]['folder']})")
    choice = checkpoints[picked]
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
