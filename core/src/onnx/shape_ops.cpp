// Operators that move elements without arithmetic: Flatten, Reshape, Transpose, Squeeze, Unsqueeze,
// Concat, Shape and Gather, for every element type. The shape sub-graphs torch.onnx.export writes
// (Shape → Gather → Unsqueeze → Concat → Reshape) are folded to constants when the model loads wherever
// their inputs are known (core/src/onnx/session.cpp).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "onnx/ops.hpp"

namespace loupe::onnx {

namespace {

// y[k] = x[source[k]] with y of `shape`, for any element type.
Value Take(const Value& x, std::vector<std::int64_t> shape, const std::vector<std::int64_t>& source) {
  Value y = Value::Zeros(x.type, std::move(shape));
  for (std::size_t k = 0; k < source.size(); ++k) {
    const auto from = static_cast<std::size_t>(source[k]);
    if (x.type == DataType::kFloat)
      y.f[k] = x.f[from];
    else if (x.type == DataType::kDouble)
      y.d[k] = x.d[from];
    else if (x.type == DataType::kString)
      y.s[k] = x.s[from];
    else
      y.i[k] = x.i[from];
  }
  return y;
}

Value Reshaped(const Value& x, std::vector<std::int64_t> shape) {
  if (x.type != DataType::kFloat) {
    Value y = x;
    y.shape = std::move(shape);
    return y;
  }
  Value y;
  y.type = DataType::kFloat;
  y.shape = std::move(shape);
  y.f = TakeFloats(x.f.size());
  y.f.assign(x.f.begin(), x.f.end());
  return y;
}

Status NeedInput(const Node& node, const std::vector<const Value*>& in, std::size_t k) {
  if (k >= in.size() || in[k] == nullptr)
    return NodeError(node, "input " + std::to_string(k) + " is required but missing.");
  return Status::Ok();
}

Result<std::int64_t> NormalizedAxis(const Node& node, std::int64_t axis, std::int64_t rank) {
  const std::int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max<std::int64_t>(rank, 1)) {
    return NodeError(node, "axis " + std::to_string(axis) + " is outside rank " + std::to_string(rank) + ".");
  }
  return a;
}

// The int64 values of input `k` (opset ≥ 13 passes axes and shapes as inputs), or the attribute `name`.
Result<std::vector<std::int64_t>> IntsFromInputOrAttr(const Node& node, const std::vector<const Value*>& in,
                                                      std::size_t k, const std::string& name) {
  if (k < in.size() && in[k] != nullptr) {
    if (!IsIntegral(in[k]->type))
      return NodeError(node, "input " + std::to_string(k) + " must hold int64 values.");
    return in[k]->i;
  }
  return IntsAttr(node, name);
}

Result<std::unique_ptr<Kernel>> MakeFlatten(const KernelBuild& build) {
  return MakeKernel(build.node,
                    [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(NeedInput(node, in, 0));
                      const auto rank = static_cast<std::int64_t>(in[0]->shape.size());
                      std::int64_t axis = IntAttr(node, "axis", 1);
                      if (axis < 0) axis += rank;
                      if (axis < 0 || axis > rank)
                        return NodeError(node, "axis " + std::to_string(axis) + " is outside the rank.");
                      std::int64_t outer = 1;
                      for (std::int64_t k = 0; k < axis; ++k)
                        outer *= in[0]->shape[static_cast<std::size_t>(k)];
                      out[0] = Reshaped(*in[0], {outer, in[0]->size() / std::max<std::int64_t>(outer, 1)});
                      return Status::Ok();
                    });
}

Result<std::unique_ptr<Kernel>> MakeReshape(const KernelBuild& build) {
  return MakeKernel(
      build.node,
      [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
         const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(NeedInput(node, in, 0));
        LOUPE_ASSIGN_OR_RETURN(std::vector<std::int64_t> shape, IntsFromInputOrAttr(node, in, 1, "shape"));
        const bool allow_zero = IntAttr(node, "allowzero", 0) != 0;
        std::int64_t known = 1;
        int unknown = -1;
        for (std::size_t k = 0; k < shape.size(); ++k) {
          if (shape[k] == 0 && !allow_zero) {
            if (k >= in[0]->shape.size())
              return NodeError(node, "copies dimension " + std::to_string(k) + " that the input lacks.");
            shape[k] = in[0]->shape[k];
          }
          if (shape[k] < -1) {
            return NodeError(
                node, "has the negative dimension " + std::to_string(shape[k]) + " in its target shape.");
          }
          if (shape[k] == -1) {
            if (unknown >= 0) return NodeError(node, "has two -1 dimensions in its target shape.");
            unknown = static_cast<int>(k);
          } else if (__builtin_mul_overflow(known, shape[k], &known)) {
            return NodeError(node, "has a target shape of more elements than a 64-bit count holds.");
          }
        }
        if (unknown >= 0 && known > 0) shape[static_cast<std::size_t>(unknown)] = in[0]->size() / known;
        if (ElementCount(shape) != in[0]->size()) {
          return NodeError(node, "cannot reshape " + ShapeText(in[0]->shape) + " into " + ShapeText(shape) +
                                     ": the sizes disagree.");
        }
        out[0] = Reshaped(*in[0], shape);
        return Status::Ok();
      });
}

// Writes `from` permuted into `to`: output element (c0, ..., c_{r-1}) of `shape` reads input offset
// Σ c_k · stride[k] (the input's stride of the dimension perm[k]). The last dimension is the inner loop and
// the offset is carried from element to element: no index table (transposes run on every attention head).
template <typename T>
void PermuteInto(const std::vector<T>& from, const std::vector<std::int64_t>& shape,
                 const std::vector<std::int64_t>& stride, std::vector<T>& to) {
  to.resize(from.size());
  if (from.empty()) return;
  const std::size_t rank = shape.size();
  if (rank == 0) {
    to[0] = from[0];
    return;
  }
  const std::int64_t inner = shape[rank - 1], inner_stride = stride[rank - 1];
  std::vector<std::int64_t> counter(rank, 0);
  std::int64_t at = 0;
  for (std::size_t e = 0; e < to.size();) {
    for (std::int64_t j = 0; j < inner; ++j) to[e++] = from[static_cast<std::size_t>(at + j * inner_stride)];
    for (std::size_t k = rank - 1; k-- > 0;) {
      at += stride[k];
      if (++counter[k] < shape[k]) break;
      at -= stride[k] * shape[k];
      counter[k] = 0;
    }
  }
}

// Copies `n` floats: an inline loop for the short runs of transposes (an attention head's 16 values), where
// a call to memmove costs more than the copy.
void CopyRun(const float* __restrict from, std::int64_t n, float* __restrict to) {
  if (n >= 256) {
    std::memcpy(to, from, static_cast<std::size_t>(n) * sizeof(float));
    return;
  }
  for (std::int64_t j = 0; j < n; ++j) to[j] = from[j];
}

// The float case of PermuteInto, faster: dimensions that stay adjacent in the permutation are merged first
// (the attention pattern's [T, N·H, d] → [N·H, d, T] is then a 2-D transpose of [T, N·H·d]); a 2-D transpose
// runs in 16 × 16 tiles, and a permutation that keeps the last dimension innermost copies whole runs.
void PermuteFloats(const std::vector<float>& from, std::vector<std::int64_t> shape,
                   std::vector<std::int64_t> stride, std::vector<float>& to) {
  // Merge output dimension k+1 into k when stepping over it is a step of the input's dimension k.
  std::vector<std::int64_t> merged_shape, merged_stride;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 1) continue;
    if (!merged_shape.empty() && merged_stride.back() == stride[k] * shape[k]) {
      merged_shape.back() *= shape[k];
      merged_stride.back() = stride[k];
      continue;
    }
    merged_shape.push_back(shape[k]);
    merged_stride.push_back(stride[k]);
  }
  if (merged_shape.size() == 2 && merged_stride[1] != 1 && merged_stride[0] == 1) {
    // y [R, C] with y(r, c) = x[c · R_in + r]: x is [C, R] row-major.
    const std::int64_t rows = merged_shape[0], cols = merged_shape[1], x_row = merged_stride[1];
    constexpr std::int64_t kTile = 16;
    for (std::int64_t r0 = 0; r0 < rows; r0 += kTile) {
      const std::int64_t r1 = std::min(rows, r0 + kTile);
      for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const std::int64_t c1 = std::min(cols, c0 + kTile);
        for (std::int64_t r = r0; r < r1; ++r) {
          float* out = to.data() + r * cols;
          for (std::int64_t c = c0; c < c1; ++c) out[c] = from[static_cast<std::size_t>(c * x_row + r)];
        }
      }
    }
    return;
  }
  if (!merged_shape.empty() && merged_stride.back() == 1) {
    // Runs of the last dimension are contiguous in the input: copy them whole.
    const std::size_t rank = merged_shape.size();
    const std::int64_t run = merged_shape.back();
    std::vector<std::int64_t> counter(rank, 0);
    std::int64_t at = 0;
    for (std::size_t e = 0; e < to.size(); e += static_cast<std::size_t>(run)) {
      CopyRun(from.data() + at, run, to.data() + e);
      for (std::size_t k = rank - 1; k-- > 0;) {
        at += merged_stride[k];
        if (++counter[k] < merged_shape[k]) break;
        at -= merged_stride[k] * merged_shape[k];
        counter[k] = 0;
      }
    }
    return;
  }
  if (merged_shape.empty()) {
    std::copy(from.begin(), from.end(), to.begin());
    return;
  }
  PermuteInto(from, merged_shape, merged_stride, to);
}

