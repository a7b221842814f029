// libctorch: lifetime, errors, host data, autograd, runtime and generators. The ops of ops.def live in the
// generated ops_*.cpp files; helpers they call (attention, indexing) are at the end of this file.
#include "detail.h"

#include <ATen/autocast_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>

#ifdef CTORCH_WITH_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#endif

#include <cmath>
#include <cstring>

namespace ctorch_detail {

static thread_local std::string last_error;

void set_error(const std::string &message) { last_error = message; }

at::ScalarType to_scalar_type(int code) {
    switch (code) {
        case CTORCH_FLOAT32: return at::kFloat;
        case CTORCH_BFLOAT16: return at::kBFloat16;
        case CTORCH_FLOAT16: return at::kHalf;
        case CTORCH_INT64: return at::kLong;
        case CTORCH_INT32: return at::kInt;
        case CTORCH_UINT8: return at::kByte;
        case CTORCH_BOOL: return at::kBool;
        case CTORCH_FLOAT64: return at::kDouble;
    }
    TORCH_CHECK(false, "unknown dtype code ", code);
}

int from_scalar_type(at::ScalarType t) {
    switch (t) {
        case at::kFloat: return CTORCH_FLOAT32;
        case at::kBFloat16: return CTORCH_BFLOAT16;
        case at::kHalf: return CTORCH_FLOAT16;
        case at::kLong: return CTORCH_INT64;
        case at::kInt: return CTORCH_INT32;
        case at::kByte: return CTORCH_UINT8;
        case at::kBool: return CTORCH_BOOL;
        case at::kDouble: return CTORCH_FLOAT64;
        default: return -1;
    }
}

at::Device to_device(int code) {
    TORCH_CHECK(code >= 0, "invalid device code ", code);
    if (code == 0) return at::Device(at::kCPU);
    TORCH_CHECK(at::hasCUDA(), "CUDA is not available (device cuda:", code - 1, " requested)");
    return at::Device(at::kCUDA, (c10::DeviceIndex)(code - 1));
}

int from_device(const at::Device &d) {
    if (d.is_cpu()) return 0;
    if (d.is_cuda()) return 1 + (d.has_index() ? d.index() : 0);
    return -1;
}

at::Tensor attention(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v,
                     const c10::optional<at::Tensor> &mask, double dropout_p, c10::optional<double> scale,
                     bool causal) {
    TORCH_CHECK(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(),
                "attention: q, k, v must have the same rank >= 2, got ", q.sizes(), ", ", k.sizes(), ", ", v.sizes());
    const double default_scale = 1.0 / std::sqrt((double)q.size(-1));
#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 1)
    return at::scaled_dot_product_attention(q, k, v, mask, dropout_p, causal, scale);
#elif TORCH_VERSION_MAJOR >= 2
    const at::Tensor qs = scale ? q * (*scale / default_scale) : q;
    return at::scaled_dot_product_attention(qs, k, v, mask, dropout_p, causal);
#else
    // libtorch 1.x: the math path of scaled_dot_product_attention.
    at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale.value_or(default_scale);
    if (causal) {
        auto keep = at::ones({q.size(-2), k.size(-2)}, q.options().dtype(at::kBool)).tril();
        scores = scores.masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity());
    }
    if (mask) {
        if (mask->scalar_type() == at::kBool) {
            scores = scores.masked_fill(mask->logical_not(), -std::numeric_limits<float>::infinity());
        } else {
            scores = scores + *mask;
        }
    }
    at::Tensor probs = at::softmax(scores, -1);
    if (dropout_p > 0) probs = at::dropout(probs, dropout_p, true);
    return at::matmul(probs, v);
#endif
}

at::Tensor unflatten(const at::Tensor &self, int64_t dim, at::IntArrayRef sizes) {
    int64_t d = c10::maybe_wrap_dim(dim, self.dim());
    std::vector<int64_t> shape(self.sizes().begin(), self.sizes().begin() + d);
    shape.insert(shape.end(), sizes.begin(), sizes.end());
    shape.insert(shape.end(), self.sizes().begin() + d + 1, self.sizes().end());
    return self.view(shape);
}

at::Tensor index1(const at::Tensor &self, const at::Tensor &indices) {
    c10::List<c10::optional<at::Tensor>> list;
    list.push_back(indices);
    return at::index(self, list);
}

void index_put1_(const at::Tensor &self, const at::Tensor &indices, const at::Tensor &values, bool accumulate) {
    c10::List<c10::optional<at::Tensor>> list;
    list.push_back(indices);
    self.index_put_(list, values, accumulate);
}

void foreach_copy_(const std::vector<at::Tensor> &self, const std::vector<at::Tensor> &src) {
    TORCH_CHECK(self.size() == src.size(), "foreach_copy_: ", self.size(), " destinations but ", src.size(), " sources");
    for (size_t i = 0; i < self.size(); ++i) self[i].copy_(src[i]);
}

}  // namespace ctorch_detail

