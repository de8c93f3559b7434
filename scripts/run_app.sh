#!/usr/bin/env bash
# Set up .venv if needed, then start the web app (http://localhost:8501). Extra args go to streamlit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh app
exec .venv/bin/streamlit run app.py "$@"
