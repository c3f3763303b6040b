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
 *  clf_encoder_create_random's with the same seed). The weights are read
 *  (or made) one at a time on the host and sliced there: each device
 *  receives only its slices and the replicated parts, never the whole
 *  model. */
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
 * must pass the same cfg, path or seed), read and sliced on the host: ctx
 * never holds more than this rank's share. The forward then runs on every
 * rank with the
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

/* Data parallelism: a replica on every member (rank), the batch split. */

/**
 * BERT (clf_bert_load's model directory and options) split for tensor
 * parallelism over the N devices of a group, no device ever holding the
 * whole model: *tp receives the encoder layers (clf_encoder_tp_create's
 * slices, read from model.safetensors and sliced on the host), *emb a
 * model holding only the embeddings (word, position, token type rows and
 * their LayerNorm, replicated: small) on the group's first context, for
 * clf_bert_embeddings and clf_bert_config (clf_bert_forward and
 * clf_bert_calibrate on it are CLF_E_STATE; clf_bert_encoder is NULL).
 * The forward: clf_bert_embeddings, read back, clf_encoder_tp_forward with
 * key padding = (mask == 0). options as clf_bert_load's, limited to what
 * the tensor-parallel encoder runs (CLF_E_UNSUPPORTED otherwise). On
 * failure both are NULL. Destroy each with its own function.
 */
CLF_API enum clf_status clf_bert_load_tp(struct clf_group *grp, const char *model_dir,
                                         const struct clf_encoder_config *options,
                                         struct clf_bert **emb, struct clf_encoder_tp **tp);

/** The same as one rank of comm->size ranks in other processes (as
 *  clf_encoder_tp_create_rank): the embeddings and this rank's share of the
 *  layers on ctx. */
CLF_API enum clf_status clf_bert_load_tp_rank(struct clf_ctx *ctx, const char *model_dir,
                                              const struct clf_encoder_config *options,
                                              const struct clf_tp_comm *comm,
                                              struct clf_bert **emb, struct clf_encoder_tp **tp);

/**
 * A data-parallel runner: the work split over devices, each running a
 * replica of the same model, the results gathered in order. An encoder's
 * runner splits the items of a batch (clf_dp_forward); a BERT runner deals
 * whole batches of texts (clf_dp_embed: each keeps the padding it has on
 * one device). Of B items (batches), member (or rank) r of N takes
 * [first_r, first_r + count_r): contiguous, count_r = B/N and one more for
 * the first B mod N (a member with none idles). Each replica records the
 * graph one device would (clf_encoder_forward; clf_bert_forward then
 * clf_op_mean_pool_normalize) once per shape and replays it; the items of
 * a share never meet (rows of the GEMMs, each sequence's attention), so on
 * devices of one kind the output equals one device's bit for bit, for
 * every option: each quantisation scale spans one token or one sequence
 * (K/V int8 per channel: one scale per sequence and channel), and the FFN
 * activation quantisers' free parameters are calibrated by every member
 * on the same whole batch. That holds when each share runs the kernels
 * one device runs for the whole batch: with attn_impl CLF_ATTN_AUTO the exact attention's
 * implementation (fused or GEMM, whose bits differ) is measured per size
 * class and device, and a share of fewer sequences may fall into another
 * class (batch·heads above 1, 4, 16) or, before the device's tuning
 * records are written (the cache directory), be measured otherwise; a
 * fixed attn_impl makes the choice everywhere the same. The GEMMs' choices
 * (provider and configuration, measured per size class too) gave the same
 * bits in the tests on PoCL's CPU devices (the native kernels add along k
 * in one order); GPUs' CLBlast and native GEMMs were not compared. One
 * call at a time per runner.
 */
struct clf_dp;

/** Over a group: a replica on every member (cfg with weights from path, as
 *  clf_encoder_load, or seeded random ones, as clf_encoder_create_random),
 *  made and run in one thread per member. Errors are reported on the
 *  group's first context, naming the member when another one failed. */
CLF_API enum clf_status clf_dp_create(struct clf_group *grp, const struct clf_encoder_config *cfg,
                                      const char *path, uint64_t seed, struct clf_dp **out);

