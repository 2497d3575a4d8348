//! Per-thread copies of a set of counters, summed when read. A counter that every worker thread
//! increments on every request is one cache line passed from core to core; with a copy per
//! thread, each core keeps its own line and only a scrape (rare) reads them all.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    OnceLock,
};

/// Two cache lines: x86 prefetches lines in pairs, so a 64-byte gap would still share.
#[repr(align(128))]
struct Padded<T>(T);

/// One `T` per shard; a thread always uses the same shard.
pub struct Sharded<T> {
    shards: Box<[Padded<T>]>,
    /// `shards.len() - 1` (a power of two), so picking a shard is a mask, not a division.
    mask: usize,
}

impl<T: Default> Default for Sharded<T> {
    fn default() -> Self {
        let count = shard_count();
        Sharded {
            shards: (0..count).map(|_| Padded(T::default())).collect(),
            mask: count - 1,
        }
    }
}

impl<T> Sharded<T> {
    /// The calling thread's copy.
    pub fn local(&self) -> &T {
        &self.shards[thread_number() & self.mask].0
    }

    /// Every copy, to be summed by the reader.
    pub fn all(&self) -> impl Iterator<Item = &T> {
        self.shards.iter().map(|shard| &shard.0)
    }
}

/// Twice the cores, rounded up to a power of two, at most 64: the runtime's worker threads (one
/// per core) get shards of their own even when the main and blocking threads took numbers first.
fn shard_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cores * 2).next_power_of_two().min(64)
    })
}

/// Threads are numbered in the order they first count something.
fn thread_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|number| *number)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        let counter = std::sync::Arc::new(Sharded::<AtomicU64>::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.local().fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("counting thread");
        }
        let total: u64 = counter.all().map(|c| c.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 8000);
    }

    #[test]
    fn shards_are_a_power_of_two_on_lines_of_their_own() {
        let counter = Sharded::<AtomicU64>::default();
        assert!(counter.shards.len().is_power_of_two());
        assert_eq!(std::mem::align_of::<Padded<AtomicU64>>(), 128);
    }
}
