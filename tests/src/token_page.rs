//! The token management page (`GET /tokens`) in a real browser: headless Chromium
//! driven through chromedriver ([`crate::webdriver`]), against each example started
//! over TCP on SQLite by its [`Launcher`].
//!
//! [`token_page_cases!`](crate::token_page_cases) expands into one `#[tokio::test]`
//! per function of [`cases`], so that a failure names the case and the example:
//!
//! ```text
//! authtoken_behaviour::token_page_cases!(axum_example, AxumLauncher, "axum");
//! ```
//!
//! Without chromedriver or Chromium each case says `SKIPPED` on stderr and passes;
//! `.ci/run` installs both (`apt-get install chromium chromium-driver`), so CI always
//! runs them. Every wait polls the page for a state, up to [`webdriver::WAIT`]; no
//! assertion depends on how long something took. Screenshots are written to
//! `target/token-page/<framework>-<state>-<width>.png` (under `CARGO_TARGET_DIR` when
//! it is set).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::demo_api::{Backend, Client, Launcher, RunningServer, TestDatabase, launch};
use crate::webdriver::{self, Browser, Element, Session, WebDriverError};

/// What a case returns: a WebDriver failure or a page that never reached a state.
pub type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The browser, or `None` after a loud `SKIPPED` line when chromedriver or Chromium
/// is missing.
pub fn browser() -> Option<Browser> {
    static ANNOUNCED: std::sync::Once = std::sync::Once::new();
    match Browser::find() {
        Ok(browser) => Some(browser),
        Err(missing) => {
            let line = format!(
                "SKIPPED: the token page's browser tests ({missing}): install chromium \
                 chromium-driver (apt-get install -y chromium chromium-driver), or set {} \
                 and {}",
                webdriver::CHROMEDRIVER_VAR,
                webdriver::CHROMIUM_VAR
            );
            // Once past the harness's output capture, and once per case.
            ANNOUNCED.call_once(|| {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "{line}");
            });
            eprintln!("{line}");
            None
        }
    }
}

/// Where screenshots go: `token-page` under `CARGO_TARGET_DIR`, or under the
/// workspace's `target`.
pub fn screenshot_dir() -> PathBuf {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_owned();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    };
    target.join("token-page")
}

/// The page in one browser session, and how a person uses it.
struct Page<'a> {
    session: &'a Session,
    base: String,
}

/// Fails a case with `message` unless `condition` holds.
fn ensure(condition: bool, message: impl Into<String>) -> Result<(), WebDriverError> {
    if condition {
        Ok(())
    } else {
        Err(WebDriverError {
            error: "assertion".to_owned(),
            message: message.into(),
        })
    }
}

impl<'a> Page<'a> {
    fn new(session: &'a Session, address: SocketAddr) -> Self {
        Self {
            session,
            base: format!("http://{address}"),
        }
    }

    async fn open(&self) -> Result<(), WebDriverError> {
        self.session.goto(&format!("{}/tokens", self.base)).await?;
        self.session
            .wait_visible("#sign-in-form", "the sign-in form")
            .await?;
        Ok(())
    }

    /// Replaces the text of the input `selector` with `text`.
    async fn fill(&self, selector: &str, text: &str) -> Result<(), WebDriverError> {
        let input = self.session.find(selector).await?;
        self.session.clear(&input).await?;
        self.session.send_keys(&input, text).await
    }

    async fn click(&self, selector: &str) -> Result<(), WebDriverError> {
        let element = self.session.find(selector).await?;
        self.session.click(&element).await
    }

    async fn sign_in(&self, username: &str, password: &str) -> Result<(), WebDriverError> {
        self.fill("#username", username).await?;
        self.fill("#password", password).await?;
        self.click("#sign-in-button").await
    }

    /// Signed in, the list loaded, and the scopes to give offered.
    async fn wait_signed_in(&self) -> Result<(), WebDriverError> {
        self.session
            .wait_visible(
                "#token-list li.token.current",
                "the token list with this browser's token",
            )
            .await?;
        self.session
            .wait_visible("#scopes input[type=checkbox]", "the scope checkboxes")
            .await?;
        Ok(())
    }

