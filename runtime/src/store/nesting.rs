//! How deeply protobuf messages nest in what the store keeps, measured on the encoded bytes.
//!
//! A protobuf decoder gives up past a fixed nesting depth: prost, and protobuf's C++, Go and
//! Python runtimes, at 100 messages. A stored history event is read back inside messages that
//! wrap it (a history page or a poll response two levels up, an SDK's activation a few more), so
//! what is stored must stay well below that, or one run's history stops decoding everywhere.
//!
//! Of the message types reachable from a history event, only `Failure` can nest without bound
//! (through `cause`), and the engine cuts failure chains where they arrive
//! (`Limits::max_failure_depth`). This module is the net behind that, whatever the field: it
//! reads the schema from the embedded descriptors, measures an encoded message without decoding
//! it (a message too short to nest deeply, or of a type whose nesting the schema bounds, is not
//! even looked into, so an ordinary event costs a length check or a scan of its few top-level
//! fields), and, for a message deeper than a limit, re-encodes it without what lies past it.

use crate::proto::failure::Failure;
use crate::proto::history::HistoryEvent;
use prost::Message;
use prost_types::field_descriptor_proto::Type as FieldType;
use prost_types::{DescriptorProto, FileDescriptorSet};
use std::collections::HashMap;
use std::sync::LazyLock;

/// How many messages deep a stored history event (the event itself is level 0) or record may
/// nest. What wraps it when it is read back has the remaining levels of a decoder's 100.
pub(crate) const MAX_STORED_NESTING: u32 = 64;

/// How deep a stored event may nest and still be delivered: prost's limit of 100 less the two
/// levels of the history page or poll response that carries it. A stored event deeper than this
/// (only an older dacapo could write one) marks its run as damaged.
#[cfg(feature = "sqlite")]
pub(crate) const MAX_DELIVERABLE_NESTING: u32 = 98;

/// The deepest failure cause chain `Limits::max_failure_depth` may ask to keep: a chain of this
/// length, wherever an event or record holds it, stays within [`MAX_STORED_NESTING`].
pub(crate) const MAX_FAILURE_CHAIN: usize = 32;

const EVENT: &str = "temporal.api.history.v1.HistoryEvent";
const FAILURE: &str = "temporal.api.failure.v1.Failure";

/// Field numbers up to this one are looked up in a table rather than searched for.
const DENSE_FIELDS: u32 = 256;

/// One message type, as far as nesting goes.
#[derive(Debug)]
struct Type {
    /// The fields that hold a message: (field number, index of its type), by number. Map
    /// fields hold entries, which decoders count as a level like any message.
    messages: Vec<(u32, usize)>,
    /// `messages` as a table by field number (up to [`DENSE_FIELDS`]): the index of the
    /// field's type, or `usize::MAX` for a field that holds no message.
    by_number: Vec<usize>,
    /// How many levels of messages a value of this type can hold below itself at most; `None`
    /// when it can nest without bound (it reaches a type that contains itself).
    depth: Option<u32>,
}

impl Type {
    fn new(mut messages: Vec<(u32, usize)>) -> Type {
        messages.sort_unstable();
        let dense = messages
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| *n <= DENSE_FIELDS)
            .max()
            .map_or(0, |n| n as usize + 1);
        let mut by_number = vec![usize::MAX; dense];
        for (number, child) in &messages {
            if let Some(slot) = by_number.get_mut(*number as usize) {
                *slot = *child;
            }
        }
        Type {
            messages,
            by_number,
            depth: None,
        }
    }
}

/// The message types of the history schema.
#[derive(Debug)]
struct Schema {
    types: Vec<Type>,
    /// Type indexes by full name, for the tests to look types up.
    #[cfg(test)]
    names: HashMap<String, usize>,
    event: usize,
    failure: usize,
}

/// The encoding ended inside a field, or used a wire type that no field of the schema has.
#[derive(Debug)]
struct Malformed;

static SCHEMA: LazyLock<Option<Schema>> = LazyLock::new(|| match Schema::load() {
    Ok(schema) => Some(schema),
    Err(e) => {
        tracing::error!(
            "the embedded history descriptors are unusable ({e}); stored events are not checked for nesting depth"
        );
        None
    }
});

/// Adds every message type declared in `types` (in the scope `scope`) and, after each, the types
/// nested in it (map entries among them) to `out`, each with its full name.
fn collect_messages<'a>(
    scope: &str,
    types: &'a [DescriptorProto],
    out: &mut Vec<(String, &'a DescriptorProto)>,
) {
    for message in types {
        let name = match scope {
            "" => message.name().to_string(),
            scope => format!("{scope}.{}", message.name()),
        };
        out.push((name.clone(), message));
        collect_messages(&name, &message.nested_type, out);
    }
}

