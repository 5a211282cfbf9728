// json: a JSON validator plugin.
//
//   validate  the input must be one well-formed JSON value (RFC 8259); the output is
//             {"valid":true,"type":"object"} (the type of the value), or the call fails with
//             the byte offset and the reason of the first error
import { Host, Memory } from "@extism/as-pdk";
import "./abort";

@external("extism:host/env", "error_set")
declare function error_set(offset: u64): void;

function fail(message: string): i32 {
  error_set(Memory.allocateString(message).offset);
  return 1;
}

function output(s: string): void {
  Host.output(Uint8Array.wrap(String.UTF8.encode(s)));
}

// Parser checks one JSON text; err is set at the first error, pos is where it was found.
class Parser {
  pos: i32 = 0;
  err: string = "";
  depth: i32 = 0;

  constructor(public b: Uint8Array) {}

  fail(message: string): bool {
    if (this.err.length == 0) {
      this.err = message;
    }
    return false;
  }

  ws(): void {
    while (this.pos < this.b.length) {
      const c = this.b[this.pos];
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) {
        return;
      }
      this.pos++;
    }
  }

  literal(word: string): bool {
    for (let i = 0; i < word.length; i++) {
      if (this.pos >= this.b.length || this.b[this.pos] != <u8>word.charCodeAt(i)) {
        return this.fail("invalid literal, expected " + word);
      }
      this.pos++;
    }
    return true;
  }

  str(): bool {
    this.pos++; // opening quote
    while (this.pos < this.b.length) {
      const c = this.b[this.pos];
      if (c == 0x22) {
        this.pos++;
        return true;
      }
      if (c < 0x20) {
        return this.fail("control character in a string");
      }
      if (c == 0x5c) {
        this.pos++;
        if (this.pos >= this.b.length) {
          break;
        }
        const e = this.b[this.pos];
        if (e == 0x75) {
          for (let i = 0; i < 4; i++) {
            this.pos++;
            if (this.pos >= this.b.length || !isHex(this.b[this.pos])) {
              return this.fail("bad \\u escape");
            }
          }
        } else if (e != 0x22 && e != 0x5c && e != 0x2f && e != 0x62 && e != 0x66 && e != 0x6e && e != 0x72 && e != 0x74) {
          return this.fail("bad escape");
        }
      }
      this.pos++;
    }
    return this.fail("unterminated string");
  }

  num(): bool {
    if (this.b[this.pos] == 0x2d) {
      this.pos++;
    }
    if (this.pos >= this.b.length || !isDigit(this.b[this.pos])) {
      return this.fail("digit expected");
    }
    if (this.b[this.pos] == 0x30) {
      this.pos++;
    } else {
      while (this.pos < this.b.length && isDigit(this.b[this.pos])) this.pos++;
    }
    if (this.pos < this.b.length && this.b[this.pos] == 0x2e) {
      this.pos++;
      if (this.pos >= this.b.length || !isDigit(this.b[this.pos])) {
        return this.fail("digit expected after the decimal point");
      }
      while (this.pos < this.b.length && isDigit(this.b[this.pos])) this.pos++;
    }
    if (this.pos < this.b.length && (this.b[this.pos] == 0x65 || this.b[this.pos] == 0x45)) {
      this.pos++;
      if (this.pos < this.b.length && (this.b[this.pos] == 0x2b || this.b[this.pos] == 0x2d)) this.pos++;
      if (this.pos >= this.b.length || !isDigit(this.b[this.pos])) {
        return this.fail("digit expected in the exponent");
      }
      while (this.pos < this.b.length && isDigit(this.b[this.pos])) this.pos++;
    }
    return true;
  }

  value(): bool {
    this.ws();
    if (this.pos >= this.b.length) {
      return this.fail("value expected");
    }
    const c = this.b[this.pos];
    if (c == 0x7b || c == 0x5b) {
      if (++this.depth > 512) {
        return this.fail("nested deeper than 512");
      }
      const ok = c == 0x7b ? this.object() : this.array();
      this.depth--;
      return ok;
    }
    if (c == 0x22) return this.str();
    if (c == 0x74) return this.literal("true");
    if (c == 0x66) return this.literal("false");
    if (c == 0x6e) return this.literal("null");
    if (c == 0x2d || isDigit(c)) return this.num();
    return this.fail("unexpected character");
  }

  object(): bool {
    this.pos++;
    this.ws();
    if (this.pos < this.b.length && this.b[this.pos] == 0x7d) {
      this.pos++;
      return true;
    }
    while (true) {
      this.ws();
      if (this.pos >= this.b.length || this.b[this.pos] != 0x22) {
        return this.fail("string key expected");
      }
      if (!this.str()) return false;
      this.ws();
      if (this.pos >= this.b.length || this.b[this.pos] != 0x3a) {
        return this.fail("':' expected");
      }
      this.pos++;
      if (!this.value()) return false;
      this.ws();
      if (this.pos < this.b.length && this.b[this.pos] == 0x2c) {
        this.pos++;
        continue;
      }
      if (this.pos < this.b.length && this.b[this.pos] == 0x7d) {
        this.pos++;
        return true;
      }
      return this.fail("',' or '}' expected");
    }
  }

  array(): bool {
    this.pos++;
    this.ws();
    if (this.pos < this.b.length && this.b[this.pos] == 0x5d) {
      this.pos++;
      return true;
    }
    while (true) {
      if (!this.value()) return false;
      this.ws();
      if (this.pos < this.b.length && this.b[this.pos] == 0x2c) {
        this.pos++;
        continue;
      }
      if (this.pos < this.b.length && this.b[this.pos] == 0x5d) {
        this.pos++;
        return true;
      }
      return this.fail("',' or ']' expected");
    }
  }
}

function isDigit(c: u8): bool {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: u8): bool {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function typeOf(c: u8): string {
  if (c == 0x7b) return "object";
  if (c == 0x5b) return "array";
  if (c == 0x22) return "string";
  if (c == 0x74 || c == 0x66) return "boolean";
  if (c == 0x6e) return "null";
  return "number";
}

export function validate(): i32 {
  const p = new Parser(Host.input());
  p.ws();
  const start = p.pos;
  if (p.value()) {
    p.ws();
    if (p.pos == p.b.length) {
      output('{"valid":true,"type":"' + typeOf(p.b[start]) + '"}');
      return 0;
    }
    p.fail("data after the value");
  }
  return fail("invalid JSON at byte " + p.pos.toString() + ": " + p.err);
}