    /// Fills and submits the new-token form: `expiry` is `7`, `30` or `90` days.
    async fn create(
        &self,
        name: &str,
        scopes: &[&str],
        expiry: &str,
    ) -> Result<(), WebDriverError> {
        self.fill("#token-name", name).await?;
        for scope in scopes {
            let checkbox = self.session.find(&format!("#scope-{scope}")).await?;
            if self.session.property(&checkbox, "checked").await? != true {
                self.session.click(&checkbox).await?;
            }
        }
        self.click(&format!("#expiry option[value=\"{expiry}\"]"))
            .await?;
        self.click("#create-button").await
    }

    /// The new token, once the page shows it.
    async fn wait_created(&self) -> Result<String, WebDriverError> {
        let session = self.session;
        session
            .wait_for("the new token, shown once", || async move {
                if session.visible("#created").await?.is_none() {
                    return Ok(None);
                }
                let input = session.find("#new-token").await?;
                let value = session.property(&input, "value").await?;
                Ok(value
                    .as_str()
                    .filter(|token| !token.is_empty())
                    .map(str::to_owned))
            })
            .await
    }

    async fn dismiss_created(&self) -> Result<(), WebDriverError> {
        self.click("#dismiss-created").await?;
        let session = self.session;
        session
            .wait_for("the new token hidden", || async move {
                Ok(session.visible("#created").await?.is_none().then_some(()))
            })
            .await
    }

    /// The list's card of the token named `name`, if shown.
    async fn card(&self, name: &str) -> Result<Option<Element>, WebDriverError> {
        for card in self.session.find_all("#token-list li.token").await? {
            let heading = self.session.find_in(&card, ".token-name").await?;
            if self.session.text(&heading).await? == name {
                return Ok(Some(card));
            }
        }
        Ok(None)
    }

    async fn wait_card(&self, name: &str) -> Result<Element, WebDriverError> {
        self.session
            .wait_for(&format!("the token {name:?} in the list"), || {
                self.card(name)
            })
            .await
    }

    /// The text of one of a card's times: `created`, `last-used` or `expires`.
    async fn card_time(&self, card: &Element, kind: &str) -> Result<String, WebDriverError> {
        let time = self
            .session
            .find_in(card, &format!("time[data-kind=\"{kind}\"]"))
            .await?;
        self.session.text(&time).await
    }

    /// Clicks the card's Revoke button, checks that the confirmation names the
    /// token, and confirms (or cancels).
    async fn revoke(&self, name: &str, confirm: bool) -> Result<(), WebDriverError> {
        let card = self.wait_card(name).await?;
        let button = self.session.find_in(&card, "button.revoke").await?;
        self.session.click(&button).await?;
        self.session
            .wait_text(
                "#revoke-dialog #revoke-text",
                &format!("“{name}”"),
                "the revoke confirmation naming the token",
            )
            .await?;
        let choice = if confirm {
            "#revoke-confirm"
        } else {
            "#revoke-cancel"
        };
        self.click(choice).await?;
        let session = self.session;
        session
            .wait_for("the revoke confirmation closed", || async move {
                Ok(session
                    .visible("#revoke-dialog")
                    .await?
                    .is_none()
                    .then_some(()))
            })
            .await
    }

    async fn wait_no_card(&self, name: &str) -> Result<(), WebDriverError> {
        self.session
            .wait_for(
                &format!("the token {name:?} gone from the list"),
                || async move { Ok(self.card(name).await?.is_none().then_some(())) },
            )
            .await
    }

