//! Composing and encoding the diagnostic's frames, whole or in segments
//! (see [`vantage_core::segments`]): a pass decodes the source and the
//! delivered render (downscaled by ffmpeg) in step with the output frames.

use crate::canvas::{self, blit, outline, Rect};
use crate::marks::Mark;
use std::ops::Range;
use std::path::{Path, PathBuf};
use vantage_core::segments::{attempt_file, Segmented};
use vantage_core::{FramePlan, Made, Pieces, StageContext, StageError};
use vantage_media::{probe, Colour, EncodeSettings, Frame, FrameReader, FrameWriter};

/// Panel and canvas geometry.
pub(crate) struct Geometry {
    pub panel: (u32, u32),
    /// Height of the label band above each panel.
    pub band: u32,
    /// Top-left corner of each panel's band; the picture starts `band` below.
    pub origins: [(u32, u32); 3],
    pub canvas: (u32, u32),
    /// Outline thickness.
    pub line: u32,
}

fn even(v: f64) -> u32 {
    ((v / 2.0).round() as u32 * 2).max(2)
}

impl Geometry {
    pub fn new(width: u32, height: u32, scale: f64, stacked: bool) -> Self {
        let (pw, ph) = (even(width as f64 * scale), even(height as f64 * scale));
        // Two lines of text: the panel's title and the frame's facts.
        let band = even((ph as f64 * 0.2).max(36.0));
        let cell = ph + band;
        let origins = if stacked {
            [(0, 0), (0, cell), (0, 2 * cell)]
        } else {
            [(0, 0), (pw, 0), (2 * pw, 0)]
        };
        let canvas = if stacked {
            (pw, 3 * cell)
        } else {
            (3 * pw, cell)
        };
        Self {
            panel: (pw, ph),
            band,
            origins,
            canvas,
            line: even((pw.min(ph) as f64 / 40.0).max(2.0)),
        }
    }

    /// The picture area of panel `i`.
    fn picture(&self, i: usize) -> Rect {
        let (x, y) = self.origins[i];
        Rect {
            x,
            y: y + self.band,
            w: self.panel.0,
            h: self.panel.1,
        }
    }
}

/// What every frame of one diagnostic shares.
pub(crate) struct Diagnostic<'a> {
    pub ctx: &'a StageContext,
    pub plan: &'a FramePlan,
    pub marks: &'a [Mark],
    pub geometry: &'a Geometry,
    /// The labels, burned in by ffmpeg's `ass` filter.
    pub ass: &'a Path,
    pub settings: EncodeSettings,
}

/// Both decoders mid-pass, and the frames between them.
pub(crate) struct Pass {
    src: FrameReader,
    dst: FrameReader,
    shown: Frame,
    made: Frame,
    canvas: Frame,
    /// Index of the source frame in `shown` (`None` before the first read).
    index: Option<usize>,
    source_left: bool,
    /// The next output frame (and delivered frame) to read.
    next: usize,
}

impl Diagnostic<'_> {
    pub fn open(&self) -> Result<Pass, StageError> {
        let (source, delivered) = (self.ctx.input("video")?, self.ctx.input("render")?);
        let size = Some(self.geometry.panel);
        let mut src = FrameReader::open_bt709(source, &probe(source)?, size)?;
        let mut dst = FrameReader::open_bt709(delivered, &probe(delivered)?, size)?;
        src.cancel_with(&self.ctx.cancel);
        dst.cancel_with(&self.ctx.cancel);
        let ((pw, ph), (cw, ch)) = (self.geometry.panel, self.geometry.canvas);
        Ok(Pass {
            src,
            dst,
            shown: Frame::black(pw, ph),
            made: Frame::black(pw, ph),
            canvas: Frame::black(cw, ch),
            index: None,
            source_left: true,
            next: 0,
        })
    }

    /// Compose and encode output frames `range` (at or after the pass's
    /// position) into `out`, with their labels.
    pub fn render(
        &self,
        pass: &mut Pass,
        range: Range<usize>,
        out: &Path,
    ) -> Result<(), StageError> {
        let (ctx, g, total) = (self.ctx, self.geometry, self.marks.len());
        let filter = ass_filter(self.ass, range.start, self.plan);
        let (cw, ch) = g.canvas;
        let mut writer = FrameWriter::create_filtered(
            out,
            (cw, ch),
            self.plan.fps,
            &Colour::bt709(),
            &self.settings,
            Some(&filter),
        )?;
        writer.cancel_with(&ctx.cancel);
        while pass.next < range.start {
            self.read_delivered(pass)?;
        }
        for k in range.clone() {
            ctx.cancel.check()?;
            let m = &self.marks[k];
            while pass.source_left && pass.index.is_none_or(|i| i < m.nearest) {
                pass.source_left = pass.src.read_into(&mut pass.shown)?;
                if pass.source_left {
                    pass.index = Some(pass.index.map_or(0, |i| i + 1));
                }
            }
            self.read_delivered(pass)?;
            compose(&mut pass.canvas, g, &pass.shown, &pass.made, m);
            writer.write(&pass.canvas)?;
            if k % 48 == 0 {
                ctx.report(
                    0.95 * k as f32 / total as f32,
                    &format!("frame {k}/{total}"),
                );
            }
        }
        if range.end == total && pass.dst.read_into(&mut pass.made)? {
            return Err(StageError::InvalidInput(format!(
                "{} has more frames than the plan's {total}: it is not this plan's render",
                ctx.input("render")?.display(),
            )));
        }
        writer.finish(&ctx.cancel)?;
        Ok(())
    }

    /// The delivered render's next frame into `pass.made`.
    fn read_delivered(&self, pass: &mut Pass) -> Result<(), StageError> {
        if !pass.dst.read_into(&mut pass.made)? {
            return Err(StageError::InvalidInput(format!(
                "{} has {} frames but the plan has {}: it is not this plan's render",
                self.ctx.input("render")?.display(),
                pass.next,
                self.marks.len()
            )));
        }
        pass.next += 1;
        Ok(())
    }
}

