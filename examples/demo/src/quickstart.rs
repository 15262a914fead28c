//! The one screen printed at start.

use std::net::SocketAddr;

/// The quickstart: where the demo listens, and curl lines that register, log in (and
/// keep the token in `$TOKEN`), ask who is logged in, and log out; and the token
/// management page's address. A password in
/// `database_url` is shown as `***`.
pub fn quickstart(address: SocketAddr, database_url: &str) -> String {
    let database_url = crate::config::redact_password(database_url);
    let base = format!("http://{address}");
    let json = "-H 'Content-Type: application/json'";
    let credentials = r#"'{"username":"alice","password":"correct horse battery staple"}'"#;
    format!(
        "\
authtoken demo listening on {base}  (database: {database_url})

  # 1. register (201 and a token; 409 if alice exists already)
  curl -i -X POST {base}/api/register {json} -d {credentials}

  # 2. log in: a new token per login, kept in $TOKEN (form bodies work too)
  TOKEN=$(curl -s -X POST {base}/api/token {json} -d {credentials} | sed -E 's/.*\"token\":\"([^\"]*)\".*/\\1/'); echo \"$TOKEN\"

  # 3. who am I (\"Bearer $TOKEN\" works as well)
  curl -i {base}/api/me -H \"Authorization: Token $TOKEN\"

  # 4. log out: 204, and this token stops working (step 3 now answers 401)
  curl -i -X POST {base}/api/logout -H \"Authorization: Token $TOKEN\"

Manage tokens in a browser: {base}/tokens (sign in as alice).
Also: POST /api/logout-all (every token of the user), DELETE /api/me (the account),
GET /api/health. PORT and DATABASE_URL override the defaults; with
DATABASE_URL=postgres://user:password@host/db several servers share users and tokens,
and a logout on one reaches them all. Ctrl-C stops.
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_address_and_every_step() {
        let text = quickstart(
            "127.0.0.1:4321".parse().expect("address"),
            "sqlite::memory:",
        );
        for needle in [
            "http://127.0.0.1:4321/api/register",
            "http://127.0.0.1:4321/api/token",
            "http://127.0.0.1:4321/api/me",
            "http://127.0.0.1:4321/api/logout",
            "http://127.0.0.1:4321/tokens",
            "sqlite::memory:",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        assert!(text.lines().count() <= 24, "one screen");
    }

    #[test]
    fn never_shows_a_database_password() {
        let text = quickstart(
            "127.0.0.1:4321".parse().expect("address"),
            "postgres://app:hunter2@localhost/app",
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("postgres://app:***@localhost/app"), "{text}");
    }
}
