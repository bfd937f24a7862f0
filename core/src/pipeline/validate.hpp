// Checking pipeline steps against what the plugins declare (internal; ValidateAgainstPlugins in
// loupe/core/pipeline.hpp is the public entry).
#pragma once

#include <vector>

#include "loupe/core/explainer.hpp"
#include "loupe/core/pipeline.hpp"

namespace loupe {

// Checks a step's params against its explainer's parameter specs: unknown names (with did-you-mean),
// each value's type, bounds and choices, and required parameters that are missing. Then fills in the
// defaults of the parameters the step does not set, so the explainer sees canonical params.
std::vector<Diagnostic> ValidateStepParams(StepSpec& step, const ExplainerDescriptor& descriptor);

}  // namespace loupe
