//! Combined commits: concurrent writers hand their prepared changes to one of them, who commits
//! them all in one writer turn (one sled transaction), then hands each its own outcome.
//!
//! sled 0.34 pays a fixed price per transaction on top of its writes — it seals the current
//! log buffer and writes it out on its IO threads twice (before and after the batch manifest
//! that makes the transaction atomic on recovery), each write waking its whole thread pool —
//! and each turn hands the writer mutex over once. Under many concurrent writers that fixed
//! price, not the writes, filled the single writer; combining pays it once per group. The
//! changes of a group share one atomic transaction, so a crash keeps all or none of them, and
//! none is acknowledged before the flush that follows it anyway.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// A queue of changes waiting to be committed, and whether one writer is committing.
pub struct CombinedCommits<T, R> {
    state: Mutex<QueueState<T, R>>,
}

struct QueueState<T, R> {
    /// Changes not yet taken by a combining writer, in arrival order.
    pending: Vec<Arc<Slot<T, R>>>,
    /// One writer is committing a group; the others wait for their outcome or for their turn
    /// to lead.
    combining: bool,
}

/// One writer's change and, once committed, its outcome.
struct Slot<T, R> {
    change: Mutex<Option<T>>,
    state: Mutex<SlotState<R>>,
    ready: Condvar,
}

enum SlotState<R> {
    Waiting,
    /// This writer commits the next group (its own change is the group's first).
    Lead,
    Done(R),
}

impl<T, R> Default for CombinedCommits<T, R> {
    fn default() -> Self {
        Self {
            state: Mutex::new(QueueState {
                pending: Vec::new(),
                combining: false,
            }),
        }
    }
}

fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T, R> CombinedCommits<T, R> {
    /// Commits `change` together with the changes other writers submit meanwhile, and returns
    /// its outcome. `commit_group` is called by one writer at a time with the changes of a
    /// group, in arrival order, and returns their outcomes in the same order; when it panics,
    /// every other writer of the group gets `abandoned()` and the panic goes on in the writer
    /// that led the group.
    pub fn submit(
        &self,
        change: T,
        commit_group: impl FnOnce(Vec<T>) -> Vec<R>,
        abandoned: impl Fn() -> R,
    ) -> R {
        let mine = Arc::new(Slot {
            change: Mutex::new(Some(change)),
            state: Mutex::new(SlotState::Waiting),
            ready: Condvar::new(),
        });
        let leads_now = {
            let mut queue = lock(&self.state);
            queue.pending.push(mine.clone());
            !std::mem::replace(&mut queue.combining, true)
        };
        if !leads_now {
            let mut state = lock(&mine.state);
            loop {
                match std::mem::replace(&mut *state, SlotState::Waiting) {
                    SlotState::Done(outcome) => return outcome,
                    SlotState::Lead => break,
                    SlotState::Waiting => {
                        state = mine.ready.wait(state).unwrap_or_else(|p| p.into_inner());
                    }
                }
            }
        }
        // This writer leads: it commits everything waiting, its own change among it.
        let group = std::mem::take(&mut lock(&self.state).pending);
        let changes: Vec<T> = group
            .iter()
            .filter_map(|slot| lock(&slot.change).take())
            .collect();
        let committed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit_group(changes)));
        let mut my_outcome = None;
        let panicked = match committed {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                for slot in &group {
                    let outcome = outcomes.next().unwrap_or_else(&abandoned);
                    if Arc::ptr_eq(slot, &mine) {
                        my_outcome = Some(outcome);
                    } else {
                        slot.finish(SlotState::Done(outcome));
                    }
                }
                None
            }
            Err(panic) => {
                for slot in group.iter().filter(|slot| !Arc::ptr_eq(slot, &mine)) {
                    slot.finish(SlotState::Done(abandoned()));
                }
                Some(panic)
            }
        };
        // The next group is led by its first writer, who is waiting.
        {
            let mut queue = lock(&self.state);
            match queue.pending.first() {
                Some(next) => next.finish(SlotState::Lead),
                None => queue.combining = false,
            }
        }
        if let Some(panic) = panicked {
            std::panic::resume_unwind(panic);
        }
        my_outcome.unwrap_or_else(abandoned)
    }
}

