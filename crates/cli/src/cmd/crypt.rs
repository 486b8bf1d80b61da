//! `kms-audit encrypt` / `decrypt`: envelope-encrypt or decrypt a file or object.
//!
//! Also the pieces `verify` shares: keyring selection (`kms`, `local:FILE`) and reading or
//! writing an object with its metadata, locally (sidecar `F.meta.json`) or in S3 (user
//! metadata).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use aws::kms::{KmsKeyring, RetryingKmsKeyring};
use envelope::{
    decrypt_object, encrypt_object, sidecar, EncryptionContext, Format, GeneratedKey, Keyring, LocalKeyring,
    ObjectMeta, RetryPolicy, UnwrappedKey,
};
use lake::Store;

use crate::{location, EXIT_OK};

/// Environment variable naming the default local key file.
pub const LOCAL_KEY_ENV: &str = "KMS_AUDIT_LOCAL_KEY";

/// The default local keyring key file: `$KMS_AUDIT_LOCAL_KEY`, else
/// `$XDG_CONFIG_HOME/kms-audit/local-key.json`, else `~/.config/kms-audit/local-key.json`.
pub fn default_local_key_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(LOCAL_KEY_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|p| !p.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("kms-audit").join("local-key.json"))
}

/// Which keyring to use: `kms` or `local:FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyringSpec {
    /// AWS KMS through the SDK's standard configuration.
    Kms,
    /// The local keyring with the key in this file.
    Local(PathBuf),
}

impl FromStr for KeyringSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kms" => Ok(KeyringSpec::Kms),
            _ => match s.strip_prefix("local:") {
                Some("") => default_local_key_file()
                    .map(KeyringSpec::Local)
                    .ok_or_else(|| "local: without a file and no default key file location".to_owned()),
                Some(file) => Ok(KeyringSpec::Local(PathBuf::from(file))),
                None => Err(format!("unknown keyring {s:?}: use `kms` or `local:FILE`")),
            },
        }
    }
}

impl KeyringSpec {
    /// The local keyring with the default key file.
    pub fn default_local() -> Result<Self> {
        default_local_key_file()
            .map(KeyringSpec::Local)
            .context("no default local key file (set KMS_AUDIT_LOCAL_KEY or HOME, or pass --keyring local:FILE)")
    }
}

/// The keyring a command runs with.
#[derive(Debug)]
pub enum CliKeyring {
    /// KMS, retrying throttling with backoff.
    Kms(RetryingKmsKeyring),
    /// A local key file.
    Local(LocalKeyring),
}

impl CliKeyring {
    /// Opens the keyring `spec` names (KMS: loads the SDK configuration).
    pub async fn open(spec: &KeyringSpec) -> Result<Self> {
        Ok(match spec {
            KeyringSpec::Kms => {
                let config = aws::config::load().await;
                CliKeyring::Kms(aws::kms::retrying(KmsKeyring::from_config(&config), RetryPolicy::default()))
            }
            KeyringSpec::Local(path) => CliKeyring::Local(
                LocalKeyring::load(path).with_context(|| format!("loading the local key {}", path.display()))?,
            ),
        })
    }

    /// The KMS keyring, if that is what this is.
    pub fn kms(&self) -> Option<&KmsKeyring> {
        match self {
            CliKeyring::Kms(k) => Some(k.inner()),
            CliKeyring::Local(_) => None,
        }
    }

    /// `kms` or `local`.
    pub fn kind(&self) -> &'static str {
        match self {
            CliKeyring::Kms(_) => "kms",
            CliKeyring::Local(_) => "local",
        }
    }

    /// Expected keys as the verifier compares them: KMS aliases resolved to key ARNs
    /// (`DescribeKey`); everything else as given.
    pub async fn resolve_expected(&self, keys: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let k = k.trim();
            match self.kms() {
                Some(kms) if aws::kms::is_alias(k) => {
                    out.push(kms.resolve_key(k).await.with_context(|| format!("resolving the alias {k}"))?)
                }
                _ => out.push(k.to_owned()),
            }
        }
        Ok(out)
    }
}