Result<std::unique_ptr<Kernel>> MakeTranspose(const KernelBuild& build) {
  return MakeKernel(build.node,
                    [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(NeedInput(node, in, 0));
                      const Value& x = *in[0];
                      const std::size_t rank = x.shape.size();
                      std::vector<std::int64_t> perm = IntsAttr(node, "perm");
                      if (perm.empty()) {
                        perm.resize(rank);
                        std::iota(perm.rbegin(), perm.rend(), 0);
                      }
                      if (perm.size() != rank)
                        return NodeError(node, "perm has " + std::to_string(perm.size()) +
                                                   " entries for a rank-" + std::to_string(rank) + " input.");
                      std::vector<std::int64_t> in_stride(rank, 1), shape(rank), stride(rank);
                      for (std::size_t k = rank; k-- > 1;) in_stride[k - 1] = in_stride[k] * x.shape[k];
                      for (std::size_t k = 0; k < rank; ++k) {
                        if (perm[k] < 0 || perm[k] >= static_cast<std::int64_t>(rank))
                          return NodeError(node, "perm names the axis " + std::to_string(perm[k]) + ".");
                        shape[k] = x.shape[static_cast<std::size_t>(perm[k])];
                        stride[k] = in_stride[static_cast<std::size_t>(perm[k])];
                      }
                      Value y;
                      y.type = x.type;
                      y.shape = shape;
                      if (x.type == DataType::kFloat) {
                        y.f = std::move(UninitializedFloats(shape).f);
                        PermuteFloats(x.f, shape, stride, y.f);
                      } else if (x.type == DataType::kDouble)
                        PermuteInto(x.d, shape, stride, y.d);
                      else if (x.type == DataType::kString)
                        PermuteInto(x.s, shape, stride, y.s);
                      else
                        PermuteInto(x.i, shape, stride, y.i);
                      out[0] = std::move(y);
                      return Status::Ok();
                    });
}

