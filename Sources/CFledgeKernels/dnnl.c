// oneDNN's matmul primitive for bf16 products, loaded with dlopen so that a machine without
// libdnnl still builds and runs Fledge (on the fp32 path).
#include "fledge_kernels.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#define FLEDGE_HAVE_DNNL_HEADERS 1
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char error_text[512] = "oneDNN not loaded";
static char isa_text[64] = "none";
static char version_text[32] = "none";
static char last_impl[128] = "none";
static int load_state;  // 0 not tried, 1 loaded, -1 failed
static int64_t created;

#ifdef FLEDGE_HAVE_DNNL_HEADERS
#define FUNCTIONS(X)                   \
    X(dnnl_engine_create)              \
    X(dnnl_stream_create)              \
    X(dnnl_stream_wait)                \
    X(dnnl_memory_desc_init_by_strides) \
    X(dnnl_matmul_desc_init)           \
    X(dnnl_primitive_attr_create)      \
    X(dnnl_primitive_attr_destroy)     \
    X(dnnl_post_ops_create)            \
    X(dnnl_post_ops_destroy)           \
    X(dnnl_post_ops_append_sum)        \
    X(dnnl_primitive_attr_set_post_ops) \
    X(dnnl_primitive_attr_set_scratchpad_mode) \
    X(dnnl_primitive_desc_create)      \
    X(dnnl_primitive_desc_destroy)     \
    X(dnnl_primitive_desc_query)       \
    X(dnnl_primitive_desc_query_md)    \
    X(dnnl_primitive_create)           \
    X(dnnl_primitive_destroy)          \
    X(dnnl_primitive_execute)          \
    X(dnnl_memory_create)              \
    X(dnnl_memory_destroy)             \
    X(dnnl_memory_set_data_handle)     \
    X(dnnl_get_effective_cpu_isa)      \
    X(dnnl_memory_desc_get_size)       \
    X(dnnl_version)

#define DECLARE(name) static __typeof__(&name) p_##name;
FUNCTIONS(DECLARE)

static void (*p_omp_set_num_threads)(int);
static dnnl_engine_t engine;
static dnnl_stream_t stream;

// A product's shape; the cache keeps its primitive, its memory objects and scratchpad.
typedef struct {
    int64_t m, n, k, lda, ldb, ldc;
    int trans_a, trans_b, accumulate, used;
    uint64_t stamp;
    dnnl_primitive_t primitive;
    dnnl_memory_t a, b, c, scratch;
    size_t scratch_size;
} entry_t;

// One scratchpad shared by every primitive (executions are serialised by `lock`), grown to
// the largest need: the scratchpads are up to ~0.7 MB each, and the cache holds 256.
static void *shared_scratch;
static size_t shared_scratch_size;

enum { CACHE_SIZE = 256 };
static entry_t cache[CACHE_SIZE];
static uint64_t clock_stamp;

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch ((int)isa) {
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "other";
    }
}

