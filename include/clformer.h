/**
 * @file clformer.h
 * @brief clformer — a portable OpenCL compute backend for transformer
 * inference. The umbrella header: includes every layer's header.
 *
 * @mainpage clformer API reference
 *
 * The public API, one header per layer under include/clformer/, each
 * included by this umbrella header:
 *  - clformer/core.h — @ref core "core and devices": status codes, the
 *    version, devices, contexts;
 *  - clformer/ops.h — @ref ops "tensors, graphs and ops";
 *  - clformer/files.h — @ref files ".npy and safetensors files" (host
 *    only: no context needed);
 *  - clformer/models.h — @ref models "models and tokenizers": the encoder,
 *    BERT models, the WordPiece tokenizer;
 *  - clformer/parallel.h — @ref parallel "several devices": device groups
 *    and tensor parallelism;
 *  - clformer/opencl.h — @ref opencl "OpenCL interoperation": a context
 *    over a caller's OpenCL context and queue, a tensor over a caller's
 *    buffer. Not included here: it needs OpenCL's headers.
 *
 * Conventions:
 *  - every object is opaque and created/destroyed in pairs;
 *  - every fallible call returns enum clf_status (CLF_OK == 0); the detailed
 *    message of the last failure is kept on the context (clf_ctx_last_error);
 *  - the library never exits or aborts on user or device errors;
 *  - a context and everything made from it (tensors, graphs) must be used by
 *    one thread at a time; distinct contexts may be used from distinct threads.
 */
#ifndef CLFORMER_H
#define CLFORMER_H

#include "clformer/core.h"
#include "clformer/ops.h"
#include "clformer/files.h"
#include "clformer/models.h"
#include "clformer/parallel.h"

#endif /* CLFORMER_H */
