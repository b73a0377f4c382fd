//! Which AWS partition a region is in: the suffix of its endpoints and the
//! trust store its HTTPS calls default to.

/// The AWS partition a region belongs to, by its name's prefix: what the
/// store calls' endpoints (crate::aws::json_api) and the default trust store
/// (crate::aws::tls) depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partition {
    /// `aws`: the commercial regions.
    Commercial,
    /// `aws-cn`: `cn-` regions.
    China,
    /// `aws-us-gov`: `us-gov-` regions.
    GovCloud,
    /// `aws-iso`: `us-iso-` regions.
    Iso,
    /// `aws-iso-b`: `us-isob-` regions.
    IsoB,
    /// The other isolated regions (`us-iso…`), whose endpoints this table
    /// does not know: there `AWS_ENDPOINT_URL` names them.
    OtherIsolated,
    /// `aws-eusc`: `eusc-` regions.
    EuropeanSovereign,
}

impl Partition {
    pub fn of(region: &str) -> Self {
        match region {
            _ if region.starts_with("cn-") => Partition::China,
            _ if region.starts_with("us-gov-") => Partition::GovCloud,
            _ if region.starts_with("us-isob-") => Partition::IsoB,
            _ if region.starts_with("us-iso-") => Partition::Iso,
            _ if region.starts_with("us-iso") => Partition::OtherIsolated,
            _ if region.starts_with("eusc-") => Partition::EuropeanSovereign,
            _ => Partition::Commercial,
        }
    }

    /// The domain its regional endpoints end in (the SDK's partition table).
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::China => "amazonaws.com.cn",
            Partition::IsoB => "sc2s.sgov.gov",
            Partition::Iso => "c2s.ic.gov",
            Partition::EuropeanSovereign => "amazonaws.eu",
            Partition::Commercial | Partition::GovCloud | Partition::OtherIsolated => "amazonaws.com",
        }
    }
}