using namespace ctorch_detail;

extern "C" {

const char *ctorch_last_error(void) { return last_error.c_str(); }

const char *ctorch_torch_version(void) {
    static const std::string v = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                                 "." + std::to_string(TORCH_VERSION_PATCH);
    return v.c_str();
}

int ctorch_built_with_cuda(void) {
#ifdef CTORCH_WITH_CUDA
    return 1;
#else
    return 0;
#endif
}

void ctorch_free(ctorch_tensor t) { delete t; }

void ctorch_free_list(ctorch_tensor *list) { free(list); }

int ctorch_share(ctorch_tensor *out, ctorch_tensor t) {
    CTORCH_TRY
    *out = wrap(t->t);
    CTORCH_END
}

int ctorch_from_host(ctorch_tensor *out, const void *data, const int64_t *shape, int64_t ndim, int dtype,
                     int device) {
    CTORCH_TRY
    at::IntArrayRef sizes(shape, (size_t)ndim);
    for (int64_t d : sizes) TORCH_CHECK(d >= 0, "from_host: negative dimension in shape ", sizes);
    at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(to_scalar_type(dtype)));
    if (t.numel() > 0) std::memcpy(t.data_ptr(), data, t.nbytes());
    if (device != 0) t = t.to(to_device(device));
    *out = wrap(std::move(t));
    CTORCH_END
}

int ctorch_to_host(ctorch_tensor t, void *dst, size_t nbytes) {
    CTORCH_TRY
    at::Tensor c = t->t.detach().to(at::kCPU).contiguous();
    TORCH_CHECK(c.nbytes() == nbytes, "to_host: tensor has ", c.nbytes(), " bytes, buffer has ", nbytes);
    if (nbytes > 0) std::memcpy(dst, c.data_ptr(), nbytes);
    CTORCH_END
}

int ctorch_pin_memory(ctorch_tensor *out, ctorch_tensor t) {
    CTORCH_TRY
    TORCH_CHECK(at::hasCUDA(), "pin_memory needs CUDA, which is not available");
    *out = wrap(t->t.pin_memory());
    CTORCH_END
}

int64_t ctorch_ndim(ctorch_tensor t) { return t->t.dim(); }

void ctorch_shape(ctorch_tensor t, int64_t *dims) {
    auto s = t->t.sizes();
    for (size_t i = 0; i < s.size(); ++i) dims[i] = s[i];
}

int64_t ctorch_numel(ctorch_tensor t) { return t->t.numel(); }
int ctorch_dtype(ctorch_tensor t) { return from_scalar_type(t->t.scalar_type()); }
int ctorch_device(ctorch_tensor t) { return from_device(t->t.device()); }
int ctorch_is_defined(ctorch_tensor t) { return t->t.defined() ? 1 : 0; }
int ctorch_is_contiguous(ctorch_tensor t) { return t->t.is_contiguous() ? 1 : 0; }

int ctorch_data_ptr_equal(ctorch_tensor a, ctorch_tensor b) {
    return a->t.data_ptr() == b->t.data_ptr() ? 1 : 0;
}

int ctorch_item_double(double *out, ctorch_tensor t) {
    CTORCH_TRY
    *out = t->t.item().toDouble();
    CTORCH_END
}

int ctorch_item_int64(int64_t *out, ctorch_tensor t) {
    CTORCH_TRY
    *out = t->t.item().toLong();
    CTORCH_END
}

int ctorch_requires_grad(ctorch_tensor t) { return t->t.requires_grad() ? 1 : 0; }

int ctorch_set_requires_grad(ctorch_tensor t, int flag) {
    CTORCH_TRY
    t->t.set_requires_grad(flag != 0);
    CTORCH_END
}

int ctorch_backward(ctorch_tensor t, ctorch_tensor grad_or_null, int retain_graph) {
    CTORCH_TRY
    at::Tensor g = grad_or_null ? grad_or_null->t : at::Tensor();
    t->t.backward(g, retain_graph ? c10::optional<bool>(true) : c10::nullopt, false);
    CTORCH_END
}

int ctorch_grad(ctorch_tensor *out, ctorch_tensor t) {
    CTORCH_TRY
    const at::Tensor &g = t->t.grad();
    *out = g.defined() ? wrap(g) : nullptr;
    CTORCH_END
}

int ctorch_set_grad(ctorch_tensor t, ctorch_tensor grad_or_null) {
    CTORCH_TRY
    t->t.mutable_grad() = grad_or_null ? grad_or_null->t : at::Tensor();
    CTORCH_END
}

int ctorch_is_grad_enabled(void) { return c10::GradMode::is_enabled() ? 1 : 0; }
void ctorch_set_grad_enabled(int flag) { c10::GradMode::set_enabled(flag != 0); }

