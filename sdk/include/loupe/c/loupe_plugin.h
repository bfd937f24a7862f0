/*
 * loupe_plugin.h — the Loupe plugin ABI (C99).
 *
 * This header is the only thing that crosses the shared-library boundary between the Loupe host and an
 * explainer plugin. It is plain C99 so that a plugin built with another compiler or C++ standard library
 * still loads, and so that an incompatible plugin is refused with a sentence instead of a crash.
 *
 * Versioning rules (docs/architecture.md §2; an installed SDK has it as share/doc/loupe/architecture.md):
 *  - LOUPE_PLUGIN_ABI_MAJOR changes only when something is removed or changes meaning. A plugin built for
 *    another major is refused before it is loaded (its entry symbol carries the major in its name).
 *  - LOUPE_PLUGIN_ABI_MINOR grows by one with EVERY append: a struct field, a host function, a
 *    capability, a constant. Each append is listed under its minor in the changelog below and declared
 *    inside `#if LOUPE_PLUGIN_ABI_MINOR >= <minor>`. A host accepts plugins built for its own minor or an
 *    older one; a plugin built for a newer minor is refused after load.
 *  - A plugin that must also load in older hosts defines LOUPE_PLUGIN_ABI_MINOR_OVERRIDE=<minor> (e.g.
 *    -DLOUPE_PLUGIN_ABI_MINOR_OVERRIDE=0) before including this header: it then sees exactly the
 *    declarations and struct layouts of that minor, and reports that minor to the host.
 *  - Every struct starts with `struct_size` (its version field): the producer stores sizeof(struct) as it
 *    knew it, and a consumer reads an appended field only if struct_size covers it.
 *  - Fields are only ever appended. Tests pin every size and offset on x86-64 and aarch64 (LP64).
 *  - A capability (LoupeHostApi::model_capability) has its own version, starting at 1: a host hands out a
 *    capability only for a version it supports, and a new layout of a capability is a new version.
 *
 * Changelog (what each minor appended; DuckDB groups its C API by version the same way):
 *  v1.0  The host API table (LoupeHostApi), explainers (LoupeExplainerVTable, LoupeParamSpec),
 *        LoupePluginInfo, and the capabilities "tree_ensemble" (version 1), "attention" (version 1,
 *        LoupeAttentionSource up to `compute`) and "text" (version 1).
 *  v1.1  LoupeAttentionSource::pooling (and reserved1), LoupePoolingMode with the LOUPE_POOLING_* codes,
 *        and the capabilities "hidden_states" (version 1, LoupeHiddenStates) and "head_mask" (version 1,
 *        LoupeHeadMask).
 *  v1.2  LoupeHostApi::result_set_text_array and result_append_text_rows (string arrays held as text
 *        buffers, sent a block of rows at a time);
 *        LoupeParamSpec::role (and reserved1) with the LOUPE_PARAM_ROLE_* codes: what a parameter's value
 *        names in the data (columns, a class label, groups), so the host checks it before any step runs.
 *  v1.3  the capability "gradient" (version 1, LoupeGradientModel): gradients of a network's outputs with
 *        respect to the pipeline's features, and DeepLIFT's rescale-rule attributions.
 *  v1.4  the capability "row_variants" (version 1, LoupeRowVariants): a model whose first layer is linear
 *        evaluates base rows with a few features changed by updating that layer's pre-activations
 *        instead of evaluating every changed row from scratch (partial dependence, masked SHAP rows).
 *  v1.5  the capability "text_gradient" (version 1, LoupeTextGradient): a text network's tokens, the output
 *        of its embedding layer, and gradients with respect to that output (layer attributions per token).
 *  v1.6  LoupeTextGradient::pad_embeddings (the pad baseline of a whole text, for embedding layers whose
 *        output depends on the position: Hugging Face encoders); required capabilities may name
 *        alternatives ("gradient|text_gradient": the model must offer one of them).
 *
 * Ownership rules:
 *  - Everything the host hands to a plugin (strings, arrays, tensor views) is owned by the host and valid
 *    until the call that produced it returns, unless stated otherwise.
 *  - Everything a plugin hands to the host through its plugin info and vtables (names, parameter specs)
 *    is static data that must stay valid while the library is loaded.
 *  - Results are written into host-owned builders; the plugin never allocates memory the host frees.
 *
 * Errors: functions return a LoupeStatus. A plugin that fails calls LoupeHostApi::set_error with one
 * sentence and returns the same non-zero status. No C++ exception may cross this boundary.
 */
#ifndef LOUPE_C_LOUPE_PLUGIN_H
#define LOUPE_C_LOUPE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------------- */
/* Versions and identification                                                                         */
/* ---------------------------------------------------------------------------------------------------- */

#define LOUPE_PLUGIN_ABI_MAJOR 1
/** The newest minor this header describes (see the changelog at the top). */
#define LOUPE_PLUGIN_ABI_MINOR_LATEST 6

/** The minor this translation unit is built against: the latest, or LOUPE_PLUGIN_ABI_MINOR_OVERRIDE. */
#ifdef LOUPE_PLUGIN_ABI_MINOR_OVERRIDE
#if LOUPE_PLUGIN_ABI_MINOR_OVERRIDE < 0 || LOUPE_PLUGIN_ABI_MINOR_OVERRIDE > LOUPE_PLUGIN_ABI_MINOR_LATEST
#error "LOUPE_PLUGIN_ABI_MINOR_OVERRIDE must name a minor this header describes (0 to ..._LATEST)"
#endif
#define LOUPE_PLUGIN_ABI_MINOR LOUPE_PLUGIN_ABI_MINOR_OVERRIDE
#else
#define LOUPE_PLUGIN_ABI_MINOR LOUPE_PLUGIN_ABI_MINOR_LATEST
#endif

/** Stored in LoupePluginInfo::magic: the ASCII bytes "LOUPEPLG" read as a little-endian integer. */
#define LOUPE_PLUGIN_MAGIC 0x474C504550554F4CULL

/** The exported entry symbol for ABI major 1. A future major exports `loupe_plugin_entry_v2`, and so on,
 *  which lets the host tell the version of a plugin from its symbol table without loading it. */
#define LOUPE_PLUGIN_ENTRY_SYMBOL "loupe_plugin_entry_v1"

/** Section in which the entry symbol is placed (Boost.DLL `BOOST_DLL_ALIAS_SECTIONED(..., loupe)`). */
#define LOUPE_PLUGIN_SECTION "loupe"

/* ---------------------------------------------------------------------------------------------------- */
/* Status codes                                                                                        */
/* ---------------------------------------------------------------------------------------------------- */

typedef int32_t LoupeStatus;
#define LOUPE_OK 0
#define LOUPE_ERROR_INVALID_ARGUMENT 1 /**< a parameter or input the plugin cannot accept */
#define LOUPE_ERROR_UNSUPPORTED 2      /**< the model or data lacks what the explainer needs */
#define LOUPE_ERROR_MODEL 3            /**< the model failed while predicting */
#define LOUPE_ERROR_CANCELLED 4        /**< the host asked the plugin to stop */
#define LOUPE_ERROR_OUT_OF_MEMORY 5
#define LOUPE_ERROR_INTERNAL 6  /**< a bug; the message says where */
#define LOUPE_ERROR_NOT_FOUND 7 /**< a named column, input, field or capability does not exist */

