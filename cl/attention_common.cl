/*
 * Shared by cl/attention.cl and cl/attention_sparse.cl (spliced in by the
 * host in place of their include line): the vector width and
 * queries-per-item defines of the CPU kernels and the unrolling helpers.
 *   VW  float lanes per vector (8 or 16): queries per vector
 *   QV  vectors of queries per work-item (1 or 2); QB = QV * VW queries
 */
#ifndef VW
#define VW 16
#endif
#ifndef QV
#define QV 2
#endif

#define QB (QV * VW)

#if VW == 8
#define VEC float8
#define VECI int8
#define VLOAD vload8
#define VSTORE vstore8
#define IOTA ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#elif VW == 16
#define VEC float16
#define VECI int16
#define VLOAD vload16
#define VSTORE vstore16
#define IOTA ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#else
#error "VW must be 8 or 16"
#endif

/* Unrolled lists: X(0) ... X(n-1). */
#define ATT_L1(X) X(0)
#define ATT_L2(X) ATT_L1(X) X(1)
#define ATT_L3(X) ATT_L2(X) X(2)
#define ATT_L4(X) ATT_L3(X) X(3)
#define ATT_L5(X) ATT_L4(X) X(4)
#define ATT_L6(X) ATT_L5(X) X(5)
#define ATT_L7(X) ATT_L6(X) X(6)
#define ATT_L8(X) ATT_L7(X) X(7)
#define ATT_L9(X) ATT_L8(X) X(8)
#define ATT_L10(X) ATT_L9(X) X(9)
#define ATT_L11(X) ATT_L10(X) X(10)
#define ATT_L12(X) ATT_L11(X) X(11)
#define ATT_L13(X) ATT_L12(X) X(12)
#define ATT_L14(X) ATT_L13(X) X(13)
#define ATT_L15(X) ATT_L14(X) X(14)
#define ATT_L16(X) ATT_L15(X) X(15)
#define ATT_LIST_(n, X) ATT_L##n(X)
#define ATT_LIST(n, X) ATT_LIST_(n, X)

/* Y(a, 0) ... Y(a, QV-1) */
#if QV == 1
#define QVS(Y, a) Y(a, 0)
#elif QV == 2
#define QVS(Y, a) Y(a, 0) Y(a, 1)
#else
#error "QV must be 1 or 2"
#endif
