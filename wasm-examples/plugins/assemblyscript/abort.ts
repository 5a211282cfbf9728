// pluginAbort replaces AssemblyScript's abort (an import of env.abort otherwise, which an
// Extism host does not provide): the message becomes the call's error, then the call traps.
import { Memory } from "@extism/as-pdk";

@external("extism:host/env", "error_set")
declare function error_set(offset: u64): void;

export function pluginAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "abort: ";
  if (message != null) {
    text += message;
  }
  if (fileName != null) {
    text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  }
  error_set(Memory.allocateString(text).offset);
  unreachable();
}