    /// The token this tab signed in with, from its `sessionStorage`.
    async fn session_token(&self) -> Result<Option<String>, WebDriverError> {
        let value = self
            .session
            .execute("return sessionStorage.getItem('authtoken.token');", vec![])
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Waits for the sign-in form with a message containing `expected`.
    async fn wait_signed_out(&self, expected: &str, state: &str) -> Result<(), WebDriverError> {
        self.session
            .wait_text("#sign-in-message", expected, state)
            .await?;
        self.session.wait_visible("#sign-in-form", state).await?;
        ensure(
            self.session.visible("#manage").await?.is_none(),
            "the token list is still shown after signing out",
        )?;
        ensure(
            self.session_token().await?.is_none(),
            "sessionStorage still holds a token after signing out",
        )
    }

    /// The console's entries so far that are errors of the page itself: a script
    /// error, `console.error`, a CSP violation. (`network` entries are HTTP error
    /// statuses, which some cases provoke on purpose.)
    async fn script_errors(&self) -> Result<Vec<String>, WebDriverError> {
        Ok(self
            .session
            .browser_log()
            .await?
            .into_iter()
            .filter(|entry| entry.level == "SEVERE" && entry.source != "network")
            .map(|entry| format!("{} {}: {}", entry.level, entry.source, entry.message))
            .collect())
    }

    async fn assert_no_script_errors(&self) -> Result<(), WebDriverError> {
        let errors = self.script_errors().await?;
        ensure(
            errors.is_empty(),
            format!("the console has errors: {errors:#?}"),
        )
    }

    /// Resizes the window until the page is `width` CSS pixels wide, and checks that
    /// nothing overflows sideways.
    async fn resize(&self, width: u32, height: u32) -> Result<(), WebDriverError> {
        self.session.set_window_size(width, height).await?;
        let session = self.session;
        session
            .wait_for(&format!("a viewport {width} px wide"), || async move {
                let inner = session.execute("return window.innerWidth;", vec![]).await?;
                Ok((inner == json!(width)).then_some(()))
            })
            .await?;
        let overflow = session
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await?;
        ensure(
            overflow.as_i64().is_some_and(|pixels| pixels <= 0),
            format!("at {width} px the page is {overflow} px too wide"),
        )
    }

    /// A screenshot saved as `<framework>-<state>-<width>.png`, checked to be a PNG
    /// of that width.
    async fn screenshot(
        &self,
        framework: &str,
        state: &str,
        width: u32,
    ) -> Result<PathBuf, Box<dyn std::error::Error + Send + Sync>> {
        let png = self.session.screenshot().await?;
        let signature = b"\x89PNG\r\n\x1a\n";
        ensure(
            png.len() > 1000 && png.starts_with(signature) && &png[12..16] == b"IHDR",
            format!("{state} at {width} px: not a PNG ({} bytes)", png.len()),
        )?;
        let png_width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        let png_height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
        ensure(
            png_width == width && png_height > 0,
            format!("{state} at {width} px: the PNG is {png_width}x{png_height}"),
        )?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{framework}-{state}-{width}.png"));
        std::fs::write(&path, &png)?;
        ensure(
            std::fs::metadata(&path)?.len() == png.len() as u64,
            format!("{} was not written whole", path.display()),
        )?;
        Ok(path)
    }
}

/// A fresh SQLite database, the example's server on it, and an HTTP client.
async fn start<L: Launcher>() -> (TestDatabase, RunningServer, Client) {
    let database = TestDatabase::create(&Backend::Sqlite).await;
    let server = launch::<L>(&database).await;
    let client = Client::new(server.address());
    (database, server, client)
}

/// The cases, each generic over the [`Launcher`] of one example, with the
/// framework's name for messages and file names.
pub mod cases {
    use super::*;

    const PASSWORD: &str = "correct horse battery staple";
    const WIDE: (u32, u32) = (1280, 1000);
    const NARROW: (u32, u32) = (375, 900);

