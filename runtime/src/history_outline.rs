//! A history as text, one line per event, as `dacapo workflow show`, the examples and the tests
//! print it.

use crate::proto::history::HistoryEvent;
use crate::proto::{EventAttributes, event_type_name};

/// One line per event: `<event id> <EventType> [activity type]`, the activity type shown on
/// every activity event.
pub fn describe_history(events: &[HistoryEvent]) -> Vec<String> {
    let mut types = std::collections::HashMap::new();
    events
        .iter()
        .map(|event| {
            let name = event_type_name(event.event_type);
            let activity = match &event.attributes {
                Some(EventAttributes::ActivityTaskScheduledEventAttributes(a)) => {
                    let t = a
                        .activity_type
                        .as_ref()
                        .map(|t| t.name.clone())
                        .unwrap_or_default();
                    types.insert(event.event_id, t.clone());
                    Some(t)
                }
                Some(EventAttributes::ActivityTaskStartedEventAttributes(a)) => {
                    types.get(&a.scheduled_event_id).cloned()
                }
                Some(EventAttributes::ActivityTaskCompletedEventAttributes(a)) => {
                    types.get(&a.scheduled_event_id).cloned()
                }
                Some(EventAttributes::ActivityTaskFailedEventAttributes(a)) => {
                    types.get(&a.scheduled_event_id).cloned()
                }
                Some(EventAttributes::ActivityTaskTimedOutEventAttributes(a)) => {
                    types.get(&a.scheduled_event_id).cloned()
                }
                Some(EventAttributes::ActivityTaskCancelRequestedEventAttributes(a)) => {
                    types.get(&a.scheduled_event_id).cloned()
                }
                Some(EventAttributes::ActivityTaskCanceledEventAttributes(a)) => {
                    types.get(&a.scheduled_event_id).cloned()
                }
                _ => None,
            };
            match activity {
                Some(t) => format!("{} {} [{}]", event.event_id, name, t),
                None => format!("{} {}", event.event_id, name),
            }
        })
        .collect()
}
