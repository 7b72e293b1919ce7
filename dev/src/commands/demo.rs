//! `leadsync-dev demo`: the first thing to try. Creates a sandbox GoHighLevel contact, tags it
//! "cold lead" like a sales rep would, and waits for it to appear in the CallTools bucket.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use leadsync_cli::target::StackInfo;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Sandbox URL; read from .local/stack.json when omitted.
    #[arg(long)]
    pub sandbox: Option<String>,
    /// The tag to add.
    #[arg(long, default_value = "cold lead")]
    pub tag: String,
    /// How long to wait for the contact to reach CallTools.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let sandbox = match args.sandbox {
        Some(url) => url,
        None => StackInfo::read()?
            .sandbox_url
            .context("the running stack has no sandbox (external APIs are configured)")?,
    };
    let http = reqwest::Client::new();
    let n: u32 = rand::random_range(10..99);
    let phone = format!("+1415555{:04}", 100 + n);
    let created: Value = http
        .post(format!("{sandbox}/_sandbox/ghl/contacts"))
        .json(&json!({"firstName": "Demo", "lastName": format!("Lead {n}"), "phone": phone, "email": format!("demo{n}@example.com")}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["contact"]["id"]
        .as_str()
        .context("the sandbox returned no contact id")?
        .to_string();
    println!("created GoHighLevel contact {id} (Demo Lead {n}, {phone})");
    let started = Instant::now();
    http.post(format!("{sandbox}/_sandbox/ghl/contacts/{id}/tags"))
        .json(&json!({"tags": [args.tag]}))
        .send()
        .await?
        .error_for_status()?;
    println!("tagged it {:?}; waiting for CallTools…", args.tag);
    while started.elapsed() < Duration::from_secs(args.timeout_secs) {
        let all: Value = http
            .get(format!("{sandbox}/_sandbox/calltools/contacts"))
            .send()
            .await?
            .json()
            .await?;
        let found = all["contacts"].as_array().into_iter().flatten().find(|c| {
            c["_phone_numbers"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x == phone.as_str()))
                && c["buckets"].as_array().is_some_and(|b| !b.is_empty())
        });
        if let Some(c) = found {
            println!(
                "in CallTools after {:.1} s: contact {} in bucket(s) {}",
                started.elapsed().as_secs_f64(),
                c["id"],
                c["buckets"]
            );
            println!("{}", serde_json::to_string_pretty(c)?);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "the contact did not reach CallTools within {} s; see the `make dev` log",
        args.timeout_secs
    )
}
