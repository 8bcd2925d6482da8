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

// --- portable --------------------------------------------------------------------------------
static inline int isum_q8_portable(const int8_t *w, const int8_t *a) {
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += (int)w[j] * (int)a[j];
    return sum;
}

static inline int isum_q4_portable(const uint8_t *w, const int8_t *a) {
    int sum = 0;
    for (int j = 0; j < 16; j++) sum += (int)(w[j] & 15) * (int)a[j] + (int)(w[j] >> 4) * (int)a[j + 16];
    return sum;
}

static float dot_q8_portable(const int8_t *wq, const float *wd, const int8_t *aq, const float *ad, size_t blocks) {
    float acc = 0;
    for (size_t b = 0; b < blocks; b++) acc += (wd[b] * ad[b]) * (float)isum_q8_portable(wq + b * 32, aq + b * 32);
    return acc;
}

static float dot_q4_portable(const uint8_t *wq, const float *wd, const float *wm, const int8_t *aq, const float *ad,
                             const float *as, size_t blocks) {
    float acc = 0;
    for (size_t b = 0; b < blocks; b++) {
        acc += (wd[b] * ad[b]) * (float)isum_q4_portable(wq + b * 16, aq + b * 32);
        acc += wm[b] * as[b];
    }
    return acc;
}

#if defined(__x86_64__)
// --- AVX2: maddubs (u8 × s8 → s16 pairs), madd with ones → s32 ------------------------------
__attribute__((target("avx2"))) static inline int hsum_epi32_avx2(__m256i v) {
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4E));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xB1));
    return _mm_cvtsi128_si32(x);
}

__attribute__((target("avx2"))) static inline __m256i nibbles_avx2(const uint8_t *w) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)w);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
    return _mm256_and_si256(both, _mm256_set1_epi8(15));  // values 0–15 low lane, 16–31 high lane
}

__attribute__((target("avx2"))) static float dot_q8_avx2(const int8_t *wq, const float *wd, const int8_t *aq,
                                                          const float *ad, size_t blocks) {
    const __m256i ones = _mm256_set1_epi16(1);
    float acc = 0;
    for (size_t b = 0; b < blocks; b++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(wq + b * 32));
        const __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * 32));
        // |w| · (a with w's sign): the u8 × s8 product of maddubs equals w·a.
        const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
        acc += (wd[b] * ad[b]) * (float)hsum_epi32_avx2(_mm256_madd_epi16(pairs, ones));
    }
    return acc;
}

__attribute__((target("avx2"))) static float dot_q4_avx2(const uint8_t *wq, const float *wd, const float *wm,
                                                          const int8_t *aq, const float *ad, const float *as,
                                                          size_t blocks) {
    const __m256i ones = _mm256_set1_epi16(1);
    float acc = 0;
    for (size_t b = 0; b < blocks; b++) {
        const __m256i w = nibbles_avx2(wq + b * 16);
        const __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * 32));
        const __m256i pairs = _mm256_maddubs_epi16(w, a);
        acc += (wd[b] * ad[b]) * (float)hsum_epi32_avx2(_mm256_madd_epi16(pairs, ones));
        acc += wm[b] * as[b];
    }
    return acc;
}

// --- AVX-512 VNNI (256-bit vpdpbusd): u8 × s8 summed into s32 in one instruction --------------
__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) static float dot_q8_vnni(
    const int8_t *wq, const float *wd, const int8_t *aq, const float *ad, size_t blocks) {
    float acc = 0;
    for (size_t b = 0; b < blocks; b++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(wq + b * 32));
        const __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * 32));
        const __m256i sum =
            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
        acc += (wd[b] * ad[b]) * (float)hsum_epi32_avx2(sum);
    }
    return acc;
}

__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) static float dot_q4_vnni(
    const uint8_t *wq, const float *wd, const float *wm, const int8_t *aq, const float *ad, const float *as,
    size_t blocks) {
    float acc = 0;
    for (size_t b = 0; b < blocks; b++) {
        const __m256i w = nibbles_avx2(wq + b * 16);
        const __m256i a = _mm256_loadu_si256((const __m256i *)(aq + b * 32));
        acc += (wd[b] * ad[b]) * (float)hsum_epi32_avx2(_mm256_dpbusd_epi32(_mm256_setzero_si256(), w, a));
        acc += wm[b] * as[b];
    }
    return acc;
}

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

typedef float (*dot8_fn)(const int8_t *, const float *, const int8_t *, const float *, size_t);
typedef float (*dot4_fn)(const uint8_t *, const float *, const float *, const int8_t *, const float *, const float *,
                         size_t);
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

float fledge_dot_q8_0(const int8_t *wq, const float *wd, const int8_t *aq, const float *ad, size_t blocks) {
    if (!chosen_ready) fledge_quant_force(-1);
    return chosen8(wq, wd, aq, ad, blocks);
}

float fledge_dot_q4_1(const uint8_t *wq, const float *wd, const float *wm, const int8_t *aq, const float *ad,
                      const float *as, size_t blocks) {
    if (!chosen_ready) fledge_quant_force(-1);
    return chosen4(wq, wd, wm, aq, ad, as, blocks);
}
