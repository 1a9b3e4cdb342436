/* Exercises the C allocation API of whatever allocator the program runs on.
 *
 *   api [all]          every function, alignment, errno, overflow, edge
 *                      cases, mallinfo2, C++ operators, threads freeing each other's
 *                      blocks, thread heaps released, fork from threads
 *   overflow | underflow | double-free | stack-free | header-free | new-free |
 *   write-after-free | stack-realloc | header-realloc
 *                      one memory error, for debug mode to stop
 *
 * With STRATA_EXPECTED=1 it also checks, through strata's own functions,
 * that the blocks come from strata. Exits 0 when every check passes;
 * otherwise prints the failed check and exits 1.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "api.c:%d: check failed: %s\n", __LINE__, #cond); \
            failures++;                                                        \
        }                                                                      \
    } while (0)

#define ALIGNED(p, a) (((uintptr_t)(p) & ((a)-1)) == 0)

/* A non-constant size keeps the compiler from reasoning about the calls. */
static volatile size_t huge = SIZE_MAX;

static int (*strata_owns)(const void *);
static size_t (*strata_thread_heaps)(void);

static void *lookup(const char *name) {
    void *f = dlsym(RTLD_DEFAULT, name);
    if (!f) {
        fprintf(stderr, "api.c: symbol %s not found\n", name);
        exit(2);
    }
    return f;
}

static void check_malloc_free(void) {
    for (size_t size = 0; size < 70000; size = size * 3 / 2 + 1) {
        unsigned char *p = malloc(size);
        CHECK(p != NULL);
        CHECK(ALIGNED(p, 16));
        CHECK(malloc_usable_size(p) >= size);
        memset(p, 0x5A, size);
        if (strata_owns) CHECK(strata_owns(p));
        free(p);
    }
    void *a = malloc(0), *b = malloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    free(a);
    free(b);
    free(NULL);
    CHECK(malloc_usable_size(NULL) == 0);
    void *big = malloc(5 << 20);
    CHECK(big != NULL && ALIGNED(big, 16));
    memset(big, 1, 5 << 20);
    free(big);
    errno = 0;
    CHECK(malloc(huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc(huge / 2) == NULL && errno == ENOMEM);
}

static void check_calloc(void) {
    for (size_t n = 1; n < 200000; n *= 7) {
        unsigned char *p = malloc(n);
        memset(p, 0xEE, n);
        free(p);
        unsigned char *z = calloc(n, 1);
        CHECK(z != NULL && ALIGNED(z, 16));
        size_t nonzero = 0;
        for (size_t i = 0; i < n; i++) nonzero += z[i] != 0;
        CHECK(nonzero == 0);
        free(z);
    }
    void *z = calloc(0, 0);
    CHECK(z != NULL);
    free(z);
    errno = 0;
    CHECK(calloc(huge / 2, 3) == NULL && errno == ENOMEM);

}

static void check_realloc(void) {
    unsigned char *p = realloc(NULL, 10);
    CHECK(p != NULL);
    for (int i = 0; i < 10; i++) p[i] = (unsigned char)i;
    size_t sizes[] = {20, 100, 1000, 100000, 3000000, 50, 5, 200000};
    size_t kept = 10;
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        p = realloc(p, sizes[k]);
        CHECK(p != NULL && ALIGNED(p, 16));
        CHECK(malloc_usable_size(p) >= sizes[k]);
        if (sizes[k] < kept) kept = sizes[k];
        int same = 1;
        for (size_t i = 0; i < kept; i++) same &= p[i] == (unsigned char)i;
        CHECK(same);
    }
    /* A huge block growing step by step (strata moves its pages rather than
       copying them) keeps every byte. */
    unsigned char *big = malloc(1 << 20);
    CHECK(big != NULL);
    size_t filled = 1 << 20;
    for (size_t i = 0; i < filled; i++) big[i] = (unsigned char)(i * 7 + i / 4096);
    size_t steps[] = {3u << 20, 9u << 20, 40u << 20};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        big = realloc(big, steps[k]);
        CHECK(big != NULL && ALIGNED(big, 16) && malloc_usable_size(big) >= steps[k]);
        int intact = 1;
        for (size_t i = 0; i < filled; i++) intact &= big[i] == (unsigned char)(i * 7 + i / 4096);
        CHECK(intact);
        for (size_t i = filled; i < steps[k]; i++) big[i] = (unsigned char)(i * 7 + i / 4096);
        filled = steps[k];
    }
    free(big);
    /* Failure leaves the block untouched. */
    errno = 0;
    CHECK(realloc(p, huge) == NULL && errno == ENOMEM);
    CHECK(p[0] == 0 && p[4] == 4);
    /* glibc: realloc(p, 0) frees p and returns NULL. */
    CHECK(realloc(p, 0) == NULL);

    int *arr = reallocarray(NULL, 100, sizeof(int));
    CHECK(arr != NULL);
    for (int i = 0; i < 100; i++) arr[i] = i;
    arr = reallocarray(arr, 1000, sizeof(int));
    CHECK(arr != NULL && arr[99] == 99);
    errno = 0;
    CHECK(reallocarray(arr, huge / 2, 4) == NULL && errno == ENOMEM);
    CHECK(arr[50] == 50);
    free(arr);
}

