// The plugin ABI as a contract (docs/architecture.md §2): the size, alignment and field offsets of every
// struct in loupe_plugin.h on LP64 (x86-64, aarch64), and the value of every macro. The numbers were computed
// once and are written here by hand on purpose: a change that moves, resizes or renumbers anything must fail
// here, because plugins already built against the header would silently read the wrong bytes. Appending a
// field changes only the struct's size: update that one number, bump LOUPE_PLUGIN_ABI_MINOR_LATEST (with
// a changelog entry in the header and an `#if LOUPE_PLUGIN_ABI_MINOR >= N` guard), and pin the new
// field's offset. tests/plugin_loader/fixtures/old_minor_plugin.c pins the v1.0 layouts from C.
//
// This file is compiled with -pedantic -Wall -Wextra -Werror, which also proves the header is clean C++.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "loupe/c/loupe_plugin.h"

namespace {

static_assert(sizeof(void*) == 8, "the pinned layout is the LP64 one");

TEST(AbiVersionTest, VersionAndIdentification) {
  EXPECT_EQ(LOUPE_PLUGIN_ABI_MAJOR, 1);
  EXPECT_EQ(LOUPE_PLUGIN_ABI_MINOR, 6);
  EXPECT_EQ(LOUPE_PLUGIN_ABI_MINOR_LATEST, 6);
  EXPECT_EQ(LOUPE_PLUGIN_MAGIC, 0x474C504550554F4CULL);
  char magic[9] = {};
  const std::uint64_t value = LOUPE_PLUGIN_MAGIC;
  std::memcpy(magic, &value, 8);  // little-endian: the bytes spell the name
  EXPECT_STREQ(magic, "LOUPEPLG");
  EXPECT_STREQ(LOUPE_PLUGIN_ENTRY_SYMBOL, "loupe_plugin_entry_v1");
  EXPECT_STREQ(LOUPE_PLUGIN_SECTION, "loupe");
}

TEST(AbiVersionTest, EntrySignature) {
  static_assert(std::is_same_v<LoupePluginEntryFn,
                               const LoupePluginInfo* (*)(std::uint32_t, std::uint32_t, char*, std::size_t)>);
  SUCCEED();
}

TEST(AbiValuesTest, ScalarTypes) {
  EXPECT_EQ(sizeof(LoupeStatus), 4u);
  EXPECT_EQ(sizeof(LoupeDType), 4u);
  EXPECT_EQ(sizeof(LoupeFeatureType), 4u);
  EXPECT_EQ(sizeof(LoupeTask), 4u);
  EXPECT_EQ(sizeof(LoupeOutputSpace), 4u);
  EXPECT_EQ(sizeof(LoupeLogLevel), 4u);
  EXPECT_EQ(sizeof(LoupeParamType), 4u);
  EXPECT_EQ(sizeof(LoupeScope), 4u);
  EXPECT_TRUE(std::is_signed_v<LoupeStatus>);
}

TEST(AbiValuesTest, StatusCodes) {
  EXPECT_EQ(LOUPE_OK, 0);
  EXPECT_EQ(LOUPE_ERROR_INVALID_ARGUMENT, 1);
  EXPECT_EQ(LOUPE_ERROR_UNSUPPORTED, 2);
  EXPECT_EQ(LOUPE_ERROR_MODEL, 3);
  EXPECT_EQ(LOUPE_ERROR_CANCELLED, 4);
  EXPECT_EQ(LOUPE_ERROR_OUT_OF_MEMORY, 5);
  EXPECT_EQ(LOUPE_ERROR_INTERNAL, 6);
  EXPECT_EQ(LOUPE_ERROR_NOT_FOUND, 7);
}

TEST(AbiValuesTest, DTypes) {
  EXPECT_EQ(LOUPE_DTYPE_F32, 1);
  EXPECT_EQ(LOUPE_DTYPE_F64, 2);
  EXPECT_EQ(LOUPE_DTYPE_I32, 3);
  EXPECT_EQ(LOUPE_DTYPE_I64, 4);
  EXPECT_EQ(LOUPE_DTYPE_U8, 5);
}

TEST(AbiValuesTest, FeatureTypesTasksAndOutputSpaces) {
  EXPECT_EQ(LOUPE_FEATURE_NUMERIC, 1);
  EXPECT_EQ(LOUPE_FEATURE_CATEGORICAL, 2);
  EXPECT_EQ(LOUPE_FEATURE_TEXT, 3);
  EXPECT_EQ(LOUPE_TASK_CLASSIFICATION, 1);
  EXPECT_EQ(LOUPE_TASK_REGRESSION, 2);
  EXPECT_EQ(LOUPE_OUTPUT_DEFAULT, 0);
  EXPECT_EQ(LOUPE_OUTPUT_PROBABILITY, 1);
  EXPECT_EQ(LOUPE_OUTPUT_RAW, 2);
}

TEST(AbiValuesTest, LogLevelsScopesAndParamTypes) {
  EXPECT_EQ(LOUPE_LOG_DEBUG, 0);
  EXPECT_EQ(LOUPE_LOG_INFO, 1);
  EXPECT_EQ(LOUPE_LOG_WARNING, 2);
  EXPECT_EQ(LOUPE_SCOPE_LOCAL, 1);
  EXPECT_EQ(LOUPE_SCOPE_GLOBAL, 2);
  EXPECT_EQ(LOUPE_PARAM_BOOL, 1);
  EXPECT_EQ(LOUPE_PARAM_INT, 2);
  EXPECT_EQ(LOUPE_PARAM_FLOAT, 3);
  EXPECT_EQ(LOUPE_PARAM_STRING, 4);
  EXPECT_EQ(LOUPE_PARAM_ENUM, 5);
  EXPECT_EQ(LOUPE_PARAM_ROWS, 6);
  EXPECT_EQ(LOUPE_PARAM_JSON, 7);
  EXPECT_EQ(LOUPE_PARAM_STRING_LIST, 8);
}

TEST(AbiLayoutTest, TensorView) {
  EXPECT_EQ(sizeof(LoupeTensorView), 40u);
  EXPECT_EQ(alignof(LoupeTensorView), 8u);
  EXPECT_EQ(offsetof(LoupeTensorView, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeTensorView, dtype), 4u);
  EXPECT_EQ(offsetof(LoupeTensorView, ndim), 8u);
  EXPECT_EQ(offsetof(LoupeTensorView, read_only), 12u);
  EXPECT_EQ(offsetof(LoupeTensorView, data), 16u);
  EXPECT_EQ(offsetof(LoupeTensorView, shape), 24u);
  EXPECT_EQ(offsetof(LoupeTensorView, strides), 32u);
}

TEST(AbiLayoutTest, ColumnInfo) {
  EXPECT_EQ(sizeof(LoupeColumnInfo), 40u);
  EXPECT_EQ(alignof(LoupeColumnInfo), 8u);
  EXPECT_EQ(offsetof(LoupeColumnInfo, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeColumnInfo, type), 4u);
  EXPECT_EQ(offsetof(LoupeColumnInfo, name), 8u);
  EXPECT_EQ(offsetof(LoupeColumnInfo, levels), 16u);
  EXPECT_EQ(offsetof(LoupeColumnInfo, n_levels), 24u);
  EXPECT_EQ(offsetof(LoupeColumnInfo, n_missing), 32u);
}

TEST(AbiLayoutTest, DatasetInfo) {
  EXPECT_EQ(sizeof(LoupeDatasetInfo), 64u);
  EXPECT_EQ(alignof(LoupeDatasetInfo), 8u);
  EXPECT_EQ(offsetof(LoupeDatasetInfo, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeDatasetInfo, n_rows), 8u);
  EXPECT_EQ(offsetof(LoupeDatasetInfo, n_features), 16u);
  EXPECT_EQ(offsetof(LoupeDatasetInfo, features), 24u);
  EXPECT_EQ(offsetof(LoupeDatasetInfo, target), 32u);
  EXPECT_EQ(offsetof(LoupeDatasetInfo, positive_label), 40u);
  EXPECT_EQ(offsetof(LoupeDatasetInfo, sensitive), 48u);
  EXPECT_EQ(offsetof(LoupeDatasetInfo, n_sensitive), 56u);
}

TEST(AbiLayoutTest, ModelInfo) {
  EXPECT_EQ(sizeof(LoupeModelInfo), 56u);
  EXPECT_EQ(alignof(LoupeModelInfo), 8u);
  EXPECT_EQ(offsetof(LoupeModelInfo, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeModelInfo, task), 4u);
  EXPECT_EQ(offsetof(LoupeModelInfo, default_space), 8u);
  EXPECT_EQ(offsetof(LoupeModelInfo, n_outputs), 16u);
  EXPECT_EQ(offsetof(LoupeModelInfo, output_names), 24u);
  EXPECT_EQ(offsetof(LoupeModelInfo, n_raw_outputs), 32u);
  EXPECT_EQ(offsetof(LoupeModelInfo, raw_output_names), 40u);
  EXPECT_EQ(offsetof(LoupeModelInfo, name), 48u);
}

TEST(AbiLayoutTest, HostApi) {
  EXPECT_EQ(sizeof(LoupeHostApi), 256u);
  EXPECT_EQ(alignof(LoupeHostApi), 8u);
  EXPECT_EQ(offsetof(LoupeHostApi, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeHostApi, abi_major), 4u);
  EXPECT_EQ(offsetof(LoupeHostApi, abi_minor), 8u);
  EXPECT_EQ(offsetof(LoupeHostApi, reserved0), 12u);
  EXPECT_EQ(offsetof(LoupeHostApi, set_error), 16u);
  EXPECT_EQ(offsetof(LoupeHostApi, log), 24u);
  EXPECT_EQ(offsetof(LoupeHostApi, report_progress), 32u);
  EXPECT_EQ(offsetof(LoupeHostApi, is_cancelled), 40u);
  EXPECT_EQ(offsetof(LoupeHostApi, parallel_for), 48u);
  EXPECT_EQ(offsetof(LoupeHostApi, seed), 56u);
  EXPECT_EQ(offsetof(LoupeHostApi, random_u64), 64u);
  EXPECT_EQ(offsetof(LoupeHostApi, params_json), 72u);
  EXPECT_EQ(offsetof(LoupeHostApi, dataset_info), 80u);
  EXPECT_EQ(offsetof(LoupeHostApi, dataset_features), 88u);
  EXPECT_EQ(offsetof(LoupeHostApi, dataset_column), 96u);
  EXPECT_EQ(offsetof(LoupeHostApi, step_rows), 104u);
  EXPECT_EQ(offsetof(LoupeHostApi, resolve_rows), 112u);
  EXPECT_EQ(offsetof(LoupeHostApi, model_info), 120u);
  EXPECT_EQ(offsetof(LoupeHostApi, model_predict), 128u);
  EXPECT_EQ(offsetof(LoupeHostApi, model_has_capability), 136u);
  EXPECT_EQ(offsetof(LoupeHostApi, model_capability), 144u);
  EXPECT_EQ(offsetof(LoupeHostApi, input_count), 152u);
  EXPECT_EQ(offsetof(LoupeHostApi, input_step), 160u);
  EXPECT_EQ(offsetof(LoupeHostApi, input_kind), 168u);
  EXPECT_EQ(offsetof(LoupeHostApi, input_json), 176u);
  EXPECT_EQ(offsetof(LoupeHostApi, input_array), 184u);
  EXPECT_EQ(offsetof(LoupeHostApi, result_set_number), 192u);
  EXPECT_EQ(offsetof(LoupeHostApi, result_set_string), 200u);
  EXPECT_EQ(offsetof(LoupeHostApi, result_set_strings), 208u);
  EXPECT_EQ(offsetof(LoupeHostApi, result_set_tensor), 216u);
  EXPECT_EQ(offsetof(LoupeHostApi, result_set_json), 224u);
  EXPECT_EQ(offsetof(LoupeHostApi, result_set_text_array), 232u);  // v1.2
  EXPECT_EQ(offsetof(LoupeHostApi, result_append_text_rows), 240u);
  EXPECT_EQ(offsetof(LoupeHostApi, result_new_tensor), 248u);
}

TEST(AbiLayoutTest, ParamSpec) {
  EXPECT_EQ(sizeof(LoupeParamSpec), 88u);
  EXPECT_EQ(alignof(LoupeParamSpec), 8u);
  EXPECT_EQ(offsetof(LoupeParamSpec, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeParamSpec, type), 4u);
  EXPECT_EQ(offsetof(LoupeParamSpec, name), 8u);
  EXPECT_EQ(offsetof(LoupeParamSpec, doc), 16u);
  EXPECT_EQ(offsetof(LoupeParamSpec, default_json), 24u);
  EXPECT_EQ(offsetof(LoupeParamSpec, required), 32u);
  EXPECT_EQ(offsetof(LoupeParamSpec, has_min), 36u);
  EXPECT_EQ(offsetof(LoupeParamSpec, has_max), 40u);
  EXPECT_EQ(offsetof(LoupeParamSpec, reserved0), 44u);
  EXPECT_EQ(offsetof(LoupeParamSpec, min_value), 48u);
  EXPECT_EQ(offsetof(LoupeParamSpec, max_value), 56u);
  EXPECT_EQ(offsetof(LoupeParamSpec, choices), 64u);
  EXPECT_EQ(offsetof(LoupeParamSpec, n_choices), 72u);
  EXPECT_EQ(offsetof(LoupeParamSpec, role), 80u);  // v1.2
  EXPECT_EQ(offsetof(LoupeParamSpec, reserved1), 84u);
  EXPECT_EQ(LOUPE_PARAM_ROLE_NONE, 0);
  EXPECT_EQ(LOUPE_PARAM_ROLE_COLUMN, 1);
  EXPECT_EQ(LOUPE_PARAM_ROLE_COLUMN_KEYS, 2);
  EXPECT_EQ(LOUPE_PARAM_ROLE_LABEL, 3);
  EXPECT_EQ(LOUPE_PARAM_ROLE_GROUPS, 4);
}

TEST(AbiLayoutTest, ExplainerVTable) {
  EXPECT_EQ(sizeof(LoupeExplainerVTable), 88u);
  EXPECT_EQ(alignof(LoupeExplainerVTable), 8u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, scope), 4u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, name), 8u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, summary), 16u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, output_kind), 24u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, params), 32u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, n_params), 40u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, required_capabilities), 48u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, n_required_capabilities), 56u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, create), 64u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, explain), 72u);
  EXPECT_EQ(offsetof(LoupeExplainerVTable, destroy), 80u);
}