impl Schema {
    fn load() -> Result<Schema, String> {
        let set = FileDescriptorSet::decode(crate::proto::HISTORY_DESCRIPTORS)
            .map_err(|e| e.to_string())?;
        let mut messages = Vec::new();
        for file in &set.file {
            collect_messages(file.package(), &file.message_type, &mut messages);
        }
        let names: HashMap<String, usize> = messages
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i))
            .collect();
        let types = messages
            .iter()
            .map(|(_, message)| {
                Type::new(
                    message
                        .field
                        .iter()
                        .filter(|f| matches!(f.r#type(), FieldType::Message | FieldType::Group))
                        .filter_map(|f| {
                            let child = f.type_name().strip_prefix('.')?;
                            let number = u32::try_from(f.number()).ok()?;
                            names.get(child).map(|i| (number, *i))
                        })
                        .collect(),
                )
            })
            .collect();
        let index = |name: &str| {
            names
                .get(name)
                .copied()
                .ok_or_else(|| format!("the descriptors lack {name}"))
        };
        let (event, failure) = (index(EVENT)?, index(FAILURE)?);
        let mut schema = Schema {
            types,
            #[cfg(test)]
            names,
            event,
            failure,
        };
        schema.compute_depths();
        Ok(schema)
    }

    /// Fills in every type's static depth. A type that reaches a type still being explored lies
    /// on a cycle (that type reaches it too), so it nests without bound.
    fn compute_depths(&mut self) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        fn visit(types: &mut [Type], marks: &mut [Mark], t: usize) -> Option<u32> {
            match marks[t] {
                Mark::Done => return types[t].depth,
                Mark::Open => return None,
                Mark::New => {}
            }
            marks[t] = Mark::Open;
            let children: Vec<usize> = types[t].messages.iter().map(|(_, c)| *c).collect();
            let mut depth = Some(0);
            for child in children {
                let below = visit(types, marks, child);
                depth = match (depth, below) {
                    (Some(d), Some(b)) => Some(d.max(b + 1)),
                    _ => None,
                };
            }
            marks[t] = Mark::Done;
            types[t].depth = depth;
            depth
        }
        let mut marks = vec![Mark::New; self.types.len()];
        for t in 0..self.types.len() {
            visit(&mut self.types, &mut marks, t);
        }
    }

    fn message_field(&self, ty: usize, number: u32) -> Option<usize> {
        let t = &self.types[ty];
        if let Some(&child) = t.by_number.get(number as usize) {
            return (child != usize::MAX).then_some(child);
        }
        if number <= DENSE_FIELDS {
            return None;
        }
        t.messages
            .binary_search_by_key(&number, |(n, _)| *n)
            .ok()
            .map(|i| t.messages[i].1)
    }

    /// How many levels of messages the encoded message `buf` of type `ty` holds below itself,
    /// as far as `limit` goes: a value above `limit` means it nests deeper than `limit` (the
    /// scan stops there); a value within it means it fits, and may overstate the depth, since
    /// a part whose type the schema bounds within what is left of `limit` is not looked into.
    /// So whether a message fits is decided exactly.
    fn depth(&self, ty: usize, mut buf: &[u8], limit: u32) -> Result<u32, Malformed> {
        // Each level costs at least two bytes (a field key and a length), so a short message
        // cannot nest deeply, whatever it holds.
        let most = u32::try_from(buf.len() / 2).unwrap_or(u32::MAX);
        if most <= limit {
            return Ok(most);
        }
        if let Some(d) = self.types[ty].depth
            && d <= limit
        {
            return Ok(d);
        }
        let mut deepest = 0;
        while !buf.is_empty() {
            let (number, value) = next_field(&mut buf)?;
            let (Some(value), Some(child)) = (value, self.message_field(ty, number)) else {
                continue;
            };
            if limit == 0 {
                return Ok(1);
            }
            deepest = deepest.max(1 + self.depth(child, value, limit - 1)?);
            if deepest > limit {
                break;
            }
        }
        Ok(deepest)
    }

    /// Re-encodes the message `buf` of type `ty` without the messages that lie more than `limit`
    /// levels below it; everything else is kept byte for byte.
    fn cut(
        &self,
        ty: usize,
        mut buf: &[u8],
        limit: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), Malformed> {
        while !buf.is_empty() {
            let field = buf;
            let (number, value) = next_field(&mut buf)?;
            let raw = &field[..field.len() - buf.len()];
            let (Some(value), Some(child)) = (value, self.message_field(ty, number)) else {
                out.extend_from_slice(raw);
                continue;
            };
            if limit == 0 {
                continue;
            }
            if self.depth(child, value, limit - 1)? < limit {
                out.extend_from_slice(raw);
                continue;
            }
            let mut inner = Vec::with_capacity(value.len());
            self.cut(child, value, limit - 1, &mut inner)?;
            prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, out);
            prost::encoding::encode_varint(inner.len() as u64, out);
            out.extend_from_slice(&inner);
        }
        Ok(())
    }

    /// `None` when `bytes`, a message of type `ty`, nests at most `limit` levels deep; else
    /// the bytes cut to `limit`.
    fn bound(&self, ty: usize, bytes: &[u8], limit: u32) -> Option<Vec<u8>> {
        match self.depth(ty, bytes, limit) {
            Ok(d) if d <= limit => None,
            Ok(_) => {
                let mut out = Vec::with_capacity(bytes.len());
                // The bytes come from prost's encoder; should they not parse, keep what was cut.
                let _ = self.cut(ty, bytes, limit, &mut out);
                Some(out)
            }
            // Not an encoding prost writes: leave it to the decoder to report.
            Err(Malformed) => None,
        }
    }
}

