#include "report/row_spill.hpp"

#include <algorithm>
#include <cstring>

#include "report/npy_files.hpp"

namespace loupe::report {
namespace {

std::string SpillShapeText(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Whether `shape` has the trailing extents of `whole` (all but the first).
bool SpillSameTrailing(const Shape& shape, const Shape& whole) {
  return shape.size() == whole.size() && !shape.empty() &&
         std::equal(shape.begin() + 1, shape.end(), whole.begin() + 1);
}

}  // namespace

RowSpill::RowSpill(std::filesystem::path dir, std::string step, std::int64_t rows)
    : dir_(std::move(dir)), step_(std::move(step)), rows_(rows) {}

Status RowSpill::Open(const std::string& path, const Explanation& chunk, Field& field) {
  const Tensor* typed = chunk.TypedArray(path);
  const TextArray* text = chunk.Text(path);
  if ((typed == nullptr && text == nullptr) || (typed != nullptr && typed->ndim() == 0)) {
    return Internal("field '" + path + "' of step '" + step_ +
                    "' is not an array of rows, so it cannot be streamed.");
  }
  field.spilled.text = text != nullptr;
  field.spilled.shape = typed != nullptr ? typed->shape() : text->shape();
  field.spilled.shape[0] = rows_;
  const std::string name = step_ + "." + path + (field.spilled.text ? ".spill" : ".npy");
  LOUPE_ASSIGN_OR_RETURN(field.file, AtomicFile::Open(dir_ / name));
  field.spilled.file = field.file->temporary();
  if (typed != nullptr) {
    field.spilled.dtype = typed->dtype();
    const std::string header = NpyHeader(NpyDescr(typed->dtype()), field.spilled.shape);
    field.file->out().write(header.data(), static_cast<std::streamsize>(header.size()));
    field.spilled.offset = header.size();
  }
  return Status::Ok();
}

Status RowSpill::Append(const Explanation& chunk, const std::vector<std::string>& fields) {
  for (const std::string& path : fields) {
    Field& field = fields_[path];
    if (!field.file) LOUPE_RETURN_IF_ERROR(Open(path, chunk, field));
    const Tensor* typed = chunk.TypedArray(path);
    const TextArray* text = chunk.Text(path);
    const bool fits = field.spilled.text
                          ? text != nullptr && SpillSameTrailing(text->shape(), field.spilled.shape)
                          : typed != nullptr && typed->dtype() == field.spilled.dtype &&
                                SpillSameTrailing(typed->shape(), field.spilled.shape);
    if (!fits) {
      return Internal("field '" + path + "' of step '" + step_ +
                      "' changes its type or trailing extents between chunks, so it cannot be streamed.");
    }
    const std::int64_t rows = typed != nullptr ? typed->dim(0) : text->dim(0);
    if (field.rows + rows > rows_) {
      return Internal("field '" + path + "' of step '" + step_ + "' has more rows than the step's " +
                      std::to_string(rows_) + ".");
    }
    std::ostream& out = field.file->out();
    if (typed != nullptr) {
      out.write(static_cast<const char*>(typed->raw()), static_cast<std::streamsize>(typed->nbytes()));
    } else {
      std::string cells;
      for (std::int64_t i = 0; i < text->size(); ++i) {
        const std::string_view cell = text->at(i);
        const auto size = static_cast<std::uint32_t>(cell.size());
        const char length[4] = {static_cast<char>(size & 0xFF), static_cast<char>((size >> 8) & 0xFF),
                                static_cast<char>((size >> 16) & 0xFF),
                                static_cast<char>((size >> 24) & 0xFF)};
        cells.append(length, 4).append(cell);
        field.width = std::max(field.width, NpyCodePoints(cell));
      }
      out.write(cells.data(), static_cast<std::streamsize>(cells.size()));
    }
    if (!out) {
      return IoError("writing the rows of field '" + path + "' of step '" + step_ + "' to '" +
                     field.file->temporary().string() + "' failed: " + std::strerror(errno) + ".");
    }
    field.rows += rows;
  }
  return Status::Ok();
}

Result<SpilledArrays> RowSpill::Finish() {
  SpilledArrays spilled;
  for (auto& [path, field] : fields_) {
    if (field.rows != rows_) {
      return Internal("field '" + path + "' of step '" + step_ + "' got " + std::to_string(field.rows) +
                      " rows of the step's " + std::to_string(rows_) + ", shape " +
                      SpillShapeText(field.spilled.shape) + ".");
    }
    LOUPE_RETURN_IF_ERROR(field.file->Flush());
    spilled.emplace(path, field.spilled);
  }
  return spilled;
}

Status RowSpill::WriteNpy(const std::string& path, std::filesystem::path& written) {
  const auto it = fields_.find(path);
  if (it == fields_.end()) return Internal("field '" + path + "' of step '" + step_ + "' was not streamed.");
  Field& field = it->second;
  written = dir_ / (step_ + "." + path + ".npy");
  if (!field.spilled.text) return field.file->Commit();
  return WriteNpyFromSpill(written, field.spilled, field.width);
}

}  // namespace loupe::report
