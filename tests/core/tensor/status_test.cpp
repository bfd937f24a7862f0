#include "loupe/core/status.hpp"

#include <string>

#include <gtest/gtest.h>

namespace loupe {
namespace {

TEST(StatusTest, ExitCodesFollowTheCliContract) {
  EXPECT_EQ(ExitCodeFor(StatusCode::kOk), 0);
  EXPECT_EQ(ExitCodeFor(StatusCode::kInvalidArgument), 2);
  EXPECT_EQ(ExitCodeFor(StatusCode::kNotFound), 2);
  EXPECT_EQ(ExitCodeFor(StatusCode::kIoError), 2);
  EXPECT_EQ(ExitCodeFor(StatusCode::kPluginError), 3);
  EXPECT_EQ(ExitCodeFor(StatusCode::kModelError), 1);
  EXPECT_EQ(ExitCodeFor(StatusCode::kUnsupported), 1);
  EXPECT_EQ(ExitCodeFor(StatusCode::kCancelled), 1);
  EXPECT_EQ(ExitCodeFor(StatusCode::kInternal), 1);
}

TEST(StatusTest, CodeNames) {
  EXPECT_STREQ(StatusCodeName(StatusCode::kOk), "ok");
  EXPECT_STREQ(StatusCodeName(StatusCode::kInvalidArgument), "invalid_argument");
  EXPECT_STREQ(StatusCodeName(StatusCode::kNotFound), "not_found");
  EXPECT_STREQ(StatusCodeName(StatusCode::kIoError), "io_error");
  EXPECT_STREQ(StatusCodeName(StatusCode::kPluginError), "plugin_error");
  EXPECT_STREQ(StatusCodeName(StatusCode::kModelError), "model_error");
  EXPECT_STREQ(StatusCodeName(StatusCode::kUnsupported), "unsupported");
  EXPECT_STREQ(StatusCodeName(StatusCode::kCancelled), "cancelled");
  EXPECT_STREQ(StatusCodeName(StatusCode::kInternal), "internal");
}

Result<int> Half(int value) {
  if (value % 2 != 0) return InvalidArgument("expected an even number, found " + std::to_string(value));
  return value / 2;
}

Status QuarterInto(int value, int* out) {
  LOUPE_ASSIGN_OR_RETURN(const int half, Half(value));
  LOUPE_ASSIGN_OR_RETURN(*out, Half(half));
  return Status::Ok();
}

TEST(StatusTest, MacrosPropagateTheFirstError) {
  int out = 0;
  EXPECT_TRUE(QuarterInto(8, &out).ok());
  EXPECT_EQ(out, 2);
  const Status status = QuarterInto(6, &out);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "expected an even number, found 3");
}

TEST(StatusTest, ResultFromOkStatusIsAnInternalError) {
  const Result<int> result(Status::Ok());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace loupe