static void check_aligned(void) {
    for (size_t align = sizeof(void *); align <= (8u << 20); align *= 2) {
        void *p = (void *)1;
        CHECK(posix_memalign(&p, align, 100) == 0);
        CHECK(p != NULL && ALIGNED(p, align));
        memset(p, 3, 100);
        free(p);
        void *q = aligned_alloc(align, 3 * align);
        CHECK(q != NULL && ALIGNED(q, align));
        memset(q, 4, 3 * align);
        free(q);
        void *m = memalign(align, 1);
        CHECK(m != NULL && ALIGNED(m, align));
        free(m);
    }
    void *p = (void *)1;
    CHECK(posix_memalign(&p, 24, 8) == EINVAL);
    CHECK(posix_memalign(&p, 4, 8) == EINVAL);
    CHECK(posix_memalign(&p, 0, 8) == EINVAL);
    CHECK(p == (void *)1);
    CHECK(posix_memalign(&p, 64, huge) == ENOMEM);
    CHECK(posix_memalign(&p, 64, 0) == 0 && p != NULL);
    free(p);
    errno = 0;
    CHECK(aligned_alloc(24, 48) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(aligned_alloc(64, huge) == NULL && errno == ENOMEM);
    /* memalign rounds an odd alignment up to a power of two. */
    void *m = memalign(48, 10);
    CHECK(m != NULL && ALIGNED(m, 64));
    free(m);

    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(10);
    CHECK(v != NULL && ALIGNED(v, (size_t)page));
    free(v);
    void *pv = pvalloc(10);
    CHECK(pv != NULL && ALIGNED(pv, (size_t)page));
    CHECK(malloc_usable_size(pv) >= (size_t)page);
    memset(pv, 7, (size_t)page);
    free(pv);
    errno = 0;
    CHECK(pvalloc(huge) == NULL && errno == ENOMEM);
}

/* Small blocks start at strata's block offset past a multiple of their
 * size (48 by default in libstrata.so, pymalloc's layout, or
 * STRATA_BLOCK_OFFSET); the test names the offset it expects in
 * STRATA_EXPECT_OFFSET. malloc's 16-byte alignment holds at every offset. */
static void check_block_offset(const char *expect) {
    size_t offset = (size_t)strtoul(expect, NULL, 10);
    enum { COUNT = 600 };
    static void *blocks[COUNT];
    for (int i = 0; i < COUNT; i++) {
        size_t size = i % 2 ? 64 : 128;
        blocks[i] = malloc(size);
        CHECK(blocks[i] != NULL && (uintptr_t)blocks[i] % size == offset);
        CHECK(ALIGNED(blocks[i], 16));
    }
    for (int i = 0; i < COUNT; i++) free(blocks[i]);
}

/* mallinfo2 and mallinfo report blocks in use, huge mappings and their
 * changes, on glibc and on strata alike. The big block is past glibc's
 * largest mmap threshold (32 MiB), so glibc maps it too. Debug mode holds
 * freed blocks in quarantine, so they stay in use there. */
static void check_mallinfo(void) {
    enum { COUNT = 4096, SIZE = 256 };
    static void *blocks[COUNT];
    const char *debug = getenv("STRATA_DEBUG");
    int quarantine = debug && strcmp(debug, "0");
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < COUNT; i++) blocks[i] = malloc(SIZE);
    unsigned char *big = malloc(64u << 20);
    CHECK(big != NULL);
    memset(big, 1, 4096);
    struct mallinfo2 during = mallinfo2();
    CHECK(during.uordblks >= before.uordblks + (size_t)COUNT * SIZE);
    CHECK(during.arena >= during.uordblks);
    CHECK(during.hblks >= 1);
    CHECK(during.hblkhd >= (64u << 20));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo old = mallinfo();
#pragma GCC diagnostic pop
    CHECK(old.uordblks > 0 && old.hblks >= 1);
    for (int i = 0; i < COUNT; i++) free(blocks[i]);
    free(big);
    struct mallinfo2 after = mallinfo2();
    if (!quarantine) CHECK(after.uordblks + (size_t)COUNT * SIZE <= during.uordblks);
    CHECK(after.hblkhd < during.hblkhd);
}