/** The same with a BERT model on every member (clf_bert_load's model
 *  directory and options, which may be NULL), for clf_dp_embed. */
CLF_API enum clf_status clf_dp_create_bert(struct clf_group *grp, const char *model_dir,
                                           const struct clf_encoder_config *options,
                                           struct clf_dp **out);

/**
 * How one rank of a data-parallel run whose ranks are in different
 * processes (MPI ranks, a device each) meets the others: its rank, the
 * number of ranks N, and the gather of the outputs, which the caller
 * provides (the library calls no MPI).
 */
struct clf_dp_comm {
    int rank; /**< this rank, in [0, size): it runs share `rank` of every call */
    int size; /**< N >= 1 */
    /**
     * Gathers the ranks' outputs. Called once per forward (clf_dp_forward,
     * clf_dp_embed; not by a calibration) on every rank, from the thread
     * that called it, with
     * ok true, y the whole output (every rank's counts[r] floats in rank
     * order, counts the same array on every rank) holding this rank's
     * block at its place. It fills the other ranks' blocks at least on
     * rank 0 (a gather to rank 0) or on every rank (an all-gather), and
     * returns true on every rank, or false on every rank when the
     * exchange or any rank failed. ok false says this rank failed (y and
     * counts are then NULL): the call only tells the others, and must
     * return false. A forward that fails before running (its arguments)
     * still calls it, so that the others stop too.
     */
    bool (*gather)(void *user, float *y, const size_t *counts, bool ok);
    void *user; /**< passed to gather */
};

/** One rank's replica on ctx (cfg, path, seed as clf_dp_create: every rank
 *  must pass the same). Every rank then calls each forward with the same
 *  whole batch and receives the outputs where its gather puts them (its
 *  own share always). A failure of the gather is CLF_E_COMM (the rank
 *  that failed returns its own status). NULL cfg, comm or comm->gather, or
 *  a rank out of [0, size), is CLF_E_INVALID_ARG; comm is copied. No
 *  exchange is made while creating: the caller agrees on success. */
CLF_API enum clf_status clf_dp_create_rank(struct clf_ctx *ctx,
                                           const struct clf_encoder_config *cfg,
                                           const char *path, uint64_t seed,
                                           const struct clf_dp_comm *comm, struct clf_dp **out);
/** The same with BERT (as clf_dp_create_bert). */
CLF_API enum clf_status clf_dp_create_bert_rank(struct clf_ctx *ctx, const char *model_dir,
                                                const struct clf_encoder_config *options,
                                                const struct clf_dp_comm *comm,
                                                struct clf_dp **out);
/** Destroys a runner and its replicas (NULL: nothing). */
CLF_API void clf_dp_destroy(struct clf_dp *dp);

/**
 * y = encoder(x) on the host, split over the members (or ranks): x and y
 * [batch, seq, d_model] f32, key_padding [batch, seq] (nonzero = padded)
 * or NULL. NULL x or y is CLF_E_INVALID_ARG; an out-of-range shape
 * CLF_E_SHAPE; a BERT runner's CLF_E_INVALID_ARG.
 */
CLF_API enum clf_status clf_dp_forward(struct clf_dp *dp, const float *x, int64_t batch,
                                       int64_t seq, const int32_t *key_padding, float *y);

/** Calibrates every replica's FFN activation quantisers (clf_encoder_
 *  calibrate) on the whole batch, as one device would (needed before a
 *  forward when the configuration leaves a parameter 0): each replica then
 *  quantises alike. A rank calibrates its own replica, without exchange
 *  (every rank must pass the same batch). */
CLF_API enum clf_status clf_dp_calibrate(struct clf_dp *dp, const float *x, int64_t batch,
                                         int64_t seq, const int32_t *key_padding);

/** One batch of texts for clf_dp_embed: ids and mask i32 [batch, seq] (1 =
 *  token, 0 = padding), as clf_bert_forward takes them. */
struct clf_dp_batch {
    const int32_t *ids;  /**< token ids [batch, seq] */
    const int32_t *mask; /**< 1 = token, 0 = padding [batch, seq] */
    int64_t batch;       /**< texts in the batch */
    int64_t seq;         /**< its padded length */
};

