/* portable_blas.c - a small, dependency-free GEMM behind the CBLAS names, for
 * builds without OpenBLAS (EB_NO_BLAS: make NOBLAS=1 or EB_MINIMAL=1).  Row
 * major is mapped onto column major by swapping the operands, as CBLAS
 * defines it.  The inner products go through the dispatched dot product (src/kernels/neon.h:
 * NEON on aarch64, scalar elsewhere) when B is transposed, the layout of
 * every Linear (y = x W^T). */
#ifdef EB_NO_BLAS
#include <stddef.h>

#include "kernels/neon.h"
#include "kernels/noblas/cblas.h"

/* Column-major C[M,N] = alpha op(A) op(B) + beta C. */
#define EB_GEMM_BODY(T)                                                                            \
    for (int j = 0; j < N; j++) {                                                                  \
        for (int i = 0; i < M; i++) {                                                              \
            T acc = 0;                                                                             \
            for (int p = 0; p < K; p++) {                                                          \
                T a = ta ? A[p + (size_t)i * lda] : A[i + (size_t)p * lda];                        \
                T b = tb ? B[j + (size_t)p * ldb] : B[p + (size_t)j * ldb];                        \
                acc += a * b;                                                                      \
            }                                                                                      \
            T *c = &C[i + (size_t)j * ldc];                                                        \
            *c = (beta == 0 ? 0 : beta * *c) + alpha * acc;                                        \
        }                                                                                          \
    }

static void sgemm_cm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    if (ta && !tb) { /* both operands walk contiguous memory: a dot product */
        eb_simd_ops ops = eb_simd_ops_best();
        for (int j = 0; j < N; j++)
            for (int i = 0; i < M; i++) {
                float acc = ops.dot_f32(A + (size_t)i * lda, B + (size_t)j * ldb, (size_t)K);
                float *c = &C[i + (size_t)j * ldc];
                *c = (beta == 0 ? 0 : beta * *c) + alpha * acc;
            }
        return;
    }
    EB_GEMM_BODY(float)
}

static void dgemm_cm(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda,
                     const double *B, int ldb, double beta, double *C, int ldc) {
    EB_GEMM_BODY(double)
}

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M,
                 int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    int tA = ta != CblasNoTrans, tB = tb != CblasNoTrans;
    if (order == CblasColMajor)
        sgemm_cm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        sgemm_cm(tB, tA, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc); /* C^T = B^T A^T */
}

void cblas_dgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M,
                 int N, int K, double alpha, const double *A, int lda, const double *B, int ldb,
                 double beta, double *C, int ldc) {
    int tA = ta != CblasNoTrans, tB = tb != CblasNoTrans;
    if (order == CblasColMajor)
        dgemm_cm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        dgemm_cm(tB, tA, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc);
}
#else
typedef int eb_portable_blas_unused; /* ISO C: a translation unit is not empty */
#endif
