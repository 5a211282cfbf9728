// A small AssemblyScript module with many static strings and arrays (the compiler emits one
// data segment per static object), a fixture of wasmopt's tests. Rebuild with build.sh:
//
//	npx --yes -p assemblyscript@0.28.20 asc guest.ts -O3 --runtime stub --use abort= -o guest-as.wasm
//
// (npm package assemblyscript@0.28.20.)

const greetings: string[] = ["hello", "bonjour", "hallo", "ciao", "hola", "olá", "namaste"];
const primes: StaticArray<i32> = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47];
const weights: f64[] = [0.5, 1.25, 2.0, 3.75];

let counter: i32 = 7;

export function greeting(i: i32): string {
  counter++;
  return greetings[i % greetings.length] + ", " + "world" + "!";
}

export function sum(): f64 {
  let s: f64 = counter;
  for (let i = 0; i < primes.length; i++) s += primes[i];
  for (let i = 0; i < weights.length; i++) s += weights[i];
  return s;
}