/**
 * Sentence embeddings of n batches with a BERT runner, the batches dealt
 * whole over the members (ranks) as above, each one forward: out f32
 * [Σ batch, clf_dp_embed_dim], the batches' rows in order, the last hidden
 * states pooled as clf_dp_set_pooling says (by default L2-normalised
 * means, clf_op_mean_pool_normalize). A rank's block is
 * its batches' rows. NULL batches, ids, mask or out, or n = 0, is
 * CLF_E_INVALID_ARG; so is an encoder's runner, and an id outside the
 * vocabulary (checked on the host before the batch is written, so that
 * the runner's graphs do not read the ids back and can be recorded).
 */
CLF_API enum clf_status clf_dp_embed(struct clf_dp *dp, const struct clf_dp_batch *batches,
                                     size_t n, float *out);
/** Options of sentence batching (clf_text_batches_make, clf_dp_embed_texts);
 *  get one from clf_embed_params_default(). */
struct clf_embed_params {
    /** The struct\'s size: set by clf_embed_params_init or _default (see @ref abi
     *  "the ABI rule"). */
    size_t size;
    int64_t batch;            /**< texts per batch at most (>= 1). Default 32 */
    int64_t max_batch_tokens; /**< ids per batch at most, padding included (its texts
                                   times its longest text's length); a text longer than
                                   it goes alone. 0: no bound (default) */
    /** clf_dp_embed_texts: put before every text (a sentence-transformers
     *  prompt, e.g. clf_sentence_folder_prompt's), or NULL (default) */
    const char *prompt;
    /** clf_dp_embed_texts with a prompt: whether its tokens are pooled with
     *  the text's. Default true; false leaves them out (the prompt
     *  tokenised alone less its closing special token, [CLS] included,
     *  through clf_dp_set_pooling_skip for the call), as sentence-
     *  transformers' Pooling with include_prompt false
     *  (clf_sentence_folder_include_prompt). */
    bool pool_prompt;
    /** clf_dp_embed_texts: each text's length in bytes, so that a text may
     *  hold NUL bytes (clf_tokenizer_encode_sentence_len), or NULL (default):
     *  every text ends at its first NUL */
    const size_t *text_lengths;
};

/** Sets the documented defaults in the first `size` bytes of *p (see
 *  clf_tokenizer_params_init). NULL p: nothing. */
CLF_API void clf_embed_params_init(struct clf_embed_params *p, size_t size);

/** Returns the documented defaults (inline, see @ref abi "the ABI rule"). */
CLF_PARAMS_DEFAULT(clf_embed_params)

/** Sentence batches made from texts' token ids (clf_text_batches_make). */
struct clf_text_batches;

/**
 * Texts' token ids as padded batches for clf_dp_embed: the texts sorted
 * longest first (equal lengths in their input order, so every rank makes
 * the same batches), as sentence-transformers sorts them, then cut into
 * batches of at most p->batch texts and p->max_batch_tokens padded ids; a
 * batch is padded (id 0, mask 0) to its longest text (an empty text counts
 * 1). ids[i] holds text i's len[i] ids (NULL only when len[i] = 0). p NULL:
 * the defaults. CLF_E_INVALID_ARG for NULL arguments, n = 0 or bad params.
 * ctx (may be NULL) receives the messages.
 */
CLF_API enum clf_status clf_text_batches_make(struct clf_ctx *ctx, const int32_t *const *ids,
                                              const size_t *len, size_t n,
                                              const struct clf_embed_params *p,
                                              struct clf_text_batches **out);
/** Destroys batches (NULL is fine). */
CLF_API void clf_text_batches_destroy(struct clf_text_batches *b);
/** The number of batches. */
CLF_API size_t clf_text_batches_count(const struct clf_text_batches *b);
/** The batches (owned by b), for clf_dp_embed. */
CLF_API const struct clf_dp_batch *clf_text_batches_list(const struct clf_text_batches *b);
/** order[s]: the text whose row is row s of the batches' concatenation
 *  (owned by b; [n]). */
CLF_API const size_t *clf_text_batches_order(const struct clf_text_batches *b);

