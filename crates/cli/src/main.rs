//! `kms-audit`: audit how AWS KMS keys are used around Amazon SageMaker.
//!
//! A thin binary over the library crates: argument parsing, progress, exit codes. Every rule
//! lives in a library; this file only wires them.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod location;
mod timearg;

/// Exit status: every input was read and nothing needs attention.
pub const EXIT_OK: u8 = 0;
/// Exit status: the command failed (I/O, AWS, a finding at or above --fail-on, a failed check).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status: usage error (clap also exits 2).
pub const EXIT_USAGE: u8 = 2;
/// Exit status of `ingest`: some input was quarantined; everything else landed.
pub const EXIT_QUARANTINED: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "kms-audit", version, about = "Audit how AWS KMS keys are used around Amazon SageMaker")]
#[command(
    after_help = "Exit status: 0 ok; 1 failure; 2 usage error; 3 (ingest) some input quarantined, the rest landed."
)]
struct Cli {
    /// Log filter for stderr (e.g. `info`, `kms_audit=debug`); also RUST_LOG.
    #[arg(long, global = true, env = "KMS_AUDIT_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Ingest(cmd::ingest::Args),
    Compact(cmd::compact::Args),
    Expectations(cmd::expectations::Args),
    Reconcile(cmd::reconcile::Args),
    Keygen(cmd::keygen::Args),
    Encrypt(cmd::crypt::EncryptArgs),
    Decrypt(cmd::crypt::DecryptArgs),
    Verify(cmd::verify::Args),
    ValidateTrail(cmd::validate_trail::Args),
    Export(cmd::export::Args),
    ExportVerify(cmd::export::VerifyArgs),
    Demo(cmd::demo::Args),
    GenerateTrail(cmd::generate::Args),
}

/// Runs one subcommand given as command-line words (without the program name), exactly as the
/// binary would: the demo scripts the real commands through this.
pub fn run_subcommand<I, S>(words: I) -> anyhow::Result<u8>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let args = std::iter::once(std::ffi::OsString::from("kms-audit")).chain(words.into_iter().map(Into::into));
    let cli = Cli::try_parse_from(args)?;
    dispatch(cli.command)
}

fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Ingest(args) => cmd::ingest::run(&args),
        Command::Compact(args) => cmd::compact::run(&args),
        Command::Expectations(args) => cmd::expectations::run(&args),
        Command::Reconcile(args) => cmd::reconcile::run(&args),
        Command::Keygen(args) => cmd::keygen::run(&args),
        Command::Encrypt(args) => cmd::crypt::encrypt(&args),
        Command::Decrypt(args) => cmd::crypt::decrypt(&args),
        Command::Verify(args) => cmd::verify::run(&args),
        Command::ValidateTrail(args) => cmd::validate_trail::run(&args),
        Command::Export(args) => cmd::export::run(&args),
        Command::ExportVerify(args) => cmd::export::verify(&args),
        Command::Demo(args) => cmd::demo::run(&args),
        Command::GenerateTrail(args) => cmd::generate::run(&args),
    }
}

fn main() -> ExitCode {
    allocator::init();
    let cli = Cli::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cli.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = dispatch(cli.command);
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("kms-audit: error: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
