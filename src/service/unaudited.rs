//! When an operation's outcome line cannot be written: the caller must still
//! learn what happened. A change that was made is not reported as a plain
//! failure (a retry would find the backup gone); a failure stays a failure.

use crate::{Error, Result};

/// The answer when an operation's outcome line could not be written (`e`).
/// A failure stays that failure, with the audit problem added. A success is
/// a change that happened: the caller must not hear "failed" and retry, so
/// it is answered as done with a warning when `note` can carry one, and
/// otherwise as an Unavailable error that says the change happened. The
/// intent line (written before any destructive change) records the attempt.
pub(super) fn unaudited<T>(
    result: Result<T>,
    e: &Error,
    note: fn(&mut T, String) -> bool,
) -> Result<T> {
    tracing::error!(error = %e.message, "an operation's outcome could not be written to the audit log");
    let why = format!(
        "its outcome could not be written to the audit log: {}",
        e.message
    );
    match result {
        Err(failed) => Err(Error::new(
            failed.code,
            format!("{}; {why}", failed.message),
        )),
        Ok(mut done) => {
            if note(&mut done, format!("WARNING: done, but {why}")) {
                Ok(done)
            } else {
                Err(Error::unavailable(format!(
                    "the operation succeeded (its change is made), but {why}"
                )))
            }
        }
    }
}

/// Adds `warning` to a message result (for `BackupService::run_noted`).
#[allow(clippy::ptr_arg, clippy::needless_pass_by_value)] // the shape run_noted takes
pub(super) fn note_message(message: &mut String, warning: String) -> bool {
    message.push_str("; ");
    message.push_str(&warning);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;

    fn full() -> Error {
        Error::unavailable("the audit log /a/audit.jsonl cannot be written: No space left")
    }

    #[test]
    fn a_done_change_is_answered_as_done_with_a_warning() {
        let said = unaudited(Ok("backup x deleted".to_string()), &full(), note_message).unwrap();
        assert!(
            said.starts_with(
                "backup x deleted; WARNING: done, but its outcome could not be written"
            ) && said.contains("No space left"),
            "{said}"
        );
    }

    #[test]
    fn a_result_that_cannot_carry_a_warning_says_the_change_was_made() {
        let e = unaudited(Ok(()), &full(), |(), _| false).unwrap_err();
        assert_eq!(e.code, Code::Unavailable);
        assert!(
            e.message.contains("succeeded (its change is made)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_failure_stays_that_failure() {
        let e = unaudited::<String>(
            Err(Error::not_found("backup y not found")),
            &full(),
            note_message,
        )
        .unwrap_err();
        assert_eq!(e.code, Code::NotFound);
        assert!(
            e.message
                .starts_with("backup y not found; its outcome could not"),
            "{}",
            e.message
        );
    }
}
