// UTF-8 to UTF-16 decoding as Go reads UTF-8.

/**
 * Decodes len bytes of UTF-8 at ptr as Go's utf8.DecodeRune reads them: every byte that does
 * not begin a valid sequence (a stray continuation byte, an invalid or truncated sequence, an
 * overlong form, a surrogate, a code point past U+10FFFF) becomes one U+FFFD and decoding goes
 * on at the next byte. (String.UTF8.decodeUnsafe does not check: an invalid byte swallowed up
 * to three bytes after it, such as the quote that ends a JSON string.)
 */
export function decodeUTF8(ptr: usize, len: usize): string {
  // At most one UTF-16 unit per byte: a 4-byte sequence gives two, any other byte one.
  const out = __new(len << 1, idof<String>());
  let o = out;
  let p = ptr;
  const end = ptr + len;
  while (p < end) {
    const b0 = <u32>load<u8>(p);
    if (b0 < 0x80) {
      store<u16>(o, <u16>b0);
      o += 2;
      p++;
      continue;
    }
    const left = end - p;
    let cp: u32 = 0xfffd;
    let n: usize = 1;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      if (left >= 2) {
        const b1 = <u32>load<u8>(p + 1);
        if ((b1 & 0xc0) == 0x80) {
          cp = (b0 & 0x1f) << 6 | (b1 & 0x3f);
          n = 2;
        }
      }
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      if (left >= 3) {
        const b1 = <u32>load<u8>(p + 1);
        const b2 = <u32>load<u8>(p + 2);
        const lo: u32 = b0 == 0xe0 ? 0xa0 : 0x80;
        const hi: u32 = b0 == 0xed ? 0x9f : 0xbf;
        if (b1 >= lo && b1 <= hi && (b2 & 0xc0) == 0x80) {
          cp = (b0 & 0x0f) << 12 | (b1 & 0x3f) << 6 | (b2 & 0x3f);
          n = 3;
        }
      }
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      if (left >= 4) {
        const b1 = <u32>load<u8>(p + 1);
        const b2 = <u32>load<u8>(p + 2);
        const b3 = <u32>load<u8>(p + 3);
        const lo: u32 = b0 == 0xf0 ? 0x90 : 0x80;
        const hi: u32 = b0 == 0xf4 ? 0x8f : 0xbf;
        if (b1 >= lo && b1 <= hi && (b2 & 0xc0) == 0x80 && (b3 & 0xc0) == 0x80) {
          cp = (b0 & 0x07) << 18 | (b1 & 0x3f) << 12 | (b2 & 0x3f) << 6 | (b3 & 0x3f);
          n = 4;
        }
      }
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      store<u16>(o, <u16>(0xd800 | (cp >> 10)));
      store<u16>(o + 2, <u16>(0xdc00 | (cp & 0x3ff)));
      o += 4;
    } else {
      store<u16>(o, <u16>cp);
      o += 2;
    }
    p += n;
  }
  return changetype<string>(__renew(out, o - out));
}
