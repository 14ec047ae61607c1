#!/usr/bin/env bash
# Install what the integration and browser tests need beyond Python packages:
# the test OpenID Connect provider's Node packages, and Debian's Chromium
# (Playwright drives it; it never downloads a browser).
set -euo pipefail
cd "$(dirname "$0")/.."

# tests/idp/oidc: a real OpenID provider (npm oidc-provider), exactly as its lock file says.
if [ ! -d tests/idp/oidc/node_modules ]; then
  if command -v npm >/dev/null; then
    echo "Installing the test OpenID provider's packages (tests/idp/oidc) ..."
    npm ci --prefix tests/idp/oidc --no-audit --no-fund --loglevel=error
  else
    echo "npm is not installed; the OpenID Connect sign-in tests need Node.js 20 and npm." >&2
    # Not fatal here either: those tests skip, or fail under NPUHUB_REQUIRE_ALL.
  fi
fi

# fonts-noto-cjk: Chinese text in screenshots, not boxes.
if [ -x /usr/bin/chromium ] && fc-list :lang=zh 2>/dev/null | grep -q .; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium and a Chinese font for the browser tests ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
else
  echo "Chromium is not installed; the browser tests need /usr/bin/chromium." >&2
  echo "  sudo apt-get install --no-install-recommends chromium" >&2
  # Not fatal here: the tests themselves fail or skip depending on NPUHUB_REQUIRE_ALL.
fi
