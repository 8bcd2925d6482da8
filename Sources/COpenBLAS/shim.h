#ifndef FLEDGE_COPENBLAS_SHIM_H
#define FLEDGE_COPENBLAS_SHIM_H
// OpenBLAS's cblas.h also declares openblas_set_num_threads / openblas_get_corename,
// which FledgeTensor/BLAS.swift uses to keep OpenBLAS single-threaded inside our own
// parallel regions (never nest our threads inside OpenBLAS's).
#include <cblas.h>
#endif
