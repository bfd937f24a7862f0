// The HTTP client (http/client.hpp) and the remote model (model/remote_model.hpp) against a scripted
// model server on loopback (the http::Server with a handler of the test's own): retries of 503 and 429
// with backoff and Retry-After, a server that is down, one too slow for the timeout, wrong output shapes
// and names, error answers, batching over concurrent connections, and the values sent and read back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "http/client.hpp"
#include "http/server.hpp"
#include "model/remote_model.hpp"

namespace loupe::http {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// A v2 model server for two inputs, x (FP64) and color (BYTES, levels red and blue), whose one output
// "probabilities" is [x, 1 - x] (plus 0.5 when the color is blue, so the level is seen to arrive). Faults
// are scripted per test.
class ScriptedModelServer : public Handler {
 public:
  std::atomic<int> busy_answers{0};  // this many infer requests get 503 (or 429) first
  int busy_status = 503;
  std::string retry_after;               // the busy answers' Retry-After ("" none)
  std::atomic<int> sleep_ms{0};          // each infer request waits this long
  std::atomic<bool> wrong_shape{false};  // answer [n, 3]
  std::atomic<bool> wrong_name{false};   // answer an output called "scores"
  std::atomic<int> infer_requests{0};
  std::atomic<int> max_rows_seen{0};
  std::atomic<int> in_flight{0}, max_in_flight{0};

  Response Handle(const Request& request, const std::atomic<bool>*) override {
    if (request.method == "GET" && request.target == "/v2/models/toy") return Json(Metadata());
    if (request.method == "GET" && request.target == "/v1/models/toy")
      return Json({{"name", "toy"},
                   {"inputs", Metadata()["inputs"]},
                   {"outputs", {"bad", "good"}},
                   {"task", "classification"}});
    if (request.target == "/v2/models/toy/infer" || request.target == "/v1/models/toy:predict") {
      const int now = ++in_flight;
      for (int seen = max_in_flight.load(); now > seen && !max_in_flight.compare_exchange_weak(seen, now);) {
      }
      Response response = Infer(request);
      --in_flight;
      return response;
    }
    return ErrorResponse(404, "no model named that is served here.");
  }
  bool IsSlow(const Request&) const override { return false; }
  void Answered(const Request&, const std::string&, int, double, std::size_t) override {}
  void SlowWorkChanged(int, int) override {}
  void ShutdownStarted() override {}

 private:
  static Response Json(const json& body) {
    Response response;
    response.body = body.dump();
    return response;
  }
  static json Metadata() {
    return {{"name", "toy"},
            {"inputs",
             {{{"name", "x"}, {"datatype", "FP64"}, {"shape", {-1}}},
              {{"name", "color"},
               {"datatype", "BYTES"},
               {"shape", {-1}},
               {"parameters", {{"levels", {"red", "blue"}}}}}}},
            {"outputs",
             {{{"name", "probabilities"},
               {"datatype", "FP64"},
               {"shape", {-1, 2}},
               {"parameters", {{"output_names", {"bad", "good"}}}}}}}};
  }

  Response Infer(const Request& request) {
    ++infer_requests;
    if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms.load()));
    if (busy_answers.fetch_sub(1) > 0) {
      Response busy = ErrorResponse(busy_status, "the model is warming up.");
      if (!retry_after.empty()) busy.headers.emplace_back("Retry-After", retry_after);
      return busy;
    }
    const json body = json::parse(request.body);
    std::vector<double> x;
    std::vector<json> color;
    if (body.contains("instances")) {
      for (const json& row : body["instances"]) {
        x.push_back(row[0].is_null() ? NAN : row[0].get<double>());
        color.push_back(row[1]);
      }
    } else {
      for (const json& value : body["inputs"][0]["data"])
        x.push_back(value.is_null() ? NAN : value.get<double>());
      for (const json& value : body["inputs"][1]["data"]) color.push_back(value);
    }
    const auto n = static_cast<std::int64_t>(x.size());
    for (int seen = max_rows_seen.load(); n > seen && !max_rows_seen.compare_exchange_weak(seen, int(n));) {
    }
    json data = json::array();
    for (std::int64_t i = 0; i < n; ++i) {
      const double shift = color[static_cast<std::size_t>(i)] == "blue" ? 0.5 : 0.0;
      const double p = std::isnan(x[static_cast<std::size_t>(i)]) ? -1.0 : x[static_cast<std::size_t>(i)];
      data.push_back(p + shift);
      data.push_back(1 - p);
      if (wrong_shape) data.push_back(0.0);
    }
    if (body.contains("instances")) {
      json predictions = json::array();
      for (std::int64_t i = 0; i < n; ++i) predictions.push_back({data[2 * i], data[2 * i + 1]});
      return Json({{"predictions", predictions}});
    }
    return Json({{"model_name", "toy"},
                 {"outputs",
                  {{{"name", wrong_name ? "scores" : "probabilities"},
                    {"datatype", "FP64"},
                    {"shape", {n, wrong_shape ? 3 : 2}},
                    {"data", data}}}}});
  }
};

class RemoteModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.port = 0;
    options.threads = 4;
    server_ = Server::Start(options, handler_).value();
  }
  void TearDown() override { server_->Shutdown(std::chrono::milliseconds(0)); }
  std::string Url(const std::string& path = "/v2/models/toy") const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  // x = row / 10, color red (code 0) for even rows, blue (1) for odd, NaN x in row 3.
  static Tensor Rows(std::int64_t n) {
    Tensor rows(DType::kF64, {n, 2});
    for (std::int64_t i = 0; i < n; ++i) {
      rows.data<double>()[2 * i] = i == 3 ? NAN : static_cast<double>(i) / 10;
      rows.data<double>()[2 * i + 1] = static_cast<double>(i % 2);
    }
    return rows;
  }
  static void ExpectValues(const Tensor& predicted, std::int64_t n) {
    ASSERT_EQ(predicted.dim(0), n);
    ASSERT_EQ(predicted.dim(1), 2);
    for (std::int64_t i = 0; i < n; ++i) {
      const double x = i == 3 ? -1.0 : static_cast<double>(i) / 10;
      EXPECT_EQ(predicted.data<double>()[2 * i], x + (i % 2 ? 0.5 : 0.0)) << i;
      EXPECT_EQ(predicted.data<double>()[2 * i + 1], 1 - x) << i;
    }
  }

  ScriptedModelServer handler_;
  std::unique_ptr<Server> server_;
};

TEST_F(RemoteModelTest, ReadsItsInputsOutputsAndTaskFromTheV2Metadata) {
  auto model = LoadRemoteModel(Url(), json::object()).value();
  const ModelInfo& info = model->Info();
  EXPECT_EQ(info.name, "toy");
  EXPECT_EQ(info.task, Task::kClassification);
  ASSERT_EQ(info.inputs.size(), 2u);
  EXPECT_EQ(info.inputs[0].type, ColumnType::kNumeric);
  EXPECT_EQ(info.inputs[1].type, ColumnType::kCategorical);
  EXPECT_EQ(info.inputs[1].levels, (std::vector<std::string>{"red", "blue"}));
  EXPECT_EQ(info.output_names, (std::vector<std::string>{"bad", "good"}));
  // A classifier's server gives probabilities only: raw outputs are refused with a sentence.
  auto raw = model->Predict(Rows(2), OutputSpace::kRaw);
  ASSERT_FALSE(raw.ok());
  EXPECT_THAT(raw.status().message(), HasSubstr("class probabilities only"));
}

TEST_F(RemoteModelTest, BatchesOverConcurrentConnectionsAndKeepsTheRowOrder) {
  auto model = LoadRemoteModel(Url(), {{"max_batch_rows", 7}, {"connections", 3}}).value();
  handler_.sleep_ms = 20;  // long enough for the batches to overlap
  const Tensor predicted = model->Predict(Rows(50), OutputSpace::kProbability).value();
  ExpectValues(predicted, 50);
  EXPECT_EQ(handler_.infer_requests.load(), 8);  // ceil(50 / 7)
  EXPECT_EQ(handler_.max_rows_seen.load(), 7);
  EXPECT_GE(handler_.max_in_flight.load(), 2);
  EXPECT_LE(handler_.max_in_flight.load(), 3);
}

TEST_F(RemoteModelTest, IsReentrantFromManyThreads) {
  auto model = LoadRemoteModel(Url(), {{"max_batch_rows", 4}, {"connections", 2}}).value();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 5; ++k) {
        auto predicted = model->Predict(Rows(9), OutputSpace::kProbability);
        if (!predicted.ok())
          ++failures;
        else
          ExpectValues(*predicted, 9);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(handler_.max_in_flight.load(), 2);
}

TEST_F(RemoteModelTest, SpeaksKServeV1Too) {
  auto model = LoadRemoteModel(Url("/v1/models/toy"), json::object()).value();
  EXPECT_EQ(model->Info().task, Task::kClassification);
  ExpectValues(model->Predict(Rows(5), OutputSpace::kProbability).value(), 5);
}

