//! Concurrency gates for heavy work (bundle builds, uploads): at most so many at once in
//! all, and per organisation. A caller that finds the gate full is told at once (the HTTP
//! layer answers 503 with `Retry-After`), never queued behind work of unknown length.
//!
//! [`Turns`] is the queue for short work that needs the store (feature queries): so many at
//! once, the others waiting their turn in arrival order for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Counts {
    all: usize,
    per_key: HashMap<String, usize>,
}

pub struct Gate {
    name: &'static str,
    max_all: usize,
    max_per_key: usize,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted piece of work; leaving the gate when dropped.
pub struct Pass {
    key: String,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        if let Ok(mut c) = self.counts.lock() {
            c.all = c.all.saturating_sub(1);
            if let Some(n) = c.per_key.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.per_key.remove(&self.key);
                }
            }
        }
    }
}

impl Gate {
    pub fn new(name: &'static str, max_all: usize, max_per_key: usize) -> Gate {
        Gate {
            name,
            max_all,
            max_per_key,
            counts: Arc::default(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Admits one more piece of work for `key` (an organisation), if there is room.
    pub fn try_enter(&self, key: &str) -> Option<Pass> {
        let mut c = self.counts.lock().ok()?;
        let mine = c.per_key.get(key).copied().unwrap_or(0);
        if c.all >= self.max_all || mine >= self.max_per_key {
            return None;
        }
        c.all += 1;
        *c.per_key.entry(key.to_string()).or_insert(0) += 1;
        Some(Pass {
            key: key.to_string(),
            counts: self.counts.clone(),
        })
    }

    /// How many are running now.
    pub fn running(&self) -> usize {
        self.counts.lock().map_or(0, |c| c.all)
    }
}

/// At most so many pieces of short store work at once; the others wait their turn, first
/// come first served, for up to `wait`, and are then turned away. Feature queries take
/// turns so that they never hold all of the store's connections: an edit, a catalog read
/// or a health check finds one free at once instead of queueing behind them, and the
/// database runs a few queries at a time instead of thrashing between dozens.
pub struct Turns {
    permits: tokio::sync::Semaphore,
    wait: std::time::Duration,
}

impl Turns {
    pub fn new(at_once: usize, wait: std::time::Duration) -> Turns {
        Turns {
            permits: tokio::sync::Semaphore::new(at_once.max(1)),
            wait,
        }
    }

    /// A turn, held until dropped; `None` after waiting `wait` in vain.
    pub async fn take(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .ok()?
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_key() {
        let g = Gate::new("uploads", 3, 2);
        let a1 = g.try_enter("015146").unwrap();
        let _a2 = g.try_enter("015146").unwrap();
        assert!(g.try_enter("015146").is_none(), "per organisation");
        let _b = g.try_enter("015182").unwrap();
        assert!(g.try_enter("015002").is_none(), "in all");
        drop(a1);
        assert_eq!(g.running(), 2);
        assert!(g.try_enter("015146").is_some());
    }

    #[tokio::test]
    async fn turns_are_taken_in_order_and_refused_after_the_wait() {
        let t = std::sync::Arc::new(Turns::new(1, std::time::Duration::from_millis(200)));
        let first = t.take().await.unwrap();
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for i in 0..3 {
            let (t, order) = (t.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let turn = t.take().await;
                order.lock().unwrap().push(i);
                turn.is_some()
            }));
            tokio::task::yield_now().await;
        }
        drop(first);
        for w in waiting {
            assert!(w.await.unwrap(), "each waiter gets a turn within the wait");
        }
        assert_eq!(
            *order.lock().unwrap(),
            vec![0, 1, 2],
            "first come first served"
        );
        let _held = t.take().await.unwrap();
        assert!(t.take().await.is_none(), "refused once the wait is over");
    }
}
