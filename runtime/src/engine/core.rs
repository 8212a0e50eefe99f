//! The engine's core ([`Core`]), shared by every request and thread: the state lock, the commit
//! pipeline and the long-poll machinery.
//!
//! Every change follows one path: under the state lock a handler mutates runs and collects
//! [`Effects`]; [`Core::finish`] turns the touched runs into store writes, hands them to the
//! writer thread with a sequence number, enqueues tasks and arms deadlines; after releasing the
//! lock the handler awaits [`Core::committed`] for that number before it answers. The writer
//! groups whatever is waiting into one transaction, so concurrent requests share an fsync.
//!
//! When the store cannot write (a full disk, a database file deleted under the engine), the
//! writer keeps the group that failed and retries it until it is written, with the changes made
//! since queued behind it in order: the state in memory already holds them, so none may be
//! dropped. Meanwhile requests that would change something are refused (`Unavailable`, naming
//! the cause), reads of what is durable are served, and [`Health`] says so.

use super::config::EngineConfig;
use super::effects::{Effects, QueueKey};
use super::health::Health;
use super::rpc_error::{internal, not_found, unavailable};
use super::state::{Commit, State};
use super::token::TaskKind;
use crate::store::{Snapshot, Store};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, watch};
use tonic::Status;

/// How many queued commits the writer folds into one transaction at most.
const MAX_GROUP: usize = 256;

/// The writer's first pause after a commit that may pass failed; each further failure doubles
/// it, up to [`RETRY_PAUSE_MAX`].
const RETRY_PAUSE_FIRST: Duration = Duration::from_millis(100);
const RETRY_PAUSE_MAX: Duration = Duration::from_secs(2);

/// How long the writer waits for a change before it asks the store whether it can still write
/// ([`Store::probe`]), so that a deleted database file shows while nothing is written.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Progress of the writer thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommitStatus {
    /// Every commit with a sequence number up to this one is durable.
    pub committed: u64,
    /// Whether later ones are getting into the store.
    pub writes: Writes,
}

/// Whether the writer thread gets changes into the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Writes {
    /// It does.
    #[default]
    Flowing,
    /// A commit failed in a way that may pass; the writer retries it.
    Blocked(Arc<str>),
    /// A commit failed for good; nothing more is written.
    Failed(Arc<str>),
    /// The writer thread ended; what it had not written by then never will be.
    Ended,
}

#[derive(Debug)]
pub(crate) struct Core {
    pub cfg: EngineConfig,
    pub store: Arc<dyn Store>,
    pub state: Mutex<State>,
    /// Wakes the timer thread when a deadline earlier than its plan is armed, or on shutdown.
    pub driver_wake: Condvar,
    committed: watch::Sender<CommitStatus>,
    health: watch::Sender<Health>,
    /// The writer sleeps on this between retries; shutdown wakes it.
    writer_pause: Mutex<()>,
    writer_wake: Condvar,
    cancels: broadcast::Sender<Vec<u8>>,
    stopped: AtomicBool,
    stop_notify: Notify,
}