/* ---------------------------------------------------------------------------------------------------- */
/* Tensors                                                                                             */
/* ---------------------------------------------------------------------------------------------------- */

typedef int32_t LoupeDType;
#define LOUPE_DTYPE_F32 1
#define LOUPE_DTYPE_F64 2
#define LOUPE_DTYPE_I32 3
#define LOUPE_DTYPE_I64 4
#define LOUPE_DTYPE_U8 5

/** A non-owning view of an n-dimensional array (DLPack-like). */
typedef struct LoupeTensorView {
  uint32_t struct_size; /**< sizeof(LoupeTensorView) as the producer knew it */
  LoupeDType dtype;
  int32_t ndim;
  int32_t read_only;      /**< non-zero: the consumer must not write through `data` */
  void* data;             /**< first element */
  const int64_t* shape;   /**< ndim extents */
  const int64_t* strides; /**< ndim strides in elements; NULL means contiguous row-major */
} LoupeTensorView;

/* ---------------------------------------------------------------------------------------------------- */
/* What the host describes to a plugin: data and model                                                  */
/* ---------------------------------------------------------------------------------------------------- */

typedef int32_t LoupeFeatureType;
#define LOUPE_FEATURE_NUMERIC 1
#define LOUPE_FEATURE_CATEGORICAL 2 /**< values are level codes 0..n_levels-1 stored as doubles */
#define LOUPE_FEATURE_TEXT                                                \
  3 /**< values are text handles: the index of the data row whose text it \
         is, NaN when missing; model_predict resolves them to the texts */

/** One column of the pipeline's dataset. Missing values are NaN in every numeric view. */
typedef struct LoupeColumnInfo {
  uint32_t struct_size;
  LoupeFeatureType type;
  const char* name;
  const char* const* levels; /**< categorical: level names indexed by code; otherwise NULL */
  int64_t n_levels;
  int64_t n_missing;
} LoupeColumnInfo;

/** The dataset a step works on. `features` is the matrix explainers perturb: one row per data row, one
 *  column per pipeline feature, categoricals as level codes, missing as NaN. */
typedef struct LoupeDatasetInfo {
  uint32_t struct_size;
  int64_t n_rows;
  int64_t n_features;
  const LoupeColumnInfo* features; /**< n_features entries, in the order of the `features` matrix */
  const char* target;              /**< name of the target column, or NULL when the data has none */
  const char* positive_label;      /**< the pipeline's `positive` label, or NULL */
  const char* const* sensitive;    /**< the pipeline's `sensitive` column names */
  int64_t n_sensitive;
} LoupeDatasetInfo;

typedef int32_t LoupeTask;
#define LOUPE_TASK_CLASSIFICATION 1
#define LOUPE_TASK_REGRESSION 2

typedef int32_t LoupeOutputSpace;
#define LOUPE_OUTPUT_DEFAULT 0     /**< the model's own outputs: probabilities for classifiers */
#define LOUPE_OUTPUT_PROBABILITY 1 /**< class probabilities (classifiers only) */
#define LOUPE_OUTPUT_RAW 2         /**< margins / logits (classifiers) or values (regressors) */

typedef struct LoupeModelInfo {
  uint32_t struct_size;
  LoupeTask task;
  LoupeOutputSpace default_space; /**< the space of LOUPE_OUTPUT_DEFAULT */
  int64_t n_outputs;              /**< outputs in the default space */
  const char* const* output_names;
  int64_t n_raw_outputs; /**< outputs in the raw space (1 for a binary logistic model) */
  const char* const* raw_output_names;
  const char* name; /**< the model's name, for provenance */
} LoupeModelInfo;

/* ---------------------------------------------------------------------------------------------------- */
/* Host API (host → plugin)                                                                            */
/* ---------------------------------------------------------------------------------------------------- */

/** Opaque context of one create/explain call. Every host function takes it first. */
typedef struct LoupeHost LoupeHost;

/** Opaque, host-owned result of one explain call. */
typedef struct LoupeResultBuilder LoupeResultBuilder;

typedef int32_t LoupeLogLevel;
#define LOUPE_LOG_DEBUG 0
#define LOUPE_LOG_INFO 1
#define LOUPE_LOG_WARNING 2

