#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when it is missing (never a downloaded
# browser). Needs root; otherwise it says what to run and leaves the decision to the tests
# (they skip with that reason on a laptop, and fail when CI is set).
set -uo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium is missing and this is not root: run 'sudo apt-get install -y chromium' for the browser tests" >&2
  exit 0
fi
echo "installing Chromium (Debian package) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends chromium >/dev/null \
  || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; } \
  || echo "could not install Chromium; the browser tests will say so" >&2
