#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser test (npm run test:e2e).
# Does nothing when it is there (or when CHROMIUM_PATH names an executable); otherwise installs
# Debian's `chromium` package with apt-get, quietly. Exits non-zero, saying why, when it cannot.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM is missing and apt-get is not available; install Chromium or set CHROMIUM_PATH" >&2
  exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "ensure-chromium: $CHROMIUM is missing and installing the chromium package needs root (or passwordless sudo)" >&2
    exit 1
  fi
fi

echo "ensure-chromium: $CHROMIUM is missing; installing Debian's chromium package"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt=(env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=120)
if ! { "${as_root[@]}" "${apt[@]}" update && "${as_root[@]}" "${apt[@]}" install -y chromium; } >"$log" 2>&1; then
  echo "ensure-chromium: apt-get could not install chromium:" >&2
  tail -n 20 "$log" >&2
  exit 1
fi

if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: the chromium package is installed but $CHROMIUM is not there" >&2
  exit 1
fi
# (Debian's launcher script prints a harmless "[: … unexpected operator" from /etc/chromium.d/dev-shm
# on some machines; keep it out of the CI log.)
echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null || echo "installed at $CHROMIUM")"
