// hello: the first durohost example in JavaScript. An orchestration is a generator function:
// it yields tasks (here activity calls) and gets their results back; the host records each
// result in the instance's history, so that after a crash the function replays up to where it
// was without calling the activities again.
//
// Run it from the repository root:
//
//   go run ./cmd/durohost run wasm-examples/javascript/hello --input '"World"'
durohost.register("hello", function* (ctx, name) {
  const greetings = [];
  for (const hello of ["Hello", "Bonjour", "Hola"]) {
    // "echo" is a built-in activity of the durohost command: it returns its input.
    greetings.push(yield ctx.callActivity("echo", `${hello}, ${name}!`));
  }
  return greetings.join(" ");
});
