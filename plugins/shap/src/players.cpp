#include "players.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <utility>

#include "loupe/sdk/attribution.hpp"
#include "loupe/sdk/error.hpp"
#include "loupe/sdk/params.hpp"

namespace loupe::shap {
namespace {

using loupe::sdk::InvalidArgument;

struct Group {
  std::string name;
  std::vector<std::int64_t> columns;
};

Group ParseGroup(const loupe::sdk::DatasetInfo& data, const std::string& name, const nlohmann::json& members,
                 std::map<std::int64_t, std::string>* owner) {
  if (!members.is_array() || members.empty()) {
    throw InvalidArgument("parameter 'groups' must map group '" + name +
                          "' to a non-empty list of feature names, found " +
                          loupe::sdk::DescribeJson(members));
  }
  Group group{name, {}};
  for (const auto& member : members) {
    if (!member.is_string()) {
      throw InvalidArgument("parameter 'groups' must list feature names in group '" + name + "', found " +
                            loupe::sdk::DescribeJson(member));
    }
    const std::string feature = member.get<std::string>();
    const std::int64_t column = data.FeatureIndex(feature);
    if (column < 0) {
      throw InvalidArgument("parameter 'groups' puts feature '" + feature + "' in group '" + name +
                            "', but the step has no such feature");
    }
    const auto [it, inserted] = owner->emplace(column, name);
    if (!inserted) {
      throw InvalidArgument("parameter 'groups' puts feature '" + feature + "' in both group '" + it->second +
                            "' and group '" + name + "'");
    }
    group.columns.push_back(column);
  }
  return group;
}

Players Grouped(const loupe::sdk::DatasetInfo& data, const nlohmann::json& groups) {
  if (!groups.is_object() || groups.empty()) {
    throw InvalidArgument("parameter 'groups' must map group names to lists of feature names, found " +
                          loupe::sdk::DescribeJson(groups));
  }
  std::map<std::int64_t, std::string> owner;
  std::vector<Group> parsed;
  for (const auto& item : groups.items())
    parsed.push_back(ParseGroup(data, item.key(), item.value(), &owner));
  for (std::int64_t column = 0; column < data.n_features(); ++column) {
    if (owner.count(column) == 0) {
      throw InvalidArgument("parameter 'groups' must put every feature in a group, but feature '" +
                            data.features[static_cast<std::size_t>(column)].name + "' is in none");
    }
  }
  auto first_column = [](const Group& g) { return *std::min_element(g.columns.begin(), g.columns.end()); };
  std::sort(parsed.begin(), parsed.end(),
            [&](const Group& a, const Group& b) { return first_column(a) < first_column(b); });
  Players players;
  players.grouped = true;
  for (auto& group : parsed) {
    players.names.push_back(std::move(group.name));
    players.columns.push_back(std::move(group.columns));
  }
  return players;
}

}  // namespace

Players BuildPlayers(const loupe::sdk::DatasetInfo& data, const nlohmann::json& groups) {
  if (!groups.is_null()) return Grouped(data, groups);
  Players players;
  for (std::int64_t column = 0; column < data.n_features(); ++column) {
    players.names.push_back(data.features[static_cast<std::size_t>(column)].name);
    players.columns.push_back({column});
  }
  return players;
}

std::vector<std::string> PlayerValues(const Players& players, const loupe::sdk::DatasetInfo& data,
                                      const double* row) {
  std::vector<std::string> values;
  for (const auto& columns : players.columns) {
    std::string text;
    for (const std::int64_t column : columns) {
      const auto& feature = data.features[static_cast<std::size_t>(column)];
      const std::string value = loupe::sdk::FormatValue(feature, row[column]);
      if (columns.size() == 1) {
        text = value;
      } else {
        text += (text.empty() ? "" : "; ") + feature.name + "=" + value;
      }
    }
    values.push_back(std::move(text));
  }
  return values;
}

}  // namespace loupe::shap
