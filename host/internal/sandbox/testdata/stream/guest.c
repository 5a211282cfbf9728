/* The sandbox's stream-form test guest: a WASI command that speaks the stream ABI with stdio
 * on /durohost/v1 and misbehaves in the ways the orchestration's name asks for. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *out, *in;

/* put writes raw call bytes. */
static void put(const void *p, size_t n) {
	fwrite(p, 1, n, out);
	fflush(out);
}

/* item skips one answer item (definite lengths) and returns its first byte. */
static int item(void) {
	int h = getc(in);
	if (h == EOF)
		exit(90);
	int info = h & 31, major = h >> 5;
	unsigned long long arg = info < 24 ? (unsigned long long)info : 0;
	if (info >= 24)
		for (int k = 0; k < (1 << (info - 24)); k++)
			arg = arg << 8 | (unsigned)getc(in);
	if (major == 2 || major == 3)
		for (unsigned long long k = 0; k < arg; k++)
			getc(in);
	if (major == 4 || major == 5)
		for (unsigned long long k = 0; k < (major == 5 ? 2 * arg : arg); k++)
			item();
	return h;
}

/* text writes a CBOR text string (short). */
static void text(unsigned char *b, size_t *n, const char *s) {
	size_t l = strlen(s);
	b[(*n)++] = (unsigned char)(0x78);
	b[(*n)++] = (unsigned char)l;
	memcpy(b + *n, s, l);
	*n += l;
}

/* complete_output completes with output bytes (< 256). */
static void complete_output(const char *s) {
	unsigned char b[512];
	size_t n = 0, l = strlen(s);
	b[n++] = 0x82; /* [7, {1: 1, 2: bytes}] */
	b[n++] = 0x07;
	b[n++] = 0xa2;
	b[n++] = 0x01;
	b[n++] = 0x01;
	b[n++] = 0x02;
	b[n++] = 0x58;
	b[n++] = (unsigned char)l;
	memcpy(b + n, s, l);
	n += l;
	put(b, n);
	item();
}

static char name[256];

/* start_info reads the StartInfo and keeps the orchestration's name; it returns the mode. */
static int start_info(void) {
	put("\x81\x01", 2);
	int h = getc(in);
	int pairs = h & 31, mode = 0;
	for (int k = 0; k < pairs; k++) {
		int key = getc(in);
		if (key == 1) {
			mode = getc(in);
		} else if (key == 2) {
			int t = getc(in), l = t & 31;
			if (l == 24)
				l = getc(in);
			for (int j = 0; j < l; j++)
				name[j] = (char)getc(in);
			name[l] = 0;
		} else {
			item();
		}
	}
	return mode;
}

static const char *names[] = {"hello", "notarray", "indefinite", "unknown", "noexit", "exit0", "exit3",
			      "file", "write_file", "list", "unread", "after_complete"};

int main(void) {
	out = fopen("/durohost/v1", "w");
	in = fopen("/durohost/v1", "r");
	if (!out || !in)
		return 91;
	if (start_info() == 1) {
		unsigned char b[1024];
		size_t n = 0;
		size_t count = sizeof names / sizeof names[0];
		b[n++] = 0x82; /* [7, {1: 4, 6: [{1: name}...]}] */
		b[n++] = 0x07;
		b[n++] = 0xa2;
		b[n++] = 0x01;
		b[n++] = 0x04;
		b[n++] = 0x06;
		b[n++] = (unsigned char)(0x80 | count);
		for (size_t k = 0; k < count; k++) {
			b[n++] = 0xa1;
			b[n++] = 0x01;
			text(b, &n, names[k]);
		}
		put(b, n);
		item();
		return 0;
	}
	if (!strcmp(name, "hello")) {
		/* [2, {1: 1, 2: "a", 3: h'2278 22'}] then await [h] and result h */
		put("\x82\x02\xa3\x01\x01\x02\x61\x61\x03\x43\x22\x78\x22", 13);
		int h = getc(in) & 31;
		unsigned char aw[] = {0x82, 0x03, 0x81, (unsigned char)h};
		put(aw, sizeof aw);
		item();
		unsigned char rs[] = {0x82, 0x04, (unsigned char)h};
		put(rs, sizeof rs);
		/* {1: bytes} */
		getc(in);
		getc(in);
		int t = getc(in), l = t & 31;
		char res[32];
		for (int j = 0; j < l; j++)
			res[j] = (char)getc(in);
		res[l] = 0;
		complete_output(res);
	} else if (!strcmp(name, "notarray")) {
		put("\x01", 1);
	} else if (!strcmp(name, "indefinite")) {
		put("\x9f\x01\xff", 3);
	} else if (!strcmp(name, "unknown")) {
		put("\x81\x18\x2a", 3);
	} else if (!strcmp(name, "noexit")) {
		return 0;
	} else if (!strcmp(name, "exit0")) {
		exit(0);
	} else if (!strcmp(name, "exit3")) {
		exit(3);
	} else if (!strcmp(name, "file")) {
		char buf[128] = {0};
		FILE *f = fopen("/durohost/files/dir/greeting.txt", "r");
		if (!f || !fgets(buf, sizeof buf, f))
			complete_output("\"no file\"");
		else
			complete_output(buf);
	} else if (!strcmp(name, "write_file")) {
		FILE *f = fopen("/durohost/files/dir/greeting.txt", "w");
		FILE *g = fopen("/durohost/new.txt", "w");
		complete_output(!f && !g ? "\"refused\"" : "\"written\"");
	} else if (!strcmp(name, "list")) {
		/* The entries of a bundled directory, as a JSON string: "name/ name ..." (/ for a
		 * directory), in the order listed. */
		char buf[200] = "\"";
		DIR *d = opendir("/durohost/files/dir");
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			if (buf[1])
				strcat(buf, " ");
			strcat(buf, e->d_name);
			if (e->d_type == DT_DIR)
				strcat(buf, "/");
		}
		strcat(buf, "\"");
		complete_output(d ? buf : "\"no directory\"");
	} else if (!strcmp(name, "unread")) {
		for (int k = 0; k < 1000; k++)
			put("\x81\x01", 2);
	} else if (!strcmp(name, "after_complete")) {
		complete_output("1");
		put("\x82\x02\xa2\x01\x02\x06\x00", 7); /* schedule a timer */
		item();
	}
	return 0;
}
