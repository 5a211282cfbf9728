// JSON for orchestration payloads: a parser that keeps the exact source text of every value
// (so that values can be passed on byte for byte) and a writer whose output is byte for byte
// what Go's encoding/json produces (compact, with <, >, & and U+2028/U+2029 escaped), so that
// an orchestration written in AssemblyScript records the same history as its Go twin.

/** The kinds of JSON values. Missing is what JsonValue.get returns for an absent key. */
export enum JsonKind {
  Missing = 0,
  Null = 1,
  Bool = 2,
  Number = 3,
  String = 4,
  Array = 5,
  Object = 6,
  Invalid = 7,
}

const EMPTY_ITEMS: JsonValue[] = [];

/**
 * A parsed JSON value. Accessors never abort: a missing key gives a value of kind Missing,
 * and the typed accessors return their default for a value of another kind, so that
 * `input.get("retry").get("max_attempts").int(3)` reads like optional chaining.
 */
export class JsonValue {
  kind: JsonKind = JsonKind.Missing;
  /** The source text the value was parsed from, and the value's place in it. */
  src: string = "";
  start: i32 = 0;
  end: i32 = 0;
  boolValue: bool = false;
  numValue: f64 = 0;
  strValue: string = "";
  items: JsonValue[] = EMPTY_ITEMS;
  keys: string[] = [];
  /** For a value of kind Invalid: what is wrong with the text. */
  error: string = "";

  /** The value's exact source text ("" for a missing value). */
  raw(): string {
    if (this.kind == JsonKind.Missing || this.kind == JsonKind.Invalid) return "";
    return this.src.substring(this.start, this.end);
  }

  get isMissing(): bool { return this.kind == JsonKind.Missing; }
  /** True for null and for a missing value: what Go decodes to a zero value. */
  get isNull(): bool { return this.kind == JsonKind.Null || this.kind == JsonKind.Missing; }
  get isValid(): bool { return this.kind != JsonKind.Invalid; }

  /** The member key of an object (the last one when the key repeats, as in Go). */
  get(key: string): JsonValue {
    if (this.kind == JsonKind.Object) {
      for (let i = this.keys.length - 1; i >= 0; i--) {
        if (unchecked(this.keys[i]) == key) return unchecked(this.items[i]);
      }
    }
    return MISSING;
  }

  has(key: string): bool {
    return !this.get(key).isMissing;
  }

  /** The i-th element of an array. */
  at(i: i32): JsonValue {
    if (this.kind == JsonKind.Array && i >= 0 && i < this.items.length) return unchecked(this.items[i]);
    return MISSING;
  }

  /** The number of elements of an array or members of an object. */
  get length(): i32 {
    return this.kind == JsonKind.Array || this.kind == JsonKind.Object ? this.items.length : 0;
  }

  str(def: string = ""): string {
    return this.kind == JsonKind.String ? this.strValue : def;
  }

  bool(def: bool = false): bool {
    return this.kind == JsonKind.Bool ? this.boolValue : def;
  }

  num(def: f64 = 0): f64 {
    return this.kind == JsonKind.Number ? this.numValue : def;
  }

  /** The number as an integer (truncated), exact for integers written without a fraction. */
  int(def: i64 = 0): i64 {
    if (this.kind != JsonKind.Number) return def;
    const r = this.raw();
    let v: i64 = 0;
    let i = 0;
    let neg = false;
    if (r.length > 0 && r.charCodeAt(0) == 45) { neg = true; i = 1; }
    for (; i < r.length; i++) {
      const c = r.charCodeAt(i);
      if (c < 48 || c > 57) return <i64>this.numValue;
      v = v * 10 + <i64>(c - 48);
    }
    return neg ? -v : v;
  }

  /** The elements of an array (an empty list for anything else). */
  array(): JsonValue[] {
    return this.kind == JsonKind.Array ? this.items : EMPTY_ITEMS;
  }

  /** The strings of an array of strings. */
  strings(): string[] {
    const out = new Array<string>(0);
    if (this.kind != JsonKind.Array) return out;
    for (let i = 0; i < this.items.length; i++) out.push(unchecked(this.items[i]).str());
    return out;
  }
}

