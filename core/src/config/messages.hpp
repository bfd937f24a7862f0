// Small helpers shared by every configuration check (pipelines, parameters, model files): "did you mean"
// suggestions, lists of names and values printed as the user wrote them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loupe::config {

// Damerau-Levenshtein distance (optimal string alignment: an adjacent swap costs 1), case-insensitive.
int EditDistance(const std::string& a, const std::string& b);

// The candidate closest to `word`, or "" when none is close enough to be a plausible typo: the distance
// must be at most max(2, length / 3) and smaller than both lengths (so "ab" never suggests "id").
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

// "a, b, c".
std::string JoinNames(const std::vector<std::string>& names, const std::string& separator = ", ");

// "; did you mean 'seed'?" when a candidate is close, otherwise "; expected one of: a, b, c" (or "" when
// there are no candidates at all).
std::string SuggestionSuffix(const std::string& word, const std::vector<std::string>& candidates);

// A value as it would be written in YAML flow style / JSON: "abc" quoted, 3, 2.5, true, null, [1,2],
// .nan and .inf for non-finite numbers; long values are shortened with "...".
std::string ValueText(const nlohmann::json& value);

// Renames the subject a sentence starts with: RenameSubject("rows must be ...", "rows", "'steps.a.rows'")
// gives "'steps.a.rows' must be ...". A sentence that starts otherwise gets "SUBJECT: " in front.
std::string RenameSubject(const std::string& message, const std::string& from, const std::string& to);

// A bound or limit as a person writes it: 1, 0.5, 1e-06.
std::string NumberText(double number);

// `message` ending in a full stop, unless it ends in a question mark ("did you mean ...?").
std::string Sentence(std::string message);

}  // namespace loupe::config
