// Status and Result<T>: Loupe's error model (docs/architecture.md §3).
//
// Functions that can fail return Status or Result<T>. Exceptions are used only at the seams with
// libraries that throw (yaml-cpp, oneDNN, std::bad_alloc) and are converted to a Status right there.
// A Status message is one sentence that names the file and position or field, what was expected and
// what was found; the CLI prints it as it is.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace loupe {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad usage, bad configuration or bad input data (CLI exit code 2)
  kNotFound,         // a named file, column, step or explainer does not exist (exit code 2)
  kIoError,          // reading or writing a file failed (exit code 2)
  kPluginError,      // a plugin could not be loaded or validated (exit code 3)
  kModelError,       // the model failed while predicting
  kUnsupported,      // the model or data lacks what an operation needs
  kCancelled,
  kInternal,  // a bug
};

// The CLI exit code that corresponds to a failure of this kind (docs/architecture.md §5).
int ExitCodeFor(StatusCode code);
const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Marks a status as deliberately dropped.
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
inline Status NotFound(std::string message) { return Status(StatusCode::kNotFound, std::move(message)); }
inline Status IoError(std::string message) { return Status(StatusCode::kIoError, std::move(message)); }
inline Status PluginError(std::string message) {
  return Status(StatusCode::kPluginError, std::move(message));
}
inline Status ModelError(std::string message) { return Status(StatusCode::kModelError, std::move(message)); }
inline Status Unsupported(std::string message) {
  return Status(StatusCode::kUnsupported, std::move(message));
}
inline Status Internal(std::string message) { return Status(StatusCode::kInternal, std::move(message)); }

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(state_).ok())
      state_ = Status(StatusCode::kInternal, "Result built from an OK status.");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(state_);
  }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace loupe

#define LOUPE_STATUS_CONCAT_INNER(a, b) a##b
#define LOUPE_STATUS_CONCAT(a, b) LOUPE_STATUS_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` (a Status) is not OK.
#define LOUPE_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::loupe::Status loupe_status_ = (expr);        \
    if (!loupe_status_.ok()) return loupe_status_; \
  } while (false)

// Declares or assigns `lhs` from a Result, returning its Status from the enclosing function on error.
#define LOUPE_ASSIGN_OR_RETURN(lhs, expr) \
  LOUPE_ASSIGN_OR_RETURN_IMPL(LOUPE_STATUS_CONCAT(loupe_result_, __LINE__), lhs, expr)
#define LOUPE_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                                \
  if (!result.ok()) return result.status();            \
  lhs = std::move(result).value()
