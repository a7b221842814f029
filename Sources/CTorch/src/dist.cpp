// libctorch: libtorch's distributed engine (c10d) with errors as values: a TCPStore or FileStore for the
// rendezvous, a Gloo process group (CPU tensors; NCCL where libtorch was built with it) and the collectives
// data-parallel training needs (all-reduce, broadcast, all-gather, barrier), each waited for with a timeout.
#include "detail.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#if __has_include(<gloo/config.h>) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#define CTORCH_WITH_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1  // the header declares the class only under this flag (as libtorch's own build sets it)
#endif
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/custom_function.h>
#endif

#if defined(CTORCH_WITH_GLOO) && defined(CTORCH_WITH_CUDA) && defined(USE_C10D_NCCL) && \
    __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>)
#define CTORCH_WITH_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#ifdef CTORCH_WITH_GLOO
struct ctorch_store_s {
    c10::intrusive_ptr<c10d::Store> store;
};

struct ctorch_pg_s {
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef CTORCH_WITH_NCCL
    c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
    int rank = 0, size = 1;

    // One collective on whichever backend this group is; waits up to `timeout_ms`.
    template <class F>
    void run(F &&issue, int64_t timeout_ms) {
        c10::intrusive_ptr<c10d::Work> work;
#ifdef CTORCH_WITH_NCCL
        if (nccl) work = issue(*nccl);
        else
#endif
            work = issue(*gloo);
        work->wait(std::chrono::milliseconds(timeout_ms));
    }
};

namespace {
std::chrono::milliseconds ms(int64_t v) { return std::chrono::milliseconds(v); }

// c10d logs every failed connection attempt and every error it also throws ("[W socket.cpp] ... failed to
// connect", retried until the timeout) on stderr; the shim reports them as error values, so they stay quiet unless
// TORCH_CPP_LOG_LEVEL asks for them (as in PyTorch).
void quiet_c10d_logging() {
    if (!std::getenv("TORCH_CPP_LOG_LEVEL") && FLAGS_caffe2_log_level < 3) FLAGS_caffe2_log_level = 3;
}

void allreduce_sum(ctorch_pg_s &pg, at::Tensor &t, int64_t timeout_ms) {
    std::vector<at::Tensor> v{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp(c10d::ReduceOp::SUM);
    o.timeout = ms(timeout_ms);
    pg.run([&](auto &g) { return g.allreduce(v, o); }, timeout_ms);
}

// The sum over the ranks as an op autograd differentiates (what SyncBatchNorm's statistics need): every rank's
// output is the sum of every rank's input, so the gradient of a rank's input is the sum of every rank's output
// gradient: backward all-reduces the incoming gradient the same way. Both ranks must run the backward (as they
// run the forward). The group is held by address: it must outlive the backward pass.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
    static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x, int64_t pg,
                              int64_t timeout_ms) {
        ctx->saved_data["pg"] = pg;
        ctx->saved_data["timeout_ms"] = timeout_ms;
        at::Tensor out = x.clone(at::MemoryFormat::Contiguous);
        allreduce_sum(*reinterpret_cast<ctorch_pg_s *>(pg), out, timeout_ms);
        return out;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads) {
        auto *pg = reinterpret_cast<ctorch_pg_s *>(ctx->saved_data["pg"].toInt());
        at::Tensor g = grads[0].clone(at::MemoryFormat::Contiguous);
        allreduce_sum(*pg, g, ctx->saved_data["timeout_ms"].toInt());
        return {g, at::Tensor(), at::Tensor()};
    }
};
}  // namespace
#else
struct ctorch_store_s {};
struct ctorch_pg_s {};
#define CTORCH_NO_DIST TORCH_CHECK(false, "this libctorch was built without c10d/Gloo (install libgloo-dev and rerun scripts/build-shim)")
#endif

