// Go's formatting of durations and quoted strings and its math.Pow for integer exponents,
// ported so that the messages and timer delays the SDK produces are byte for byte those of
// the Go SDK (they are recorded in history).

const NANOS_PER_SECOND: u64 = 1_000_000_000;

function fmtFrac(out: i32[], v: u64, prec: i32): u64 {
  let print = false;
  for (let i = 0; i < prec; i++) {
    const digit = <i32>(v % 10);
    print = print || digit != 0;
    if (print) out.push(48 + digit);
    v /= 10;
  }
  if (print) out.push(46);
  return v;
}

function fmtInt(out: i32[], v: u64): void {
  if (v == 0) {
    out.push(48);
    return;
  }
  while (v > 0) {
    out.push(48 + <i32>(v % 10));
    v /= 10;
  }
}

/** Formats a duration in nanoseconds as Go's time.Duration.String ("1.5s", "300ms", "1m0s"). */
export function formatDuration(d: i64): string {
  const rev: i32[] = []; // the characters, last first
  let u: u64 = d < 0 ? <u64>(-d) : <u64>d;
  if (u < NANOS_PER_SECOND) {
    let prec = 0;
    rev.push(115); // s
    if (u == 0) {
      rev.push(48);
    } else {
      if (u < 1000) {
        prec = 0;
        rev.push(110); // n
      } else if (u < 1_000_000) {
        prec = 3;
        rev.push(0xb5); // µ
      } else {
        prec = 6;
        rev.push(109); // m
      }
      u = fmtFrac(rev, u, prec);
      fmtInt(rev, u);
    }
  } else {
    rev.push(115);
    u = fmtFrac(rev, u, 9);
    fmtInt(rev, u % 60);
    u /= 60;
    if (u > 0) {
      rev.push(109);
      fmtInt(rev, u % 60);
      u /= 60;
      if (u > 0) {
        rev.push(104);
        fmtInt(rev, u);
      }
    }
  }
  if (d < 0) rev.push(45);
  let s = "";
  for (let i = rev.length - 1; i >= 0; i--) s += String.fromCharCode(unchecked(rev[i]));
  return s;
}

/**
 * Quotes s as Go's %q does for the names the host accepts (printable text): in double quotes,
 * with " and \ escaped.
 */
export function goQuote(s: string): string {
  let out = "\"";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 34 || c == 92) out += "\\";
    out += String.fromCharCode(c);
  }
  return out + "\"";
}

function frexp(x: f64, exp: i32[]): f64 {
  // x is finite and non-zero here.
  let bits = reinterpret<u64>(x);
  let e = <i32>((bits >> 52) & 0x7ff);
  let adj = 0;
  if (e == 0) { // subnormal
    x *= 4503599627370496.0; // 2^52
    bits = reinterpret<u64>(x);
    e = <i32>((bits >> 52) & 0x7ff);
    adj = -52;
  }
  exp[0] = e - 1022 + adj;
  bits = (bits & ~(<u64>0x7ff << 52)) | (<u64>1022 << 52);
  return reinterpret<f64>(bits);
}

/** Go's math.Pow(x, y) for an integer y >= 0 (repeated squaring, as Go computes it). */
export function goPowInt(x: f64, y: i64): f64 {
  if (y == 0 || x == 1) return 1;
  if (y == 1) return x;
  if (x == 0 || !isFinite(x)) return Math.pow(x, <f64>y);
  let a1: f64 = 1.0;
  let ae: i32 = 0;
  const xe: i32[] = [0];
  let x1 = frexp(x, xe);
  let e = xe[0];
  for (let i = y; i != 0; i >>= 1) {
    if (e < -(1 << 12) || (1 << 12) < e) {
      ae += e;
      break;
    }
    if ((i & 1) == 1) {
      a1 *= x1;
      ae += e;
    }
    x1 *= x1;
    e <<= 1;
    if (x1 < 0.5) {
      x1 += x1;
      e--;
    }
  }
  return ldexp(a1, ae);
}

function ldexp(frac: f64, exp: i32): f64 {
  if (frac == 0 || !isFinite(frac)) return frac;
  // Scale in steps that stay in range, as exact as a multiplication by a power of two.
  while (exp > 1000) { frac *= 1.0715086071862673e301; exp -= 1000; } // 2^1000
  while (exp < -1000) { frac *= 9.332636185032189e-302; exp += 1000; } // 2^-1000
  return frac * reinterpret<f64>(<u64>(exp + 1023) << 52);
}
