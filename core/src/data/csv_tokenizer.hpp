// Splits RFC 4180 text into records of fields, tracking physical line numbers for error messages.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/core/status.hpp"

namespace loupe::data {

// Reads records one at a time, from text held by the caller (which must outlive the tokenizer) or from
// an open file read a block at a time: the file's text is never held whole, only the record being read
// and the rest of the last block (a bounded buffer, whatever the file's size).
//
// Accepted: quoted fields with doubled quotes, commas and line breaks inside quotes, LF, CRLF or CR line
// ends, a UTF-8 byte order mark, a last line with or without a line end. Spaces and tabs around a field
// (outside its quotes) are dropped. Lines holding nothing but spaces and tabs are skipped. A quote inside
// an unquoted field is an ordinary character, as in Python's csv module.
class CsvTokenizer {
 public:
  // `source` names the text in error messages ("FILE:LINE: ...").
  CsvTokenizer(std::string_view text, std::string source);
  // Reads `file` (open for reading, owned by the caller) from its current position, `block` bytes at a
  // time (tests read a byte at a time to put block ends everywhere). The position is the file's start, or
  // `offset`, a record's start the tokenizer found before (record_offset()), on physical line `line`: the
  // offsets and lines it gives are then the file's (a byte order mark is looked for at the start only).
  CsvTokenizer(std::FILE* file, std::string source, std::size_t block = std::size_t{1} << 20,
               std::uint64_t offset = 0, std::int64_t line = 1);

  // Reads the next record into `fields`. Returns false, with `fields` empty, once the text is exhausted.
  // A read error of the file is an error naming it.
  Result<bool> Next(std::vector<std::string>* fields);
  // The physical 1-based line on which the record last returned by Next() starts.
  std::int64_t record_line() const { return record_line_; }
  // The byte offset in the text (the file) at which the record last returned by Next() starts.
  std::uint64_t record_offset() const { return record_offset_; }

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
  // Whether the text has a character at `index` (of the buffer), reading more of the file if need be.
  bool Has(std::size_t index) { return index < text_.size() || Fill(index); }
  bool Fill(std::size_t index);
  bool AtEnd() { return !Has(pos_); }
  // Drops the consumed part of the buffer (between records only: fields hold buffer offsets).
  void Compact();

  std::string_view text_;  // the caller's text, or buffer_
  std::FILE* file_ = nullptr;
  std::size_t block_ = 0;
  std::string buffer_;                    // the unconsumed part of the file read so far (file mode)
  std::unique_ptr<char[]> block_buffer_;  // what one fread() returns, before it joins buffer_
  bool at_end_of_file_ = false;           // fread() returned nothing without an error
  std::uint64_t base_ = 0;                // the file offset of buffer_[0]
  Status read_error_;
  std::string source_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 1;
  std::int64_t record_line_ = 0;
  std::uint64_t record_offset_ = 0;
};

}  // namespace loupe::data