typedef struct LoupeHostApi {
  uint32_t struct_size;
  uint32_t abi_major; /**< the host's LOUPE_PLUGIN_ABI_MAJOR */
  uint32_t abi_minor; /**< the host's LOUPE_PLUGIN_ABI_MINOR */
  uint32_t reserved0;

  /* --- errors, logging, progress, cancellation --- */

  /** Records one sentence describing why the current call fails; returns `status` for convenience. */
  LoupeStatus (*set_error)(LoupeHost* host, LoupeStatus status, const char* message);
  void (*log)(LoupeHost* host, LoupeLogLevel level, const char* message);
  /** Reports progress of the current step; thread-safe; `done` need not be monotonic across threads. */
  void (*report_progress)(LoupeHost* host, uint64_t done, uint64_t total);
  /** Non-zero when the run is being cancelled: return LOUPE_ERROR_CANCELLED soon. Thread-safe. */
  int32_t (*is_cancelled)(LoupeHost* host);
  /** Runs body(ctx, b, e) over disjoint chunks [b, e) covering [begin, end), each at most `grain` long
   *  (grain <= 0: the host chooses), on the host's thread pool (bounded by `loupe run --threads`). Chunk
   *  boundaries depend only on (begin, end, grain), never on the thread count, so a body that writes
   *  each chunk's results to their own place gives identical bits on any number of threads. Returns the
   *  first non-OK status a body returned (after set_error), or LOUPE_OK. */
  LoupeStatus (*parallel_for)(LoupeHost* host, int64_t begin, int64_t end, int64_t grain,
                              LoupeStatus (*body)(void* ctx, int64_t chunk_begin, int64_t chunk_end),
                              void* ctx);

  /* --- reproducible randomness --- */

  /** The step's seed, derived by the host from the pipeline seed and the step id. */
  uint64_t (*seed)(LoupeHost* host);
  /** Counter-based random numbers (Philox4x32-10) keyed by (step seed, `row`, `stream`): fills out[0..n)
   *  with the 64-bit words number counter .. counter+n-1 of that key. The same arguments give the same
   *  bits on any thread, in any order, at any batch size. Thread-safe. */
  void (*random_u64)(LoupeHost* host, uint64_t row, uint64_t stream, uint64_t counter, uint64_t* out,
                     size_t n);

  /* --- parameters --- */

  /** The step's parameters after validation against the explainer's spec, with defaults filled in, as a
   *  canonical JSON object (keys sorted). */
  const char* (*params_json)(LoupeHost* host);

  /* --- data --- */

  LoupeStatus (*dataset_info)(LoupeHost* host, LoupeDatasetInfo* out);
  /** The read-only feature matrix, f64 [n_rows, n_features] (see LoupeDatasetInfo). */
  LoupeStatus (*dataset_features)(LoupeHost* host, LoupeTensorView* out);
  /** Any column of the data file by name (target, sensitive attributes, ...) as a read-only f64 [n_rows]
   *  view; categorical columns as level codes, with their levels in `info`. LOUPE_ERROR_NOT_FOUND when
   *  there is no such column. */
  LoupeStatus (*dataset_column)(LoupeHost* host, const char* name, LoupeColumnInfo* info,
                                LoupeTensorView* values);
  /** The rows this step explains (its `rows:`; every row for global steps), as 0-based row indices. */
  LoupeStatus (*step_rows)(LoupeHost* host, const int64_t** rows, int64_t* n_rows);
  /** Resolves a row selection written as JSON — "a:b", [i, j, ...], a count N (a seeded sample of N
   *  rows without replacement, drawn with `stream`), or "all" — into host-owned row indices. */
  LoupeStatus (*resolve_rows)(LoupeHost* host, const char* selection_json, uint64_t stream,
                              const int64_t** rows, int64_t* n_rows);

  /* --- model --- */

  LoupeStatus (*model_info)(LoupeHost* host, LoupeModelInfo* out);
  /** Evaluates the model on a batch. `inputs` is f64 [n, n_features] laid out like the feature matrix;
   *  `outputs` is a caller-owned, contiguous f64 buffer of n * n_outputs(space) elements. Thread-safe and
   *  reentrant: call it from many tasks at once, with batches as large as you can (thousands of rows). */
  LoupeStatus (*model_predict)(LoupeHost* host, const LoupeTensorView* inputs, LoupeOutputSpace space,
                               double* outputs, int64_t outputs_capacity);
  /** Non-zero when the model offers the named capability ("attention", "tree_ensemble", ...). */
  int32_t (*model_has_capability)(LoupeHost* host, const char* capability);
  /** The capability's C description, whose layout the capability's own header defines (a later ABI
   *  minor adds them), or NULL when the model lacks it. Valid until the call returns. */
  const void* (*model_capability)(LoupeHost* host, const char* capability, uint32_t version);

  /* --- explanations of the steps this step `needs` --- */

  int64_t (*input_count)(LoupeHost* host);
  /** The step id, kind and whole explanation (the loupe.explanation/v1 JSON) of input `index`. */
  const char* (*input_step)(LoupeHost* host, int64_t index);
  const char* (*input_kind)(LoupeHost* host, int64_t index);
  const char* (*input_json)(LoupeHost* host, int64_t index);
  /** A numeric field of input `index` (a top-level key such as "values", or a dotted path such as
   *  "quality.additivity_residual") as a read-only, contiguous f64 tensor. Nested JSON arrays must be
   *  rectangular. */
  LoupeStatus (*input_array)(LoupeHost* host, int64_t index, const char* path, LoupeTensorView* out);

  /* --- results --- */

  /** Sets a field of the explanation. `path` is a top-level key or a dotted path ("quality.fidelity")
   *  whose intermediate objects are created as needed. Setting a path twice replaces the value. Each
   *  setter is thread-safe but concurrent writes to the same path are unordered. */
  LoupeStatus (*result_set_number)(LoupeResultBuilder* result, const char* path, double value);
  LoupeStatus (*result_set_string)(LoupeResultBuilder* result, const char* path, const char* value);
  /** Stores `n` strings as a JSON array of strings. */
  LoupeStatus (*result_set_strings)(LoupeResultBuilder* result, const char* path, const char* const* values,
                                    int64_t n);
  /** Stores a tensor as nested JSON arrays (NaN and infinities become null). */
  LoupeStatus (*result_set_tensor)(LoupeResultBuilder* result, const char* path,
                                   const LoupeTensorView* value);
  /** Stores any JSON value given as text; LOUPE_ERROR_INVALID_ARGUMENT when `json` does not parse. */
  LoupeStatus (*result_set_json)(LoupeResultBuilder* result, const char* path, const char* json);

#if LOUPE_PLUGIN_ABI_MINOR >= 2
  /* --- v1.2 --- */

  /** Stores a rectangular array of UTF-8 strings, shown in the files as nested JSON arrays of strings and
   *  kept by the host as one text buffer: for large string fields such as feature_attribution's `data`,
   *  where a separate string or JSON node per cell would cost tens of bytes each. `shape` has `ndim` >= 1
   *  extents; with n their product, cell i (row-major) is chars[ends[i-1], ends[i]) (ends[-1] = 0):
   *  `ends` holds n non-decreasing offsets and `chars` ends[n-1] bytes (no terminators needed).
   *  LOUPE_ERROR_INVALID_ARGUMENT for a negative extent, decreasing offsets, a cell of 4 GiB or more, or
   *  text that is not UTF-8. */
  LoupeStatus (*result_set_text_array)(LoupeResultBuilder* result, const char* path, int32_t ndim,
                                       const int64_t* shape, const char* chars, const uint64_t* ends);
  /** Appends `n_rows` rows (along the first axis) to the string array at `path`, which
   *  result_set_text_array made (with any number of rows, 0 included); cells are laid out as there, each
   *  row holding as many cells as the array's extents after the first multiply to. Lets a plugin send a
   *  large string array a block of rows at a time instead of holding all of it. LOUPE_ERROR_NOT_FOUND
   *  when `path` holds no string array; LOUPE_ERROR_INVALID_ARGUMENT as for result_set_text_array. */
  LoupeStatus (*result_append_text_rows)(LoupeResultBuilder* result, const char* path, int64_t n_rows,
                                         const char* chars, const uint64_t* ends);
  /** Creates the field at `path` as a zero-filled, row-major tensor of `dtype` and `shape` (`ndim` >= 0
   *  extents) held by the host, and sets `*data` to its first element (NULL when it has no elements):
   *  the plugin writes a large array in place, from any threads (disjoint elements), instead of building
   *  it and having it copied. The pointer is valid until the explain call returns or `path` (or a path
   *  above or below it) is set again. LOUPE_ERROR_INVALID_ARGUMENT for an unknown dtype, a negative
   *  extent, or a null `data` or `shape` (with ndim > 0). */
  LoupeStatus (*result_new_tensor)(LoupeResultBuilder* result, const char* path, LoupeDType dtype,
                                   int32_t ndim, const int64_t* shape, void** data);
#endif
} LoupeHostApi;

/* ---------------------------------------------------------------------------------------------------- */
/* Explainers (plugin → host)                                                                          */
/* ---------------------------------------------------------------------------------------------------- */

typedef int32_t LoupeParamType;
#define LOUPE_PARAM_BOOL 1
#define LOUPE_PARAM_INT 2
#define LOUPE_PARAM_FLOAT 3
#define LOUPE_PARAM_STRING 4
#define LOUPE_PARAM_ENUM 5 /**< a string from `choices` */
#define LOUPE_PARAM_ROWS 6 /**< a row selection: "a:b", a list of rows, a count, or "all" */
#define LOUPE_PARAM_JSON 7 /**< any YAML value, passed on as JSON; the explainer validates it */
#define LOUPE_PARAM_STRING_LIST 8

