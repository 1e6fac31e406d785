/* cblas.h (portable build) - the two CBLAS entry points edgebert uses, for
 * builds without OpenBLAS (make NOBLAS=1, EB_MINIMAL=1).  Implemented in
 * src/kernels/portable_blas.c.  Only on the include path when EB_NO_BLAS is
 * defined, so the real <cblas.h> is used otherwise. */
#ifndef EB_PORTABLE_CBLAS_H
#define EB_PORTABLE_CBLAS_H

enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 };

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M,
                 int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
void cblas_dgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M,
                 int N, int K, double alpha, const double *A, int lda, const double *B, int ldb,
                 double beta, double *C, int ldc);

#endif
