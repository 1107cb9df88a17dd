//! The names the API, the CLI and exports use for the protocol's closed
//! enums (tier, kind, category, severity, ack status, withheld field), and serde helpers that
//! read and write them as those lowercase names. The names come from the
//! protocol crate where it has them, so JSON, flags and tables agree.

use riskmesh_protocol::body::AckStatus;
use riskmesh_protocol::redaction::WithheldField;
use riskmesh_protocol::{Category, Kind, Severity, Tier};

/// A closed protocol enum with one lowercase name per value.
pub trait Named: Sized + Copy + PartialEq + 'static {
    /// What a value is called in messages ("tier", "kind", …).
    const WHAT: &'static str;
    /// Every value, in wire order.
    fn all() -> &'static [Self];
    /// The value's name.
    fn name(self) -> &'static str;

    /// Parses a name; the error lists every accepted name.
    fn from_name(text: &str) -> Result<Self, String> {
        Self::all()
            .iter()
            .copied()
            .find(|v| v.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::all().iter().map(|v| v.name()).collect();
                format!(
                    "unknown {} `{text}`; expected one of: {}",
                    Self::WHAT,
                    names.join(", ")
                )
            })
    }
}

impl Named for Tier {
    const WHAT: &'static str = "tier";
    fn all() -> &'static [Self] {
        &Tier::ALL
    }
    fn name(self) -> &'static str {
        Tier::name(self)
    }
}

impl Named for Kind {
    const WHAT: &'static str = "kind";
    fn all() -> &'static [Self] {
        &Kind::ALL
    }
    fn name(self) -> &'static str {
        Kind::name(self)
    }
}

impl Named for Category {
    const WHAT: &'static str = "category";
    fn all() -> &'static [Self] {
        &Category::ALL
    }
    fn name(self) -> &'static str {
        Category::name(self)
    }
}

impl Named for Severity {
    const WHAT: &'static str = "severity";
    fn all() -> &'static [Self] {
        &Severity::ALL
    }
    fn name(self) -> &'static str {
        Severity::name(self)
    }
}

/// Every ack status, in wire order (the protocol has no list of its own).
const ACK_STATUSES: [AckStatus; 3] = [
    AckStatus::Reproduced,
    AckStatus::NotAffected,
    AckStatus::Mitigated,
];

impl Named for AckStatus {
    const WHAT: &'static str = "ack status";
    fn all() -> &'static [Self] {
        &ACK_STATUSES
    }
    fn name(self) -> &'static str {
        match self {
            AckStatus::Reproduced => "reproduced",
            AckStatus::NotAffected => "not-affected",
            AckStatus::Mitigated => "mitigated",
        }
    }
}

impl Named for WithheldField {
    const WHAT: &'static str = "withheld field";
    fn all() -> &'static [Self] {
        &WithheldField::ALL
    }
    fn name(self) -> &'static str {
        WithheldField::name(self)
    }
}

/// Parses a name for clap's `value_parser`.
pub fn parse<T: Named>(text: &str) -> Result<T, String> {
    T::from_name(text)
}

/// `#[serde(with = "named")]` for a [`Named`] field.
pub mod named {
    use super::Named;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the value's name.
    pub fn serialize<T: Named, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.name())
    }

    /// Reads a name; an unknown one is an error listing the accepted names.
    pub fn deserialize<'de, T: Named, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        let text = String::deserialize(deserializer)?;
        T::from_name(&text).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(default, with = "named_opt")]` for an optional [`Named`] field.
pub mod named_opt {
    use super::Named;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the name, or null.
    pub fn serialize<T: Named, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_some(v.name()),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a name or null.
    pub fn deserialize<'de, T: Named, D: Deserializer<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => T::from_name(&text).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// `#[serde(default, with = "named_list")]` for an optional list of
/// [`Named`] values.
pub mod named_list {
    use super::Named;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the names, or null.
    pub fn serialize<T: Named, S: Serializer>(
        value: &Option<Vec<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(values) => {
                let mut seq = serializer.serialize_seq(Some(values.len()))?;
                for v in values {
                    seq.serialize_element(v.name())?;
                }
                seq.end()
            }
            None => serializer.serialize_none(),
        }
    }

    /// Reads a list of names or null; an unknown name is an error listing
    /// the accepted names.
    pub fn deserialize<'de, T: Named, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<T>>, D::Error> {
        match Option::<Vec<String>>::deserialize(deserializer)? {
            Some(names) => names
                .iter()
                .map(|text| T::from_name(text.trim()).map_err(serde::de::Error::custom))
                .collect::<Result<Vec<T>, D::Error>>()
                .map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Named + std::fmt::Debug>() {
        for &value in T::all() {
            assert_eq!(T::from_name(value.name()), Ok(value));
        }
        let err = T::from_name("nonsense").expect_err("unknown name");
        assert!(err.contains(T::all()[0].name()), "{err}");
    }

    #[test]
    fn every_name_parses_back_and_unknown_names_list_the_choices() {
        round_trips::<Tier>();
        round_trips::<Kind>();
        round_trips::<Category>();
        round_trips::<Severity>();
        round_trips::<AckStatus>();
        round_trips::<WithheldField>();
        assert_eq!(
            <Kind as Named>::from_name("access-request"),
            Ok(Kind::AccessRequest)
        );
        assert_eq!(
            <Category as Named>::from_name("cyber-offense"),
            Ok(Category::CyberOffense)
        );
    }
}
