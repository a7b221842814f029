/*
 * libctorch: the whole C ABI between FashionVL's Swift code and libtorch (ATen/c10).
 *
 * Conventions
 *  - A tensor is an opaque handle owned by the caller; release it with ctorch_free().
 *  - Every function that can fail returns int: 0 on success, -1 on failure. On failure the message of the C++
 *    exception (without backtrace) is kept per thread and read with ctorch_last_error(). Nothing aborts.
 *  - dtype codes: see enum ctorch_dtype. Device codes: 0 = cpu, k + 1 = cuda:k.
 *  - The ops generated from ops.def are declared in ctorch_ops.h (included at the end of this file).
 */
#ifndef CTORCH_H
#define CTORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctorch_tensor_s *ctorch_tensor;
typedef struct ctorch_generator_s *ctorch_generator;

enum ctorch_dtype {
    CTORCH_FLOAT32 = 0,
    CTORCH_BFLOAT16 = 1,
    CTORCH_FLOAT16 = 2,
    CTORCH_INT64 = 3,
    CTORCH_INT32 = 4,
    CTORCH_UINT8 = 5,
    CTORCH_BOOL = 6,
    CTORCH_FLOAT64 = 7,
};

/* errors and versions */
const char *ctorch_last_error(void);
/* the libtorch version the shim was compiled against, e.g. "1.13"; with cuda support flag */
const char *ctorch_torch_version(void);
int ctorch_built_with_cuda(void);

/* lifetime */
void ctorch_free(ctorch_tensor t);
void ctorch_free_list(ctorch_tensor *list);
/* a second handle to the same tensor (shares storage and autograd identity) */
int ctorch_share(ctorch_tensor *out, ctorch_tensor t);

/* host data */
int ctorch_from_host(ctorch_tensor *out, const void *data, const int64_t *shape, int64_t ndim, int dtype,
                     int device);
int ctorch_to_host(ctorch_tensor t, void *dst, size_t nbytes);
int ctorch_pin_memory(ctorch_tensor *out, ctorch_tensor t);

/* metadata (these cannot fail for a valid handle) */
int64_t ctorch_ndim(ctorch_tensor t);
void ctorch_shape(ctorch_tensor t, int64_t *dims);
int64_t ctorch_numel(ctorch_tensor t);
int ctorch_dtype(ctorch_tensor t);
int ctorch_device(ctorch_tensor t);
int ctorch_is_defined(ctorch_tensor t);
int ctorch_is_contiguous(ctorch_tensor t);
int ctorch_item_double(double *out, ctorch_tensor t);
int ctorch_item_int64(int64_t *out, ctorch_tensor t);
int ctorch_data_ptr_equal(ctorch_tensor a, ctorch_tensor b);

/* autograd */
int ctorch_requires_grad(ctorch_tensor t);
int ctorch_set_requires_grad(ctorch_tensor t, int flag);
int ctorch_backward(ctorch_tensor t, ctorch_tensor grad_or_null, int retain_graph);
/* *out = NULL when the tensor has no gradient */
int ctorch_grad(ctorch_tensor *out, ctorch_tensor t);
/* sets .grad (NULL clears it, like zero_grad(set_to_none=True)) */
int ctorch_set_grad(ctorch_tensor t, ctorch_tensor grad_or_null);
int ctorch_is_grad_enabled(void);
void ctorch_set_grad_enabled(int flag);

/* runtime */
void ctorch_set_num_threads(int n);
int ctorch_get_num_threads(void);
void ctorch_manual_seed(uint64_t seed);
int ctorch_cuda_is_available(void);
int ctorch_cuda_device_count(void);
int ctorch_cuda_synchronize(int device);
/* bytes: allocated now, reserved now, peak allocated since the last reset */
int ctorch_cuda_memory_stats(int device, int64_t *allocated, int64_t *reserved, int64_t *peak);
int ctorch_cuda_reset_peak(int device);
/* autocast on cuda: dtype code of the low-precision type (bf16/f16); enabled 0/1 */
int ctorch_set_autocast(int enabled, int dtype);
int ctorch_autocast_enabled(void);
void ctorch_clear_autocast_cache(void);

