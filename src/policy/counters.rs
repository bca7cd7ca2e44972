//! Rate-limit counters: the [`Counters`] trait the engine reserves against, an in-memory
//! implementation, and the clock seam.
//!
//! A call reserves one unit on every limit that applies *before* it is forwarded, so two
//! concurrent calls can never both take the last unit; if the upstream then fails, the
//! caller hands the [`Reservation`] back with [`Counters::release`].

use std::collections::HashMap;
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

/// The calendar-aligned UTC window `now` falls in, as a number: minutes, hours or days
/// since the Unix epoch. Unix time has no leap seconds, so every UTC minute, hour and day
/// is exactly 60, 3,600 and 86,400 of its seconds, and division aligns them.
pub fn window_bucket(window: Window, now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(window.seconds())
}

/// When the window that `bucket` names ends (and the next begins).
pub fn window_end(window: Window, bucket: i64) -> OffsetDateTime {
    let seconds = bucket.saturating_add(1).saturating_mul(window.seconds());
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// One count: a counter, in one window, for one grant / session / everyone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotKey {
    pub counter: String,
    pub window: Window,
    pub bucket: i64,
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
    pub fn slot(&self, now: OffsetDateTime) -> SlotKey {
        SlotKey {
            counter: self.counter.to_owned(),
            window: self.window,
            bucket: window_bucket(self.window, now),
            scope: self.scope,
            scope_id: match self.scope {
                Scope::Global => String::new(),
                Scope::Grant | Scope::Session => self.scope_id.to_owned(),
            },
        }
    }
}

/// Units taken by one call. Not `Clone`, so it can be given back only once.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reservation must be released if the call fails upstream"]
pub struct Reservation {
    pub slots: Vec<SlotKey>,
}

/// A limit that had no unit left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// Which of the requested limits was full.
    pub index: usize,
    /// When its window ends, so the refusal can say when to retry.
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

    /// Gives the units back (the call failed upstream). Units of windows that have since
    /// ended are simply gone.
    fn release(&self, reservation: Reservation);

    /// How many units are taken in the slot (for `policy explain` and tests).
    fn used(&self, slot: &SlotKey) -> u64;
}

/// Counters in one process's memory: the gateway's default.
#[derive(Debug, Default)]
pub struct InMemoryCounters {
    inner: Mutex<SlotTable>,
}

#[derive(Debug, Default)]
struct SlotTable {
    used: HashMap<SlotKey, u64>,
    /// Past windows are dropped when the table grows beyond this, so memory follows the
    /// number of live (counter, grant/session) pairs, not the uptime.
    prune_at: usize,
}

const MIN_PRUNE_AT: usize = 1_024;

impl InMemoryCounters {
    pub fn new() -> InMemoryCounters {
        InMemoryCounters::default()
    }

    fn table(&self) -> std::sync::MutexGuard<'_, SlotTable> {
        // A panic while holding the lock cannot leave a count half-written (each update
        // is one integer store), so a poisoned lock is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let mut taken: Vec<SlotKey> = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            let slot = request.slot(now);
            let used = table.used.get(&slot).copied().unwrap_or(0);
            if used >= request.max {
                // Roll back what this call took so far: all or nothing.
                for slot in taken {
                    table.give_back(&slot);
                }
                return Err(LimitExceeded {
                    index,
                    retry_at: window_end(request.window, slot.bucket),
                });
            }
            table.used.insert(slot.clone(), used + 1);
            taken.push(slot);
        }
        Ok(Reservation { slots: taken })
    }

    fn release(&self, reservation: Reservation) {
        let mut table = self.table();
        for slot in &reservation.slots {
            table.give_back(slot);
        }
    }

    fn used(&self, slot: &SlotKey) -> u64 {
        self.table().used.get(slot).copied().unwrap_or(0)
    }
}

impl SlotTable {
    fn give_back(&mut self, slot: &SlotKey) {
        if let Some(used) = self.used.get_mut(slot) {
            *used = used.saturating_sub(1);
            if *used == 0 {
                self.used.remove(slot);
            }
        }
    }

    fn prune(&mut self, now: OffsetDateTime) {
        if self.used.len() < self.prune_at.max(MIN_PRUNE_AT) {
            return;
        }
        self.used
            .retain(|slot, _| slot.bucket >= window_bucket(slot.window, now));
        self.prune_at = (self.used.len() * 2).max(MIN_PRUNE_AT);
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
    fn windows_are_calendar_aligned() {
        let t = datetime!(2025-03-04 10:59:59 UTC);
        assert_ne!(
            window_bucket(Window::Minute, t),
            window_bucket(Window::Minute, t + time::Duration::seconds(1))
        );
        assert_eq!(
            window_end(Window::Hour, window_bucket(Window::Hour, t)),
            datetime!(2025-03-04 11:00 UTC)
        );
        assert_eq!(
            window_end(Window::Day, window_bucket(Window::Day, t)),
            datetime!(2025-03-05 0:00 UTC)
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
        assert_eq!(counters.used(&request(5).slot(now)), 1);
        counters.release(first);
        assert_eq!(counters.used(&request(5).slot(now)), 0);
        assert!(counters.reserve(&both, now).is_ok());
    }
}