TEST(AbiLayoutTest, PluginInfo) {
  EXPECT_EQ(sizeof(LoupePluginInfo), 64u);
  EXPECT_EQ(alignof(LoupePluginInfo), 8u);
  EXPECT_EQ(offsetof(LoupePluginInfo, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupePluginInfo, abi_major), 4u);
  EXPECT_EQ(offsetof(LoupePluginInfo, abi_minor), 8u);
  EXPECT_EQ(offsetof(LoupePluginInfo, reserved0), 12u);
  EXPECT_EQ(offsetof(LoupePluginInfo, magic), 16u);
  EXPECT_EQ(offsetof(LoupePluginInfo, name), 24u);
  EXPECT_EQ(offsetof(LoupePluginInfo, version), 32u);
  EXPECT_EQ(offsetof(LoupePluginInfo, description), 40u);
  EXPECT_EQ(offsetof(LoupePluginInfo, explainers), 48u);
  EXPECT_EQ(offsetof(LoupePluginInfo, n_explainers), 56u);
}

TEST(AbiValuesTest, TreeEnsembleConstants) {
  EXPECT_STREQ(LOUPE_TREE_ENSEMBLE_CAPABILITY, "tree_ensemble");
  EXPECT_EQ(sizeof(LoupeTreeSplitRule), 4u);
  EXPECT_EQ(sizeof(LoupeTreeLink), 4u);
  EXPECT_EQ(LOUPE_TREE_SPLIT_LESS, 1);
  EXPECT_EQ(LOUPE_TREE_SPLIT_LESS_EQUAL, 2);
  EXPECT_EQ(LOUPE_TREE_LINK_IDENTITY, 1);
  EXPECT_EQ(LOUPE_TREE_LINK_LOGISTIC, 2);
  EXPECT_EQ(LOUPE_TREE_LINK_SOFTMAX, 3);
}