#if LOUPE_PLUGIN_ABI_MINOR >= 2 /* v1.2: parameter roles */
/** What a parameter's value names in the pipeline's data. The host checks it against the data before
 *  any step runs (`loupe validate` and `loupe run` alike), so a misspelt column or label is a
 *  configuration error with a position rather than a failed step. */
typedef int32_t LoupeParamRole;
#define LOUPE_PARAM_ROLE_NONE 0        /**< nothing the host checks beyond the type */
#define LOUPE_PARAM_ROLE_COLUMN 1      /**< STRING or STRING_LIST: each string is a column of the data */
#define LOUPE_PARAM_ROLE_COLUMN_KEYS 2 /**< JSON mapping whose keys are columns of the data ({col: ...}) */
/** A class label: a value of the target column or a class the model outputs. The step may write it as
 *  a string, a number or a boolean (`favorable: 1`); the plugin always receives it as a string. Declare
 *  such a parameter as STRING. */
#define LOUPE_PARAM_ROLE_LABEL 3
/** JSON groups of the sensitive columns: a value, a list of values, {column: value(s)} or a list of such
 *  mappings; each column must exist and each value must occur in its column. */
#define LOUPE_PARAM_ROLE_GROUPS 4
#endif

/** One parameter an explainer accepts. The host validates a step's params against these before it calls
 *  create(): unknown names, wrong types, values out of [min_value, max_value] and strings outside
 *  `choices` are configuration errors that name the pipeline file, line and column. */
typedef struct LoupeParamSpec {
  uint32_t struct_size;
  LoupeParamType type;
  const char* name;
  const char* doc;          /**< one sentence, shown by `loupe describe` */
  const char* default_json; /**< the default as JSON text; NULL when the parameter has no default */
  int32_t required;         /**< non-zero: the step must set it */
  int32_t has_min;
  int32_t has_max;
  int32_t reserved0;
  double min_value; /**< inclusive bounds for INT and FLOAT when has_min / has_max */
  double max_value;
  const char* const* choices; /**< ENUM: the allowed strings */
  int64_t n_choices;
#if LOUPE_PLUGIN_ABI_MINOR >= 2
  LoupeParamRole role; /**< v1.2: LOUPE_PARAM_ROLE_*; read only when struct_size covers it */
  int32_t reserved1;   /**< zero */
#endif
} LoupeParamSpec;

typedef int32_t LoupeScope;
#define LOUPE_SCOPE_LOCAL 1  /**< explains the step's rows one by one */
#define LOUPE_SCOPE_GLOBAL 2 /**< describes the model over the whole dataset */

/** Opaque, plugin-owned state of one configured explainer. */
typedef struct LoupeExplainerInstance LoupeExplainerInstance;

typedef struct LoupeExplainerVTable {
  uint32_t struct_size;
  LoupeScope scope;
  const char* name;        /**< "plugin.explainer", e.g. "shap.exact"; unique across loaded plugins */
  const char* summary;     /**< one sentence */
  const char* output_kind; /**< "feature_attribution", "surrogate_tree", "attention_maps", ... */
  /** The parameter specs, an array whose stride is its first spec's struct_size (all of them equal): a
   *  plugin built for an older minor has shorter specs than a newer host's sizeof(LoupeParamSpec). */
  const LoupeParamSpec* params;
  int64_t n_params;
  /** Model capabilities the explainer needs, all of them. Since v1.6 an entry may list alternatives
   *  separated by '|' ("gradient|text_gradient"): the model must offer at least one of them, and the
   *  explainer asks the host which one it has (model_has_capability) when it runs. A host older than v1.6
   *  refuses such a plugin by its minor before it reads this table. */
  const char* const* required_capabilities;
  int64_t n_required_capabilities;
  /** Configures an instance from the host's validated params (host->params_json). May be called from
   *  any thread. On failure: set_error, return non-zero, leave *out untouched. */
  LoupeStatus (*create)(const LoupeHostApi* api, LoupeHost* host, LoupeExplainerInstance** out);
  /** Explains the step's rows into `result`. Must be reentrant for distinct hosts (the host may run
   *  several explain calls of one instance at once). */
  LoupeStatus (*explain)(const LoupeExplainerInstance* instance, const LoupeHostApi* api, LoupeHost* host,
                         LoupeResultBuilder* result);
  void (*destroy)(LoupeExplainerInstance* instance);
} LoupeExplainerVTable;

typedef struct LoupePluginInfo {
  uint32_t struct_size;
  uint32_t abi_major; /**< LOUPE_PLUGIN_ABI_MAJOR the plugin was built against */
  uint32_t abi_minor; /**< LOUPE_PLUGIN_ABI_MINOR the plugin was built against */
  uint32_t reserved0;
  uint64_t magic; /**< LOUPE_PLUGIN_MAGIC */
  const char* name;
  const char* version;
  const char* description;
  const LoupeExplainerVTable* const* explainers;
  int64_t n_explainers;
} LoupePluginInfo;

/** Signature of `loupe_plugin_entry_v1`. The host passes its own ABI version; the plugin returns its
 *  static description, or NULL after writing one sentence (at most error_capacity bytes, NUL included)
 *  into `error` when it cannot run in this host. */
typedef const LoupePluginInfo* (*LoupePluginEntryFn)(uint32_t host_abi_major, uint32_t host_abi_minor,
                                                     char* error, size_t error_capacity);

/* ---------------------------------------------------------------------------------------------------- */
/* Model capability "tree_ensemble" (version 1): the trees of a gradient-boosted or random-forest model  */
/* ---------------------------------------------------------------------------------------------------- */

/** LoupeHostApi::model_capability(host, LOUPE_TREE_ENSEMBLE_CAPABILITY, 1) returns a
 *  `const LoupeTreeEnsemble*` (NULL when the model has no trees). Everything it points to is owned by the
 *  model and stays valid and unchanged while the explain call runs.
 *
 *  Evaluating the ensemble on a row x of the MODEL's inputs (see `features`): start every tree at node 0
 *  and, until a leaf is reached, move to left[node] or right[node]:
 *   - x[feature[node]] is NaN (missing): left when default_left[node] is non-zero, else right;
 *   - numeric split (is_categorical[node] == 0): left when x < threshold[node] (split_rule LESS) or
 *     x <= threshold[node] (LESS_EQUAL). Thresholds are doubles chosen so that this comparison on the f64
 *     input gives exactly the decision of the original model (XGBoost compares in f32);
 *   - categorical split: right when x is a category code c >= 0 (truncated toward zero, below 2^24) listed
 *     in categories[category_offsets[node] .. category_offsets[node + 1]) (sorted, ascending), left
 *     otherwise, unknown codes included (XGBoost's rule: the listed set goes right).
 *  margin[o] = base_margin[o] + the sum of value[leaf] over the trees whose `output` is o. The model's
 *  outputs are link(margin): see LoupeTreeLink.
 *
 *  Feature indices refer to the model's own inputs, in `features` order, which in general is NOT the
 *  order of the pipeline's feature matrix: map them by name (features[i].name). A categorical input's
 *  codes index features[i].levels; the pipeline's codes index its own levels, so map those by level
 *  name too (a data level the model does not know is treated as missing by the host's model_predict). */
