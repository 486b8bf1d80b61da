//! The Lambda functions of kms-audit (in progress).
