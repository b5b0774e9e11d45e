#!/usr/bin/env bash
# Installs the built project into a scratch prefix, then configures, builds and runs the example
# project of docs/example_project against it with find_package(gradlab).
set -euo pipefail
build_dir="$1" example="$2" scratch="$3"
rm -rf "$scratch"
cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
cmake -S "$example" -B "$scratch/build" -DCMAKE_PREFIX_PATH="$scratch/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$scratch/build" -j 2 >/dev/null
"$scratch/build/my_op"