static int load_locked(void) {
    if (load_state) return load_state > 0 ? 0 : -1;
    load_state = -1;
    // oneDNN's OpenMP threads sleep between products instead of spinning: on a machine with as
    // many threads as cores, spinning threads slow Fledge's own parallel regions between products
    // (measured: a bf16 training step 2.8 s spinning, 2.0 s sleeping). A user's setting wins.
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    void *library = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (!library) library = dlopen("libdnnl.so", RTLD_NOW | RTLD_GLOBAL);
    if (!library) {
        snprintf(error_text, sizeof error_text, "libdnnl.so.2 not found (apt-get install libdnnl-dev): %s",
                 dlerror());
        return -1;
    }
#define RESOLVE(name)                                                                           \
    p_##name = (__typeof__(p_##name))dlsym(library, #name);                                     \
    if (!p_##name) {                                                                            \
        snprintf(error_text, sizeof error_text, "libdnnl.so.2 lacks %s (oneDNN 2.x needed)", #name); \
        return -1;                                                                              \
    }
    FUNCTIONS(RESOLVE)
    p_omp_set_num_threads = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (p_dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success ||
        p_dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        snprintf(error_text, sizeof error_text, "oneDNN could not create its CPU engine");
        return -1;
    }
    const dnnl_version_t *version = p_dnnl_version();
    snprintf(version_text, sizeof version_text, "%d.%d.%d", version->major, version->minor, version->patch);
    snprintf(isa_text, sizeof isa_text, "%s", isa_name(p_dnnl_get_effective_cpu_isa()));
    error_text[0] = 0;
    load_state = 1;
    return 0;
}

int fledge_dnnl_load(void) {
    pthread_mutex_lock(&lock);
    int status = load_locked();
    pthread_mutex_unlock(&lock);
    return status;
}

void fledge_dnnl_set_threads(int threads) {
    if (fledge_dnnl_load() == 0 && p_omp_set_num_threads) p_omp_set_num_threads(threads < 1 ? 1 : threads);
}

static void release(entry_t *e) {
    if (!e->used) return;
    p_dnnl_primitive_destroy(e->primitive);
    p_dnnl_memory_destroy(e->a);
    p_dnnl_memory_destroy(e->b);
    p_dnnl_memory_destroy(e->c);
    if (e->scratch) p_dnnl_memory_destroy(e->scratch);
    memset(e, 0, sizeof *e);
}

static int create(entry_t *e, int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                  int64_t ldc, int accumulate) {
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t a_dims = {m, k}, a_strides = {ta ? 1 : lda, ta ? lda : 1};
    dnnl_dims_t b_dims = {k, n}, b_strides = {tb ? 1 : ldb, tb ? ldb : 1};
    dnnl_dims_t c_dims = {m, n}, c_strides = {ldc, 1};
    if (p_dnnl_memory_desc_init_by_strides(&a_md, 2, a_dims, dnnl_bf16, a_strides) ||
        p_dnnl_memory_desc_init_by_strides(&b_md, 2, b_dims, dnnl_bf16, b_strides) ||
        p_dnnl_memory_desc_init_by_strides(&c_md, 2, c_dims, dnnl_f32, c_strides))
        return -1;
    dnnl_matmul_desc_t desc;
    if (p_dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md)) return -1;
    dnnl_primitive_attr_t attr;
    if (p_dnnl_primitive_attr_create(&attr)) return -1;
    p_dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_post_ops_t ops = NULL;
    if (accumulate) {
        p_dnnl_post_ops_create(&ops);
        p_dnnl_post_ops_append_sum(ops, 1.0f);
        p_dnnl_primitive_attr_set_post_ops(attr, ops);
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t status = p_dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
    if (ops) p_dnnl_post_ops_destroy(ops);
    p_dnnl_primitive_attr_destroy(attr);
    if (status) return -1;
    const char *impl = NULL;
    p_dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(last_impl, sizeof last_impl, "%s", impl ? impl : "?");
    const dnnl_memory_desc_t *scratch_md = p_dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    status = p_dnnl_primitive_create(&e->primitive, pd);
    if (status == dnnl_success) status = p_dnnl_memory_create(&e->a, &a_md, engine, DNNL_MEMORY_NONE);
    if (status == dnnl_success) status = p_dnnl_memory_create(&e->b, &b_md, engine, DNNL_MEMORY_NONE);
    if (status == dnnl_success) status = p_dnnl_memory_create(&e->c, &c_md, engine, DNNL_MEMORY_NONE);
    size_t scratch_size = 0;
    if (status == dnnl_success && scratch_md) {
        scratch_size = p_dnnl_memory_desc_get_size(scratch_md);
        if (scratch_size) status = p_dnnl_memory_create(&e->scratch, scratch_md, engine, DNNL_MEMORY_NONE);
    }
    p_dnnl_primitive_desc_destroy(pd);
    e->used = 1;  // release() destroys what exists
    if (status) {
        release(e);
        return -1;
    }
    e->scratch_size = scratch_size;
    e->m = m, e->n = n, e->k = k, e->lda = lda, e->ldb = ldb, e->ldc = ldc;
    e->trans_a = ta, e->trans_b = tb, e->accumulate = accumulate;
    created++;
    return 0;
}

static entry_t *lookup(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc,
                       int accumulate) {
    uint64_t hash = 1469598103934665603ull;
    int64_t key[9] = {ta, tb, m, n, k, lda, ldb, ldc, accumulate};
    for (int i = 0; i < 9; i++) hash = (hash ^ (uint64_t)key[i]) * 1099511628211ull;
    // Four-way set-associative: a shape lives in one of 4 slots; the least recently used goes.
    entry_t *set = cache + (hash % (CACHE_SIZE / 4)) * 4, *victim = set;
    for (int way = 0; way < 4; way++) {
        entry_t *e = set + way;
        if (e->used && e->m == m && e->n == n && e->k == k && e->lda == lda && e->ldb == ldb && e->ldc == ldc &&
            e->trans_a == ta && e->trans_b == tb && e->accumulate == accumulate) {
            e->stamp = ++clock_stamp;
            return e;
        }
        if (!e->used || (victim->used && e->stamp < victim->stamp)) victim = e;
    }
    release(victim);
    if (create(victim, ta, tb, m, n, k, lda, ldb, ldc, accumulate)) return NULL;
    victim->stamp = ++clock_stamp;
    return victim;
}

int fledge_dnnl_gemm_bf16(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const uint16_t *a,
                          int64_t lda, const uint16_t *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (beta != 0.0f && beta != 1.0f) return -2;
    if (m <= 0 || n <= 0 || k <= 0) return -2;
    pthread_mutex_lock(&lock);
    int status = load_locked();
    entry_t *e = status == 0 ? lookup(trans_a != 0, trans_b != 0, m, n, k, lda, ldb, ldc, beta != 0.0f) : NULL;
    if (!e) {
        if (status == 0) snprintf(error_text, sizeof error_text, "oneDNN refused a bf16 matmul of %lldx%lldx%lld",
                                  (long long)m, (long long)n, (long long)k);
        pthread_mutex_unlock(&lock);
        return -1;
    }
    if (e->scratch && e->scratch_size > shared_scratch_size) {
        void *grown = aligned_alloc(64, (e->scratch_size + 63) / 64 * 64);
        if (!grown) {
            snprintf(error_text, sizeof error_text, "out of memory for a %zu-byte oneDNN scratchpad", e->scratch_size);
            pthread_mutex_unlock(&lock);
            return -1;
        }
        free(shared_scratch);
        shared_scratch = grown;
        shared_scratch_size = e->scratch_size;
    }
    if (e->scratch) p_dnnl_memory_set_data_handle(e->scratch, shared_scratch);
    p_dnnl_memory_set_data_handle(e->a, (void *)a);
    p_dnnl_memory_set_data_handle(e->b, (void *)b);
    p_dnnl_memory_set_data_handle(e->c, c);
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}, {DNNL_ARG_SCRATCHPAD, e->scratch}};
    dnnl_status_t run = p_dnnl_primitive_execute(e->primitive, stream, e->scratch ? 4 : 3, args);
    if (run == dnnl_success) run = p_dnnl_stream_wait(stream);
    pthread_mutex_unlock(&lock);
    return run == dnnl_success ? 0 : -1;
}

#else
int fledge_dnnl_load(void) {
    snprintf(error_text, sizeof error_text, "Fledge was built without oneDNN's headers (libdnnl-dev)");
    return -1;
}
void fledge_dnnl_set_threads(int threads) { (void)threads; }
int fledge_dnnl_gemm_bf16(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const uint16_t *a,
                          int64_t lda, const uint16_t *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)beta;
    (void)c, (void)ldc;
    return -1;
}
#endif

const char *fledge_dnnl_error(void) { return error_text; }
const char *fledge_dnnl_version(void) { return version_text; }
const char *fledge_dnnl_isa(void) { return isa_text; }
const char *fledge_dnnl_last_impl(void) { return last_impl; }
int64_t fledge_dnnl_primitives_created(void) { return created; }
