//! The handle of a running revocation listener.

use std::fmt;

/// A background task that evicts tokens revoked elsewhere from one authenticator's
/// cache; made by [`crate::SqlxStore::spawn_revocation_listener`].
///
/// Dropping the handle stops the task, so keep it for as long as the authenticator
/// serves requests (in the application's state, say).
#[must_use = "dropping the listener stops it"]
pub struct RevocationListener {
    task: tokio::task::JoinHandle<()>,
}

impl RevocationListener {
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn new(task: tokio::task::JoinHandle<()>) -> Self {
        Self { task }
    }

    /// False once the listener has stopped (its pool was closed).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Stops listening, as dropping the handle does.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for RevocationListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RevocationListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationListener")
            .field("running", &self.is_running())
            .finish()
    }
}
