# Compiler flags of the fuzz build (GRADLAB_FUZZ=ON), included by the top-level CMakeLists.txt
# before any library is defined, so that every library the fuzzers link is instrumented.
#
# libFuzzer ships with clang (Debian: clang-14 + libclang-rt-14-dev), so the fuzz build is a clang
# build in a folder of its own (./gradlab fuzz uses build-fuzz):
#   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DGRADLAB_FUZZ=ON \
#         -DGRADLAB_ONEDNN=OFF -DGRADLAB_TUTORIALS=OFF -DGRADLAB_BENCH=OFF -DGRADLAB_DOCS=OFF \
#         -DGRADLAB_TESTS=OFF
#   cmake --build build-fuzz --target gradlab_fuzzers

if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR
    "gradlab: GRADLAB_FUZZ needs clang (libFuzzer is part of clang), but the C++ compiler is "
    "${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Install the Debian packages 'clang-14', "
    "'libclang-rt-14-dev' and 'libomp-14-dev' (sudo apt-get install clang-14 libclang-rt-14-dev "
    "libomp-14-dev) and configure a separate build folder with -DCMAKE_CXX_COMPILER=clang++-14, "
    "or run ./gradlab fuzz which does both.")
endif()
if(GRADLAB_SANITIZE)
  message(FATAL_ERROR "gradlab: GRADLAB_FUZZ already builds with ASan + UBSan; "
                      "turn GRADLAB_SANITIZE off in the fuzz build folder")
endif()

# Libraries get the coverage instrumentation libFuzzer steers by (fuzzer-no-link) but not
# libFuzzer's main(); the fuzz targets add -fsanitize=fuzzer when they link (tests/fuzz/).
# Undefined behaviour aborts (no recovery), so libFuzzer records it as a crash.
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer -gline-tables-only)
add_link_options(-fsanitize=address,undefined)
