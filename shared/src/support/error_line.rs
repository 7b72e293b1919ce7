//! An error and its causes as one readable line, for operators and logs. The AWS SDK's own
//! `DisplayErrorContext` ends with the error's `Debug` form (request ids, raw response
//! structures), which is a dump, not a sentence; this keeps only what each cause says.

use std::error::Error;

/// `what failed: why: the underlying cause`, each cause once.
pub fn error_line(e: &(dyn Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let part = c.to_string();
        // Wrappers often repeat their source's text in their own; say it once.
        if !part.is_empty() && !line.contains(&part) {
            line.push_str(": ");
            line.push_str(&part);
        }
        cause = c.source();
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Layer(&'static str, #[source] Option<Box<Layer>>);

    #[test]
    fn every_cause_is_said_once_on_one_line() {
        let e = Layer(
            "reading /leadsync/meta-app-secret",
            Some(Box::new(Layer(
                "dispatch failure",
                Some(Box::new(Layer("connection refused\n(os error 111)", None))),
            ))),
        );
        assert_eq!(
            error_line(&e),
            "reading /leadsync/meta-app-secret: dispatch failure: connection refused (os error 111)"
        );
        let repeated = Layer(
            "service error: timed out",
            Some(Box::new(Layer("timed out", None))),
        );
        assert_eq!(error_line(&repeated), "service error: timed out");
    }

    #[test]
    fn an_sdk_error_is_a_sentence_not_a_debug_dump() {
        use aws_sdk_sqs::error::SdkError;
        let e: SdkError<Layer, ()> = SdkError::timeout_error("no answer in 3 s");
        let line = error_line(&e);
        assert_eq!(line, "request has timed out: no answer in 3 s");
        assert!(!line.contains("TimeoutError"), "{line}");
        let dump = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
        assert!(
            dump.contains("TimeoutError"),
            "the SDK's own form dumps Debug: {dump}"
        );
    }
}
