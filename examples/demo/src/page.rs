//! The token management page (`GET /tokens`): static HTML, CSS and one script, a
//! client of the token endpoints under `/api`. Each example serves [`PAGE`] at
//! [`PATH`] and the files [`file`] finds at `/tokens/{name}`, every one with
//! [`PageFile::headers`]; nothing else of the page runs on the server.
//!
//! ```
//! use authtoken_demo::page;
//!
//! assert_eq!(page::PATH, "/tokens");
//! let script = page::file("tokens.js").expect("the script");
//! assert!(script.headers().contains(&("Content-Type", "text/javascript; charset=utf-8")));
//! assert!(page::file("../Cargo.toml").is_none());
//! ```

/// Where the page is served; its files are under `/tokens/`.
pub const PATH: &str = "/tokens";

/// The page's Content-Security-Policy: its own script, stylesheet and API only; no
/// inline script or style, no plugins, no framing, no `<base>`, forms only to itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The headers every response of the page carries, besides its content type: the
/// [`CONTENT_SECURITY_POLICY`], no MIME sniffing, no referrer, no caching.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
];

/// One file of the page: its bytes and content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFile {
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: &'static str,
}

impl PageFile {
    /// Every header of the answer: `Content-Type`, then [`SECURITY_HEADERS`].
    pub fn headers(&self) -> [(&'static str, &'static str); 5] {
        let [csp, nosniff, referrer, cache] = SECURITY_HEADERS;
        [
            ("Content-Type", self.content_type),
            csp,
            nosniff,
            referrer,
            cache,
        ]
    }
}

/// The page itself, served at [`PATH`].
pub const PAGE: PageFile = PageFile {
    content_type: "text/html; charset=utf-8",
    body: include_str!("../assets/tokens.html"),
};

/// The page's script, `/tokens/tokens.js`.
pub const SCRIPT: PageFile = PageFile {
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("../assets/tokens.js"),
};

/// The page's stylesheet, `/tokens/tokens.css`.
pub const STYLESHEET: PageFile = PageFile {
    content_type: "text/css; charset=utf-8",
    body: include_str!("../assets/tokens.css"),
};

/// The page's icon, `/tokens/favicon.svg`.
pub const ICON: PageFile = PageFile {
    content_type: "image/svg+xml",
    body: include_str!("../assets/favicon.svg"),
};

/// The file at `/tokens/{name}`, if the page has one by that name.
pub fn file(name: &str) -> Option<PageFile> {
    match name {
        "tokens.js" => Some(SCRIPT),
        "tokens.css" => Some(STYLESHEET),
        "favicon.svg" => Some(ICON),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_its_files_and_nothing_inline() {
        assert!(
            PAGE.body
                .contains(r#"<script src="/tokens/tokens.js" defer></script>"#)
        );
        assert!(PAGE.body.contains(r#"href="/tokens/tokens.css""#));
        assert!(PAGE.body.contains(r#"href="/tokens/favicon.svg""#));
        assert!(!PAGE.body.contains("style="), "inline style");
        assert!(!PAGE.body.contains("<style"), "inline style");
        assert_eq!(PAGE.body.matches("<script").count(), 1, "inline script");
        assert!(!SCRIPT.body.contains("innerHTML"));
    }
}