static void check_cxx_operators(void) {
    void *(*new_)(size_t) = lookup("_Znwm");
    void *(*new_array)(size_t) = lookup("_Znam");
    void *(*new_nothrow)(size_t, const void *) = lookup("_ZnwmRKSt9nothrow_t");
    void *(*new_array_nothrow)(size_t, const void *) = lookup("_ZnamRKSt9nothrow_t");
    void *(*new_aligned)(size_t, size_t) = lookup("_ZnwmSt11align_val_t");
    void *(*new_array_aligned)(size_t, size_t) = lookup("_ZnamSt11align_val_t");
    void *(*new_aligned_nothrow)(size_t, size_t, const void *) =
        lookup("_ZnwmSt11align_val_tRKSt9nothrow_t");
    void *(*new_array_aligned_nothrow)(size_t, size_t, const void *) =
        lookup("_ZnamSt11align_val_tRKSt9nothrow_t");
    void (*delete_)(void *) = lookup("_ZdlPv");
    void (*delete_array)(void *) = lookup("_ZdaPv");
    void (*delete_sized)(void *, size_t) = lookup("_ZdlPvm");
    void (*delete_array_sized)(void *, size_t) = lookup("_ZdaPvm");
    void (*delete_nothrow)(void *, const void *) = lookup("_ZdlPvRKSt9nothrow_t");
    void (*delete_array_nothrow)(void *, const void *) = lookup("_ZdaPvRKSt9nothrow_t");
    void (*delete_aligned)(void *, size_t) = lookup("_ZdlPvSt11align_val_t");
    void (*delete_array_aligned)(void *, size_t) = lookup("_ZdaPvSt11align_val_t");
    void (*delete_sized_aligned)(void *, size_t, size_t) = lookup("_ZdlPvmSt11align_val_t");
    void (*delete_array_sized_aligned)(void *, size_t, size_t) =
        lookup("_ZdaPvmSt11align_val_t");
    void (*delete_aligned_nothrow)(void *, size_t, const void *) =
        lookup("_ZdlPvSt11align_val_tRKSt9nothrow_t");
    void (*delete_array_aligned_nothrow)(void *, size_t, const void *) =
        lookup("_ZdaPvSt11align_val_tRKSt9nothrow_t");
    const char tag = 0;

    void *p = new_(24);
    CHECK(p && ALIGNED(p, 16));
    delete_(p);
    p = new_(0);
    CHECK(p != NULL);
    delete_(p);
    p = new_array(100);
    CHECK(p && ALIGNED(p, 16));
    delete_array(p);
    p = new_(40);
    delete_sized(p, 40);
    p = new_array(400);
    delete_array_sized(p, 400);
    p = new_nothrow(8, &tag);
    CHECK(p != NULL);
    delete_nothrow(p, &tag);
    p = new_array_nothrow(8, &tag);
    CHECK(p != NULL);
    delete_array_nothrow(p, &tag);
    CHECK(new_nothrow(huge, &tag) == NULL);
    CHECK(new_array_nothrow(huge, &tag) == NULL);
    for (size_t align = 32; align <= 65536; align *= 8) {
        p = new_aligned(50, align);
        CHECK(p && ALIGNED(p, align));
        delete_aligned(p, align);
        p = new_array_aligned(50, align);
        CHECK(p && ALIGNED(p, align));
        delete_array_aligned(p, align);
        p = new_aligned(70, align);
        delete_sized_aligned(p, 70, align);
        p = new_array_aligned(70, align);
        delete_array_sized_aligned(p, 70, align);
        p = new_aligned_nothrow(9, align, &tag);
        CHECK(p && ALIGNED(p, align));
        delete_aligned_nothrow(p, align, &tag);
        p = new_array_aligned_nothrow(9, align, &tag);
        CHECK(p && ALIGNED(p, align));
        delete_array_aligned_nothrow(p, align, &tag);
        CHECK(new_aligned_nothrow(huge, align, &tag) == NULL);
        CHECK(new_array_aligned_nothrow(huge, align, &tag) == NULL);
    }
    delete_(NULL);
    delete_array(NULL);
}

