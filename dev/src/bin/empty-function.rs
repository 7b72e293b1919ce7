//! The empty Rust function: answers every event with `{}`, nothing else. The bench starts it
//! through the same Runtime API as leadsync's functions, so its cold start is the floor theirs
//! are read against (process start, the runtime's first request, one answer).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({}))
    }))
    .await
}
