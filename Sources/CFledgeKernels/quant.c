// Integer products of ggml weight blocks with 8-bit activation blocks (see fledge_kernels.h).
#include "fledge_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

// The arithmetic every variant performs for one output (weight row c, activation row r), B
// blocks; this order is the definition, and the SIMD variants only do it for many lanes at once:
//   for b in 0..<B:
//     S[l]  = Σ_{j=4l..4l+3} qw_j·qa_j              (exact int32; lanes of vpdpbusd / maddubs+madd)
//     scale = dw[b]·da[b]                            (one float multiplication; Q8_16: lanes 0–3
//                                                    take dw[2b]·da[b], lanes 4–7 dw[2b+1]·da[b])
//     acc[8·(b&1) + l] = fma(scale, float(S[l]), acc[8·(b&1) + l])        l = 0…7
//     low[b mod 16] = fma(mw[b], sa[b], low[b mod 16])                     (Q4_1 minimums)
//   result = total(acc) + total(low),  total(v) = tree(v[l] + v[8 + l]),
//   tree(t) = ((t0 + t4) + (t2 + t6)) + ((t1 + t5) + (t3 + t7))
// Even blocks fill lanes 0–7 and odd blocks 8–15, which is what one 512-bit register holding
// two blocks computes; the 256-bit variant keeps the two halves in two registers.

static inline float tree8(const float *t) { return ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7])); }

static inline float total16(const float *v) {
    float t[8];
    for (int l = 0; l < 8; l++) t[l] = v[l] + v[8 + l];
    return tree8(t);
}

static inline void store(float *target, float value, int accumulate) { *target = accumulate ? *target + value : value; }

// --- activations ----------------------------------------------------------------------------
// d = max|x|/127, q = x·(1/d) rounded to nearest even, s = d·Σq.

static void quantize_portable(const float *x, size_t blocks, int8_t *q, float *d, float *s) {
    for (size_t b = 0; b < blocks; b++) {
        const float *v = x + b * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(v[j]));
        const float scale = amax / 127.0f, inverse = scale != 0 ? 1.0f / scale : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const int value = (int)nearbyintf(v[j] * inverse);
            q[b * 32 + j] = (int8_t)value;
            sum += value;
        }
        d[b] = scale;
        s[b] = scale * (float)sum;
    }
}

// --- portable products ----------------------------------------------------------------------

static float dot_portable(const fledge_qmatrix *w, size_t c, const fledge_qactivations *a, size_t r) {
    const size_t B = w->blocks;
    const int halves = w->format == FLEDGE_Q8_16;  // a scale per 16 values
    const float *dw = w->scales + c * B * (halves ? 2 : 1), *mw = w->minimums + c * B;
    const float *da = a->scales + r * B, *sa = a->sums + r * B;
    const int8_t *qa = a->quants + r * B * 32;
    float acc[16] = {0}, low[16] = {0};
    for (size_t b = 0; b < B; b++) {
        int S[8] = {0};
        if (w->format == FLEDGE_Q4_1) {
            const uint8_t *qw = (const uint8_t *)w->quants + (c * B + b) * 16;
            for (int j = 0; j < 32; j++) {
                const int value = j < 16 ? (qw[j] & 15) : (qw[j - 16] >> 4);
                S[j / 4] += value * (int)qa[b * 32 + j];
            }
        } else {
            const int8_t *qw = (const int8_t *)w->quants + (c * B + b) * 32;
            for (int j = 0; j < 32; j++) S[j / 4] += (int)qw[j] * (int)qa[b * 32 + j];
        }
        const float scale = halves ? dw[2 * b] * da[b] : dw[b] * da[b];
        const float upper = halves ? dw[2 * b + 1] * da[b] : scale;
        for (int l = 0; l < 8; l++)
            acc[8 * (b & 1) + l] = fmaf(l < 4 ? scale : upper, (float)S[l], acc[8 * (b & 1) + l]);
        if (w->format == FLEDGE_Q4_1) low[b % 16] = fmaf(mw[b], sa[b], low[b % 16]);
    }
    const float value = total16(acc);
    return w->format == FLEDGE_Q4_1 ? value + total16(low) : value;
}

static void matmul_portable(const fledge_qmatrix *w, size_t first, size_t end, const fledge_qactivations *a,
                            size_t rows, float *out, size_t ldo, int accumulate) {
    for (size_t c = first; c < end; c++)
        for (size_t r = 0; r < rows; r++) store(out + r * ldo + c, dot_portable(w, c, a, r), accumulate);
}

#if defined(__x86_64__)
// --- AVX2 (256-bit: one block per step, even/odd blocks in two accumulators) ------------------

#define T_AVX2 "avx2,fma"

__attribute__((target(T_AVX2))) static inline float tree_avx2(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // t_l + t_{l+4}
    x = _mm_add_ps(x, _mm_shuffle_ps(x, x, 0x4E));                                  // + lane l^2
    x = _mm_add_ps(x, _mm_shuffle_ps(x, x, 0xB1));                                  // + lane l^1
    return _mm_cvtss_f32(x);
}

