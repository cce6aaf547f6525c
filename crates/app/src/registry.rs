//! Every stage type this build can run, and the pre-flight check of user inputs.

use std::sync::Arc;
use vantage_core::PortType;
use vantage_runner::{Exec, Registry};
use vantage_weights::Store;

/// All stages, finding model weights in `weights`.
pub fn registry(weights: &Store) -> Registry {
    let mut r = Registry::new();
    r.register(vantage_media::stages::ExtractAudio)
        .register(vantage_media::stages::Mux)
        .register(vantage_analyze::Analyze)
        .register(vantage_predict_freeze::PredictFreeze)
        .register(vantage_retime::Retime)
        .register(vantage_retime::RetimeVfr)
        .register(vantage_interpolate::Interpolate::new(weights.clone()))
        .register(vantage_transcribe::Transcribe::new(weights.clone()))
        .register(vantage_render_diagnostic::RenderDiagnostic)
        .register(Exec)
        .with_input_check(Arc::new(check_input));
    r
}

/// Probe media inputs before any stage runs, so a wrong file fails in
/// milliseconds with a message instead of minutes into a render.
pub fn check_input(ty: PortType, path: &std::path::Path) -> Result<(), String> {
    let needs_probe = matches!(
        ty,
        PortType::Media | PortType::Video | PortType::Audio | PortType::Wav
    );
    if !needs_probe {
        return Ok(());
    }
    let info = vantage_media::probe(path).map_err(|e| e.to_string())?;
    vantage_media::check_complete(path, &info, &vantage_core::CancelToken::default())
        .map_err(|e| e.to_string())?;
    match ty {
        PortType::Video => info.require_video(path).map(|_| ()),
        PortType::Audio | PortType::Wav => info.require_audio(path).map(|_| ()),
        _ => Ok(()),
    }
    .map_err(|e| e.to_string())
}