void ctorch_set_num_threads(int n) {
    if (n > 0) at::set_num_threads(n);
}
int ctorch_get_num_threads(void) { return at::get_num_threads(); }
void ctorch_manual_seed(uint64_t seed) { at::manual_seed(seed); }

int ctorch_cuda_is_available(void) { return at::hasCUDA() ? 1 : 0; }
int ctorch_cuda_device_count(void) { return at::hasCUDA() ? (int)at::detail::getCUDAHooks().getNumGPUs() : 0; }

#ifdef CTORCH_WITH_CUDA
#define CTORCH_NEEDS_CUDA(what) TORCH_CHECK(at::hasCUDA(), what ": CUDA is not available on this machine")
#else
#define CTORCH_NEEDS_CUDA(what) TORCH_CHECK(false, what ": libctorch was built without CUDA (rebuild it against a CUDA PyTorch)")
#endif

int ctorch_cuda_synchronize(int device) {
    CTORCH_TRY
    CTORCH_NEEDS_CUDA("cuda_synchronize");
#ifdef CTORCH_WITH_CUDA
    c10::cuda::CUDAGuard guard((c10::DeviceIndex)device);
    c10::cuda::device_synchronize();
#endif
    (void)device;
    CTORCH_END
}

int ctorch_cuda_memory_stats(int device, int64_t *allocated, int64_t *reserved, int64_t *peak) {
    CTORCH_TRY
    CTORCH_NEEDS_CUDA("cuda_memory_stats");
#ifdef CTORCH_WITH_CUDA
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats((c10::DeviceIndex)device);
    // StatType::AGGREGATE is index 0 (the enum moved from c10::cuda to c10::CachingDeviceAllocator in 2.x)
    const size_t all = 0;
    *allocated = stats.allocated_bytes[all].current;
    *reserved = stats.reserved_bytes[all].current;
    *peak = stats.allocated_bytes[all].peak;
#endif
    (void)device; (void)allocated; (void)reserved; (void)peak;
    CTORCH_END
}

int ctorch_cuda_reset_peak(int device) {
    CTORCH_TRY
    CTORCH_NEEDS_CUDA("cuda_reset_peak");
#ifdef CTORCH_WITH_CUDA
    c10::cuda::CUDACachingAllocator::resetPeakStats((c10::DeviceIndex)device);
#endif
    (void)device;
    CTORCH_END
}

int ctorch_set_autocast(int enabled, int dtype) {
    CTORCH_TRY
    at::ScalarType st = to_scalar_type(dtype);
    TORCH_CHECK(st == at::kBFloat16 || st == at::kHalf, "autocast dtype must be bfloat16 or float16");
    TORCH_CHECK(enabled == 0 || at::hasCUDA(), "autocast: CUDA is not available on this machine");
#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, enabled != 0);
    at::autocast::set_autocast_dtype(at::kCUDA, st);
#else
    at::autocast::set_enabled(enabled != 0);
    at::autocast::set_autocast_gpu_dtype(st);
#endif
    CTORCH_END
}

int ctorch_autocast_enabled(void) {
#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4)
    return at::autocast::is_autocast_enabled(at::kCUDA) ? 1 : 0;
#else
    return at::autocast::is_enabled() ? 1 : 0;
#endif
}

void ctorch_clear_autocast_cache(void) { at::autocast::clear_cache(); }

int ctorch_generator_new(ctorch_generator *out, uint64_t seed, int device) {
    CTORCH_TRY
    if (device == 0) {
        *out = new ctorch_generator_s{at::detail::createCPUGenerator(seed)};
    } else {
        CTORCH_NEEDS_CUDA("generator on cuda");
#ifdef CTORCH_WITH_CUDA
        at::Generator g = at::cuda::detail::createCUDAGenerator((c10::DeviceIndex)(device - 1));
        g.set_current_seed(seed);
        *out = new ctorch_generator_s{g};
#endif
    }
    CTORCH_END
}

void ctorch_generator_free(ctorch_generator g) { delete g; }

int ctorch_default_generator_get_state(ctorch_tensor *out) {
    CTORCH_TRY
    at::Generator g = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(g.mutex());
    *out = wrap(g.get_state());
    CTORCH_END
}

int ctorch_default_generator_set_state(ctorch_tensor state) {
    CTORCH_TRY
    at::Generator g = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state->t);
    CTORCH_END
}

int ctorch_generator_get_state(ctorch_tensor *out, ctorch_generator g) {
    CTORCH_TRY
    std::lock_guard<std::mutex> lock(g->g.mutex());
    *out = wrap(g->g.get_state());
    CTORCH_END
}

int ctorch_generator_set_state(ctorch_generator g, ctorch_tensor state) {
    CTORCH_TRY
    std::lock_guard<std::mutex> lock(g->g.mutex());
    g->g.set_state(state->t);
    CTORCH_END
}

}  // extern "C"
