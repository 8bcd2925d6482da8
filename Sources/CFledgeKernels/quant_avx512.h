// The AVX-512 integer product kernels, included by quant.c once per instruction-set variant
// with NAME (the suffix), TARGET (the target attribute) and LANES (the 8 int32 lane sums of a
// block: vpdpbusd, or maddubs + madd) defined. Two blocks per 512-bit step (lanes 0–7 the even
// block, 8–15 the odd one), two weight rows × up to 4 activation rows per tile.
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)

// One step over blocks b (and b + 1 when `pair`) of the tile.
__attribute__((target(TARGET), always_inline)) static inline void CAT(step, NAME)(
    const fledge_qmatrix *w, size_t c0, const size_t columns, const fledge_qactivations *a, size_t r0,
    const size_t rows, size_t b, __m512 acc[COLUMNS][ROWS], float scales[COLUMNS][ROWS][32], size_t offset,
    __m512i index, const int q4, const int pair) {
    const size_t B = w->blocks;
    const __mmask16 half = pair ? 0xFFFF : 0x00FF;
    __m512i u[COLUMNS];
    __mmask64 negative[COLUMNS];
    for (size_t k = 0; k < columns; k++) {
        if (q4) {
            u[k] = nibbles_512((const uint8_t *)w->quants + ((c0 + k) * B + b) * 16, pair);
        } else {
            const int8_t *p = (const int8_t *)w->quants + ((c0 + k) * B + b) * 32;
            const __m512i sw = pair ? _mm512_loadu_si512(p) : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)p));
            u[k] = _mm512_abs_epi8(sw);  // |w|; the activations take w's sign
            negative[k] = _mm512_movepi8_mask(sw);
        }
    }
    for (size_t r = 0; r < rows; r++) {
        const int8_t *p = a->quants + ((r0 + r) * B + b) * 32;
        const __m512i qa = pair ? _mm512_loadu_si512(p) : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)p));
        for (size_t k = 0; k < columns; k++) {
            const __m512i s = q4 ? qa : _mm512_mask_sub_epi8(qa, negative[k], _mm512_setzero_si512(), qa);
            const __m512 S = _mm512_cvtepi32_ps(LANES(u[k], s));
            const __m512 scale = _mm512_permutexvar_ps(index, _mm512_load_ps(scales[k][r] + offset));
            acc[k][r] = pair ? _mm512_fmadd_ps(scale, S, acc[k][r]) : _mm512_mask3_fmadd_ps(scale, S, acc[k][r], half);
        }
    }
}

