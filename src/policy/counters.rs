//! Rate-limit counters: the [`Counters`] trait the engine reserves against, an in-memory
//! implementation, and the clock seam.
//!
//! Windows slide: a limit of `max` calls per minute allows at most `max` calls in any 60
//! seconds, so there is no burst of twice the limit across a minute boundary.
//!
//! A call reserves one unit on every limit that applies *before* it is forwarded, so two
//! concurrent calls can never both take the last unit; if the upstream then fails, the
//! caller hands the [`Reservation`] back with [`Counters::release`].

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use time::OffsetDateTime;

use super::model::{Scope, Window};

/// Where the time comes from. The gateway uses [`SystemClock`]; tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The real UTC time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock tests set by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(now: OffsetDateTime) -> ManualClock {
        ManualClock(Mutex::new(now))
    }

    pub fn set(&self, now: OffsetDateTime) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }

    pub fn advance(&self, by: time::Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How long a window is.
pub fn window_length(window: Window) -> time::Duration {
    time::Duration::seconds(window.seconds())
}

/// One count: a counter for one grant / session / everyone. Its window slides: a call
/// counts against the calls of the `window` before it, wherever the clock's minute or day
/// boundaries fall, so no two windows' worth of calls can pass across a boundary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotKey {
    pub counter: String,
    pub window: Window,
    pub scope: Scope,
    /// The grant or session id; empty for `global`.
    pub scope_id: String,
}

/// One limit a call must fit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitRequest<'a> {
    pub counter: &'a str,
    pub window: Window,
    pub scope: Scope,
    /// The grant or session id the scope selects; ignored for `global`.
    pub scope_id: &'a str,
    pub max: u64,
}

impl LimitRequest<'_> {
    /// The count this request takes from. (`now` is not part of it: windows slide.)
    pub fn slot(&self, _now: OffsetDateTime) -> SlotKey {
        SlotKey {
            counter: self.counter.to_owned(),
            window: self.window,
            scope: self.scope,
            scope_id: match self.scope {
                Scope::Global => String::new(),
                Scope::Grant | Scope::Session => self.scope_id.to_owned(),
            },
        }
    }
}

/// Units taken by one call: each count and the instant the unit was taken at. Not `Clone`,
/// so it can be given back only once.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation must be released if the call fails upstream"]
pub struct Reservation {
    pub slots: Vec<(SlotKey, OffsetDateTime)>,
}

/// A limit that had no unit left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which of the requested limits was full.
    pub index: usize,
    /// When its oldest counted call leaves the window, so the refusal can say when to retry.
    pub retry_at: OffsetDateTime,
}

