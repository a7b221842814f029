// Internals shared by the hand-written and generated parts of libctorch. C++ over ATen/c10 only.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/version.h>

#include <string>
#include <tuple>
#include <vector>

#include "../include/ctorch.h"

struct ctorch_tensor_s {
    at::Tensor t;
};

struct ctorch_generator_s {
    at::Generator g;
};

namespace ctorch_detail {

void set_error(const std::string &message);

// Every exported function body sits between CTORCH_TRY and CTORCH_END: a C++ exception becomes -1 plus a
// per-thread message; nothing escapes into Swift.
#define CTORCH_TRY try {
#define CTORCH_END                                                                         \
    }                                                                                      \
    catch (const c10::Error &e) {                                                          \
        ctorch_detail::set_error(e.what_without_backtrace());                              \
        return -1;                                                                         \
    }                                                                                      \
    catch (const std::exception &e) {                                                      \
        ctorch_detail::set_error(e.what());                                                \
        return -1;                                                                         \
    }                                                                                      \
    catch (...) {                                                                          \
        ctorch_detail::set_error("unknown C++ exception");                                 \
        return -1;                                                                         \
    }                                                                                      \
    return 0;

inline ctorch_tensor wrap(at::Tensor t) { return new ctorch_tensor_s{std::move(t)}; }

inline void wrap_list(const std::vector<at::Tensor> &ts, ctorch_tensor **out, int64_t *out_n) {
    auto *arr = static_cast<ctorch_tensor *>(malloc(sizeof(ctorch_tensor) * (ts.empty() ? 1 : ts.size())));
    if (!arr) throw std::bad_alloc();
    for (size_t i = 0; i < ts.size(); ++i) arr[i] = wrap(ts[i]);
    *out = arr;
    *out_n = (int64_t)ts.size();
}

inline c10::optional<at::Tensor> opt_tensor(ctorch_tensor t) {
    if (t == nullptr) return c10::nullopt;
    return t->t;
}

inline std::vector<at::Tensor> tensor_list(const ctorch_tensor *ts, int64_t n) {
    std::vector<at::Tensor> v;
    v.reserve((size_t)n);
    for (int64_t i = 0; i < n; ++i) {
        TORCH_CHECK(ts[i] != nullptr, "tensor list entry ", i, " is null");
        v.push_back(ts[i]->t);
    }
    return v;
}

inline c10::optional<at::Generator> opt_generator(ctorch_generator g) {
    if (g == nullptr) return c10::nullopt;
    return g->g;
}

inline c10::optional<at::Scalar> opt_scalar(const c10::optional<double> &v) {
    if (!v) return c10::nullopt;
    return at::Scalar(*v);
}

// A double argument as a Scalar of the tensor's kind, so that in-place ops on integer tensors keep their dtype.
inline at::Scalar scalar_like(const at::Tensor &t, double v) {
    if (at::isIntegralType(t.scalar_type(), /*includeBool=*/false) && v == (double)(int64_t)v) return at::Scalar((int64_t)v);
    return at::Scalar(v);
}

at::ScalarType to_scalar_type(int code);
int from_scalar_type(at::ScalarType t);
at::Device to_device(int code);
int from_device(const at::Device &d);

inline at::TensorOptions opts(int dtype, int device) {
    return at::TensorOptions().dtype(to_scalar_type(dtype)).device(to_device(device));
}

at::Tensor attention(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v,
                     const c10::optional<at::Tensor> &mask, double dropout_p, c10::optional<double> scale,
                     bool causal);
at::Tensor unflatten(const at::Tensor &self, int64_t dim, at::IntArrayRef sizes);
at::Tensor index1(const at::Tensor &self, const at::Tensor &indices);
void index_put1_(const at::Tensor &self, const at::Tensor &indices, const at::Tensor &values, bool accumulate);
void foreach_copy_(const std::vector<at::Tensor> &self, const std::vector<at::Tensor> &src);

}  // namespace ctorch_detail