__attribute__((target(TARGET), always_inline)) static inline void CAT(tile, NAME)(
    const fledge_qmatrix *w, size_t c0, const size_t columns, const fledge_qactivations *a, size_t r0,
    const size_t rows, float *out, size_t ldo, int accumulate, const int q4) {
    const size_t B = w->blocks;
    __m512 acc[COLUMNS][ROWS];
    // Per tile row and column, the scale products of the current 16 blocks (Q8_16: 32, the
    // two halves of each block side by side).
    float scales[COLUMNS][ROWS][32] __attribute__((aligned(64)));
    const int halves = w->format == FLEDGE_Q8_16;
    for (size_t k = 0; k < columns; k++)
        for (size_t r = 0; r < rows; r++) acc[k][r] = _mm512_setzero_ps();
    for (size_t g = 0; g < B; g += 16) {
        const size_t count = B - g < 16 ? B - g : 16;
        const __mmask16 m = (__mmask16)(count == 16 ? 0xFFFF : (1u << count) - 1);
        for (size_t k = 0; k < columns; k++) {
            if (!halves) {
                const __m512 dw = _mm512_maskz_loadu_ps(m, w->scales + (c0 + k) * B + g);
                for (size_t r = 0; r < rows; r++)
                    _mm512_store_ps(scales[k][r], _mm512_mul_ps(dw, _mm512_maskz_loadu_ps(m, a->scales + (r0 + r) * B + g)));
            } else {
                const size_t low = count < 8 ? count : 8, high = count - low;
                const __mmask16 m0 = (__mmask16)(low == 8 ? 0xFFFF : (1u << (2 * low)) - 1);
                const __mmask16 m1 = (__mmask16)(high == 8 ? 0xFFFF : (1u << (2 * high)) - 1);
                const float *dw = w->scales + ((c0 + k) * B + g) * 2;
                const __m512 dw0 = _mm512_maskz_loadu_ps(m0, dw), dw1 = _mm512_maskz_loadu_ps(m1, dw + 16);
                const __m512i twice0 = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
                const __m512i twice1 = _mm512_add_epi32(twice0, _mm512_set1_epi32(8));
                for (size_t r = 0; r < rows; r++) {
                    const __m512 da = _mm512_maskz_loadu_ps(m, a->scales + (r0 + r) * B + g);
                    _mm512_store_ps(scales[k][r], _mm512_mul_ps(dw0, _mm512_permutexvar_ps(twice0, da)));
                    _mm512_store_ps(scales[k][r] + 16, _mm512_mul_ps(dw1, _mm512_permutexvar_ps(twice1, da)));
                }
            }
        }
        // Lanes 0–7 take block b's scale and 8–15 block b+1's; Q8_16: four lanes per half block.
        const __m512i pairs = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        const __m512i quads = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        size_t b = g;
        for (; b < g + count; b += 2) {
            const size_t local = b - g;
            const __m512i index = halves ? _mm512_add_epi32(quads, _mm512_set1_epi32((int)(2 * (local % 8))))
                                         : _mm512_add_epi32(pairs, _mm512_set1_epi32((int)local));
            const size_t offset = halves ? 16 * (local / 8) : 0;
            if (b + 1 < g + count) CAT(step, NAME)(w, c0, columns, a, r0, rows, b, acc, scales, offset, index, q4, 1);
            else CAT(step, NAME)(w, c0, columns, a, r0, rows, b, acc, scales, offset, index, q4, 0);
        }
    }
    for (size_t k = 0; k < columns; k++)
        for (size_t r = 0; r < rows; r++) {
            float value = tree_avx2(_mm256_add_ps(_mm512_castps512_ps256(acc[k][r]), _mm512_extractf32x8_ps(acc[k][r], 1)));
            if (q4) value = value + minimums_512(w->minimums + (c0 + k) * B, a->sums + (r0 + r) * B, B);
            store(out + (r0 + r) * ldo + c0 + k, value, accumulate);
        }
}

__attribute__((target(TARGET), always_inline)) static inline void CAT(tiles, NAME)(
    const fledge_qmatrix *w, size_t first, size_t end, const fledge_qactivations *a, size_t rows, float *out,
    size_t ldo, int accumulate, const int q4) {
    for (size_t c = first; c < end; c += COLUMNS) {
        const size_t columns = end - c < COLUMNS ? end - c : COLUMNS;
        for (size_t r0 = 0; r0 < rows; r0 += ROWS) {
            const size_t n = rows - r0 < ROWS ? rows - r0 : ROWS;
            if (columns == COLUMNS) {
                if (n == 1) CAT(tile, NAME)(w, c, COLUMNS, a, r0, 1, out, ldo, accumulate, q4);
                else if (n == 2) CAT(tile, NAME)(w, c, COLUMNS, a, r0, 2, out, ldo, accumulate, q4);
                else if (n == 3) CAT(tile, NAME)(w, c, COLUMNS, a, r0, 3, out, ldo, accumulate, q4);
                else CAT(tile, NAME)(w, c, COLUMNS, a, r0, 4, out, ldo, accumulate, q4);
            } else {
                CAT(tile, NAME)(w, c, 1, a, r0, n, out, ldo, accumulate, q4);
            }
        }
    }
}

__attribute__((target(TARGET))) static void CAT(matmul, NAME)(const fledge_qmatrix *w, size_t first, size_t end,
                                                              const fledge_qactivations *a, size_t rows, float *out,
                                                              size_t ldo, int accumulate) {
    if (w->format == FLEDGE_Q4_1) CAT(tiles, NAME)(w, first, end, a, rows, out, ldo, accumulate, 1);
    else CAT(tiles, NAME)(w, first, end, a, rows, out, ldo, accumulate, 0);
}

#undef NAME
#undef TARGET
#undef LANES
#undef CAT
#undef CAT_
