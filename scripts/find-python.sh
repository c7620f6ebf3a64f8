#!/usr/bin/env bash
# Prints the path of the first Python >= 3.12 that actually runs.
# A name on PATH is not enough: a pyenv shim for a version that is not selected exists but
# fails, so every candidate is run before it is chosen.
set -euo pipefail

candidates=(python3.12 python3.13)
if command -v pyenv >/dev/null 2>&1; then
  candidates+=("$(pyenv root)"/versions/3.12*/bin/python3.12)
fi
candidates+=(/root/.pyenv/versions/3.1[23]*/bin/python3.1[23] python3)

for candidate in "${candidates[@]}"; do
  # An unmatched glob stays literal; running it just fails like any other bad candidate.
  # The interpreter's own path, not a shim's, so the venv does not depend on pyenv's choice.
  if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
    "$candidate" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done

cat >&2 <<MSG
error: no Python >= 3.12 found. Tried, in order:
$(printf '  %s\n' "${candidates[@]}")
Install one, for example:
  apt-get install python3.12 python3.12-venv     (Debian releases that ship it)
  pyenv install 3.12 && pyenv global 3.12        (with pyenv)
MSG
exit 1
