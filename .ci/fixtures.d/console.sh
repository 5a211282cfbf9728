#!/usr/bin/env bash
# The web console (server/ui) has no build step: its HTML, CSS and JavaScript are committed as
# served. This script installs Debian's Chromium, which the console's browser tests
# (go test ./server -run TestConsole) drive; with DUROHOST_REQUIRE_BROWSER=1 they fail
# without it. The assets are listed so that a change to them left uncommitted is caught.
set -euo pipefail
apt_install chromium >&2
echo "== paths"
echo server/ui
