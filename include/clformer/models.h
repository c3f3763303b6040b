/**
 * @file clformer/models.h
 * @brief Models and tokenizers: the Transformer encoder, BERT models and their WordPiece tokenizer.
 *
 * Part of the public API; include clformer.h (the umbrella).
 */
#ifndef CLFORMER_MODELS_H
#define CLFORMER_MODELS_H

#include "core.h"
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @defgroup models Models and tokenizers
 * The encoder stack, BERT models and the WordPiece tokenizer.
 * @{
 */
/** @defgroup encoder The encoder
 * A stack of post-LN (or pre-LN) Transformer encoder layers (Vaswani et al.
 * 2017; PyTorch's nn.TransformerEncoder) with its weights on the device, and
 * the ways to store them: low-rank and Tensor-Train FFN weights, int8 K/V
 * and linear layers, quantised FFN activations.
 * @{ */

/** How the encoder stores its feed-forward weights W1 [d_ff, d_model] and
 *  W2 [d_model, d_ff]: dense, or low-rank by truncated or randomised SVD,
 *  or as a Tensor-Train matrix. */
enum clf_ffn_format {
    CLF_FFN_DENSE = 0, /**< as given */
    CLF_FFN_SVD = 1,   /**< W ≈ U_r·(Σ_r V_rᵀ) by LAPACK's truncated SVD: two GEMMs */
    CLF_FFN_RSVD = 2,  /**< the same factors by the randomised SVD (Halko et al.) */
    CLF_FFN_TT = 3     /**< Tensor-Train matrix (TT-SVD, Oseledets 2011) applied core
                            by core, never forming W */
};

/** The FFN weights' factorisation; zero-initialised means dense. */
struct clf_ffn_factor {
    enum clf_ffn_format format; /**< Default (0) CLF_FFN_DENSE */
    /** SVD, RSVD: the rank r (capped at min of the weight's sides); TT:
     *  the largest TT-rank. 0: chosen from eps. */
    int64_t rank;
    /** With rank 0: the relative error target ‖W − W_r‖_F <= eps·‖W‖_F
     *  (SVD: the smallest rank whose Eckart–Young tail meets it; RSVD: from
     *  the randomised spectrum; TT: TT-SVD's bound). */
    double eps;
    int64_t oversample; /**< RSVD: p (the parser's default 10) */
    int power_iters;    /**< RSVD: q (the parser's default 1) */
    uint64_t seed;      /**< RSVD: the test matrix's seed */
    int tt_cores;       /**< TT: d, 2..6 (0: 3); d_model and d_ff are split into d
                             balanced factors */
};

/**
 * Parses the --ffn grammar: dense | svd:R | svd:eps=E | rsvd:R[,p:P][,q:Q][,seed:S]
 * | rsvd:eps=E[,...] | tt:R[,d:D] | tt:eps=E[,d:D]. On failure msg (may be
 * NULL) receives why. CLF_E_INVALID_ARG.
 */
CLF_API enum clf_status clf_ffn_factor_parse(const char *spec, struct clf_ffn_factor *f,
                                             char *msg, size_t msg_size);

/** Writes the --ffn form of f into buf. */
CLF_API void clf_ffn_factor_str(const struct clf_ffn_factor *f, char *buf, size_t size);

/** How the encoder stores the attention's K and V. */
enum clf_kv_format {
    CLF_KV_F32 = 0,         /**< fp32 */
    CLF_KV_INT8_TOKEN = 1,  /**< symmetric int8, one scale per token and head */
    CLF_KV_INT8_CHANNEL = 2 /**< symmetric int8, one scale per sequence and channel
                                 (of d_model), over its unpadded tokens */
};

/** Shape and behaviour of an encoder stack; get one from
 *  clf_encoder_config_default(). */
struct clf_encoder_config {
    /** The struct\'s size: set by clf_encoder_config_init or _default (see @ref abi
     *  "the ABI rule"). */
    size_t size;
    int64_t d_model;   /**< Default 512 */
    int64_t heads;     /**< Default 8; must divide d_model */
    int64_t d_ff;      /**< Default 2048 */
    int64_t layers;    /**< Default 6 */
    enum clf_act act;  /**< CLF_ACT_RELU (default, as PyTorch) or CLF_ACT_GELU / GELU_TANH */
    float eps;         /**< LayerNorm epsilon. Default 1e-5 */
    /** false (default): post-LN, x = LN(x + MHA(x)), x = LN(x + FFN(x)) as
     *  the original Transformer and PyTorch's default; true: pre-LN, x = x + MHA(LN(x)),
     *  x = x + FFN(LN(x)). */
    bool norm_first;
    enum clf_attention_impl attn_impl; /**< Default CLF_ATTN_AUTO */
    struct clf_attention_variant attn;  /**< Default exact attention */
    /* Quantisation (linear int8, power-of-two, fp16). The attention formats need exact
     * attention (another variant with them is CLF_E_UNSUPPORTED). */
    enum clf_kv_format kv;     /**< K and V storage. Default CLF_KV_F32 */
    enum clf_p_format attn_p;  /**< attention weights' storage. Default CLF_P_F32 */
    int attn_p_bits;           /**< CLF_P_LOG: 2..8. Default 4 */
    /** Every linear layer (QKV, output projection, W1, W2) in int8:
     *  weights symmetric per output channel once at load, activations
     *  symmetric per token at run time, clf_op_gemm_q8. Default false. */
    bool linear_int8;
    /** FFN weights' factorisation, made when the weights arrive (or read
     *  from the file, see clf_encoder_load). Default dense. */
    struct clf_ffn_factor ffn;
    /** Free the f32 weights that a prepared form replaces in the forward
     *  pass (FFN factors or cores, int8 weights, SVD score forms), so that
     *  the device holds only what runs; clf_encoder_read_weight and
     *  clf_encoder_save then refuse those weights (CLF_E_STATE). Default
     *  false: keep them. */
    bool drop_dense;
    /** Quantiser between the FFN's activation and W2 (clf_op_actq); free
     *  parameters left 0 (LSQ's step, PWL's clip) are set per layer by
     *  clf_encoder_calibrate. Default none. */
    struct clf_actq ffn_act;
    /** Storage of the linear layers' weights in their GEMMs (QKV, output
     *  projection, W1, W2 and their SVD factors; not TT cores): f32
     *  (default), or f16 / bf16, rounded once when packed and computed in
     *  f32 (enum clf_precision, clf_gemm_params.b_precision). CPU devices
     *  only (CLF_E_UNSUPPORTED elsewhere); not with linear_int8
     *  (CLF_E_INVALID_ARG); the weights read back, saved or split for
     *  tensor parallelism (which refuses it) stay f32. */
    enum clf_precision precision;
    /** With int8 K and V (kv not CLF_KV_F32): the queries quantised too,
     *  per query, so that the attention scores are integer dot products
     *  (clf_attention_quant_params.q_int8); with f32 K and V
     *  CLF_E_INVALID_ARG. Default false. */
    bool attn_q_int8;
};

/** Sets the documented defaults in the first `size` bytes of *p (the
 *  fields a struct of that size has; bytes past the library's own struct
 *  zeroed) and size in p->size. NULL p: nothing. */
CLF_API void clf_encoder_config_init(struct clf_encoder_config *p, size_t size);

/** Returns the documented defaults (inline: compiled into the caller with
 *  its own struct's size, see @ref abi "the ABI rule"). */
CLF_PARAMS_DEFAULT(clf_encoder_config)

/**
 * Sets one option of cfg from its text in the `clformer` command's grammar
 * (docs/cli.md), the one parser the command line and the Python package
 * share. name is the option without its dashes:
 *   activation  relu, gelu, gelu-tanh
 *   attn-impl   auto, fused, gemm
 *   attn        clf_attention_variant_parse's grammar (exact, topk:32, ...)
 *   kv          f32, int8 (int8:token: per token), int8:channel
 *   attn-quant  f32, f16, log:B with B in 2..8
 *   linear      f32, int8
 *   precision   f32, f16, bf16
 *   ffn         clf_ffn_factor_parse's grammar (dense, svd:64, tt:8, ...)
 *   ffn-act     clf_actq_parse's grammar (none, binary, lsq:4, ...)
 *   drop-dense  (value ignored, may be NULL) free the f32 weights a prepared
 *               form replaces
 * CLF_E_INVALID_ARG for an unknown name or a value outside its grammar,
 * with a one-line reason in msg (may be NULL; truncated to size).
 */
CLF_API enum clf_status clf_encoder_config_option(struct clf_encoder_config *cfg,
                                                  const char *name, const char *value,
                                                  char *msg, size_t size);

/** A stack of encoder layers with its weights on the device. */
struct clf_encoder;

/**
 * Creates an encoder with seeded random weights: every weight matrix
 * uniform in ±1/sqrt(fan_in), biases uniform in ±0.1/sqrt(fan_in),
 * LayerNorm gamma in 1 ± 0.1 and beta in ±0.1 (splitmix64 from seed, the
 * same on every machine).
 */
CLF_API enum clf_status clf_encoder_create_random(struct clf_ctx *ctx,
                                                  const struct clf_encoder_config *cfg,
                                                  uint64_t seed, struct clf_encoder **out);

/**
 * Loads an encoder from a safetensors file with PyTorch state_dict names:
 * nn.TransformerEncoder's "layers.N.self_attn.in_proj_weight" ... (and an
 * optional final "norm.weight"/"norm.bias"), or, for one layer,
 * nn.TransformerEncoderLayer's "self_attn.in_proj_weight", ...,
 * "linear1.*", "linear2.*", "norm1.*", "norm2.*". Every tensor's shape is
 * checked against cfg (CLF_E_SHAPE naming the tensor); a missing tensor is
 * CLF_E_FORMAT. With cfg->ffn SVD or RSVD, factors in the file
 * ("linear1.lowrank.left" / ".right", as clf_encoder_save writes them) are
 * used instead of factorising (a configured rank must equal theirs, else
 * CLF_E_SHAPE); with TT, cores "linear1.tt.core.J" [r_J, m_J, n_J, r_J+1]
 * likewise (they must chain into the weight's shape). Optional one-element tensors per layer set the FFN
 * activation quantiser's parameters instead of calibration: "ffn_act.step"
 * (LSQ), "ffn_act.alpha" (BINARY's α, or PACT's α for unsigned LSQ: s =
 * α/(2^b − 1)), "ffn_act.clip" and "ffn_act.breakpoint" (PWL); a value that
 * is not positive and finite is CLF_E_FORMAT.
 */
CLF_API enum clf_status clf_encoder_load(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                         const char *path, struct clf_encoder **out);

/**
 * Writes enc's weights to a safetensors file in clf_encoder_load's names
 * ("layers.N." prefixes): the PyTorch weights, the FFN's SVD factors
 * ("layers.N.linear1.lowrank.left" [d_ff, r], ".right" [r, d_model], and
 * linear2's), the Tensor-Train cores ("layers.N.linear1.tt.core.J") and the
 * FFN activation quantiser's parameters
 * ("layers.N.ffn_act.step", ...) when the encoder has them, so that loading
 * the file again skips factorisation and calibration.
 */
CLF_API enum clf_status clf_encoder_save(struct clf_encoder *enc, const char *path);

/** What the encoder made of one layer's FFN weights (clf_encoder_ffn_stats). */
struct clf_ffn_stats {
    int64_t params;               /**< W1 and W2 as stored (factors, cores) */
    int64_t dense_params;         /**< 2·d_model·d_ff */
    double flops_per_token;       /**< of applying W1 and W2 as stored */
    double dense_flops_per_token; /**< 4·d_model·d_ff */
    int64_t rank[2];              /**< W1, W2: the SVD rank, or the largest TT-rank; 0 dense */
    /** W1, W2: ‖W − Ŵ‖_F / ‖W‖_F of the stored approximation (0 dense;
     *  NaN when the factors came from a file and were not measured). */
    double rel_error[2];
};

/** Fills *out for layer `layer`; CLF_E_INVALID_ARG out of range. */
CLF_API enum clf_status clf_encoder_ffn_stats(const struct clf_encoder *enc, int layer,
                                              struct clf_ffn_stats *out);

/** Destroys an encoder (NULL is fine); graphs recorded with it first. */
CLF_API void clf_encoder_destroy(struct clf_encoder *enc);

/** Copies enc's configuration into the first `size` bytes of *p, as
 *  clf_encoder_config_init does the defaults (NULL enc: the defaults). */
CLF_API void clf_encoder_config_of(const struct clf_encoder *enc, struct clf_encoder_config *p,
                                   size_t size);

/** The encoder's configuration (inline: the caller's struct, see @ref abi
 *  "the ABI rule"). */
static inline struct clf_encoder_config clf_encoder_get_config(const struct clf_encoder *enc)
{
    struct clf_encoder_config c;
    clf_encoder_config_of(enc, &c, sizeof c);
    return c;
}

/**
 * Copies one weight to the host as float32, by its PyTorch name within a
 * layer ("self_attn.in_proj_weight", "linear1.bias", "norm2.weight", ...);
 * layer −1 names the final "norm.weight"/"norm.bias" (CLF_E_FORMAT when
 * the encoder has none). count must equal the weight's element count.
 */
CLF_API enum clf_status clf_encoder_read_weight(struct clf_encoder *enc, int layer,
                                                const char *name, float *dst, size_t count);

/**
 * Records the forward pass of every layer on g: x f32 [batch, seq, d_model]
 * (any strides), key_padding i32 [batch, seq] (nonzero = padding) or NULL.
 * *out receives the graph-owned output [batch, seq, d_model].
 */
CLF_API enum clf_status clf_encoder_forward(struct clf_encoder *enc, struct clf_graph *g,
                                            struct clf_tensor *x, struct clf_tensor *key_padding,
                                            struct clf_tensor **out);

/**
 * Sets the free parameters of cfg.ffn_act (LSQ's step, PWL's clip and
 * breakpoint) per layer with clf_actq_calibrate, from the activations
 * before W2 in one forward pass of x (shapes as clf_encoder_forward) run
 * without the activation quantiser. Needed before clf_encoder_forward when
 * such a parameter is 0 (CLF_E_STATE otherwise); a no-op when there is
 * nothing to calibrate. Runs on its own graph.
 */
CLF_API enum clf_status clf_encoder_calibrate(struct clf_encoder *enc, struct clf_tensor *x,
                                              struct clf_tensor *key_padding);

/** @} */

/** @defgroup tokenizer Tokenizer
 * BERT's WordPiece tokenizer (host code, no device).
 * @{ */

/** Options of clf_tokenizer_load; get one from clf_tokenizer_params_default(). */
struct clf_tokenizer_params {
    /** The struct\'s size: set by clf_tokenizer_params_init or _default (see @ref abi
     *  "the ABI rule"). */
    size_t size;
    bool lower_case;      /**< lower-case and strip accents (uncased BERT). Default true */
    int64_t max_length;   /**< tokens per text including [CLS] and [SEP]; longer texts
                               are truncated (reported). Default 256 */
    int64_t max_word_chars; /**< longer words become [UNK]. Default 100 */
    /** Rows of the model's embedding table: a vocabulary with a token id at
     *  or past it fails the load (CLF_E_FORMAT naming the file). Default 0:
     *  no limit; clf_sentence_folder_tokenizer_params sets config.json's
     *  vocab_size. */
    int64_t vocab_limit;
};

/** Sets the documented defaults in the first `size` bytes of *p (the
 *  fields a struct of that size has; bytes past the library's own struct
 *  zeroed) and size in p->size. NULL p: nothing. */
CLF_API void clf_tokenizer_params_init(struct clf_tokenizer_params *p, size_t size);

/** Returns the documented defaults (inline: compiled into the caller with
 *  its own struct's size, see @ref abi "the ABI rule"). */
CLF_PARAMS_DEFAULT(clf_tokenizer_params)

/** A BERT WordPiece tokenizer (vocabulary loaded from vocab.txt). */
struct clf_tokenizer;

/**
 * Loads vocab.txt (one token per line, id = line number, "\r\n" allowed,
 * a later duplicate wins as in Hugging Face's dict; lines must be UTF-8),
 * or, for a path ending in ".json", a Hugging Face tokenizer.json of one
 * of two kinds. A WordPiece tokenizer (BERT, MPNet): model WordPiece
 * ("##", its unk_token, default [UNK]; its vocab and
 * max_input_chars_per_word), normalizer BertNormalizer (its lowercase
 * replaces p's lower_case) or none, pre_tokenizer BertPreTokenizer or
 * none, post_processor "X $A Y" (TemplateProcessing, e.g. MPNet's "<s> $A
 * </s>", or BertProcessing), up to 8 special added tokens split out of the
 * text first (one marked "normalized" matched ASCII-case-blind when the
 * tokenizer lower-cases, as HF matches it on the lower-cased text). Or
 * byte-level BPE (RoBERTa, GPT-2: Radford et al. 2019): model BPE
 * (vocab, merges; no dropout, prefix or suffix, byte_fallback), no
 * normalizer, pre_tokenizer ByteLevel (GPT-2's split; add_prefix_space),
 * post_processor "<s> $A </s>" (RobertaProcessing or TemplateProcessing),
 * up to 8 added tokens split out of the text first (lstrip and rstrip
 * absorbing Unicode White_Space, as Hugging Face); p's lower_case and max_word_chars do not
 * apply. Or Unigram (XLM-RoBERTa's SentencePiece conversion: Kudo 2018):
 * model Unigram ([piece, score] vocab, unk_id, byte_fallback; the best
 * segmentation by Viterbi, unknown characters at the lowest score minus 10
 * and fused), normalizers Precompiled (SentencePiece's charsmap, applied per
 * grapheme cluster as Hugging Face does), Replace (a literal, or a regex
 * "c+" / "c{n,}") and Strip, alone or in a Sequence, pre_tokenizer Metaspace,
 * post_processor "<s> $A </s>", up to 8 added tokens (a "normalized" one
 * matched on the normalised text); p's lower_case and max_word_chars do not
 * apply. Any other component (WordLevel, other normalizers, ...) is
 * CLF_E_UNSUPPORTED naming it.
 * vocab.txt must hold [CLS], [SEP], [UNK] and [PAD] ([MASK] is optional),
 * tokenizer.json the tokens its post-processor and model name
 * (CLF_E_FORMAT otherwise). p NULL means the defaults; max_length < 2 or
 * max_word_chars < 1 is CLF_E_INVALID_ARG. Errors name the file (CLF_E_IO
 * when it cannot be read). ctx only receives error messages and may be
 * NULL; the tokenizer is host code and needs no device. A tokenizer may be
 * used by one thread at a time (it keeps ctx for its errors, and alive).
 */
CLF_API enum clf_status clf_tokenizer_load(struct clf_ctx *ctx, const char *vocab_path,
                                           const struct clf_tokenizer_params *p,
                                           struct clf_tokenizer **out);
/** Destroys a tokenizer (NULL is fine). */
CLF_API void clf_tokenizer_destroy(struct clf_tokenizer *t);

/**
 * BERT's tokenisation of one UTF-8 text, as Hugging Face's BertTokenizer and
 * BertTokenizerFast (uncased) give it: the special tokens written in the
 * text ("[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"; exact case) are kept
 * as such; the rest is cleaned (U+0000, U+FFFD and every character of a
 * category C* except tab, line feed and carriage return dropped; those
 * three and categories Zs, Zl, Zp are white space), CJK ideographs (BERT's
 * _is_chinese_char ranges) become words of their own, words are split on
 * white space, lower-cased one code
 * point at a time and stripped of accents (Unicode NFD, marks of category
 * Mn removed, via utf8proc; both only with lower_case), split on
 * punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and categories P*), then
 * greedy longest-match WordPiece with "##" continuations ([UNK] for a word
 * of more than max_word_chars code points or with a position no piece
 * matches); [CLS] first, [SEP] last, truncated to max_length (the first
 * max_length - 2 pieces are kept). Only characters whose Unicode
 * properties differ between utf8proc's and Python's Unicode versions may
 * tokenise differently.
 *   ids       receives up to cap ids
 *   n         receives the number of ids (<= max_length)
 *   truncated receives whether the text was cut (may be NULL)
 * Invalid UTF-8 is CLF_E_INVALID_ARG; cap < the ids produced is CLF_E_SHAPE.
 */
CLF_API enum clf_status clf_tokenizer_encode(struct clf_tokenizer *t, const char *text,
                                             int32_t *ids, size_t cap, size_t *n,
                                             bool *truncated);

/** The id of a vocabulary token, or -1. */
CLF_API int32_t clf_tokenizer_token_id(const struct clf_tokenizer *t, const char *token);

/**
 * A text as sentence-transformers feeds it to its tokenizer:
 * clf_tokenizer_encode of prompt + text (prompt NULL: none) with the white
 * space at both ends left out, as Python's str.strip() does it (U+0009-000D,
 * U+001C-0020, U+0085, U+00A0, U+1680, U+2000-200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000; it matters for byte-level BPE, where a space is
 * a token). Arguments and statuses as clf_tokenizer_encode's.
 */
CLF_API enum clf_status clf_tokenizer_encode_sentence(struct clf_tokenizer *t,
                                                      const char *prompt, const char *text,
                                                      int32_t *ids, size_t cap, size_t *n,
                                                      bool *truncated);

/**
 * The leading tokens of prompt + text that are the prompt's, as
 * sentence-transformers counts them for a Pooling with include_prompt
 * false: the prompt encoded alone (clf_tokenizer_encode_sentence, so
 * stripped and truncated to max_length) less its closing special token,
 * the opening one ([CLS], or RoBERTa's and MPNet's) included. prompt NULL: *n = 0. For
 * clf_dp_set_pooling_skip. Statuses as clf_tokenizer_encode's.
 */
CLF_API enum clf_status clf_tokenizer_prompt_tokens(struct clf_tokenizer *t, const char *prompt,
                                                    size_t *n);

/**
 * clf_tokenizer_encode_sentence of text's first len bytes, which may hold
 * NUL bytes (a line of a file): as Hugging Face's tokenizers, WordPiece
 * drops U+0000 with the other control characters ("foo\0bar" gives the
 * ids of "foobar") and byte-level BPE keeps it as byte 0's symbol. prompt
 * is NUL-terminated. Arguments and statuses otherwise as
 * clf_tokenizer_encode_sentence's (which is this with strlen(text)).
 */
CLF_API enum clf_status clf_tokenizer_encode_sentence_len(struct clf_tokenizer *t,
                                                          const char *prompt, const char *text,
                                                          size_t len, int32_t *ids, size_t cap,
                                                          size_t *n, bool *truncated);

/** @} */

/** @defgroup sentence_folder Sentence-transformers folders
 * What a sentence-transformers model folder says about its sentence
 * embeddings (host code, no device): which modules run, the pooling, the
 * tokenizer's length and lower-casing, the prompts.
 * @{ */

/** A sentence-transformers folder's configuration (clf_sentence_folder_load). */
struct clf_sentence_folder;

/**
 * Reads the configuration of a sentence-transformers model folder, in
 * either layout in use (the classic one on the Hub, and the one current
 * sentence-transformers writes):
 *  - modules.json: a Transformer first (its "path" holds the Hugging Face
 *    model: config.json, model.safetensors, vocab.txt; "" is the folder),
 *    one Pooling, then optionally Normalize. Any other module (Dense, ...)
 *    is CLF_E_UNSUPPORTED naming it; a path leaving the folder (absolute,
 *    "..") CLF_E_FORMAT. Without modules.json the folder is a plain model,
 *    and, as sentence-transformers makes of one, pooled by mean and not
 *    normalised.
 *  - the Pooling's config.json: pooling_mode_cls_token, _max_tokens,
 *    _mean_tokens, _mean_sqrt_len_tokens, _weightedmean_tokens, _lasttoken
 *    (enum clf_pooling; at least one true), include_prompt (default true),
 *    word_embedding_dimension.
 *  - the length (tokens per text, [CLS] and [SEP] included):
 *    sentence_bert_config.json's max_seq_length, else
 *    tokenizer_config.json's model_max_length, capped by config.json's
 *    max_position_embeddings (default 512; a larger max_seq_length is
 *    CLF_E_FORMAT).
 *  - lower-casing (with accents stripped, as uncased BERT): tokenizer.json's
 *    BertNormalizer "lowercase", else tokenizer_config.json's
 *    do_lower_case, else true; a "strip_accents" that differs from it, or
 *    sentence_bert_config.json's do_lower_case true with a cased tokenizer,
 *    is CLF_E_UNSUPPORTED.
 *  - config_sentence_transformers.json: "prompts" (name -> text),
 *    "default_prompt_name" (one of them, or null), "similarity_fn_name".
 * Every error names the file and the key (or module) at fault, in msg (may
 * be NULL; "" on success); a file that is not JSON is CLF_E_FORMAT, one
 * that cannot be read CLF_E_IO. Host code: no context or device needed.
 * Destroy with clf_sentence_folder_destroy.
 */
CLF_API enum clf_status clf_sentence_folder_load(const char *dir,
                                                 struct clf_sentence_folder **out, char *msg,
                                                 size_t msg_size);
/** Destroys a folder's configuration (NULL is fine). */
CLF_API void clf_sentence_folder_destroy(struct clf_sentence_folder *f);
/** Where the Hugging Face model's files are (for clf_bert_load,
 *  clf_tokenizer_load): the folder, or its Transformer module's path. */
CLF_API const char *clf_sentence_folder_model_dir(const struct clf_sentence_folder *f);
/** The tokenizer's file for clf_tokenizer_load, in the model's files:
 *  vocab.txt when there is one and the folder's tokenizer.json (if any)
 *  wraps texts in BERT's [CLS] and [SEP], else tokenizer.json (MPNet's
 *  <s> … </s>, byte-level BPE); NULL when there is neither. */
CLF_API const char *clf_sentence_folder_tokenizer_file(const struct clf_sentence_folder *f);
/** Whether the folder has a modules.json (false: a plain model). */
CLF_API bool clf_sentence_folder_has_modules(const struct clf_sentence_folder *f);
/** The pooling modes (enum clf_pooling bits). */
CLF_API unsigned clf_sentence_folder_pooling(const struct clf_sentence_folder *f);
/** Whether a Normalize module follows the pooling. */
CLF_API bool clf_sentence_folder_normalize(const struct clf_sentence_folder *f);
/** The Pooling's include_prompt: false means the prompt's tokens ([CLS]
 *  among them) are left out of the pooling (clf_embed_params.pool_prompt,
 *  clf_dp_set_pooling_skip). */
CLF_API bool clf_sentence_folder_include_prompt(const struct clf_sentence_folder *f);
/** The Pooling's word_embedding_dimension (0: not given). */
CLF_API int64_t clf_sentence_folder_pooling_dim(const struct clf_sentence_folder *f);
/** similarity_fn_name ("cosine", "dot", "euclidean" or "manhattan"; the
 *  load refuses others), or NULL when not given (cosine). */
CLF_API const char *clf_sentence_folder_similarity(const struct clf_sentence_folder *f);
/** Sets p's lower_case and max_length from the folder (the caller's other
 *  fields kept; p must come from clf_tokenizer_params_init or _default). */
CLF_API enum clf_status clf_sentence_folder_tokenizer_params(const struct clf_sentence_folder *f,
                                                             struct clf_tokenizer_params *p);
/** The number of prompts. */
CLF_API size_t clf_sentence_folder_prompt_count(const struct clf_sentence_folder *f);
/** Prompt i's name (NULL out of range). */
CLF_API const char *clf_sentence_folder_prompt_name(const struct clf_sentence_folder *f,
                                                    size_t i);
/** The default prompt's name, or NULL. */
CLF_API const char *clf_sentence_folder_default_prompt(const struct clf_sentence_folder *f);
/** The text of the prompt named name (NULL name: the default prompt), or
 *  NULL when there is none. sentence-transformers puts it in front of
 *  every text (prompt + text) before tokenising. */
CLF_API const char *clf_sentence_folder_prompt(const struct clf_sentence_folder *f,
                                               const char *name);

/** A Dense module of a sentence-transformers folder: y = act(x·Wᵀ + b). */
struct clf_dense_layer {
    int64_t in;           /**< input columns */
    int64_t out;          /**< output columns */
    const float *weight;  /**< [out, in], row-major */
    const float *bias;    /**< [out], or NULL */
    enum clf_act act;     /**< CLF_ACT_TANH (the default), CLF_ACT_NONE (Identity), ... */
};

/** The number of the folder's Dense modules (after the pooling, before
 *  Normalize). */
CLF_API size_t clf_sentence_folder_dense_count(const struct clf_sentence_folder *f);
/** Dense module i, in order, its weights owned by the folder;
 *  CLF_E_INVALID_ARG out of range. */
CLF_API enum clf_status clf_sentence_folder_dense(const struct clf_sentence_folder *f, size_t i,
                                                  struct clf_dense_layer *out);

/** @} */

/** @defgroup bert BERT models
 * Hugging Face BERT models (e.g. all-MiniLM-L6-v2): weights, embeddings and
 * the encoder; sentence embeddings with clf_op_mean_pool_normalize.
 * @{ */

/** A BERT encoder with its embeddings (e.g. all-MiniLM-L6-v2). */
struct clf_bert;

/**
 * Where clformer's default model lives (tools/fetch_model.sh puts
 * all-MiniLM-L6-v2 there): $CLFORMER_MODEL_DIR when set and not empty,
 * else ${XDG_CACHE_HOME:-$HOME/.cache}/clformer/models/all-MiniLM-L6-v2
 * ("." for $HOME when unset). Written into buf, NUL-terminated; whether
 * the directory exists is not checked. CLF_E_INVALID_ARG for a NULL buf or
 * one too small (buf then holds as much as fits).
 */
CLF_API enum clf_status clf_default_model_dir(char *buf, size_t size);

/**
 * Loads a Hugging Face BERT, DistilBERT, RoBERTa, XLM-RoBERTa, MPNet or
 * ModernBERT model directory (config.json's model_type "bert", or none,
 * "distilbert", "roberta", "xlm-roberta", "mpnet", "modernbert"; another is
 * CLF_E_UNSUPPORTED listing these). ModernBERT's keys are BERT's sizes,
 * hidden_activation, norm_eps (1e-5), max_position_embeddings (8192),
 * global_rope_theta (160000), local_rope_theta (10000; null: the global
 * one), global_attn_every_n_layers (3) and local_attention (128), with
 * attention_bias, mlp_bias and norm_bias false and no rope_scaling
 * (CLF_E_UNSUPPORTED otherwise); its tensors (with or without "model.")
 * embeddings.tok_embeddings.weight, embeddings.norm.weight,
 * layers.N.attn.Wqkv.weight, attn.Wo.weight, attn_norm.weight (not in
 * layer 0), mlp_norm.weight, mlp.Wi.weight [2·intermediate_size, hidden],
 * mlp.Wo.weight and final_norm.weight; its layers are pre-LN with rotary
 * positions on Q and K, a GeGLU FFN and, on local layers (all but every
 * global_attn_every_n_layers-th from 0), window attention over keys within
 * local_attention / 2; it takes exact f32 attention and dense weights only
 * (options asking for more are CLF_E_UNSUPPORTED at load, and so are
 * clf_bert_load_tp and clf_encoder_tp_create_from of its encoder);
 * clf_encoder_save refuses its encoder. RoBERTa's are BERT's keys and tensors ("roberta." prefix), its
 * positions counted from pad_token_id + 1 (default 2), so
 * max_position_embeddings - pad_token_id - 1 tokens per text. MPNet's are
 * BERT's keys without token types, relative_attention_num_buckets (32,
 * the number Hugging Face uses), positions from 2, layers named
 * encoder.layer.N.attention.attn.q.weight, ..., attention.LayerNorm, and
 * encoder.relative_attention_bias.weight [32, heads] added to every
 * layer's scores by relative distance (exact f32 attention only: a
 * quantised or approximate attention is CLF_E_UNSUPPORTED at the forward
 * pass, and so is clf_bert_load_tp). DistilBERT's keys are dim, n_heads, hidden_dim, n_layers
 * and activation, its tensors distilbert.embeddings.* and transformer.layer.
 * N.attention.q_lin.weight, ..., with no token types and LayerNorm eps
 * 1e-12. BERT's config.json (read with cJSON:
 * hidden_size, num_attention_heads, intermediate_size, num_hidden_layers,
 * vocab_size required; hidden_act "gelu" (erf form; "gelu_new" and
 * "gelu_pytorch_tanh" give the tanh form, "relu" ReLU, others
 * CLF_E_UNSUPPORTED), layer_norm_eps (default 1e-12),
 * max_position_embeddings (512), type_vocab_size (2); a
 * position_embedding_type other than "absolute" is CLF_E_UNSUPPORTED) and
 * model.safetensors (names with or without the "bert." prefix:
 * embeddings.word_embeddings.weight, ..., encoder.layer.N.attention.self.
 * query.weight, ...; the pooler is not used). Each layer becomes a post-LN
 * encoder layer (Q, K and V stacked into in_proj). options (may be NULL)
 * gives the encoder's attention variant, quantisation and FFN format; its
 * sizes, activation, eps and norm_first are ignored (the config's are
 * used). Every tensor's shape is checked (CLF_E_SHAPE naming it); a missing
 * one, or a missing config key, is CLF_E_FORMAT naming the file; a missing
 * file is CLF_E_IO; more layers in the file than configured is CLF_E_SHAPE.
 */
CLF_API enum clf_status clf_bert_load(struct clf_ctx *ctx, const char *model_dir,
                                      const struct clf_encoder_config *options,
                                      struct clf_bert **out);
/** Destroys a model and its weights (NULL is fine); graphs recorded with
 *  it first. */
CLF_API void clf_bert_destroy(struct clf_bert *b);

/** The encoder inside (for clf_encoder_calibrate, _save, _ffn_stats);
 *  NULL for a NULL b. */
CLF_API struct clf_encoder *clf_bert_encoder(const struct clf_bert *b);

/** Copies the model's encoder configuration (sizes from config.json) into
 *  the first `size` bytes of *p, as clf_encoder_config_of (NULL b: the
 *  defaults). Also for the embeddings of a tensor-parallel split
 *  (clf_bert_load_tp), which hold no encoder. */
CLF_API void clf_bert_config_of(const struct clf_bert *b, struct clf_encoder_config *p,
                                size_t size);

/** The model's encoder configuration (inline: the caller's struct, see
 *  @ref abi "the ABI rule"). */
static inline struct clf_encoder_config clf_bert_config(const struct clf_bert *b)
{
    struct clf_encoder_config c;
    clf_bert_config_of(b, &c, sizeof c);
    return c;
}

/**
 * Records the model on g: ids i32 [batch, seq], mask i32 [batch, seq]
 * (1 = token, 0 = padding) or NULL (no padding); *hidden receives the last
 * hidden states f32 [batch, seq, d] (graph-owned). seq <= max_position_
 * embeddings (CLF_E_SHAPE otherwise). Embeddings: word rows (ids checked
 * against the vocabulary when the graph runs: clf_op_embedding, which
 * reads them back, so that such a graph is not recorded into a command
 * buffer; the data-parallel runner checks them on the host instead) + token
 * type 0's row + position rows 0..seq-1, LayerNorm; then the encoder with
 * key padding (mask == 0), made on the device. Rows of padding get hidden
 * states too (they attend to the tokens); only the mask says which count.
 */
CLF_API enum clf_status clf_bert_forward(struct clf_bert *b, struct clf_graph *g,
                                         struct clf_tensor *ids, struct clf_tensor *mask,
                                         struct clf_tensor **hidden);

/**
 * Records only the embeddings, the encoder's input: *e receives f32
 * [batch, seq, d] (graph-owned); arguments and checks as clf_bert_forward
 * (the mask is checked, not used). With clf_encoder_tp_create_from(...,
 * clf_bert_encoder(b), ...) this runs the model tensor-parallel: read e
 * back, clf_encoder_tp_forward with key padding = (mask == 0).
 */
CLF_API enum clf_status clf_bert_embeddings(struct clf_bert *b, struct clf_graph *g,
                                            struct clf_tensor *ids, struct clf_tensor *mask,
                                            struct clf_tensor **e);

/**
 * Calibrates the free parameters of the options' ffn_act (clf_encoder_
 * calibrate) on the activations of these inputs (ids, mask as
 * clf_bert_forward, tensors the caller wrote); needed before
 * clf_bert_forward when such a parameter is 0, a no-op otherwise. Runs on
 * its own graphs.
 */
CLF_API enum clf_status clf_bert_calibrate(struct clf_bert *b, struct clf_tensor *ids,
                                           struct clf_tensor *mask);

/** @} */

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* CLFORMER_MODELS_H */
