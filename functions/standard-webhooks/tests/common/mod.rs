//! Constants shared by `handler.rs` and `official_lib.rs` (`mod common;`).

/// The fixed clock.
pub const NOW: i64 = 1_700_000_000;
pub const DEV_SECRET: &str = "whsec_ZGV2LXN0YW5kYXJkLXdlYmhvb2tzLU5PVC1BLVNFQ1JFVA==";
pub const OTHER_SECRET: &str = "whsec_b3RoZXItc291cmNlLXNlY3JldC1OT1QtQS1TRUNSRVQ=";

// The specification's public vector.
pub const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
pub const VECTOR_TIMESTAMP: i64 = 1_649_367_553;
pub const VECTOR_BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
pub const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