const MISSING = new JsonValue();

class Parser {
  pos: i32 = 0;
  err: string = "";
  constructor(public s: string) {}

  fail(msg: string): JsonValue {
    if (this.err.length == 0) this.err = msg + " at offset " + this.pos.toString();
    const v = new JsonValue();
    v.kind = JsonKind.Invalid;
    return v;
  }

  ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c != 32 && c != 9 && c != 10 && c != 13) break;
      this.pos++;
    }
  }

  // value recurses once per level: MAX_DEPTH levels stay well inside the stack the host gives
  // (1,000 overflowed it, a trap instead of an error).
  value(depth: i32): JsonValue {
    if (depth > MAX_DEPTH) return this.fail("JSON nested too deeply (more than " + MAX_DEPTH.toString() + " levels)");
    this.ws();
    const s = this.s;
    if (this.pos >= s.length) return this.fail("unexpected end of JSON");
    const v = new JsonValue();
    v.src = s;
    v.start = this.pos;
    const c = s.charCodeAt(this.pos);
    if (c == 123) { // {
      v.kind = JsonKind.Object;
      v.items = [];
      this.pos++;
      this.ws();
      if (this.pos < s.length && s.charCodeAt(this.pos) == 125) {
        this.pos++;
      } else {
        let more = true;
        while (more) {
          this.ws();
          if (this.pos >= s.length || s.charCodeAt(this.pos) != 34) return this.fail("object key expected");
          const k = this.string();
          if (this.err.length > 0) return this.fail("");
          this.ws();
          if (this.pos >= s.length || s.charCodeAt(this.pos) != 58) return this.fail("':' expected");
          this.pos++;
          const item = this.value(depth + 1);
          if (this.err.length > 0) return item;
          v.keys.push(k);
          v.items.push(item);
          this.ws();
          if (this.pos < s.length && s.charCodeAt(this.pos) == 44) {
            this.pos++;
          } else if (this.pos < s.length && s.charCodeAt(this.pos) == 125) {
            this.pos++;
            more = false;
          } else {
            return this.fail("',' or '}' expected");
          }
        }
      }
    } else if (c == 91) { // [
      v.kind = JsonKind.Array;
      v.items = [];
      this.pos++;
      this.ws();
      if (this.pos < s.length && s.charCodeAt(this.pos) == 93) {
        this.pos++;
      } else {
        let more = true;
        while (more) {
          const item = this.value(depth + 1);
          if (this.err.length > 0) return item;
          v.items.push(item);
          this.ws();
          if (this.pos < s.length && s.charCodeAt(this.pos) == 44) {
            this.pos++;
          } else if (this.pos < s.length && s.charCodeAt(this.pos) == 93) {
            this.pos++;
            more = false;
          } else {
            return this.fail("',' or ']' expected");
          }
        }
      }
    } else if (c == 34) {
      v.kind = JsonKind.String;
      v.strValue = this.string();
      if (this.err.length > 0) return this.fail("");
    } else if (c == 116) {
      if (!this.word("true")) return this.fail("invalid literal");
      v.kind = JsonKind.Bool;
      v.boolValue = true;
    } else if (c == 102) {
      if (!this.word("false")) return this.fail("invalid literal");
      v.kind = JsonKind.Bool;
    } else if (c == 110) {
      if (!this.word("null")) return this.fail("invalid literal");
      v.kind = JsonKind.Null;
    } else if (c == 45 || (c >= 48 && c <= 57)) {
      v.kind = JsonKind.Number;
      if (!this.number()) return this.fail("invalid number");
      v.numValue = parseFloat(s.substring(v.start, this.pos));
    } else {
      return this.fail("unexpected character");
    }
    v.end = this.pos;
    return v;
  }

  word(w: string): bool {
    if (this.s.length - this.pos < w.length) return false;
    for (let i = 0; i < w.length; i++) {
      if (this.s.charCodeAt(this.pos + i) != w.charCodeAt(i)) return false;
    }
    this.pos += w.length;
    return true;
  }

  digits(): i32 {
    let n = 0;
    while (this.pos < this.s.length) {
      const c = this.s.charCodeAt(this.pos);
      if (c < 48 || c > 57) break;
      this.pos++;
      n++;
    }
    return n;
  }

  number(): bool {
    const s = this.s;
    if (s.charCodeAt(this.pos) == 45) this.pos++;
    if (this.pos >= s.length) return false;
    if (s.charCodeAt(this.pos) == 48) this.pos++;
    else if (this.digits() == 0) return false;
    if (this.pos < s.length && s.charCodeAt(this.pos) == 46) {
      this.pos++;
      if (this.digits() == 0) return false;
    }
    if (this.pos < s.length && (s.charCodeAt(this.pos) | 32) == 101) {
      this.pos++;
      if (this.pos < s.length && (s.charCodeAt(this.pos) == 43 || s.charCodeAt(this.pos) == 45)) this.pos++;
      if (this.digits() == 0) return false;
    }
    return true;
  }

  /** Reads a \uDC00-\uDFFF escape at pos, if there is one; -1 (and pos unchanged) if not. */
  lowSurrogate(): i32 {
    const s = this.s;
    if (this.pos + 6 > s.length || s.charCodeAt(this.pos) != 92 || s.charCodeAt(this.pos + 1) != 117) return -1;
    let u = 0;
    for (let i = 2; i < 6; i++) {
      const h = s.charCodeAt(this.pos + i) | 32;
      let d = 0;
      if (h >= 48 && h <= 57) d = h - 48;
      else if (h >= 97 && h <= 102) d = h - 87;
      else return -1;
      u = (u << 4) | d;
    }
    if (u < 0xdc00 || u > 0xdfff) return -1;
    this.pos += 6;
    return u;
  }

  string(): string {
    const s = this.s;
    this.pos++; // opening quote
    const start = this.pos;
    // Fast path: no escapes.
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c == 34) {
        const out = s.substring(start, this.pos);
        this.pos++;
        return out;
      }
      if (c == 92) break;
      if (c < 32) { this.fail("control character in string"); return ""; }
      this.pos++;
    }
    const b = new Utf16Builder();
    b.appendRange(s, start, this.pos);
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c == 34) {
        this.pos++;
        return b.toString();
      }
      if (c < 32) { this.fail("control character in string"); return ""; }
      if (c != 92) {
        b.unit(c);
        this.pos++;
        continue;
      }
      this.pos++;
      if (this.pos >= s.length) break;
      const e = s.charCodeAt(this.pos);
      this.pos++;
      switch (e) {
        case 34: b.unit(34); break;
        case 92: b.unit(92); break;
        case 47: b.unit(47); break;
        case 98: b.unit(8); break;
        case 102: b.unit(12); break;
        case 110: b.unit(10); break;
        case 114: b.unit(13); break;
        case 116: b.unit(9); break;
        case 117: {
          if (this.pos + 4 > s.length) { this.fail("short \\u escape"); return ""; }
          let u = 0;
          for (let i = 0; i < 4; i++) {
            const h = s.charCodeAt(this.pos + i);
            let d = 0;
            if (h >= 48 && h <= 57) d = h - 48;
            else if ((h | 32) >= 97 && (h | 32) <= 102) d = (h | 32) - 87;
            else { this.fail("bad \\u escape"); return ""; }
            u = (u << 4) | d;
          }
          this.pos += 4;
          if (u >= 0xd800 && u <= 0xdfff) {
            // A surrogate pair is one character; a lone surrogate becomes U+FFFD, as Go's
            // decoder makes it.
            const low = u <= 0xdbff ? this.lowSurrogate() : -1;
            if (low < 0) {
              b.unit(0xfffd);
            } else {
              b.unit(u);
              b.unit(low);
            }
          } else {
            b.unit(u);
          }
          break;
        }
        default:
          this.fail("bad escape");
          return "";
      }
    }
    this.fail("unterminated string");
    return "";
  }
}

