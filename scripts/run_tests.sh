#!/usr/bin/env bash
# Set up .venv (with test tools and chromium) if needed, then lint and run the test suite:
# unit tests, Streamlit AppTests and the headless-browser end-to-end test. Slow tests on the real
# data sets are left out; run them with: .venv/bin/pytest -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
echo "==> ruff"
.venv/bin/ruff check .
echo "==> pytest"
exec .venv/bin/python -m pytest -m "not slow" "$@"
