#include "fledge_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

// Whether the OS saves the AVX-512 register state (XCR0 bits 1, 2, 5, 6, 7).
static int os_saves_zmm(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xE6u) == 0xE6u;
}

int fledge_cpu_has_avx512f(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & (1u << 16)) && os_saves_zmm();
}

int fledge_cpu_has_avx512_bf16(void) {
    unsigned a, b, c, d;
    if (!fledge_cpu_has_avx512f()) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || a < 1) return 0;
    if (!(b & (1u << 30))) return 0;  // AVX512BW
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a & (1u << 5)) != 0;
}
#else
int fledge_cpu_has_avx512f(void) { return 0; }
int fledge_cpu_has_avx512_bf16(void) { return 0; }
#endif
