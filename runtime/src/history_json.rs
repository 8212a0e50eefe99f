//! Histories as JSON, in the proto JSON form that Temporal's tools print and read
//! (`temporal workflow show --output json`), so a history moves between dacapo and Temporal.

use crate::proto::history::{History, HistoryEvent};
use prost::Message;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};
use std::sync::LazyLock;

static HISTORY: LazyLock<Result<MessageDescriptor, String>> = LazyLock::new(|| {
    let pool =
        DescriptorPool::decode(crate::proto::HISTORY_DESCRIPTORS).map_err(|e| e.to_string())?;
    pool.get_message_by_name("temporal.api.history.v1.History")
        .ok_or_else(|| "the embedded descriptors lack temporal.api.history.v1.History".to_string())
});

/// Why a history could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryJsonError {
    /// The text is not a JSON history.
    #[error("not a valid history in JSON: {0}")]
    Invalid(String),
    /// The embedded descriptors are unusable (a build problem).
    #[error("history descriptors unavailable: {0}")]
    Descriptors(String),
}

fn descriptor() -> Result<MessageDescriptor, HistoryJsonError> {
    HISTORY.clone().map_err(HistoryJsonError::Descriptors)
}

/// Renders a history as pretty proto JSON: `{"events": [...]}`.
///
/// # Errors
/// Only if the embedded descriptors are unusable.
pub fn to_json(events: &[HistoryEvent]) -> Result<String, HistoryJsonError> {
    let bytes = History {
        events: events.to_vec(),
    }
    .encode_to_vec();
    let msg = DynamicMessage::decode(descriptor()?, bytes.as_slice())
        .map_err(|e| HistoryJsonError::Invalid(e.to_string()))?;
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::pretty(&mut out);
    msg.serialize_with_options(&mut ser, &SerializeOptions::new())
        .map_err(|e| HistoryJsonError::Invalid(e.to_string()))?;
    String::from_utf8(out).map_err(|e| HistoryJsonError::Invalid(e.to_string()))
}

/// Reads a history from proto JSON, either `{"events": [...]}` or a bare array of events.
/// Enum values may be written in full (`EVENT_TYPE_WORKFLOW_EXECUTION_STARTED`) or in the
/// short form some tools print (`WorkflowExecutionStarted`).
///
/// # Errors
/// [`HistoryJsonError::Invalid`] with the parser's message when the text does not fit.
pub fn from_json(text: &str) -> Result<Vec<HistoryEvent>, HistoryJsonError> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| HistoryJsonError::Invalid(e.to_string()))?;
    if value.is_array() {
        value = serde_json::json!({ "events": value });
    }
    expand_short_enums(&mut value);
    let msg = DynamicMessage::deserialize_with_options(
        descriptor()?,
        value,
        &DeserializeOptions::new().deny_unknown_fields(false),
    )
    .map_err(|e| HistoryJsonError::Invalid(e.to_string()))?;
    let history = History::decode(msg.encode_to_vec().as_slice())
        .map_err(|e| HistoryJsonError::Invalid(e.to_string()))?;
    Ok(history.events)
}

/// Short enum spellings: the field names whose values may come as `PascalCase` without their
/// `ENUM_PREFIX_`.
const SHORT_ENUM_FIELDS: &[(&str, &str)] = &[
    ("eventType", "EVENT_TYPE_"),
    ("kind", "TASK_QUEUE_KIND_"),
    ("retryState", "RETRY_STATE_"),
    ("timeoutType", "TIMEOUT_TYPE_"),
    ("cause", "WORKFLOW_TASK_FAILED_CAUSE_"),
    ("initiator", "CONTINUE_AS_NEW_INITIATOR_"),
    ("parentClosePolicy", "PARENT_CLOSE_POLICY_"),
];

fn expand_short_enums(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if let Some((_, prefix)) = SHORT_ENUM_FIELDS.iter().find(|(f, _)| f == k)
                    && let serde_json::Value::String(s) = child
                    && !s.is_empty()
                    && !s.starts_with(prefix)
                    && s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && s.chars().any(|c| c.is_ascii_lowercase())
                {
                    *s = format!("{prefix}{}", screaming_snake(s));
                } else {
                    expand_short_enums(child);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(expand_short_enums),
        _ => {}
    }
}

fn screaming_snake(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::EventAttributes;
    use crate::proto::enums::EventType;

    fn sample() -> Vec<HistoryEvent> {
        vec![
            HistoryEvent {
                event_id: 1,
                event_type: EventType::WorkflowExecutionStarted as i32,
                attributes: Some(EventAttributes::WorkflowExecutionStartedEventAttributes(
                    Default::default(),
                )),
                ..Default::default()
            },
            HistoryEvent {
                event_id: 2,
                event_type: EventType::WorkflowTaskScheduled as i32,
                ..Default::default()
            },
        ]
    }

    #[test]
    fn round_trips_through_proto_json() {
        let text = to_json(&sample()).unwrap();
        assert!(
            text.contains("\"eventType\": \"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED\""),
            "{text}"
        );
        assert!(text.contains("\"eventId\": \"1\""), "{text}");
        assert_eq!(from_json(&text).unwrap(), sample());
    }

    #[test]
    fn reads_short_enum_names_and_bare_arrays() {
        let text = r#"[{"eventId": "1", "eventType": "WorkflowExecutionStarted",
                        "workflowExecutionStartedEventAttributes": {}},
                       {"eventId": "2", "eventType": "WorkflowTaskScheduled"}]"#;
        assert_eq!(from_json(text).unwrap(), sample());
    }

    #[test]
    fn rejects_what_is_not_a_history() {
        let err = from_json(r#"{"events": [{"eventId": "x"}]}"#).unwrap_err();
        assert!(matches!(err, HistoryJsonError::Invalid(_)), "{err:?}");
        assert!(from_json("not json").is_err());
    }
}
