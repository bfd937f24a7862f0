# The libFuzzer targets (fuzz/README.md): one executable per parser entry point of entry_points.hpp.
# Included by the two projects that build them, both with clang:
#   fuzz/CMakeLists.txt   a project of its own, optimised, for long runs (`make fuzz`);
#   the main project      its AddressSanitizer tree with -DLOUPE_FUZZ=ON (`make test-sanitize`), so that
#                         the short CI run (`make test-fuzz`) costs no build of its own.
# The including project compiles the code under test with -fsanitize=fuzzer-no-link (coverage feedback);
# the targets link libFuzzer's main with -fsanitize=fuzzer.
set(LOUPE_FUZZ_SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR})
set(LOUPE_FUZZ_TARGETS csv:FuzzCsv pipeline:FuzzPipeline native_model:FuzzNativeModel
                       safetensors:FuzzSafetensors xgboost:FuzzXGBoost vocabulary:FuzzVocabulary
                       tokenizer_json:FuzzHfTokenizer onnx:FuzzOnnx)

# Adds fuzz_<name> for every target, in <output_dir>, linked against the core's model layer (and so every
# layer before it). fuzz_onnx only when the core reads ONNX files.
function(loupe_add_fuzz_targets output_dir)
  add_library(loupe_fuzz_entry_points STATIC ${LOUPE_FUZZ_SOURCE_DIR}/entry_points.cpp)
  target_include_directories(loupe_fuzz_entry_points PUBLIC ${LOUPE_FUZZ_SOURCE_DIR}/..
                             PRIVATE ${LOUPE_FUZZ_SOURCE_DIR}/../core/src)
  target_compile_definitions(loupe_fuzz_entry_points
    PRIVATE LOUPE_FUZZ_FIXTURES_DIR="${LOUPE_FUZZ_SOURCE_DIR}/../tests/fixtures")
  target_compile_options(loupe_fuzz_entry_points PRIVATE -fsanitize=fuzzer-no-link)
  target_link_libraries(loupe_fuzz_entry_points PUBLIC loupe_model)

  get_target_property(onnx_definitions loupe_onnx COMPILE_DEFINITIONS)
  foreach(entry IN LISTS LOUPE_FUZZ_TARGETS)
    string(REPLACE ":" ";" parts ${entry})
    list(GET parts 0 name)
    list(GET parts 1 function)
    if(name STREQUAL "onnx" AND NOT "${onnx_definitions}" MATCHES "LOUPE_WITH_ONNX=1")
      continue()
    endif()
    add_executable(fuzz_${name} ${LOUPE_FUZZ_SOURCE_DIR}/fuzz_target.cpp)
    target_compile_definitions(fuzz_${name} PRIVATE LOUPE_FUZZ_TARGET=${function})
    target_link_libraries(fuzz_${name} PRIVATE loupe_fuzz_entry_points)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    set_target_properties(fuzz_${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${output_dir} LOUPE_NO_PCH ON)
  endforeach()
endfunction()
