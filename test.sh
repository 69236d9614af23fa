#!/usr/bin/env bash
# The whole test suite on a fresh machine: sets up .venv (torch CPU wheel first), the browser the web
# tests drive (Debian chromium), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q torch==2.13.0 -e ".[web,test,cluster,video]"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || echo "test.sh: could not install chromium" >&2
fi
# a missing browser stack fails the browser test here rather than skipping it
PAINTERLY_REQUIRE_BROWSER=1 exec .venv/bin/python -m pytest "$@"