/* Threads pass blocks around a ring: each frees what its neighbour made. */
enum { RING = 4, ROUNDS = 200, BATCH = 256 };
static void *slots[RING][BATCH];
static pthread_barrier_t barrier;

static void *ring_worker(void *arg) {
    long me = (long)arg;
    long next = (me + 1) % RING;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < BATCH; i++) {
            size_t size = (size_t)(i * 37 + round) % 3000 + 1;
            unsigned char *p = malloc(size);
            if (!p) abort();
            p[0] = (unsigned char)me;
            p[size - 1] = (unsigned char)me;
            slots[me][i] = p;
        }
        pthread_barrier_wait(&barrier);
        for (int i = 0; i < BATCH; i++) {
            unsigned char *p = slots[next][i];
            if (p[0] != (unsigned char)next) abort();
            free(p);
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

static void check_cross_thread_frees(void) {
    pthread_t threads[RING];
    pthread_barrier_init(&barrier, NULL, RING);
    for (long i = 0; i < RING; i++)
        CHECK(pthread_create(&threads[i], NULL, ring_worker, (void *)i) == 0);
    for (int i = 0; i < RING; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);
}

static void *short_lived(void *arg) {
    void **keep = arg;
    *keep = malloc(100);
    free(malloc(5000));
    pthread_exit(NULL);
}

static void check_thread_heaps_released(void) {
    if (!strata_thread_heaps) return;
    size_t before = strata_thread_heaps();
    void *kept[64];
    for (int round = 0; round < 4; round++) {
        pthread_t threads[16];
        for (int i = 0; i < 16; i++)
            CHECK(pthread_create(&threads[i], NULL, short_lived, &kept[round * 16 + i]) == 0);
        for (int i = 0; i < 16; i++) pthread_join(threads[i], NULL);
    }
    CHECK(strata_thread_heaps() == before);
    /* Blocks of exited threads stay valid and can be freed here. */
    for (int i = 0; i < 64; i++) free(kept[i]);
}

static volatile int stop_churn;

static void *churn(void *arg) {
    (void)arg;
    void *held[64] = {0};
    unsigned k = 0;
    while (!stop_churn) {
        k = k * 1103515245u + 12345u;
        unsigned slot = (k >> 8) % 64;
        free(held[slot]);
        held[slot] = malloc((k >> 16) % 20000 + 1);
    }
    for (int i = 0; i < 64; i++) free(held[i]);
    return NULL;
}

static void *child_thread(void *arg) {
    for (int i = 0; i < 1000; i++) free(malloc((size_t)i * 13 + 1));
    return arg;
}

/* fork() while other threads allocate: the child must allocate freely. */
static void check_fork_from_threads(void) {
    pthread_t threads[3];
    stop_churn = 0;
    for (int i = 0; i < 3; i++) CHECK(pthread_create(&threads[i], NULL, churn, NULL) == 0);
    for (int round = 0; round < 30; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i < 2000; i++) free(malloc((size_t)i % 5000 + 1));
            pthread_t t;
            if (pthread_create(&t, NULL, child_thread, NULL) != 0) _exit(3);
            pthread_join(t, NULL);
            _exit(0);
        }
        CHECK(pid > 0);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        usleep(1000);
    }
    stop_churn = 1;
    for (int i = 0; i < 3; i++) pthread_join(threads[i], NULL);
}

