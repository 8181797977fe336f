//! Progress on long runs: documents and bytes read so far, drawn on stderr only when stderr is
//! a terminal, so logs, pipes and tests never see it (DESIGN.md section 2). The streaming
//! pipeline ([`crate::pipeline::run`]) is the one place that advances it, once per batch.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A spinner counting documents and bytes, or nothing when disabled or stderr is not a
/// terminal.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// Shows progress when `wanted` and stderr is a terminal.
    pub fn stderr(wanted: bool) -> Self {
        if !wanted || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {human_pos} documents, {msg} [{elapsed}]")
                .expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress(Some(bar))
    }

    /// Counts `docs` more documents, `bytes` read in all.
    pub fn advance(&self, docs: u64, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(docs);
            bar.set_message(format!("{} read", indicatif::HumanBytes(bytes)));
        }
    }
}

impl Drop for Progress {
    /// Clears the line so the summary that follows starts on a clean line.
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
