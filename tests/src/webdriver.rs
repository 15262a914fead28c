//! A small W3C WebDriver client for chromedriver and headless Chromium, over
//! `reqwest`: enough to drive a page the way a person would (navigate, find by CSS,
//! click, type, read text and properties, run a script), take screenshots, and read
//! the browser's console.
//!
//! [`Browser::find`] looks for `chromedriver` and Chromium (`AUTHTOKEN_TEST_CHROMEDRIVER`
//! and `AUTHTOKEN_TEST_CHROMIUM` name other paths); [`Session::start`] runs a
//! chromedriver of its own on a free port and opens one headless window. The
//! session is closed and chromedriver killed when the [`Session`] is dropped, also
//! while a failing test unwinds.
//!
//! Waiting is polling: [`Session::wait_for`] asks again until the page is in the
//! state waited for, up to [`WAIT`], and then fails naming that state.

use std::fmt;
use std::future::Future;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The variable naming a chromedriver other than the one on `PATH`.
pub const CHROMEDRIVER_VAR: &str = "AUTHTOKEN_TEST_CHROMEDRIVER";
/// The variable naming a Chromium (or Chrome) binary other than the one on `PATH`.
pub const CHROMIUM_VAR: &str = "AUTHTOKEN_TEST_CHROMIUM";

/// How long [`Session::wait_for`] waits for a page state.
pub const WAIT: Duration = Duration::from_secs(30);
/// How often it looks.
const POLL: Duration = Duration::from_millis(100);

/// The key W3C WebDriver gives an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What a WebDriver command answered instead of success, or why it got no answer.
#[derive(Debug, Clone)]
pub struct WebDriverError {
    /// The W3C error code (`no such element`, `stale element reference`, ...), or
    /// `transport` when chromedriver could not be reached.
    pub error: String,
    /// Its message.
    pub message: String,
}

