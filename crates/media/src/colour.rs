//! What a picture's YUV numbers mean: the matrix, range, primaries and
//! transfer its stream declares (ffprobe's names). Frames cross our pipes
//! in the source's own matrix at limited range; whatever turns them into
//! RGB and back (RIFE) uses that matrix, and the encoder tags the output
//! with the same colour, so made frames and real ones look alike.

use crate::MediaError;
use std::path::Path;

/// Luma weights of a YUV matrix (Kr, Kb; Kg is the rest).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matrix {
    pub kr: f64,
    pub kb: f64,
}

impl Matrix {
    pub const BT709: Matrix = Matrix {
        kr: 0.2126,
        kb: 0.0722,
    };
    pub const BT601: Matrix = Matrix {
        kr: 0.299,
        kb: 0.114,
    };
    pub const BT2020: Matrix = Matrix {
        kr: 0.2627,
        kb: 0.0593,
    };
    pub const SMPTE240M: Matrix = Matrix {
        kr: 0.212,
        kb: 0.087,
    };
    pub const FCC: Matrix = Matrix { kr: 0.30, kb: 0.11 };
}

/// The colour a video stream declares; `None` where it says nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Colour {
    /// `color_space`: bt709, bt470bg, smpte170m, bt2020nc, gbr, ...
    pub matrix: Option<String>,
    /// `color_range`: tv (limited) or pc (full).
    pub range: Option<String>,
    pub primaries: Option<String>,
    pub transfer: Option<String>,
}

impl Colour {
    /// BT.709 at limited range, all four declared (the diagnostic's canvas).
    pub fn bt709() -> Self {
        let named = |s: &str| Some(s.to_string());
        Colour {
            matrix: named("bt709"),
            range: named("tv"),
            primaries: named("bt709"),
            transfer: named("bt709"),
        }
    }

    /// The same from ffprobe's fields, where "unknown" means undeclared.
    pub fn from_probe(
        matrix: Option<&str>,
        range: Option<&str>,
        primaries: Option<&str>,
        transfer: Option<&str>,
    ) -> Self {
        let declared = |v: Option<&str>| {
            v.filter(|v| !v.is_empty() && *v != "unknown" && *v != "unspecified")
                .map(str::to_string)
        };
        Colour {
            matrix: declared(matrix),
            range: declared(range),
            primaries: declared(primaries),
            transfer: declared(transfer),
        }
    }

    /// The colour of frames decoded from this stream into our pipe: the
    /// same matrix (RGB-coded pictures become BT.709), at limited range.
    pub fn in_pipe(&self) -> Colour {
        let mut c = self.clone();
        if c.matrix.as_deref() == Some("gbr") {
            c.matrix = Some("bt709".into());
        }
        if c.range.is_some() {
            c.range = Some("tv".into());
        }
        c
    }

    /// The matrix's name, an undeclared one guessed as players guess it
    /// for a `width` x `height` picture: BT.709 from 720 lines or 1280
    /// columns up, BT.601 below.
    fn matrix_name(&self, width: u32, height: u32) -> &str {
        match self.matrix.as_deref() {
            Some(m) => m,
            None if height >= 720 || width >= 1280 => "bt709",
            None => "smpte170m",
        }
    }

    /// The matrix to turn this colour's YUV into RGB with, for a `width` x
    /// `height` picture (see [`Colour::matrix_name`]). Matrices no RGB
    /// model here can honour are refused, naming the file.
    pub fn matrix_for(&self, width: u32, height: u32, path: &Path) -> Result<Matrix, MediaError> {
        Ok(match self.matrix_name(width, height) {
            "bt709" => Matrix::BT709,
            "bt470bg" | "smpte170m" => Matrix::BT601,
            "bt2020nc" => Matrix::BT2020,
            "smpte240m" => Matrix::SMPTE240M,
            "fcc" => Matrix::FCC,
            other => {
                return Err(MediaError::Unsupported {
                    path: path.to_path_buf(),
                    detail: format!(
                        "its colour matrix is {other}, which synthesised frames cannot match; \
                         convert it first (ffmpeg -i IN -vf colorspace=all=bt709 OUT) \
                         or use --mode off or vfr"
                    ),
                })
            }
        })
    }

    /// ffmpeg's decode filter that brings frames to [`Colour::in_pipe`].
    pub(crate) fn pipe_filter(&self) -> String {
        match self.matrix.as_deref() {
            Some("gbr") => "scale=out_color_matrix=bt709:out_range=tv".into(),
            _ => "scale=out_range=tv".into(),
        }
    }

    /// `scale` options that bring this colour to BT.709 at limited range,
    /// with an undeclared matrix read as [`Colour::matrix_name`] guesses it.
    pub(crate) fn to_bt709_options(&self, width: u32, height: u32) -> String {
        let from = match self.matrix_name(width, height) {
            "bt470bg" => "bt470",
            "bt2020nc" => "bt2020",
            m @ ("bt709" | "smpte170m" | "smpte240m" | "fcc") => m,
            _ => "auto",
        };
        format!("in_color_matrix={from}:out_color_matrix=bt709:out_range=tv")
    }

    /// Encoder options that declare this colour in the output (the
    /// undeclared stays undeclared, so players guess as for the source).
    pub(crate) fn encode_args(&self) -> Vec<String> {
        [
            ("-colorspace", &self.matrix),
            ("-color_range", &self.range),
            ("-color_primaries", &self.primaries),
            ("-color_trc", &self.transfer),
        ]
        .into_iter()
        .filter_map(|(flag, v)| v.as_ref().map(|v| [flag.to_string(), v.clone()]))
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeclared_matrix_is_guessed_by_size() {
        let c = Colour::default();
        let p = Path::new("x.mp4");
        assert_eq!(c.matrix_for(1280, 720, p).unwrap(), Matrix::BT709);
        assert_eq!(c.matrix_for(640, 480, p).unwrap(), Matrix::BT601);
        assert!(c.encode_args().is_empty());
    }

    #[test]
    fn full_range_comes_through_the_pipe_limited_and_tagged() {
        let c = Colour::from_probe(Some("smpte170m"), Some("pc"), Some("unknown"), None);
        let pipe = c.in_pipe();
        assert_eq!(pipe.range.as_deref(), Some("tv"));
        assert_eq!(
            pipe.encode_args(),
            ["-colorspace", "smpte170m", "-color_range", "tv"]
        );
        assert_eq!(
            pipe.matrix_for(1920, 1080, Path::new("x")).unwrap(),
            Matrix::BT601
        );
    }

    #[test]
    fn rgb_pictures_become_bt709_and_odd_matrices_are_refused() {
        let gbr = Colour::from_probe(Some("gbr"), None, None, None);
        assert!(gbr.pipe_filter().contains("out_color_matrix=bt709"));
        assert_eq!(gbr.in_pipe().matrix.as_deref(), Some("bt709"));
        let ycgco = Colour::from_probe(Some("ycgco"), None, None, None);
        let e = ycgco.matrix_for(64, 64, Path::new("in.mp4")).unwrap_err();
        assert!(e.to_string().contains("in.mp4") && e.to_string().contains("ycgco"));
    }
}
