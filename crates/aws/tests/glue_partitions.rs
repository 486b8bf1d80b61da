//! Glue partition registration against the moto server, and the Glue table of
//! `infra/template.yaml` against the lake schema (DESIGN.md §2).

use std::collections::BTreeSet;

use aws::glue::{kms_events_columns, partitions_of, GlueTable};
use lake::Partition;
use testkit::MotoServer;

#[test]
fn partitions_are_registered_idempotently_with_the_table_descriptor() {
    let moto = MotoServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = aws::config::local(&moto.endpoint(), "us-east-1").await;
        let table = GlueTable::new(aws::config::glue_client(&config), "kms_audit", "kms_events");
        table.create_kms_events_table("s3://lake/audit/kms_events/").await.unwrap();
        // Creating again is a no-op.
        table.create_kms_events_table("s3://lake/audit/kms_events/").await.unwrap();

        let role = "arn:aws:iam::111122223333:role/service-role/AmazonSageMaker-ExecutionRole";
        let written: Vec<String> = vec![
            format!(
                "{}a.parquet",
                Partition::new(Some("1234abcd-12ab-34cd-56ef-1234567890ab"), role, "2025-03-10").dir()
            ),
            format!(
                "{}b.parquet",
                Partition::new(Some("1234abcd-12ab-34cd-56ef-1234567890ab"), role, "2025-03-10").dir()
            ),
            format!("{}c.parquet", Partition::new(None, "service:s3.amazonaws.com", "2025-03-11").dir()),
            "_quarantine/x.json".to_owned(),
        ];
        let partitions = partitions_of(&written);
        assert_eq!(partitions.len(), 2);
        let r = table.register(&partitions).await.unwrap();
        assert_eq!((r.created, r.existing), (2, 0));
        // Same process: remembered. A fresh process: Glue says AlreadyExists, still success.
        let r = table.register(&partitions).await.unwrap();
        assert_eq!((r.created, r.existing), (0, 2));
        let fresh = GlueTable::new(aws::config::glue_client(&config), "kms_audit", "kms_events");
        let r = fresh.register(&partitions).await.unwrap();
        assert_eq!(r.created, 0);
        assert_eq!(r.existing, 2);

        let listed = table.list_partitions().await.unwrap();
        assert_eq!(listed.len(), 2);
        let (values, location) = &listed[0];
        let encoded_role = lake::partition::encode_value(role);
        assert_eq!(
            values,
            &vec!["1234abcd-12ab-34cd-56ef-1234567890ab".to_owned(), encoded_role, "2025-03-10".to_owned()]
        );
        assert_eq!(
            location,
            &format!(
                "s3://lake/audit/kms_events/key_id=1234abcd-12ab-34cd-56ef-1234567890ab/principal={}/dt=2025-03-10/",
                lake::partition::encode_value(role)
            )
        );
        let (values, location) = &listed[1];
        assert_eq!(values[0], "_none");
        assert_eq!(values[1], "service%3As3.amazonaws.com", "values are the folder names");
        assert!(location.ends_with("/key_id=_none/principal=service%3As3.amazonaws.com/dt=2025-03-11/"), "{location}");

        // A table that does not exist: a non-retryable error naming it.
        let missing = GlueTable::new(aws::config::glue_client(&config), "kms_audit", "nope");
        let e = missing.register(&partitions).await.unwrap_err();
        assert!(!e.retryable, "{e}");
        assert!(e.to_string().contains("kms_audit.nope"), "{e}");
    });
}

#[test]
fn many_partitions_go_in_batches_of_100() {
    let moto = MotoServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = aws::config::local(&moto.endpoint(), "us-east-1").await;
        let table = GlueTable::new(aws::config::glue_client(&config), "db", "kms_events");
        table.create_kms_events_table("s3://lake/kms_events").await.unwrap();
        let partitions: BTreeSet<Partition> =
            (0..250).map(|i| Partition::new(Some(&format!("key-{i:03}")), "aws-internal", "2025-03-10")).collect();
        let r = table.register(&partitions).await.unwrap();
        assert_eq!(r.created, 250);
        assert_eq!(table.list_partitions().await.unwrap().len(), 250);
    });
}

/// The `kms_events` table of `infra/template.yaml` declares exactly the lake's columns, in
/// order, with the Athena types of DESIGN.md §2, and the partition keys and index.
#[test]
fn template_table_matches_the_lake_schema() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml")).unwrap();
    let start = template.find("# kms_events columns: begin").expect("column block start marker");
    let end = template.find("# kms_events columns: end").expect("column block end marker");
    let block = &template[start..end];
    let mut declared = Vec::new();
    let mut name: Option<String> = None;
    for line in block.lines() {
        let line = line.trim().trim_start_matches("- ");
        if let Some(n) = line.strip_prefix("Name: ") {
            name = Some(n.trim().to_owned());
        } else if let Some(t) = line.strip_prefix("Type: ") {
            declared.push((
                name.take().expect("Name before Type"),
                t.trim().trim_matches('\'').trim_matches('"').to_owned(),
            ));
        }
    }
    assert_eq!(declared, kms_events_columns());
    let expected_design: Vec<(&str, &str)> = vec![
        ("event_id", "string"),
        ("event_time", "timestamp"),
        ("encryption_context", "map<string,string>"),
        ("grant_operations", "array<string>"),
        ("read_only", "boolean"),
        ("source_object", "string"),
    ];
    for (n, t) in expected_design {
        assert!(declared.iter().any(|(dn, dt)| dn == n && dt == t), "{n} {t}");
    }
    assert_eq!(declared.len(), 32);
    // Partition keys and index.
    let keys_at = template.find("PartitionKeys:").expect("PartitionKeys");
    let keys = &template[keys_at..keys_at + 300];
    for k in ["key_id", "principal", "dt"] {
        assert!(keys.contains(&format!("Name: {k}")), "partition key {k}");
    }
    // CloudFormation cannot declare a partition index on AWS::Glue::Table: a custom resource does.
    let index_at = template.find("Type: Custom::GluePartitionIndex").expect("partition index resource");
    let index = &template[index_at..index_at + 400];
    assert!(index.contains("Keys: [key_id, principal, dt]"), "{index}");
}