/// Reads one field of an encoding: its number and, for a length-delimited field, its bytes.
fn next_field<'a>(buf: &mut &'a [u8]) -> Result<(u32, Option<&'a [u8]>), Malformed> {
    let key = varint(buf)?;
    let number = u32::try_from(key >> 3).map_err(|_| Malformed)?;
    let skip = |buf: &mut &'a [u8], n: usize| -> Result<&'a [u8], Malformed> {
        if buf.len() < n {
            return Err(Malformed);
        }
        let (head, tail) = buf.split_at(n);
        *buf = tail;
        Ok(head)
    };
    match key & 7 {
        0 => varint(buf).map(|_| (number, None)),
        1 => skip(buf, 8).map(|_| (number, None)),
        2 => {
            let len = usize::try_from(varint(buf)?).map_err(|_| Malformed)?;
            skip(buf, len).map(|v| (number, Some(v)))
        }
        5 => skip(buf, 4).map(|_| (number, None)),
        // Groups: no field of the schema is one.
        _ => Err(Malformed),
    }
}

fn varint(buf: &mut &[u8]) -> Result<u64, Malformed> {
    prost::encoding::decode_varint(buf).map_err(|_| Malformed)
}

/// Whether the encoded history event `bytes` holds messages at most `limit` levels below
/// itself (the event is level 0). Also true when the schema is unavailable, and for bytes that
/// are not an event at all: whoever decodes them reports that.
#[cfg(any(feature = "sqlite", test))]
pub(crate) fn event_fits(bytes: &[u8], limit: u32) -> bool {
    let Some(schema) = SCHEMA.as_ref() else {
        return true;
    };
    !matches!(schema.depth(schema.event, bytes, limit), Ok(d) if d > limit)
}

/// When the encoded history event `bytes` nests deeper than `limit`, the event re-encoded
/// without what lies deeper; `None` when it fits.
pub(crate) fn cut_event(bytes: &[u8], limit: u32) -> Option<Vec<u8>> {
    let schema = SCHEMA.as_ref()?;
    schema.bound(schema.event, bytes, limit)
}

/// Cuts `event` in place when its encoding nests deeper than `limit`. Returns whether it did.
pub(crate) fn bound_event(event: &mut HistoryEvent, limit: u32) -> bool {
    let Some(cut) = cut_event(&event.encode_to_vec(), limit) else {
        return false;
    };
    match HistoryEvent::decode(cut.as_slice()) {
        Ok(shallow) => {
            *event = shallow;
            true
        }
        Err(_) => false,
    }
}

/// Cuts `failure` in place when it nests deeper than `limit` (counting the failure as level
/// 0). Returns whether it did.
pub(crate) fn bound_failure(failure: &mut Failure, limit: u32) -> bool {
    let Some(schema) = SCHEMA.as_ref() else {
        return false;
    };
    let Some(cut) = schema.bound(schema.failure, &failure.encode_to_vec(), limit) else {
        return false;
    };
    match Failure::decode(cut.as_slice()) {
        Ok(shallow) => {
            *failure = shallow;
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests;