TEST(AbiLayoutTest, Tree) {
  EXPECT_EQ(sizeof(LoupeTree), 112u);
  EXPECT_EQ(alignof(LoupeTree), 8u);
  EXPECT_EQ(offsetof(LoupeTree, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeTree, output), 4u);
  EXPECT_EQ(offsetof(LoupeTree, n_nodes), 8u);
  EXPECT_EQ(offsetof(LoupeTree, max_depth), 16u);
  EXPECT_EQ(offsetof(LoupeTree, reserved0), 20u);
  EXPECT_EQ(offsetof(LoupeTree, left), 24u);
  EXPECT_EQ(offsetof(LoupeTree, right), 32u);
  EXPECT_EQ(offsetof(LoupeTree, feature), 40u);
  EXPECT_EQ(offsetof(LoupeTree, threshold), 48u);
  EXPECT_EQ(offsetof(LoupeTree, default_left), 56u);
  EXPECT_EQ(offsetof(LoupeTree, is_leaf), 64u);
  EXPECT_EQ(offsetof(LoupeTree, is_categorical), 72u);
  EXPECT_EQ(offsetof(LoupeTree, value), 80u);
  EXPECT_EQ(offsetof(LoupeTree, cover), 88u);
  EXPECT_EQ(offsetof(LoupeTree, category_offsets), 96u);
  EXPECT_EQ(offsetof(LoupeTree, categories), 104u);
}

