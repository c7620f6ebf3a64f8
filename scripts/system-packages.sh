#!/usr/bin/env bash
# Installs the Debian packages that `make run` and `make test` need, when they are missing.
#   scripts/system-packages.sh            PostgreSQL and Redis servers
#   scripts/system-packages.sh --browser  the same, plus Chromium for the browser tests
# A service whose URL the user set (DATABASE_URL, REDIS_URL) runs elsewhere: nothing to install.
# Everything goes to stderr, because services.sh's stdout is meant to be eval'd.
set -euo pipefail

want_browser=0
[[ ${1:-} == --browser ]] && want_browser=1

missing=()
if [[ -z ${DATABASE_URL:-} ]] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  missing+=(postgresql)
fi
if [[ -z ${REDIS_URL:-} ]] && ! command -v redis-server >/dev/null 2>&1; then
  missing+=(redis-server)
fi
if ((want_browser)) && [[ ! -x /usr/bin/chromium ]]; then
  # Playwright drives Debian's Chromium (its own browser download is not reachable here);
  # a font is needed for text to render at all in headless screenshots.
  missing+=(chromium chromium-driver fonts-dejavu-core)
fi

((${#missing[@]} == 0)) && exit 0

install_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
if [[ $EUID -ne 0 ]]; then
  echo "error: missing system packages: ${missing[*]}" >&2
  echo "Install them as root, then run make again:" >&2
  echo "  sudo sh -c '$install_cmd'" >&2
  exit 1
fi

echo "Installing system packages: ${missing[*]}" >&2
apt-get update >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