__attribute__((target(T_AVX2))) static void quantize_avx2(const float *x, size_t blocks, int8_t *q, float *d,
                                                          float *s) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t b = 0; b < blocks; b++) {
        const float *v = x + b * 32;
        __m256 p[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) p[i] = _mm256_loadu_ps(v + 8 * i), m = _mm256_max_ps(m, _mm256_andnot_ps(sign, p[i]));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        const float scale = amax / 127.0f, inverse = scale != 0 ? 1.0f / scale : 0.0f;
        const __m256 iv = _mm256_set1_ps(inverse);
        __m256i n[4], total = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            n[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(p[i], iv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            total = _mm256_add_epi32(total, n[i]);
        }
        // int32 → int8 keeping order (packs interleave 128-bit lanes; the permute undoes it).
        const __m256i w01 = _mm256_packs_epi32(n[0], n[1]), w23 = _mm256_packs_epi32(n[2], n[3]);
        const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w01, w23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + b * 32), bytes);
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        d[b] = scale;
        s[b] = scale * (float)_mm_cvtsi128_si32(t);
    }
}

__attribute__((target(T_AVX2))) static inline __m256i nibbles_avx2(const uint8_t *w) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)w);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(15));  // values 0–15 low lane, 16–31 high lane
}

// Q4_1 minimum lanes for blocks b0 … b0+15 (fewer at the end): low[k] += mw·sa lane by lane.
__attribute__((target(T_AVX2))) static inline void minimums_avx2(__m256 *low, const float *mw, const float *sa,
                                                                 size_t count) {
    for (int h = 0; h < 2; h++) {
        const int have = (int)count - 8 * h;
        if (have <= 0) break;
        if (have >= 8) {
            low[h] = _mm256_fmadd_ps(_mm256_loadu_ps(mw + 8 * h), _mm256_loadu_ps(sa + 8 * h), low[h]);
        } else {
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(have), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            const __m256 sum = _mm256_fmadd_ps(_mm256_maskload_ps(mw + 8 * h, mask), _mm256_maskload_ps(sa + 8 * h, mask), low[h]);
            low[h] = _mm256_blendv_ps(low[h], sum, _mm256_castsi256_ps(mask));
        }
    }
}

#define ROWS 4

// One weight row against up to 4 activation rows (a constant after inlining, so the
// accumulators stay in registers). The weights are unpacked once per block.
__attribute__((target(T_AVX2), always_inline)) static inline void rows_avx2(const fledge_qmatrix *w, size_t c, const fledge_qactivations *a,
                                                      size_t r0, size_t rows, float *out, size_t ldo, int accumulate) {
    const size_t B = w->blocks;
    const int q4 = w->format == FLEDGE_Q4_1, halves = w->format == FLEDGE_Q8_16;
    const float *dw = w->scales + c * B * (halves ? 2 : 1), *mw = w->minimums + c * B;
    __m256 even[ROWS], odd[ROWS], low[ROWS][2];
    for (size_t r = 0; r < rows; r++) even[r] = odd[r] = low[r][0] = low[r][1] = _mm256_setzero_ps();
    for (size_t b = 0; b < B; b++) {
        __m256i u;
        __m256i sw = _mm256_setzero_si256();
        if (q4) {
            u = nibbles_avx2((const uint8_t *)w->quants + (c * B + b) * 16);
        } else {
            sw = _mm256_loadu_si256((const __m256i *)((const int8_t *)w->quants + (c * B + b) * 32));
            u = _mm256_sign_epi8(sw, sw);  // |w|; the activations take w's sign
        }
        for (size_t r = 0; r < rows; r++) {
            const size_t ar = (r0 + r) * B + b;
            __m256i qa = _mm256_loadu_si256((const __m256i *)(a->quants + ar * 32));
            if (!q4) qa = _mm256_sign_epi8(qa, sw);
            const __m256i S = _mm256_madd_epi16(_mm256_maddubs_epi16(u, qa), _mm256_set1_epi16(1));
            const __m256 scale =
                halves ? _mm256_set_m128(_mm_set1_ps(dw[2 * b + 1] * a->scales[ar]), _mm_set1_ps(dw[2 * b] * a->scales[ar]))
                       : _mm256_set1_ps(dw[b] * a->scales[ar]);
            if (b & 1) odd[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(S), odd[r]);
            else even[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(S), even[r]);
        }
        if (q4 && (b % 16 == 15 || b == B - 1)) {
            const size_t b0 = b - b % 16;
            for (size_t r = 0; r < rows; r++) minimums_avx2(low[r], mw + b0, a->sums + (r0 + r) * B + b0, b - b0 + 1);
        }
    }
    for (size_t r = 0; r < rows; r++) {
        float value = tree_avx2(_mm256_add_ps(even[r], odd[r]));
        if (q4) value = value + tree_avx2(_mm256_add_ps(low[r][0], low[r][1]));
        store(out + (r0 + r) * ldo + c, value, accumulate);
    }
}

