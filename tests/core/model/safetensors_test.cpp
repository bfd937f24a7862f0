// The safetensors reader, and the native format's use of it: weights named by state_dict prefix, each
// bad file or weight refused with one exact sentence.
#include "model/safetensors.hpp"

#include <unistd.h>

#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "loupe/core/model.hpp"

namespace loupe::model {
namespace {

// A safetensors file: the 8-byte length, `header` as given, then `data`.
std::vector<std::uint8_t> File(const std::string& header, const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> bytes(8);
  const std::uint64_t size = header.size();
  std::memcpy(bytes.data(), &size, 8);
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

template <typename T>
void Append(std::vector<std::uint8_t>& data, T value) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
  data.insert(data.end(), p, p + sizeof value);
}

std::string ParseError(const std::string& header, std::size_t data_bytes) {
  auto parsed = SafetensorsFile::Parse(File(header, std::vector<std::uint8_t>(data_bytes)), "w.safetensors");
  EXPECT_FALSE(parsed.ok());
  return parsed.status().message();
}

TEST(SafetensorsTest, ReadsEveryDtypeAsFloatsAndI64AsIntegers) {
  std::vector<std::uint8_t> data;
  Append<float>(data, 1.5f);
  Append<float>(data, -2.0f);
  Append<double>(data, 0.125);
  Append<std::uint16_t>(data, 0x3c00);  // F16 1.0
  Append<std::uint16_t>(data, 0xc100);  // F16 -2.5
  Append<std::uint16_t>(data, 0x3f80);  // BF16 1.0
  Append<std::uint16_t>(data, 0x4049);  // BF16 3.140625
  Append<std::int64_t>(data, -7);
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F64","shape":[1,1],"data_offsets":[8,16]},"c":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},)"
      R"("d":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]},"e":{"dtype":"I64","shape":[1],"data_offsets":[24,32]}})";
  auto file = SafetensorsFile::Parse(File(header, data), "w.safetensors");
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->Names(), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(*file->Floats("a"), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(*file->Floats("b"), (std::vector<float>{0.125f}));
  EXPECT_EQ(*file->Floats("c"), (std::vector<float>{1.0f, -2.5f}));
  EXPECT_EQ(*file->Floats("d"), (std::vector<float>{1.0f, 3.140625f}));
  EXPECT_EQ(*file->Int64s("e"), (std::vector<std::int64_t>{-7}));
  EXPECT_EQ(file->Find("b")->shape, (Shape{1, 1}));
  EXPECT_EQ(
      file->Floats("e").status().message(),
      "'w.safetensors' tensor 'e' has dtype I64, expected a floating-point dtype (F32, F16, BF16 or F64).");
}

TEST(SafetensorsTest, RefusesBrokenFilesWithOneSentenceEach) {
  EXPECT_EQ(
      SafetensorsFile::Parse({1, 2, 3}, "w.safetensors").status().message(),
      "'w.safetensors' is not a safetensors file: it has 3 bytes, fewer than the 8-byte header length.");
  auto beyond = File("{}", {});
  beyond[0] = 200;
  EXPECT_EQ(SafetensorsFile::Parse(beyond, "w.safetensors").status().message(),
            "'w.safetensors' declares a safetensors header of 200 bytes but only 2 bytes follow the header "
            "length.");
  EXPECT_EQ(
      ParseError(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
      "'w.safetensors' is truncated: tensor 'w' has data_offsets [0, 16] but the data section has only 8 "
      "bytes.");
  EXPECT_EQ(ParseError(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                       16),
            "'w.safetensors' tensors 'a' [0, 16) and 'b' [8, 16) overlap.");
  EXPECT_EQ(ParseError(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", 8),
            "'w.safetensors' tensor 'w' starts at byte 2 of the data section, which is not a multiple of its "
            "4-byte F32 elements.");
  EXPECT_EQ(ParseError(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
            "'w.safetensors' tensor 'w' has 8 bytes, expected 12 for F32 [3].");
  EXPECT_EQ(ParseError(R"({"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})", 8),
            "'w.safetensors' tensor 'w' has dtype 'U8', expected one of F32, F16, BF16, F64, I64.");
  EXPECT_EQ(ParseError(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8),
            "'w.safetensors' tensor 'w' has data_offsets [8, 0], expected begin <= end.");
  EXPECT_EQ(ParseError(R"({"w":{"dtype":"F32","shape":[2]}})", 8),
            "'w.safetensors' tensor 'w' must be {dtype, shape, data_offsets: [begin, end]} with non-negative "
            "integers, found {\"dtype\":\"F32\",\"shape\":[2]}.");
  EXPECT_EQ(ParseError("[1, 2]", 0), "'w.safetensors' has a safetensors header that is not a JSON object.");
}

// Models whose weights file is written by the test: linear 3 → 2 (net.0), relu, linear 2 → 1 (net.2).
class SafetensorsModelTest : public ::testing::Test {
 protected:
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("loupe-safetensors-" + std::to_string(::getpid()));
  void SetUp() override { std::filesystem::create_directories(dir_); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Tensors as (name, dtype, shape); values are 0.5 each.
  void WriteWeights(const std::vector<std::tuple<std::string, std::string, Shape>>& tensors) {
    std::string header = "{";
    std::vector<std::uint8_t> data;
    for (const auto& [name, dtype, shape] : tensors) {
      const std::size_t begin = data.size();
      for (std::int64_t i = 0; i < NumElements(shape); ++i) {
        if (dtype == "I64")
          Append<std::int64_t>(data, 1);
        else
          Append<float>(data, 0.5f);
      }
      std::string dims;
      for (const std::int64_t d : shape) dims += (dims.empty() ? "" : ",") + std::to_string(d);
      header += (header.size() > 1 ? "," : "") +
                ("\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":[" + dims + "],\"data_offsets\":[" +
                 std::to_string(begin) + "," + std::to_string(data.size()) + "]}");
    }
    const auto bytes = File(header + "}", data);
    std::ofstream(dir_ / "w.safetensors", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  std::string LoadError() {
    std::ofstream(dir_ / "m.yaml")
        << "format: loupe.model/v1\nname: m\ntask: regression\nweights: w.safetensors\n"
           "inputs:\n  - {name: a, type: numeric}\n  - {name: b, type: numeric}\n"
           "  - {name: c, type: numeric}\n"
           "layers:\n  - {type: linear, name: net.0}\n  - {type: relu}\n"
           "  - {type: linear, name: net.2}\n";
    auto model = LoadModel(dir_ / "m.yaml");
    EXPECT_FALSE(model.ok());
    std::string message = model.status().message();
    for (std::size_t at; (at = message.find(dir_.string() + "/")) != std::string::npos;) {
      message.erase(at, dir_.string().size() + 1);
    }
    return message;
  }
};

TEST_F(SafetensorsModelTest, PredictsWithNamedWeights) {
  WriteWeights(
      {{"net.0.weight", "F32", {2, 3}}, {"net.0.bias", "F32", {2}}, {"net.2.weight", "F32", {1, 2}}});
  std::ofstream(dir_ / "m.yaml")
      << "format: loupe.model/v1\nname: m\ntask: regression\nweights: w.safetensors\n"
         "inputs:\n  - {name: a, type: numeric}\n  - {name: b, type: numeric}\n"
         "  - {name: c, type: numeric}\n"
         "layers:\n  - {type: linear, name: net.0}\n  - {type: relu}\n"
         "  - {type: linear, name: net.2}\n";
  auto model = LoadModel(dir_ / "m.yaml");
  ASSERT_TRUE(model.ok()) << model.status().message();
  const Tensor batch = Tensor::FromVector<double>({1, 2, 3, -4, -4, -4}, {2, 3});
  auto y = (*model)->Predict(batch, OutputSpace::kRaw);
  ASSERT_TRUE(y.ok()) << y.status().message();
  // Row 0: hidden = 0.5·6 + 0.5 = 3.5 each → 0.5·7 = 3.5. Row 1: hidden = relu(−5.5) = 0 → 0.
  EXPECT_EQ(y->data<double>()[0], 3.5);
  EXPECT_EQ(y->data<double>()[1], 0.0);
}

TEST_F(SafetensorsModelTest, WrongShapeNamesTheLayerAndBothShapes) {
  WriteWeights({{"net.0.weight", "F32", {2, 3}}, {"net.2.weight", "F32", {1, 4}}});
  EXPECT_EQ(LoadError(), "m.yaml:12:26: layer 2 (linear net.2): weight has shape [1, 4], expected [1, 2].");
}

TEST_F(SafetensorsModelTest, MissingWeightNamesTheTensor) {
  WriteWeights({{"net.0.weight", "F32", {2, 3}}});
  EXPECT_EQ(LoadError(),
            "m.yaml:12:26: layer 2 (linear net.2): 'w.safetensors' has no tensor 'net.2.weight'.");
}

TEST_F(SafetensorsModelTest, WrongDtypeNamesTheTensor) {
  WriteWeights({{"net.0.weight", "I64", {2, 3}}, {"net.2.weight", "F32", {1, 2}}});
  EXPECT_EQ(LoadError(),
            "m.yaml:10:26: layer 0 (linear net.0): weight 'net.0.weight' has dtype I64, expected a "
            "floating-point dtype (F32, F16, BF16 or F64).");
}

TEST_F(SafetensorsModelTest, TruncatedWeightsFileIsRefused) {
  WriteWeights({{"net.0.weight", "F32", {2, 3}}, {"net.2.weight", "F32", {1, 2}}});
  std::filesystem::resize_file(dir_ / "w.safetensors",
                               std::filesystem::file_size(dir_ / "w.safetensors") - 4);
  EXPECT_EQ(LoadError(),
            "'w.safetensors' is truncated: tensor 'net.2.weight' has data_offsets [24, 32] but the data "
            "section has only 28 bytes.");
}

}  // namespace
}  // namespace loupe::model