Result<std::unique_ptr<Kernel>> MakeSqueeze(const KernelBuild& build) {
  return MakeKernel(
      build.node,
      [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
         const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(NeedInput(node, in, 0));
        LOUPE_ASSIGN_OR_RETURN(std::vector<std::int64_t> axes, IntsFromInputOrAttr(node, in, 1, "axes"));
        const auto rank = static_cast<std::int64_t>(in[0]->shape.size());
        std::vector<std::uint8_t> drop(static_cast<std::size_t>(rank), 0);
        for (std::int64_t k = 0; k < rank; ++k)
          drop[static_cast<std::size_t>(k)] = axes.empty() && in[0]->shape[static_cast<std::size_t>(k)] == 1;
        for (const std::int64_t axis : axes) {
          LOUPE_ASSIGN_OR_RETURN(const std::int64_t a, NormalizedAxis(node, axis, rank));
          if (in[0]->shape[static_cast<std::size_t>(a)] != 1)
            return NodeError(node, "squeezes axis " + std::to_string(a) + " of " + ShapeText(in[0]->shape) +
                                       ", which is not 1.");
          drop[static_cast<std::size_t>(a)] = 1;
        }
        std::vector<std::int64_t> shape;
        for (std::int64_t k = 0; k < rank; ++k) {
          if (!drop[static_cast<std::size_t>(k)]) shape.push_back(in[0]->shape[static_cast<std::size_t>(k)]);
        }
        out[0] = Reshaped(*in[0], shape);
        return Status::Ok();
      });
}

