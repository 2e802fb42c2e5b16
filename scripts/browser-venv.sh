#!/usr/bin/env bash
# The browser the HTML report and the web console are tested in: Debian's
# headless `chromium` and its `chromedriver` (apt packages chromium and
# chromium-driver), driven by selenium from PyPI in a virtualenv kept in
# ~/.cache/resplay/browser-venv (it survives `cargo clean`). Installs what is
# missing and prints the venv's python, for RESPLAY_BROWSER_PYTHON:
#
#   export RESPLAY_BROWSER_PYTHON=$(bash scripts/browser-venv.sh)
set -euo pipefail

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "browser-venv: installing ${need_apt[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

venv="${XDG_CACHE_HOME:-$HOME/.cache}/resplay/browser-venv"
# selenium 4 drives the chromedriver on PATH (no download: Selenium
# Manager finds /usr/bin/chromedriver first); redis-py is for the console
# test's subscriber.
if ! "$venv/bin/python" -c "import selenium, redis" >/dev/null 2>&1; then
  echo "browser-venv: creating $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "selenium>=4.20,<5" "redis>=5" >&2
fi
echo "$venv/bin/python"
