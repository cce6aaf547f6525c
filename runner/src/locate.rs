//! Find the line of a key path in YAML text, for error messages.
//!
//! serde_yaml does not keep positions of deserialised values, so we scan the
//! text by indentation: good for block-style YAML, and for flow-style values
//! it falls back to the line of the nearest enclosing key.

/// 1-based line of `path` (e.g. `["stages", "analyze", "params", "fps"]`),
/// or of its deepest ancestor that can be found.
pub fn line_of(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    let (mut start, mut parent_indent) = (0usize, -1i64);
    for key in path {
        let mut hit = None;
        for (idx, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = (line.len() - trimmed.len()) as i64;
            if indent <= parent_indent {
                break; // left the parent's block
            }
            let body = trimmed.trim_start_matches("- ");
            if let Some((name, _)) = body.split_once(':') {
                if name.trim().trim_matches(['"', '\'']) == *key {
                    hit = Some((idx, indent));
                    break;
                }
            }
        }
        let Some((idx, indent)) = hit else { break };
        found = Some(idx + 1);
        start = idx + 1;
        parent_indent = indent;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "name: x\ninputs:\n  video: video\nstages:\n  a:\n    uses: extract-audio\n    params:\n      fps: 3\n  b:\n    uses: retime\n    params: { fps: 4 }\noutputs:\n  video: b.video\n";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(line_of(YAML, &["stages", "a", "uses"]), Some(6));
        assert_eq!(line_of(YAML, &["stages", "a", "params", "fps"]), Some(8));
        assert_eq!(line_of(YAML, &["stages", "b", "uses"]), Some(10));
        assert_eq!(line_of(YAML, &["outputs", "video"]), Some(13));
    }

    #[test]
    fn falls_back_to_the_enclosing_key() {
        // fps sits in a flow mapping on line 11.
        assert_eq!(line_of(YAML, &["stages", "b", "params", "fps"]), Some(11));
        // Does not wander into the next stage.
        assert_eq!(line_of(YAML, &["stages", "b", "nothing"]), Some(9));
        assert_eq!(line_of(YAML, &["missing"]), None);
    }
}