/** The deepest nesting of arrays and objects parse accepts (Go's encoding/json: 10,000). */
export const MAX_DEPTH: i32 = 512;

/**
 * Parses JSON text. Invalid text gives a value of kind Invalid whose error says why; empty
 * text (an absent payload) gives a value of kind Missing, which reads as null.
 */
export function parse(text: string): JsonValue {
  const p = new Parser(text);
  p.ws();
  if (p.pos >= text.length) return MISSING;
  const v = p.value(0);
  if (p.err.length == 0) {
    p.ws();
    if (p.pos < text.length) p.fail("trailing characters after the JSON value");
  }
  if (p.err.length > 0) {
    const bad = new JsonValue();
    bad.kind = JsonKind.Invalid;
    bad.error = p.err;
    return bad;
  }
  return v;
}

/** A growable buffer of UTF-16 code units that becomes a string. */
export class Utf16Builder {
  buf: Uint16Array = new Uint16Array(64);
  len: i32 = 0;

  reserve(n: i32): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length << 1;
    while (cap < need) cap <<= 1;
    const b = new Uint16Array(cap);
    memory.copy(b.dataStart, this.buf.dataStart, <usize>this.len << 1);
    this.buf = b;
  }

  unit(c: i32): void {
    this.reserve(1);
    store<u16>(this.buf.dataStart + (<usize>this.len << 1), <u16>c);
    this.len++;
  }

  append(s: string): void {
    this.appendRange(s, 0, s.length);
  }

  appendRange(s: string, from: i32, to: i32): void {
    const n = to - from;
    if (n <= 0) return;
    this.reserve(n);
    memory.copy(this.buf.dataStart + (<usize>this.len << 1), changetype<usize>(s) + (<usize>from << 1), <usize>n << 1);
    this.len += n;
  }

  toString(): string {
    return String.UTF16.decodeUnsafe(this.buf.dataStart, <usize>this.len << 1);
  }
}

