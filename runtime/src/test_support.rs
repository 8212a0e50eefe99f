//! What the unit tests of several modules share: an activity and a history builder.

use crate::activity::{ActivityContext, ActivityOptions};
use crate::definition::{ActivityDefinition, BoxFuture};
use crate::error::ActivityError;
use crate::payload::{self, PayloadError};
use crate::proto::EventAttributes;
use crate::proto::common::{ActivityType, Payload as RawPayload, Payloads};
use crate::proto::enums::EventType;
use crate::proto::history::{self as h, HistoryEvent};
use std::time::Duration;

/// An activity named `echo` that returns its input.
pub(crate) struct Echo;
impl ActivityDefinition for Echo {
    type Input = String;
    type Output = String;
    const NAME: &'static str = "echo";
    fn options() -> ActivityOptions {
        ActivityOptions::default().start_to_close(Duration::from_secs(5))
    }
    fn encode_input(input: &String) -> Result<Vec<RawPayload>, PayloadError> {
        Ok(vec![payload::encode(input)?])
    }
    fn decode_input(p: &[RawPayload]) -> Result<String, PayloadError> {
        payload::decode(p, 0)
    }
    fn execute(_ctx: ActivityContext, input: String) -> BoxFuture<Result<String, ActivityError>> {
        Box::pin(async move { Ok(input) })
    }
}

/// Builds a history one event at a time with dense ids.
#[derive(Default)]
pub(crate) struct History(pub(crate) Vec<HistoryEvent>);
impl History {
    pub(crate) fn push(&mut self, t: EventType, attributes: Option<EventAttributes>) -> i64 {
        let id = self.0.len() as i64 + 1;
        self.0.push(HistoryEvent {
            event_id: id,
            event_type: t as i32,
            attributes,
            ..Default::default()
        });
        id
    }
    /// A run just started, its first workflow task scheduled and started.
    pub(crate) fn in_first_task() -> History {
        let mut hist = History::default();
        hist.push(EventType::WorkflowExecutionStarted, None);
        hist.task();
        hist
    }
    /// A signal `name` carrying `value`; returns its event id.
    pub(crate) fn signaled(&mut self, name: &str, value: &impl serde::Serialize) -> i64 {
        self.push(
            EventType::WorkflowExecutionSignaled,
            Some(EventAttributes::WorkflowExecutionSignaledEventAttributes(
                h::WorkflowExecutionSignaledEventAttributes {
                    signal_name: name.into(),
                    input: payload::to_payloads(vec![payload::encode(value).unwrap()]),
                    ..Default::default()
                },
            )),
        )
    }
    /// Timer `id` started.
    pub(crate) fn timer_started(&mut self, id: &str) -> i64 {
        self.push(
            EventType::TimerStarted,
            Some(EventAttributes::TimerStartedEventAttributes(
                h::TimerStartedEventAttributes {
                    timer_id: id.into(),
                    ..Default::default()
                },
            )),
        )
    }
    /// Timer `id` fired.
    pub(crate) fn timer_fired(&mut self, id: &str) -> i64 {
        self.push(
            EventType::TimerFired,
            Some(EventAttributes::TimerFiredEventAttributes(
                h::TimerFiredEventAttributes {
                    timer_id: id.into(),
                    ..Default::default()
                },
            )),
        )
    }
    /// A workflow task scheduled and started (the one the code is run for).
    pub(crate) fn task(&mut self) {
        self.push(EventType::WorkflowTaskScheduled, None);
        self.push(EventType::WorkflowTaskStarted, None);
    }
    /// The started workflow task completed.
    pub(crate) fn completed(&mut self) {
        self.push(EventType::WorkflowTaskCompleted, None);
    }
    pub(crate) fn scheduled(&mut self, id: &str, ty: &str) -> i64 {
        self.push(
            EventType::ActivityTaskScheduled,
            Some(EventAttributes::ActivityTaskScheduledEventAttributes(
                h::ActivityTaskScheduledEventAttributes {
                    activity_id: id.into(),
                    activity_type: Some(ActivityType { name: ty.into() }),
                    ..Default::default()
                },
            )),
        )
    }
    pub(crate) fn activity_completed(&mut self, scheduled: i64, value: &str) {
        self.push(
            EventType::ActivityTaskCompleted,
            Some(EventAttributes::ActivityTaskCompletedEventAttributes(
                h::ActivityTaskCompletedEventAttributes {
                    scheduled_event_id: scheduled,
                    result: Some(Payloads {
                        payloads: vec![payload::encode(value).unwrap()],
                    }),
                    ..Default::default()
                },
            )),
        );
    }
}
