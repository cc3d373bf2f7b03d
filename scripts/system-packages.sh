#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (a browser, later a database server),
# only when they are missing: a second run on a ready machine installs nothing.
# Usage: scripts/system-packages.sh COMMAND=PACKAGE ...   e.g. /usr/bin/chromium=chromium
# Exits non-zero with one line naming the install command when it cannot install (no root, no sudo).
set -euo pipefail
missing=()
for pair in "$@"; do
  cmd=${pair%%=*}; pkg=${pair#*=}
  if [ -x "$cmd" ] || command -v "$cmd" >/dev/null 2>&1 || compgen -G "$cmd" >/dev/null; then continue; fi
  missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing missing system packages: ${missing[*]}"
if [ "$(id -u)" = "0" ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo)
else
  echo "error: ${missing[*]} missing; install with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: ${missing[*]} missing and this is not a Debian/Ubuntu system: install ${missing[*]} with your package manager" >&2
  exit 1
fi
"${SUDO[@]}" apt-get update -qq >/dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
