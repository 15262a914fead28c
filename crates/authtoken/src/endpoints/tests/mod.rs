//! The token endpoints' logic and policy, on the memory store and a manual clock:
//! logging in and out ([`login`]), personal tokens and the policy ([`tokens`]).

mod login;
mod tokens;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;
use crate::{AuthError, ManualClock, MemoryStore, UserIdLoader};

pub(super) const DAY: Duration = Duration::from_secs(24 * 3600);
pub(super) const CLIENT: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
pub(super) const OTHER_CLIENT: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));

/// `alice` (id 1) and `bob` (id 2), password `pw`; fails when `down` is set.
#[derive(Clone, Default)]
pub(super) struct Users {
    pub(super) down: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the users table is down")]
pub(super) struct Down;

impl CheckCredentials for Users {
    type Error = Down;

    async fn check(&self, username: &str, password: &str) -> Result<Option<String>, Down> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Down);
        }
        let id = match username {
            "alice" => "1",
            "bob" => "2",
            _ => return Ok(None),
        };
        Ok((password == "pw").then(|| id.to_owned()))
    }

    fn retry_after(&self, _: &Down) -> Option<u64> {
        Some(3)
    }
}

pub(super) struct Setup {
    pub(super) endpoints: TokenEndpoints<String>,
    pub(super) users: Users,
    pub(super) clock: Arc<ManualClock>,
}

pub(super) fn setup() -> Setup {
    setup_with(TokenPolicy::new(["read", "write", "tokens"]))
}

pub(super) fn setup_with(policy: TokenPolicy) -> Setup {
    let clock = Arc::new(ManualClock::starting_now());
    let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .clock(clock.clone())
        .token_ttl(Some(DAY))
        .sliding_expiry(true)
        .cache_capacity(0)
        .build()
        .expect("valid settings");
    let users = Users::default();
    let endpoints = TokenEndpoints::new(auth, users.clone(), policy).expect("a valid policy");
    Setup {
        endpoints,
        users,
        clock,
    }
}

impl Setup {
    pub(super) async fn login(&self, username: &str) -> String {
        let body = self
            .endpoints
            .login(CLIENT, LoginForm::new(username, "pw"))
            .await
            .expect("logged in");
        body.token().expose_secret().to_owned()
    }

    pub(super) async fn identity(&self, token: &str) -> Result<Identity<String>, AuthError> {
        self.endpoints
            .authenticator()
            .authenticate_credential(token.as_bytes())
            .await
    }

    pub(super) async fn me(&self, token: &str) -> Identity<String> {
        self.identity(token).await.expect("a valid token")
    }

    pub(super) async fn create(
        &self,
        token: &str,
        form: NewTokenForm,
    ) -> Result<CreatedToken, EndpointError> {
        let me = self.me(token).await;
        self.endpoints.create(&me, form).await
    }
}

pub(super) fn named(name: &str) -> NewTokenForm {
    NewTokenForm {
        name: Some(name.into()),
        ..NewTokenForm::default()
    }
}

pub(super) fn field_errors(error: &EndpointError, field: &str) -> Vec<String> {
    match error {
        EndpointError::Fields(errors) => errors.get(field).map(str::to_owned).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}
