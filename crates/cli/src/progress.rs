//! Showing run events: progress bars on a terminal, plain lines otherwise,
//! one JSON object per line with `--json`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use vantage_runner::{Event, EventSink};

pub fn sink(json: bool) -> EventSink {
    if json {
        return Arc::new(|e: &Event| {
            if let Ok(line) = serde_json::to_string(e) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        });
    }
    if std::io::stderr().is_terminal() {
        let bars = Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        };
        return Arc::new(move |e: &Event| bars.show(e));
    }
    Arc::new(plain)
}

fn plain(e: &Event) {
    if let Some(line) = e.describe() {
        eprintln!("{line}");
    }
}

struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn bar(&self, stage: &str) -> ProgressBar {
        let Ok(mut bars) = self.bars.lock() else {
            return ProgressBar::hidden();
        };
        bars.entry(stage.to_string())
            .or_insert_with(|| {
                let style = ProgressStyle::with_template(
                    "{prefix:>16.bold} [{bar:28}] {percent:>3}% {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                let b = self.multi.add(ProgressBar::new(1000).with_style(style));
                b.set_prefix(stage.to_string());
                b
            })
            .clone()
    }

    fn show(&self, e: &Event) {
        match e {
            Event::Queued { stage, .. } => self.bar(stage).set_message("queued"),
            Event::Started { stage } => self.bar(stage).set_message("running"),
            Event::Progress {
                stage,
                percent,
                message,
            } => {
                let b = self.bar(stage);
                b.set_position((*percent * 10.0) as u64);
                b.set_message(message.clone());
            }
            Event::Cached { stage } => {
                let b = self.bar(stage);
                b.set_position(1000);
                b.finish_with_message("cached");
            }
            Event::WouldRun { stage } => self.bar(stage).finish_with_message("would run"),
            Event::Remote { stage, message } => {
                let _ = self.multi.println(format!("{stage}: {message}"));
            }
            Event::Done {
                stage,
                seconds,
                message,
            } => {
                let b = self.bar(stage);
                b.set_position(1000);
                b.finish_with_message(format!("done in {seconds:.2}s {message}"));
            }
            Event::Failed { stage, error } => self
                .bar(stage)
                .abandon_with_message(format!("FAILED: {error}")),
            Event::Finished {
                seconds,
                ran,
                cached,
            } => {
                let _ = self.multi.println(format!(
                    "finished in {seconds:.2}s: {ran} ran, {cached} cached"
                ));
            }
        }
    }
}
