//! Values on the wire: serde <-> `Payload`, encoded as `json/plain` so that other Temporal SDKs
//! read and write the same bytes.

use crate::proto::common::{Payload as RawPayload, Payloads};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;

/// The metadata key naming a payload's encoding.
pub const ENCODING_KEY: &str = "encoding";
/// The encoding every dacapo value is written in.
pub const JSON_PLAIN: &str = "json/plain";
/// The encoding Temporal SDKs use for an absent value (`None`, `()`).
pub const BINARY_NULL: &str = "binary/null";

/// A value that can cross a workflow or activity boundary.
///
/// Implemented for every `Serialize + DeserializeOwned + Send + 'static` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a workflow or activity value",
    label = "this type must be `Serialize + DeserializeOwned`",
    note = "workflow and activity arguments and results are recorded in the history as JSON; derive `serde::Serialize` and `serde::Deserialize` for `{Self}`"
)]
pub trait Payload: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Payload for T {}

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The value could not be serialized to JSON.
    #[error("could not encode a value of type `{type_name}` as JSON: {message}")]
    Encode {
        /// The Rust type being encoded.
        type_name: &'static str,
        /// The serde error.
        message: String,
    },
    /// The payload did not deserialize into the expected type.
    #[error("argument {index} does not deserialize into `{type_name}`: {message}")]
    Decode {
        /// Position of the argument in the payload list.
        index: usize,
        /// The Rust type expected.
        type_name: &'static str,
        /// The serde error.
        message: String,
    },
    /// The payload uses an encoding this SDK does not read.
    #[error(
        "argument {index} has encoding `{encoding}`; dacapo reads `json/plain` and `binary/null`"
    )]
    Encoding {
        /// Position of the argument.
        index: usize,
        /// The encoding found in the metadata.
        encoding: String,
    },
}

/// Encodes one value as a `json/plain` payload.
///
/// # Errors
/// Fails when serde cannot serialize the value (a map with non-string keys, say).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<RawPayload, PayloadError> {
    let data = serde_json::to_vec(value).map_err(|e| PayloadError::Encode {
        type_name: std::any::type_name::<T>(),
        message: e.to_string(),
    })?;
    let mut metadata = HashMap::new();
    metadata.insert(ENCODING_KEY.to_string(), JSON_PLAIN.as_bytes().to_vec());
    Ok(RawPayload {
        metadata,
        data,
        ..Default::default()
    })
}

/// Encodes a message's value (a signal's, or a query's or an update's argument) as the payload
/// list the wire carries: one payload, or none for `()`, as a handler without parameters
/// expects in every Temporal SDK. [`decode`] reads a missing payload as `()` again.
///
/// # Errors
/// As [`encode`].
pub fn encode_args<T: Serialize + 'static>(value: &T) -> Result<Vec<RawPayload>, PayloadError> {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<()>() {
        return Ok(Vec::new());
    }
    Ok(vec![encode(value)?])
}

/// Decodes the payload at `index` of a list into `T`. A missing payload decodes as JSON `null`,
/// so `()` and `Option<T>` accept an absent value.
///
/// # Errors
/// Fails with a message naming `T` and the serde error when the bytes do not fit the type.
pub fn decode<T: DeserializeOwned>(
    payloads: &[RawPayload],
    index: usize,
) -> Result<T, PayloadError> {
    let type_name = std::any::type_name::<T>();
    let decode_err = |message: String| PayloadError::Decode {
        index,
        type_name,
        message,
    };
    let Some(payload) = payloads.get(index) else {
        return serde_json::from_value(serde_json::Value::Null)
            .map_err(|_| decode_err("the argument is missing".to_string()));
    };
    match payload.metadata.get(ENCODING_KEY).map(|v| v.as_slice()) {
        Some(b"json/plain") | None => {
            serde_json::from_slice(&payload.data).map_err(|e| decode_err(e.to_string()))
        }
        Some(b"binary/null") => {
            serde_json::from_value(serde_json::Value::Null).map_err(|e| decode_err(e.to_string()))
        }
        Some(other) => Err(PayloadError::Encoding {
            index,
            encoding: String::from_utf8_lossy(other).into_owned(),
        }),
    }
}

/// Wraps a list of payloads the way the wire carries them (`None` for an empty list).
pub fn to_payloads(list: Vec<RawPayload>) -> Option<Payloads> {
    if list.is_empty() {
        None
    } else {
        Some(Payloads { payloads: list })
    }
}

/// The payload list of an optional `Payloads`.
pub fn payload_list(p: &Option<Payloads>) -> &[RawPayload] {
    p.as_ref().map(|p| p.payloads.as_slice()).unwrap_or(&[])
}

/// Renders a payload for people: its JSON text when it is JSON, its size otherwise.
pub fn display(payload: &RawPayload) -> String {
    match payload.metadata.get(ENCODING_KEY).map(|v| v.as_slice()) {
        Some(b"json/plain") | None => String::from_utf8_lossy(&payload.data).into_owned(),
        Some(b"binary/null") => "null".to_string(),
        Some(other) => format!(
            "<{} bytes of {}>",
            payload.data.len(),
            String::from_utf8_lossy(other)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let p = encode(&("a", 3)).unwrap();
        assert_eq!(p.data, br#"["a",3]"#);
        let back: (String, i32) = decode(std::slice::from_ref(&p), 0).unwrap();
        assert_eq!(back, ("a".to_string(), 3));
        let err = decode::<u8>(&[p], 0).unwrap_err().to_string();
        assert!(err.contains("`u8`"), "{err}");
        let unit: () = decode(&[], 0).unwrap();
        assert_eq!(unit, ());
        assert!(decode::<String>(&[], 0).is_err());
    }
}
