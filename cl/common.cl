/*
 * Prepended by the host to every program. Build options always define:
 *   CLF_HAS_FP16, CLF_HAS_FP64, CLF_HAS_SUBGROUPS, CLF_HAS_INT_DOT (0/1):
 *     optional device features, probed at run time;
 *   CLF_DEVICE_CPU (0/1): the device is a CPU (PoCL and the like).
 * Portability floor: OpenCL C 1.2.
 */

/*
 * Element offset of the gid-th element (row-major order over `shape`) of a
 * strided 4-D tensor. shape and strides are in elements, outermost first
 * (.s0); tensors with fewer dimensions are padded in front with size 1.
 */
long clf_offset4(long gid, long4 shape, long4 strides, long offset)
{
    long i3 = gid % shape.s3;
    gid /= shape.s3;
    long i2 = gid % shape.s2;
    gid /= shape.s2;
    long i1 = gid % shape.s1;
    long i0 = gid / shape.s1;
    return offset + i0 * strides.s0 + i1 * strides.s1 + i2 * strides.s2 + i3 * strides.s3;
}
