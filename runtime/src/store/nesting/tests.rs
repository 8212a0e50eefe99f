//! The nesting measure against prost's own decoder, and the schema fact it relies on.

use super::*;
use crate::proto::EventAttributes;
use crate::proto::failure::failure::FailureInfo;
use crate::proto::failure::{ApplicationFailureInfo, Failure};
use crate::proto::history::{
    ActivityTaskFailedEventAttributes, WorkflowExecutionSignaledEventAttributes,
};

fn chain(depth: usize) -> Failure {
    let mut failure: Option<Failure> = None;
    for level in (1..=depth).rev() {
        failure = Some(Failure {
            message: format!("level {level}"),
            cause: failure.map(Box::new),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo::default(),
            )),
            ..Default::default()
        });
    }
    failure.unwrap_or_default()
}

fn failed_event(depth: usize) -> HistoryEvent {
    HistoryEvent {
        event_id: 7,
        event_type: crate::proto::enums::EventType::ActivityTaskFailed as i32,
        attributes: Some(EventAttributes::ActivityTaskFailedEventAttributes(
            ActivityTaskFailedEventAttributes {
                failure: Some(chain(depth)),
                scheduled_event_id: 5,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn schema() -> &'static Schema {
    SCHEMA.as_ref().expect("the embedded descriptors load")
}

#[test]
fn the_measure_agrees_with_prosts_decoder() {
    // Failure number k sits at level k + 1 of the event; its (empty) info one level lower.
    for depth in [1, 20, 60, 97, 98, 99, 100, 120] {
        let bytes = failed_event(depth).encode_to_vec();
        let nesting = depth as u32 + 2;
        assert!(event_fits(&bytes, nesting), "chain of {depth}");
        assert!(!event_fits(&bytes, nesting - 1), "chain of {depth}");
        let decodes = HistoryEvent::decode(bytes.as_slice()).is_ok();
        assert_eq!(decodes, nesting <= 100, "prost decodes up to 100 levels");
    }
}

#[test]
fn an_event_deeper_than_the_limit_is_cut_there_and_decodes() {
    let bytes = failed_event(150).encode_to_vec();
    assert!(HistoryEvent::decode(bytes.as_slice()).is_err());
    let cut = cut_event(&bytes, MAX_STORED_NESTING).expect("cut");
    assert!(event_fits(&cut, MAX_STORED_NESTING));
    let event = HistoryEvent::decode(cut.as_slice()).expect("the cut event decodes");
    assert_eq!(event.event_id, 7);
    let Some(EventAttributes::ActivityTaskFailedEventAttributes(a)) = &event.attributes else {
        panic!("the attributes are kept");
    };
    assert_eq!(a.scheduled_event_id, 5);
    let mut n = 0;
    let mut f = a.failure.as_ref();
    while let Some(failure) = f {
        n += 1;
        assert_eq!(failure.message, format!("level {n}"));
        f = failure.cause.as_deref();
    }
    assert_eq!(n, MAX_STORED_NESTING as usize - 1, "cut where the limit is");

    let mut event = failed_event(150);
    assert!(bound_event(&mut event, MAX_STORED_NESTING));
    assert_eq!(event.encode_to_vec(), cut);
    let mut failure = chain(150);
    assert!(bound_failure(&mut failure, 10));
    assert!(
        !bound_failure(&mut failure, 10),
        "cutting again changes nothing"
    );
}

#[test]
fn ordinary_events_are_left_as_they_are() {
    let signal = HistoryEvent {
        event_id: 3,
        attributes: Some(EventAttributes::WorkflowExecutionSignaledEventAttributes(
            WorkflowExecutionSignaledEventAttributes {
                signal_name: "s".into(),
                input: Some(crate::proto::common::Payloads {
                    payloads: vec![crate::payload::encode(&"x".repeat(100)).unwrap()],
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    for event in [signal, failed_event(20)] {
        let bytes = event.encode_to_vec();
        assert!(cut_event(&bytes, MAX_STORED_NESTING).is_none());
        let mut copy = event.clone();
        assert!(!bound_event(&mut copy, MAX_STORED_NESTING));
        assert_eq!(copy, event);
    }
}

/// What the net rests on: in the whole schema of a history event, `Failure.cause` is the only
/// way a message can hold itself (so no `google.protobuf.Struct`, no recursive metadata), and
/// the failure chains the engine keeps fit within the stored limit wherever they sit.
#[test]
fn failure_cause_is_the_only_recursion_a_history_event_reaches() {
    let schema = schema();
    let (event, failure) = (schema.event, schema.failure);
    assert_eq!(schema.types[event].depth, None, "through Failure");
    let mut types: Vec<Type> = schema
        .types
        .iter()
        .map(|t| Type::new(t.messages.clone()))
        .collect();
    let before = types[failure].messages.len();
    let without_cause: Vec<(u32, usize)> = types[failure]
        .messages
        .iter()
        .copied()
        .filter(|(_, child)| *child != failure)
        .collect();
    assert_eq!(before - without_cause.len(), 1, "`cause` only");
    types[failure] = Type::new(without_cause);
    let mut acyclic = Schema {
        types,
        names: schema.names.clone(),
        event,
        failure,
    };
    acyclic.compute_depths();
    let unbounded: Vec<&String> = acyclic
        .names
        .iter()
        .filter(|(_, i)| acyclic.types[**i].depth.is_none())
        .map(|(name, _)| name)
        .collect();
    assert!(
        unbounded.is_empty(),
        "recursive without Failure: {unbounded:?}"
    );
    let failure_alone = acyclic.types[failure].depth.unwrap();
    let event_alone = acyclic.types[event].depth.unwrap();
    // A chain of the longest allowed length, at the deepest place an event holds a failure.
    let worst = event_alone + MAX_FAILURE_CHAIN as u32 - 1;
    assert!(
        worst <= MAX_STORED_NESTING,
        "events nest {event_alone} levels without chains, failures {failure_alone}"
    );
    // The message types an activity record holds besides its last failure are bounded.
    for name in [
        "temporal.api.common.v1.ActivityType",
        "temporal.api.common.v1.Payloads",
        "temporal.api.common.v1.Header",
        "temporal.api.common.v1.RetryPolicy",
    ] {
        let depth = schema.types[schema.names[name]].depth;
        assert!(depth.is_some_and(|d| d < 8), "{name}: {depth:?}");
    }
}
