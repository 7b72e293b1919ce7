//! An AWS SDK configuration for a local endpoint (moto): what the local stack, its tests and the
//! operator command's `make dev` target reach AWS with.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The region a local endpoint serves.
pub const LOCAL_REGION: &str = "us-east-1";

/// The SDK configuration for the AWS endpoint at `url`, with test credentials.
pub async fn endpoint_config(url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(LOCAL_REGION))
        .test_credentials()
        .load()
        .await
}