impl WebDriverError {
    fn new(error: &str, message: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl std::error::Error for WebDriverError {}

/// What a WebDriver call returns.
pub type Result<T> = std::result::Result<T, WebDriverError>;

/// chromedriver and the browser it drives, found on this machine.
#[derive(Debug, Clone)]
pub struct Browser {
    chromedriver: PathBuf,
    chromium: PathBuf,
}

impl Browser {
    /// `AUTHTOKEN_TEST_CHROMEDRIVER` or `chromedriver` on `PATH`, and
    /// `AUTHTOKEN_TEST_CHROMIUM` or `chromium` (`chromium-browser`, `google-chrome`)
    /// on `PATH`.
    ///
    /// # Errors
    ///
    /// What was not found, in words.
    pub fn find() -> std::result::Result<Self, String> {
        let chromedriver = match std::env::var_os(CHROMEDRIVER_VAR) {
            Some(_) => from_var(CHROMEDRIVER_VAR),
            None => on_path(&["chromedriver"]),
        };
        let chromium = match std::env::var_os(CHROMIUM_VAR) {
            Some(_) => from_var(CHROMIUM_VAR),
            None => on_path(&[
                "chromium",
                "chromium-browser",
                "google-chrome",
                "google-chrome-stable",
            ]),
        };
        match (chromedriver, chromium) {
            (Some(chromedriver), Some(chromium)) => Ok(Self {
                chromedriver,
                chromium,
            }),
            (chromedriver, chromium) => {
                let mut missing = Vec::new();
                if chromedriver.is_none() {
                    missing.push(format!("chromedriver (or {CHROMEDRIVER_VAR})"));
                }
                if chromium.is_none() {
                    missing.push(format!("chromium (or {CHROMIUM_VAR})"));
                }
                Err(format!("not found: {}", missing.join(", ")))
            }
        }
    }
}

/// The file `name` names, when it is set and the file exists.
fn from_var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .filter(|path| path.is_file())
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A chromedriver process of our own; killed, with whatever it started, on drop.
#[derive(Debug)]
struct Chromedriver {
    child: Child,
    address: SocketAddr,
}

impl Chromedriver {
    /// Starts `path` on a free port and waits until it is ready.
    async fn start(path: &Path, http: &reqwest::Client) -> Result<Self> {
        let address = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| WebDriverError::new("transport", error.to_string()))?;
        let mut command = Command::new(path);
        command
            .arg(format!("--port={}", address.port()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // A group of its own, so that dropping it also ends any browser left behind.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|error| {
            WebDriverError::new("transport", format!("{}: {error}", path.display()))
        })?;
        let driver = Self { child, address };
        let deadline = Instant::now() + WAIT;
        loop {
            let status = http
                .get(format!("http://{address}/status"))
                .send()
                .await
                .ok();
            if let Some(response) = status {
                let body: Value = response.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    return Ok(driver);
                }
            }
            if Instant::now() > deadline {
                return Err(WebDriverError::new(
                    "transport",
                    format!("chromedriver did not become ready on {address} within {WAIT:?}"),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let pid = self.child.id();
        #[cfg(unix)]
        {
            // The process group started with it: chromedriver and its browsers.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An element of the page, as WebDriver refers to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

/// One line of the browser's console (`goog:loggingPrefs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, ...
    pub level: String,
    /// `javascript`, `console-api`, `network`, `security`, ...
    pub source: String,
    /// The text.
    pub message: String,
}

/// One headless Chromium window, driven through a chromedriver of its own.
pub struct Session {
    http: reqwest::Client,
    /// `http://127.0.0.1:port/session/{id}`.
    url: String,
    /// `None` once the session is closed.
    id: Option<String>,
    // Dropped after the session is closed (fields drop in order, after `drop`).
    driver: Chromedriver,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("url", &self.url)
            .field("open", &self.id.is_some())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Starts chromedriver and opens a headless window of `width` x `height` CSS
    /// pixels, keeping the browser's console log.
    ///
    /// # Errors
    ///
    /// chromedriver did not start, or refused the session.
    pub async fn start(browser: &Browser, width: u32, height: u32) -> Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|error| WebDriverError::new("transport", error.to_string()))?;
        let driver = Chromedriver::start(&browser.chromedriver, &http).await?;
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": browser.chromium.display().to_string(),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-dev-shm-usage",
                            "--disable-gpu",
                            "--no-first-run",
                            "--hide-scrollbars",
                            format!("--window-size={width},{height}"),
                        ],
                    },
                    "goog:loggingPrefs": { "browser": "ALL" },
                }
            }
        });
        let base = format!("http://{}", driver.address);
        let value = command(
            &http,
            reqwest::Method::POST,
            &format!("{base}/session"),
            Some(capabilities),
        )
        .await?;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError::new("session", format!("no session id in {value}")))?
            .to_owned();
        let session = Self {
            http,
            url: format!("{base}/session/{id}"),
            id: Some(id),
            driver,
        };
        session.set_window_size(width, height).await?;
        Ok(session)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        command(&self.http, method, &format!("{}{path}", self.url), body).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Closes the window and the session, then stops chromedriver.
    pub async fn quit(mut self) {
        if self.id.take().is_some() {
            let _ = self.call(reqwest::Method::DELETE, "", None).await;
        }
    }

    /// Sets the window's size, so that the page's viewport is `width` CSS pixels
    /// wide.
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await?;
        Ok(())
    }

    /// Navigates to `url` and waits for the page to load.
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await?;
        Ok(())
    }

    /// The first element matching the CSS `selector`.
    ///
    /// # Errors
    ///
    /// `no such element` when none matches.
    pub async fn find(&self, selector: &str) -> Result<Element> {
        element(&self.post("/element", css(selector)).await?)
    }

    /// Every element matching the CSS `selector`, in document order.
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn find_all(&self, selector: &str) -> Result<Vec<Element>> {
        elements(&self.post("/elements", css(selector)).await?)
    }

    /// The first element under `parent` matching `selector`.
    ///
    /// # Errors
    ///
    /// `no such element` when none matches.
    pub async fn find_in(&self, parent: &Element, selector: &str) -> Result<Element> {
        element(
            &self
                .post(&format!("/element/{}/element", parent.0), css(selector))
                .await?,
        )
    }

    /// Clicks `element` (scrolled into view first), as a person would.
    ///
    /// # Errors
    ///
    /// `element not interactable` when it is hidden or covered, and others.
    pub async fn click(&self, element: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await?;
        Ok(())
    }

    /// Empties an input.
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn clear(&self, element: &Element) -> Result<()> {
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await?;
        Ok(())
    }

    /// Types `text` into `element`, key by key.
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn send_keys(&self, element: &Element, text: &str) -> Result<()> {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await?;
        Ok(())
    }

    /// The text of `element` as rendered (empty while it is hidden).
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn text(&self, element: &Element) -> Result<String> {
        let value = self.get(&format!("/element/{}/text", element.0)).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// An attribute of `element`, as written in the markup (`None` when absent).
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn attribute(&self, element: &Element, name: &str) -> Result<Option<String>> {
        let value = self
            .get(&format!("/element/{}/attribute/{name}", element.0))
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// A DOM property of `element` (`value`, `checked`, ...).
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn property(&self, element: &Element, name: &str) -> Result<Value> {
        self.get(&format!("/element/{}/property/{name}", element.0))
            .await
    }

    /// Whether `element` is displayed.
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn displayed(&self, element: &Element) -> Result<bool> {
        let value = self
            .get(&format!("/element/{}/displayed", element.0))
            .await?;
        Ok(value == true)
    }

    /// Runs `script` (a function body: `return ...;`) in the page with `args`.
    ///
    /// # Errors
    ///
    /// `javascript error` when it throws, and others.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// A PNG of the viewport.
    ///
    /// # Errors
    ///
    /// WebDriver's, or a screenshot that is not base64.
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let value = self.get("/screenshot").await?;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .map_err(|error| WebDriverError::new("screenshot", error.to_string()))
    }

    /// The browser console's entries since the last call (chromedriver's `se/log`).
    ///
    /// # Errors
    ///
    /// WebDriver's.
    pub async fn browser_log(&self) -> Result<Vec<LogEntry>> {
        let value = self.post("/se/log", json!({ "type": "browser" })).await?;
        let entries = value.as_array().cloned().unwrap_or_default();
        Ok(entries
            .iter()
            .map(|entry| LogEntry {
                level: entry["level"].as_str().unwrap_or_default().to_owned(),
                source: entry["source"].as_str().unwrap_or_default().to_owned(),
                message: entry["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// The first element matching `selector`, if there is one and it is displayed.
    ///
    /// # Errors
    ///
    /// WebDriver's, but not `no such element` nor `stale element reference`.
    pub async fn visible(&self, selector: &str) -> Result<Option<Element>> {
        match self.find(selector).await {
            Ok(element) => match self.displayed(&element).await {
                Ok(true) => Ok(Some(element)),
                Ok(false) => Ok(None),
                Err(error) if error.error == "stale element reference" => Ok(None),
                Err(error) => Err(error),
            },
            Err(error) if error.error == "no such element" => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Polls `probe` until it answers `Some`, for at most [`WAIT`]. A probe that
    /// fails is asked again (the page may be changing under it).
    ///
    /// # Errors
    ///
    /// After [`WAIT`]: an error naming `state`, with the probe's last error and the
    /// page's visible text.
    pub async fn wait_for<T, F, Fut>(&self, state: &str, mut probe: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let deadline = Instant::now() + WAIT;
        let mut last_error = None;
        loop {
            match probe().await {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {}
                Err(error) => last_error = Some(error),
            }
            if Instant::now() > deadline {
                let page = self
                    .execute(
                        "return document.body ? document.body.innerText : '';",
                        vec![],
                    )
                    .await
                    .map(|text| text.as_str().unwrap_or_default().to_owned())
                    .unwrap_or_else(|error| format!("(unreadable: {error})"));
                let last =
                    last_error.map_or_else(String::new, |error| format!(" (last error: {error})"));
                return Err(WebDriverError::new(
                    "timeout",
                    format!("waited {WAIT:?} for {state}{last}; the page shows:\n{page}"),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until an element matching `selector` is displayed, and returns it.
    ///
    /// # Errors
    ///
    /// As [`Session::wait_for`], naming `state`.
    pub async fn wait_visible(&self, selector: &str, state: &str) -> Result<Element> {
        self.wait_for(state, || self.visible(selector)).await
    }

    /// Waits until the element matching `selector` is displayed with text that
    /// contains `expected`, and returns its whole text.
    ///
    /// # Errors
    ///
    /// As [`Session::wait_for`], naming `state`.
    pub async fn wait_text(&self, selector: &str, expected: &str, state: &str) -> Result<String> {
        self.wait_for(state, || async move {
            let Some(element) = self.visible(selector).await? else {
                return Ok(None);
            };
            let text = self.text(&element).await?;
            Ok(text.contains(expected).then_some(text))
        })
        .await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A test that failed before `quit`: close the session without the async
        // runtime (which may be unwinding), with a plain blocking request.
        if self.id.take().is_some() {
            let path = self.url.trim_start_matches("http://");
            let path = &path[path.find('/').unwrap_or(path.len())..];
            let _ = delete_blocking(self.driver.address, path);
        }
    }
}

/// `DELETE path` on `address`, HTTP/1.1, waiting at most 10 s for the answer.
fn delete_blocking(address: SocketAddr, path: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(())
}

/// Sends a WebDriver command; its `value` on success.
async fn command(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|error| WebDriverError::new("transport", error.to_string()))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|error| WebDriverError::new("transport", error.to_string()))?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(WebDriverError::new(
            value["error"].as_str().unwrap_or("unknown error"),
            value["message"].as_str().unwrap_or_default(),
        ))
    }
}

fn css(selector: &str) -> Value {
    json!({ "using": "css selector", "value": selector })
}

fn element(value: &Value) -> Result<Element> {
    value[ELEMENT_KEY]
        .as_str()
        .map(|id| Element(id.to_owned()))
        .ok_or_else(|| WebDriverError::new("invalid element", value.to_string()))
}

fn elements(value: &Value) -> Result<Vec<Element>> {
    value
        .as_array()
        .map(|items| items.iter().map(element).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
}