pub(crate) fn close(pass: Pass) {
    pass.src.close();
    pass.dst.close();
}

/// A diagnostic in segments: each an MPEG-TS file, one piece of the run.
pub(crate) struct Segments<'a> {
    pub diagnostic: Diagnostic<'a>,
    pub pieces: &'a dyn Pieces,
    pub dir: &'a Path,
}

fn label(range: &Range<usize>) -> String {
    format!("segment {}..{}.ts", range.start, range.end)
}

impl Segmented for Segments<'_> {
    type Pass = Pass;
    type Output = PathBuf;

    fn find(&self, range: &Range<usize>) -> Result<Option<PathBuf>, StageError> {
        self.pieces.find(&label(range))
    }

    fn make(
        &self,
        i: usize,
        range: &Range<usize>,
        pass: &mut Option<Pass>,
    ) -> Result<PathBuf, StageError> {
        // A backup segment can lie behind the pass: start another.
        if let Some(behind) = pass.take_if(|p| range.start < p.next) {
            close(behind);
        }
        let pass = match pass {
            Some(p) => p,
            None => pass.insert(self.diagnostic.open()?),
        };
        let part = attempt_file(self.dir, i, "ts");
        self.diagnostic.render(pass, range.clone(), &part)?;
        self.pieces.keep(&label(range), &part)
    }

    fn close(&self, pass: Pass) {
        close(pass);
    }
}

/// `ass` filter argument for `path`, escaped for both levels of ffmpeg's
/// filter syntax (option value, then filtergraph). A segment starting at
/// output frame `first` shows the labels of its own times: its timestamps
/// are moved there for the filter, then back to zero.
fn ass_filter(path: &Path, first: usize, plan: &FramePlan) -> String {
    let escape = |text: &str, special: &[char]| -> String {
        text.chars()
            .flat_map(|c| {
                let pre = special.contains(&c).then_some('\\');
                pre.into_iter().chain(std::iter::once(c))
            })
            .collect()
    };
    let value = escape(&path.to_string_lossy(), &['\\', '\'', ':']);
    // Named, so a '=' in the path is not read as an option name.
    let ass = format!(
        "ass=filename={}",
        escape(&value, &['\\', '\'', '[', ']', ',', ';'])
    );
    if first == 0 {
        return ass;
    }
    let (num, den) = (plan.fps.num, plan.fps.den);
    format!("setpts=PTS+{first}*{den}/({num}*TB),{ass},setpts=PTS-STARTPTS")
}

/// One diagnostic frame: the three panels and their marks.
pub(crate) fn compose(canvas: &mut Frame, g: &Geometry, shown: &Frame, made: &Frame, m: &Mark) {
    canvas.data.fill(16);
    let luma = canvas.width as usize * canvas.height as usize;
    canvas.data[luma..].fill(128);
    let panels = [shown, shown, made];
    for (i, panel) in panels.into_iter().enumerate() {
        let r = g.picture(i);
        blit(canvas, panel, r.x, r.y);
    }
    // Panel 2: repeats in their freeze's colour, drops and cuts as bars.
    let r2 = g.picture(1);
    if let Some(s) = m.freeze {
        outline(canvas, r2, g.line, canvas::severity(s));
    }
    let bar = g.line * 2;
    if m.dropped > 0 {
        let bottom = Rect {
            y: r2.y + r2.h - bar,
            h: bar,
            ..r2
        };
        canvas::fill(canvas, bottom, canvas::DROPPED);
    }
    if m.cut {
        canvas::fill(canvas, Rect { w: bar, ..r2 }, canvas::CUT);
    }
    // Panel 3: what the render made.
    let r3 = g.picture(2);
    match (m.made, m.guarded) {
        (Made::Synthesised | Made::Blended, _) => outline(canvas, r3, g.line, canvas::SYNTHESISED),
        (Made::Real, true) => outline(canvas, r3, g.line, canvas::GUARDED),
        (Made::Real, false) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_is_even_and_keeps_the_panels_apart() {
        let g = Geometry::new(1920, 1080, 0.5, false);
        assert_eq!(g.panel, (960, 540));
        assert_eq!(g.canvas, (2880, 540 + g.band));
        assert_eq!(g.picture(2).x, 1920);
        let s = Geometry::new(161, 97, 1.0, true);
        assert_eq!((s.panel.0 % 2, s.panel.1 % 2, s.band % 2), (0, 0, 0));
        assert_eq!(s.picture(1).y, s.panel.1 + 2 * s.band);
    }

    #[test]
    fn filter_paths_are_escaped_twice() {
        let plan = FramePlan {
            fps: vantage_core::Rational {
                num: 30000,
                den: 1001,
            },
            width: 16,
            height: 16,
            source_frames: 1,
            positions: vec![0.0],
        };
        let path = Path::new("/tmp/a:b,c/l'x.ass");
        let f = ass_filter(path, 0, &plan);
        assert_eq!(f, "ass=filename=/tmp/a\\\\:b\\,c/l\\\\\\'x.ass");
        // A later segment's frames are labelled with their own times.
        assert_eq!(
            ass_filter(path, 48, &plan),
            format!("setpts=PTS+48*1001/(30000*TB),{f},setpts=PTS-STARTPTS")
        );
    }
}