/**
 * Sentence embeddings of n UTF-8 texts, texts in and vectors out: each text
 * after p->prompt and stripped of white space at its ends, as
 * sentence-transformers does, then tokenised by tok
 * (clf_tokenizer_encode_sentence, truncated to its max_length), the
 * texts batched longest first (clf_text_batches_make with p), the batches
 * run by the BERT runner (clf_dp_embed: every batch's graph recorded once
 * per shape and replayed), the vectors put back in the texts' order: out
 * f32 [n, clf_dp_embed_dim], row i text i's (pooled as clf_dp_set_pooling
 * says; by default the L2-normalised mean). A rank of an MPI run
 * (clf_dp_create_bert_rank) gets the rows the gather gave it (rank 0 all).
 * n_tokens (may be NULL) receives each text's id count, truncated (may be
 * NULL) whether it was cut. A text that does not tokenise (invalid UTF-8)
 * fails the call, its index in the message. One call at a time per runner.
 */
CLF_API enum clf_status clf_dp_embed_texts(struct clf_dp *dp, struct clf_tokenizer *tok,
                                           const char *const *texts, size_t n,
                                           const struct clf_embed_params *p, float *out,
                                           size_t *n_tokens, bool *truncated);

/**
 * A BERT runner's pooling, which clf_dp_embed and clf_dp_embed_texts apply
 * (default: CLF_POOL_MEAN, every column, normalised, as all-MiniLM-L6-v2):
 * clf_op_sentence_pool's modes, dims (0: all k·d_model columns of k modes;
 * fewer: Matryoshka truncation, normalised after it) and normalize, e.g.
 * from a clf_sentence_folder. Every rank must set the same. Recorded graphs
 * are dropped. Bad modes or dims, or an encoder's runner, are
 * CLF_E_INVALID_ARG.
 */
CLF_API enum clf_status clf_dp_set_pooling(struct clf_dp *dp, unsigned modes, int64_t dims,
                                           bool normalize);

/** A BERT runner's pooling leaves the first `tokens` tokens of every text
 *  out (their mask taken as 0 for the pooling only, not the attention; CLS
 *  pooling still takes token 0): sentence-transformers' include_prompt
 *  false with a prompt of tokens - 1 tokens after [CLS]. Default 0.
 *  Recorded graphs are dropped when it changes. A negative count or an
 *  encoder's runner is CLF_E_INVALID_ARG. */
CLF_API enum clf_status clf_dp_set_pooling_skip(struct clf_dp *dp, int64_t tokens);

/** Whether a BERT runner packs a padded batch's texts end to end (ragged
 *  batches, as FlashAttention's variable-length kernels and
 *  text-embeddings-inference do): the GEMMs and row ops over the texts'
 *  tokens alone, the attention per text (clf_attention_params.seq_offsets),
 *  the result bitwise the padded pass's. It applies where the attention is
 *  exact f32 on a CPU device's fused kernel, the model has no relative or
 *  rotary positions, and each mask row is a run of tokens then padding
 *  (as clf_text_batches_make makes them); other batches run padded.
 *  Default true. NULL dp is CLF_E_INVALID_ARG. */
CLF_API enum clf_status clf_dp_set_ragged(struct clf_dp *dp, bool on);

/**
 * Dense layers after a BERT runner's pooling (sentence-transformers' Dense
 * modules, e.g. from clf_sentence_folder_dense): x ← act(x·Wᵀ + b) in
 * order, then clf_dp_set_pooling's truncation and normalisation. Layer 0
 * takes the pooled width (k modes · d_model), each next one the previous
 * one's output; the weights are copied to every member. n = 0 removes
 * them. Set the pooling's modes first (clf_dp_set_pooling resets its dims
 * against the new width: call it again after this for a truncation).
 * CLF_E_INVALID_ARG for sizes that do not chain or an encoder's runner;
 * on failure no layer is left. Recorded graphs are dropped.
 */
CLF_API enum clf_status clf_dp_set_dense(struct clf_dp *dp, const struct clf_dense_layer *layers,
                                         size_t n);