__attribute__((target(T_AVX2))) static void matmul_avx2(const fledge_qmatrix *w, size_t first, size_t end,
                                                        const fledge_qactivations *a, size_t rows, float *out,
                                                        size_t ldo, int accumulate) {
    for (size_t c = first; c < end; c++)
        for (size_t r0 = 0; r0 < rows; r0 += ROWS) switch (rows - r0) {
            case 1: rows_avx2(w, c, a, r0, 1, out, ldo, accumulate); break;
            case 2: rows_avx2(w, c, a, r0, 2, out, ldo, accumulate); break;
            case 3: rows_avx2(w, c, a, r0, 3, out, ldo, accumulate); break;
            default: rows_avx2(w, c, a, r0, 4, out, ldo, accumulate); break;
            }
}

// --- AVX-512 (512-bit: two blocks per step, two weight rows × up to 4 activation rows) --------
// VNNI sums with one vpdpbusd; AVX-512BW with maddubs + madd (the same lane grouping).

#define T_BW "avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"
#define T_VNNI T_BW ",avx512vnni"

__attribute__((target(T_BW))) static inline __m512i lanes_bw(__m512i u, __m512i s) {
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
}

__attribute__((target(T_VNNI))) static inline __m512i lanes_vnni(__m512i u, __m512i s) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
}

// Blocks b, b+1 (or b alone when `pair` is 0) of a Q4_1 row as 64 values 0–15.
__attribute__((target(T_BW))) static inline __m512i nibbles_512(const uint8_t *q, int pair) {
    const __m256i v = pair ? _mm256_loadu_si256((const __m256i *)q)
                           : _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)q));
    // 128-bit chunks [lo b, lo b+1, hi b, hi b+1] → [lo b, hi b, lo b+1, hi b+1]
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
    z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
    return _mm512_and_si512(z, _mm512_set1_epi8(15));
}

#define COLUMNS 2

// The Q4_1 minimum terms of one output, 16 blocks per step (lane k takes blocks ≡ k mod 16).
__attribute__((target(T_BW))) static inline float minimums_512(const float *mw, const float *sa, size_t B) {
    __m512 low = _mm512_setzero_ps();
    for (size_t b = 0; b < B; b += 16) {
        const __mmask16 m = (__mmask16)(B - b >= 16 ? 0xFFFF : (1u << (B - b)) - 1);
        low = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m, mw + b), _mm512_maskz_loadu_ps(m, sa + b), low, m);
    }
    return tree_avx2(_mm256_add_ps(_mm512_castps512_ps256(low), _mm512_extractf32x8_ps(low, 1)));
}

#define NAME bw
#define TARGET T_BW
#define LANES lanes_bw
#include "quant_avx512.h"
#define NAME vnni
#define TARGET T_VNNI
#define LANES lanes_vnni
#include "quant_avx512.h"

static int has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 12))) return 0;  // FMA
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 5));
}

static int has_avx512bw(void) {
    unsigned a, b, c, d;
    if (!has_avx2() || !fledge_cpu_has_avx512f() || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & (1u << 30)) && (b & (1u << 31)) && (b & (1u << 17));  // AVX512BW, AVX512VL, AVX512DQ
}

static int has_vnni(void) {
    unsigned a, b, c, d;
    return has_avx512bw() && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 11));
}
#endif

typedef void (*matmul_fn)(const fledge_qmatrix *, size_t, size_t, const fledge_qactivations *, size_t, float *, size_t,
                          int);
typedef void (*quantize_fn)(const float *, size_t, int8_t *, float *, float *);
static matmul_fn chosen_matmul = matmul_portable;
static quantize_fn chosen_quantize = quantize_portable;
static const char *chosen_name = "portable";
static int chosen_ready;

int fledge_quant_force(int variant) {
    int best = 0;
#if defined(__x86_64__)
    best = has_vnni() ? 3 : has_avx512bw() ? 2 : has_avx2() ? 1 : 0;
#endif
    const int use = variant < 0 || variant > best ? best : variant;
    chosen_matmul = matmul_portable, chosen_quantize = quantize_portable, chosen_name = "portable";
#if defined(__x86_64__)
    if (use >= 1) chosen_quantize = quantize_avx2;
    if (use == 1) chosen_matmul = matmul_avx2, chosen_name = "avx2";
    if (use == 2) chosen_matmul = matmul_bw, chosen_name = "avx512bw";
    if (use == 3) chosen_matmul = matmul_vnni, chosen_name = "avx512vnni";
#endif
    chosen_ready = 1;
    return use;
}

const char *fledge_quant_isa(void) {
    if (!chosen_ready) fledge_quant_force(-1);
    return chosen_name;
}

void fledge_quantize_q8(const float *x, size_t blocks, int8_t *q, float *d, float *s) {
    if (!chosen_ready) fledge_quant_force(-1);
    chosen_quantize(x, blocks, q, d, s);
}

void fledge_qmatmul(const fledge_qmatrix *w, size_t first, size_t end, const fledge_qactivations *a, size_t rows,
                    float *out, size_t ldo, int accumulate) {
    if (!chosen_ready) fledge_quant_force(-1);
    if (first < end && rows > 0) chosen_matmul(w, first, end, a, rows, out, ldo, accumulate);
}
