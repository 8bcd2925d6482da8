#ifndef FLEDGE_KERNELS_H
#define FLEDGE_KERNELS_H
// C kernels of Fledge that need instruction sets beyond the Swift build's x86-64-v3 (chosen at
// run time with cpuid) or a C library loaded at run time (oneDNN).
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CPU features, from cpuid (0 on other architectures).
int fledge_cpu_has_avx512f(void);
int fledge_cpu_has_avx512_bf16(void);

/// fp32 → bf16 with round-to-nearest-even (NaN stays NaN), `count` values.
void fledge_f32_to_bf16(const float *source, uint16_t *destination, size_t count);
/// bf16 → fp32 (exact).
void fledge_bf16_to_f32(const uint16_t *source, float *destination, size_t count);
/// The instruction set the conversion uses ("avx512bf16", "avx512f", "portable").
const char *fledge_bf16_convert_isa(void);

/// Loads oneDNN (libdnnl.so.2) and creates its CPU engine. Returns 0 on success; otherwise a
/// message is available from fledge_dnnl_error(). Safe to call more than once.
int fledge_dnnl_load(void);
const char *fledge_dnnl_error(void);
/// oneDNN's version ("2.6.3") and the best instruction set it uses on this CPU.
const char *fledge_dnnl_version(void);
const char *fledge_dnnl_isa(void);
/// The number of threads oneDNN's parallel regions use (OpenMP).
void fledge_dnnl_set_threads(int threads);

/// C[m,n] = op(A)·op(B) + beta·C with bf16 A and B and fp32 C, row-major; op(A) is [m,k]
/// (A stored [m,k] with row stride lda, or [k,m] when trans_a), op(B) is [k,n] (B stored
/// [k,n], or [n,k] when trans_b). beta must be 0 or 1. Primitives are created once per shape
/// and kept (bounded cache). Returns 0 on success.
int fledge_dnnl_gemm_bf16(
    int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t lda,
    const uint16_t *b, int64_t ldb, float beta, float *c, int64_t ldc);
/// The implementation oneDNN chose for the last created primitive (e.g. "brg:avx512_core_bf16").
const char *fledge_dnnl_last_impl(void);
/// The number of primitives created so far (cache misses).
int64_t fledge_dnnl_primitives_created(void);

/// Integer products of quantised weights with 8-bit activations (ggml's block layouts, 32
/// values per block). Activations: `fledge_quantize_q8` rounds each block of 32 floats to int8
/// with d = max|x|/127 (q = x/d rounded to nearest even) and records s = d·Σq (ggml's Q8_1).
///   Q8_0 weights: Σ_blocks (d_w·d_a)·Σ q_w·q_a
///   Q4_1 weights (nibbles, value j low / j+16 high, x = q·d + m): Σ (d_w·d_a)·Σ q_w·q_a + m_w·s_a
/// Each block gives 8 exact int32 lane sums (4 products each), accumulated by fma into 16 float
/// lanes (even blocks 0–7, odd blocks 8–15) that are summed in one fixed order at the end; every
/// instruction-set variant performs exactly these operations, so all give the same bits, and an
/// output depends only on its own weight row and activation row.
///   Q8_16 weights (int8 values with a scale per 16, e.g. Q6_K's): as Q8_0 with d_w of the half
enum { FLEDGE_Q4_1 = 0, FLEDGE_Q8_0 = 1, FLEDGE_Q8_16 = 2 };
typedef struct fledge_qmatrix {
    int format;              // FLEDGE_Q4_1, FLEDGE_Q8_0 or FLEDGE_Q8_16
    size_t blocks;           // blocks per row
    const void *quants;      // per block 16 bytes of nibbles (Q4_1) or 32 int8 (Q8_0, Q8_16), row-major
    const float *scales;     // per block d (Q8_16: two, for values 0–15 and 16–31)
    const float *minimums;   // per block m (Q4_1)
} fledge_qmatrix;
typedef struct fledge_qactivations {
    const int8_t *quants;    // rows × blocks × 32
    const float *scales;     // rows × blocks: d
    const float *sums;       // rows × blocks: s = d·Σq
} fledge_qactivations;
void fledge_quantize_q8(const float *x, size_t blocks, int8_t *q, float *d, float *s);
/// out[r · ldo + c] (= or +=) row c of `w` · activation row r, for c in [first, end), r < rows.
void fledge_qmatmul(const fledge_qmatrix *w, size_t first, size_t end, const fledge_qactivations *a, size_t rows,
                    float *out, size_t ldo, int accumulate);
/// The instruction set the integer products use ("avx512vnni", "avx512bw", "avx2", "portable");
/// `force` 0–3 selects portable / avx2 / avx512bw / avx512vnni for tests and benchmarks (the
/// best the CPU has when it lacks the one asked for), -1 = best. Returns the variant used.
const char *fledge_quant_isa(void);
int fledge_quant_force(int variant);

/// A persistent worker pool for short parallel regions: `fledge_pool_run` runs fn(context, w)
/// for w = 0 … workers-1, w = 0 on the calling thread, the others on pool threads that spin
/// for a while after each region (FLEDGE_SPIN_US microseconds, default 100) and then park on
/// a futex, so back-to-back regions (a decode step has hundreds) start without a wake-up.
/// Returns 0 without running anything when it cannot run in parallel (one worker, called from
/// inside a region, or while another thread's region holds the pool): the caller then runs
/// the work itself, so regions never nest and concurrent callers never wait on each other.
typedef void (*fledge_pool_fn)(void *context, size_t worker);
int fledge_pool_run(size_t workers, fledge_pool_fn fn, void *context);
int fledge_pool_in_region(void);

#ifdef __cplusplus
}
#endif
#endif
