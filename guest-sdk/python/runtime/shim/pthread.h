/* CPython's headers name pthread_key_t (Py_tss_t); Debian's wasi-libc has no pthread.h, and
 * the interpreter is single-threaded in a sandbox. */
#ifndef DUROHOST_SHIM_PTHREAD_H
#define DUROHOST_SHIM_PTHREAD_H
typedef unsigned int pthread_key_t;
#endif