impl Core {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        cfg: EngineConfig,
        snapshot: Snapshot,
    ) -> (Core, mpsc::Receiver<Commit>) {
        let (tx, rx) = mpsc::channel();
        let state = State::from_snapshot(snapshot, tx);
        let core = Core {
            cfg,
            store,
            state: Mutex::new(state),
            driver_wake: Condvar::new(),
            committed: watch::Sender::new(CommitStatus::default()),
            health: watch::Sender::new(Health::Serving),
            writer_pause: Mutex::new(()),
            writer_wake: Condvar::new(),
            cancels: broadcast::channel(1024).0,
            stopped: AtomicBool::new(false),
            stop_notify: Notify::new(),
        };
        (core, rx)
    }

    /// Writes out the touched runs and applies the other effects. Must be called with the state
    /// lock held (hence `&mut State`). A touched run whose history went over a limit is
    /// terminated first (see [`super::close::enforce_history_limits`]). Returns the sequence
    /// number to await.
    pub(crate) fn finish(&self, st: &mut State, mut fx: Effects) -> u64 {
        let mut ops = Vec::new();
        let mut changed = Vec::new();
        let mut wake_driver = false;
        let seq = st.last_seq + 1;
        let with_updates: Vec<String> = fx
            .touched
            .iter()
            .filter(|r| st.updates.has_run(r))
            .cloned()
            .collect();
        let mut limit_fx = Effects::default();
        for run_id in &fx.touched {
            let Some(run) = st.runs.get_mut(run_id) else {
                continue;
            };
            super::close::enforce_history_limits(run, &mut limit_fx, &self.cfg.limits);
            let run_ops = run.take_ops();
            if !run_ops.is_empty() {
                changed.push(run_id.clone());
            }
            ops.extend(run_ops);
            run.history_notify.notify_waiters();
            if run.is_open() {
                if let Some(at) = run.next_due() {
                    wake_driver |= st.arm(run_id, at);
                }
            } else if let Some(run) = st.runs.remove(run_id) {
                st.disarm(run_id);
                if let Some(close) = run.events.last() {
                    st.remember_close(run_id, close.clone());
                }
                st.closed.insert(run_id.clone(), run.rec);
            }
        }
        fx.extend(limit_fx);
        for run_id in &fx.touched {
            if st.queries.has_run(run_id) {
                let now = st.task_now(run_id);
                for (key, entry) in st.queries.reconcile(run_id, now) {
                    st.push_wft(key, entry);
                }
            }
        }
        for (key, entry) in fx.wft_ready {
            st.push_wft(key, entry);
        }
        for (key, entry) in fx.act_ready {
            st.push_act(key, entry);
        }
        if wake_driver {
            self.driver_wake.notify_one();
        }
        if ops.is_empty() && fx.cancel_tokens.is_empty() {
            reconcile_updates(st, &with_updates);
            return st.last_seq;
        }
        st.last_seq = seq;
        let committed = self.committed.borrow().committed;
        for run_id in changed {
            st.note_change(&run_id, seq, committed);
        }
        let commit = Commit {
            seq,
            ops,
            cancel_tokens: fx.cancel_tokens,
        };
        if let Some(writer) = &st.writer
            && writer.send(commit).is_err()
        {
            tracing::error!("the engine's writer thread is gone; a change was not persisted");
        }
        reconcile_updates(st, &with_updates);
        st.last_seq
    }

    /// Waits until the commit `seq` (and every one before it) is durable.
    ///
    /// # Errors
    /// `Unavailable` at once when the store cannot write for now (the change stays queued and
    /// is written once it can, so the request may have taken effect, which is what
    /// `Unavailable` allows) or when the engine stopped first; `Internal` when the store failed
    /// for good.
    pub(crate) async fn committed(&self, seq: u64) -> Result<(), Status> {
        if seq == 0 {
            return Ok(());
        }
        let stopped = || unavailable("the engine stopped before the change was written");
        let mut rx = self.committed.subscribe();
        let status = rx
            .wait_for(|s| s.committed >= seq || s.writes != Writes::Flowing)
            .await
            .map_err(|_| stopped())?
            .clone();
        if status.committed >= seq {
            return Ok(());
        }
        match status.writes {
            Writes::Blocked(cause) => Err(unavailable(format!(
                "not durable yet: the engine cannot write to its store ({cause}). It keeps what \
                 this request changed or saw and writes it once the store can write again (it is \
                 lost if the engine stops first); a start or signal retried with the same \
                 request id is not applied twice"
            ))),
            Writes::Failed(cause) => Err(internal(format!(
                "the engine could not write the change to its store: {cause}; it takes no \
                 changes until it is restarted"
            ))),
            Writes::Flowing | Writes::Ended => Err(stopped()),
        }
    }

    /// Refuses requests once the engine is shut down.
    pub(crate) fn check_available(&self) -> Result<(), Status> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(unavailable("the engine is shut down"));
        }
        Ok(())
    }

    /// Refuses requests that would change something while the store cannot take the change,
    /// before anything is changed.
    pub(crate) fn check_writable(&self) -> Result<(), Status> {
        self.check_available()?;
        match &self.committed.borrow().writes {
            Writes::Flowing => Ok(()),
            Writes::Blocked(cause) => Err(unavailable(format!(
                "the engine takes no changes while it cannot write to its store, so nothing \
                 was changed: {cause}. It retries by itself and takes changes again once a \
                 write succeeds"
            ))),
            Writes::Failed(cause) => Err(unavailable(format!(
                "the engine takes no changes since its store failed, so nothing was changed: \
                 {cause}; restart it once the store is repaired"
            ))),
            Writes::Ended => Err(unavailable("the engine is shut down")),
        }
    }

    /// Checks that the engine takes changes now and that `namespace` exists: the check of every
    /// request that may change something.
    pub(crate) fn check_namespace(&self, namespace: &str) -> Result<(), Status> {
        self.check_namespace_to_read(namespace)?;
        self.check_writable()
    }

    /// Checks that the engine serves reads and that `namespace` exists.
    pub(crate) fn check_namespace_to_read(&self, namespace: &str) -> Result<(), Status> {
        self.check_available()?;
        if namespace.is_empty() {
            return Err(super::rpc_error::invalid("namespace is not set"));
        }
        if !self.cfg.namespaces.iter().any(|n| n == namespace) {
            return Err(not_found(format!(
                "namespace \"{}\" not found",
                super::rpc_error::clip(namespace)
            )));
        }
        Ok(())
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub(crate) fn shutdown(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.stop_notify.notify_waiters();
        self.publish_health();
        {
            // A writer pausing between retries makes one last attempt, then gives up.
            let _pause = self.writer_pause.lock();
            self.writer_wake.notify_all();
        }
        // Taking the lock orders this with the timer thread's check of `stopped`.
        let _st = self.state.lock();
        self.driver_wake.notify_all();
    }

    /// Follows whether the engine takes changes.
    pub(crate) fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    /// Records whether the writer gets changes into the store, and tells health watchers.
    fn set_writes(&self, writes: Writes) {
        self.committed.send_if_modified(|s| {
            let changed = s.writes != writes;
            s.writes = writes;
            changed
        });
        self.publish_health();
    }

    fn publish_health(&self) {
        // Worked out under the watch's lock, so that the last to publish saw the latest state.
        self.health.send_if_modified(|health| {
            let now = if self.is_stopped() {
                Health::Stopped
            } else {
                match &self.committed.borrow().writes {
                    Writes::Flowing => Health::Serving,
                    Writes::Blocked(cause) => Health::StoreUnwritable {
                        cause: Arc::clone(cause),
                    },
                    Writes::Failed(cause) => Health::StoreFailed {
                        cause: Arc::clone(cause),
                    },
                    Writes::Ended => Health::Stopped,
                }
            };
            let changed = *health != now;
            *health = now;
            changed
        });
    }

    /// Sleeps for `pause`, or less when the engine shuts down.
    fn pause_writer(&self, pause: Duration) {
        let mut guard = self.writer_pause.lock();
        if !self.is_stopped() {
            self.writer_wake.wait_for(&mut guard, pause);
        }
    }

    /// Waits until the store takes changes, the engine stops or `deadline` passes; says whether
    /// the store takes changes.
    async fn until_writable(&self, deadline: tokio::time::Instant) -> bool {
        let mut rx = self.committed.subscribe();
        let mut stop = std::pin::pin!(self.stop_notify.notified());
        stop.as_mut().enable();
        if self.is_stopped() {
            return false;
        }
        tokio::select! {
            writable = rx.wait_for(|s| s.writes == Writes::Flowing) => writable.is_ok(),
            _ = stop => false,
            _ = tokio::time::sleep_until(deadline) => false,
        }
    }

    /// Closes the writer's inbox; it exits after writing what is queued.
    pub(crate) fn close_writer(&self) {
        self.state.lock().writer = None;
    }

    pub(crate) fn subscribe_cancels(&self) -> broadcast::Receiver<Vec<u8>> {
        self.cancels.subscribe()
    }

    /// The writer thread: commits queued changes in order, several per transaction.
    pub(crate) fn run_writer(&self, inbox: mpsc::Receiver<Commit>) {
        let mut writer = Writer {
            core: self,
            outage: None,
            given_up: false,
            dropped: 0,
        };
        loop {
            let first = match inbox.recv_timeout(PROBE_EVERY) {
                Ok(commit) => commit,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    writer.probe();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match inbox.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            if writer.given_up {
                // Writing later changes without the earlier ones would break their order.
                writer.dropped += group.len();
                continue;
            }
            writer.write(group);
        }
        if writer.dropped > 0 {
            tracing::error!(
                changes = writer.dropped,
                "the engine stopped with changes its store never took; none of them was acknowledged"
            );
        }
        self.set_writes(Writes::Ended);
    }

    /// Long-polls one task queue: waits on the queue's notifier for `take` to hand out a task,
    /// then answers only once what taking it wrote has committed. Gives `R::default()` (an
    /// empty poll response) when nothing came within the long-poll timeout.
    pub(crate) async fn poll_queue<R: Default>(
        &self,
        namespace: &str,
        task_queue: &Option<crate::proto::taskqueue::TaskQueue>,
        kind: TaskKind,
        mut take: impl FnMut(&mut State, &QueueKey) -> Option<(R, u64)>,
    ) -> Result<R, Status> {
        self.check_namespace_to_read(namespace)?;
        let queue = super::validate::task_queue(task_queue, "task_queue.name")?;
        // Taking a task is a change: while the store cannot take it, the poll finds nothing.
        let deadline = tokio::time::Instant::now() + self.cfg.long_poll_timeout;
        if !self.until_writable(deadline).await {
            return Ok(R::default());
        }
        let poller = Poller::register(self, kind, (namespace.to_string(), queue));
        let taken = self
            .long_poll(
                deadline.saturating_duration_since(tokio::time::Instant::now()),
                |_| Some(Arc::clone(&poller.notify)),
                |st| Ok(take(st, &poller.key)),
            )
            .await?;
        drop(poller);
        match taken {
            Some((resp, seq)) => {
                self.committed(seq).await?;
                Ok(resp)
            }
            None => Ok(R::default()),
        }
    }

    /// Long-polls: runs `attempt` under the state lock until it yields a value, sleeping between
    /// tries on the notifier that `notifier` picks. Gives `None` when `timeout` passes or the
    /// engine shuts down; when `notifier` gives none there is nothing to wait for, and the result
    /// of one attempt is returned.
    pub(crate) async fn long_poll<T>(
        &self,
        timeout: std::time::Duration,
        mut notifier: impl FnMut(&mut State) -> Option<Arc<Notify>>,
        mut attempt: impl FnMut(&mut State) -> Result<Option<T>, Status>,
    ) -> Result<Option<T>, Status> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let Some(notify) = notifier(&mut self.state.lock()) else {
                return attempt(&mut self.state.lock());
            };
            // Register interest before looking, so a change made right after the look wakes us.
            let mut notified = std::pin::pin!(notify.notified());
            notified.as_mut().enable();
            let mut stop = std::pin::pin!(self.stop_notify.notified());
            stop.as_mut().enable();
            if self.is_stopped() {
                return Ok(None);
            }
            if let Some(value) = attempt(&mut self.state.lock())? {
                return Ok(Some(value));
            }
            tokio::select! {
                _ = notified => {}
                _ = stop => return Ok(None),
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
            }
        }
    }
}

