//! Where contacts go: the CallTools dialer (its client, the upsert and the bucket placement
//! method it learns per account).

pub mod calltools;
