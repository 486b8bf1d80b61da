//! `aws::integrity`: the S3 `TrailObjects` against the moto server, and `list_public_keys`
//! against the local ListPublicKeys stand-in (`tests/integrity/list_public_keys_server.py`;
//! moto does not implement ListPublicKeys), which pages one key at a time.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use aws::integrity::{list_public_keys, S3TrailObjects};
use trail::digest::{TrailObjects, TrailOrigin};

/// Kills the stand-in when the test ends, passing or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn s3_trail_objects_list_get_and_name() {
    let moto = testkit::MotoServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let config = rt.block_on(aws::config::local(&moto.endpoint(), "us-east-1"));
    let client = aws::config::s3_client_path_style(&config, true);
    rt.block_on(async {
        client.create_bucket().bucket("trail").send().await.unwrap();
        for key in [
            "p/AWSLogs/1/CloudTrail/us-east-1/a.json.gz",
            "p/AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz",
            "p/AWSLogs/2/x",
            "other/y",
        ] {
            client
                .put_object()
                .bucket("trail")
                .key(key)
                .body(vec![b'z'; 100_000].into())
                .metadata("Signature", "abcd")
                .send()
                .await
                .unwrap();
        }
    });
    let objects = S3TrailObjects::new(client, "trail", "p", rt.handle().clone());
    // Called from this plain thread, not from inside the runtime.
    let mut keys = objects.list("AWSLogs/").unwrap();
    keys.sort();
    assert_eq!(
        keys,
        ["AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz", "AWSLogs/1/CloudTrail/us-east-1/a.json.gz", "AWSLogs/2/x"]
    );
    assert_eq!(objects.list_dirs("AWSLogs/").unwrap(), ["1", "2"]);
    assert_eq!(objects.list_dirs("AWSLogs/1/").unwrap(), ["CloudTrail", "CloudTrail-Digest"]);
    let mut obj = objects.get("AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz").unwrap().unwrap();
    assert_eq!(obj.metadata_value("signature"), Some("abcd"));
    let mut body = Vec::new();
    obj.body.read_to_end(&mut body).unwrap();
    assert_eq!(body.len(), 100_000);
    assert!(objects.get("AWSLogs/nope").unwrap().is_none());
    assert_eq!(objects.origin(), TrailOrigin::s3("trail", "p/"));
    assert_eq!(objects.display_key("AWSLogs/2/x"), "s3://trail/p/AWSLogs/2/x");
}

#[test]
fn list_public_keys_follows_pages_of_the_stand_in() {
    let dir = tempfile::tempdir().unwrap();
    let keys = repo().join("crates/trail/tests/data/digest/public-keys.json");
    let port = testkit::free_port();
    let mut child = Command::new("python3")
        .arg(repo().join("tests/integrity/list_public_keys_server.py"))
        .arg(&keys)
        .args(["--port", &port.to_string(), "--log"])
        .arg(dir.path().join("log"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 for the stand-in");
    let stdout = child.stdout.take().unwrap();
    let _server = KillOnDrop(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(line.starts_with("listening"), "{line:?}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = rt.block_on(async {
        let config = aws::config::local(&format!("http://127.0.0.1:{port}"), "us-east-1").await;
        let client = aws::config::cloudtrail_client(&config, None);
        let all = list_public_keys(&client, None, None).await.unwrap();
        let march = list_public_keys(
            &client,
            Some("2024-03-01T00:00:00Z".parse().unwrap()),
            Some("2024-03-02T00:00:00Z".parse().unwrap()),
        )
        .await
        .unwrap();
        (all, march)
    });
    let (all, march) = result;
    assert_eq!(all.len(), 2, "two pages of one key each");
    assert!(all.get("758994f721ca7d44828ea7ef288927f7").is_some());
    assert_eq!(march.len(), 1);
    let k = march.get("174abfe8a2ea20c0de8e95756316ce09").unwrap();
    assert_eq!(k.validity_start().unwrap().to_rfc3339(), "2024-02-29T00:00:00+00:00");
    let calls = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert_eq!(calls.lines().count(), 3);
}
