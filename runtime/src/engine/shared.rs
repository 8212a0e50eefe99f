//! The engine's shared core: the state lock, the commit pipeline and the long-poll machinery.
//!
//! Every change follows one path: under the state lock a handler mutates runs and collects
//! [`Effects`]; [`Core::finish`] turns the touched runs into store writes, hands them to the
//! writer thread with a sequence number, enqueues tasks and arms deadlines; after releasing the
//! lock the handler awaits [`Core::committed`] for that number before it answers. The writer
//! groups whatever is waiting into one transaction, so concurrent requests share an fsync.

use super::driver;
use super::state::{Commit, Effects, QueueKey, State};
use super::status::{internal, not_found, unavailable};
use super::token::TaskKind;
use crate::store::{Snapshot, Store};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use tokio::sync::{Notify, broadcast, watch};
use tonic::Status;

/// How many queued commits the writer folds into one transaction at most.
const MAX_GROUP: usize = 256;

/// Progress of the writer thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommitStatus {
    /// Every commit with a sequence number up to this one is durable.
    pub committed: u64,
    /// Set when a commit failed; the engine then refuses further requests.
    pub failure: Option<Arc<str>>,
}

#[derive(Debug)]
pub(crate) struct Core {
    pub cfg: super::EngineConfig,
    pub store: Arc<dyn Store>,
    pub state: Mutex<State>,
    /// Wakes the timer thread when a deadline earlier than its plan is armed, or on shutdown.
    pub driver_wake: Condvar,
    committed: watch::Sender<CommitStatus>,
    cancels: broadcast::Sender<Vec<u8>>,
    stopped: AtomicBool,
    stop_notify: Notify,
}

impl Core {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        cfg: super::EngineConfig,
        snapshot: Snapshot,
    ) -> (Core, mpsc::Receiver<Commit>) {
        let (tx, rx) = mpsc::channel();
        let mut state = State::from_snapshot(snapshot, tx);
        driver::rearm_all(&mut state);
        let core = Core {
            cfg,
            store,
            state: Mutex::new(state),
            driver_wake: Condvar::new(),
            committed: watch::Sender::new(CommitStatus::default()),
            cancels: broadcast::channel(1024).0,
            stopped: AtomicBool::new(false),
            stop_notify: Notify::new(),
        };
        (core, rx)
    }

    /// Writes out the touched runs and applies the other effects. Must be called with the state
    /// lock held (hence `&mut State`). Returns the sequence number to await.
    pub(crate) fn finish(&self, st: &mut State, fx: Effects) -> u64 {
        let mut ops = Vec::new();
        let mut wake_driver = false;
        for run_id in &fx.touched {
            let Some(run) = st.runs.get_mut(run_id) else {
                continue;
            };
            ops.extend(run.take_ops());
            run.history_notify.notify_waiters();
            if run.is_open() {
                if let Some(at) = driver::next_due(run) {
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
            return st.last_seq;
        }
        st.last_seq += 1;
        let commit = Commit {
            seq: st.last_seq,
            ops,
            cancel_tokens: fx.cancel_tokens,
        };
        if let Some(writer) = &st.writer
            && writer.send(commit).is_err()
        {
            tracing::error!("the engine's writer thread is gone; a change was not persisted");
        }
        st.last_seq
    }

    /// Waits until the commit `seq` (and every one before it) is durable.
    ///
    /// # Errors
    /// `Internal` when the store failed to write it.
    pub(crate) async fn committed(&self, seq: u64) -> Result<(), Status> {
        if seq == 0 {
            return Ok(());
        }
        let mut rx = self.committed.subscribe();
        let status = rx
            .wait_for(|s| s.committed >= seq || s.failure.is_some())
            .await
            .map_err(|_| unavailable("the engine stopped before the change was written"))?
            .clone();
        if status.committed >= seq {
            return Ok(());
        }
        let failure = status.failure.as_deref().unwrap_or("unknown error");
        Err(internal(format!(
            "the engine could not write the change to its store: {failure}"
        )))
    }

    /// Refuses requests once the engine is shut down or its store failed.
    pub(crate) fn check_available(&self) -> Result<(), Status> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(unavailable("the engine is shut down"));
        }
        if let Some(failure) = &self.committed.borrow().failure {
            return Err(unavailable(format!(
                "the engine stopped accepting requests after its store failed: {failure}"
            )));
        }
        Ok(())
    }

    /// Checks that the engine takes requests and that `namespace` exists.
    pub(crate) fn check_namespace(&self, namespace: &str) -> Result<(), Status> {
        self.check_available()?;
        if namespace.is_empty() {
            return Err(super::status::invalid("namespace is not set"));
        }
        if !self.cfg.namespaces.iter().any(|n| n == namespace) {
            return Err(not_found(format!(
                "namespace \"{}\" not found",
                super::status::clip(namespace)
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
        // Taking the lock orders this with the timer thread's check of `stopped`.
        let _st = self.state.lock();
        self.driver_wake.notify_all();
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
        while let Ok(first) = inbox.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match inbox.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            if self.committed.borrow().failure.is_some() {
                continue;
            }
            let last = group.last().map_or(0, |c| c.seq);
            let group_len = group.len();
            let mut ops = Vec::new();
            let mut tokens = Vec::new();
            for commit in group {
                ops.extend(commit.ops);
                tokens.extend(commit.cancel_tokens);
            }
            let began = std::time::Instant::now();
            let result = self.store.commit(&ops);
            tracing::trace!(
                commits = group_len,
                ops = ops.len(),
                micros = began.elapsed().as_micros() as u64,
                "store transaction"
            );
            match result {
                Ok(()) => {
                    self.committed.send_modify(|s| s.committed = last);
                    for token in tokens {
                        // No subscriber is fine: remote workers learn of cancels by heartbeat.
                        let _ = self.cancels.send(token);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "the engine's store failed; refusing further requests");
                    self.committed
                        .send_modify(|s| s.failure = Some(Arc::from(e.to_string())));
                }
            }
        }
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
        self.check_namespace(namespace)?;
        let queue = super::validate::task_queue(task_queue, "task_queue.name")?;
        let poller = Poller::register(self, kind, (namespace.to_string(), queue));
        let taken = self
            .long_poll(
                self.cfg.long_poll_timeout,
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