/* Keeps a realloc that should not return from being optimised away. */
static void *volatile sink;

static int memory_error(const char *mode) {
    if (!strcmp(mode, "overflow")) {
        char *p = malloc(24);
        p[24] = 'A';
        p[25] = 'B';
        free(p);
    } else if (!strcmp(mode, "underflow")) {
        char *p = malloc(24);
        p[-1] = 'A';
        free(p);
    } else if (!strcmp(mode, "double-free")) {
        char *p = malloc(40);
        free(p);
        free(p);
    } else if (!strcmp(mode, "stack-free")) {
        char on_stack[64];
        free(on_stack + 16);
    } else if (!strcmp(mode, "header-free")) {
        /* The start of the 4 MiB arena a small block lies in: its header. */
        char *p = malloc(24);
        free((void *)((uintptr_t)p & ~(((uintptr_t)4 << 20) - 1)));
    } else if (!strcmp(mode, "stack-realloc")) {
        char on_stack[64];
        sink = realloc(on_stack + 16, 100);
    } else if (!strcmp(mode, "header-realloc")) {
        char *p = malloc(24);
        sink = realloc((void *)((uintptr_t)p & ~(((uintptr_t)4 << 20) - 1)), 100);
    } else if (!strcmp(mode, "new-free")) {
        void *(*new_)(size_t) = lookup("_Znwm");
        free(new_(32));
    } else if (!strcmp(mode, "write-after-free")) {
        char *p = malloc(48);
        free(p);
        p[5] = 'X';
        for (int i = 0; i < 5000; i++) free(malloc(16));
    } else {
        fprintf(stderr, "api.c: unknown mode %s\n", mode);
        return 2;
    }
    printf("memory error %s went unnoticed\n", mode);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "all";
    const char *expected = getenv("STRATA_EXPECTED");
    if (expected && !strcmp(expected, "1")) {
        strata_owns = (int (*)(const void *))lookup("strata_owns");
        strata_thread_heaps = (size_t(*)(void))lookup("strata_thread_heaps");
    }
    if (strcmp(mode, "all")) return memory_error(mode);

    check_malloc_free();
    check_calloc();
    check_realloc();
    check_aligned();
    const char *offset = getenv("STRATA_EXPECT_OFFSET");
    if (offset) check_block_offset(offset);
    check_mallinfo();
    check_cxx_operators();
    check_cross_thread_frees();
    check_thread_heaps_released();
    check_fork_from_threads();
    if (failures) {
        fprintf(stderr, "api.c: %d checks failed\n", failures);
        return 1;
    }
    if (expected && !strcmp(expected, "1")) malloc_stats();
    printf("api.c: all checks passed\n");
    return 0;
}
