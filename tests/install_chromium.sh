#!/usr/bin/env bash
# Install Debian's chromium for the HTML-report browser test (tests/test_report_html.py); called by
# `make test`. Idempotent: nothing to do when a Chromium is on PATH. Needs root (or password-less sudo)
# and apt-get; where either is missing it says so and exits 0, and the browser test skips.
# Every network step is bounded.
set -uo pipefail
for exe in chromium chromium-browser google-chrome; do
  if command -v "$exe" >/dev/null 2>&1; then
    echo "install_chromium: $exe already installed ($("$exe" --version 2>/dev/null | head -1))"
    exit 0
  fi
done
skip() { echo "install_chromium: $* -- not installing chromium; the report's browser test will skip" >&2; exit 0; }
command -v apt-get >/dev/null 2>&1 || skip "no apt-get (not Debian/Ubuntu)"
if [ "$(id -u)" = 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  skip "not root and no password-less sudo"
fi
export DEBIAN_FRONTEND=noninteractive
timeout -s KILL 300 "${SUDO[@]}" apt-get update -qq || skip "apt-get update failed"
timeout -s KILL 900 "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium \
  || skip "apt-get install chromium failed"
echo "install_chromium: installed $(chromium --version 2>/dev/null | head -1)"
