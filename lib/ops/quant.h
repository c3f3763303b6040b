/*
 * Quantisation helpers internal to the library (lib/ops/quant.c, cl/quant.cl)
 * besides the public clf_op_quantize and clf_op_dequantize. Not installed.
 */
#ifndef CLF_OPS_QUANT_H
#define CLF_OPS_QUANT_H

#include "ops.h"

/*
 * Symmetric int8 codes of x f32 [batch, seq, n] (any strides) with one
 * scale per sequence and column over that sequence's unpadded tokens
 * (key_padding i32 [batch, seq], nonzero = padded, or NULL): the K and V
 * of CLF_KV_INT8_CHANNEL, so that a sequence's codes never depend on its
 * batch-mates or on how far it is padded. The scales and codes are those
 * clf_op_quantize (CLF_QUANT_COLUMN) gives each sequence's unpadded rows
 * alone; padded tokens get codes too, under their sequence's scales. *q
 * receives i8 [batch, seq, n] dense, *scale f32 [batch, n] dense (both
 * graph-owned). One work-item per sequence and 8 columns, on every device.
 */
enum clf_status clf_quantize_seq_columns(struct clf_graph *g, struct clf_tensor *x,
                                         struct clf_tensor *key_padding, struct clf_tensor **q,
                                         struct clf_tensor **scale);

#endif
