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

# Projects written for gradlab 0.1 still compile: the old flat header paths forward to the new
# ones and say so (a deprecation message for each).
old_paths="$scratch/old_paths.cpp"
: >"$old_paths"
for name in module layers init losses checkpoint nn npy optim data preprocess trainer search progress plots cli; do
  echo "#include \"modules/$name.hpp\"" >>"$old_paths"
done
echo '#include "backends/dtype.hpp"' >>"$old_paths"
messages=$(c++ -std=c++20 -fsyntax-only -I"$scratch/prefix/include/gradlab" "$old_paths" 2>&1) || {
  echo "the old include paths no longer compile:"; echo "$messages"; exit 1; }
moved=$(grep -c "pragma message: gradlab" <<<"$messages")
echo "old include paths: 16 headers compile, $moved deprecation messages"
[ "$moved" -eq 16 ]