TEST(AbiLayoutTest, TreeEnsemble) {
  EXPECT_EQ(sizeof(LoupeTreeEnsemble), 64u);
  EXPECT_EQ(alignof(LoupeTreeEnsemble), 8u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, split_rule), 4u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, link), 8u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, max_depth), 12u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, n_outputs), 16u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, base_margin), 24u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, n_features), 32u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, features), 40u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, n_trees), 48u);
  EXPECT_EQ(offsetof(LoupeTreeEnsemble, trees), 56u);
}

TEST(AbiValuesTest, AttentionConstants) {
  EXPECT_STREQ(LOUPE_ATTENTION_CAPABILITY, "attention");
  static_assert(std::is_same_v<LoupeAttentionSink,
                               LoupeStatus (*)(void*, std::int64_t, std::int64_t, const char* const*,
                                               const std::int64_t*, std::int64_t, const char* const*,
                                               std::int64_t, const float*, const float*)>);
  static_assert(std::is_same_v<decltype(LoupeAttentionSource::compute),
                               LoupeStatus (*)(LoupeHost*, const std::int64_t*, std::int64_t,
                                               LoupeAttentionSink, void*)>);
}

TEST(AbiLayoutTest, AttentionSource) {
  EXPECT_EQ(sizeof(LoupeAttentionSource), 40u);
  EXPECT_EQ(offsetof(LoupeAttentionSource, pooling), 32u);  // appended in v1.1
  EXPECT_EQ(offsetof(LoupeAttentionSource, reserved1), 36u);
  EXPECT_EQ(alignof(LoupeAttentionSource), 8u);
  EXPECT_EQ(offsetof(LoupeAttentionSource, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeAttentionSource, has_pooling), 4u);
  EXPECT_EQ(offsetof(LoupeAttentionSource, n_layers), 8u);
  EXPECT_EQ(offsetof(LoupeAttentionSource, n_heads), 16u);
  EXPECT_EQ(offsetof(LoupeAttentionSource, compute), 24u);
}