#define LOUPE_TREE_ENSEMBLE_CAPABILITY "tree_ensemble"

typedef int32_t LoupeTreeSplitRule;
#define LOUPE_TREE_SPLIT_LESS 1       /**< x < threshold goes left (XGBoost) */
#define LOUPE_TREE_SPLIT_LESS_EQUAL 2 /**< x <= threshold goes left (scikit-learn, LightGBM) */

typedef int32_t LoupeTreeLink;
#define LOUPE_TREE_LINK_IDENTITY 1 /**< regression: the output is the margin */
/** binary: P(class 1) = 1 / (1 + exp(-margin[0])), P(class 0) = 1 - it */
#define LOUPE_TREE_LINK_LOGISTIC 2
#define LOUPE_TREE_LINK_SOFTMAX 3 /**< multi-class: probabilities = softmax(margin[0..n_outputs)) */

/** One tree as parallel arrays over its n_nodes nodes; node 0 is the root. Nodes unreachable from the
 *  root (XGBoost's deleted nodes) may be present and are ignored. */
typedef struct LoupeTree {
  uint32_t struct_size; /**< sizeof(LoupeTree) as the producer knew it */
  int32_t output;       /**< the raw output (margin index, 0..n_outputs-1) this tree adds to */
  int64_t n_nodes;
  int32_t max_depth; /**< edges on the longest root-to-leaf path (0: the root is a leaf) */
  int32_t reserved0;
  const int32_t* left;             /**< child index, -1 at leaves */
  const int32_t* right;            /**< child index, -1 at leaves */
  const int32_t* feature;          /**< index into LoupeTreeEnsemble::features, -1 at leaves */
  const double* threshold;         /**< numeric splits (see the split rule); NaN elsewhere */
  const uint8_t* default_left;     /**< non-zero: a missing value goes left */
  const uint8_t* is_leaf;          /**< non-zero at leaves */
  const uint8_t* is_categorical;   /**< non-zero at categorical splits */
  const double* value;             /**< leaves: the amount added to the margin (tree weights applied);
                                        inner nodes: the cover-weighted mean of their children's values,
                                        the node's expectation used by path-dependent TreeSHAP */
  const double* cover;             /**< training rows' weight through the node (XGBoost: sum of hessians) */
  const int64_t* category_offsets; /**< n_nodes + 1 offsets into `categories`; equal at other nodes */
  const int32_t* categories;       /**< the category codes a categorical split sends right, per node */
} LoupeTree;

typedef struct LoupeTreeEnsemble {
  uint32_t struct_size; /**< sizeof(LoupeTreeEnsemble) as the producer knew it */
  LoupeTreeSplitRule split_rule;
  LoupeTreeLink link;
  int32_t max_depth;         /**< the deepest tree's max_depth */
  int64_t n_outputs;         /**< raw outputs (margins): 1 for regression and binary, K classes */
  const double* base_margin; /**< n_outputs: the margin before any tree (XGBoost: from base_score) */
  int64_t n_features;
  const LoupeColumnInfo* features; /**< the model's inputs by index: name, type, levels (categoricals) */
  int64_t n_trees;
  const LoupeTree* const* trees; /**< n_trees pointers (each tree carries its own struct_size) */
} LoupeTreeEnsemble;

/* ---------------------------------------------------------------------------------------------------- */
/* Model capability "attention" (version 1): attention probabilities of a text model                   */
/* ---------------------------------------------------------------------------------------------------- */

/** LoupeHostApi::model_capability(host, LOUPE_ATTENTION_CAPABILITY, 1) returns a
 *  `const LoupeAttentionSource*` (NULL when the model has no self-attention and no attention pooling).
 *  The host builds it for the explain call: it stays valid and unchanged while that call runs.
 *
 *  A text model reads one text per row. The feature matrix carries it as a text handle (see
 *  LOUPE_FEATURE_TEXT: the data row whose text it is, NaN for a missing text, which the model reads as
 *  the empty text); compute() resolves the rows' handles in the feature matrix to their texts, tokenizes
 *  them and runs the model. Tokens: [CLS] first, [SEP] last, at most the tokenizer's max_length in all;
 *  padding is never included. */
#define LOUPE_ATTENTION_CAPABILITY "attention"

/** Receives the attention of one row, called once per row in the order of compute()'s `rows`, on the
 *  thread that called compute(). Everything is host-owned and valid only during the call:
 *   - `index`: the position in `rows`; `row`: rows[index];
 *   - `tokens[n_tokens]`: the tokens as the vocabulary spells them ("##ing" too);
 *   - `word_index[n_tokens]`: the index into `words` of the word each token came from, -1 for [CLS] and
 *     [SEP]; `words[n_words]`: the text's whitespace-separated words as written;
 *   - `attention`: f32 [n_layers][n_heads][n_tokens][n_tokens] row-major; attention[l][h][q][k] is how
 *     much query token q attends to key token k in head h of layer l, the softmax after the padding mask
 *     (PyTorch nn.MultiheadAttention with need_weights=True, average_attn_weights=False); each [q] row
 *     sums to 1. NULL when n_layers is 0;
 *   - `pooling`: f32 [n_tokens], the weights of attention pooling (sum to 1); NULL when has_pooling is 0.
 *  Returns LOUPE_OK to continue; any other status stops compute(), which returns it (call set_error with
 *  the reason first). */
typedef LoupeStatus (*LoupeAttentionSink)(void* sink_ctx, int64_t index, int64_t row,
                                          const char* const* tokens, const int64_t* word_index,
                                          int64_t n_tokens, const char* const* words, int64_t n_words,
                                          const float* attention, const float* pooling);

typedef struct LoupeAttentionSource {
  uint32_t struct_size; /**< sizeof(LoupeAttentionSource) as the producer knew it */
  int32_t has_pooling;  /**< non-zero: the model pools tokens with attention (the sink gets `pooling`) */
  int64_t n_layers;     /**< L: self-attention layers (0 for a model with attention pooling only) */
  int64_t n_heads;      /**< H: heads per layer (the same in every layer); 0 when n_layers is 0 */
  /** Computes the attention of the data rows `rows[0..n_rows)` (0-based row indices of the feature
   *  matrix, like step_rows gives) and hands each row to `sink(sink_ctx, ...)` in order. Thread-safe and
   *  reentrant; it evaluates the rows in batches, so pass many rows per call. Returns LOUPE_OK, the
   *  sink's status when the sink stops it, or an error after set_error (a row out of range, a handle that
   *  is not a row of the data, a model failure). */
  LoupeStatus (*compute)(LoupeHost* host, const int64_t* rows, int64_t n_rows, LoupeAttentionSink sink,
                         void* sink_ctx);
#if LOUPE_PLUGIN_ABI_MINOR >= 1
  /* --- v1.1: read only when struct_size covers them --- */
  int32_t pooling; /**< a LOUPE_POOLING_* code: how the model pools the tokens after the last layer */
  int32_t reserved1;
#endif
} LoupeAttentionSource;

