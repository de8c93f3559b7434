"""Streamlit-free helpers behind the web app's pages.

Everything here is plain Python (HTML strings, plotly figures, table rows, background jobs) so it
can be unit-tested without a browser; ``app.py`` and ``app_pages/`` only lay these out with Streamlit.
"""
