"""LongBERT web app: ``streamlit run app.py`` (or ``scripts/run_app.sh``).

Streamlit's ``st.navigation`` lists the pages, which live in ``app_pages/`` (a folder name
Streamlit does not treat specially); each page is a thin layout over ``longbert.ui`` helpers.
Settings come from the environment: ``LONGBERT_DB_URL`` (database, SQLite under db/ by default),
``LONGBERT_MODELS_DIR`` (checkpoints, models/ by default); the upload limit is Streamlit's
``server.maxUploadSize`` in .streamlit/config.toml.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # pages import `app_pages` and `longbert` from here
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="LongBERT", page_icon=":material/article:", layout="wide")

PAGES = {
    "Label": [
        st.Page("app_pages/classify.py", title="Classify", icon=":material/description:",
                default=True),
        st.Page("app_pages/batch.py", title="Batch label", icon=":material/library_books:"),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/compare:"),
    ],
    "Review": [
        st.Page("app_pages/review.py", title="Review queue", icon=":material/rate_review:"),
        st.Page("app_pages/history.py", title="History", icon=":material/history:"),
    ],
    "Models": [
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("app_pages/adapt.py", title="Adapt encoder", icon=":material/auto_stories:"),
        st.Page("app_pages/models.py", title="Models", icon=":material/deployed_code:"),
    ],
}

page = st.navigation(PAGES)
with st.sidebar:
    st.caption(
        "LongBERT classifies long documents with BERT — truncation, key sentences, chunking or "
        "sparse attention — and shows what the model read."
    )
page.run()
