//! The one list of sources: which of them this deployment reads, built from configuration. A new
//! source is a folder under `sources/` plus a line here for each part it has (see
//! docs/architecture.md, "Add a source").

use std::sync::Arc;

use crate::app::config::Config;
use crate::app::{BuildError, ghl_client, meta_reader};
use crate::sources::ContactSource;
use crate::sources::ghl::read::GhlReader;

/// What the consumer reads jobs back from: GoHighLevel always, Messenger and Instagram when a
/// Page token is configured (their jobs are parked otherwise, to be replayed once it is).
pub fn contact_sources(
    cfg: &Config,
    http: reqwest::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<Arc<dyn ContactSource>>, BuildError> {
    let mut sources: Vec<Arc<dyn ContactSource>> = Vec::new();
    if let Some(meta) = meta_reader(cfg, &http, dynamodb, table) {
        sources.push(Arc::new(meta));
    }
    let ghl = ghl_client(cfg, http, dynamodb, table)?;
    sources.push(Arc::new(GhlReader::new(Arc::new(ghl))));
    Ok(sources)
}
