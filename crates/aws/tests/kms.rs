//! The KMS keyring against the moto server (KMS), and its throttling path against a local HTTP
//! stand-in that answers `ThrottlingException` (moto never throttles).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws::kms::{retrying, KmsKeyring};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use envelope::{decrypt_object, encrypt_object, EncryptionContext, ErrorKind, Format, Keyring, RetryPolicy};
use testkit::MotoServer;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

async fn keyring(moto: &MotoServer) -> KmsKeyring {
    KmsKeyring::from_config(&aws::config::local(&moto.endpoint(), "us-east-1").await)
}

async fn create_key(k: &KmsKeyring) -> String {
    k.client().create_key().send().await.unwrap().key_metadata.unwrap().arn.unwrap()
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().copied().collect()
}

#[test]
fn data_keys_round_trip_and_errors_map_to_kinds() {
    let moto = MotoServer::start();
    rt().block_on(async {
        let k = keyring(&moto).await;
        let key = create_key(&k).await;
        let other = create_key(&k).await;
        k.client().create_alias().alias_name("alias/data").target_key_id(&key).send().await.unwrap();
        let c = ctx(&[("bucket", "b"), ("key", "x")]);

        let generated = k.generate_data_key("alias/data", &c).await.unwrap();
        assert_eq!(generated.key_arn, key, "KMS reports the key ARN behind the alias");
        assert!(!format!("{generated:?}").contains(&format!("{:?}", generated.key.expose_secret())));
        let unwrapped = k.decrypt_data_key(&generated.wrapped, &c, Some(&key)).await.unwrap();
        assert_eq!(unwrapped.key.expose_secret(), generated.key.expose_secret());
        assert_eq!(unwrapped.key_arn, key);
        // Without an expected key, and with the alias (resolved with DescribeKey first).
        assert_eq!(k.decrypt_data_key(&generated.wrapped, &c, None).await.unwrap().key_arn, key);
        assert_eq!(k.decrypt_data_key(&generated.wrapped, &c, Some("alias/data")).await.unwrap().key_arn, key);
        assert_eq!(k.resolve_key("alias/data").await.unwrap(), key);
        // A bare key id matches the ARN's id.
        let id = envelope::key_id_of(&key).to_owned();
        assert_eq!(k.decrypt_data_key(&generated.wrapped, &c, Some(&id)).await.unwrap().key_arn, key);

        // Context changed → context-mismatch (InvalidCiphertextException).
        let e = k.decrypt_data_key(&generated.wrapped, &ctx(&[("bucket", "b")]), Some(&key)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ContextMismatch, "{e}");
        // Another expected key: moto answers AccessDeniedException (AWS: IncorrectKeyException).
        let e = k.decrypt_data_key(&generated.wrapped, &c, Some(&other)).await.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::KmsDenied | ErrorKind::WrongKey), "{e}");
        // A corrupt blob.
        let mut bad = generated.wrapped.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let e = k.decrypt_data_key(&bad, &c, Some(&key)).await.unwrap_err();
        assert!(!e.to_string().is_empty());
        // Unknown key.
        let e = k.generate_data_key("alias/nope", &c).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyNotFound, "{e}");
        // A local key id is never a KMS key.
        let e = k.decrypt_data_key(&generated.wrapped, &c, Some("local:dev")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongKey);

        // Whole objects in both formats through the envelope crate.
        for format in [Format::Simple, Format::S3ecV2] {
            let enc = encrypt_object(format, &k, &key, &c, b"payload").await.unwrap();
            assert_eq!(enc.key_arn, key);
            let dec = decrypt_object(&enc.metadata, &enc.body, &k, Some(&key)).await.unwrap();
            assert_eq!(dec.plaintext, b"payload");
            assert!(decrypt_object(&enc.metadata, &enc.body, &k, Some(&other)).await.is_err());
        }
    });
}

#[test]
fn sign_and_verify_digests_through_kms() {
    let moto = MotoServer::start();
    rt().block_on(async {
        let k = keyring(&moto).await;
        let key = k
            .client()
            .create_key()
            .key_spec(KeySpec::Rsa2048)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .arn
            .unwrap();
        let digest = [7u8; 32];
        let sig = k.sign_digest(&key, &digest).await.unwrap();
        assert_eq!(sig.key_arn, key);
        assert_eq!(sig.algorithm, "RSASSA_PSS_SHA_256");
        assert_eq!(sig.signature.len(), 256);
        assert!(k.verify_digest(&key, &digest, &sig.signature).await.unwrap());
        assert!(!k.verify_digest(&key, &[8u8; 32], &sig.signature).await.unwrap());
        let mut bad = sig.signature.clone();
        bad[0] ^= 1;
        assert!(!k.verify_digest(&key, &digest, &bad).await.unwrap());
        let public = k.public_key(&key).await.unwrap();
        assert_eq!(public.der[0], 0x30, "DER SubjectPublicKeyInfo");
    });
}

/// A stand-in KMS endpoint: answers the first `throttled` requests with `ThrottlingException`,
/// then a Decrypt response. Counts requests.
fn throttling_kms(throttled: usize, key_arn: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let (status, json) = if n < throttled {
                ("400 Bad Request", r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned())
            } else {
                let plaintext = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // 0..31
                (
                    "200 OK",
                    format!(
                        r#"{{"KeyId":"{key_arn}","Plaintext":"{plaintext}","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}"#
                    ),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
    });
    (endpoint, count)
}

async fn no_sdk_retries(endpoint: &str) -> KmsKeyring {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    KmsKeyring::from_config(&config)
}

#[test]
fn throttling_is_kms_throttled_and_retried_with_backoff() {
    const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";
    let policy =
        RetryPolicy { max_attempts: 4, base_delay: Duration::from_millis(5), max_delay: Duration::from_millis(20) };
    rt().block_on(async {
        // Always throttled: the kind is kms-throttled, retried max_attempts times.
        let (endpoint, count) = throttling_kms(usize::MAX, ARN);
        let k = retrying(no_sdk_retries(&endpoint).await, policy);
        let e = k.decrypt_data_key(b"blob", &EncryptionContext::new(), Some(ARN)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KmsThrottled, "{e}");
        assert!(e.is_retryable());
        assert_eq!(count.load(Ordering::SeqCst), 4);

        // Throttled twice, then answered: the caller sees success.
        let (endpoint, count) = throttling_kms(2, ARN);
        let k = retrying(no_sdk_retries(&endpoint).await, policy);
        let u = k.decrypt_data_key(b"blob", &EncryptionContext::new(), Some(ARN)).await.unwrap();
        assert_eq!(u.key_arn, ARN);
        assert_eq!(u.key.expose_secret()[31], 31);
        assert_eq!(count.load(Ordering::SeqCst), 3);

        // The response's key must be the expected one.
        let (endpoint, _) = throttling_kms(0, ARN);
        let k = no_sdk_retries(&endpoint).await;
        let e = k
            .decrypt_data_key(b"blob", &EncryptionContext::new(), Some(&ARN.replace("11111111", "99999999")))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongKey);
    });
}
