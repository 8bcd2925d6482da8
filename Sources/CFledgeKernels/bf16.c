#include "fledge_kernels.h"
#include <string.h>

// Portable fp32 → bf16, round to nearest even; NaN keeps a set quiet bit.
static inline uint16_t round_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((bits >> 16) | 0x0040u);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

static void convert_portable(const float *source, uint16_t *destination, size_t count) {
    for (size_t i = 0; i < count; i++) destination[i] = round_bf16(source[i]);
}

static void widen_portable(const uint16_t *source, float *destination, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)source[i] << 16;
        memcpy(destination + i, &bits, 4);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw")))
static void convert_avx512bf16(const float *source, uint16_t *destination, size_t count) {
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        __m512 lo = _mm512_loadu_ps(source + i), hi = _mm512_loadu_ps(source + i + 16);
        __m512bh packed = _mm512_cvtne2ps_pbh(hi, lo);
        _mm512_storeu_si512((void *)(destination + i), (__m512i)packed);
    }
    for (; i + 16 <= count; i += 16) {
        __m256bh packed = _mm512_cvtneps_pbh(_mm512_loadu_ps(source + i));
        _mm256_storeu_si256((__m256i *)(destination + i), (__m256i)packed);
    }
    if (i < count) convert_portable(source + i, destination + i, count - i);
}

// Same rounding as round_bf16, 16 lanes at a time.
__attribute__((target("avx512f,avx512bw")))
static void convert_avx512f(const float *source, uint16_t *destination, size_t count) {
    size_t i = 0;
    const __m512i bias = _mm512_set1_epi32(0x7FFF), one = _mm512_set1_epi32(1);
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), infinity = _mm512_set1_epi32(0x7F800000);
    const __m512i quiet = _mm512_set1_epi32(0x0040);
    for (; i + 16 <= count; i += 16) {
        __m512i bits = _mm512_castps_si512(_mm512_loadu_ps(source + i));
        __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, magnitude), infinity);
        __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(bits, 16), one)));
        __m512i result = _mm512_srli_epi32(rounded, 16);
        result = _mm512_mask_or_epi32(result, nan, _mm512_srli_epi32(bits, 16), quiet);
        _mm256_storeu_si256((__m256i *)(destination + i), _mm512_cvtepi32_epi16(result));
    }
    if (i < count) convert_portable(source + i, destination + i, count - i);
}

__attribute__((target("avx512f")))
static void widen_avx512f(const uint16_t *source, float *destination, size_t count) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(source + i)));
        _mm512_storeu_ps(destination + i, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
    }
    if (i < count) widen_portable(source + i, destination + i, count - i);
}
#endif

typedef void (*convert_fn)(const float *, uint16_t *, size_t);
typedef void (*widen_fn)(const uint16_t *, float *, size_t);
static convert_fn chosen_convert;
static widen_fn chosen_widen;
static const char *chosen_isa;

static void choose(void) {
    if (chosen_convert) return;
    convert_fn convert = convert_portable;
    widen_fn widen = widen_portable;
    const char *isa = "portable";
#if defined(__x86_64__)
    if (fledge_cpu_has_avx512_bf16()) {
        convert = convert_avx512bf16, widen = widen_avx512f, isa = "avx512bf16";
    } else if (fledge_cpu_has_avx512f()) {
        convert = convert_avx512f, widen = widen_avx512f, isa = "avx512f";
    }
#endif
    chosen_widen = widen;
    chosen_isa = isa;
    __atomic_store_n(&chosen_convert, convert, __ATOMIC_RELEASE);
}

void fledge_f32_to_bf16(const float *source, uint16_t *destination, size_t count) {
    choose();
    chosen_convert(source, destination, count);
}

void fledge_bf16_to_f32(const uint16_t *source, float *destination, size_t count) {
    choose();
    chosen_widen(source, destination, count);
}

const char *fledge_bf16_convert_isa(void) {
    choose();
    return chosen_isa;
}