/**
 * A BERT runner set up as a sentence-transformers folder says (f, from
 * clf_sentence_folder_load): its pooling modes, its Dense layers and its
 * normalisation, in that order, then dims columns kept (0: all; fewer:
 * Matryoshka truncation, re-normalised when normalising). The one setup
 * that `clformer embed`, `clformer serve` and the Python package share.
 * modes 0 takes the folder's pooling, other bits override it; normalize
 * < 0 takes the folder's Normalize, 0 or 1 overrides it. The prompt's
 * tokens are clf_dp_embed_texts' affair (clf_embed_params.pool_prompt:
 * clf_sentence_folder_include_prompt's). Errors as clf_dp_set_pooling's
 * and clf_dp_set_dense's (a NULL f: CLF_E_INVALID_ARG); on failure the
 * runner has no Dense layer.
 */
CLF_API enum clf_status clf_dp_set_folder(struct clf_dp *dp, const struct clf_sentence_folder *f,
                                          unsigned modes, int normalize, int64_t dims);

/** The columns of one text's embedding (clf_dp_set_pooling's; d_model by
 *  default), or 0 for an encoder's runner or NULL. */
CLF_API int64_t clf_dp_embed_dim(const struct clf_dp *dp);

/** clf_dp_calibrate for a BERT runner: clf_bert_calibrate on every replica
 *  with this one batch (e.g. the first of the texts, as one device would
 *  calibrate). */
CLF_API enum clf_status clf_dp_calibrate_embed(struct clf_dp *dp,
                                               const struct clf_dp_batch *batch);

/** Replicas held here: the group's size, or 1 for a rank (0 for NULL). */
CLF_API int clf_dp_members(const struct clf_dp *dp);
/** Replica i's encoder (owned by the runner; a BERT runner's is its
 *  model's), e.g. for clf_encoder_save, or NULL out of range. */
CLF_API struct clf_encoder *clf_dp_encoder(struct clf_dp *dp, int i);
/** The graph replica i ran last (owned by the runner: for
 *  clf_graph_node_time, clf_graph_memory; an idle replica keeps its
 *  previous one), or NULL when it has run none or i is out of range. A
 *  replica keeps the graphs of the shapes it ran last (up to 64, their
 *  planned memory bounded) and runs a shape it keeps without recording it
 *  again; changing the pooling, the Dense layers or the calibration drops
 *  them. */
CLF_API struct clf_graph *clf_dp_graph(struct clf_dp *dp, int i);

/**
 * Where a runner's time went, summed since its creation or the latest
 * clf_dp_timings_reset, over its replicas (replicas run side by side, so
 * their sums may exceed the wall time). Filled by clf_dp_timings: set size
 * to sizeof(struct clf_dp_timings) first (the library fills the fields that
 * fit and zeroes those it does not know).
 */
struct clf_dp_timings {
    size_t size;          /**< set by the caller: sizeof(struct clf_dp_timings) */
    uint64_t batches;     /**< graph runs (a replica's share of a call, or one BERT batch) */
    uint64_t recorded;    /**< graphs recorded: shapes run without a kept graph */
    /** clf_dp_embed_texts' own host work: tokenising, batching, putting
     *  the vectors back in the texts' order */
    double text_ms;
    /** recording graphs for new shapes (ops recorded, memory checked) */
    double record_ms;
    /** each batch's host work around its graph run: a ragged batch's
     *  index arrays, writing ids, mask or x, reading the output back */
    double host_ms;
    /** clf_graph_run's wall time: the device work, the gaps between its
     *  launches and the wait for the last (a new graph's first run also
     *  plans, tunes and packs weights) */
    double run_ms;
    /** the device time of the runs' nodes (the durations of their
     *  commands, summed; run_ms minus it is launch and wait overhead) */
    double device_ms;
    /** graph runs without per-node times (profiling off, or a replayed
     *  command buffer): their device time is not in device_ms */
    uint64_t untimed;
};

/** Fills *out (see struct clf_dp_timings). CLF_E_INVALID_ARG for a NULL
 *  dp or out, or an unset out->size. */
CLF_API enum clf_status clf_dp_timings(const struct clf_dp *dp, struct clf_dp_timings *out);
/** Sets a runner's timings back to zero (NULL: nothing). */
CLF_API void clf_dp_timings_reset(struct clf_dp *dp);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* CLFORMER_PARALLEL_H */