/* ---------------------------------------------------------------------------------------------------- */
/* Model capability "text" (version 1): tokenize the data's texts and evaluate new ones                 */
/* ---------------------------------------------------------------------------------------------------- */

/** LoupeHostApi::model_capability(host, LOUPE_TEXT_CAPABILITY, 1) returns a `const LoupeTextModel*` when
 *  the model reads one text per row (NULL otherwise). The host builds it for the explain call: it stays
 *  valid and unchanged while that call runs. Explainers that make new texts (lime.text removes words)
 *  tokenize the rows to get their words, and evaluate texts they build from them with predict_texts. */
#define LOUPE_TEXT_CAPABILITY "text"

/** Receives the tokenization of one row, called once per row in the order of tokenize_rows' `rows`, on
 *  the calling thread; everything is host-owned and valid only during the call. The arguments mean what
 *  they mean for LoupeAttentionSink. Returns LOUPE_OK to continue; any other status stops tokenize_rows,
 *  which returns it (call set_error with the reason first). */
typedef LoupeStatus (*LoupeTokensSink)(void* sink_ctx, int64_t index, int64_t row, const char* const* tokens,
                                       const int64_t* word_index, int64_t n_tokens, const char* const* words,
                                       int64_t n_words);

typedef struct LoupeTextModel {
  uint32_t struct_size; /**< sizeof(LoupeTextModel) as the producer knew it */
  int32_t reserved0;
  /** Tokenizes the texts of the data rows `rows[0..n_rows)` (resolved through the feature matrix's text
   *  handles, like LoupeAttentionSource::compute) and hands each row to `sink`. Thread-safe. */
  LoupeStatus (*tokenize_rows)(LoupeHost* host, const int64_t* rows, int64_t n_rows, LoupeTokensSink sink,
                               void* sink_ctx);
  /** Evaluates `n_texts` UTF-8 texts into the caller-owned f64 buffer `outputs` (n_texts * n_outputs(space)
   *  elements, row-major; see model_predict for `space`). Thread-safe and reentrant; pass many texts per
   *  call. */
  LoupeStatus (*predict_texts)(LoupeHost* host, const char* const* texts, int64_t n_texts,
                               LoupeOutputSpace space, double* outputs, int64_t outputs_capacity);
} LoupeTextModel;

#if LOUPE_PLUGIN_ABI_MINOR >= 1 /* v1.1: pooling modes, "hidden_states", "head_mask" */

/* ---------------------------------------------------------------------------------------------------- */
/* How a text model pools its tokens (LoupeAttentionSource::pooling, LoupeHiddenStates::pooling)        */
/* ---------------------------------------------------------------------------------------------------- */

typedef int32_t LoupePoolingMode;
#define LOUPE_POOLING_UNKNOWN 0   /**< the host does not know (or the field is absent: old struct_size) */
#define LOUPE_POOLING_CLS 1       /**< the output reads the first token ([CLS]) */
#define LOUPE_POOLING_MEAN 2      /**< the mean over the tokens */
#define LOUPE_POOLING_LAST 3      /**< the last token */
#define LOUPE_POOLING_ATTENTION 4 /**< attention pooling: the weights the sink receives as `pooling` */

/* ---------------------------------------------------------------------------------------------------- */
/* Model capability "hidden_states" (version 1): every token's hidden state after every sequence layer   */
/* ---------------------------------------------------------------------------------------------------- */

/** LoupeHostApi::model_capability(host, LOUPE_HIDDEN_STATES_CAPABILITY, 1) returns a
 *  `const LoupeHiddenStates*` when the model reads one text per row (NULL otherwise). The host builds it
 *  for the explain call: it stays valid and unchanged while that call runs.
 *
 *  States: state 0 is the input of the first sequence layer (token embeddings, positions added); state s
 *  (1..S-1) is the output of the s-th sequence layer (transformer_encoder or lstm), in the model's order.
 *  `pooled` is the vector the pooling layer makes of the last state (what the model's head reads). */
#define LOUPE_HIDDEN_STATES_CAPABILITY "hidden_states"

/** Receives the hidden states of one row, called once per row in the order of compute()'s `rows`, on the
 *  calling thread; everything is host-owned and valid only during the call. The token arguments mean what
 *  they mean for LoupeAttentionSink; `states[s]` is f32 [n_tokens][widths[s]] row-major (padding
 *  excluded), `pooled` f32 [pooled_width]. Returns LOUPE_OK to continue; any other status stops compute(),
 *  which returns it (call set_error with the reason first). */
typedef LoupeStatus (*LoupeHiddenStatesSink)(void* sink_ctx, int64_t index, int64_t row,
                                             const char* const* tokens, const int64_t* word_index,
                                             int64_t n_tokens, const char* const* words, int64_t n_words,
                                             const float* const* states, const float* pooled);

typedef struct LoupeHiddenStates {
  uint32_t struct_size;     /**< sizeof(LoupeHiddenStates) as the producer knew it */
  LoupePoolingMode pooling; /**< how the pooled vector is made from the last state */
  int64_t n_states;         /**< S >= 1 */
  const int64_t* widths;    /**< [S] the width of each state */
  const char* const* names; /**< [S] "embeddings", then "<layer type> <index in the model's layers>" */
  int64_t pooled_width;
  /** Computes the hidden states of the data rows `rows[0..n_rows)` (resolved like
   *  LoupeAttentionSource::compute) and hands each row to `sink`. Thread-safe and reentrant; pass many rows
   *  per call. */
  LoupeStatus (*compute)(LoupeHost* host, const int64_t* rows, int64_t n_rows, LoupeHiddenStatesSink sink,
                         void* sink_ctx);
} LoupeHiddenStates;

/* ---------------------------------------------------------------------------------------------------- */
/* Model capability "head_mask" (version 1): evaluate a transformer with attention heads masked          */
/* ---------------------------------------------------------------------------------------------------- */

/** LoupeHostApi::model_capability(host, LOUPE_HEAD_MASK_CAPABILITY, 1) returns a `const LoupeHeadMask*`
 *  when the model reads one text per row and has self-attention layers (NULL otherwise). The host builds
 *  it for the explain call: it stays valid and unchanged while that call runs.
 *
 *  A mask is f32 [n_layers][n_heads]: the probabilities of head h in layer l are multiplied by
 *  mask[l][h] before they weight the values (Hugging Face's `head_mask`): 1 keeps the head, 0 removes its
 *  contribution, anything else scales it. Layers are the model's self-attention layers in order, as in
 *  LoupeAttentionSource. */
#define LOUPE_HEAD_MASK_CAPABILITY "head_mask"