/* generators (explicit, seeded RNG streams) */
int ctorch_generator_new(ctorch_generator *out, uint64_t seed, int device);
void ctorch_generator_free(ctorch_generator g);
/* the default CPU generator (used by dropout and ops called without a generator) */
int ctorch_default_generator_get_state(ctorch_tensor *out);
int ctorch_default_generator_set_state(ctorch_tensor state);
/* state as a uint8 tensor, for checkpoints */
int ctorch_generator_get_state(ctorch_tensor *out, ctorch_generator g);
int ctorch_generator_set_state(ctorch_generator g, ctorch_tensor state);

/* distributed (c10d; libtorch's engine under PyTorch DDP). A store is the rendezvous (TCPStore on the master's
 * host:port, or a FileStore on a shared file); a process group runs collectives over Gloo (CPU tensors) or NCCL
 * (CUDA tensors, where built). Every collective is waited for at most timeout_ms; a lost peer or a timeout is an
 * error (-1), never a hang or an abort. */
typedef struct ctorch_store_s *ctorch_store;
typedef struct ctorch_pg_s *ctorch_pg;
/* bit 0: Gloo compiled in, bit 1: NCCL compiled in */
int ctorch_dist_backends(void);
/* is_server 1 on the master (listens on port; port in use is an error), 0 elsewhere (connects within timeout_ms) */
int ctorch_tcp_store_new(ctorch_store *out, const char *host, int port, int world_size, int is_server,
                         int64_t timeout_ms);
int ctorch_file_store_new(ctorch_store *out, const char *path, int world_size, int64_t timeout_ms);
void ctorch_store_free(ctorch_store s);
int ctorch_store_set(ctorch_store s, const char *key, const uint8_t *value, int64_t n);
/* waits (the store's timeout) for key; *n = its length; copies at most capacity bytes into buffer (may be NULL) */
int ctorch_store_get(ctorch_store s, const char *key, uint8_t *buffer, int64_t capacity, int64_t *n);
int ctorch_store_add(ctorch_store s, const char *key, int64_t delta, int64_t *out);
/* Gloo device: interface name (e.g. "eth0") if non-empty, else hostname/address if non-empty, else the default */
int ctorch_pg_gloo_new(ctorch_pg *out, ctorch_store store, int rank, int world_size, const char *interface,
                       const char *hostname, int64_t timeout_ms);
int ctorch_pg_nccl_new(ctorch_pg *out, ctorch_store store, int rank, int world_size, int64_t timeout_ms);
void ctorch_pg_free(ctorch_pg pg);
/* op: 0 sum, 1 average, 2 max; in place on every tensor */
int ctorch_pg_allreduce(ctorch_pg pg, ctorch_tensor *ts, int64_t n, int op, int64_t timeout_ms);
int ctorch_pg_broadcast(ctorch_pg pg, ctorch_tensor *ts, int64_t n, int root, int64_t timeout_ms);
/* *out: every rank's t (same shape on all) concatenated along dim 0 in rank order (stacked for 0-d tensors) */
int ctorch_pg_allgather(ctorch_tensor *out, ctorch_pg pg, ctorch_tensor t, int64_t timeout_ms);
int ctorch_pg_barrier(ctorch_pg pg, int64_t timeout_ms);
/* *out = the sum of t over the ranks (a new tensor), an op autograd differentiates: its backward all-reduces (sums)
 * the gradient the same way, so every rank must run the backward too (SyncBatchNorm's statistics). pg must outlive
 * the backward pass. */
int ctorch_pg_allreduce_sum_autograd(ctorch_tensor *out, ctorch_pg pg, ctorch_tensor t, int64_t timeout_ms);

#ifdef __cplusplus
}
#endif

#include "ctorch_ops.h"

#endif /* CTORCH_H */
