#!/usr/bin/env bash
# Build llama-server from the llama.cpp that llama-cpp-python vendors (the same version as the
# wheel), once per version and flags, into the wheel cache; print the path of the binary.
# Static (no shared libraries to find), portable (no -march=native), no curl/OpenSSL.
set -euo pipefail
VERSION="${1:?llama-cpp-python version}"
CACHE="${CHATFORMATS_WHEEL_CACHE:-$HOME/.cache/chatformats-ci/wheels}"
FLAGS="-DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DCMAKE_BUILD_TYPE=Release"
key=$(printf '%s' "$FLAGS" | sha256sum | cut -c1-12)
OUT="$CACHE/llama-server-$VERSION-$key"
if [ -x "$OUT/llama-server" ]; then echo "$OUT/llama-server"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$work" >&2
tar -xzf "$work"/llama_cpp_python-"$VERSION".tar.gz -C "$work"
src="$work/llama_cpp_python-$VERSION/vendor/llama.cpp"
echo "building llama-server from llama-cpp-python $VERSION's llama.cpp (one time, ~10 minutes)" >&2
# shellcheck disable=SC2086
cmake -S "$src" -B "$work/build" $FLAGS >&2
cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
mkdir -p "$OUT"
cp "$work/build/bin/llama-server" "$OUT/llama-server.tmp"
mv "$OUT/llama-server.tmp" "$OUT/llama-server"
echo "$OUT/llama-server"
