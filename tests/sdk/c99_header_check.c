/* Compiles loupe_plugin.h as strict C99 (-std=c99 -pedantic -Wall -Wextra -Werror) and checks, with the
 * C compiler's own view of the structs, the sizes abi_layout_test.cpp pins for C++: a plugin written in C
 * and a host written in C++ must agree byte for byte. */
#include "loupe/c/loupe_plugin.h"

/* C99 has no _Static_assert: a negative array size fails the build. */
#define LOUPE_C_CHECK(name, condition) typedef char loupe_c_check_##name[(condition) ? 1 : -1]

LOUPE_C_CHECK(tensor_view, sizeof(LoupeTensorView) == 40);
LOUPE_C_CHECK(column_info, sizeof(LoupeColumnInfo) == 40);
LOUPE_C_CHECK(dataset_info, sizeof(LoupeDatasetInfo) == 64);
LOUPE_C_CHECK(model_info, sizeof(LoupeModelInfo) == 56);
LOUPE_C_CHECK(host_api,
              sizeof(LoupeHostApi) == 256); /* v1.2 appended the text arrays and result_new_tensor */
LOUPE_C_CHECK(param_spec, sizeof(LoupeParamSpec) == 88); /* v1.2 appended role */
LOUPE_C_CHECK(explainer_vtable, sizeof(LoupeExplainerVTable) == 88);
LOUPE_C_CHECK(plugin_info, sizeof(LoupePluginInfo) == 64);
LOUPE_C_CHECK(plugin_info_magic, offsetof(LoupePluginInfo, magic) == 16);
LOUPE_C_CHECK(vtable_create, offsetof(LoupeExplainerVTable, create) == 64);
LOUPE_C_CHECK(host_api_result_set_json, offsetof(LoupeHostApi, result_set_json) == 224);
LOUPE_C_CHECK(attention_source, sizeof(LoupeAttentionSource) == 40);
LOUPE_C_CHECK(attention_pooling, offsetof(LoupeAttentionSource, pooling) == 32);
LOUPE_C_CHECK(attention_compute, offsetof(LoupeAttentionSource, compute) == 24);
LOUPE_C_CHECK(text_model, sizeof(LoupeTextModel) == 24);
LOUPE_C_CHECK(text_predict, offsetof(LoupeTextModel, predict_texts) == 16);
LOUPE_C_CHECK(hidden_states, sizeof(LoupeHiddenStates) == 48);
LOUPE_C_CHECK(hidden_states_compute, offsetof(LoupeHiddenStates, compute) == 40);
LOUPE_C_CHECK(head_mask, sizeof(LoupeHeadMask) == 32);
LOUPE_C_CHECK(head_mask_predict, offsetof(LoupeHeadMask, predict_rows) == 24);

/* Every typedef usable from C: one function taking them all keeps the compiler honest about each. */
int loupe_c99_header_check(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder* result,
                           const LoupeExplainerInstance* instance, LoupePluginEntryFn entry);
int loupe_c99_header_check(const LoupeHostApi* api, LoupeHost* host, LoupeResultBuilder* result,
                           const LoupeExplainerInstance* instance, LoupePluginEntryFn entry) {
  LoupeTensorView view = {sizeof(LoupeTensorView), LOUPE_DTYPE_F64, 0, 1, NULL, NULL, NULL};
  LoupeStatus status = LOUPE_OK;
  (void)instance;
  if (entry == NULL || api == NULL) return LOUPE_ERROR_INVALID_ARGUMENT;
  status = api->result_set_tensor(result, "values", &view);
  if (status != LOUPE_OK) return api->set_error(host, status, "could not store values");
  return LOUPE_OK;
}