impl Keyring for CliKeyring {
    async fn generate_data_key(&self, key_id: &str, context: &EncryptionContext) -> envelope::Result<GeneratedKey> {
        match self {
            CliKeyring::Kms(k) => k.generate_data_key(key_id, context).await,
            CliKeyring::Local(k) => k.generate_data_key(key_id, context).await,
        }
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> envelope::Result<UnwrappedKey> {
        match self {
            CliKeyring::Kms(k) => k.decrypt_data_key(wrapped, context, expected_key_id).await,
            CliKeyring::Local(k) => k.decrypt_data_key(wrapped, context, expected_key_id).await,
        }
    }

    fn wrap_algorithm(&self) -> &str {
        match self {
            CliKeyring::Kms(k) => k.wrap_algorithm(),
            CliKeyring::Local(k) => k.wrap_algorithm(),
        }
    }
}

/// A file or an S3 object named on the command line.
#[derive(Debug, Clone)]
pub enum ObjectRef {
    /// A local file; its metadata lives in the sidecar `F.meta.json`.
    Local(PathBuf),
    /// An object in a store (S3): the store and the key within it.
    Store {
        /// The store (rooted at the object's parent prefix).
        store: Arc<dyn Store>,
        /// The object's key in `store`.
        key: String,
        /// The URL as given.
        url: String,
    },
}

impl ObjectRef {
    /// Parses `s3://bucket/key` or a local path.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let Some((bucket, key)) = rest.split_once('/') else { bail!("{s}: an S3 object URL needs a key") };
            if bucket.is_empty() || key.is_empty() || key.ends_with('/') {
                bail!("{s}: not an s3://bucket/key object URL");
            }
            let (parent, name) = match key.rsplit_once('/') {
                Some((p, n)) => (format!("s3://{bucket}/{p}"), n.to_owned()),
                None => (format!("s3://{bucket}"), key.to_owned()),
            };
            let loc = location::open(&parent)?;
            let key = if loc.key.is_empty() { name } else { format!("{}/{name}", loc.key.trim_end_matches('/')) };
            return Ok(ObjectRef::Store { store: loc.store, key, url: s.to_owned() });
        }
        Ok(ObjectRef::Local(PathBuf::from(s)))
    }

    /// How to name it in messages.
    pub fn display(&self) -> String {
        match self {
            ObjectRef::Local(p) => p.display().to_string(),
            ObjectRef::Store { url, .. } => url.clone(),
        }
    }

    /// Reads the body and the metadata (sidecar or S3 HeadObject). Blocking.
    pub fn read(&self) -> Result<(Vec<u8>, ObjectMeta)> {
        match self {
            ObjectRef::Local(path) => {
                let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let side = sidecar::sidecar_path(path);
                let meta = match std::fs::read_to_string(&side) {
                    Ok(text) => sidecar::read_sidecar(&text).with_context(|| format!("reading {}", side.display()))?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => ObjectMeta::default(),
                    Err(e) => return Err(e).with_context(|| format!("reading {}", side.display())),
                };
                Ok((body, meta))
            }
            ObjectRef::Store { store, key, url } => {
                let (_, meta) = store
                    .head(key)
                    .with_context(|| format!("HeadObject {url}"))?
                    .with_context(|| format!("{url}: no such object"))?;
                let body = store.get_bytes(key).with_context(|| format!("GetObject {url}"))?;
                Ok((body, from_store_meta(meta)))
            }
        }
    }

    /// Writes the body with user metadata (sidecar locally; S3 user metadata). With `None`,
    /// a plain object (and any stale local sidecar is removed). Blocking.
    pub fn write(&self, body: &[u8], metadata: Option<&BTreeMap<String, String>>) -> Result<()> {
        match self {
            ObjectRef::Local(path) => {
                let side = sidecar::sidecar_path(path);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                }
                match metadata {
                    Some(md) => {
                        let meta = ObjectMeta { metadata: md.clone(), ..ObjectMeta::default() };
                        write_file(&side, sidecar::write_sidecar(&meta).as_bytes())?;
                    }
                    None => match std::fs::remove_file(&side) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e).with_context(|| format!("removing {}", side.display())),
                    },
                }
                write_file(path, body)
            }
            ObjectRef::Store { store, key, url } => match metadata {
                Some(md) => {
                    let meta = lake::ObjectMetadata { metadata: md.clone(), ..lake::ObjectMetadata::default() };
                    store.put_with_metadata(key, body, &meta)
                }
                None => store.put(key, body),
            }
            .with_context(|| format!("PutObject {url}")),
        }
    }
}

fn write_file(path: &Path, body: &[u8]) -> Result<()> {
    std::fs::write(path, body).with_context(|| format!("writing {}", path.display()))
}

/// Store metadata → envelope metadata, with names normalized (lowercase, no `x-amz-meta-`).
pub fn from_store_meta(meta: lake::ObjectMetadata) -> ObjectMeta {
    let metadata = meta
        .metadata
        .into_iter()
        .map(|(k, v)| {
            let k = k.to_ascii_lowercase();
            (k.strip_prefix("x-amz-meta-").map(str::to_owned).unwrap_or(k), v)
        })
        .collect();
    ObjectMeta { metadata, server_side_encryption: meta.server_side_encryption, sse_kms_key_id: meta.sse_kms_key_id }
}

/// A multi-threaded runtime for the async parts (KMS).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "simple" => Ok(Format::Simple),
        "s3ec-v2" | "s3ec" | "v2" => Ok(Format::S3ecV2),
        _ => Err(format!("unknown format {s:?}: use simple or s3ec-v2")),
    }
}