/// Rate-limit counts. Implementations must make [`reserve`](Counters::reserve) atomic
/// over all its requests: either every limit gets a unit or none does.
pub trait Counters: Send + Sync {
    /// Takes one unit from each limit, or none if any is full (the first full one is named).
    fn reserve(
        &self,
        requests: &[LimitRequest<'_>],
        now: OffsetDateTime,
    ) -> Result<Reservation, LimitExceeded>;

    /// Gives the units back (the call failed upstream). Units that have since left their
    /// window are simply gone.
    fn release(&self, reservation: Reservation);

    /// How many units are held in the slot (for `policy explain` and tests), counting
    /// only calls within the window before `now`.
    fn used(&self, slot: &SlotKey, now: OffsetDateTime) -> u64;
}

/// Counters in one process's memory: the gateway's default. Each count is the log of its
/// calls within the last window (at most `max` instants), so "at most `max` calls per
/// window" holds over every span of that length, not only calendar-aligned ones.
#[derive(Debug, Default)]
pub struct InMemoryCounters {
    inner: Mutex<SlotTable>,
}

#[derive(Debug, Default)]
struct SlotTable {
    calls: HashMap<SlotKey, VecDeque<OffsetDateTime>>,
    /// Counts with no call left in their window are dropped when the table grows beyond
    /// this, so memory follows the number of live (counter, grant/session) pairs, not the
    /// uptime.
    prune_at: usize,
}

const MIN_PRUNE_AT: usize = 1_024;

impl InMemoryCounters {
    pub fn new() -> InMemoryCounters {
        InMemoryCounters::default()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, SlotTable> {
        // A panic while holding the lock cannot leave a count half-written (each update
        // is one push or removal), so a poisoned lock is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Drops the calls that have left the window ending at `now`.
fn expire(calls: &mut VecDeque<OffsetDateTime>, window: Window, now: OffsetDateTime) {
    let start = now - window_length(window);
    while calls.front().is_some_and(|at| *at <= start) {
        calls.pop_front();
    }
}

impl Counters for InMemoryCounters {
    fn reserve(
        &self,
        requests: &[LimitRequest<'_>],
        now: OffsetDateTime,
    ) -> Result<Reservation, LimitExceeded> {
        let mut table = self.table();
        table.prune(now);
        let mut taken: Vec<(SlotKey, OffsetDateTime)> = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            let slot = request.slot(now);
            let calls = table.calls.entry(slot.clone()).or_default();
            expire(calls, request.window, now);
            if calls.len() as u64 >= request.max {
                let oldest = calls.front().copied().unwrap_or(now);
                // Roll back what this call took so far: all or nothing.
                for (slot, at) in taken {
                    table.give_back(&slot, at);
                }
                return Err(LimitExceeded {
                    index,
                    retry_at: oldest + window_length(request.window),
                });
            }
            // Instants only grow (a clock set back files its call in order anyway).
            let at = calls.back().map_or(now, |last| now.max(*last));
            calls.push_back(at);
            taken.push((slot, at));
        }
        Ok(Reservation { slots: taken })
    }

    fn release(&self, reservation: Reservation) {
        let mut table = self.table();
        for (slot, at) in reservation.slots {
            table.give_back(&slot, at);
        }
    }

    fn used(&self, slot: &SlotKey, now: OffsetDateTime) -> u64 {
        let start = now - window_length(slot.window);
        self.table().calls.get(slot).map_or(0, |calls| {
            calls
                .iter()
                .filter(|at| **at > start && **at <= now)
                .count() as u64
        })
    }
}

impl SlotTable {
    fn give_back(&mut self, slot: &SlotKey, at: OffsetDateTime) {
        if let Some(calls) = self.calls.get_mut(slot) {
            if let Some(position) = calls.iter().rposition(|held| *held == at) {
                calls.remove(position);
            }
            if calls.is_empty() {
                self.calls.remove(slot);
            }
        }
    }

    fn prune(&mut self, now: OffsetDateTime) {
        if self.calls.len() < self.prune_at.max(MIN_PRUNE_AT) {
            return;
        }
        self.calls.retain(|slot, calls| {
            expire(calls, slot.window, now);
            !calls.is_empty()
        });
        self.prune_at = (self.calls.len() * 2).max(MIN_PRUNE_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn request(max: u64) -> LimitRequest<'static> {
        LimitRequest {
            counter: "c",
            window: Window::Minute,
            scope: Scope::Grant,
            scope_id: "g",
            max,
        }
    }

    #[test]
    fn the_window_slides_so_a_boundary_gives_no_burst() {
        let counters = InMemoryCounters::new();
        let two = request(2);
        let at = |text: time::Duration| datetime!(2025-03-04 10:00:00 UTC) + text;
        let seconds = time::Duration::seconds;
        // Two calls in the last second of a minute...
        assert!(counters.reserve(&[two], at(seconds(58))).is_ok());
        assert!(counters.reserve(&[two], at(seconds(59))).is_ok());
        // ...leave none for the first seconds of the next: the window is the last 60 s.
        let refused = counters.reserve(&[two], at(seconds(61))).expect_err("full");
        assert_eq!(refused.retry_at, at(seconds(118)));
        assert!(counters.reserve(&[two], at(seconds(117))).is_err());
        // 60 s after the first call it has left the window: one unit is back.
        assert!(counters.reserve(&[two], at(seconds(118))).is_ok());
        assert!(counters.reserve(&[two], at(seconds(118))).is_err());
        assert_eq!(
            counters.used(&two.slot(at(seconds(118))), at(seconds(118))),
            2
        );
    }

    #[test]
    fn reserve_is_all_or_nothing_and_release_gives_back() {
        let counters = InMemoryCounters::new();
        let now = datetime!(2025-03-04 10:00:00 UTC);
        let both = [
            request(5),
            LimitRequest {
                counter: "d",
                ..request(1)
            },
        ];
        let first = counters.reserve(&both, now).expect("room");
        let refused = counters.reserve(&both, now).expect_err("d is full");
        assert_eq!(refused.index, 1);
        // The refused call did not keep its unit on `c`.
        assert_eq!(counters.used(&request(5).slot(now), now), 1);
        counters.release(first);
        assert_eq!(counters.used(&request(5).slot(now), now), 0);
        assert!(counters.reserve(&both, now).is_ok());
    }
}
