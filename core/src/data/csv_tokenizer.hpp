// Splits RFC 4180 text into records of fields, tracking physical line numbers for error messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/status.hpp"

namespace loupe::data {

// Reads records one at a time from text held by the caller (which must outlive the tokenizer).
//
// Accepted: quoted fields with doubled quotes, commas and line breaks inside quotes, LF, CRLF or CR line
// ends, a UTF-8 byte order mark, a last line with or without a line end. Spaces and tabs around a field
// (outside its quotes) are dropped. Lines holding nothing but spaces and tabs are skipped. A quote inside
// an unquoted field is an ordinary character, as in Python's csv module.
class CsvTokenizer {
 public:
  // `source` names the text in error messages ("FILE:LINE: ...").
  CsvTokenizer(std::string_view text, std::string source);

  // Reads the next record into `fields`. Returns false, with `fields` empty, once the text is exhausted.
  Result<bool> Next(std::vector<std::string>* fields);
  // The physical 1-based line on which the record last returned by Next() starts.
  std::int64_t record_line() const { return record_line_; }

 private:
  enum class FieldEnd { kComma, kLineEnd, kEndOfText };

  Result<FieldEnd> ReadField(std::size_t field_number, std::string* field);
  Status ReadQuoted(std::string* field);
  void ReadUnquoted(std::string* field);
  Result<FieldEnd> ReadFieldEnd(std::size_t field_number);
  // Consumes a line end (LF, CRLF or CR) at the cursor, if there is one.
  bool ConsumeLineEnd();
  void SkipBlanks();
  void SkipBlankLines();
  bool AtEnd() const { return pos_ >= text_.size(); }

  std::string_view text_;
  std::string source_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 1;
  std::int64_t record_line_ = 0;
};

}  // namespace loupe::data
