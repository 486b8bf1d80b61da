//! One module per subcommand.

pub mod compact;
pub mod crypt;
pub mod demo;
pub mod expectations;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod keygen;
pub mod reconcile;
pub mod validate_trail;
pub mod verify;