impl<T, R> Slot<T, R> {
    fn finish(&self, state: SlotState<R>) {
        *lock(&self.state) = state;
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every writer gets the outcome of its own change, however the changes were grouped.
    #[test]
    fn each_writer_gets_its_own_outcome() {
        let commits: Arc<CombinedCommits<u32, u32>> = Arc::default();
        let committed = Arc::new(Mutex::new(0usize));
        let writers: Vec<_> = (0..8u32)
            .map(|writer| {
                let (commits, committed) = (commits.clone(), committed.clone());
                std::thread::spawn(move || {
                    for n in 0..200u32 {
                        let change = writer * 1000 + n;
                        let outcome = commits.submit(
                            change,
                            |changes| {
                                *committed.lock().unwrap() += changes.len();
                                changes.iter().map(|c| c * 2).collect()
                            },
                            || u32::MAX,
                        );
                        assert_eq!(outcome, change * 2);
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(*committed.lock().unwrap(), 1600);
        let queue = lock(&commits.state);
        assert!(!queue.combining && queue.pending.is_empty());
    }

    /// Changes submitted while a group commits wait, and the next group commits them all at
    /// once, led by the first of them.
    #[test]
    fn changes_queued_behind_a_group_commit_as_one_group() {
        let commits: Arc<CombinedCommits<u32, u32>> = Arc::default();
        let groups = Arc::new(Mutex::new(Vec::new()));
        let record = |groups: &Arc<Mutex<Vec<Vec<u32>>>>, changes: Vec<u32>| {
            groups.lock().unwrap().push(changes.clone());
            changes.iter().map(|c| c + 100).collect::<Vec<_>>()
        };
        let first = {
            let (commits, groups) = (commits.clone(), groups.clone());
            std::thread::spawn(move || {
                commits.submit(
                    0,
                    |changes| {
                        // Hold the group open until the three others have queued.
                        while lock(&commits.state).pending.len() < 3 {
                            std::thread::yield_now();
                        }
                        record(&groups, changes)
                    },
                    || u32::MAX,
                )
            })
        };
        while !lock(&commits.state).combining {
            std::thread::yield_now();
        }
        let others: Vec<_> = (1..=3u32)
            .map(|change| {
                let (commits, groups) = (commits.clone(), groups.clone());
                std::thread::spawn(move || {
                    commits.submit(change, |changes| record(&groups, changes), || u32::MAX)
                })
            })
            .collect();
        assert_eq!(first.join().unwrap(), 100);
        let mut outcomes: Vec<u32> = others.into_iter().map(|t| t.join().unwrap()).collect();
        outcomes.sort_unstable();
        assert_eq!(outcomes, vec![101, 102, 103]);
        let groups = groups.lock().unwrap();
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0], vec![0]);
        let mut second = groups[1].clone();
        second.sort_unstable();
        assert_eq!(second, vec![1, 2, 3]);
    }

    /// A group whose commit panics gives its other writers the `abandoned` outcome, and the
    /// queue goes on serving later writers.
    #[test]
    fn a_panicking_group_abandons_its_writers_and_the_queue_goes_on() {
        let commits: CombinedCommits<u32, Option<u32>> = CombinedCommits::default();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commits.submit(1, |_| panic!("commit failed"), || None)
        }));
        assert!(panicked.is_err());
        assert!(!lock(&commits.state).combining);
        let outcome = commits.submit(
            2,
            |changes| changes.into_iter().map(Some).collect(),
            || None,
        );
        assert_eq!(outcome, Some(2));
    }
}
