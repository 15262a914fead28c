//! What the demo's test files share: registering, logging in through the library's
//! endpoints, and authenticating with a token.

#![allow(dead_code)]

use authtoken::endpoints::{EndpointError, LoginForm};
use authtoken::{AuthError, Identity};
use authtoken_demo::{Demo, DemoError, DemoUser};

/// Registers `username`; the token the registration answered.
pub async fn register(demo: &Demo, username: &str, password: &str) -> Result<String, DemoError> {
    let registered = demo.register(username, password).await?;
    Ok(registered.token().expose_secret().to_owned())
}

/// Logs in through the demo's token endpoints (`POST /api/token`); the new token.
pub async fn login(demo: &Demo, username: &str, password: &str) -> Result<String, EndpointError> {
    let answer = demo
        .endpoints()
        .login(None, LoginForm::new(username, password))
        .await?;
    Ok(answer.token().expose_secret().to_owned())
}

/// Authenticates `token` with the demo's authenticator.
pub async fn identity(demo: &Demo, token: &str) -> Result<Identity<DemoUser>, AuthError> {
    let header = format!("Token {token}");
    demo.authenticator()
        .authenticate(Some(header.as_bytes()))
        .await
        .map(|identity| identity.expect("a token was sent"))
}