typedef struct LoupeHeadMask {
  uint32_t struct_size; /**< sizeof(LoupeHeadMask) as the producer knew it */
  int32_t reserved0;
  int64_t n_layers; /**< L: self-attention layers (>= 1) */
  int64_t n_heads;  /**< H: heads per layer */
  /** Evaluates every data row of `rows[0..n_rows)` (resolved like LoupeAttentionSource::compute) under
   *  each of the `n_masks` masks (`masks`: f32 [n_masks][L][H]) into the caller-owned f64 buffer
   *  `outputs`: [n_masks][n_rows][n_outputs(space)] row-major (see model_predict for `space`).
   *  Thread-safe and reentrant; pass many rows and masks per call. */
  LoupeStatus (*predict_rows)(LoupeHost* host, const int64_t* rows, int64_t n_rows, const float* masks,
                              int64_t n_masks, LoupeOutputSpace space, double* outputs,
                              int64_t outputs_capacity);
} LoupeHeadMask;

#endif /* LOUPE_PLUGIN_ABI_MINOR >= 1 */

#if LOUPE_PLUGIN_ABI_MINOR >= 3 /* v1.3: "gradient" */

/* ---------------------------------------------------------------------------------------------------- */
/* Model capability "gradient" (version 1): derivatives of a network's outputs w.r.t. the features       */
/* ---------------------------------------------------------------------------------------------------- */

/** LoupeHostApi::model_capability(host, LOUPE_GRADIENT_CAPABILITY, 1) returns a `const LoupeGradientModel*`
 *  when the host can differentiate the model (today: loupe.model/v1 tabular networks of dense layers on
 *  the f32 or bf16 path; NULL for tree ensembles, ONNX models, text models and `precision: f64`). The host
 *  builds it for the explain call: it stays valid and unchanged while that call runs.
 *
 *  Rows are laid out like the feature matrix (f64 [n, n_features], the pipeline's raw values: numbers as
 *  they are, categoricals as level codes); the host maps them onto the model's inputs as model_predict
 *  does. Derivatives are with respect to those raw values: a model's standardisation is chained (a
 *  feature standardised as (x − mean) / std has its gradient divided by std), and a missing value the
 *  model imputes is a constant (gradient 0). A CATEGORICAL feature is one-hot encoded inside the model and
 *  has no derivative with respect to its level: its gradient is the SUM of the gradients with respect to
 *  its one-hot columns (the derivative along raising every level's indicator at once). A feature the model
 *  does not read has gradient 0. `output_weights` is f64 [n, n_outputs(space)] row-major: row r
 *  differentiates Σ_o output_weights[r][o] · f_o(x_r) (a one-hot row picks one output, as Captum's
 *  `target`). Computed in f32 by oneDNN backward primitives; the same call gives the same bits on any
 *  thread (as model_predict, a row's last bits may depend on the batch's size). */
#define LOUPE_GRADIENT_CAPABILITY "gradient"

typedef struct LoupeGradientModel {
  uint32_t struct_size; /**< sizeof(LoupeGradientModel) as the producer knew it */
  /** Non-zero when `deeplift` is defined for every layer of the model (linear, relu, tanh, sigmoid,
   *  softmax and pass-through layers); otherwise `deeplift` refuses with a sentence naming the layer. */
  int32_t has_deeplift;
  /** gradients[r][j] = ∂(Σ_o output_weights[r][o] · f_o(x_r)) / ∂x_r[j] for the n rows of `inputs`
   *  (f64 [n, n_features]) into the caller-owned f64 buffer `gradients` (n * n_features elements).
   *  Thread-safe and reentrant; pass many rows per call (integrated gradients: every step of many rows). */
  LoupeStatus (*gradient)(LoupeHost* host, const LoupeTensorView* inputs, LoupeOutputSpace space,
                          const double* output_weights, double* gradients, int64_t capacity);
  /** DeepLIFT with the rescale rule (Captum's DeepLift, multiply_by_inputs): attributions[r][j] is feature
   *  j's share of Σ_o output_weights[r][o] · (f_o(x_r) − f_o(x0_r)), where x0 = `references` (f64
   *  [n, n_features], same layout). A categorical feature's level change is attributed exactly (its one-hot
   *  columns' contributions summed). Thread-safe and reentrant. */
  LoupeStatus (*deeplift)(LoupeHost* host, const LoupeTensorView* inputs, const LoupeTensorView* references,
                          LoupeOutputSpace space, const double* output_weights, double* attributions,
                          int64_t capacity);
} LoupeGradientModel;

#endif /* LOUPE_PLUGIN_ABI_MINOR >= 3 */

#if LOUPE_PLUGIN_ABI_MINOR >= 4 /* v1.4: "row_variants" */

/* ---------------------------------------------------------------------------------------------------- */
/* Model capability "row_variants" (version 1): base rows with a few features changed, evaluated fast   */
/* ---------------------------------------------------------------------------------------------------- */

/** LoupeHostApi::model_capability(host, LOUPE_ROW_VARIANTS_CAPABILITY, 1) returns a
 *  `const LoupeRowVariants*` when the model's first layer is linear in its encoded inputs (today:
 *  loupe.model/v1 tabular models evaluated in double precision — inline weights or `precision: f64` —
 *  whose first layer is `linear`: logistic and linear regression, MLPs). NULL for every other model:
 *  materialise the rows and call model_predict then. Built for the explain call, valid while it runs.
 *
 *  A VARIANT is a list of (feature column, value) changes; variant v applied to base row b is row b with
 *  those columns set to those values. Partial dependence evaluates every row at a grid value (one change
 *  per variant); Kernel, Exact and Permutation SHAP evaluate every background row with a coalition's
 *  features taken from the explained row. For a first layer z = W·e(x) + c over the encoded row e(x), the
 *  host computes z(variant) = z(base) + Σ over the changes of W·(e(new) − e(old)) — one column of W per
 *  changed feature instead of all of them — and runs the rest of the network on it.
 *
 *  Exactness: the result equals model_predict on the materialised rows up to the rounding of adding the
 *  first layer's terms in another order (double precision: a few ulps of the pre-activation's terms,
 *  ~1e-15 relative; Loupe's tests compare both paths to 1e-12). The same call gives the same bits on any
 *  thread and whatever the chunking of the variants. */
#define LOUPE_ROW_VARIANTS_CAPABILITY "row_variants"

typedef struct LoupeRowVariants {
  uint32_t struct_size; /**< sizeof(LoupeRowVariants) as the producer knew it */
  int32_t reserved;     /**< 0 */
  /** outputs[v][b][o] = the model's output o (see model_predict for `space`) on base row b (`base_rows`,
   *  f64 [n_base, n_features] laid out like the feature matrix, contiguous) with variant v's changes:
   *  columns[k] set to values[k] for k in [offsets[v], offsets[v + 1]) (`offsets` has n_variants + 1
   *  non-decreasing entries starting at 0; a column at most once per variant; values in the feature
   *  matrix's coding, categoricals as level codes, NaN missing). `outputs` is caller-owned, f64
   *  [n_variants][n_base][n_outputs(space)] row-major, `capacity` its length. Thread-safe and reentrant;
   *  pass many variants per call: the base rows' first layer is computed once per call. */
  LoupeStatus (*predict)(LoupeHost* host, const LoupeTensorView* base_rows, int64_t n_variants,
                         const int64_t* offsets, const int64_t* columns, const double* values,
                         LoupeOutputSpace space, double* outputs, int64_t capacity);
} LoupeRowVariants;

