#include "report/output_files.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace loupe::report {
namespace {

std::string NumberText(const nlohmann::json& value) {
  if (value.is_null()) return "";
  if (value.is_number()) return value.dump();
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

}  // namespace

Status WriteFileAtomically(const std::filesystem::path& path, const std::string& contents) {
  static std::atomic<unsigned> sequence{0};
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return IoError("cannot create the folder '" + path.parent_path().string() + "': " + ec.message() + ".");
  }
  const std::filesystem::path temporary =
      path.parent_path() / ("." + path.filename().string() + ".tmp" + std::to_string(::getpid()) + "." +
                            std::to_string(sequence.fetch_add(1)));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return IoError("cannot write '" + temporary.string() + "': " + std::strerror(errno) + ".");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) {
      std::filesystem::remove(temporary, ec);
      return IoError("writing '" + path.string() + "' failed: " + std::strerror(errno) + ".");
    }
  }
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    return IoError("cannot move the finished file into place as '" + path.string() + "': " + ec.message() +
                   ".");
  }
  return Status::Ok();
}

Status WriteExplanationJson(const std::filesystem::path& path, const Explanation& explanation) {
  return WriteFileAtomically(path, explanation.ToJson().dump() + "\n");
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

Status WriteAttributionCsv(const std::filesystem::path& path, const Explanation& explanation) {
  if (explanation.kind != "feature_attribution") {
    return InvalidArgument("step '" + explanation.step + "' is a " + explanation.kind +
                           ", which has no CSV form.");
  }
  LOUPE_RETURN_IF_ERROR(ValidateExplanation(explanation));
  const nlohmann::json& body = explanation.body;
  std::ostringstream csv;
  csv << "row,output,base_value";
  for (const auto& name : body["feature_names"]) csv << ',' << CsvField(name.get<std::string>());
  csv << '\n';
  for (std::size_t r = 0; r < body["rows"].size(); ++r) {
    for (std::size_t o = 0; o < body["output_names"].size(); ++o) {
      csv << NumberText(body["rows"][r]) << ',' << CsvField(body["output_names"][o].get<std::string>()) << ','
          << NumberText(body["base_values"][r][o]);
      for (const auto& value : body["values"][r][o]) csv << ',' << NumberText(value);
      csv << '\n';
    }
  }
  return WriteFileAtomically(path, csv.str());
}

}  // namespace loupe::report
