//! The extractors on their own (the state's authenticator) and with the layer, in
//! the router shapes axum offers. The error table itself is covered once for every
//! adapter by the behaviour crate.
#![cfg(feature = "axum")]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use authtoken::{
    AuthError, Authenticator, Challenge, InvalidTokenLimit, IssueOptions, MemoryStore, Rejection,
    UserIdLoader,
};
use authtoken_axum::{AuthLayer, AuthRejection, Authenticated, Authentication, MaybeAuthenticated};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, State};
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use common::setup;
use http::{Request, StatusCode};
use tower::ServiceExt;

fn request(path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().uri(path);
    if let Some(value) = authorization {
        builder = builder.header("authorization", value);
    }
    builder.body(Body::empty()).expect("a valid request")
}

async fn send(app: &Router, path: &str, authorization: Option<&str>) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(request(path, authorization))
        .await
        .expect("infallible");
    common::read(response).await
}

async fn me(user: Authenticated<String>) -> String {
    user.user().clone()
}

async fn maybe(user: Option<Authenticated<String>>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.user().clone())
}

/// No layer: each extractor authenticates with the authenticator it finds in the
/// router's state, once a request however many extractors ask.
#[tokio::test]
async fn the_extractors_authenticate_with_the_states_authenticator_without_a_layer() {
    async fn both(
        a: Authenticated<String>,
        b: MaybeAuthenticated<String>,
        Extension(c): Extension<Authentication<String>>,
    ) -> String {
        let b = b.0.expect("authenticated");
        let c = c.identity().expect("authenticated").user().clone();
        format!("{} {} {c}", a.user(), b.user())
    }
    let setup = setup().await;
    let app = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/both", get(both))
        .with_state(setup.auth.clone());

    assert_eq!(
        send(&app, "/me", Some(&setup.header)).await,
        (StatusCode::OK, "alice".into())
    );
    assert_eq!(setup.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(
        send(&app, "/both", Some(&setup.header)).await,
        (StatusCode::OK, "alice alice alice".into())
    );
    // The cache is off here: one lookup for the request, not one per extractor.
    assert_eq!(setup.lookups.load(Ordering::SeqCst), 2);
    assert_eq!(
        send(&app, "/me", None).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Authentication credentials were not provided."}"#.into()
        )
    );
    assert_eq!(
        send(&app, "/maybe", None).await,
        (StatusCode::OK, "anonymous".into())
    );
    assert_eq!(
        send(&app, "/maybe", Some("Token atk_typo")).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Invalid token."}"#.into()
        )
    );
}

/// The extractors called by hand, as a custom extractor built on them would.
#[tokio::test]
async fn from_request_parts_reads_the_header_and_keeps_the_outcome() {
    let setup = setup().await;
    let (mut parts, ()) = request("/", Some(&setup.header)).map(drop).into_parts();
    let user = Authenticated::<String>::from_request_parts(&mut parts, &setup.auth)
        .await
        .expect("a valid token");
    assert_eq!(user.user(), "alice");
    let stored = parts.extensions.get::<Authentication<String>>();
    assert_eq!(
        stored.and_then(|a| a.identity()).map(|i| i.user().as_str()),
        Some("alice")
    );

    let (mut parts, ()) = request("/", None).map(drop).into_parts();
    let rejection = Authenticated::<String>::from_request_parts(&mut parts, &setup.auth)
        .await
        .expect_err("no credentials");
    assert_eq!(rejection.error(), Some(&AuthError::NotProvided));
    assert_eq!(rejection.status(), 401);
}

#[tokio::test]
async fn option_of_authenticated_is_anonymous_without_credentials_and_refuses_bad_ones() {
    let setup = setup().await;
    let app = Router::new()
        .route("/maybe", get(maybe))
        .layer(AuthLayer::new(setup.auth.clone()))
        .with_state(setup.auth.clone());
    assert_eq!(
        send(&app, "/maybe", None).await,
        (StatusCode::OK, "anonymous".into())
    );
    assert_eq!(
        send(&app, "/maybe", Some("Basic YWxpY2U6c2VjcmV0")).await,
        (StatusCode::OK, "anonymous".into())
    );
    assert_eq!(
        send(&app, "/maybe", Some(&setup.header)).await,
        (StatusCode::OK, "alice".into())
    );
    assert_eq!(
        send(&app, "/maybe", Some("Token atk_typo")).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Invalid token."}"#.into()
        )
    );
}

