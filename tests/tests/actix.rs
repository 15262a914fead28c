//! The adapter cases against authtoken-actix: `App` + `AuthMiddleware`, in-process
//! through `actix_web::test`.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::Method;
use actix_web::http::header::{
    CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use actix_web::{App, test, web};
use authtoken::Authenticator;
use authtoken::endpoints::TokenEndpoints;
use authtoken_actix::{
    AuthMiddleware, AuthRejection, Authenticated, MaybeAuthenticated, RequireScope, ScopeName,
};
use authtoken_behaviour::adapter::{Harness, TestRequest, TestResponse, TestUser, WRITE_SCOPE};
use authtoken_behaviour::endpoints::{EndpointRequest, EndpointsHarness};

struct Write;

impl ScopeName for Write {
    const NAME: &'static str = WRITE_SCOPE;
}

async fn required(user: Authenticated<TestUser>) -> String {
    user.user().id.clone()
}

async fn optional(user: MaybeAuthenticated<TestUser>) -> String {
    user.0.map_or_else(
        || "anonymous".to_owned(),
        |identity| identity.user().id.clone(),
    )
}

async fn scoped(user: RequireScope<Write, TestUser>) -> String {
    user.user().id.clone()
}

async fn checked(user: Authenticated<TestUser>) -> Result<String, AuthRejection> {
    user.require_scope(WRITE_SCOPE)?;
    Ok(user.user().id.clone())
}

async fn twice(first: Authenticated<TestUser>, second: MaybeAuthenticated<TestUser>) -> String {
    let second = second.0.expect("the required extractor passed");
    assert_eq!(first.user(), second.user(), "two extractors disagree");
    first.user().id.clone()
}

type Reply = Pin<Box<dyn Future<Output = TestResponse>>>;

struct ActixHarness {
    /// Sends one request to the app `actix_web::test::init_service` built (its type
    /// cannot be named, so it lives in this closure).
    send: Box<dyn Fn(TestRequest) -> Reply>,
}

impl Harness for ActixHarness {
    const NAME: &'static str = "actix-web";
    const NON_UTF8_HEADERS: bool = true;

    async fn build(authenticator: Authenticator<TestUser>) -> Self {
        let app = test::init_service(
            App::new()
                .wrap(AuthMiddleware::new(authenticator))
                .route("/required", web::get().to(required))
                .route("/optional", web::get().to(optional))
                .route("/scoped", web::get().to(scoped))
                .route("/checked", web::get().to(checked))
                .route("/twice", web::get().to(twice)),
        )
        .await;
        let app = Rc::new(app);
        let send = move |request: TestRequest| -> Reply {
            let app = Rc::clone(&app);
            Box::pin(async move {
                let mut builder = test::TestRequest::get().uri(&request.path);
                for (name, value) in &request.headers {
                    let name =
                        HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
                    let value = HeaderValue::from_bytes(value).expect("a valid header value");
                    builder = builder.append_header((name, value));
                }
                if let Some(client) = request.client {
                    builder = builder.peer_addr(client);
                }
                let response = test::call_service(&*app, builder.to_request()).await;
                read_response(response).await
            })
        };
        Self {
            send: Box::new(send),
        }
    }

    async fn send(&self, request: TestRequest) -> TestResponse {
        (self.send)(request).await
    }
}

/// What came back, as the cases read it.
async fn read_response<B: MessageBody>(response: ServiceResponse<B>) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers();
    let www_authenticate = headers
        .get_all(WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("an ASCII challenge").to_owned())
        .collect();
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().expect("an ASCII content type").to_owned());
    let retry_after = headers
        .get(RETRY_AFTER)
        .map(|v| v.to_str().expect("an ASCII Retry-After").to_owned());
    let body = test::read_body(response).await;
    TestResponse {
        status,
        www_authenticate,
        content_type,
        retry_after,
        body: String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    }
}

authtoken_behaviour::adapter_cases!(actix_adapter, ActixHarness);

/// The whole suite once more, with every log line of the process captured at TRACE
/// level: not one holds a token.
#[tokio::test]
async fn no_token_in_any_log_line() {
    let logs = authtoken_behaviour::logs::capture();
    authtoken_behaviour::adapter_cases!(@run_all ActixHarness).await;
    logs.assert_no_token(
        &authtoken_behaviour::adapter::issued_tokens(),
        &authtoken::TokenPrefix::default(),
    );
}

type EndpointReply = Pin<Box<dyn Future<Output = TestResponse>>>;

/// The token endpoints, mounted with `token_endpoints` under `/api`, with no
/// middleware of the application's.
struct ActixEndpoints {
    /// Sends one request to the app `actix_web::test::init_service` built.
    send: Box<dyn Fn(EndpointRequest) -> EndpointReply>,
}

impl EndpointsHarness for ActixEndpoints {
    const NAME: &'static str = "actix-web";

    async fn build(endpoints: TokenEndpoints<TestUser>) -> Self {
        let mount = authtoken_actix::token_endpoints(endpoints);
        let app = test::init_service(App::new().service(web::scope("/api").configure(mount))).await;
        let app = Rc::new(app);
        let send = move |request: EndpointRequest| -> EndpointReply {
            let app = Rc::clone(&app);
            Box::pin(async move {
                let method = Method::from_bytes(request.method.as_bytes()).expect("a method");
                let mut builder = test::TestRequest::default()
                    .method(method)
                    .uri(&request.path)
                    .set_payload(request.body);
                for (name, value) in &request.headers {
                    builder = builder.append_header((name.as_str(), value.as_str()));
                }
                if let Some(client) = request.client {
                    builder = builder.peer_addr(client);
                }
                read_response(test::call_service(&*app, builder.to_request()).await).await
            })
        };
        Self {
            send: Box::new(send),
        }
    }

    async fn send(&self, request: EndpointRequest) -> TestResponse {
        (self.send)(request).await
    }
}

authtoken_behaviour::endpoint_cases!(actix_endpoints, ActixEndpoints);