    /// Signs in on the page, creates a `read` token there, uses it from the test,
    /// revokes it through the confirm dialog (after cancelling once), and revokes
    /// the browser's own token, which signs the page out.
    pub async fn create_use_and_revoke<L: Launcher>(
        browser: &Browser,
        _framework: &str,
    ) -> Outcome {
        let (_database, server, client) = start::<L>().await;
        client.register_ok("ada", PASSWORD).await;
        let session = Session::start(browser, WIDE.0, WIDE.1).await?;
        let page = Page::new(&session, server.address());
        page.open().await?;
        page.sign_in("ada", PASSWORD).await?;
        page.wait_signed_in().await?;
        session
            .wait_text("#signed-in-as", "ada", "the signed-in user named")
            .await?;

        // Markup in a name is text, never HTML.
        let name = r#"deploy <b>bot</b> & "quotes""#;
        page.create(name, &["read"], "30").await?;
        let token = page.wait_created().await?;
        assert!(token.starts_with("atk_"), "{token:?}");
        session
            .wait_text(
                "#created .warning",
                "will not be shown again",
                "the warning that the token is shown once",
            )
            .await?;
        let card = page.wait_card(name).await?;
        let injected = session
            .execute(
                "return document.querySelectorAll('#token-list b').length;",
                vec![],
            )
            .await?;
        assert_eq!(injected, json!(0), "a name was written as HTML");
        assert!(session.text(&card).await?.contains("read"));
        let hint = session.find_in(&card, "code").await?;
        let hint = session.text(&hint).await?;
        assert!(
            hint.len() >= 4 && hint.len() <= 8 && token.ends_with(&hint[hint.len() - 4..]),
            "hint {hint:?} for {token:?}"
        );

        client.assert_user(&token, "ada").await;

        page.revoke(name, false).await?;
        page.wait_card(name).await?;
        client.assert_user(&token, "ada").await;

        page.revoke(name, true).await?;
        page.wait_no_card(name).await?;
        session
            .wait_text("#status", "Revoked", "the revocation confirmed")
            .await?;
        let reply = client.me(&token).await;
        assert_eq!(
            reply.status, 401,
            "the revoked token still works: {reply:?}"
        );

        // This browser's own token: revoking it signs the page out.
        let own = page
            .session_token()
            .await?
            .expect("a token in sessionStorage");
        let current = session
            .find("#token-list li.token.current .token-name")
            .await?;
        let current_name = session.text(&current).await?;
        page.revoke(&current_name, true).await?;
        page.wait_signed_out(
            "signed out",
            "signed out after revoking this browser's token",
        )
        .await?;
        assert_eq!(client.me(&own).await.status, 401);

        page.assert_no_script_errors().await?;
        drop(page);
        session.quit().await;
        Ok(())
    }

    /// A token created on the page is what `GET /api/tokens` lists (name, scopes,
    /// expiry); the API's errors show where they belong: a wrong password on the
    /// sign-in form, an over-long name by the name field, a token revoked elsewhere
    /// back to the sign-in form, a broken server in the banner.
    pub async fn created_token_matches_the_api_and_errors_show<L: Launcher>(
        browser: &Browser,
        _framework: &str,
    ) -> Outcome {
        let (database, server, client) = start::<L>().await;
        client.register_ok("ada", PASSWORD).await;
        let session = Session::start(browser, WIDE.0, WIDE.1).await?;
        let page = Page::new(&session, server.address());
        page.open().await?;

        page.sign_in("ada", "not the password").await?;
        session
            .wait_text(
                "#sign-in-form #sign-in-error",
                "Unable to log in with provided credentials.",
                "the wrong-password error on the sign-in form",
            )
            .await?;
        assert!(session.visible("#manage").await?.is_none());

        page.sign_in("ada", PASSWORD).await?;
        page.wait_signed_in().await?;

        let long = "n".repeat(101);
        page.create(&long, &["read"], "30").await?;
        session
            .wait_text(
                "#name-error",
                "no more than 100 characters",
                "the name's error from the server",
            )
            .await?;
        let beside = session
            .execute(
                "const error = document.getElementById('name-error');
                 return error.closest('.field').contains(document.getElementById('token-name'));",
                vec![],
            )
            .await?;
        assert_eq!(
            beside,
            json!(true),
            "the name's error is not by the name field"
        );
        assert!(session.visible("#created").await?.is_none());

        // An expiry on a date: the date field, bounded to the coming year, and asked for.
        page.click("#expiry option[value=\"date\"]").await?;
        let date = session
            .wait_visible("#expiry-date", "the expiry date field")
            .await?;
        let bounds = (
            session.attribute(&date, "min").await?,
            session.attribute(&date, "max").await?,
        );
        assert!(
            matches!(&bounds, (Some(min), Some(max)) if min.len() == 10 && max > min),
            "{bounds:?}"
        );
        page.click("#create-button").await?;
        session
            .wait_text(
                "#expiry-error",
                "Choose a date",
                "the expiry's error when no date is chosen",
            )
            .await?;

        let name = "nightly backup";
        page.create(name, &["read", "write"], "90").await?;
        let created_at = time::OffsetDateTime::now_utc();
        let token = page.wait_created().await?;
        for stale in ["#name-error", "#expiry-error", "#expiry-date"] {
            assert!(
                session.visible(stale).await?.is_none(),
                "{stale} is still shown"
            );
        }

        let login = client.login_ok("ada", PASSWORD).await;
        let reply = client
            .get("/api/tokens", Some(&crate::demo_api::token_header(&login)))
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let list = reply.json_body();
        let item = list
            .as_array()
            .and_then(|items| items.iter().find(|item| item["name"] == name))
            .unwrap_or_else(|| panic!("{name:?} is not in {list}"));
        assert_eq!(item["scopes"], json!(["read", "write"]), "{item}");
        let expires = item["expires"].as_str().expect("an expiry");
        let expires =
            time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)?;
        let expected = created_at + time::Duration::days(90);
        assert!(
            (expires - expected).abs() < time::Duration::minutes(1),
            "expires {expires}, expected about {expected}"
        );
        assert!(!reply.text.contains(&token), "the list shows a secret");
        client.assert_user(&token, "ada").await;