TEST(AbiValuesTest, TextConstants) {
  EXPECT_STREQ(LOUPE_TEXT_CAPABILITY, "text");
  static_assert(
      std::is_same_v<LoupeTokensSink,
                     LoupeStatus (*)(void*, std::int64_t, std::int64_t, const char* const*,
                                     const std::int64_t*, std::int64_t, const char* const*, std::int64_t)>);
  static_assert(std::is_same_v<decltype(LoupeTextModel::predict_texts),
                               LoupeStatus (*)(LoupeHost*, const char* const*, std::int64_t, LoupeOutputSpace,
                                               double*, std::int64_t)>);
}

TEST(AbiLayoutTest, TextModel) {
  EXPECT_EQ(sizeof(LoupeTextModel), 24u);
  EXPECT_EQ(alignof(LoupeTextModel), 8u);
  EXPECT_EQ(offsetof(LoupeTextModel, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeTextModel, reserved0), 4u);
  EXPECT_EQ(offsetof(LoupeTextModel, tokenize_rows), 8u);
  EXPECT_EQ(offsetof(LoupeTextModel, predict_texts), 16u);
}
TEST(AbiValuesTest, PoolingConstants) {
  EXPECT_EQ(LOUPE_POOLING_UNKNOWN, 0);
  EXPECT_EQ(LOUPE_POOLING_CLS, 1);
  EXPECT_EQ(LOUPE_POOLING_MEAN, 2);
  EXPECT_EQ(LOUPE_POOLING_LAST, 3);
  EXPECT_EQ(LOUPE_POOLING_ATTENTION, 4);
  static_assert(std::is_same_v<LoupePoolingMode, std::int32_t>);
}

