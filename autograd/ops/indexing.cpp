// Differentiable ops: slice, narrow, index_select, cat, stack. The family's table below gives each
// op's forward, its backward rule and its kernels; autograd/ops.hpp explains the three beats every
// op follows. Every one of them is a selection along one axis, so two kernels serve them all:
// index_select copies the chosen entries out, index_add adds entries back into place.
#include <algorithm>
#include <string>
#include <vector>

#include "autograd/node.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/support.hpp"
#include "backends/backend.hpp"

namespace gradlab {

using namespace ops_support;

namespace {

void require_defined(const char* op, const Tensor& x, const char* what = "input") {
  if (!x.defined()) throw Error(std::string(op) + ": " + what + " is an undefined tensor");
}

// The int64 indices start, start + step, … (count of them): the positions a slice picks.
Tensor index_range(std::int64_t start, std::int64_t count, std::int64_t step) {
  Tensor indices = Tensor::empty({count}, DType::int64);
  if (count > 0) {
    backend().arange(indices.mutable_view(), static_cast<double>(start), static_cast<double>(step));
  }
  return indices;
}

// y = the entries `indices` of x along `axis`, through the backend, nothing recorded.
Tensor select_kernel(const Tensor& x, std::int64_t axis, const Tensor& indices) {
  Shape shape = x.shape();
  shape[static_cast<std::size_t>(axis)] = indices.numel();
  Tensor y = Tensor::empty(shape, x.dtype());
  if (y.numel() > 0) backend().index_select(x.view(), axis, indices.view(), y.mutable_view());
  return y;
}

// Zeros of `shape` with `source`'s entries added at `indices` along `axis`: a selection's
// backward (and cat's forward), nothing recorded.
Tensor scatter_add_kernel(const Tensor& source, const Shape& shape, std::int64_t axis,
                          const Tensor& indices) {
  Tensor y = zeros(shape, {.dtype = source.dtype()});
  if (source.numel() > 0) {
    backend().index_add(source.view(), axis, indices.view(), y.mutable_view());
  }
  return y;
}

// slice, narrow and index_select: pick `indices` along `axis`, and record a node whose backward
// puts each upstream entry back where it came from, adding where an index repeats.
Tensor select_op(const char* op, const Tensor& x, std::int64_t axis, const Tensor& indices) {
  Tensor y = select_kernel(x, axis, indices);
  if (!any_requires_grad({&x})) return y;
  return record(op, {x}, y,
                [axis, indices, from = x.shape()](const Tensor& upstream, GradientSink& grads) {
                  grads.add(0, scatter_add_kernel(upstream, from, axis, indices));
                });
}

// "axis 1 of extent 5 (input shape [3, 5])", for the errors.
std::string axis_text(const Tensor& x, std::int64_t axis) {
  return "axis " + std::to_string(axis) + " of extent " + std::to_string(x.size(axis)) +
         " (input shape " + shape_string(x.shape()) + ")";
}

}  // namespace

// --- slicing and joining ------------------------------------------------------------------------
//
//   op             y = f(x)                                backward: dx =
//   slice          x[start:end:step] along an axis         g put back at those positions, 0 else
//   narrow         x[start:start+length] along an axis     the same
//   index_select   x[indices] along an axis                g scatter-added: a repeated index sums
//   cat            x₁, x₂, … joined along an axis          each xᵢ gets its block of g
//   stack          x₁, x₂, … joined along a new axis       cat of the inputs given a new axis of 1
//
//   kernels: index_select, index_add   reference: indexing.cpp   oneDNN: ref

Tensor slice(const Tensor& x, std::int64_t axis, std::optional<std::int64_t> start,
             std::optional<std::int64_t> end, std::int64_t step) {
  require_defined("slice", x);
  const std::int64_t a = resolve_axis("slice", x, axis);
  if (step < 1) throw Error("slice: step must be at least 1, got " + std::to_string(step));
  // Python's rule: a negative position counts from the end, then both ends are clamped to
  // [0, extent]; a slice that runs past the end is shorter, one that starts past it is empty.
  const std::int64_t extent = x.size(a);
  const auto place = [extent](std::int64_t position) {
    return std::clamp<std::int64_t>(position < 0 ? position + extent : position, 0, extent);
  };
  const std::int64_t first = start ? place(*start) : 0, last = end ? place(*end) : extent;
  const std::int64_t count = last > first ? 1 + (last - first - 1) / step : 0;
  return select_op("slice", x, a, index_range(first, count, step));
}

Tensor narrow(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t length) {
  require_defined("narrow", x);
  const std::int64_t a = resolve_axis("narrow", x, axis);
  const std::int64_t extent = x.size(a);
  if (start < -extent || start > extent) {
    throw Error("narrow: start " + std::to_string(start) + " is out of range for " +
                axis_text(x, a));
  }
  const std::int64_t first = start < 0 ? start + extent : start;
  if (length < 0 || length > extent - first) {
    throw Error("narrow: start " + std::to_string(start) + " with length " +
                std::to_string(length) + " does not fit in " + axis_text(x, a));
  }
  return select_op("narrow", x, a, index_range(first, length, 1));
}

Tensor index_select(const Tensor& x, std::int64_t axis, const Tensor& indices) {
  require_defined("index_select", x);
  require_defined("index_select", indices, "indices");
  const std::int64_t a = resolve_axis("index_select", x, axis);
  if (indices.dtype() != DType::int64 || indices.dim() > 1) {
    throw Error(
        "index_select: indices must be an int64 tensor of one dimension (or a scalar), "
        "got " +
        std::string(dtype_name(indices.dtype())) + " tensor of shape " +
        shape_string(indices.shape()));
  }
  const std::int64_t extent = x.size(a);
  const std::int64_t* index = indices.data<std::int64_t>();
  for (std::int64_t j = 0; j < indices.numel(); ++j) {
    if (index[j] < 0 || index[j] >= extent) {
      throw Error("index_select: index " + std::to_string(index[j]) + " is out of range for " +
                  axis_text(x, a));
    }
  }
  return select_op("index_select", x, a, indices.reshape({indices.numel()}));
}

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t axis) {
  if (tensors.empty()) throw Error("cat: expected at least one tensor, got none");
  for (const Tensor& t : tensors) require_defined("cat", t, "a tensor of the list");
  const Tensor& head = tensors.front();
  if (head.dim() == 0) throw Error("cat: tensors must have at least one dimension, got shape []");
  const std::int64_t a = resolve_axis("cat", head, axis);
  Shape shape = head.shape();
  shape[static_cast<std::size_t>(a)] = 0;
  std::vector<std::int64_t> offsets;  // where each input's block starts along the axis
  bool wants_grad = false;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    Shape other = t.shape(), expected = head.shape();
    if (other.size() == expected.size()) other[a] = expected[a] = 0;  // any extent along axis
    if (other != expected || t.dtype() != head.dtype()) {
      throw Error("cat: tensor " + std::to_string(i) + " (" + dtype_name(t.dtype()) + " " +
                  shape_string(t.shape()) + ") does not match tensor 0 (" +
                  dtype_name(head.dtype()) + " " + shape_string(head.shape()) + ") outside axis " +
                  std::to_string(a));
    }
    offsets.push_back(shape[a]);
    shape[a] += t.size(a);
    wants_grad = wants_grad || t.requires_grad();
  }
  // The blocks do not overlap: adding each input into a tensor of zeros copies it into place.
  Tensor y = zeros(shape, {.dtype = head.dtype()});
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor block = index_range(offsets[i], tensors[i].size(a), 1);
    if (tensors[i].numel() > 0) {
      backend().index_add(tensors[i].view(), a, block.view(), y.mutable_view());
    }
  }
  if (!wants_grad || !grad_mode_enabled()) return y;
  std::vector<std::int64_t> extents;
  for (const Tensor& t : tensors) extents.push_back(t.size(a));
  return record("cat", NodeInputs(tensors.begin(), tensors.end()), y,
                [a, offsets, extents](const Tensor& upstream, GradientSink& grads) {
                  for (std::size_t i = 0; i < offsets.size(); ++i) {
                    if (!grads.needs(i)) continue;
                    grads.add(i,
                              select_kernel(upstream, a, index_range(offsets[i], extents[i], 1)));
                  }
                });
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis) {
  if (tensors.empty()) throw Error("stack: expected at least one tensor, got none");
  for (const Tensor& t : tensors) require_defined("stack", t, "a tensor of the list");
  const Shape& shape = tensors.front().shape();
  const auto rank = static_cast<std::int64_t>(shape.size());
  if (axis < -(rank + 1) || axis > rank) {
    throw Error("stack: axis " + std::to_string(axis) + " out of range for stacking tensors of " +
                "shape " + shape_string(shape) + " (a new axis goes in [" +
                std::to_string(-(rank + 1)) + ", " + std::to_string(rank) + "])");
  }
  const std::int64_t a = axis < 0 ? axis + rank + 1 : axis;
  std::vector<Tensor> expanded;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].shape() != shape) {
      throw Error("stack: tensor " + std::to_string(i) + " has shape " +
                  shape_string(tensors[i].shape()) + ", tensor 0 has shape " + shape_string(shape) +
                  "; stack needs one shape");
    }
    Shape with_axis = shape;  // the same data with an axis of extent 1 at `a`
    with_axis.insert(with_axis.begin() + a, 1);
    expanded.push_back(reshape(tensors[i], with_axis));
  }
  return cat(expanded, a);
}

}  // namespace gradlab
