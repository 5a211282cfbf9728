# hello: the first durohost example in Python. An orchestration is a generator function: it
# yields tasks (here activity calls) and gets their results back; the host records each result
# in the instance's history, so that after a crash the function replays up to where it was
# without calling the activities again.
#
# Run it from the repository root:
#
#   go run ./cmd/durohost run wasm-examples/python/hello --input '"World"'
import durohost


@durohost.orchestration("hello")
def hello(ctx, name):
    greetings = []
    for word in ("Hello", "Bonjour", "Hola"):
        # "echo" is a built-in activity of the durohost command: it returns its input.
        greetings.append((yield ctx.call_activity("echo", "%s, %s!" % (word, name))))
    return " ".join(greetings)
