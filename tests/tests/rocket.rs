//! The adapter cases against authtoken-rocket: guards over managed state, the
//! crate's catchers, in-process through `rocket::local::asynchronous::Client`.

use authtoken::Authenticator;
use authtoken_behaviour::adapter::{Harness, TestRequest, TestResponse, TestUser, WRITE_SCOPE};
use authtoken_rocket::{
    AuthFairing, AuthRejection, Authenticated, MaybeAuthenticated, RequireScope, ScopeName,
};
use rocket::config::LogLevel;
use rocket::http::{Header, Method};
use rocket::local::asynchronous::Client;
use rocket::{Config, get, routes};

struct Write;

impl ScopeName for Write {
    const NAME: &'static str = WRITE_SCOPE;
}

#[get("/required")]
fn required(user: Authenticated<TestUser>) -> String {
    user.into_inner().user().id.clone()
}

#[get("/optional")]
fn optional(user: MaybeAuthenticated<TestUser>) -> String {
    user.into_inner().map_or_else(
        || "anonymous".to_owned(),
        |identity| identity.user().id.clone(),
    )
}

#[get("/scoped")]
fn scoped(user: RequireScope<Write, TestUser>) -> String {
    user.into_inner().user().id.clone()
}

#[get("/checked")]
fn checked(user: Authenticated<TestUser>) -> Result<String, AuthRejection> {
    user.require_scope(WRITE_SCOPE)?;
    Ok(user.into_inner().user().id.clone())
}

#[get("/twice")]
fn twice(first: Authenticated<TestUser>, second: MaybeAuthenticated<TestUser>) -> String {
    let second = second.into_inner().expect("the required guard passed");
    let first = first.into_inner();
    assert_eq!(first.user(), second.user(), "two guards disagree");
    first.user().id.clone()
}

struct RocketHarness {
    client: Client,
}

impl Harness for RocketHarness {
    const NAME: &'static str = "rocket";
    // Rocket's local client takes header values as `&str`, and Rocket drops values
    // that are not UTF-8 before any guard sees them.
    const NON_UTF8_HEADERS: bool = false;

    async fn build(authenticator: Authenticator<TestUser>) -> Self {
        // `rocket::custom` installs Rocket's own `log` logger when none is set yet.
        // The tests of this binary run in parallel, so the capture that
        // `no_token_in_any_log_line` needs must win that race every time: every
        // Rocket built here is built after it.
        authtoken_behaviour::logs::capture();
        let config = Config {
            log_level: LogLevel::Off,
            ..Config::debug_default()
        };
        let rocket = rocket::custom(config)
            .mount("/", routes![required, optional, scoped, checked, twice])
            .register("/", authtoken_rocket::catchers())
            .attach(AuthFairing::new(authenticator));
        let client = Client::untracked(rocket).await.expect("a valid rocket");
        Self { client }
    }

    async fn send(&self, request: TestRequest) -> TestResponse {
        let mut local = self.client.get(request.path);
        if let Some(client) = request.client {
            local = local.remote(client);
        }
        for (name, value) in request.headers {
            let value = String::from_utf8(value).expect("UTF-8 header values only");
            local.add_header(Header::new(name, value));
        }
        read_response(local.dispatch().await).await
    }
}

async fn read_response(response: rocket::local::asynchronous::LocalResponse<'_>) -> TestResponse {
    let status = response.status().code;
    let headers = response.headers();
    let www_authenticate = headers.get("WWW-Authenticate").map(str::to_owned).collect();
    let content_type = headers.get_one("Content-Type").map(str::to_owned);
    let retry_after = headers.get_one("Retry-After").map(str::to_owned);
    let body = response.into_string().await.unwrap_or_default();
    TestResponse {
        status,
        www_authenticate,
        content_type,
        retry_after,
        body,
    }
}

authtoken_behaviour::adapter_cases!(rocket_adapter, RocketHarness);

/// The token endpoints mounted under `/api` with `token_routes`, driven by the local
/// client.
struct RocketEndpoints {
    client: Client,
}

impl authtoken_behaviour::endpoints::EndpointsHarness for RocketEndpoints {
    const NAME: &'static str = "rocket";

    async fn build(endpoints: authtoken::endpoints::TokenEndpoints<TestUser>) -> Self {
        authtoken_behaviour::logs::capture();
        let config = Config {
            log_level: LogLevel::Off,
            ..Config::debug_default()
        };
        let rocket = rocket::custom(config)
            .manage(endpoints.authenticator().clone())
            .mount("/api", authtoken_rocket::token_routes(&endpoints))
            .manage(endpoints);
        let client = Client::untracked(rocket).await.expect("a valid rocket");
        Self { client }
    }

    async fn send(&self, request: authtoken_behaviour::endpoints::EndpointRequest) -> TestResponse {
        let method: Method = request.method.parse().expect("a known method");
        let mut local = self.client.req(method, request.path).body(request.body);
        if let Some(client) = request.client {
            local = local.remote(client);
        }
        for (name, value) in request.headers {
            local.add_header(Header::new(name, value));
        }
        read_response(local.dispatch().await).await
    }
}

authtoken_behaviour::endpoint_cases!(rocket_endpoints, RocketEndpoints);

/// The whole suite once more, with every log line of the process captured at TRACE
/// level (Rocket's own `log` records included): not one holds a token.
#[tokio::test]
async fn no_token_in_any_log_line() {
    let logs = authtoken_behaviour::logs::capture();
    authtoken_behaviour::adapter_cases!(@run_all RocketHarness).await;
    logs.assert_no_token(
        &authtoken_behaviour::adapter::issued_tokens(),
        &authtoken::TokenPrefix::default(),
    );
}