        // The page's token revoked elsewhere: its next call lands on the sign-in form.
        let own = page
            .session_token()
            .await?
            .expect("a token in sessionStorage");
        let reply = client
            .post("/api/logout", Some(&crate::demo_api::token_header(&own)))
            .await;
        assert_eq!(reply.status, 204, "{reply:?}");
        page.dismiss_created().await?;
        page.create("after logout", &[], "7").await?;
        page.wait_signed_out("signed out", "the sign-in form after a 401")
            .await?;

        // The server failing: a banner, not a blank page.
        let backdoor = crate::demo_api::Backdoor::open(&database).await;
        backdoor.break_token_store().await;
        backdoor.close().await;
        page.sign_in("ada", PASSWORD).await?;
        session
            .wait_text(
                "#banner",
                "The server is unavailable, try again in",
                "the unavailable banner",
            )
            .await?;
        session
            .wait_visible("#sign-in-form", "the sign-in form under the banner")
            .await?;

        page.assert_no_script_errors().await?;
        drop(page);
        session.quit().await;
        Ok(())
    }

    /// The page, its script and its stylesheet carry the security headers; a whole
    /// visit (sign in, create, copy, revoke, sign out) leaves the console without a
    /// single error; every control has a label; the token lives in sessionStorage
    /// only, and signing out makes it stop working.
    pub async fn console_is_clean_and_headers_are_set<L: Launcher>(
        browser: &Browser,
        _framework: &str,
    ) -> Outcome {
        let (_database, server, client) = start::<L>().await;
        let http = reqwest::Client::builder().no_proxy().build()?;
        for (path, content_type) in [
            ("/tokens", "text/html"),
            ("/tokens/tokens.js", "text/javascript"),
            ("/tokens/tokens.css", "text/css"),
        ] {
            let response = http
                .get(format!("http://{}{path}", server.address()))
                .send()
                .await?;
            assert_eq!(response.status(), 200, "{path}");
            let headers = response.headers();
            let only = |name: &str| -> String {
                let values: Vec<_> = headers.get_all(name).iter().collect();
                assert_eq!(values.len(), 1, "{path}: {name}: {values:?}");
                values[0].to_str().expect("ASCII").to_owned()
            };
            assert!(only("content-type").starts_with(content_type), "{path}");
            let csp = only("content-security-policy");
            for directive in [
                "default-src 'self'",
                "frame-ancestors 'none'",
                "form-action 'self'",
                "base-uri 'none'",
            ] {
                assert!(csp.contains(directive), "{path}: {directive} not in {csp}");
            }
            for loose in ["unsafe-inline", "unsafe-eval", "*", "data:"] {
                assert!(!csp.contains(loose), "{path}: {loose} in {csp}");
            }
            assert_eq!(only("x-content-type-options"), "nosniff", "{path}");
            assert_eq!(only("referrer-policy"), "no-referrer", "{path}");
            assert!(only("cache-control").contains("no-store"), "{path}");
            assert!(!response.text().await?.is_empty(), "{path}");
        }

        client.register_ok("ada", PASSWORD).await;
        let session = Session::start(browser, WIDE.0, WIDE.1).await?;
        let page = Page::new(&session, server.address());
        page.open().await?;
        page.sign_in("ada", PASSWORD).await?;
        page.wait_signed_in().await?;
        let unlabelled = session
            .execute(
                "return [...document.querySelectorAll('input, select, textarea')]
                    .filter((control) => !control.labels || control.labels.length === 0)
                    .map((control) => control.id || control.name);",
                vec![],
            )
            .await?;
        assert_eq!(unlabelled, json!([]), "controls without a label");

        page.create("laptop", &["read"], "30").await?;
        page.wait_created().await?;
        page.click("#copy-token").await?;
        let driven = &session;
        driven
            .wait_for("the copy button's answer", || async move {
                let status = driven.find("#copy-status").await?;
                Ok(Some(driven.text(&status).await?).filter(|text| !text.is_empty()))
            })
            .await?;
        page.dismiss_created().await?;
        let card = page.wait_card("laptop").await?;
        assert_eq!(page.card_time(&card, "created").await?, "just now");
        assert_eq!(page.card_time(&card, "last-used").await?, "never");
        assert_eq!(page.card_time(&card, "expires").await?, "in 29 days");
        page.revoke("laptop", true).await?;
        page.wait_no_card("laptop").await?;

        let own = page
            .session_token()
            .await?
            .expect("a token in sessionStorage");
        let stored = session
            .execute(
                "return [localStorage.length, document.cookie, sessionStorage.length];",
                vec![],
            )
            .await?;
        assert_eq!(stored, json!([0, "", 2]), "what the page keeps");
        client.assert_user(&own, "ada").await;
        page.click("#sign-out").await?;
        page.wait_signed_out("You signed out", "signed out").await?;
        assert_eq!(
            client.me(&own).await.status,
            401,
            "signing out left the token working"
        );

        let errors: Vec<Value> = session
            .browser_log()
            .await?
            .into_iter()
            .filter(|entry| entry.level == "SEVERE")
            .map(|entry| json!([entry.source, entry.message]))
            .collect();
        assert!(errors.is_empty(), "the console has errors: {errors:#?}");
        drop(page);
        session.quit().await;
        Ok(())
    }