#[tokio::test]
async fn require_authentication_refuses_before_any_handler() {
    let setup = setup().await;
    let app = Router::new()
        .route("/open", get(|| async { "reached" }))
        .layer(AuthLayer::new(setup.auth.clone()).require_authentication());
    let response = app
        .clone()
        .oneshot(request("/open", None))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="api""#
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        common::read(response).await.1,
        r#"{"detail":"Authentication credentials were not provided."}"#
    );

    assert_eq!(
        send(&app, "/open", Some("Bearer atk_typo")).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Invalid token."}"#.into()
        )
    );
    assert_eq!(
        send(&app, "/open", Some(&setup.header)).await,
        (StatusCode::OK, "reached".into())
    );

    // A well-formed token this store does not hold: refused after asking the store.
    let stranger = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .build()
        .expect("valid settings")
        .issue("mallory", IssueOptions::new())
        .await
        .expect("issued");
    let lookups = setup.lookups.load(Ordering::SeqCst);
    assert_eq!(
        send(
            &app,
            "/open",
            Some(&format!("Token {}", stranger.token().expose_secret()))
        )
        .await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Invalid token."}"#.into()
        )
    );
    assert_eq!(setup.lookups.load(Ordering::SeqCst), lookups + 1);
}

#[tokio::test]
async fn route_layer_nested_routers_and_state() {
    #[derive(Clone)]
    struct Greeting(&'static str);

    #[derive(Clone, FromRef)]
    struct AppState {
        greeting: Greeting,
        auth: Authenticator<String>,
    }

    async fn greet(State(greeting): State<Greeting>, user: Authenticated<String>) -> String {
        format!("{} {}", greeting.0, user.user())
    }

    let setup = setup().await;
    let api = Router::new()
        .route("/greet", get(greet))
        .route_layer(AuthLayer::new(setup.auth.clone()))
        .with_state(AppState {
            greeting: Greeting("hello"),
            auth: setup.auth.clone(),
        });
    let app = Router::new()
        .nest("/api", api)
        .route("/health", get(|| async { "ok" }));

    assert_eq!(
        send(&app, "/api/greet", Some(&setup.header)).await,
        (StatusCode::OK, "hello alice".into())
    );
    assert_eq!(
        send(&app, "/api/greet", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Routes outside the layer neither authenticate nor refuse.
    assert_eq!(
        send(&app, "/health", Some("Token atk_typo")).await,
        (StatusCode::OK, "ok".into())
    );
    // An unmatched route is a 404, not a 401, under route_layer.
    assert_eq!(
        send(&app, "/api/nowhere", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn on_a_single_handler_with_handler_layer() {
    use axum::handler::Handler;

    #[derive(Clone, FromRef)]
    struct AppState {
        greeting: &'static str,
        auth: Authenticator<String>,
    }

    async fn greet(State(greeting): State<&'static str>, user: Authenticated<String>) -> String {
        format!("{greeting} {}", user.user())
    }

    let setup = setup().await;
    let app = Router::new()
        .route(
            "/greet",
            get(greet.layer(AuthLayer::new(setup.auth.clone()))).post(|| async { "no auth" }),
        )
        .with_state(AppState {
            greeting: "hello",
            auth: setup.auth.clone(),
        });

    assert_eq!(
        send(&app, "/greet", Some(&setup.header)).await,
        (StatusCode::OK, "hello alice".into())
    );
    assert_eq!(send(&app, "/greet", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&app, "/greet", Some("Token atk_typo")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The other method of the same path is not behind the layer.
    let response = app
        .clone()
        .oneshot(
            Request::post("/greet")
                .header("Authorization", "Token atk_typo")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn stacked_layers_and_many_extractors_authenticate_once() {
    async fn many(
        a: Authenticated<String>,
        b: MaybeAuthenticated<String>,
        c: Option<Authenticated<String>>,
        Extension(d): Extension<Authentication<String>>,
    ) -> String {
        let b = b.0.expect("authenticated");
        let c = c.expect("authenticated");
        let d = d.identity().expect("authenticated").user().clone();
        format!("{} {} {} {d}", a.user(), b.user(), c.user())
    }
    let setup = setup().await;
    let app = Router::new()
        .route("/many", get(many))
        .route_layer(AuthLayer::new(setup.auth.clone()))
        .layer(AuthLayer::new(setup.auth.clone()))
        .with_state(setup.auth.clone());
    assert_eq!(
        send(&app, "/many", Some(&setup.header)).await,
        (StatusCode::OK, "alice alice alice alice".into())
    );
    assert_eq!(setup.lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_required_layer_inside_another_refuses_what_the_outer_one_stored() {
    let setup = setup().await;
    let app = Router::new()
        .route("/open", get(|| async { "reached" }))
        .route_layer(AuthLayer::new(setup.auth.clone()).require_authentication())
        .layer(AuthLayer::new(setup.auth.clone()));
    assert_eq!(
        send(&app, "/open", None).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Authentication credentials were not provided."}"#.into()
        )
    );
    assert_eq!(
        send(&app, "/open", Some("Token atk_typo")).await,
        (
            StatusCode::UNAUTHORIZED,
            r#"{"detail":"Invalid token."}"#.into()
        )
    );
    // The handler extracts nothing: only the inner layer refuses above. A valid
    // token is authenticated by the outer layer alone: one store lookup a request
    // (the cache is off here), none from the inner layer.
    for requests in 1..=2 {
        assert_eq!(
            send(&app, "/open", Some(&setup.header)).await,
            (StatusCode::OK, "reached".into())
        );
        assert_eq!(setup.lookups.load(Ordering::SeqCst), requests);
    }
}

/// Sends a bad token from `peer`, naming `real_ip` in `X-Real-IP`; the status.
async fn bad_token_from(app: &Router, peer: [u8; 4], real_ip: &str) -> StatusCode {
    let request = Request::builder()
        .uri("/me")
        .header("authorization", "Token atk_typo")
        .header("x-real-ip", real_ip)
        .extension(ConnectInfo(SocketAddr::from((peer, 40000))))
        .body(Body::empty())
        .expect("a valid request");
    app.clone()
        .oneshot(request)
        .await
        .expect("infallible")
        .status()
}

#[tokio::test]
async fn the_limiter_counts_the_peer_or_the_trusted_header_the_core_reads() {
    let limit = InvalidTokenLimit::new(1, Duration::from_secs(60));
    let app = |limit: InvalidTokenLimit| {
        let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
            .invalid_token_limiter(Some(limit))
            .build()
            .expect("valid settings");
        Router::new()
            .route("/me", get(me))
            .layer(AuthLayer::new(auth.clone()))
            .with_state(auth)
    };

    // No trusted header: the peer address alone names the client, whatever
    // X-Real-IP says.
    let by_peer = app(limit);
    let peer = [192, 0, 2, 1];
    assert_eq!(bad_token_from(&by_peer, peer, "198.51.100.1").await, 401);
    assert_eq!(bad_token_from(&by_peer, peer, "198.51.100.2").await, 429);
    assert_eq!(
        bad_token_from(&by_peer, [192, 0, 2, 2], "198.51.100.2").await,
        401
    );

    // A trusted header: its address names the client, behind one proxy peer.
    let by_header = app(limit.trusted_client_ip_header("x-real-ip"));
    assert_eq!(bad_token_from(&by_header, peer, "198.51.100.1").await, 401);
    assert_eq!(bad_token_from(&by_header, peer, "198.51.100.2").await, 401);
    assert_eq!(bad_token_from(&by_header, peer, "198.51.100.1").await, 429);
}

#[test]
fn the_rejection_is_the_cores_and_answers_with_its_response() {
    let challenge = Challenge::bearer("api");
    let rejection = AuthRejection::from(Rejection::new(AuthError::TokenExpired, challenge.clone()));
    assert_eq!(rejection.status(), 401);
    assert_eq!(rejection.error(), Some(&AuthError::TokenExpired));
    assert!(matches!(
        rejection.clone().into_inner(),
        Rejection::Auth {
            error: AuthError::TokenExpired,
            ..
        }
    ));
    let source = std::error::Error::source(&rejection).expect("the core's error");
    assert_eq!(source.to_string(), AuthError::TokenExpired.to_string());
    assert_eq!(rejection.to_string(), AuthError::TokenExpired.to_string());

    let response = rejection.to_http_response::<Bytes>();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="api", error="invalid_token", error_description="Token has expired.""#
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(response.body(), r#"{"detail":"Token has expired."}"#);

    let throttled = AuthRejection::from(Rejection::new(
        AuthError::Throttled { retry_after: 7 },
        challenge,
    ));
    let response = axum::response::IntoResponse::into_response(throttled);
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
}