TEST(AbiValuesTest, HiddenStatesConstants) {
  EXPECT_STREQ(LOUPE_HIDDEN_STATES_CAPABILITY, "hidden_states");
  static_assert(std::is_same_v<LoupeHiddenStatesSink,
                               LoupeStatus (*)(void*, std::int64_t, std::int64_t, const char* const*,
                                               const std::int64_t*, std::int64_t, const char* const*,
                                               std::int64_t, const float* const*, const float*)>);
  static_assert(std::is_same_v<decltype(LoupeHiddenStates::compute),
                               LoupeStatus (*)(LoupeHost*, const std::int64_t*, std::int64_t,
                                               LoupeHiddenStatesSink, void*)>);
}

TEST(AbiLayoutTest, HiddenStates) {
  EXPECT_EQ(sizeof(LoupeHiddenStates), 48u);
  EXPECT_EQ(alignof(LoupeHiddenStates), 8u);
  EXPECT_EQ(offsetof(LoupeHiddenStates, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeHiddenStates, pooling), 4u);
  EXPECT_EQ(offsetof(LoupeHiddenStates, n_states), 8u);
  EXPECT_EQ(offsetof(LoupeHiddenStates, widths), 16u);
  EXPECT_EQ(offsetof(LoupeHiddenStates, names), 24u);
  EXPECT_EQ(offsetof(LoupeHiddenStates, pooled_width), 32u);
  EXPECT_EQ(offsetof(LoupeHiddenStates, compute), 40u);
}

TEST(AbiValuesTest, HeadMaskConstants) {
  EXPECT_STREQ(LOUPE_HEAD_MASK_CAPABILITY, "head_mask");
  static_assert(std::is_same_v<decltype(LoupeHeadMask::predict_rows),
                               LoupeStatus (*)(LoupeHost*, const std::int64_t*, std::int64_t, const float*,
                                               std::int64_t, LoupeOutputSpace, double*, std::int64_t)>);
}

TEST(AbiLayoutTest, HeadMask) {
  EXPECT_EQ(sizeof(LoupeHeadMask), 32u);
  EXPECT_EQ(alignof(LoupeHeadMask), 8u);
  EXPECT_EQ(offsetof(LoupeHeadMask, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeHeadMask, reserved0), 4u);
  EXPECT_EQ(offsetof(LoupeHeadMask, n_layers), 8u);
  EXPECT_EQ(offsetof(LoupeHeadMask, n_heads), 16u);
  EXPECT_EQ(offsetof(LoupeHeadMask, predict_rows), 24u);
}

