#!/usr/bin/env bash
# Installs Chromium from Debian for the browser tests (test/package/runtimes.test.ts, test/package/demo.test.ts) when it
# is missing: they drive /usr/bin/chromium (or $CHROMIUM_PATH) through playwright-core, which downloads
# no browser of its own. Called by .ci/run before `npm ci`; needs root (or sudo) and apt-get.
set -euo pipefail
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  echo "chromium: $("$chromium" --version 2>/dev/null || echo "$chromium")"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: $chromium is missing and apt-get is not available: install Chromium and set CHROMIUM_PATH" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
echo "chromium: $("$chromium" --version 2>/dev/null || echo installed)"
