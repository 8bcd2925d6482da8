// A persistent worker pool for short parallel regions (see fledge_kernels.h).
#define _GNU_SOURCE
#include "fledge_kernels.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define PAUSE() _mm_pause()
#else
#define PAUSE() ((void)0)
#endif

#define MAX_WORKERS 256

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;  // one region at a time
static int started;                       // threads created (workers 1 … started)
static _Atomic uint32_t generation;       // bumped once per region; futex word
static _Atomic int sleepers;              // threads parked on the futex
static _Atomic int pending;               // workers of the current region not yet done
static fledge_pool_fn task_fn;
static void *task_context;
static int task_workers;
static _Atomic long spin_ns = -1;         // how long an idle worker spins before parking
static _Thread_local int in_region;

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static long spin_budget(void) {
    long value = atomic_load_explicit(&spin_ns, memory_order_relaxed);
    if (value >= 0) return value;
    const char *text = getenv("FLEDGE_SPIN_US");
    value = text ? atol(text) * 1000L : 100000L;  // 100 µs unless set
    if (value < 0) value = 0;
    atomic_store(&spin_ns, value);
    return value;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t value) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, MAX_WORKERS, NULL, NULL, 0);
}

static void *worker_main(void *argument) {
    // The worker's index, and the generation before the region that created it (which it
    // must take part in even when it starts running after that region began).
    const int worker = (int)((uintptr_t)argument & 0xFFFF);
    uint32_t seen = (uint32_t)((uintptr_t)argument >> 16);
    in_region = 1;  // a region started from a pool thread runs serially
    for (;;) {
        // Spin for the next region, then park on the generation word.
        uint32_t current = atomic_load_explicit(&generation, memory_order_acquire);
        if (current == seen) {
            const long budget = spin_budget(), start = now_ns();
            unsigned spins = 0;
            while ((current = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
                PAUSE();
                if ((++spins & 255) == 0 && now_ns() - start > budget) {
                    atomic_fetch_add(&sleepers, 1);
                    futex_wait(&generation, seen);
                    atomic_fetch_sub(&sleepers, 1);
                }
            }
        }
        seen = current;
        // Every pool thread acknowledges every region, so none can still be reading the task
        // when the next one is written.
        if (worker < task_workers) task_fn(task_context, (size_t)worker);
        atomic_fetch_sub_explicit(&pending, 1, memory_order_release);
    }
    return NULL;
}

int fledge_pool_in_region(void) { return in_region; }

int fledge_pool_run(size_t workers, fledge_pool_fn fn, void *context) {
    if (workers > MAX_WORKERS) workers = MAX_WORKERS;
    if (workers <= 1 || in_region) return 0;  // the caller runs the work itself
    // Another thread's region holds the pool: this one runs on its caller alone.
    if (pthread_mutex_trylock(&run_lock) != 0) return 0;
    if ((int)workers - 1 > started) {
        pthread_mutex_lock(&start_lock);
        while (started < (int)workers - 1) {
            pthread_t thread;
            pthread_attr_t attributes;
            pthread_attr_init(&attributes);
            pthread_attr_setstacksize(&attributes, 8u << 20);
            const uintptr_t argument = ((uintptr_t)atomic_load(&generation) << 16) | (uintptr_t)(started + 1);
            if (pthread_create(&thread, &attributes, worker_main, (void *)argument) != 0) {
                pthread_attr_destroy(&attributes);
                break;
            }
            pthread_attr_destroy(&attributes);
            pthread_detach(thread);
            started++;
        }
        pthread_mutex_unlock(&start_lock);
        if ((int)workers - 1 > started) {
            pthread_mutex_unlock(&run_lock);
            return 0;
        }
    }
    task_fn = fn, task_context = context, task_workers = (int)workers;
    atomic_store_explicit(&pending, started, memory_order_relaxed);
    atomic_fetch_add(&generation, 1);  // sequentially consistent with the sleepers count
    if (atomic_load(&sleepers) > 0) futex_wake_all(&generation);
    in_region = 1;
    fn(context, 0);
    in_region = 0;
    unsigned spins = 0;
    while (atomic_load_explicit(&pending, memory_order_acquire) > 0) {
        PAUSE();
        if ((++spins & 1023) == 0) sched_yield();
    }
    pthread_mutex_unlock(&run_lock);
    return 1;
}
