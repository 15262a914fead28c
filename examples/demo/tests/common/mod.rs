//! What the demo's test files share: request bodies, reading a token from a reply,
//! and authenticating with it.

#![allow(dead_code)]

use authtoken::{AuthError, Identity};
use authtoken_demo::{Demo, DemoUser};

pub const JSON: Option<&[u8]> = Some(b"application/json");

/// A JSON body of `username` and `password`.
pub fn body(username: &str, password: &str) -> Vec<u8> {
    serde_json::json!({ "username": username, "password": password })
        .to_string()
        .into_bytes()
}

/// The token of a login or registration reply.
pub fn token(reply: &authtoken_demo::Reply) -> String {
    let value: serde_json::Value =
        serde_json::from_str(reply.body().expect("a body")).expect("JSON");
    value["token"].as_str().expect("a token").to_owned()
}

/// Authenticates `token` with the demo's authenticator.
pub async fn identity(demo: &Demo, token: &str) -> Result<Identity<DemoUser>, AuthError> {
    let header = format!("Token {token}");
    demo.authenticator()
        .authenticate(Some(header.as_bytes()))
        .await
        .map(|identity| identity.expect("a token was sent"))
}