    /// Screenshots of the list and of a just-created token, 375 and 1280 px wide,
    /// with nothing overflowing sideways.
    pub async fn screenshots<L: Launcher>(browser: &Browser, framework: &str) -> Outcome {
        let (_database, server, client) = start::<L>().await;
        client.register_ok("ada", PASSWORD).await;
        let session = Session::start(browser, WIDE.0, WIDE.1).await?;
        let page = Page::new(&session, server.address());
        page.open().await?;
        page.sign_in("ada", PASSWORD).await?;
        page.wait_signed_in().await?;
        for (name, scopes, expiry) in [
            ("CI deploys", &["read", "write"][..], "90"),
            ("Laptop", &["read"][..], "7"),
        ] {
            page.create(name, scopes, expiry).await?;
            page.wait_created().await?;
            page.dismiss_created().await?;
            page.wait_card(name).await?;
        }

        let mut saved = Vec::new();
        for (width, height) in [NARROW, WIDE] {
            page.resize(width, height).await?;
            session
                .execute(
                    "window.scrollTo(0, 0);
                     document.getElementById('tokens').scrollIntoView({ block: 'nearest' });",
                    vec![],
                )
                .await?;
            saved.push(page.screenshot(framework, "list", width).await?);
        }

        page.create("Deploy bot", &["read"], "30").await?;
        page.wait_created().await?;
        for (width, height) in [NARROW, WIDE] {
            page.resize(width, height).await?;
            session.execute("window.scrollTo(0, 0);", vec![]).await?;
            saved.push(page.screenshot(framework, "created", width).await?);
        }
        for path in &saved {
            eprintln!("screenshot: {}", path.display());
        }

        page.assert_no_script_errors().await?;
        drop(page);
        session.quit().await;
        Ok(())
    }
}

/// Expands into one `#[tokio::test]` per token-page case, in a module named
/// `$module`, against the example `$launcher` starts; `$framework` names it in
/// messages and screenshot files. Each case skips, loudly, without a browser.
#[macro_export]
macro_rules! token_page_cases {
    ($module:ident, $launcher:ty, $framework:literal) => {
        $crate::token_page_cases!(@expand $module, $launcher, $framework, [
            create_use_and_revoke,
            created_token_matches_the_api_and_errors_show,
            console_is_clean_and_headers_are_set,
            screenshots,
        ]);
    };
    (@expand $module:ident, $launcher:ty, $framework:literal, [$($case:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(browser) = $crate::token_page::browser() else {
                        return;
                    };
                    if let Err(error) =
                        $crate::token_page::cases::$case::<$launcher>(&browser, $framework).await
                    {
                        panic!("{} example, {}: {error}", $framework, stringify!($case));
                    }
                }
            )*
        }
    };
}
