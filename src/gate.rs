//! Concurrency gates for heavy work (bundle builds, uploads): at most so many at once in
//! all, and per organisation. A caller that finds the gate full is told at once (the HTTP
//! layer answers 503 with `Retry-After`), never queued behind work of unknown length.

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
}
