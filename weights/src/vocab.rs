//! GPT-2 byte-level token text back to raw bytes.
//!
//! GPT-2's BPE vocabulary writes each byte as a printable character: bytes
//! that are printable Latin-1 stand for themselves, the other 68 are moved to
//! U+0100 onwards in byte order (so a space is `Ġ`, a newline `Ċ`).

use std::collections::HashMap;

fn printable(b: u8) -> bool {
    matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// Map from the stand-in character to its byte.
fn decoder() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            b as u32
        } else {
            shifted += 1;
            255 + shifted
        };
        map.insert(char::from_u32(c).expect("valid code point"), b);
    }
    map
}

/// Decode CTranslate2's `vocabulary.txt` (one byte-level token per line) into
/// the regular BPE tokens as raw bytes: those before `<|endoftext|>`.
pub fn regular_tokens(vocabulary: &str) -> Result<Vec<Vec<u8>>, String> {
    let lines: Vec<&str> = vocabulary.split('\n').collect();
    let eot = lines
        .iter()
        .position(|l| *l == "<|endoftext|>")
        .ok_or("vocabulary.txt has no <|endoftext|> token")?;
    let map = decoder();
    lines[..eot]
        .iter()
        .enumerate()
        .map(|(id, line)| {
            line.chars()
                .map(|c| {
                    map.get(&c).copied().ok_or_else(|| {
                        format!("token {id} has a character ({c:?}) outside GPT-2's byte alphabet")
                    })
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_characters_decode_to_bytes() {
        let toks =
            regular_tokens("!\nĠthe\nĊ\n\nÃ©\n<|endoftext|>\n<|startoftranscript|>").unwrap();
        assert_eq!(
            toks,
            vec![
                b"!".to_vec(),
                b" the".to_vec(),
                b"\n".to_vec(),
                Vec::new(),
                "é".as_bytes().to_vec()
            ]
        );
    }

    #[test]
    fn every_byte_has_one_character() {
        let map = decoder();
        assert_eq!(map.len(), 256);
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'Ā'], 0);
    }
}
