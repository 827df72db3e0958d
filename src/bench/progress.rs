//! The progress bar on stderr, drawn only when stderr is a terminal (logs of scripts stay
//! clean). It runs on its own thread so that drawing never competes with the load's tasks
//! for a runtime worker.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the bar is redrawn.
const REDRAW_INTERVAL: Duration = Duration::from_millis(200);
/// Width of the bar itself, in characters.
const BAR_WIDTH: usize = 40;

/// Counts finished operations and shows them against the expected total.
pub struct Progress {
    done: Arc<AtomicU64>,
    /// Dropped to stop the drawing thread.
    stop: Option<mpsc::Sender<()>>,
    drawer: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts a bar of `total` operations; draws only if stderr is a terminal.
    pub fn start(total: u64) -> Progress {
        let done = Arc::new(AtomicU64::new(0));
        if !std::io::stderr().is_terminal() {
            return Progress {
                done,
                stop: None,
                drawer: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let counter = done.clone();
        let started = Instant::now();
        let drawer = std::thread::spawn(move || {
            loop {
                let finished = !matches!(
                    stopped.recv_timeout(REDRAW_INTERVAL),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                let line = bar(counter.load(Ordering::Relaxed), total, started.elapsed());
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{line}");
                if finished {
                    let _ = writeln!(err);
                    return;
                }
                let _ = err.flush();
            }
        });
        Progress {
            done,
            stop: Some(stop),
            drawer: Some(drawer),
        }
    }

    /// A handle the load's tasks count finished operations on.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.done.clone()
    }

    /// Draws the final state and ends the line.
    pub fn finish(mut self) {
        self.stop_drawing();
    }

    fn stop_drawing(&mut self) {
        drop(self.stop.take());
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_drawing();
    }
}

/// One line: ` 4500 / 10000 [##########..........]  45%  2.1s`.
fn bar(done: u64, total: u64, elapsed: Duration) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let filled = (fraction * BAR_WIDTH as f64) as usize;
    format!(
        "{done:>w$} / {total} [{}{}] {:>3.0}% {:.1}s",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        fraction * 100.0,
        elapsed.as_secs_f64(),
        w = total.to_string().len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_count() {
        assert_eq!(
            bar(50, 200, Duration::from_millis(1500)),
            format!(" 50 / 200 [{}{}]  25% 1.5s", "#".repeat(10), ".".repeat(30))
        );
        assert!(
            bar(300, 200, Duration::ZERO).contains("100%"),
            "never past full"
        );
    }
}