Result<std::unique_ptr<Kernel>> MakeUnsqueeze(const KernelBuild& build) {
  return MakeKernel(
      build.node,
      [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
         const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(NeedInput(node, in, 0));
        LOUPE_ASSIGN_OR_RETURN(std::vector<std::int64_t> axes, IntsFromInputOrAttr(node, in, 1, "axes"));
        const auto rank = static_cast<std::int64_t>(in[0]->shape.size() + axes.size());
        std::vector<std::uint8_t> inserted(static_cast<std::size_t>(rank), 0);
        for (const std::int64_t axis : axes) {
          const std::int64_t a = axis < 0 ? axis + rank : axis;
          if (a < 0 || a >= rank)
            return NodeError(node, "axis " + std::to_string(axis) + " is outside the output rank.");
          inserted[static_cast<std::size_t>(a)] = 1;
        }
        std::vector<std::int64_t> shape;
        std::size_t next = 0;
        for (std::int64_t k = 0; k < rank; ++k)
          shape.push_back(inserted[static_cast<std::size_t>(k)] ? 1 : in[0]->shape[next++]);
        out[0] = Reshaped(*in[0], shape);
        return Status::Ok();
      });
}

Result<std::unique_ptr<Kernel>> MakeConcat(const KernelBuild& build) {
  return MakeKernel(
      build.node,
      [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
         const RunContext&) -> Status {
        LOUPE_RETURN_IF_ERROR(NeedInput(node, in, 0));
        const Value& first = *in[0];
        const auto rank = static_cast<std::int64_t>(first.shape.size());
        LOUPE_ASSIGN_OR_RETURN(const std::int64_t axis, NormalizedAxis(node, IntAttr(node, "axis", 0), rank));
        std::vector<std::int64_t> shape = first.shape;
        shape[static_cast<std::size_t>(axis)] = 0;
        for (const Value* v : in) {
          if (v == nullptr || v->type != first.type || v->shape.size() != first.shape.size()) {
            return NodeError(node, "concatenates tensors of different types or ranks.");
          }
          for (std::int64_t k = 0; k < rank; ++k) {
            if (k != axis &&
                v->shape[static_cast<std::size_t>(k)] != first.shape[static_cast<std::size_t>(k)]) {
              return NodeError(node, "concatenates " + ShapeText(first.shape) + " and " +
                                         ShapeText(v->shape) + " along axis " + std::to_string(axis) +
                                         ": the other dimensions disagree.");
            }
          }
          shape[static_cast<std::size_t>(axis)] += v->shape[static_cast<std::size_t>(axis)];
        }
        std::int64_t outer = 1, inner = 1;
        for (std::int64_t k = 0; k < axis; ++k) outer *= shape[static_cast<std::size_t>(k)];
        for (std::int64_t k = axis + 1; k < rank; ++k) inner *= shape[static_cast<std::size_t>(k)];
        Value y = Value::Zeros(first.type, shape);
        // Copies each input's block of every outer index in turn.
        std::int64_t written = 0;
        for (std::int64_t o = 0; o < outer; ++o) {
          for (const Value* v : in) {
            const std::int64_t block = v->shape[static_cast<std::size_t>(axis)] * inner;
            for (std::int64_t j = 0; j < block; ++j, ++written) {
              const auto to = static_cast<std::size_t>(written);
              const auto from = static_cast<std::size_t>(o * block + j);
              if (first.type == DataType::kFloat)
                y.f[to] = v->f[from];
              else if (first.type == DataType::kDouble)
                y.d[to] = v->d[from];
              else if (first.type == DataType::kString)
                y.s[to] = v->s[from];
              else
                y.i[to] = v->i[from];
            }
          }
        }
        out[0] = std::move(y);
        return Status::Ok();
      });
}

