// A minimal CBOR (RFC 8949) writer and reader for the ABI's messages: maps with small
// unsigned integer keys holding unsigned and negative integers, text, byte strings, arrays
// and nested maps, all of definite length.

import { decodeUTF8 } from "./utf8";

/** CborWriter appends CBOR items to a growable buffer that is reused between messages. */
export class CborWriter {
  buf: Uint8Array = new Uint8Array(256);
  len: i32 = 0;

  reset(): void {
    this.len = 0;
  }

  get ptr(): usize {
    return this.buf.dataStart;
  }

  private reserve(n: i32): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length << 1;
    while (cap < need) cap <<= 1;
    const b = new Uint8Array(cap);
    memory.copy(b.dataStart, this.buf.dataStart, this.len);
    this.buf = b;
  }

  head(major: u8, v: u64): void {
    this.reserve(9);
    const p = this.buf.dataStart + <usize>this.len;
    const m = major << 5;
    if (v < 24) {
      store<u8>(p, m | <u8>v);
      this.len += 1;
    } else if (v <= 0xff) {
      store<u8>(p, m | 24);
      store<u8>(p + 1, <u8>v);
      this.len += 2;
    } else if (v <= 0xffff) {
      store<u8>(p, m | 25);
      store<u16>(p + 1, bswap<u16>(<u16>v));
      this.len += 3;
    } else if (v <= 0xffffffff) {
      store<u8>(p, m | 26);
      store<u32>(p + 1, bswap<u32>(<u32>v));
      this.len += 5;
    } else {
      store<u8>(p, m | 27);
      store<u64>(p + 1, bswap<u64>(v));
      this.len += 9;
    }
  }

  uint(v: u64): void {
    this.head(0, v);
  }

  int(v: i64): void {
    if (v >= 0) this.head(0, <u64>v);
    else this.head(1, <u64>(-1 - v));
  }

  map(n: i32): void {
    this.head(5, <u64>n);
  }

  array(n: i32): void {
    this.head(4, <u64>n);
  }

  text(s: string): void {
    const n = String.UTF8.byteLength(s);
    this.head(3, <u64>n);
    this.reserve(n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.buf.dataStart + <usize>this.len, false, String.UTF8.ErrorMode.REPLACE);
    this.len += n;
  }

  bytes(ptr: usize, n: i32): void {
    this.head(2, <u64>n);
    this.reserve(n);
    memory.copy(this.buf.dataStart + <usize>this.len, ptr, n);
    this.len += n;
  }

  /** Writes a text string holding s (UTF-16) encoded as UTF-8 bytes, as a byte string. */
  textAsBytes(s: string): void {
    const n = String.UTF8.byteLength(s);
    this.head(2, <u64>n);
    this.reserve(n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.buf.dataStart + <usize>this.len, false, String.UTF8.ErrorMode.REPLACE);
    this.len += n;
  }
}

/** CborReader reads CBOR items from a buffer; a malformed message aborts. */
export class CborReader {
  constructor(public ptr: usize, public end: usize) {}

  done(): bool {
    return this.ptr >= this.end;
  }

  /** Aborts unless n more bytes are left; n is the 64-bit length of an item, compared
   * without narrowing it (a length past 4 GiB would otherwise wrap to a small one). */
  private need(n: u64): void {
    if (n > <u64>(this.end - this.ptr)) abort("durohost: truncated CBOR message");
  }

  /** Reads an item's head: its major type in major and its argument in the result. */
  major: u8 = 0;

  head(): u64 {
    this.need(1);
    const b = load<u8>(this.ptr);
    this.ptr++;
    this.major = b >> 5;
    const info = b & 31;
    if (info < 24) return <u64>info;
    if (info == 24) {
      this.need(1);
      const v = load<u8>(this.ptr);
      this.ptr += 1;
      return <u64>v;
    }
    if (info == 25) {
      this.need(2);
      const v = bswap<u16>(load<u16>(this.ptr));
      this.ptr += 2;
      return <u64>v;
    }
    if (info == 26) {
      this.need(4);
      const v = bswap<u32>(load<u32>(this.ptr));
      this.ptr += 4;
      return <u64>v;
    }
    if (info == 27) {
      this.need(8);
      const v = bswap<u64>(load<u64>(this.ptr));
      this.ptr += 8;
      return v;
    }
    abort("durohost: unsupported CBOR item (indefinite length or reserved)");
    return 0;
  }

  expect(major: u8): u64 {
    const v = this.head();
    if (this.major != major) abort("durohost: unexpected CBOR item");
    return v;
  }

  uint(): u64 {
    return this.expect(0);
  }

  int(): i64 {
    const v = this.head();
    if (this.major == 0) return <i64>v;
    if (this.major == 1) return -1 - <i64>v;
    abort("durohost: CBOR integer expected");
    return 0;
  }

  text(): string {
    const len = this.expect(3);
    this.need(len);
    const n = <usize>len;
    const s = decodeUTF8(this.ptr, n);
    this.ptr += n;
    return s;
  }

  bytes(): Uint8Array {
    const len = this.expect(2);
    this.need(len);
    const n = <i32>len;
    const b = new Uint8Array(n);
    memory.copy(b.dataStart, this.ptr, n);
    this.ptr += <usize>n;
    return b;
  }

  /** Skips one item of any type. */
  skip(): void {
    const v = this.head();
    switch (this.major) {
      case 0: case 1: case 7: return;
      case 2: case 3: this.need(v); this.ptr += <usize>v; return;
      case 4: for (let i: u64 = 0; i < v; i++) this.skip(); return;
      case 5: for (let i: u64 = 0; i < v * 2; i++) this.skip(); return;
      case 6: this.skip(); return;
    }
  }
}
