#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv (idempotent and quick when nothing
# changed). Usage: scripts/setup.sh [app|dev]. "dev" adds test tools, and Debian's chromium and
# postgresql for the browser and PostgreSQL tests (apt-get when run as root).
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
# Every requirements file counts: the dev file includes the optional ones (e.g. requirements-ray.txt).
digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  echo "==> installing $reqs into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$reqs"
  echo "$digest" > "$stamp"
fi
# Debian packages the dev tests need: chromium (browser test), postgresql (the store on a real
# PostgreSQL server; tests/test_store_postgres.py starts a throw-away cluster with initdb/pg_ctl).
has_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
if [ "$kind" = dev ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  has_postgres || missing+=(postgresql)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing Debian ${missing[*]} for the browser and PostgreSQL tests"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        "${missing[@]}" >/dev/null) \
        || echo "!! could not install ${missing[*]}: the tests needing them will be skipped"
    else
      echo "!! not installed: ${missing[*]} (needs root: apt-get install ${missing[*]});" \
        "the browser and/or PostgreSQL tests will be skipped"
    fi
  fi
fi
