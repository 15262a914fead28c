//! The token endpoints over HTTP, written once and run in-process against every
//! adapter's mount through an [`EndpointsHarness`].
//!
//! # The contract a harness fulfils
//!
//! [`EndpointsHarness::build`] receives a `TokenEndpoints<TestUser>` and mounts it
//! with the adapter's own one-line mount under `/api`, so that the routes are
//! `POST /api/token`, `POST /api/logout`, `POST /api/logout-all`, `GET /api/tokens`,
//! `POST /api/tokens` and `DELETE /api/tokens/{id}`. [`EndpointsHarness::send`] sends
//! one [`EndpointRequest`] in-process (method, path, header lines in order, body, and
//! the peer address when given) and returns what came back.
//!
//! The users: [`TestCredentials`] knows `alice` and `bob`, password `pw`, whose user
//! ids are their names. The policy's scopes are `read`, `write` and `tokens`; a login
//! carries all three.

use std::future::Future;
use std::net::SocketAddr;

use authtoken::endpoints::{
    CheckCredentials, EndpointError, TokenEndpoints, TokenPaths, TokenPolicy,
};
use authtoken::{Authenticator, MemoryStore};
use serde_json::{Value, json};

use crate::adapter::{TestResponse, TestUser, TestUsers};

/// A request body: raw bytes and their content type.
#[derive(Debug, Clone, Default)]
struct Body {
    content_type: Option<&'static str>,
    bytes: Vec<u8>,
}

/// One request to the endpoints.
#[derive(Debug, Clone)]
pub struct EndpointRequest {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The path, such as `/api/token`.
    pub path: String,
    /// Header lines, names in lower case (a `content-type` for the body included).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The peer address, when the case names one.
    pub client: Option<SocketAddr>,
}

impl EndpointRequest {
    fn new(method: &'static str, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            client: None,
        }
    }

    fn token(mut self, token: &str) -> Self {
        self.headers
            .push(("authorization".into(), format!("Token {token}")));
        self
    }

    fn body(mut self, body: Body) -> Self {
        if let Some(content_type) = body.content_type {
            self.headers
                .push(("content-type".into(), content_type.to_owned()));
        }
        self.body = body.bytes;
        self
    }

    fn json(self, value: &Value) -> Self {
        self.body(Body {
            content_type: Some("application/json"),
            bytes: value.to_string().into_bytes(),
        })
    }

    fn from(mut self, client: SocketAddr) -> Self {
        self.client = Some(client);
        self
    }
}

/// How the cases drive one adapter's mount of the endpoints.
pub trait EndpointsHarness: Sized {
    /// The adapter's name, shown in failure messages.
    const NAME: &'static str;

    /// Mounts `endpoints` under `/api` with the adapter's own mount.
    fn build(endpoints: TokenEndpoints<TestUser>) -> impl Future<Output = Self>;

    /// Sends one request in-process.
    fn send(&self, request: EndpointRequest) -> impl Future<Output = TestResponse>;
}

/// `alice` and `bob`, password `pw`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestCredentials;

impl CheckCredentials for TestCredentials {
    type Error = std::convert::Infallible;

    async fn check(&self, username: &str, password: &str) -> Result<Option<String>, Self::Error> {
        let known = matches!(username, "alice" | "bob") && password == "pw";
        Ok(known.then(|| username.to_owned()))
    }
}

/// The endpoints of the cases, on a memory store.
pub fn endpoints() -> TokenEndpoints<TestUser> {
    endpoints_with(TokenPolicy::new(["read", "write", "tokens"]))
}

fn endpoints_with(policy: TokenPolicy) -> TokenEndpoints<TestUser> {
    let auth = Authenticator::builder(MemoryStore::new(), TestUsers)
        .build()
        .expect("valid settings");
    TokenEndpoints::new(auth, TestCredentials, policy).expect("a valid policy")
}

fn parse(response: &TestResponse) -> Value {
    serde_json::from_str(&response.body)
        .unwrap_or_else(|error| panic!("a JSON body ({error}): {:?}", response.body))
}

fn assert_json<H: EndpointsHarness>(response: &TestResponse, status: u16, body: &Value) {
    assert_eq!(response.status, status, "{}: {response:?}", H::NAME);
    assert_eq!(
        response.content_type.as_deref(),
        Some("application/json"),
        "{}: {response:?}",
        H::NAME
    );
    assert_eq!(&parse(response), body, "{}", H::NAME);
}