TEST_F(RemoteModelTest, Retries503WithBackoffThenSucceeds) {
  auto model = LoadRemoteModel(Url(), json::object()).value();
  handler_.busy_answers = 2;
  const auto start = Clock::now();
  ExpectValues(model->Predict(Rows(4), OutputSpace::kProbability).value(), 4);
  EXPECT_EQ(handler_.infer_requests.load(), 3);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(300));  // 100 ms, then 200 ms
}

TEST_F(RemoteModelTest, HonoursRetryAfterOn429) {
  auto model = LoadRemoteModel(Url(), json::object()).value();
  handler_.busy_status = 429;
  handler_.retry_after = "1";
  handler_.busy_answers = 1;
  const auto start = Clock::now();
  ExpectValues(model->Predict(Rows(4), OutputSpace::kProbability).value(), 4);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(1000));
}

TEST_F(RemoteModelTest, GivesUpAfterItsRetriesWithTheServersStatusAndMessage) {
  auto model = LoadRemoteModel(Url(), {{"retries", 1}}).value();
  handler_.busy_answers = 5;
  auto predicted = model->Predict(Rows(4), OutputSpace::kProbability);
  ASSERT_FALSE(predicted.ok());
  EXPECT_EQ(predicted.status().message(),
            "the remote model at " + Url() + " answered 503: the model is warming up.");
  EXPECT_EQ(handler_.infer_requests.load(), 2);
}

TEST_F(RemoteModelTest, RefusesAWrongOutputShapeOrName) {
  auto model = LoadRemoteModel(Url(), json::object()).value();
  handler_.wrong_shape = true;
  auto shape = model->Predict(Rows(4), OutputSpace::kProbability);
  ASSERT_FALSE(shape.ok());
  EXPECT_THAT(shape.status().message(), HasSubstr("answered the output 'probabilities' of shape [4,3]"));
  handler_.wrong_shape = false;
  handler_.wrong_name = true;
  auto name = model->Predict(Rows(4), OutputSpace::kProbability);
  ASSERT_FALSE(name.ok());
  EXPECT_THAT(name.status().message(), HasSubstr("answered without the output 'probabilities'"));
}

TEST_F(RemoteModelTest, TimesOutASlowServer) {
  auto model = LoadRemoteModel(Url(), {{"timeout_ms", 200}}).value();
  handler_.sleep_ms = 1500;
  const auto start = Clock::now();
  auto predicted = model->Predict(Rows(2), OutputSpace::kProbability);
  ASSERT_FALSE(predicted.ok());
  EXPECT_EQ(predicted.status().message(),
            "127.0.0.1:" + std::to_string(server_->port()) + " did not answer within 200 ms.");
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1400));
}

TEST_F(RemoteModelTest, NamesAnUnknownModelsAnswer) {
  auto missing = LoadRemoteModel(Url("/v2/models/nope"), json::object());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "the remote model at " + Url("/v2/models/nope") +
                                            " answered 404 to its metadata request: no model named that is "
                                            "served here.");
}

TEST(RemoteModel, SaysWhenTheServerIsDown) {
  // A port that was free a moment ago: nothing listens there.
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  ::close(probe);
  auto model = LoadRemoteModel("http://127.0.0.1:" + std::to_string(port) + "/v2/models/x", json::object());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(),
            "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused.");
}

TEST(RemoteModel, RefusesBadUrlsAndOptionsWithASentence) {
  EXPECT_THAT(LoadRemoteModel("localhost:8080/v2/models/x", json::object()).status().message(),
              HasSubstr("is not a URL of the form http://HOST:PORT/PATH"));
  EXPECT_THAT(LoadRemoteModel("http://127.0.0.1:99999/v2/models/x", json::object()).status().message(),
              HasSubstr("has the port '99999', which is not from 1 to 65535"));
  EXPECT_EQ(LoadRemoteModel("http://127.0.0.1:1/v2/models/x", {{"max_batch_rows", 0}}).status().message(),
            "model.max_batch_rows must be an integer of at least 1, found 0.");
  EXPECT_EQ(LoadRemoteModel("http://127.0.0.1:1/v2/models/x", {{"protocol", "v3"}}).status().message(),
            "model.protocol must be v2 or v1, found \"v3\".");
}

TEST(Url, ParsesHostPortAndPath) {
  const Url url = Url::Parse("http://model-server.local:8000/v2/models/credit").value();
  EXPECT_EQ(url.host, "model-server.local");
  EXPECT_EQ(url.port, 8000);
  EXPECT_EQ(url.path, "/v2/models/credit");
  EXPECT_EQ(Url::Parse("http://example.com").value().port, 80);
}

}  // namespace
}  // namespace loupe::http
