//! An AWS SDK configuration for a local endpoint (moto): what the local stack, its tests and the
//! operator command's `make dev` target reach AWS with.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// The region a local endpoint serves.
pub const LOCAL_REGION: &str = "us-east-1";

/// The SDK configuration for the AWS endpoint at `url`, with test credentials.
pub async fn endpoint_config(url: &str) -> SdkConfig {
    let credentials = Credentials::new("test", "test", None, None, "local");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(LOCAL_REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}
