// Integer dot products of ggml weight blocks with 8-bit activation blocks (see fledge_kernels.h).
#include "fledge_kernels.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

void fledge_quantize_q8(const float *x, size_t blocks, int8_t *q, float *d, float *s) {
    for (size_t b = 0; b < blocks; b++) {
        const float *v = x + b * 32;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(v[j]));
        const float scale = amax / 127.0f, inverse = scale != 0 ? 1.0f / scale : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const int value = (int)roundf(v[j] * inverse);
            q[b * 32 + j] = (int8_t)value;
            sum += value;
        }
        d[b] = scale;
        s[b] = scale * (float)sum;
    }
}

// Every variant computes, per block, 8 exact int32 lane sums (lane l = Σ_{j=4l..4l+3} w_j·a_j,
// the grouping of vpdpbusd and of maddubs + madd), adds (d_w·d_a)·lane to 8 float lanes, and
// at the end sums the lanes as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)) plus the Q4_1 minimum terms
// summed in block order. Same operations, same order: the same bits everywhere.

static inline float lanes_total(const float *l) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }

// --- portable --------------------------------------------------------------------------------
static void dot_q8_portable(const int8_t *wq, const float *wd, const int8_t *aq, const float *ad, size_t blocks,
                            size_t rows, size_t row_stride, float *out) {
    for (size_t r = 0; r < rows; r++) {
        const int8_t *a = aq + r * row_stride * 32;
        const float *d = ad + r * row_stride;
        float lanes[8] = {0};
        for (size_t b = 0; b < blocks; b++) {
            const float scale = wd[b] * d[b];
            for (int l = 0; l < 8; l++) {
                int sum = 0;
                for (int j = 4 * l; j < 4 * l + 4; j++) sum += (int)wq[b * 32 + j] * (int)a[b * 32 + j];
                lanes[l] = lanes[l] + scale * (float)sum;
            }
        }
        out[r] = lanes_total(lanes);
    }
}

static void dot_q4_portable(const uint8_t *wq, const float *wd, const float *wm, const int8_t *aq, const float *ad,
                            const float *as, size_t blocks, size_t rows, size_t row_stride, float *out) {
    for (size_t r = 0; r < rows; r++) {
        const int8_t *a = aq + r * row_stride * 32;
        const float *d = ad + r * row_stride, *s = as + r * row_stride;
        float lanes[8] = {0}, minimum = 0;
        for (size_t b = 0; b < blocks; b++) {
            const float scale = wd[b] * d[b];
            for (int l = 0; l < 8; l++) {
                int sum = 0;
                for (int j = 4 * l; j < 4 * l + 4; j++) {
                    const int w = j < 16 ? (wq[b * 16 + j] & 15) : (wq[b * 16 + j - 16] >> 4);
                    sum += w * (int)a[b * 32 + j];
                }
                lanes[l] = lanes[l] + scale * (float)sum;
            }
            minimum = minimum + wm[b] * s[b];
        }
        out[r] = lanes_total(lanes) + minimum;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static inline float total_avx2(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l_i + l_{i+4}
    x = _mm_add_ps(x, _mm_shuffle_ps(x, x, 0x4E));                                  // + lane i^2
    x = _mm_add_ps(x, _mm_shuffle_ps(x, x, 0xB1));                                  // + lane i^1
    return _mm_cvtss_f32(x);
}

__attribute__((target("avx2"))) static inline __m256i nibbles_avx2(const uint8_t *w) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)w);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(15));  // values 0–15 low lane, 16–31 high lane
}

// Up to 4 activation rows share each loaded weight block.
#define ROWS_MAX 4

// The 8 int32 lane sums of a block, u8 weights × s8 activations: maddubs + madd (AVX2) or one
// vpdpbusd (AVX-512 VNNI); both group products 4l…4l+3 into lane l.
__attribute__((target("avx2"))) static inline __m256i lanes_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) static inline __m256i lanes_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

