//! Progress bars for long work (`inlet soak`, `inlet dev`'s start-up,
//! `inlet coldstart`), drawn on stderr and only when stderr is a terminal:
//! tests and CI capture the output and read stdout, which the bars never
//! touch, and a captured stderr gets no drawing either.

use std::fmt::Display;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// How often a bar is redrawn (its spinner and elapsed time).
const TICK: Duration = Duration::from_millis(200);

/// Whether bars are drawn: stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A progress bar on stderr, or a hidden one whose every call does nothing.
/// It derefs to the [`ProgressBar`]; dropped, it clears itself.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    visible: bool,
}

impl Progress {
    /// `len` units, drawn with `template` (indicatif's syntax) when stderr is
    /// a terminal.
    pub fn on_stderr(len: u64, template: &str) -> Progress {
        Progress::new(stderr_is_terminal(), len, template)
    }

    /// Never drawn.
    pub fn hidden() -> Progress {
        Progress::new(false, 0, "")
    }

    pub fn new(visible: bool, len: u64, template: &str) -> Progress {
        if !visible {
            return Progress { bar: ProgressBar::hidden(), visible };
        }
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_finish(ProgressFinish::AndClear);
        bar.enable_steady_tick(TICK);
        Progress { bar, visible }
    }

    pub fn is_visible(&self) -> bool {
        self.visible
    }

    /// Prints `line` on stdout, exactly as `println!` would, with the bar
    /// taken off the terminal meanwhile so that the two do not tear.
    pub fn println(&self, line: impl Display) {
        self.bar.suspend(|| println!("{line}"));
    }

    /// Takes the bar off the terminal while another program writes to it
    /// (cargo, a function's log); [`resume`](Progress::resume) draws it again.
    pub fn pause(&self) {
        if self.visible {
            self.bar.disable_steady_tick();
            self.bar.set_draw_target(ProgressDrawTarget::hidden());
            // A terminal target leaves its last line drawn: wipe it.
            eprint!("\r\x1b[2K");
        }
    }

    pub fn resume(&self) {
        if self.visible {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(TICK);
        }
    }

    /// Clears the bar for good.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl std::ops::Deref for Progress {
    type Target = ProgressBar;

    fn deref(&self) -> &ProgressBar {
        &self.bar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_is_drawn_only_when_asked_to_be() {
        let hidden = Progress::new(false, 10, "{pos}/{len}");
        assert!(!hidden.is_visible() && hidden.is_hidden());
        hidden.resume();
        assert!(hidden.is_hidden(), "resuming a hidden bar does not show it");
        let shown = Progress::new(true, 10, "{pos}/{len}");
        assert!(shown.is_visible());
        shown.inc(3);
        assert_eq!(shown.position(), 3);
        shown.finish();
    }
}
