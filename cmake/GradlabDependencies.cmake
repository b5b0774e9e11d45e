# Finds every dependency and, when one is missing, stops with the Debian package that provides it.
# `./gradlab` installs all of them; this is for people who run CMake by hand.

function(gradlab_require found what package)
  if(NOT ${found})
    message(FATAL_ERROR "gradlab: ${what} not found. Install the Debian package '${package}' "
                        "(sudo apt-get install ${package}), or run ./gradlab which installs everything.")
  endif()
endfunction()

find_package(xtl QUIET)
gradlab_require(xtl_FOUND "xtl (xtensor's support library)" xtl-dev)
find_package(xtensor QUIET)
gradlab_require(xtensor_FOUND "xtensor" libxtensor-dev)
find_path(GRADLAB_XTENSOR_BLAS_INCLUDE xtensor-blas/xlinalg.hpp)
gradlab_require(GRADLAB_XTENSOR_BLAS_INCLUDE "xtensor-blas" libxtensor-blas-dev)

# One OpenMP runtime for oneDNN and OpenBLAS: link the OpenMP build of OpenBLAS by its own folder,
# not through Debian's libopenblas.so.0 alternative (which may point at the pthreads build).
find_library(GRADLAB_OPENBLAS openblas
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
gradlab_require(GRADLAB_OPENBLAS "OpenBLAS (OpenMP build)" "libopenblas-openmp-dev libopenblas0-openmp")
get_filename_component(GRADLAB_OPENBLAS_DIR "${GRADLAB_OPENBLAS}" DIRECTORY)
find_path(GRADLAB_CBLAS_INCLUDE cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
gradlab_require(GRADLAB_CBLAS_INCLUDE "cblas.h of OpenBLAS (OpenMP build)" libopenblas-openmp-dev)

find_package(OpenMP QUIET)
gradlab_require(OpenMP_CXX_FOUND "OpenMP for C++" "g++ (libgomp)")
find_package(fmt QUIET)
gradlab_require(fmt_FOUND "fmt" libfmt-dev)
find_package(nlohmann_json QUIET)
gradlab_require(nlohmann_json_FOUND "nlohmann-json" nlohmann-json3-dev)
find_package(CLI11 QUIET)
gradlab_require(CLI11_FOUND "CLI11" libcli11-dev)
find_package(ZLIB QUIET)
gradlab_require(ZLIB_FOUND "zlib" zlib1g-dev)

if(GRADLAB_ONEDNN)
  find_package(dnnl QUIET)
  gradlab_require(dnnl_FOUND "oneDNN 2.x" libdnnl-dev)
endif()
if(GRADLAB_TESTS)
  find_package(Catch2 2 QUIET)
  gradlab_require(Catch2_FOUND "Catch2 v2" catch2)
endif()
if(GRADLAB_BENCH)
  find_package(benchmark QUIET)
  gradlab_require(benchmark_FOUND "Google Benchmark" libbenchmark-dev)
endif()
