//! The bounded queue between the handlers and the writer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::Event;
use crate::metrics::Metrics;

/// The events waiting to be written. Clones share the queue.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

/// The waiting events, and how many the writer has taken and not yet
/// confirmed: both count against the bound, so a batch put back after a
/// failed write never pushes the queue past it.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Event>,
    in_flight: usize,
}

impl Queue {
    fn len(&self) -> usize {
        self.waiting.len() + self.in_flight
    }
}

struct Inner {
    /// A std mutex: it is held only to push or to copy and pop a batch, never
    /// across an `.await`, so a handler recording an open waits for nothing
    /// but another push.
    queue: Mutex<Queue>,
    capacity: usize,
    /// Wakes the writer when the first event of an empty queue arrives.
    arrived: Notify,
    metrics: Arc<Metrics>,
}

impl EventLog {
    /// A queue holding at most `capacity` events.
    pub fn new(capacity: usize, metrics: Arc<Metrics>) -> EventLog {
        EventLog {
            inner: Arc::new(Inner {
                queue: Mutex::new(Queue::default()),
                capacity: capacity.max(1),
                arrived: Notify::new(),
                metrics,
            }),
        }
    }

    /// Queues an event for the writer, and says whether it did. Never
    /// waits on I/O; when the queue is full (the store has been down for a
    /// long time) the event is dropped and counted. Most callers have
    /// nothing to do about a drop; a conversion gives its claimed id back.
    pub fn record(&self, event: Event) -> bool {
        let queued = {
            let mut queue = self.lock();
            if queue.len() >= self.inner.capacity {
                None
            } else {
                queue.waiting.push_back(event);
                Some(queue.waiting.len())
            }
        };
        let metrics = &self.inner.metrics;
        match queued {
            Some(length) => {
                metrics.events_buffered.set(length as i64);
                if length == 1 {
                    self.inner.arrived.notify_one();
                }
                true
            }
            None => {
                metrics.events_dropped.inc();
                false
            }
        }
    }

    /// How many events wait now, those being written included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The oldest `max` events, taken out of the queue for the writer. They
    /// are moved, not copied; a batch the store did not take comes back
    /// with [`EventLog::put_back`].
    pub(super) fn take(&self, max: usize) -> Vec<Event> {
        let mut queue = self.lock();
        let count = max.min(queue.waiting.len());
        queue.in_flight = count;
        queue.waiting.drain(..count).collect()
    }

    /// Puts a batch that was not written back at the front, in order.
    pub(super) fn put_back(&self, batch: Vec<Event>) {
        let length = {
            let mut queue = self.lock();
            queue.in_flight = 0;
            for event in batch.into_iter().rev() {
                queue.waiting.push_front(event);
            }
            queue.len()
        };
        self.inner.metrics.events_buffered.set(length as i64);
    }

    /// Forgets the batch in flight once it is written.
    pub(super) fn written(&self) {
        let length = {
            let mut queue = self.lock();
            queue.in_flight = 0;
            queue.len()
        };
        self.inner.metrics.events_buffered.set(length as i64);
    }

    /// Waits until an event may have arrived.
    pub(super) async fn arrived(&self) {
        self.inner.arrived.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Each critical section is one push, copy or drain; a panic in one
        // cannot leave the queue half-changed.
        self.inner
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("queued", &self.len())
            .field("capacity", &self.inner.capacity)
            .finish()
    }
}
