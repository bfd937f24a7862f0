#include "background.hpp"

#include <string>

#include "loupe/sdk/error.hpp"
#include "loupe/sdk/params.hpp"

namespace loupe::shap {

std::vector<std::int64_t> ResolveBackground(const loupe::sdk::Host& host, std::int64_t n_rows) {
  nlohmann::json selection = host.Params().Get<nlohmann::json>("background");
  if (selection.is_number_integer() && selection.get<std::int64_t>() >= n_rows) selection = "all";
  std::vector<std::int64_t> rows = host.ResolveRows(selection, kBackgroundStream, "background");
  if (rows.empty()) {
    throw loupe::sdk::InvalidArgument("parameter 'background' must select at least one row, found " +
                                      loupe::sdk::DescribeJson(host.Params().Get<nlohmann::json>("background")) +
                                      " on data of " + std::to_string(n_rows) + " rows");
  }
  return rows;
}

}  // namespace loupe::shap
