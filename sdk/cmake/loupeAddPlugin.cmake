# loupe_add_plugin(<name> <source>...)
#
# Builds a Loupe plugin: a MODULE library against loupe::sdk with hidden visibility, no undefined
# symbols, and a version script that exports only the plugin entry. Used by Loupe's own plugins and, via
# find_package(loupe), by third-party ones.
set(LOUPE_PLUGIN_VERSION_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/loupe_plugin.map")

function(loupe_add_plugin name)
  if(NOT ARGN)
    message(FATAL_ERROR "loupe_add_plugin(${name}) needs at least one source file")
  endif()
  # Callers in other directories do not see the variable set above; find the script next to this file.
  set(LOUPE_PLUGIN_VERSION_SCRIPT "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/loupe_plugin.map")
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE loupe::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(LOUPE_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${LOUPE_PLUGIN_OUTPUT_DIR}")
  endif()
  # Clang links a sanitizer's runtime into executables only: a sanitized plugin then takes those
  # symbols from the process that loads it, so Loupe's own Clang sanitizer builds set
  # LOUPE_PLUGIN_ALLOW_UNDEFINED.
  if(NOT LOUPE_PLUGIN_ALLOW_UNDEFINED)
    target_link_options(${name} PRIVATE "-Wl,--no-undefined")
  endif()
  target_link_options(${name} PRIVATE "-Wl,--version-script=${LOUPE_PLUGIN_VERSION_SCRIPT}")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${LOUPE_PLUGIN_VERSION_SCRIPT}")
  # Loupe's own built-in plugins install next to the loupe binary (../lib/loupe/plugins).
  if(LOUPE_INSTALL_PLUGINS AND LOUPE_PLUGIN_INSTALL_DIR)
    install(TARGETS ${name} LIBRARY DESTINATION "${LOUPE_PLUGIN_INSTALL_DIR}")
  endif()
endfunction()
