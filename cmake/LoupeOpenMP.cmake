# OpenMP::OpenMP_CXX for core/src/nn, on the OpenMP runtime that Debian's oneDNN was built with.
#
# libdnnl.so.2 runs its parallel regions on GCC's runtime (libgomp), and core/src/nn pins that runtime to
# one thread per calling task (omp_set_num_threads). With GCC, -fopenmp links libgomp. Clang's -fopenmp
# would link LLVM's libomp instead: the process would then hold two OpenMP runtimes and the pinning would
# reach the one oneDNN does not use. So with Clang (the sanitizer and fuzz builds), link libgomp
# (-fopenmp=libgomp); Clang still needs an omp.h, which Debian's libomp-14-dev provides.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND NOT DEFINED OpenMP_CXX_FLAGS)
  execute_process(COMMAND gcc -print-file-name=libgomp.so OUTPUT_VARIABLE loupe_gomp_library
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(OpenMP_CXX_FLAGS "-fopenmp=libgomp" CACHE STRING "OpenMP flags: GCC's runtime, as oneDNN's")
  set(OpenMP_CXX_LIB_NAMES gomp CACHE STRING "OpenMP libraries: GCC's runtime, as oneDNN's")
  set(OpenMP_gomp_LIBRARY "${loupe_gomp_library}" CACHE FILEPATH "GCC's OpenMP runtime")
endif()
find_package(OpenMP REQUIRED COMPONENTS CXX)
