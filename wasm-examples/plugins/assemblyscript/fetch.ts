// fetch: an HTTP fetcher plugin. The host decides which hosts it may reach (the plugin's
// allowed hosts); a request to any other fails the call.
//
//   get   the input is a URL, or a JSON string holding one (without escapes); the output is
//         the response body; a status of 400 or more fails the call with the status and the
//         body
import { Host, Memory } from "@extism/as-pdk";
import "./abort";

@external("extism:host/env", "error_set")
declare function error_set(offset: u64): void;
@external("extism:host/env", "http_request")
declare function http_request(request: u64, body: u64): u64;
@external("extism:host/env", "http_status_code")
declare function http_status_code(): i32;

function fail(message: string): i32 {
  error_set(Memory.allocateString(message).offset);
  return 1;
}

// quote returns s as a JSON string.
function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22 || c == 0x5c) {
      out += "\\" + String.fromCharCode(c);
    } else if (c < 0x20) {
      out += "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
    } else {
      out += String.fromCharCode(c);
    }
  }
  return out + '"';
}

export function get(): i32 {
  let url = Host.inputString().trim();
  if (url.length >= 2 && url.startsWith('"') && url.endsWith('"')) {
    url = url.slice(1, url.length - 1);
  }
  if (url.length == 0) {
    return fail("get: the input must be a URL");
  }
  const req = Memory.allocateString('{"method":"GET","url":' + quote(url) + "}");
  const offset = http_request(req.offset, 0);
  const status = http_status_code();
  let body = new Uint8Array(0);
  if (offset != 0) {
    body = new Memory(offset, lengthOf(offset)).toUint8Array();
  }
  if (status >= 400) {
    return fail("get " + url + ": status " + status.toString() + ": " + String.UTF8.decode(body.buffer));
  }
  Host.output(body);
  return 0;
}

@external("extism:host/env", "length")
declare function lengthOf(offset: u64): u64;