/** The lower-case hexadecimal digit of d (0..15); a function, not a string constant, so that
 * the abort handler can quote before the module's globals are initialised. */
// @ts-ignore: decorator
@inline function hexDigit(d: i32): u16 {
  return <u16>(d < 10 ? 48 + d : 87 + d);
}

/** Appends s as a JSON string literal, escaped as Go's encoding/json escapes it. */
export function appendQuoted(b: Utf16Builder, s: string): void {
  b.unit(34);
  let from = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 32 && c != 34 && c != 92 && c != 60 && c != 62 && c != 38 && c < 0x2028) continue;
    if (c >= 0x2028) {
      if (c == 0x2028 || c == 0x2029) {
        b.appendRange(s, from, i);
        b.append(c == 0x2028 ? "\\u2028" : "\\u2029");
        from = i + 1;
      } else if (c >= 0xd800 && c <= 0xdfff) {
        // A valid surrogate pair is copied; a lone surrogate is not UTF-8 encodable and
        // becomes U+FFFD, as invalid UTF-8 does in Go.
        if (c <= 0xdbff && i + 1 < n) {
          const d = s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) { i++; continue; }
        }
        b.appendRange(s, from, i);
        b.append("\\ufffd");
        from = i + 1;
      }
      continue;
    }
    b.appendRange(s, from, i);
    from = i + 1;
    b.unit(92);
    switch (c) {
      case 34: b.unit(34); break;
      case 92: b.unit(92); break;
      case 8: b.unit(98); break;
      case 12: b.unit(102); break;
      case 10: b.unit(110); break;
      case 13: b.unit(114); break;
      case 9: b.unit(116); break;
      default:
        b.append("u00");
        b.unit(hexDigit(c >> 4));
        b.unit(hexDigit(c & 15));
    }
  }
  b.appendRange(s, from, n);
  b.unit(34);
}

/** Returns s as a JSON string literal (Go's encoding/json escaping). */
export function quote(s: string): string {
  const b = new Utf16Builder();
  appendQuoted(b, s);
  return b.toString();
}

/**
 * Appends JSON text compacted as Go's encoding/json writes a json.RawMessage: whitespace
 * outside strings removed, <, >, & and U+2028/U+2029 escaped inside them. Empty text
 * (an absent payload) is written as null.
 */