Result<std::unique_ptr<Kernel>> MakeShape(const KernelBuild& build) {
  return MakeKernel(build.node,
                    [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(NeedInput(node, in, 0));
                      const auto rank = static_cast<std::int64_t>(in[0]->shape.size());
                      std::int64_t start = IntAttr(node, "start", 0), end = IntAttr(node, "end", rank);
                      if (start < 0) start += rank;
                      if (end < 0) end += rank;
                      start = std::clamp<std::int64_t>(start, 0, rank);
                      end = std::clamp<std::int64_t>(end, start, rank);
                      std::vector<std::int64_t> dims(in[0]->shape.begin() + start,
                                                     in[0]->shape.begin() + end);
                      out[0] = Value::Ints({end - start}, std::move(dims));
                      return Status::Ok();
                    });
}

Result<std::unique_ptr<Kernel>> MakeGather(const KernelBuild& build) {
  return MakeKernel(build.node,
                    [](const Node& node, const std::vector<const Value*>& in, std::vector<Value>& out,
                       const RunContext&) -> Status {
                      LOUPE_RETURN_IF_ERROR(NeedInput(node, in, 0));
                      LOUPE_RETURN_IF_ERROR(NeedInput(node, in, 1));
                      const Value& x = *in[0];
                      const Value& indices = *in[1];
                      if (!IsIntegral(indices.type)) return NodeError(node, "indices must be integers.");
                      const auto rank = static_cast<std::int64_t>(x.shape.size());
                      LOUPE_ASSIGN_OR_RETURN(const std::int64_t axis,
                                             NormalizedAxis(node, IntAttr(node, "axis", 0), rank));
                      const std::int64_t length = x.shape[static_cast<std::size_t>(axis)];
                      std::int64_t outer = 1, inner = 1;
                      for (std::int64_t k = 0; k < axis; ++k) outer *= x.shape[static_cast<std::size_t>(k)];
                      for (std::int64_t k = axis + 1; k < rank; ++k)
                        inner *= x.shape[static_cast<std::size_t>(k)];
                      std::vector<std::int64_t> shape(x.shape.begin(), x.shape.begin() + axis);
                      shape.insert(shape.end(), indices.shape.begin(), indices.shape.end());
                      shape.insert(shape.end(), x.shape.begin() + axis + 1, x.shape.end());
                      // The indices counted from the end resolved, each checked once.
                      std::vector<std::int64_t> resolved;
                      resolved.reserve(indices.i.size());
                      for (const std::int64_t raw : indices.i) {
                        const std::int64_t index = raw < 0 ? raw + length : raw;
                        if (index < 0 || index >= length) {
                          return NodeError(node, "index " + std::to_string(raw) + " is outside the " +
                                                     std::to_string(length) + " entries of axis " +
                                                     std::to_string(axis) + ".");
                        }
                        resolved.push_back(index);
                      }
                      if (x.type == DataType::kFloat) {
                        // Rows of `inner` floats copied whole (an embedding table's rows).
                        Value y = UninitializedFloats(shape);
                        float* to = y.f.data();
                        for (std::int64_t o = 0; o < outer; ++o) {
                          for (const std::int64_t index : resolved) {
                            std::copy_n(x.f.data() + (o * length + index) * inner, inner, to);
                            to += inner;
                          }
                        }
                        out[0] = std::move(y);
                        return Status::Ok();
                      }
                      std::vector<std::int64_t> source;
                      source.reserve(static_cast<std::size_t>(ElementCount(shape)));
                      for (std::int64_t o = 0; o < outer; ++o) {
                        for (const std::int64_t index : resolved) {
                          for (std::int64_t j = 0; j < inner; ++j)
                            source.push_back((o * length + index) * inner + j);
                        }
                      }
                      out[0] = Take(x, shape, source);
                      return Status::Ok();
                    });
}

}  // namespace

void AddShapeOps(std::vector<OpSchema>& ops) {
  ops.push_back({"", "Concat", "", &MakeConcat});
  ops.push_back({"", "Flatten", "", &MakeFlatten});
  ops.push_back({"", "Gather", "any element type (embeddings, shape arithmetic)", &MakeGather});
  ops.push_back({"", "Reshape", "0 copies a dimension unless allowzero; one -1 is inferred", &MakeReshape});
  ops.push_back({"", "Shape", "start / end (opset 15)", &MakeShape});
  ops.push_back({"", "Squeeze", "axes as attribute (opset < 13) or input", &MakeSqueeze});
  ops.push_back({"", "Transpose", "", &MakeTranspose});
  ops.push_back({"", "Unsqueeze", "axes as attribute (opset < 13) or input", &MakeUnsqueeze});
}

}  // namespace loupe::onnx
