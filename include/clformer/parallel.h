/**
 * @file clformer/parallel.h
 * @brief Several devices: device groups and tensor parallelism.
 *
 * Part of the public API; include clformer.h (the umbrella).
 */
#ifndef CLFORMER_PARALLEL_H
#define CLFORMER_PARALLEL_H

#include "core.h"
#include "models.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup parallel Several devices
 * Device groups (one context per device) and tensor-parallel encoders over a
 * group or over a caller's communicator (one rank per process).
 * @{
 */

/**
 * A group of devices, one context each (its own queues, program builds and
 * caches). Contexts of a group are independent: work on different members
 * may run at the same time from different threads.
 */
struct clf_group;

/**
 * Creates a group from a device list spec: "all" (every device, in
 * clf_devices_query's order), or a comma-separated list of single specs
 * (clf_device_match's grammar, e.g. "gpu:0,gpu:1", "cpu:0,cpu:1",
 * "0:0,0:1"), members in the list's order. A device named twice (even by
 * two spellings, "0:0,cpu:0"), an empty item ("gpu:0,,gpu:1", a trailing
 * comma) or an item matching no device is CLF_E_DEVICE_SPEC; a NULL or
 * blank spec CLF_E_INVALID_ARG. p (may be NULL: defaults) gives every
 * context's parameters; its `device` field is replaced by the member's
 * "P:D". On failure msg (may be NULL) receives a one-line reason listing
 * the devices that exist, and *out is NULL.
 */
CLF_API enum clf_status clf_group_create(const char *spec, const struct clf_ctx_params *p,
                                         struct clf_group **out, char *msg, size_t msg_size);
/** Destroys a group and its contexts (NULL is fine). */
CLF_API void clf_group_destroy(struct clf_group *g);
/** Number of devices. */
CLF_API int clf_group_size(const struct clf_group *g);
/** Member i's context (owned by the group), or NULL out of range. */
CLF_API struct clf_ctx *clf_group_ctx(struct clf_group *g, int i);

/**
 * A tensor-parallel encoder (Megatron-LM, Shoeybi et al. 2019) over the
 * N devices of a group: rank r holds heads [r·h/N, (r+1)·h/N) (their Q, K,
 * V rows of in_proj_weight and bias, their columns of out_proj.weight)
 * and the hidden units [r·f/N, (r+1)·f/N) of the FFN (those rows of W1
 * and entries of b1, those columns of W2); LayerNorm weights on every
 * rank, out_proj.bias and linear2.bias on rank 0 only (added once). One
 * all-reduce (sum) after each sub-layer, staged through the host: every
 * rank's partial [tokens, d] is read back, the partials summed in fp32 in
 * rank order (rank 0's already carries the bias and the residual), the
 * sum written to every rank as the next sub-layer's input, and every rank
 * applies the following LayerNorm itself (replicated, no second round
 * trip); the last LayerNorms (post-LN's closing one, a final norm) run on
 * rank 0. Ranks run in one thread each; each rank's graphs are recorded
 * once per (batch, seq, padded or not) and replayed. heads and d_ff must
 * be divisible by N (CLF_E_INVALID_ARG naming them). Exact attention,
 * dense f32 weights only (attention variants, K/V or weight quantisation,
 * FFN factors or activation quantisers: CLF_E_UNSUPPORTED). Errors are
 * reported on the group's first context (clf_ctx_last_error), naming the
 * member when another one failed.
 */
struct clf_encoder_tp;

/** Creates one from weights (path, as clf_encoder_load, a final norm
 *  included; NULL: seeded random weights identical to
 *  clf_encoder_create_random's with the same seed). The full encoder is
 *  made once on the first member's context, read back and sliced. */
CLF_API enum clf_status clf_encoder_tp_create(struct clf_group *grp,
                                              const struct clf_encoder_config *cfg,
                                              const char *path, uint64_t seed,
                                              struct clf_encoder_tp **out);

/**
 * How one rank of a tensor-parallel encoder whose ranks are in different
 * processes (MPI ranks, say, a device each) meets the others: its rank, the
 * number of ranks N, and the all-reduce, which the caller provides.
 */
struct clf_tp_comm {
    int rank; /**< this rank, in [0, size): it holds that share of the heads and d_ff */
    int size; /**< N >= 1; heads and d_ff must be divisible by it */
    /**
     * Sums buf over the ranks, in place. clf_encoder_tp_forward calls it on
     * every rank once per sub-layer (2·layers times a forward, in the same
     * order everywhere) with buf this rank's partial [tokens, d_model]
     * (count = tokens·d_model floats) and ok true. It returns true with buf
     * holding the sum, the same bits on every rank (add each element in
     * rank order, as the device group does, to match its results bit for
     * bit), or false on every rank when the exchange or any rank failed.
     * ok false says this rank failed (buf and count are then not to be
     * used; buf may be NULL): the call only tells the others, and must
     * return false. A forward that fails before its first sub-layer
     * (arguments, recording) still calls it once, so that the others stop
     * too. Called from the thread that called the forward.
     */
    bool (*allreduce)(void *user, float *buf, size_t count, bool ok);
    void *user; /**< passed to allreduce */
};

/**
 * Creates rank comm->rank's share of a tensor-parallel encoder on ctx: the
 * same slices as member comm->rank of a clf_encoder_tp_create group of
 * comm->size devices (weights from path, or seeded random ones: every rank
 * must pass the same cfg, path or seed). The full encoder is made on ctx
 * once, read back and sliced. The forward then runs on every rank with the
 * same x and key_padding, and every rank receives y (each applies the
 * closing LayerNorms itself); with an all-reduce that adds in rank order
 * the result equals a group's of the same devices bit for bit. A failure of
 * the all-reduce is CLF_E_COMM (the rank that failed returns its own
 * status). NULL cfg, comm or comm->allreduce, or a rank out of [0, size),
 * is CLF_E_INVALID_ARG; comm is copied.
 */
CLF_API enum clf_status clf_encoder_tp_create_rank(struct clf_ctx *ctx,
                                                   const struct clf_encoder_config *cfg,
                                                   const char *path, uint64_t seed,
                                                   const struct clf_tp_comm *comm,
                                                   struct clf_encoder_tp **out);

/**
 * The same two, sliced from an existing encoder instead (on any context;
 * e.g. clf_bert_encoder's): its configuration, weights and final norm. It
 * must hold its dense f32 weights and use none of what the
 * tensor-parallel encoder refuses (CLF_E_UNSUPPORTED); it is only read,
 * and may be destroyed afterwards.
 */
CLF_API enum clf_status clf_encoder_tp_create_from(struct clf_group *grp,
                                                   const struct clf_encoder *full,
                                                   struct clf_encoder_tp **out);
/** clf_encoder_tp_create_rank's share of an existing encoder (see
 *  clf_encoder_tp_create_from). */
CLF_API enum clf_status clf_encoder_tp_create_rank_from(struct clf_ctx *ctx,
                                                        const struct clf_encoder *full,
                                                        const struct clf_tp_comm *comm,
                                                        struct clf_encoder_tp **out);
/** Destroys a tensor-parallel encoder (NULL is fine). */
CLF_API void clf_encoder_tp_destroy(struct clf_encoder_tp *e);

/**
 * y = encoder(x) on the host: x and y [batch, seq, d_model] f32,
 * key_padding [batch, seq] (nonzero = padded) or NULL. Equal to one
 * device's clf_encoder_forward within fp32 rounding (the partial sums are
 * added in another order); the same input gives the same output bit for
 * bit. One forward at a time per encoder.
 */
CLF_API enum clf_status clf_encoder_tp_forward(struct clf_encoder_tp *e, const float *x,
                                               int64_t batch, int64_t seq,
                                               const int32_t *key_padding, float *y);

/** Bytes each device sent to and received from the all-reduces per layer
 *  in the latest forward (for scaling estimates): its 2 sub-layer inputs
 *  written and 2 partials read, 4·tokens·d_model·4 for any N (even 1: the
 *  staging always goes through the host); the key padding and the closing
 *  LayerNorm's round trip are not counted, nor, for one rank of a
 *  clf_tp_comm, what its all-reduce sends to the other ranks (a ring or
 *  reduce-scatter + all-gather: 2·2·(N−1)/N·tokens·d_model·4 per layer).
 *  CLF_E_STATE before a successful forward. */
CLF_API enum clf_status clf_encoder_tp_comm_bytes(const struct clf_encoder_tp *e,
                                                  double *bytes_per_layer);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* CLFORMER_PARALLEL_H */
