"""The web app's pages (listed in app.py through ``st.navigation``) and the Streamlit pieces they
share: ``resources`` (models, the store, background jobs: one per server process), ``widgets``
(model and strategy pickers, captions) and ``views`` (a prediction's result view, table columns).

The folder is deliberately not called ``pages/``: Streamlit treats that name specially (its legacy
folder navigation, which would list every file here as a page). Logic lives in ``longbert/``.
"""
