//! Just enough PEM to read a key from configuration.

use base64::Engine;

/// Decodes the base64 body between `-----BEGIN …-----` and `-----END …-----`. Text outside the
/// markers is ignored (RFC 7468 allows explanatory lines), and configuration systems that flatten
/// newlines to `\n` escapes or spaces are accepted. Without markers, the whole text is the body.
pub fn decode_pem(pem: &str) -> Result<Vec<u8>, String> {
    let text = pem.replace("\\n", "\n");
    let body = match text.find("-----BEGIN") {
        Some(begin) => {
            let label_end = text[begin + 10..]
                .find("-----")
                .map(|i| begin + 10 + i + 5)
                .ok_or("unterminated -----BEGIN line")?;
            let end = text[label_end..]
                .find("-----END")
                .map(|i| label_end + i)
                .ok_or("no -----END line")?;
            &text[label_end..end]
        }
        None => text.as_str(),
    };
    let body: String = body.split_whitespace().collect();
    if body.is_empty() {
        return Err("no PEM body".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| format!("PEM body is not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multi_line_escaped_and_single_line_pem() {
        let pem = "-----BEGIN PUBLIC KEY-----\nAAEC\nAw==\n-----END PUBLIC KEY-----\n";
        assert_eq!(decode_pem(pem).unwrap(), vec![0, 1, 2, 3]);
        let escaped = "-----BEGIN PUBLIC KEY-----\\nAAECAw==\\n-----END PUBLIC KEY-----";
        assert_eq!(decode_pem(escaped).unwrap(), vec![0, 1, 2, 3]);
        let one_line = "-----BEGIN PUBLIC KEY----- AAECAw== -----END PUBLIC KEY-----";
        assert_eq!(decode_pem(one_line).unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn text_outside_the_markers_is_ignored() {
        let pem = "TEST-ONLY key, do not trust\n-----BEGIN PRIVATE KEY-----\nAAECAw==\n-----END PRIVATE KEY-----\ntrailer";
        assert_eq!(decode_pem(pem).unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn broken_pem_is_refused() {
        assert!(decode_pem("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----").is_err());
        assert!(decode_pem("-----BEGIN PUBLIC KEY-----\nAAEC").is_err());
        assert!(decode_pem("not base64 at all!").is_err());
    }
}