async fn login<H: EndpointsHarness>(app: &H, username: &str) -> String {
    let response = app
        .send(
            EndpointRequest::new("POST", "/api/token")
                .json(&json!({"username": username, "password": "pw"})),
        )
        .await;
    assert_eq!(response.status, 200, "{}: {response:?}", H::NAME);
    parse(&response)["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// The cases, one function each.
pub mod cases {
    use super::*;

    /// JSON and form logins each get a new token, which then authenticates.
    pub async fn login_json_or_form<H: EndpointsHarness>() {
        let app = H::build(endpoints()).await;
        let token = login(&app, "alice").await;
        let form = app
            .send(EndpointRequest::new("POST", "/api/token").body(Body {
                content_type: Some("application/x-www-form-urlencoded"),
                bytes: b"username=alice&password=pw".to_vec(),
            }))
            .await;
        assert_eq!(form.status, 200, "{}: {form:?}", H::NAME);
        let second = parse(&form)["token"].as_str().expect("a token").to_owned();
        assert_ne!(token, second);
        let list = app
            .send(EndpointRequest::new("GET", "/api/tokens").token(&second))
            .await;
        assert_eq!(list.status, 200, "{}: {list:?}", H::NAME);
        assert_eq!(parse(&list).as_array().expect("an array").len(), 2);
    }

    /// Every login error is JSON: fields, credentials, a body the framework could not
    /// read, a media type it does not take.
    pub async fn login_errors_are_json<H: EndpointsHarness>() {
        let app = H::build(endpoints()).await;
        let post = || EndpointRequest::new("POST", "/api/token");
        let response = app.send(post().json(&json!({}))).await;
        assert_json::<H>(
            &response,
            400,
            &json!({"username": ["This field is required."], "password": ["This field is required."]}),
        );
        let response = app
            .send(post().json(&json!({"username": "alice", "password": "nope"})))
            .await;
        assert_json::<H>(
            &response,
            400,
            &json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
        );
        let response = app
            .send(post().body(Body {
                content_type: Some("application/json"),
                bytes: b"{not json".to_vec(),
            }))
            .await;
        assert_eq!(response.status, 400, "{}: {response:?}", H::NAME);
        assert!(parse(&response)["detail"].is_string(), "{response:?}");
        // A JSON array is not a form, even one with the fields in order.
        let response = app.send(post().json(&json!(["alice", "pw"]))).await;
        assert_eq!(response.status, 400, "{}: {response:?}", H::NAME);
        assert!(parse(&response)["detail"].is_string(), "{response:?}");
        let response = app
            .send(post().json(&json!({"username": 5, "password": "pw"})))
            .await;
        assert_eq!(response.status, 400, "{}: {response:?}", H::NAME);
        assert!(parse(&response)["detail"].is_string(), "{response:?}");
        let response = app
            .send(post().body(Body {
                content_type: Some("text/plain"),
                bytes: b"alice pw".to_vec(),
            }))
            .await;
        assert_eq!(response.status, 415, "{}: {response:?}", H::NAME);
        assert!(parse(&response)["detail"].is_string(), "{response:?}");
    }

    /// From the 6th failure within a minute, 429 with `Retry-After`.
    pub async fn failed_logins_are_throttled<H: EndpointsHarness>() {
        let app = H::build(endpoints()).await;
        let client: SocketAddr = "192.0.2.7:4000".parse().expect("an address");
        let wrong = || {
            EndpointRequest::new("POST", "/api/token")
                .json(&json!({"username": "bob", "password": "nope"}))
                .from(client)
        };
        for _ in 0..5 {
            assert_eq!(app.send(wrong()).await.status, 400, "{}", H::NAME);
        }
        let response = app.send(wrong()).await;
        assert_eq!(response.status, 429, "{}: {response:?}", H::NAME);
        let retry_after: u64 = response
            .retry_after
            .as_deref()
            .and_then(|value| value.parse().ok())
            .expect("Retry-After");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }

    /// Logout ends the token used; logout-all every token of the user.
    pub async fn logout_and_logout_all<H: EndpointsHarness>() {
        let app = H::build(endpoints()).await;
        let (a, b, c) = (
            login(&app, "alice").await,
            login(&app, "alice").await,
            login(&app, "alice").await,
        );
        let list = |token: &str| EndpointRequest::new("GET", "/api/tokens").token(token);
        let response = app
            .send(EndpointRequest::new("POST", "/api/logout").token(&a))
            .await;
        assert_eq!(response.status, 204, "{}: {response:?}", H::NAME);
        assert_eq!(app.send(list(&a)).await.status, 401, "{}", H::NAME);
        assert_eq!(app.send(list(&b)).await.status, 200, "{}", H::NAME);
        let response = app
            .send(EndpointRequest::new("POST", "/api/logout-all").token(&b))
            .await;
        assert_eq!(response.status, 204, "{}: {response:?}", H::NAME);
        for token in [&b, &c] {
            assert_eq!(app.send(list(token)).await.status, 401, "{}", H::NAME);
        }
    }

    /// Without a token each protected endpoint answers the core's 401, with its
    /// challenge.
    pub async fn protected_endpoints_need_a_token<H: EndpointsHarness>() {
        let app = H::build(endpoints()).await;
        for (method, path) in [
            ("POST", "/api/logout"),
            ("POST", "/api/logout-all"),
            ("GET", "/api/tokens"),
            ("POST", "/api/tokens"),
            ("DELETE", "/api/tokens/1"),
        ] {
            let response = app.send(EndpointRequest::new(method, path)).await;
            assert_json::<H>(
                &response,
                401,
                &json!({"detail": "Authentication credentials were not provided."}),
            );
            assert_eq!(response.www_authenticate.len(), 1, "{method} {path}");
        }
    }

    /// Create, list and revoke personal tokens, as GitHub's settings page does.
    pub async fn personal_tokens<H: EndpointsHarness>() {
        let app = H::build(endpoints()).await;
        let token = login(&app, "alice").await;
        let response = app
            .send(
                EndpointRequest::new("POST", "/api/tokens")
                    .token(&token)
                    .json(&json!({"name": "ci", "scopes": ["read"], "expires_in": 3600})),
            )
            .await;
        assert_eq!(response.status, 201, "{}: {response:?}", H::NAME);
        let created = parse(&response);
        let secret = created["token"].as_str().expect("the secret").to_owned();
        assert_eq!(created["name"], "ci");
        assert_eq!(created["scopes"], json!(["read"]));
        assert_eq!(created["current"], false);
        let id = created["id"].as_i64().expect("an id");

        let response = app
            .send(EndpointRequest::new("GET", "/api/tokens").token(&token))
            .await;
        let list = parse(&response);
        let items = list.as_array().expect("an array");
        assert_eq!(items.len(), 2, "{list}");
        assert_eq!(items[0]["id"], id, "newest first: {list}");
        assert_eq!(items[1]["current"], true);
        assert!(!response.body.contains(&secret), "never the secret");

        // The personal token lacks `tokens`, and cannot mint a stronger one anyway.
        let response = app
            .send(EndpointRequest::new("GET", "/api/tokens").token(&secret))
            .await;
        assert_eq!(response.status, 403, "{}: {response:?}", H::NAME);

        let response = app
            .send(EndpointRequest::new("DELETE", &format!("/api/tokens/{id}")).token(&token))
            .await;
        assert_eq!(response.status, 204, "{}: {response:?}", H::NAME);
        for missing in [id.to_string(), "999999".into(), "abc".into()] {
            let response = app
                .send(
                    EndpointRequest::new("DELETE", &format!("/api/tokens/{missing}")).token(&token),
                )
                .await;
            assert_json::<H>(&response, 404, &json!({"detail": "Not found."}));
        }
        let response = app
            .send(EndpointRequest::new("GET", "/api/tokens").token(&secret))
            .await;
        assert_eq!(response.status, 401, "revoked: {}: {response:?}", H::NAME);
    }

    /// A new token's fields: JSON errors, and no scope the caller lacks.
    pub async fn new_token_rules<H: EndpointsHarness>() {
        let app = H::build(endpoints()).await;
        let token = login(&app, "bob").await;
        let create = |body: Value| {
            EndpointRequest::new("POST", "/api/tokens")
                .token(&token)
                .json(&body)
        };
        let response = app.send(create(json!({"scopes": ["read"]}))).await;
        assert_json::<H>(
            &response,
            400,
            &json!({"name": ["This field is required."]}),
        );
        let response = app
            .send(create(json!({"name": "x", "expires_in": 59})))
            .await;
        assert_json::<H>(
            &response,
            400,
            &json!({"expires_in": ["Ensure this value is between 60 and 31536000 seconds."]}),
        );
        let response = app
            .send(create(json!({"name": "x", "scopes": ["admin"]})))
            .await;
        assert_json::<H>(
            &response,
            400,
            &json!({"scopes": ["Unknown scope: \"admin\"."]}),
        );
        for body in [
            json!({"name": "x", "expires_in": -1}),
            json!(["x", ["read"], 60]),
        ] {
            let response = app.send(create(body)).await;
            assert_eq!(response.status, 400, "{}: {response:?}", H::NAME);
            assert!(parse(&response)["detail"].is_string(), "{response:?}");
        }
        let list = app
            .send(EndpointRequest::new("GET", "/api/tokens").token(&token))
            .await;
        assert_eq!(
            parse(&list).as_array().map(Vec::len),
            Some(1),
            "{}: only the login token: {list:?}",
            H::NAME
        );
        // A token with `tokens` but not `write` may not create a `write` token.
        let narrow = app_token_with(&app, "bob", &["read", "tokens"]).await;
        let response = app
            .send(
                EndpointRequest::new("POST", "/api/tokens")
                    .token(&narrow)
                    .json(&json!({"name": "x", "scopes": ["write"]})),
            )
            .await;
        assert_json::<H>(
            &response,
            403,
            &json!({"detail": "You do not have permission to perform this action."}),
        );
    }

    /// An application's own error shape covers every error, the 401 included.
    pub async fn the_error_shape_is_the_applications<H: EndpointsHarness>() {
        let endpoints = endpoints().error_body(|error: &EndpointError| {
            authtoken::bytes::Bytes::from(json!({"error": {"status": error.status()}}).to_string())
        });
        let app = H::build(endpoints).await;
        let response = app
            .send(EndpointRequest::new("POST", "/api/token").json(&json!({})))
            .await;
        assert_json::<H>(&response, 400, &json!({"error": {"status": 400}}));
        let response = app.send(EndpointRequest::new("GET", "/api/tokens")).await;
        assert_json::<H>(&response, 401, &json!({"error": {"status": 401}}));
        assert_eq!(response.www_authenticate.len(), 1, "{}", H::NAME);
    }

    /// The policy's paths are where the endpoints answer; the default ones are then
    /// unknown (404, or 405 where another route owns the path).
    pub async fn paths_are_the_policys<H: EndpointsHarness>() {
        let paths = TokenPaths {
            login: "/auth/login".into(),
            logout: "/auth/logout".into(),
            logout_all: "/auth/logout/everywhere".into(),
            tokens: "/keys".into(),
        };
        let policy = TokenPolicy::new(["read", "write", "tokens"]).paths(paths);
        let app = H::build(endpoints_with(policy)).await;
        let body = json!({"username": "alice", "password": "pw"});
        let response = app
            .send(EndpointRequest::new("POST", "/api/token").json(&body))
            .await;
        assert_eq!(response.status, 404, "{}: {response:?}", H::NAME);
        let response = app
            .send(EndpointRequest::new("POST", "/api/auth/login").json(&body))
            .await;
        assert_eq!(response.status, 200, "{}: {response:?}", H::NAME);
        let token = parse(&response)["token"]
            .as_str()
            .expect("a token")
            .to_owned();
        let second = app
            .send(EndpointRequest::new("POST", "/api/auth/login").json(&body))
            .await;
        let second = parse(&second)["token"]
            .as_str()
            .expect("a token")
            .to_owned();

        let list = app
            .send(EndpointRequest::new("GET", "/api/keys").token(&token))
            .await;
        assert_eq!(list.status, 200, "{}: {list:?}", H::NAME);
        let ids: Vec<i64> = parse(&list)
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| item["id"].as_i64().expect("an id"))
            .collect();
        assert_eq!(ids.len(), 2, "{}", H::NAME);
        let gone = app
            .send(EndpointRequest::new("GET", "/api/tokens").token(&token))
            .await;
        assert_eq!(gone.status, 404, "{}: {gone:?}", H::NAME);
        let revoke = format!("/api/keys/{}", ids[0]);
        let response = app
            .send(EndpointRequest::new("DELETE", &revoke).token(&token))
            .await;
        assert_eq!(response.status, 204, "{}: {response:?}", H::NAME);
        for (path, caller) in [
            ("/api/auth/logout", &token),
            ("/api/auth/logout/everywhere", &second),
        ] {
            let response = app
                .send(EndpointRequest::new("POST", path).token(caller))
                .await;
            assert!(
                matches!(response.status, 204 | 401),
                "{} {path}: {response:?}",
                H::NAME
            );
        }
        let response = app
            .send(EndpointRequest::new("GET", "/api/keys").token(&token))
            .await;
        assert_eq!(response.status, 401, "{}: {response:?}", H::NAME);
    }

    /// A token with `scopes` for `user`, made by a login token through the endpoint.
    async fn app_token_with<H: EndpointsHarness>(app: &H, user: &str, scopes: &[&str]) -> String {
        let token = login(app, user).await;
        let response = app
            .send(
                EndpointRequest::new("POST", "/api/tokens")
                    .token(&token)
                    .json(&json!({"name": "narrow", "scopes": scopes})),
            )
            .await;
        assert_eq!(response.status, 201, "{response:?}");
        parse(&response)["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }
}

/// Expands into one `#[tokio::test]` per case of [`cases`] for `$harness`.
#[macro_export]
macro_rules! endpoint_cases {
    ($module:ident, $harness:ty) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::endpoint_cases!(@tests $harness [
                login_json_or_form,
                login_errors_are_json,
                failed_logins_are_throttled,
                logout_and_logout_all,
                protected_endpoints_need_a_token,
                personal_tokens,
                new_token_rules,
                the_error_shape_is_the_applications,
                paths_are_the_policys,
            ]);
        }
    };
    (@tests $harness:ty [$($case:ident),* $(,)?]) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::endpoints::cases::$case::<$harness>().await;
            }
        )*
    };
}
