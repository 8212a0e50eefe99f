//! The API key: which keys can work at all, and the check on every call.

/// Why an API key cannot be used: a client could never send it, so every call would be
/// refused. `None` when it can.
pub(super) fn unusable_key_reason(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("it is empty, so every call would be refused")
    } else if key.trim() != key {
        Some("it starts or ends with white space, which HTTP drops from header values")
    } else if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        Some("a gRPC header can only carry visible ASCII characters")
    } else {
        None
    }
}

/// The interceptor that lets a call through when it carries `authorization: Bearer KEY`
/// (or no key is set). The scheme is matched case-insensitively, as HTTP says it is; the key
/// is compared in constant time.
pub(super) fn check_key(
    expected: Option<String>,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |req: tonic::Request<()>| match &expected {
        None => Ok(req),
        Some(want) => {
            let token = req
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_token);
            if token.is_some_and(|t| constant_time_eq(t.as_bytes(), want.as_bytes())) {
                Ok(req)
            } else {
                Err(tonic::Status::unauthenticated(
                    "this server needs an API key: send `authorization: Bearer <key>`",
                ))
            }
        }
    }
}

/// The token of an `authorization` value of the `Bearer` scheme, in any case, separated by
/// one or more spaces (RFC 9110, section 11.4).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(rest.trim_start_matches(' '))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_exact() {
        assert_eq!(bearer_token("Bearer k"), Some("k"));
        assert_eq!(bearer_token("bearer k"), Some("k"));
        assert_eq!(bearer_token("BEARER  k"), Some("k"));
        assert_eq!(bearer_token("Basic k"), None);
        assert_eq!(bearer_token("Bearerk"), None);
        assert_eq!(bearer_token("k"), None);
    }

    #[test]
    fn keys_no_client_can_send_are_unusable() {
        assert!(unusable_key_reason("").is_some());
        assert!(unusable_key_reason(" k").is_some());
        assert!(unusable_key_reason("k\n").is_some());
        assert!(unusable_key_reason("clé").is_some());
        assert!(unusable_key_reason("k-123_ABC.def").is_none());
    }
}
