//! ARN normalisation shared by the rules, the SQL tables and the expectations builder.
//!
//! Every function here has an exact SQL counterpart in `queries/reconcile/*.sql`; keep them in step.

/// The six `:`-separated fields of an ARN: `arn:partition:service:region:account:resource`.
/// The resource keeps any further `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

/// Splits an ARN, `None` when the text is not one.
pub fn parse(arn: &str) -> Option<Arn<'_>> {
    let mut it = arn.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    let partition = it.next()?;
    let service = it.next()?;
    let region = it.next()?;
    let account = it.next()?;
    let resource = it.next()?;
    if partition.is_empty() || service.is_empty() || resource.is_empty() {
        return None;
    }
    Some(Arn { partition, service, region, account, resource })
}

/// Canonical identity of an IAM role: `partition:account:role-name`.
///
/// Role names are unique in an account whatever their path, and CloudTrail's assumed-role session
/// ARN drops the path, so `role/service-role/X`, `role/X` and `assumed-role/X/session` are the same
/// role. SQL: `split_part(p, ':', 2) || ':' || split_part(p, ':', 5) || ':' || regexp_extract(p, '[^/]+$')`
/// for `arn:%:iam::%:role/%`.
pub fn role_key(arn: &str) -> Option<String> {
    let a = parse(arn)?;
    if !a.region.is_empty() {
        return None;
    }
    let name = match a.service {
        "iam" => {
            let rest = a.resource.strip_prefix("role/")?;
            rest.rsplit('/').next()?
        }
        "sts" => {
            let rest = a.resource.strip_prefix("assumed-role/")?;
            rest.split('/').next()?
        }
        _ => return None,
    };
    if name.is_empty() || a.account.is_empty() {
        return None;
    }
    Some(format!("{}:{}:{}", a.partition, a.account, name))
}

/// Whether the text is a KMS key ARN (`arn:…:kms:region:account:key/id`).
pub fn is_key_arn(s: &str) -> bool {
    matches!(parse(s), Some(a) if a.service == "kms" && a.resource.starts_with("key/") && a.resource.len() > 4)
}

/// Whether the text is a KMS alias ARN (`arn:…:kms:region:account:alias/name`).
pub fn is_alias_arn(s: &str) -> bool {
    matches!(parse(s), Some(a) if a.service == "kms" && a.resource.starts_with("alias/"))
}

/// Canonical identity of a KMS key. A multi-Region key (`key/mrk-…`) is one key in every Region,
/// so its Region is dropped: `partition:account:key/mrk-…`; any other key is its ARN unchanged.
/// `None` when the text is not a key ARN. SQL: `CASE WHEN split_part(k, ':', 6) LIKE 'key/mrk-%'
/// THEN split_part(k, ':', 2) || ':' || split_part(k, ':', 5) || ':' || split_part(k, ':', 6) ELSE k END`.
pub fn key_canon(arn: &str) -> Option<String> {
    let a = parse(arn)?;
    if a.service != "kms" || !a.resource.starts_with("key/") {
        return None;
    }
    if a.resource.starts_with("key/mrk-") {
        Some(format!("{}:{}:{}", a.partition, a.account, a.resource))
    } else {
        Some(arn.to_owned())
    }
}

/// Whether `invokedBy` / `sourceIPAddress` names an AWS service (`*.amazonaws.com`, the China
/// partition's `*.amazonaws.com.cn`, or `AWS Internal`): the call came *through* a service.
pub fn is_aws_service_host(s: &str) -> bool {
    s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn") || s == "AWS Internal"
}

/// Account of an ARN, or `None`.
pub fn account(arn: &str) -> Option<&str> {
    parse(arn).map(|a| a.account).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_paths_and_sessions_are_one_role() {
        let a = role_key("arn:aws:iam::111122223333:role/service-role/Exec-1").unwrap();
        let b = role_key("arn:aws:iam::111122223333:role/Exec-1").unwrap();
        let c = role_key("arn:aws:sts::111122223333:assumed-role/Exec-1/SageMaker").unwrap();
        assert_eq!(a, "aws:111122223333:Exec-1");
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(role_key("arn:aws:iam::111122223333:user/Alice"), None);
        assert_eq!(role_key("service:s3.amazonaws.com"), None);
    }

    #[test]
    fn mrk_keys_ignore_region() {
        let e = key_canon("arn:aws:kms:us-east-1:444455556666:key/mrk-5678").unwrap();
        let w = key_canon("arn:aws:kms:us-west-2:444455556666:key/mrk-5678").unwrap();
        assert_eq!(e, w);
        let k = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(key_canon(k).unwrap(), k);
        assert_ne!(
            key_canon("arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            key_canon(k)
        );
        assert_eq!(key_canon("arn:aws:kms:us-east-1:111122223333:alias/x"), None);
        assert!(is_alias_arn("arn:aws:kms:us-east-1:111122223333:alias/x"));
    }

    #[test]
    fn service_hosts() {
        for h in ["s3.amazonaws.com", "fas.s3.amazonaws.com", "internal.amazonaws.com", "AWS Internal"] {
            assert!(is_aws_service_host(h), "{h}");
        }
        assert!(!is_aws_service_host("198.51.100.7"));
        assert!(!is_aws_service_host("amazonaws.com.evil.example"));
    }
}