#endif /* LOUPE_PLUGIN_ABI_MINOR >= 4 */

#if LOUPE_PLUGIN_ABI_MINOR >= 5 /* v1.5: "text_gradient" */

/* ---------------------------------------------------------------------------------------------------- */
/* Model capability "text_gradient" (version 1): gradients w.r.t. a text network's embedding output     */
/* ---------------------------------------------------------------------------------------------------- */

/** LoupeHostApi::model_capability(host, LOUPE_TEXT_GRADIENT_CAPABILITY, 1) returns a
 *  `const LoupeTextGradient*` when the host can differentiate a text model through its embedding layer
 *  (today: loupe.model/v1 text networks of embedding, positional embedding, transformer encoder, LSTM,
 *  pool and dense layers, and Hugging Face BERT, DistilBERT and RoBERTa classifiers, all in f32; NULL for
 *  bf16, ONNX and tabular models). Built for the explain call, valid and unchanged while it runs.
 *
 *  The differentiated layer is the model's first one, as Captum's LayerIntegratedGradients on the
 *  embedding layer: for loupe.model/v1 networks the token embedding (before positions are added), for
 *  Hugging Face encoders the embeddings module after its LayerNorm (`bert.embeddings`,
 *  `distilbert.embeddings`, `roberta.embeddings`: word + position + token type). For a text of T tokens
 *  its output is f32 [T, width].
 *  `layer_gradient` runs the rest of the network on values the caller chooses for that output (a baseline,
 *  an interpolation) and differentiates; each row's length masks its padding exactly as the model's own
 *  forward pass does, so a padding step never changes an output and its gradient is 0. */
#define LOUPE_TEXT_GRADIENT_CAPABILITY "text_gradient"

/** Receives one row of embed_rows, called once per row in the order of `rows`, on the calling thread;
 *  everything is host-owned and valid only during the call. The token arguments mean what they mean for
 *  LoupeAttentionSink; `embeddings` is the embedding layer's output f32 [n_tokens][width] row-major.
 *  Returns LOUPE_OK to continue; any other status stops embed_rows, which returns it (call set_error with
 *  the reason first). */
typedef LoupeStatus (*LoupeTokenEmbeddingsSink)(void* sink_ctx, int64_t index, int64_t row,
                                                const char* const* tokens, const int64_t* word_index,
                                                int64_t n_tokens, const char* const* words, int64_t n_words,
                                                const float* embeddings);

typedef struct LoupeTextGradient {
  uint32_t struct_size; /**< sizeof(LoupeTextGradient) as the producer knew it */
  int32_t reserved0;    /**< 0 */
  int64_t width;        /**< the embedding layer's output width */
  /** f32 [width]: the embedding of the tokenizer's padding token ([PAD], <pad>), Captum's usual token
   *  baseline; NULL when the tokenizer has none or when the layer's output depends on the position (then
   *  pad_embeddings, v1.6, gives the baseline). */
  const float* pad_embedding;
  /** The embedding layer's name in the model (its weights' prefix), for results and messages. */
  const char* layer_name;
  /** Tokenizes the texts of the data rows `rows[0..n_rows)` (resolved like LoupeAttentionSource::compute),
   *  runs the embedding layer on them and hands each row to `sink`. Thread-safe. */
  LoupeStatus (*embed_rows)(LoupeHost* host, const int64_t* rows, int64_t n_rows,
                            LoupeTokenEmbeddingsSink sink, void* sink_ctx);
  /** For `values`, f32 [n][t][width] row-major standing for the embedding layer's output (row r's steps at
   *  or past lengths[r] are padding; 1 <= lengths[r] <= t): gradients[r][s][j] =
   *  ∂(Σ_o output_weights[r][o] · f_o) / ∂values[r][s][j] into the caller-owned f32 buffer `gradients`
   *  (n * t * width elements, `capacity`), 0 at padding. `output_weights` is f64 [n, n_outputs(space)]
   *  (see LoupeGradientModel). `outputs`, when not NULL, receives f (f64 [n, n_outputs(space)]) from the
   *  same forward pass. Computed in f32 on oneDNN's backward primitives; thread-safe and reentrant, the
   *  same call gives the same bits on any thread; pass many rows per call (every step of a row). */
  LoupeStatus (*layer_gradient)(LoupeHost* host, const float* values, int64_t n, int64_t t,
                                const int64_t* lengths, LoupeOutputSpace space, const double* output_weights,
                                float* gradients, double* outputs, int64_t capacity);
#if LOUPE_PLUGIN_ABI_MINOR >= 6
  /* --- v1.6: read only when struct_size covers it --- */
  /** The embedding layer's output for a text of `n_tokens` padding tokens into the caller-owned `out`
   *  (f32 [n_tokens][width], `capacity` elements): the pad baseline, equal to pad_embedding at every
   *  position for a token embedding, and the only form of it for Hugging Face embeddings (BERT and
   *  DistilBERT number the positions 0, 1, ...; RoBERTa gives padding tokens position padding_idx, as
   *  transformers does for an all-padding input). LOUPE_ERROR_INVALID_ARGUMENT when the tokenizer has no
   *  padding token. Thread-safe. */
  LoupeStatus (*pad_embeddings)(LoupeHost* host, int64_t n_tokens, float* out, int64_t capacity);
#endif
} LoupeTextGradient;

#endif /* LOUPE_PLUGIN_ABI_MINOR >= 5 */

#ifdef __cplusplus
} /* extern "C" */
#endif

/* ---------------------------------------------------------------------------------------------------- */
/* Exporting the entry                                                                                 */
/* ---------------------------------------------------------------------------------------------------- */

/** Defines the exported entry `loupe_plugin_entry_v1` as a pointer to `function` (a LoupePluginEntryFn)
 *  placed in the "loupe" section, which is the layout Boost.DLL's BOOST_DLL_ALIAS_SECTIONED produces and
 *  the host's loader looks for in the dynamic symbol table — without making plugins depend on Boost. Use
 *  it once per plugin, at file scope. C++ plugins normally use LOUPE_PLUGIN(...) from loupe/sdk/plugin.hpp
 *  instead. */
#ifdef __cplusplus
#define LOUPE_PLUGIN_EXTERN_C extern "C"
#else
#define LOUPE_PLUGIN_EXTERN_C
#endif
#define LOUPE_DEFINE_PLUGIN_ENTRY(function)                                            \
  LOUPE_PLUGIN_EXTERN_C __attribute__((visibility("default"), section("loupe"), used)) \
  const LoupePluginEntryFn loupe_plugin_entry_v1 = &function

#endif /* LOUPE_C_LOUPE_PLUGIN_H */
