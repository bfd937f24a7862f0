# Precompiled headers for the external headers that nearly every translation unit parses: nlohmann/json
# (through the SDK and core headers, ~4 s of CPU per translation unit with GCC), the standard library and,
# for tests, GoogleTest. Only headers that never change with the project's code are precompiled, so an
# edit to the project never rebuilds a precompiled header.
#
# GCC accepts a precompiled header only when the code-generation flags match (-fPIC vs -fPIE, visibility,
# -fopenmp, -std), so the targets fall into families of identical flags, and each family compiles its
# header once in a small holder target that the others reuse (REUSE_FROM):
#   library  static and object libraries with default visibility (core/src/<layer>)
#   plugin   hidden-visibility code (the built-in plugins' objects, plugins/common, test plugins)
#   app      executables without GoogleTest (loupe, benchmarks, examples)
#   test     executables linking GoogleTest (the header also holds gtest.h and gmock.h)
# loupe_precompile_headers() (called once, at the end of the top-level CMakeLists.txt) puts every target of
# the project into its family, so new plugins, tests and benchmarks need no line of their own. A target is
# left out when it has C sources, its own precompiled headers, strict flags (-pedantic: it proves that a
# header compiles on its own), -fopenmp, or the property LOUPE_NO_PCH set to ON.
#
# Measured with GCC 12 (CPU seconds per translation unit): a unit that includes nlohmann/json compiles
# 1-2 s faster in Release (-4 to -13%) and 2.3-3.7 s faster in the ASan Debug build (-13 to -16%); a unit
# that does not include it pays 1-2 s for loading the header (100-140 MB), and each family's header costs
# 10-16 s once. Three units in four include nlohmann/json.
#
# Off by default (-DLOUPE_PCH=ON to use it): the gain measured so far is small for Release (about 80 s of
# CPU over the whole build) and a whole build with it has not yet run on CI; ccache also does not cache
# compilations that use a precompiled header unless its sloppiness settings allow it.
set(loupe_pch_default OFF)
option(LOUPE_PCH "Precompile the external headers (nlohmann/json, std, GoogleTest)" ${loupe_pch_default})

set(LOUPE_PCH_HEADERS
  <algorithm> <atomic> <cmath> <cstdint> <filesystem> <fstream> <functional> <map> <memory> <mutex>
  <optional> <sstream> <string> <string_view> <utility> <vector> <nlohmann/json.hpp>)
set(LOUPE_PCH_TEST_HEADERS ${LOUPE_PCH_HEADERS} <gtest/gtest.h> <gmock/gmock.h>)

# The holder of one family's precompiled header: a target with the family's flags and one empty source.
function(loupe_pch_holder family out_holder)
  set(holder loupe_pch_${family})
  set(${out_holder} ${holder} PARENT_SCOPE)
  if(TARGET ${holder})
    return()
  endif()
  set(source ${PROJECT_BINARY_DIR}/loupe_pch/${family}.cpp)
  if(family MATCHES "^(app|test)$")
    file(CONFIGURE OUTPUT ${source} CONTENT "int main() { return 0; }\n")
    add_executable(${holder} EXCLUDE_FROM_ALL ${source})
    # Not in bin/, next to loupe: nobody runs it.
    set_target_properties(${holder} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/loupe_pch)
  else()
    file(CONFIGURE OUTPUT ${source} CONTENT "// The precompiled header's holder: no code.\n")
    add_library(${holder} OBJECT EXCLUDE_FROM_ALL ${source})
  endif()
  set_target_properties(${holder} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(${holder} PRIVATE nlohmann_json::nlohmann_json)
  if(family STREQUAL "plugin")
    set_target_properties(${holder} PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  endif()
  if(family STREQUAL "test")
    target_link_libraries(${holder} PRIVATE GTest::gtest GTest::gmock)
    target_precompile_headers(${holder} PRIVATE ${LOUPE_PCH_TEST_HEADERS})
  else()
    target_precompile_headers(${holder} PRIVATE ${LOUPE_PCH_HEADERS})
  endif()
endfunction()

# The family of <target> in <out_family>, or "" when the target gets no precompiled header.
function(loupe_pch_family target out_family)
  set(${out_family} "" PARENT_SCOPE)
  get_target_property(type ${target} TYPE)
  get_target_property(imported ${target} IMPORTED)
  get_target_property(opt_out ${target} LOUPE_NO_PCH)
  if(imported OR opt_out OR NOT type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|OBJECT_LIBRARY|SHARED_LIBRARY|MODULE_LIBRARY)$"
     OR target MATCHES "^loupe_pch_")
    return()
  endif()
  get_target_property(own_headers ${target} PRECOMPILE_HEADERS)
  get_target_property(reused ${target} PRECOMPILE_HEADERS_REUSE_FROM)
  get_target_property(pic ${target} POSITION_INDEPENDENT_CODE)
  get_target_property(sources ${target} SOURCES)
  get_target_property(options ${target} COMPILE_OPTIONS)
  get_target_property(links ${target} LINK_LIBRARIES)
  if(own_headers OR reused OR NOT pic OR NOT sources OR "${options}" MATCHES "-pedantic"
     OR "${links}" MATCHES "OpenMP::")
    return()
  endif()
  set(has_cxx OFF)
  foreach(source IN LISTS sources)
    if(source MATCHES "\\.c$")
      return()
    elseif(source MATCHES "\\.(cpp|cc|cxx)$")
      set(has_cxx ON)
    endif()
  endforeach()
  if(NOT has_cxx)
    return()
  endif()
  get_target_property(visibility ${target} CXX_VISIBILITY_PRESET)
  if(type STREQUAL "EXECUTABLE")
    if("${links}" MATCHES "GTest::")
      set(${out_family} test PARENT_SCOPE)
    else()
      set(${out_family} app PARENT_SCOPE)
    endif()
  elseif(visibility STREQUAL "hidden")
    set(${out_family} plugin PARENT_SCOPE)
  elseif(type MATCHES "^(STATIC|OBJECT)_LIBRARY$")
    set(${out_family} library PARENT_SCOPE)
  endif()
endfunction()

function(loupe_pch_targets_in directory out_targets)
  get_property(targets DIRECTORY ${directory} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirectories DIRECTORY ${directory} PROPERTY SUBDIRECTORIES)
  foreach(subdirectory IN LISTS subdirectories)
    loupe_pch_targets_in(${subdirectory} nested)
    list(APPEND targets ${nested})
  endforeach()
  set(${out_targets} ${targets} PARENT_SCOPE)
endfunction()

# Gives every target of the project the precompiled header of its family (see the top of this file).
function(loupe_precompile_headers)
  if(NOT LOUPE_PCH)
    return()
  endif()
  loupe_pch_targets_in(${PROJECT_SOURCE_DIR} targets)
  foreach(target IN LISTS targets)
    loupe_pch_family(${target} family)
    if(family STREQUAL "test" AND NOT TARGET GTest::gtest)
      continue()
    endif()
    if(family)
      loupe_pch_holder(${family} holder)
      target_precompile_headers(${target} REUSE_FROM ${holder})
    endif()
  endforeach()
endfunction()
