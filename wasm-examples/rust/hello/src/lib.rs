//! hello: the smallest useful orchestration. It greets a name in three languages, one
//! activity call after the other, and returns the greetings joined.
//!
//! Every module has the same three parts: orchestrations written as `async fn`, a function
//! that registers them by name, and `durohost::export!`, which defines the functions the host
//! calls (`durohost_run`, `durohost_abi_version`).

use durohost::{Failure, OrchestrationContext, Registry};

/// The orchestration: its input and output are JSON text. It takes a JSON string (a name)
/// and returns a JSON string.
async fn hello(ctx: OrchestrationContext, input: String) -> Result<String, Failure> {
    // Typed payloads: String decodes a JSON string (and encodes one); a number fails the
    // execution with code bad_payload.
    let mut name: String = durohost::Decode::decode(input.as_bytes())
        .map_err(|e| Failure::application("bad_payload", &format!("the input must be a JSON string: {}", e)))?;
    if name.is_empty() {
        name = "World".into();
    }

    let mut replies = Vec::new();
    for greeting in ["Hello", "Bonjour", "Hola"] {
        // "echo" is built into durohost: it returns its input. Each call is recorded in
        // history; after a restart the orchestration replays and the calls that already
        // completed return their recorded results without running again.
        let reply: String = ctx
            .schedule_activity_typed("echo", &format!("{}, {}!", greeting, name), &Default::default())
            .await?;
        replies.push(reply);
    }

    // A replay-safe log line: written once, not again when the orchestration replays.
    durohost::info!(ctx, "greeted name={} greetings={}", name, replies.len());

    Ok(durohost::json::quote(&replies.join(" ")))
}

fn register(r: &mut Registry) {
    r.add("hello", hello);
}

durohost::export!(register);