// One pair of dot products (Q8_0, Q4_1) per instruction set; they differ only in LANES.
#define DEFINE_DOTS(NAME, TARGET, LANES)                                                                          \
    __attribute__((target(TARGET))) static void dot_q8_##NAME(const int8_t *wq, const float *wd, const int8_t *aq, \
                                                               const float *ad, size_t blocks, size_t rows,        \
                                                               size_t row_stride, float *out) {                    \
        __m256 acc[ROWS_MAX];                                                                                     \
        for (size_t r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();                                           \
        for (size_t b = 0; b < blocks; b++) {                                                                     \
            const __m256i w = _mm256_loadu_si256((const __m256i *)(wq + b * 32));                                 \
            const __m256i magnitude = _mm256_sign_epi8(w, w); /* |w| · (a with w's sign) = w · a */               \
            for (size_t r = 0; r < rows; r++) {                                                                   \
                const __m256i a = _mm256_loadu_si256((const __m256i *)(aq + (r * row_stride + b) * 32));          \
                const __m256i sums = LANES(magnitude, _mm256_sign_epi8(a, w));                                    \
                const __m256 scale = _mm256_set1_ps(wd[b] * ad[r * row_stride + b]);                              \
                acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sums)));                   \
            }                                                                                                     \
        }                                                                                                         \
        for (size_t r = 0; r < rows; r++) out[r] = total_avx2(acc[r]);                                            \
    }                                                                                                             \
    __attribute__((target(TARGET))) static void dot_q4_##NAME(                                                    \
        const uint8_t *wq, const float *wd, const float *wm, const int8_t *aq, const float *ad, const float *as, \
        size_t blocks, size_t rows, size_t row_stride, float *out) {                                              \
        __m256 acc[ROWS_MAX];                                                                                     \
        float minimum[ROWS_MAX];                                                                                  \
        for (size_t r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps(), minimum[r] = 0;                           \
        for (size_t b = 0; b < blocks; b++) {                                                                     \
            const __m256i w = nibbles_avx2(wq + b * 16);                                                          \
            for (size_t r = 0; r < rows; r++) {                                                                   \
                const __m256i a = _mm256_loadu_si256((const __m256i *)(aq + (r * row_stride + b) * 32));          \
                const __m256i sums = LANES(w, a);                                                                 \
                const __m256 scale = _mm256_set1_ps(wd[b] * ad[r * row_stride + b]);                              \
                acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sums)));                   \
                minimum[r] = minimum[r] + wm[b] * as[r * row_stride + b];                                         \
            }                                                                                                     \
        }                                                                                                         \
        for (size_t r = 0; r < rows; r++) out[r] = total_avx2(acc[r]) + minimum[r];                               \
    }

DEFINE_DOTS(avx2, "avx2", lanes_avx2)
DEFINE_DOTS(vnni, "avx2,avx512f,avx512vl,avx512vnni", lanes_vnni)

static int has_avx2(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 5));
}

static int has_vnni(void) {
    unsigned a, b, c, d;
    if (!fledge_cpu_has_avx512f() || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (c & (1u << 11)) && (b & (1u << 31));  // AVX512_VNNI, AVX512VL
}
#endif

typedef void (*dot8_fn)(const int8_t *, const float *, const int8_t *, const float *, size_t, size_t, size_t,
                        float *);
typedef void (*dot4_fn)(const uint8_t *, const float *, const float *, const int8_t *, const float *, const float *,
                        size_t, size_t, size_t, float *);
static dot8_fn chosen8 = dot_q8_portable;
static dot4_fn chosen4 = dot_q4_portable;
static const char *chosen_name = "portable";
static int chosen_ready;

int fledge_quant_force(int variant) {
    int best = 0;
#if defined(__x86_64__)
    best = has_vnni() ? 2 : has_avx2() ? 1 : 0;
#endif
    const int use = variant < 0 || variant > best ? best : variant;
    chosen8 = dot_q8_portable, chosen4 = dot_q4_portable, chosen_name = "portable";
#if defined(__x86_64__)
    if (use == 1) chosen8 = dot_q8_avx2, chosen4 = dot_q4_avx2, chosen_name = "avx2";
    if (use == 2) chosen8 = dot_q8_vnni, chosen4 = dot_q4_vnni, chosen_name = "avx512vnni";
#endif
    chosen_ready = 1;
    return use;
}

const char *fledge_quant_isa(void) {
    if (!chosen_ready) fledge_quant_force(-1);
    return chosen_name;
}

void fledge_dot_q8_0_rows(const int8_t *wq, const float *wd, const int8_t *aq, const float *ad, size_t blocks,
                          size_t rows, float *out, size_t out_stride, int accumulate) {
    if (!chosen_ready) fledge_quant_force(-1);
    float values[4];
    for (size_t r0 = 0; r0 < rows; r0 += 4) {
        const size_t count = rows - r0 < 4 ? rows - r0 : 4;
        chosen8(wq, wd, aq + r0 * blocks * 32, ad + r0 * blocks, blocks, count, blocks, values);
        for (size_t r = 0; r < count; r++) {
            float *target = out + (r0 + r) * out_stride;
            *target = accumulate ? *target + values[r] : values[r];
        }
    }
}

void fledge_dot_q4_1_rows(const uint8_t *wq, const float *wd, const float *wm, const int8_t *aq, const float *ad,
                          const float *as, size_t blocks, size_t rows, float *out, size_t out_stride, int accumulate) {
    if (!chosen_ready) fledge_quant_force(-1);
    float values[4];
    for (size_t r0 = 0; r0 < rows; r0 += 4) {
        const size_t count = rows - r0 < 4 ? rows - r0 : 4;
        chosen4(wq, wd, wm, aq + r0 * blocks * 32, ad + r0 * blocks, as + r0 * blocks, blocks, count, blocks, values);
        for (size_t r = 0; r < count; r++) {
            float *target = out + (r0 + r) * out_stride;
            *target = accumulate ? *target + values[r] : values[r];
        }
    }
}
