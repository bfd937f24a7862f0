// A model served elsewhere (docs/serve.md "Remote models"): `model: {type: remote, url: ...}` in a pipeline
// or serve.yaml. Predict sends the rows to the server (the Open Inference Protocol v2 `infer`, or KServe
// v1 `:predict`) in batches of at most max_batch_rows, several batches at once over a small pool of
// connections (http/client.hpp: timeouts, retries with backoff on 429 and 503), and reads the outputs
// back, checking their name and shape.
//
// The inputs, output names and task come from the server's metadata (GET URL), the pipeline's `task` and
// `outputs` taking precedence: a v2 input of datatype BYTES is a categorical feature, whose levels the
// metadata gives in the input's parameters.levels (Loupe's own server does); other inputs are numbers.
// Categorical values travel as their level text, missing values as null.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "loupe/core/model.hpp"

namespace loupe {

// The keys of a remote model's mapping besides type and url (the pipeline parser accepts these).
const std::vector<std::string>& RemoteModelKeys();

// Connects to `url` (http://HOST:PORT/v2/models/NAME, or .../v1/models/NAME for protocol v1), reads its
// metadata and returns the model. `options` holds the mapping's other keys: protocol (v2 | v1; default:
// from the url), max_batch_rows (default 256), connections (4), timeout_ms (30000), retries (4), task
// (classification | regression), outputs (the output names) and ca_file (https: PEM certificates of CAs to
// trust besides the system's). Fails with one sentence naming the url.
Result<std::shared_ptr<const Model>> LoadRemoteModel(const std::string& url, const nlohmann::json& options);

}  // namespace loupe
