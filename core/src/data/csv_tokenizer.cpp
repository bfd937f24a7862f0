#include "data/csv_tokenizer.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "data/numbers.hpp"

namespace loupe::data {
namespace {

constexpr std::string_view kUtf8ByteOrderMark = "\xEF\xBB\xBF";
constexpr std::size_t kMaxQuotedContext = 20;

bool IsLineEndChar(char c) { return c == '\n' || c == '\r'; }

}  // namespace

CsvTokenizer::CsvTokenizer(std::string_view text, std::string source)
    : text_(text), source_(std::move(source)) {
  if (text_.substr(0, kUtf8ByteOrderMark.size()) == kUtf8ByteOrderMark) pos_ = kUtf8ByteOrderMark.size();
}

// A file is read a block at a time; the consumed part of the buffer is dropped between records once it
// passes a block, so the buffer holds about two blocks plus the longest record.
CsvTokenizer::CsvTokenizer(std::FILE* file, std::string source, std::size_t block, std::uint64_t offset,
                           std::int64_t line)
    : file_(file), block_(block == 0 ? 1 : block), base_(offset), source_(std::move(source)), line_(line) {
  if (offset != 0) return;
  Has(kUtf8ByteOrderMark.size() - 1);
  if (text_.substr(0, kUtf8ByteOrderMark.size()) == kUtf8ByteOrderMark) pos_ = kUtf8ByteOrderMark.size();
}

// A block is read into its own uninitialised array and appended, rather than read into buffer_ grown by
// a block: growing a std::string zeroes the new bytes first, a whole block's worth (1 MiB by default)
// for a file that is often a fraction of that, and again on every look past the end of the text. Once
// fread() has found the end, Fill() answers without reading (or zeroing) anything.
bool CsvTokenizer::Fill(std::size_t index) {
  if (file_ == nullptr || at_end_of_file_ || !read_error_.ok()) return false;
  if (block_buffer_ == nullptr) block_buffer_ = std::make_unique_for_overwrite<char[]>(block_);
  while (index >= buffer_.size()) {
    const std::size_t count = std::fread(block_buffer_.get(), 1, block_, file_);
    buffer_.append(block_buffer_.get(), count);
    text_ = buffer_;
    if (count == 0) {
      if (std::ferror(file_) != 0) {
        read_error_ = IoError("cannot read '" + source_ + "': " + std::strerror(errno));
      } else {
        at_end_of_file_ = true;
      }
      return false;
    }
  }
  return true;
}

void CsvTokenizer::Compact() {
  if (file_ == nullptr || pos_ < block_) return;
  buffer_.erase(0, pos_);
  base_ += pos_;
  pos_ = 0;
  text_ = buffer_;
}

// The strings of `fields` are reused from record to record (cleared, not destroyed), so a field longer
// than a std::string holds inline costs an allocation the first time only.
Result<bool> CsvTokenizer::Next(std::vector<std::string>* fields) {
  Compact();
  SkipBlankLines();
  if (AtEnd()) {
    fields->clear();
    LOUPE_RETURN_IF_ERROR(read_error_);
    return false;
  }
  record_line_ = line_;
  record_offset_ = base_ + pos_;
  for (std::size_t count = 0;;) {
    if (count == fields->size()) fields->emplace_back();
    std::string& field = (*fields)[count];
    field.clear();
    const Result<FieldEnd> end = ReadField(count + 1, &field);
    ++count;
    // A read error ends the text early: it, not what the truncated text looks like, is the error.
    if (!read_error_.ok()) {
      fields->resize(count);
      return read_error_;
    }
    if (!end.ok()) {
      fields->resize(count);
      return end.status();
    }
    if (*end != FieldEnd::kComma) {
      fields->resize(count);
      return true;
    }
  }
}

Result<CsvTokenizer::FieldEnd> CsvTokenizer::ReadField(std::size_t field_number, std::string* field) {
  SkipBlanks();
  if (!AtEnd() && text_[pos_] == '"') {
    LOUPE_RETURN_IF_ERROR(ReadQuoted(field));
    SkipBlanks();
  } else {
    ReadUnquoted(field);
  }
  return ReadFieldEnd(field_number);
}

Status CsvTokenizer::ReadQuoted(std::string* field) {
  const std::int64_t opening_line = line_;
  ++pos_;  // the opening quote
  while (!AtEnd()) {
    const char c = text_[pos_];
    if (c == '"') {
      if (Has(pos_ + 1) && text_[pos_ + 1] == '"') {  // a doubled quote stands for one
        field->push_back('"');
        pos_ += 2;
        continue;
      }
      ++pos_;  // the closing quote
      return Status::Ok();
    }
    if (IsLineEndChar(c)) {
      // Line breaks inside quotes belong to the field, byte for byte; only the line count changes.
      const std::size_t start = pos_;
      ConsumeLineEnd();
      field->append(text_.substr(start, pos_ - start));
      continue;
    }
    field->push_back(c);
    ++pos_;
  }
  return InvalidArgument(source_ + ":" + std::to_string(opening_line) +
                         ": expected a closing quote for the field that opens on this line, found the end "
                         "of the file");
}

void CsvTokenizer::ReadUnquoted(std::string* field) {
  const std::size_t start = pos_;
  // Scans what the buffer holds, then reads more of the file only when the field reaches its end.
  for (;;) {
    const char* at = text_.data() + pos_;
    const char* const stop = text_.data() + text_.size();
    while (at < stop && *at != ',' && !IsLineEndChar(*at)) ++at;
    pos_ = static_cast<std::size_t>(at - text_.data());
    if (at < stop || !Has(pos_)) break;
  }
  std::size_t stop = pos_;
  while (stop > start && IsBlank(text_[stop - 1])) --stop;
  field->assign(text_.substr(start, stop - start));
}

Result<CsvTokenizer::FieldEnd> CsvTokenizer::ReadFieldEnd(std::size_t field_number) {
  if (AtEnd()) return FieldEnd::kEndOfText;
  if (text_[pos_] == ',') {
    ++pos_;
    return FieldEnd::kComma;
  }
  if (ConsumeLineEnd()) return FieldEnd::kLineEnd;
  // Only a quoted field can stop anywhere else: something follows its closing quote.
  std::size_t stop = pos_;
  while (Has(stop) && stop - pos_ < kMaxQuotedContext && text_[stop] != ',' && !IsLineEndChar(text_[stop])) {
    ++stop;
  }
  return InvalidArgument(source_ + ":" + std::to_string(line_) +
                         ": expected a comma or a line end after the closing quote of field " +
                         std::to_string(field_number) + ", found '" +
                         std::string(text_.substr(pos_, stop - pos_)) + "'");
}

bool CsvTokenizer::ConsumeLineEnd() {
  if (AtEnd()) return false;
  if (text_[pos_] == '\r') {
    ++pos_;
    if (!AtEnd() && text_[pos_] == '\n') ++pos_;
  } else if (text_[pos_] == '\n') {
    ++pos_;
  } else {
    return false;
  }
  ++line_;
  return true;
}

void CsvTokenizer::SkipBlanks() {
  while (!AtEnd() && IsBlank(text_[pos_])) ++pos_;
}

void CsvTokenizer::SkipBlankLines() {
  for (;;) {
    std::size_t probe = pos_;
    while (Has(probe) && IsBlank(text_[probe])) ++probe;
    if (!Has(probe)) {  // trailing blanks at the very end
      pos_ = probe;
      return;
    }
    if (!IsLineEndChar(text_[probe])) return;
    pos_ = probe;
    ConsumeLineEnd();
  }
}

}  // namespace loupe::data
