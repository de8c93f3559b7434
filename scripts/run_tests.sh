#!/usr/bin/env bash
# Set up .venv (with test tools, chromium and postgresql) if needed, then lint and run the test
# suite: unit tests, Streamlit AppTests, the store on a real PostgreSQL server, the headless-browser
# end-to-end test and the slow tests (the first-start workflow, the real data set). A test that
# cannot run here says why in the skip summary (-rs). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
echo "==> ruff"
.venv/bin/ruff check .
echo "==> pytest"
# -m "": every test, overriding pyproject's default filter (which leaves slow and browser out).
exec .venv/bin/python -m pytest -m "" -rs "$@"
