//! Procedural macros for [dacapo](https://docs.rs/dacapo): `#[workflow]`, `#[activity]` and
//! `select!`.
//!
//! Use them through the `dacapo` crate (`use dacapo::prelude::*;`), which re-exports them next
//! to the types their expansions name. Each macro parses its input into a typed model, checks
//! it, reporting every mistake at once on the tokens that are wrong, and then generates code
//! against `::dacapo::__private_<version>`, a path that `crate = ".."` can change when dacapo
//! is re-exported under another name. The version in that name is this crate's, so that it
//! only compiles against the dacapo of the same version.
//!
//! ```no_run
//! use dacapo::prelude::*;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Clone, Serialize, Deserialize)]
//! # pub struct Order { id: u64 }
//! # #[derive(Serialize, Deserialize)]
//! # pub struct Receipt;
//! # mod payments {
//! #     pub async fn charge(_: &super::Order) -> Result<super::Receipt, dacapo::ActivityError> {
//! #         Ok(super::Receipt)
//! #     }
//! # }
//! # #[activity]
//! # async fn release_stock(_order_id: u64) -> Result<(), ActivityError> { Ok(()) }
//!
//! #[activity(start_to_close = "30s", max_attempts = 5)]
//! async fn charge_card(ctx: ActivityContext, order: Order) -> Result<Receipt, ActivityError> {
//!     ctx.heartbeat(()).await?;
//!     payments::charge(&order).await
//! }
//!
//! #[workflow]
//! async fn checkout(ctx: WorkflowContext, order: Order) -> WorkflowResult<Receipt> {
//!     on_cancel! {
//!         ctx.activity(release_stock, order.id).await?;
//!     }
//!     let receipt = ctx.activity(charge_card, order.clone()).await?;
//!     Ok(receipt)
//! }
//! # fn main() {}
//! ```

mod attr;
mod cancel;
mod check;
mod diagnostics;
mod expand;
mod lint;
mod model;
mod private;
mod select;
#[cfg(test)]
mod test_util;

use proc_macro::TokenStream;