export function appendCompact(b: Utf16Builder, raw: string): void {
  const n = raw.length;
  if (n == 0) {
    b.append("null");
    return;
  }
  let inString = false;
  let from = 0;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (inString) {
      if (c == 92) { i++; continue; }
      if (c == 34) { inString = false; continue; }
      if (c == 60 || c == 62 || c == 38 || c == 0x2028 || c == 0x2029) {
        b.appendRange(raw, from, i);
        from = i + 1;
        b.append("\\u");
        if (c < 256) {
          b.append("00");
          b.unit(hexDigit(c >> 4));
          b.unit(hexDigit(c & 15));
        } else {
          b.append(c == 0x2028 ? "2028" : "2029");
        }
      }
      continue;
    }
    if (c == 34) { inString = true; continue; }
    if (c == 32 || c == 9 || c == 10 || c == 13) {
      b.appendRange(raw, from, i);
      from = i + 1;
    }
  }
  b.appendRange(raw, from, n);
}

/** Returns JSON text compacted as Go writes a json.RawMessage (see appendCompact). */
export function compact(raw: string): string {
  const b = new Utf16Builder();
  appendCompact(b, raw);
  return b.toString();
}

/**
 * JsonWriter builds JSON text with the bytes Go's encoding/json would write: compact, with
 * its string escaping. Commas are inserted automatically.
 *
 *     const w = new JsonWriter();
 *     w.beginObject().key("count").int(3).key("last").raw(result).endObject();
 *     return Outcome.ok(w.toString());
 */
export class JsonWriter {
  b: Utf16Builder = new Utf16Builder();
  // first[d] is true while the container at depth d has no element yet.
  private first: bool[] = [];
  private afterKey: bool = false;

  private sep(): void {
    if (this.afterKey) {
      this.afterKey = false;
      return;
    }
    const d = this.first.length;
    if (d == 0) return;
    if (unchecked(this.first[d - 1])) unchecked(this.first[d - 1] = false);
    else this.b.unit(44);
  }

  beginObject(): JsonWriter {
    this.sep();
    this.b.unit(123);
    this.first.push(true);
    return this;
  }

  endObject(): JsonWriter {
    this.first.pop();
    this.b.unit(125);
    return this;
  }

  beginArray(): JsonWriter {
    this.sep();
    this.b.unit(91);
    this.first.push(true);
    return this;
  }

  endArray(): JsonWriter {
    this.first.pop();
    this.b.unit(93);
    return this;
  }

  /** Writes an object member's key; the next value written is its value. */
  key(k: string): JsonWriter {
    this.sep();
    appendQuoted(this.b, k);
    this.b.unit(58);
    this.afterKey = true;
    return this;
  }

  string(s: string): JsonWriter {
    this.sep();
    appendQuoted(this.b, s);
    return this;
  }

  int(v: i64): JsonWriter {
    this.sep();
    this.b.append(v.toString());
    return this;
  }

  uint(v: u64): JsonWriter {
    this.sep();
    this.b.append(v.toString());
    return this;
  }

  /** Writes a number; integral values are written without a fraction, as Go does. */
  number(v: f64): JsonWriter {
    this.sep();
    if (!isFinite(v)) {
      this.b.append("null");
    } else if (v == Math.trunc(v) && Math.abs(v) < 9007199254740992) {
      this.b.append((<i64>v).toString());
    } else {
      // The shortest digits, in the form Go chooses (exponent below 1e-6 and from 1e21);
      // AssemblyScript writes integral values with a ".0" Go does not write.
      let t = v.toString();
      if (t.endsWith(".0")) t = t.substring(0, t.length - 2);
      this.b.append(t);
    }
    return this;
  }

  bool(v: bool): JsonWriter {
    this.sep();
    this.b.append(v ? "true" : "false");
    return this;
  }

  null(): JsonWriter {
    this.sep();
    this.b.append("null");
    return this;
  }

  /** Writes JSON text as a value, compacted as Go writes a json.RawMessage; "" writes null. */
  raw(json: string): JsonWriter {
    this.sep();
    appendCompact(this.b, json);
    return this;
  }

  toString(): string {
    return this.b.toString();
  }
}