/// Moves the updates of the touched runs on, once the commit that changed them is numbered:
/// updates sent with a task that ended wait again, and those of a closed run are answered.
fn reconcile_updates(st: &mut State, run_ids: &[String]) {
    let seq = st.last_seq;
    for run_id in run_ids {
        let now = st.task_now(run_id);
        let open = st.runs.contains_key(run_id);
        st.updates.reconcile(run_id, now, open, seq);
    }
}

/// The writer thread's state between groups.
struct Writer<'a> {
    core: &'a Core,
    /// Since when the store cannot write, while it cannot.
    outage: Option<Instant>,
    /// Set once nothing more may be written: the store failed for good, or the engine stopped
    /// while it could not write.
    given_up: bool,
    /// Changes not written because of that.
    dropped: usize,
}

impl Writer<'_> {
    /// Commits `group`, retrying while the store cannot write for now.
    fn write(&mut self, group: Vec<Commit>) {
        let core = self.core;
        let last = group.last().map_or(0, |c| c.seq);
        let group_len = group.len();
        let mut ops = Vec::new();
        let mut tokens = Vec::new();
        for commit in group {
            ops.extend(commit.ops);
            tokens.extend(commit.cancel_tokens);
        }
        let mut pause = RETRY_PAUSE_FIRST;
        loop {
            let began = Instant::now();
            let result = core.store.commit(&ops);
            tracing::trace!(
                commits = group_len,
                ops = ops.len(),
                micros = began.elapsed().as_micros() as u64,
                "store transaction"
            );
            let error = match result {
                Ok(()) => {
                    core.committed.send_modify(|s| s.committed = last);
                    self.healed();
                    for token in tokens {
                        // No subscriber is fine: remote workers learn of cancels by heartbeat.
                        let _ = core.cancels.send(token);
                    }
                    return;
                }
                Err(error) => error,
            };
            if !error.is_transient() {
                self.failed(&error);
                self.dropped += group_len;
                return;
            }
            self.blocked(&error);
            if core.is_stopped() {
                self.given_up = true;
                self.dropped += group_len;
                return;
            }
            core.pause_writer(pause);
            pause = (pause * 2).min(RETRY_PAUSE_MAX);
        }
    }

    /// Asks the store, while nothing is written, whether it could still write.
    fn probe(&mut self) {
        if self.given_up {
            return;
        }
        match self.core.store.probe() {
            Ok(()) => self.healed(),
            Err(error) if error.is_transient() => self.blocked(&error),
            Err(error) => self.failed(&error),
        }
    }

    /// The store cannot write for now: said once per cause.
    fn blocked(&mut self, error: &crate::store::StoreError) {
        let cause: Arc<str> = Arc::from(error.to_string());
        let was = self.core.committed.borrow().writes.clone();
        if was == Writes::Blocked(Arc::clone(&cause)) {
            return;
        }
        if self.outage.is_some() {
            tracing::error!(%cause, "the engine still cannot write to its store, now for another reason");
        } else {
            tracing::error!(
                %cause,
                "the engine cannot write to its store; it takes no changes and serves reads \
                 until a write succeeds, and retries by itself"
            );
        }
        self.outage.get_or_insert_with(Instant::now);
        self.core.set_writes(Writes::Blocked(cause));
    }

    /// The store wrote (or could write) again.
    fn healed(&mut self) {
        if let Some(since) = self.outage.take() {
            tracing::info!(
                after = ?since.elapsed(),
                "the engine's store writes again; the engine takes changes again"
            );
            self.core.set_writes(Writes::Flowing);
        }
    }

    /// The store failed for good.
    fn failed(&mut self, error: &crate::store::StoreError) {
        tracing::error!(
            %error,
            "the engine's store failed; the engine takes no changes until it is restarted"
        );
        self.given_up = true;
        self.outage = None;
        self.core
            .set_writes(Writes::Failed(Arc::from(error.to_string())));
    }
}

/// A poll's hold on its task queue: registered when the poll begins, released when it ends
/// however it ends (answered, timed out, or dropped by its caller), so that the engine keeps a
/// queue only while someone waits on it or a task is in it.
struct Poller<'a> {
    core: &'a Core,
    kind: TaskKind,
    key: QueueKey,
    notify: Arc<Notify>,
}

impl<'a> Poller<'a> {
    fn register(core: &'a Core, kind: TaskKind, key: QueueKey) -> Self {
        let notify = core.state.lock().add_poller(kind, &key);
        Poller {
            core,
            kind,
            key,
            notify,
        }
    }
}

impl Drop for Poller<'_> {
    fn drop(&mut self) {
        // Never dropped with the state lock held: a poll holds it only inside its closures.
        self.core.state.lock().remove_poller(self.kind, &self.key);
    }
}
