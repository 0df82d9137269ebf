#!/usr/bin/env bash
# Installs the pinned LiteLLM proxy (integrations/litellm/requirements.txt) into a venv and prints
# the path of its `litellm` executable on stdout (everything else goes to stderr).
#
#   bash .ci/litellm.sh [VENV_DIR]        # default $HOME/.cache/evalgate/litellm-venv
#   LITELLM=$(bash .ci/litellm.sh)
#
# Idempotent: when the venv already holds exactly this requirements file (a SHA-256 stamp) and
# the pinned litellm version, it prints the path and exits in well under a second. Otherwise it
# (re)creates the venv and installs; a cold install (no pip cache) downloads 126 pinned packages
# (~750 MB installed): 83 s on the idle 2-core machine, 159 s while a cargo build competed. Needs python3 >= 3.10 with venv
# (Debian: python3-venv, installed here with apt-get when missing) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

REQS=integrations/litellm/requirements.txt
VENV="${1:-${HOME}/.cache/evalgate/litellm-venv}"
PIN="$(sed -n 's/^litellm\[proxy\]==\([0-9][0-9.]*\)$/\1/p' "$REQS")"
[ -n "$PIN" ] || { echo "litellm.sh: no litellm[proxy]==X.Y.Z line in $REQS" >&2; exit 2; }
WANT="$(sha256sum "$REQS" | cut -d' ' -f1)"
STAMP="$VENV/.evalgate-requirements.sha256"

installed_version() {
  "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true
}

if [ -x "$VENV/bin/litellm" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] \
   && [ "$(installed_version)" = "$PIN" ]; then
  echo "litellm.sh: litellm $PIN already installed in $VENV" >&2
  echo "$VENV/bin/litellm"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "litellm.sh: installing python3-venv" >&2
    SUDO=(); if [ "$(id -u)" != 0 ]; then SUDO=(sudo); fi
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
      python3-venv >/dev/null
  fi
  "$PYTHON" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 10))' || {
    echo "litellm.sh: $PYTHON must be Python >= 3.10 with the venv module" >&2; exit 2; }
fi

echo "litellm.sh: installing litellm[proxy]==$PIN into $VENV" >&2
start=$(date +%s)
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQS" >&2
got="$(installed_version)"
[ "$got" = "$PIN" ] || { echo "litellm.sh: installed litellm is '$got', want $PIN" >&2; exit 1; }
[ -x "$VENV/bin/litellm" ] || { echo "litellm.sh: $VENV/bin/litellm is missing" >&2; exit 1; }
echo "$WANT" > "$STAMP"
echo "litellm.sh: installed litellm $PIN in $(( $(date +%s) - start )) s" >&2
echo "$VENV/bin/litellm"