extern "C" {

int ctorch_dist_backends(void) {
    int flags = 0;
#ifdef CTORCH_WITH_GLOO
    flags |= 1;
#endif
#ifdef CTORCH_WITH_NCCL
    flags |= 2;
#endif
    return flags;
}

int ctorch_tcp_store_new(ctorch_store *out, const char *host, int port, int world_size, int is_server,
                         int64_t timeout_ms) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    TORCH_CHECK(port > 0 && port < 65536, "port ", port, " is not in 1...65535");
    quiet_c10d_logging();
    c10d::TCPStoreOptions o;
    o.port = (std::uint16_t)port;
    o.isServer = is_server != 0;
    o.numWorkers = (std::size_t)world_size;
    o.waitWorkers = false;  // the process group's rendezvous waits for everyone, with its own timeout
    o.timeout = ms(timeout_ms);
    auto s = c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
    s->setTimeout(ms(timeout_ms));
    *out = new ctorch_store_s{s};
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

int ctorch_file_store_new(ctorch_store *out, const char *path, int world_size, int64_t timeout_ms) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    quiet_c10d_logging();
    auto s = c10::make_intrusive<c10d::FileStore>(std::string(path), world_size);
    s->setTimeout(ms(timeout_ms));
    *out = new ctorch_store_s{s};
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

void ctorch_store_free(ctorch_store s) { delete s; }

int ctorch_store_set(ctorch_store s, const char *key, const uint8_t *value, int64_t n) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    s->store->set(std::string(key), std::vector<uint8_t>(value, value + n));
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

int ctorch_store_get(ctorch_store s, const char *key, uint8_t *buffer, int64_t capacity, int64_t *n) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    auto v = s->store->get(std::string(key));
    *n = (int64_t)v.size();
    if (buffer && capacity > 0) std::memcpy(buffer, v.data(), std::min<size_t>(v.size(), (size_t)capacity));
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

int ctorch_store_add(ctorch_store s, const char *key, int64_t delta, int64_t *out) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    *out = s->store->add(std::string(key), delta);
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

int ctorch_pg_gloo_new(ctorch_pg *out, ctorch_store store, int rank, int world_size, const char *interface,
                       const char *hostname, int64_t timeout_ms) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    TORCH_CHECK(world_size > 0 && rank >= 0 && rank < world_size, "rank ", rank, " is not in 0..<", world_size);
    auto o = c10d::ProcessGroupGloo::Options::create(ms(timeout_ms));
    if (interface && *interface) o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    else if (hostname && *hostname) o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
    else o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    o->threads = 2;
    auto pg = std::make_unique<ctorch_pg_s>();
    pg->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store->store, rank, world_size, o);
    pg->rank = rank;
    pg->size = world_size;
    *out = pg.release();
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

int ctorch_pg_nccl_new(ctorch_pg *out, ctorch_store store, int rank, int world_size, int64_t timeout_ms) {
    CTORCH_TRY
#ifdef CTORCH_WITH_NCCL
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = ms(timeout_ms);
    auto pg = std::make_unique<ctorch_pg_s>();
    pg->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store->store, rank, world_size, o);
    pg->rank = rank;
    pg->size = world_size;
    *out = pg.release();
#else
    TORCH_CHECK(false, "this libctorch was built without NCCL (build the shim against a CUDA libtorch with NCCL: scripts/build-shim --torch PREFIX)");
#endif
    CTORCH_END
}

void ctorch_pg_free(ctorch_pg pg) { delete pg; }

// op: 0 = sum, 1 = average (sum, then divided by the world size: Gloo has no AVG), 2 = max.
int ctorch_pg_allreduce(ctorch_pg pg, ctorch_tensor *ts, int64_t n, int op, int64_t timeout_ms) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    TORCH_CHECK(op >= 0 && op <= 2, "unknown all-reduce op ", op);
    std::vector<at::Tensor> v = ctorch_detail::tensor_list(ts, n);
    c10d::AllreduceOptions o;
    o.reduceOp = op == 2 ? c10d::ReduceOp(c10d::ReduceOp::MAX) : c10d::ReduceOp(c10d::ReduceOp::SUM);
    o.timeout = ms(timeout_ms);
    pg->run([&](auto &g) { return g.allreduce(v, o); }, timeout_ms);
    if (op == 1 && pg->size > 1)
        for (auto &t : v) t.div_((double)pg->size);
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

int ctorch_pg_broadcast(ctorch_pg pg, ctorch_tensor *ts, int64_t n, int root, int64_t timeout_ms) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    std::vector<at::Tensor> v = ctorch_detail::tensor_list(ts, n);
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = ms(timeout_ms);
    // One tensor per call: Gloo's broadcast takes one input tensor per device.
    for (auto &t : v) {
        std::vector<at::Tensor> one{t};
        pg->run([&](auto &g) { return g.broadcast(one, o); }, timeout_ms);
    }
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

// *out = the tensors of all ranks concatenated along dim 0 in rank order (every rank's tensor the same shape).
int ctorch_pg_allgather(ctorch_tensor *out, ctorch_pg pg, ctorch_tensor t, int64_t timeout_ms) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    at::Tensor input = t->t.contiguous();
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int r = 0; r < pg->size; ++r) outputs[0].push_back(at::empty_like(input));
    std::vector<at::Tensor> inputs{input};
    c10d::AllgatherOptions o;
    o.timeout = ms(timeout_ms);
    pg->run([&](auto &g) { return g.allgather(outputs, inputs, o); }, timeout_ms);
    *out = ctorch_detail::wrap(input.dim() == 0 ? at::stack(outputs[0]) : at::cat(outputs[0], 0));
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

// *out = the sum of t over the ranks, differentiable: its backward all-reduces the gradient (sum) likewise.
int ctorch_pg_allreduce_sum_autograd(ctorch_tensor *out, ctorch_pg pg, ctorch_tensor t, int64_t timeout_ms) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    *out = ctorch_detail::wrap(AllReduceSum::apply(t->t, reinterpret_cast<int64_t>(pg), timeout_ms));
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

int ctorch_pg_barrier(ctorch_pg pg, int64_t timeout_ms) {
    CTORCH_TRY
#ifdef CTORCH_WITH_GLOO
    c10d::BarrierOptions o;
    o.timeout = ms(timeout_ms);
    pg->run([&](auto &g) { return g.barrier(o); }, timeout_ms);
#else
    CTORCH_NO_DIST;
#endif
    CTORCH_END
}

}  // extern "C"
