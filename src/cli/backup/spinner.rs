//! A spinner with elapsed time for the long calls (create, restore, verify),
//! on stderr and only when stderr is a terminal: scripts and logs stay clean.

use std::future::Future;
use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Awaits `work` while a spinner labelled `what` runs; the spinner is
/// cleared when `work` ends, whatever its outcome.
pub async fn while_running<F: Future>(what: &str, work: F) -> F::Output {
    let bar = start(what, std::io::stderr().is_terminal());
    let out = work.await;
    bar.finish_and_clear();
    out
}

fn start(what: &str, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hidden_spinner_passes_the_result_through() {
        assert!(super::start("x", false).is_hidden());
        assert_eq!(super::while_running("x", async { 7 }).await, 7);
    }
}
