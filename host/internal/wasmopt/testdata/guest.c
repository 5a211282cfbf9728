// A small C reactor with initialised data of several kinds (strings, tables, pointers to
// other data, a mostly zero array), a fixture of wasmopt's
// tests for a module that did not come from the Go toolchain. Rebuild with build.sh:
//
//	clang --target=wasm32-wasi -O2 -mexec-model=reactor -o guest.wasm guest.c
//
// (Debian 12 packages clang lld wasi-libc libclang-rt-dev-wasm32.)
#include <stdint.h>
#include <string.h>

static const char *const names[] = {"alpha", "beta", "gamma", "delta", "epsilon"};

static const uint32_t primes[16] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53};

struct entry {
	const char *name;
	int32_t value;
	const struct entry *next;
};

static struct entry chain[3] = {
	{"first", 1, &chain[1]},
	{"second", 2, &chain[2]},
	{"third", 3, 0},
};

// Mostly zero, with a few initialised elements far apart.
static int32_t sparse[4096] = {1, [1000] = 2, [4095] = 3};

static char buffer[256];
static int32_t counter = 42;

__attribute__((export_name("sum")))
int32_t sum(void) {
	int32_t s = counter;
	for (int i = 0; i < 16; i++)
		s += (int32_t)primes[i];
	for (const struct entry *e = &chain[0]; e; e = e->next)
		s += e->value;
	return s + sparse[1000] + sparse[4095];
}

__attribute__((export_name("name")))
const char *name(int32_t i) {
	const char *n = names[(uint32_t)i % 5];
	strcpy(buffer, n);
	counter++;
	return buffer;
}

__attribute__((export_name("poke")))
void poke(int32_t i, int32_t v) {
	sparse[(uint32_t)i % 4096] = v;
}
