//! Threads for work that may wait: low-zoom tile renders run on a few threads of lower
//! CPU priority, so that cheap deep tiles are not starved on a busy server.

use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A few threads at a lower CPU priority (nice 5, Linux: per thread) for work that may
/// wait; they end when the engine is dropped.
pub(super) struct LowPriority {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Threads that started (none: jobs run on the blocking pool instead).
    threads: usize,
}

impl LowPriority {
    pub(super) fn new(threads: usize) -> LowPriority {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tiles-low-{i}"))
                .spawn(move || {
                    // SAFETY: no pointers; on Linux `who = 0` is the calling thread.
                    #[cfg(target_os = "linux")]
                    unsafe {
                        libc::setpriority(libc::PRIO_PROCESS, 0, 5);
                    }
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panic ends the job, not the thread: its caller sees a
                            // dropped answer.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "a low-priority render thread could not start")
                }
            }
        }
        LowPriority {
            jobs,
            threads: started,
        }
    }

    /// Runs `f` on one of the threads; None if it panicked or the pool is gone.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        if self.threads == 0 {
            return tokio::task::spawn_blocking(f).await.ok();
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .ok()?;
        rx.await.ok()
    }
}
