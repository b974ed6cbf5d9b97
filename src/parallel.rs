//! Work spread over a few threads: the steps run on small pods (two cores here), so a handful of
//! independent pieces of work — validation folds, fleet workloads — share them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f` applied to every item on at most `workers` threads (each taking the next item when done),
/// the results in the items' order. `workers` is at least 1 and at most the number of items.
pub fn map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                done.lock()
                    .expect("no worker panics holding the lock")
                    .push((i, result));
            });
        }
    });
    let mut done = done.into_inner().expect("no worker panics holding the lock");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The cores this process may use (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    /// Results come back in the items' order whatever the workers' timing, each item once.
    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u64> = (0..50).collect();
        for workers in [1, 2, 7, 100] {
            let out = super::map(&items, workers, |&x| {
                std::thread::sleep(std::time::Duration::from_micros((50 - x) * 20));
                x * x
            });
            assert_eq!(out, items.iter().map(|x| x * x).collect::<Vec<_>>());
        }
        assert!(super::map(&Vec::<u8>::new(), 4, |&x| x).is_empty());
    }
}
