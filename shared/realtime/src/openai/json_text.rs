//! Hand-written JSON for the per-frame event, identical to what serde writes.

/// Appends `s` as a JSON string literal; text needing no escapes (all base64) is copied
/// in one go after a branch-free scan, which vectorizes.
pub(crate) fn push_str_literal(out: &mut String, s: &str) {
    out.push('"');
    let needs_escape = s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{08}' => out.push_str("\\b"),
                '\u{0c}' => out.push_str("\\f"),
                c if u32::from(c) < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let b = u32::from(c) as usize;
                    out.push_str("\\u00");
                    out.push(char::from(HEX[b >> 4]));
                    out.push(char::from(HEX[b & 0xf]));
                }
                c => out.push(c),
            }
        }
    } else {
        out.push_str(s);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_match_serde_json() {
        for s in ["", "//8=", "a\"b\\c\nd\u{1}\u{1f}é\u{8}\u{c}\t\r", "µ-law"] {
            let mut out = String::new();
            push_str_literal(&mut out, s);
            assert_eq!(Some(out), serde_json::to_string(s).ok(), "{s:?}");
        }
    }
}
