#!/usr/bin/env bash
# Chromium for the Web UI browser test (test/browser), from Debian's packages (playwright-core downloads no
# browser here). Idempotent: installs only when missing, and only as root. Prints the executable's path on
# stdout (messages go to stderr), so: export CHROMIUM_PATH="$(bash scripts/install-chromium.sh)"
set -euo pipefail

found() {
  if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then
    echo "$CHROMIUM_PATH"
  elif [ -x /usr/bin/chromium ]; then
    echo /usr/bin/chromium
  else
    return 1
  fi
}

if path=$(found); then
  echo "$path"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "[install-chromium] no Chromium at ${CHROMIUM_PATH:-/usr/bin/chromium} and not root:" \
    "install the Debian packages chromium chromium-driver (or set CHROMIUM_PATH)" >&2
  exit 1
fi

echo "[install-chromium] installing the Debian packages chromium chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends chromium chromium-driver >&2

if ! path=$(found); then
  echo "[install-chromium] chromium installed but /usr/bin/chromium is missing" >&2
  exit 1
fi
"$path" --version >&2
echo "$path"