fn parse_context_entry(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected KEY=VALUE"))?;
    if k.is_empty() {
        return Err(format!("{s:?}: empty context key"));
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// Envelope-encrypt a file or object (simple or S3 Encryption Client v2 format).
///
/// IN and OUT are local files or s3://bucket/key objects. A local OUT gets its metadata in the
/// sidecar OUT.meta.json; an S3 OUT gets it as user metadata (x-amz-meta-*).
#[derive(Debug, clap::Args)]
pub struct EncryptArgs {
    /// Plaintext: a local file or s3://bucket/key.
    input: String,
    /// Where to write the encrypted object: a local file or s3://bucket/key.
    output: String,
    /// Envelope format: `simple` or `s3ec-v2` (S3 Encryption Client v2).
    #[arg(long, default_value = "simple", value_parser = parse_format)]
    format: Format,
    /// The wrapping key: a KMS key ARN, key id or alias (KMS keyring), or local:FILE (a key
    /// file made by `kms-audit keygen`).
    #[arg(long)]
    key: String,
    /// Encryption-context entry KEY=VALUE (repeatable). Bound to the data key; KMS logs it.
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_context_entry)]
    context: Vec<(String, String)>,
}

/// Decrypt an envelope-encrypted file or object (format detected from its metadata).
#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// Encrypted object: a local file (metadata in FILE.meta.json) or s3://bucket/key.
    input: String,
    /// Where to write the plaintext: a local file, s3://bucket/key, or `-` for stdout.
    output: String,
    /// `kms` (the default) or local:FILE.
    #[arg(long, default_value = "kms")]
    keyring: KeyringSpec,
    /// Refuse unless the data key is wrapped under this key (ARN, key id, alias or
    /// local:<name>; repeatable: any of them).
    #[arg(long = "expect-key", value_name = "KEY")]
    expect_key: Vec<String>,
}

pub fn encrypt(args: &EncryptArgs) -> Result<u8> {
    let (spec, key_id) = match args.key.strip_prefix("local:") {
        Some(file) => (KeyringSpec::from_str(&args.key).map_err(anyhow::Error::msg)?, file.to_owned()),
        None => (KeyringSpec::Kms, args.key.clone()),
    };
    let input = ObjectRef::parse(&args.input)?;
    let output = ObjectRef::parse(&args.output)?;
    let (plaintext, _) = input.read()?;
    let context: EncryptionContext = args.context.iter().cloned().collect();
    let rt = runtime()?;
    let encrypted = rt.block_on(async {
        let keyring = CliKeyring::open(&spec).await?;
        let key_id = match &keyring {
            CliKeyring::Local(k) => k.key_id().to_owned(),
            CliKeyring::Kms(_) => key_id,
        };
        encrypt_object(args.format, &keyring, &key_id, &context, &plaintext)
            .await
            .with_context(|| format!("encrypting {}", input.display()))
    })?;
    drop(plaintext);
    output.write(&encrypted.body, Some(&encrypted.metadata))?;
    eprintln!(
        "encrypt: {} -> {} ({}, data key wrapped under {}, {} bytes)",
        input.display(),
        output.display(),
        args.format,
        encrypted.key_arn,
        encrypted.body.len()
    );
    Ok(EXIT_OK)
}

// main.rs hands every command its Args by value.
pub fn decrypt(args: &DecryptArgs) -> Result<u8> {
    let input = ObjectRef::parse(&args.input)?;
    let (body, meta) = input.read()?;
    let rt = runtime()?;
    let decrypted = rt.block_on(async {
        let keyring = CliKeyring::open(&args.keyring).await?;
        let expected = keyring.resolve_expected(&args.expect_key).await?;
        let one = match expected.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        };
        let d = decrypt_object(&meta.metadata, &body, &keyring, one)
            .await
            .with_context(|| format!("decrypting {}", input.display()))?;
        if !expected.is_empty() && !expected.iter().any(|e| envelope::key_matches(e, &d.key_arn)) {
            bail!(
                "{}: data key wrapped under {}, not an expected key ({})",
                input.display(),
                d.key_arn,
                expected.join(", ")
            );
        }
        Ok(d)
    })?;
    if args.output == "-" {
        use std::io::Write as _;
        std::io::stdout().write_all(&decrypted.plaintext).context("writing stdout")?;
    } else {
        ObjectRef::parse(&args.output)?.write(&decrypted.plaintext, None)?;
    }
    eprintln!(
        "decrypt: {} ({}, data key wrapped under {}) -> {}",
        input.display(),
        decrypted.format,
        decrypted.key_arn,
        args.output
    );
    Ok(EXIT_OK)
}
