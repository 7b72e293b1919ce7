//! Just enough PEM to read a public key from configuration.

use base64::Engine;

/// Decodes the base64 body of a PEM block (`-----BEGIN …-----` … `-----END …-----`).
/// Configuration systems often flatten newlines to `\n` escapes or spaces; both are accepted.
pub fn decode_pem(pem: &str) -> Result<Vec<u8>, String> {
    let unescaped = pem.replace("\\n", "\n");
    let body: String = unescaped
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.split_whitespace())
        .collect();
    let body = body
        .split("-----")
        .find(|part| !part.is_empty() && !part.starts_with("BEGIN") && !part.starts_with("END"))
        .unwrap_or(&body)
        .to_string();
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
    fn reads_multi_line_and_escaped_pem() {
        let pem = "-----BEGIN PUBLIC KEY-----\nAAEC\nAw==\n-----END PUBLIC KEY-----\n";
        assert_eq!(decode_pem(pem).unwrap(), vec![0, 1, 2, 3]);
        let escaped = "-----BEGIN PUBLIC KEY-----\\nAAECAw==\\n-----END PUBLIC KEY-----";
        assert_eq!(decode_pem(escaped).unwrap(), vec![0, 1, 2, 3]);
        assert!(decode_pem("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----").is_err());
    }
}
