/* backward.h - fp32 backward kernels of ALBERT, as plain functions (llm.c style).
 *
 * Shape legend as in kernels.h: N = tokens, C = input features, OC = output
 * features, NH = heads, HS = head size, H = NH*HS, V = vocabulary rows,
 * E = embedding size, K = classes.  Outputs come first.  Every gradient
 * output ACCUMULATES (+=) so that a shared layer applied several times, or a
 * tensor read by several consumers, sums its gradients; callers zero the
 * buffers once per step.  A NULL gradient output is skipped. */
#ifndef EB_KERNELS_BACKWARD_H
#define EB_KERNELS_BACKWARD_H

#include <stddef.h>
#include <stdint.h>

/* Forward: out[N,OC] = inp[N,C] @ w[OC,C]^T + bias[OC].
 * dinp[N,C] += dout @ w;  dweight[OC,C] += dout^T @ inp;  dbias[OC] += sum_n dout. */
void eb_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int C, int OC);

/* Forward: out[N,C] = (inp - mean) * rstd * g + b (per row).
 * dinp[N,C], dg[C], db[C] += ...; inp is the forward INPUT (mean and rstd
 * are recomputed from it). */
void eb_layernorm_backward(float *dinp, float *dg, float *db, const float *dout, const float *inp,
                           const float *g, int N, int C, float eps);

/* Element-wise activations: dinp[n] += dout[n] * f'(inp[n]); inp = forward input. */
/* dinp += dout * gelu_new'(inp); AVX-512 when the CPU has it (fast.c), else the scalar _ref */
void eb_gelu_new_backward(float *dinp, const float *dout, const float *inp, size_t n);
void eb_gelu_new_backward_ref(float *dinp, const float *dout, const float *inp, size_t n);
void eb_gelu_erf_backward(float *dinp, const float *dout, const float *inp, size_t n);
void eb_relu_backward(float *dinp, const float *dout, const float *inp, size_t n);
/* tanh from its OUTPUT y = tanh(x): dinp += dout * (1 - y^2). */
void eb_tanh_backward(float *dinp, const float *dout, const float *out, size_t n);

/* Span mask derivative dm/dz at distance x for m(x) = clamp((R+z-x)/R, 0, 1):
 * 1/R strictly inside the ramp (0 < (R+z-x)/R < 1), else 0. */
float eb_span_mask_dz(float z, float R, int x);

/* Backward of eb_attention (one sequence of N tokens; same arguments):
 *  dq, dk, dv[N,H] += ...; dspan_z[NH] += dL/dz (may be NULL; only with span_z)
 *  scratch[2*N*N] work space
 *  dout[N,H] gradient of the context; q, k, v[N,H] forward inputs.
 * The probabilities are recomputed from q and k: P = softmax(QK^T/sqrt(HS)
 * over valid keys), A = P * m(|i-j|) (mask multiplied in, no
 * renormalisation), out = A V.  Skipped heads (head_on 0 or span off) get
 * no gradient. */
void eb_attention_backward(float *dq, float *dk, float *dv, float *dspan_z, float *scratch,
                           const float *dout, const float *q, const float *k, const float *v, int N,
                           int NH, int HS, const uint8_t *key_valid, const float *span_z,
                           float span_ramp, const uint8_t *head_on);

/* Softmax cross-entropy of one example: returns -log softmax(logits)[label]
 * and, when dlogits is not NULL, dlogits[K] += scale * (softmax - onehot). */
float eb_xent_backward(float *dlogits, const float *logits, int K, int label, float scale);

/* Squared error 0.5*(y - target)^2 of a regression output (K = 1):
 * returns the loss, dy += scale * (y - target). */
float eb_mse_backward(float *dy, float y, float target, float scale);

/* Knowledge distillation of one example, student logits s[K], teacher t[K]:
 *   loss = a_distil * KL(softmax(t/T) || softmax(s/T)) * T^2 + a_ce * CE(s, label)
 * (label < 0: no CE term).  Returns the loss; ds[K] += scale * dloss/ds,
 * which is a_distil*T*(softmax(s/T) - softmax(t/T)) + a_ce*(softmax(s) - onehot). */
float eb_kd_backward(float *ds, const float *s, const float *t, int K, int label, float T,
                     float a_distil, float a_ce, float scale);

/* Embedding lookup backward: dtable[ids[i], :] += dout[i, :] for i < N. */
void eb_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int E);

#endif
