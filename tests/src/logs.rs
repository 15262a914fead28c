//! Log capture: every `tracing` event (and every `log` record) of the process, at
//! TRACE level, written to a buffer, so that a test can prove no token was logged.

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use authtoken::TokenPrefix;
use authtoken::token::{CHECK_LEN, RANDOM_LEN};

/// The process's captured log, from the first [`capture`] on.
#[derive(Debug, Clone)]
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
}

struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for BufferWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber as the process's global default (once; later
/// calls return the same buffer). Every level, every target, spans included.
///
/// # Panics
///
/// When another global subscriber was installed first.
pub fn capture() -> CapturedLogs {
    static CAPTURED: OnceLock<CapturedLogs> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let writer = Arc::clone(&buffer);
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
                .with_ansi(false)
                .with_writer(move || BufferWriter(Arc::clone(&writer)))
                .try_init()
                .expect("no other global subscriber");
            CapturedLogs { buffer }
        })
        .clone()
}

impl CapturedLogs {
    /// Everything captured so far, as text.
    pub fn text(&self) -> String {
        let bytes = self
            .buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Asserts that the log is not empty, that it holds none of `tokens` (nor the
    /// random part of any), and that nothing in it is a well-formed token of
    /// `prefix`, issued by this test or not.
    #[track_caller]
    pub fn assert_no_token(&self, tokens: &[String], prefix: &TokenPrefix) {
        let text = self.text();
        assert!(
            text.lines().count() > 10,
            "the capture saw almost nothing: {text}"
        );
        assert!(!tokens.is_empty(), "no token was issued to look for");
        for token in tokens {
            let random = token
                .split_once('_')
                .map_or(token.as_str(), |(_, rest)| rest);
            let random = &random[..random.len().min(RANDOM_LEN)];
            for (number, line) in text.lines().enumerate() {
                assert!(
                    !line.contains(token.as_str()) && !line.contains(random),
                    "log line {number} holds a token: {line}"
                );
            }
        }
        let marker = format!("{prefix}_");
        let length = marker.len() + RANDOM_LEN + CHECK_LEN;
        for (start, _) in text.match_indices(&marker) {
            let candidate = &text.as_bytes()[start..text.len().min(start + length)];
            assert!(
                !prefix.matches(candidate),
                "the log holds a token: {}",
                String::from_utf8_lossy(candidate)
            );
        }
    }
}
