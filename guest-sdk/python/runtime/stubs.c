/* What libpython asks of its C library and the wasi-libc of Debian does not provide: a
 * sandbox has no dynamic loading and no processes. */
#include <stddef.h>

void *dlopen(const char *file, int mode) {
	(void)file;
	(void)mode;
	return NULL;
}

void *dlsym(void *handle, const char *symbol) {
	(void)handle;
	(void)symbol;
	return NULL;
}

char *dlerror(void) { return "dynamic loading is not supported"; }

int getpid(void) { return 1; }
