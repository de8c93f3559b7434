#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv (idempotent and quick when nothing
# changed). Usage: scripts/setup.sh [app|dev]. "dev" adds test tools and the browser for e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-app}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $python"
  "$python" -m venv .venv
fi
reqs=requirements.txt
[ "$kind" = dev ] && reqs=requirements-dev.txt
stamp=".venv/.installed-$(basename "$reqs" .txt)"
digest=$(cat requirements.txt "$reqs" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  echo "==> installing $reqs into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$reqs"
  echo "$digest" > "$stamp"
fi
if [ "$kind" = dev ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian chromium for the browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "!! could not install chromium: the browser test will be skipped"
  else
    echo "!! chromium is not installed (needs root: apt-get install chromium): the browser test will be skipped"
  fi
fi
