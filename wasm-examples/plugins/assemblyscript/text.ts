// text: a text transformer plugin. Every function reads its input as UTF-8 text.
//
//   upper   the input in upper case; fails on an empty input
//   words   {"words": N}: the number of words (runs of non-space characters)
//   greet   the config value "greeting" (default "Hello"), a comma, a space and the input
import { Config, Host, Memory } from "@extism/as-pdk";
import "./abort";

@external("extism:host/env", "error_set")
declare function error_set(offset: u64): void;

// fail sets the call's error message; the function then returns 1.
function fail(message: string): i32 {
  error_set(Memory.allocateString(message).offset);
  return 1;
}

// output writes s as UTF-8 (Host.outputString counts UTF-16 units, not bytes).
function output(s: string): void {
  Host.output(Uint8Array.wrap(String.UTF8.encode(s)));
}

export function upper(): i32 {
  const s = Host.inputString();
  if (s.length == 0) {
    return fail("upper: the input is empty");
  }
  output(s.toUpperCase());
  return 0;
}

export function words(): i32 {
  const s = Host.inputString();
  let n = 0;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const space = c == 32 || c == 9 || c == 10 || c == 13;
    if (!space && !inWord) {
      n++;
    }
    inWord = !space;
  }
  output('{"words":' + n.toString() + "}");
  return 0;
}

export function greet(): i32 {
  const configured = Config.get("greeting");
  let greeting = "Hello";
  if (configured != null) {
    greeting = configured;
  }
  output(greeting + ", " + Host.inputString());
  return 0;
}