/// Turns an `async fn` into a workflow definition.
///
/// ```no_run
/// # use dacapo::prelude::*;
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # pub struct Order;
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # pub struct Receipt;
/// #[workflow]
/// async fn checkout(ctx: WorkflowContext, order: Order, coupon: Option<String>) -> WorkflowResult<Receipt> {
///     // ..
/// #   let _ = (ctx, order, coupon);
/// #   Ok(Receipt)
/// }
/// # fn main() {}
/// ```
///
/// The fn becomes a unit struct of the same name that implements `WorkflowDefinition`: register
/// it with a worker and start it with a client by that name. Its `Input` is `()`
/// for a workflow without arguments, the argument's type for one, and a tuple for several; its
/// `Output` is the `T` of `WorkflowResult<T>`. Arguments and result must be
/// `Serialize + DeserializeOwned`; a type that is not is reported where it is written.
///
/// The body stays callable as `checkout::run(ctx, order, coupon)`.
///
/// # Signature
///
/// The first parameter is the context, `ctx: WorkflowContext` (under any name); then any number
/// of arguments, each a plain name with an owned type. The fn returns `WorkflowResult<T>`, or
/// `Result<T, E>` with `E: Into<WorkflowError>`. It cannot be generic, take `self` or
/// `impl Trait` arguments.
///
/// # Arguments
///
/// - `name = "checkout-v2"`: the workflow type name recorded in histories; the fn's name
///   otherwise.
/// - `crate = "path"`: where to find dacapo, when it is re-exported under another name.
///
/// # Determinism
///
/// A workflow is replayed from its history, so its body must not depend on anything the
/// history does not record. The body (its `on_cancel!` blocks and the contents of macros such
/// as `println!` and `join!` included) is checked for the usual ways out, and each is a compile
/// error at the path that names it, with the replacement:
///
/// | rejected | use instead |
/// | --- | --- |
/// | `SystemTime::now`, `Instant::now`, `chrono::Utc::now` | `ctx.now()` |
/// | `tokio::time::sleep`, `std::thread::sleep` | `ctx.sleep(duration)` |
/// | `tokio::time::timeout`, `interval` | `ctx.sleep(duration)` raced with `dacapo::select!` |
/// | `tokio::spawn`, `std::thread::spawn` | an activity, or `futures::join!` in the workflow |
/// | `rand::random`, `rand::thread_rng` | `ctx.random()` |
/// | `Uuid::new_v4` | `ctx.uuid()` |
/// | `std::fs`, `tokio::fs`, `std::net`, `tokio::net`, `reqwest`, processes | an activity |
/// | `futures::select!`, `tokio::select!` without `biased;` | `dacapo::select!`, `futures::select_biased!` |
///
/// Paths are matched as written or as the body's own `use` items resolve them (`use
/// std::time::SystemTime as T; T::now()` is caught). The check reads names, not types: a
/// clock reached through a helper fn or a method is not seen, and items declared inside the
/// body are not part of it.
///
/// Calling an activity like a function, `charge_card(order).await`, is an error that points
/// to `ctx.activity(charge_card, order)`.
///
/// # Query handlers and update validators
///
/// A query is answered without recording anything in the history, and an update's validator
/// runs before the update is recorded, so neither may change the run or wait. Where the
/// handler is a closure written at its registration, `ctx.on_query(STATUS, move |()| ..)` or
/// `.on_update(..).validator(|args| ..)`, also at the end of a block (`{ let s =
/// state.clone(); move |()| Ok(s.get()) }`), these are compile errors on the code that does
/// them:
///
/// - an `async` closure, or one that returns an `async` block; `.await`; `block_on(..)`;
/// - calling `.activity(..)`, `.sleep(..)`, `.signal_channel(..)`, `.recv()`, `.try_recv()`,
///   `.on_query(..)`, `.on_update(..)`, `.state(..)`, `.set(..)`, `.update(..)`, `.random()`
///   or `.uuid()` on anything the closure captured (a method of its own variable, such as
///   `hasher.update(..)`, is its own business);
/// - assigning to a variable the closure captured (`count += 1` on a `count` declared outside
///   it); variables declared inside the closure may be assigned freely.
///
/// Reading shared state (`s.get()`, `s.with(..)`), cloning, formatting and matching are
/// allowed. A handler passed by name or through a variable is not seen by the macro; the
/// runtime fails a query that tries to change the run. The update handler itself may await,
/// sleep and start activities.
///
/// # `on_cancel!`
///
/// An `on_cancel! { .. }` statement at the top level of the body registers cleanup. The
/// statements after it run as usual; if a cancel was requested before they finished, however
/// they finished (value, `?`, `return`), the cleanup block then runs with the context name bound
/// to a *disconnected* context, on which activities and timers work normally. Its errors are
/// logged, and the body's result is returned. Variables declared before `on_cancel!` can be used
/// in the cleanup; several blocks run last registered first. `?` in the cleanup converts into
/// `WorkflowError`.
///
/// ```no_run
/// # use dacapo::prelude::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)]
/// # pub struct Seat;
/// # #[derive(Clone, Serialize, Deserialize)]
/// # pub struct Hold;
/// # #[derive(Serialize, Deserialize)]
/// # pub struct Ticket;
/// # #[activity]
/// # async fn hold_seat(_seat: Seat) -> Result<Hold, ActivityError> { Ok(Hold) }
/// # #[activity]
/// # async fn release_seat(_hold: Hold) -> Result<(), ActivityError> { Ok(()) }
/// # #[activity]
/// # async fn issue_ticket(_hold: Hold) -> Result<Ticket, ActivityError> { Ok(Ticket) }
/// #[workflow]
/// async fn reserve(ctx: WorkflowContext, seat: Seat) -> WorkflowResult<Ticket> {
///     let hold = ctx.activity(hold_seat, seat).await?;
///     on_cancel! {
///         ctx.activity(release_seat, hold.clone()).await?;
///     }
///     ctx.activity(issue_ticket, hold.clone()).await
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::workflow(args.into(), item.into()).into()
}

