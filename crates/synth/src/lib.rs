//! Synthetic inputs for tests, benchmarks and the demo: CloudTrail trails in the S3 delivery
//! layout ([`trail`]) and reconcile scenarios with planted findings ([`scenario`]).

pub mod scenario;
pub mod trail;

pub use trail::{generate_trail, write_log_files, TrailSpec, TrailStats};
