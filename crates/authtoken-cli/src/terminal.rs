//! Reading a token typed at a terminal without showing it.
//!
//! On Unix, echo is turned off on standard input before the prompt is written and
//! turned back on once the line is read, when reading fails, and on Ctrl-C (which
//! would otherwise end the process with the terminal still silent). The terminal
//! keeps its line editing: backspace and Ctrl-U work as usual. Elsewhere the line is
//! read as typed.

use std::io::{self, BufRead as _, Write as _};

/// What the person at the terminal did.
#[derive(Debug)]
pub enum Typed {
    /// Typed a line and pressed Enter (or ended the input): the line, without echo.
    Line(String),
    /// Pressed Ctrl-C.
    #[cfg_attr(not(unix), allow(dead_code))]
    Interrupted,
}

/// Writes `prompt` to standard error and reads one line from standard input, a
/// terminal, with echo off.
///
/// # Errors
///
/// The terminal's settings could not be read or changed, or reading failed.
#[cfg(unix)]
pub async fn read_hidden_line(prompt: &str) -> io::Result<Typed> {
    use tokio::signal::unix::{SignalKind, signal};

    // Ctrl-C is caught from here on, before echo goes off, so that it cannot end
    // the process between the two.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let echo_off = EchoOff::new()?;
    prompt_on_stderr(prompt)?;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    // A thread of its own: on Ctrl-C it is left blocked in the read and ends with
    // the process.
    std::thread::spawn(move || {
        let _ = sender.send(read_line());
    });
    let typed = tokio::select! {
        read = receiver => match read {
            Ok(line) => line.map(Typed::Line),
            Err(_) => Err(io::Error::other("the reader stopped")),
        },
        _ = interrupt.recv() => Ok(Typed::Interrupted),
    };
    drop(echo_off);
    // Enter was not echoed either: end the prompt's line.
    eprintln!();
    typed
}

/// As the Unix version, but the line is echoed as typed: turning echo off elsewhere
/// (the Windows console) is not done here.
///
/// # Errors
///
/// Reading failed.
#[cfg(not(unix))]
pub async fn read_hidden_line(prompt: &str) -> io::Result<Typed> {
    prompt_on_stderr(prompt)?;
    read_line().map(Typed::Line)
}

fn prompt_on_stderr(prompt: &str) -> io::Result<()> {
    let mut stderr = io::stderr().lock();
    stderr.write_all(prompt.as_bytes())?;
    stderr.flush()
}

fn read_line() -> io::Result<String> {
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(line)
}

/// Echo off on standard input while it lives; the settings found are restored on drop.
#[cfg(unix)]
struct EchoOff {
    saved: rustix::termios::Termios,
}

#[cfg(unix)]
impl EchoOff {
    fn new() -> io::Result<Self> {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

        let stdin = io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut silent = saved.clone();
        silent.local_modes.remove(LocalModes::ECHO);
        tcsetattr(&stdin, OptionalActions::Now, &silent)?;
        Ok(Self { saved })
    }
}

#[cfg(unix)]
impl Drop for EchoOff {
    fn drop(&mut self) {
        use rustix::termios::{OptionalActions, tcsetattr};

        let _ = tcsetattr(io::stdin(), OptionalActions::Now, &self.saved);
    }
}
