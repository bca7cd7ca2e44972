//! Values made in parallel that remember which pool thread made them, so that the same
//! thread frees them.
//!
//! Why: `classify` makes a verdict per tool on every rayon thread and holds a chunk of them
//! (8,192) until the catalogue has written them. Freed in one task, about half of those
//! verdicts' blocks went back to a thread that did not allocate them: each such free is an
//! atomic push onto the other thread's page, collected later, and the memory comes back to
//! its owner cold. Freed by their maker, the blocks return to that thread's own free lists.
//! The gain is small: alternating the two paths in one process, 40 pairs twice, the median
//! wall time ratio was 0.968 and 0.991 (BENCHMARKS.md, "seventh pass"). It is kept because
//! the same bookkeeping lets the catalogue parse, classify and serialise each tool in one
//! step on one thread, where it took three parallel passes and a zip. rayon has no "free
//! on the thread that allocated"; this does it with `fold_chunks` and `spawn_broadcast`.

use std::sync::{Arc, Mutex};

use rayon::prelude::*;

/// How many values one run holds: big enough that the runs' own bookkeeping is nothing,
/// small enough that rayon still balances a chunk over the threads (with runs of 256, one
/// thread could sit idle for a whole run, ~1 ms, at the end of every chunk).
const RUN: usize = 32;

/// Values in input order, held as runs that were each made by one pool thread.
#[derive(Debug)]
pub struct ThreadRuns<T> {
    runs: Vec<Run<T>>,
    len: usize,
}

#[derive(Debug)]
struct Run<T> {
    /// The rayon thread that made `items`; `None` off the pool.
    thread: Option<usize>,
    items: Vec<T>,
}

impl<T: Send> ThreadRuns<T> {
    /// `make` over every input, in parallel on the current rayon pool, results in input
    /// order. Stops at the first error (in input order) and returns it.
    pub fn try_make<I, E, F>(inputs: I, make: F) -> Result<ThreadRuns<T>, E>
    where
        I: IndexedParallelIterator,
        E: Send,
        F: Fn(I::Item) -> Result<T, E> + Sync + Send,
    {
        let runs: Vec<Result<Run<T>, E>> = inputs
            .fold_chunks(
                RUN,
                || {
                    Ok(Run {
                        thread: rayon::current_thread_index(),
                        items: Vec::with_capacity(RUN),
                    })
                },
                |run: Result<Run<T>, E>, input| {
                    let mut run = run?;
                    run.items.push(make(input)?);
                    Ok(run)
                },
            )
            .collect();
        let runs = runs.into_iter().collect::<Result<Vec<_>, E>>()?;
        let len = runs.iter().map(|run| run.items.len()).sum();
        Ok(ThreadRuns { runs, len })
    }

    /// `make` over every input, as [`try_make`](Self::try_make) but infallible.
    pub fn make<I, F>(inputs: I, make: F) -> ThreadRuns<T>
    where
        I: IndexedParallelIterator,
        F: Fn(I::Item) -> T + Sync + Send,
    {
        match Self::try_make(inputs, |input| {
            Ok::<T, std::convert::Infallible>(make(input))
        }) {
            Ok(runs) => runs,
            Err(never) => match never {},
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every value, in input order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.runs.iter().flat_map(|run| run.items.iter())
    }

    /// Every value, in input order, owned.
    pub fn into_vec(self) -> Vec<T> {
        let mut all = Vec::with_capacity(self.len);
        for run in self.runs {
            all.extend(run.items);
        }
        all
    }

    /// Hands each run to be dropped by the pool thread that made it (runs made off the
    /// pool go to thread 0), and returns at once.
    pub fn free_where_made(self)
    where
        T: 'static,
    {
        if let Some(slots) = self.into_slots() {
            rayon::spawn_broadcast(move |context| drop(take(&slots[context.index()])));
        }
    }

    /// As [`free_where_made`](Self::free_where_made), but the frees belong to `scope`,
    /// which waits for them.
    pub fn free_where_made_in<'scope>(self, scope: &rayon::Scope<'scope>)
    where
        T: 'scope,
    {
        if let Some(slots) = self.into_slots() {
            scope.spawn_broadcast(move |_, context| drop(take(&slots[context.index()])));
        }
    }

    /// The runs sorted into one slot per pool thread; `None` when there is nothing to free.
    fn into_slots(self) -> Option<Slots<T>> {
        if self.runs.is_empty() {
            return None;
        }
        let threads = rayon::current_num_threads().max(1);
        let mut slots: Vec<Vec<Run<T>>> = (0..threads).map(|_| Vec::new()).collect();
        for run in self.runs {
            let at = run.thread.filter(|thread| *thread < threads).unwrap_or(0);
            slots[at].push(run);
        }
        Some(slots.into_iter().map(Mutex::new).collect())
    }
}

/// One slot per pool thread, holding the runs it is to free.
type Slots<T> = Arc<[Mutex<Vec<Run<T>>>]>;

/// What a thread's slot holds, emptied; a poisoned slot is still emptied.
fn take<T>(slot: &Mutex<Vec<T>>) -> Vec<T> {
    match slot.lock() {
        Ok(mut runs) => std::mem::take(&mut *runs),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its drops, and which pool thread did each.
    struct Tracked<'a> {
        made_on: Option<usize>,
        dropped_elsewhere: &'a AtomicUsize,
        dropped: &'a AtomicUsize,
    }

    impl Drop for Tracked<'_> {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if rayon::current_thread_index() != self.made_on {
                self.dropped_elsewhere.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn values_keep_input_order_across_runs() {
        let inputs: Vec<usize> = (0..3 * RUN + 17).collect();
        let made = ThreadRuns::make(inputs.par_iter(), |n| n * 2);
        assert_eq!(made.len(), inputs.len());
        let doubled: Vec<usize> = made.iter().copied().collect();
        assert_eq!(doubled, inputs.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(made.into_vec().len(), inputs.len());
        let none = ThreadRuns::make(Vec::<usize>::new().into_par_iter(), |n| n);
        assert!(none.is_empty());
        none.free_where_made();
    }

    #[test]
    fn the_first_error_in_input_order_is_returned() {
        let inputs: Vec<usize> = (0..4 * RUN).collect();
        let result = ThreadRuns::try_make(inputs.par_iter(), |n| {
            if *n == RUN + 3 || *n == 3 * RUN {
                Err(*n)
            } else {
                Ok(*n)
            }
        });
        assert_eq!(result.map(|runs| runs.len()).unwrap_err(), RUN + 3);
    }

    #[test]
    fn every_value_is_dropped_once_by_the_thread_that_made_it() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool");
        let dropped = AtomicUsize::new(0);
        let dropped_elsewhere = AtomicUsize::new(0);
        let count = 8 * RUN;
        pool.install(|| {
            rayon::scope(|scope| {
                let made = ThreadRuns::make((0..count).into_par_iter(), |_| Tracked {
                    made_on: rayon::current_thread_index(),
                    dropped_elsewhere: &dropped_elsewhere,
                    dropped: &dropped,
                });
                assert_eq!(made.len(), count);
                made.free_where_made_in(scope);
            });
        });
        assert_eq!(dropped.load(Ordering::Relaxed), count);
        assert_eq!(dropped_elsewhere.load(Ordering::Relaxed), 0);
    }
}
