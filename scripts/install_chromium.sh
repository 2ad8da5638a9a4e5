#!/usr/bin/env bash
# Install Debian's `chromium` for the report's browser test (tests/test_report_browser.py),
# which opens a generated report headless and screenshots it. Idempotent: does nothing when
# a `chromium` binary is already on PATH. Needs root (or sudo) and apt; elsewhere it says
# what to install and exits 0, so CI without apt still runs (the browser test then skips).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium.sh: no apt-get here; install Chromium so that \`chromium\` is on" \
        "PATH to run the browser test (it is skipped otherwise)" >&2
    exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install_chromium.sh: run as root (or install sudo) to apt-get install chromium" >&2
        exit 1
    fi
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "installed $(chromium --version)"
