/* STREAM's triad, a[i] = b[i] + s * c[i], on all cores with OpenMP, following McCalpin's rules.
 *
 * Usage: stream_triad N [NTIMES [hugepages]]   (N elements per array; NTIMES >= 2, default 10)
 * Prints: bytes/s threads bytes_per_element
 *
 * As in stream.c (https://www.cs.virginia.edu/stream/): the arrays are first touched by the
 * same parallel static schedule as the timed loop (pages land near their thread); the kernel
 * runs NTIMES times and the first run is left out of the best; each run counts
 * 3 * sizeof(STREAM_TYPE) * N bytes (two reads and one write: write-allocate traffic is not
 * counted); the result is checked. The caller picks N >= 4x the last-level cache.
 * STREAM_TYPE is float by default (coursekit's float32); build with -DSTREAM_TYPE=double for
 * STREAM's own type. Plain stores, as gcc -O3 makes of stream.c (no streaming stores).
 * "hugepages" allocates as numpy does for large arrays (2 MiB aligned, madvise(MADV_HUGEPAGE)),
 * so that page size, which matters in VMs, is the same on both sides of a comparison.
 *
 * Built with -shared -fPIC it is also a library: triad_setup(n, hugepages), then triad_run()
 * once per pass (timed by the caller, who leaves out the first), triad_check(), triad_free().
 * benchmarks/roofline_ceilings.py uses it to take turns with coursekit's triads in one process.
 * Build: cc -O3 -march=native -fopenmp stream_triad.c -o stream_triad
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef STREAM_TYPE
#define STREAM_TYPE float
#endif

static STREAM_TYPE *a, *b, *c;
static long n;

/* nbytes rounded up to the alignment: 64 bytes, or 2 MiB with transparent huge pages asked for. */
static STREAM_TYPE *alloc_array(size_t nbytes, int hugepages) {
    size_t align = hugepages ? (size_t)2 << 20 : 64;
    size_t size = (nbytes + align - 1) / align * align;
    void *p = aligned_alloc(align, size);
#ifdef MADV_HUGEPAGE
    if (p && hugepages) madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

static void free_arrays(void) {
    free(a);
    free(b);
    free(c);
    a = b = c = NULL;
}

void triad_free(void) { free_arrays(); }

/* Allocate 3 arrays of n elements and first-touch them in parallel; 0 on success. */
int triad_setup(long elements, int hugepages) {
    free_arrays();
    n = elements;
    size_t nbytes = (size_t)n * sizeof(STREAM_TYPE);
    a = alloc_array(nbytes, hugepages);
    b = alloc_array(nbytes, hugepages);
    c = alloc_array(nbytes, hugepages);
    if (!a || !b || !c || n <= 0) return 1;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        a[i] = 0.0;
        b[i] = 1.0;
        c[i] = 2.0;
    }
    return 0;
}

/* One triad pass: 3 * sizeof(STREAM_TYPE) * n bytes counted. */
void triad_run(void) {
    const STREAM_TYPE s = 3.0;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

/* 0 when a = 1 + 3 * 2 = 7 everywhere sampled. */
int triad_check(void) {
    for (long i = 0; i < n; i += n / 97 + 1)
        if (a[i] != 7.0) return 1;
    return 0;
}

int triad_threads(void) { return omp_get_max_threads(); }

int triad_bytes_per_element(void) { return (int)sizeof(STREAM_TYPE); }

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4 || (argc == 4 && strcmp(argv[3], "hugepages") != 0)) {
        fprintf(stderr, "usage: %s N [NTIMES [hugepages]]\n", argv[0]);
        return 2;
    }
    int ntimes = argc >= 3 ? atoi(argv[2]) : 10;
    if (ntimes < 2 || triad_setup(atol(argv[1]), argc == 4) != 0) {
        fprintf(stderr, "need N > 0, NTIMES >= 2 and memory for 3 x %s elements\n", argv[1]);
        return 1;
    }
    double best = 1e30;
    for (int k = 0; k < ntimes; k++) {
        double t0 = omp_get_wtime();
        triad_run();
        double t = omp_get_wtime() - t0;
        if (k > 0 && t < best) best = t; /* like STREAM: the first iteration is not counted */
    }
    if (triad_check() != 0) {
        fprintf(stderr, "wrong result\n");
        return 1;
    }
    printf("%.6e %d %d\n", 3.0 * sizeof(STREAM_TYPE) * n / best, omp_get_max_threads(), (int)sizeof(STREAM_TYPE));
    free_arrays();
    return 0;
}