/// Turns an `async fn` into an activity definition.
///
/// ```no_run
/// # use dacapo::prelude::*;
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # pub struct Order;
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # pub struct Receipt;
/// #[activity(start_to_close = "30s", heartbeat_timeout = "5s", max_attempts = 5)]
/// async fn charge_card(ctx: ActivityContext, order: Order) -> Result<Receipt, ActivityError> {
///     // ..
/// #   let _ = (ctx, order);
/// #   Ok(Receipt)
/// }
/// # fn main() {}
/// ```
///
/// The fn becomes a unit struct of the same name that implements `ActivityDefinition`: call it
/// from a workflow with `ctx.activity(charge_card, order)` and register it with a worker. Its
/// `Input` and `Output` follow the same rules as for [`macro@workflow`]. The body stays
/// callable, for unit tests, as `charge_card::run(ctx, order)`.
///
/// # Signature
///
/// An optional first parameter `ctx: ActivityContext`, then the arguments, each a plain name
/// with an owned type. The fn returns `Result<T, E>` with `E: Into<ActivityError>`.
///
/// # Arguments
///
/// Every argument is optional and sets a default that the call site can override.
///
/// | argument | value | sets |
/// | --- | --- | --- |
/// | `name` | `"charge-card"` | the activity type name (the fn's name otherwise) |
/// | `start_to_close` | duration, e.g. `"30s"` | longest time for one attempt |
/// | `schedule_to_close` | duration | longest time for all attempts together |
/// | `schedule_to_start` | duration | longest wait in the task queue |
/// | `heartbeat_timeout` | duration | longest time between heartbeats |
/// | `cancellation` | `"TryCancel"`, `"WaitCompleted"` or `"Abandon"` | what a workflow cancel does |
/// | `task_queue` | `"payments"` | the queue the activity is scheduled on |
/// | `max_attempts` | integer, `0` for unlimited | retry policy: attempts in all |
/// | `initial_interval` | duration | retry policy: first delay |
/// | `backoff` | number, at least `1.0` | retry policy: delay multiplier |
/// | `max_interval` | duration | retry policy: longest delay |
/// | `non_retryable` | `["InvalidCard", ..]` | retry policy: error types never retried |
/// | `crate` | `"path"` | where to find dacapo |
///
/// Durations are written as in [humantime](https://docs.rs/humantime): `"500ms"`, `"30s"`,
/// `"5m"`, `"1h 30m"`.
#[proc_macro_attribute]
pub fn activity(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::activity(args.into(), item.into()).into()
}

/// Waits for the first of several futures to complete and runs its handler.
///
/// ```no_run
/// # use dacapo::prelude::*;
/// # use dacapo::select;
/// # use std::time::Duration;
/// # #[activity]
/// # async fn charge_card(order: u64) -> Result<u64, ActivityError> { Ok(order) }
/// # #[workflow]
/// # async fn checkout(ctx: WorkflowContext, order: u64) -> WorkflowResult<Option<u64>> {
/// let outcome = select! {
///     result = ctx.activity(charge_card, order) => result.map(Some),
///     slept = ctx.sleep(Duration::from_secs(60)) => slept.map(|()| None),
/// };
/// # outcome
/// # }
/// # fn main() {}
/// ```
///
/// Each branch is `PATTERN = FUTURE => HANDLER`, separated by commas (optional after a block
/// handler, as in `match`). The `FUTURE` expressions are evaluated in order (anything that is
/// `IntoFuture`), then polled in the order written every time the task wakes, so the same
/// history always picks the same branch: use this, not `futures::select!` or `tokio::select!`,
/// in workflow code. The first future to complete wins; the others are dropped before its
/// handler runs. Patterns must be irrefutable, as in `let`. Handlers may use `.await`, `?` and
/// `return`. The futures need not be `Unpin` or fused.
///
/// `select!` can only be used inside `async` code.
#[proc_macro]
pub fn select(input: TokenStream) -> TokenStream {
    select::expand(input.into()).into()
}