TEST(AbiValuesTest, GradientConstants) {
  EXPECT_STREQ(LOUPE_GRADIENT_CAPABILITY, "gradient");
  EXPECT_GE(LOUPE_PLUGIN_ABI_MINOR_LATEST, 3);
  static_assert(std::is_same_v<decltype(LoupeGradientModel::gradient),
                               LoupeStatus (*)(LoupeHost*, const LoupeTensorView*, LoupeOutputSpace,
                                               const double*, double*, std::int64_t)>);
  static_assert(std::is_same_v<decltype(LoupeGradientModel::deeplift),
                               LoupeStatus (*)(LoupeHost*, const LoupeTensorView*, const LoupeTensorView*,
                                               LoupeOutputSpace, const double*, double*, std::int64_t)>);
}

TEST(AbiLayoutTest, GradientModel) {
  EXPECT_EQ(sizeof(LoupeGradientModel), 24u);
  EXPECT_EQ(alignof(LoupeGradientModel), 8u);
  EXPECT_EQ(offsetof(LoupeGradientModel, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeGradientModel, has_deeplift), 4u);
  EXPECT_EQ(offsetof(LoupeGradientModel, gradient), 8u);
  EXPECT_EQ(offsetof(LoupeGradientModel, deeplift), 16u);
}

TEST(AbiValuesTest, RowVariantsConstants) {
  EXPECT_STREQ(LOUPE_ROW_VARIANTS_CAPABILITY, "row_variants");
  static_assert(std::is_same_v<decltype(LoupeRowVariants::predict),
                               LoupeStatus (*)(LoupeHost*, const LoupeTensorView*, std::int64_t,
                                               const std::int64_t*, const std::int64_t*, const double*,
                                               LoupeOutputSpace, double*, std::int64_t)>);
}

TEST(AbiLayoutTest, RowVariants) {
  EXPECT_EQ(sizeof(LoupeRowVariants), 16u);
  EXPECT_EQ(alignof(LoupeRowVariants), 8u);
  EXPECT_EQ(offsetof(LoupeRowVariants, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeRowVariants, reserved), 4u);
  EXPECT_EQ(offsetof(LoupeRowVariants, predict), 8u);
}

TEST(AbiValuesTest, TextGradientConstants) {
  EXPECT_STREQ(LOUPE_TEXT_GRADIENT_CAPABILITY, "text_gradient");
  static_assert(std::is_same_v<LoupeTokenEmbeddingsSink,
                               LoupeStatus (*)(void*, std::int64_t, std::int64_t, const char* const*,
                                               const std::int64_t*, std::int64_t, const char* const*,
                                               std::int64_t, const float*)>);
  static_assert(std::is_same_v<decltype(LoupeTextGradient::layer_gradient),
                               LoupeStatus (*)(LoupeHost*, const float*, std::int64_t, std::int64_t,
                                               const std::int64_t*, LoupeOutputSpace, const double*, float*,
                                               double*, std::int64_t)>);
}

TEST(AbiLayoutTest, TextGradient) {
  EXPECT_EQ(sizeof(LoupeTextGradient), 56u);
  EXPECT_EQ(alignof(LoupeTextGradient), 8u);
  EXPECT_EQ(offsetof(LoupeTextGradient, struct_size), 0u);
  EXPECT_EQ(offsetof(LoupeTextGradient, reserved0), 4u);
  EXPECT_EQ(offsetof(LoupeTextGradient, width), 8u);
  EXPECT_EQ(offsetof(LoupeTextGradient, pad_embedding), 16u);
  EXPECT_EQ(offsetof(LoupeTextGradient, layer_name), 24u);
  EXPECT_EQ(offsetof(LoupeTextGradient, embed_rows), 32u);
  EXPECT_EQ(offsetof(LoupeTextGradient, layer_gradient), 40u);
  EXPECT_EQ(offsetof(LoupeTextGradient, pad_embeddings), 48u);
}
}  // namespace
