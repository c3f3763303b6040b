/*
 * Strided copy of any dtype, moved as raw 1-, 2- or 4-byte words (f16 is
 * copied as its bits). dst[dst_off + ...] = src[src_off + ...] for every
 * element of `shape`; both sides address a 4-D layout:
 *   src, dst    buffers of elements of the word size
 *   *_off       element offset, *_str strides in elements (long4, outermost .s0)
 *   shape       [d0, d1, d2, d3], global size = d0*d1*d2*d3
 */
#define CLF_COPY_KERNEL(NAME, T)                                                          \
    __kernel void NAME(__global const T *src, long src_off, long4 src_str,                \
                       __global T *dst, long dst_off, long4 dst_str, long4 shape)         \
    {                                                                                     \
        long gid = (long)get_global_id(0);                                                \
        if (gid >= clf_numel4(shape))                                                     \
            return;                                                                       \
        dst[clf_offset4(gid, shape, dst_str, dst_off)] =                                  \
            src[clf_offset4(gid, shape, src_str, src_off)];                               \
    }

CLF_COPY_KERNEL(copy_u8, uchar)
CLF_COPY_KERNEL(copy_u16, ushort)
CLF_COPY_KERNEL(copy_u32, uint)
