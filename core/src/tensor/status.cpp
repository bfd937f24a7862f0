// Status helpers: the CLI exit code and a stable name for each StatusCode.
#include "loupe/core/status.hpp"

namespace loupe {

int ExitCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kIoError:
      return 2;  // bad usage, configuration or input
    case StatusCode::kPluginError:
      return 3;
    case StatusCode::kModelError:
    case StatusCode::kUnsupported:
    case StatusCode::kCancelled:
    case StatusCode::kInternal:
      return 1;  // a step failed
  }
  return 1;
}

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kIoError:
      return "io_error";
    case StatusCode::kPluginError:
      return "plugin_error";
    case StatusCode::kModelError:
      return "model_error";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

}  // namespace loupe
