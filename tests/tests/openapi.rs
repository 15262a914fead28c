//! An OpenAPI document generated with utoipa and `authtoken::openapi::TokenSecurity`:
//! the two security schemes, the error body, and the 401/403/429/503 responses on
//! every operation that requires a token, and only there.

use authtoken::openapi::TokenSecurity;
use serde_json::{Value, json};
use utoipa::OpenApi;

/// The caller.
#[utoipa::path(
    get,
    path = "/api/me",
    security(("token" = []), ("bearer" = [])),
    responses((status = 200, description = "The caller"))
)]
#[allow(dead_code)]
async fn me() {}

/// Deletes the caller, with its own 403.
#[utoipa::path(
    delete,
    path = "/api/me",
    security(("token" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Only the account itself")
    )
)]
#[allow(dead_code)]
async fn delete_me() {}

/// Anyone.
#[utoipa::path(get, path = "/api/health", responses((status = 200, description = "Up")))]
#[allow(dead_code)]
async fn health() {}

const SECURITY: TokenSecurity = TokenSecurity::new();

#[derive(OpenApi)]
#[openapi(paths(me, delete_me, health), modifiers(&SECURITY))]
struct ApiDoc;

fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).expect("a JSON document")
}

#[test]
fn the_schemes_and_the_error_body_are_registered() {
    let doc = document();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["token"],
        json!({"type": "apiKey", "in": "header", "name": "Authorization",
               "description": "`Token <key>`: the keyword, one space, the token."}),
        "{schemes:#}"
    );
    assert_eq!(
        schemes["bearer"],
        json!({"type": "http", "scheme": "bearer"})
    );
    let error = &doc["components"]["schemas"]["AuthError"];
    assert_eq!(error["required"], json!(["detail"]), "{error:#}");
    assert_eq!(error["properties"]["detail"]["type"], "string");
    let unauthorized = &doc["components"]["responses"]["AuthUnauthorized"];
    assert_eq!(
        unauthorized["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AuthError",
        "{unauthorized:#}"
    );
    assert!(unauthorized["headers"]["WWW-Authenticate"].is_object());
    let throttled = &doc["components"]["responses"]["AuthThrottled"];
    assert_eq!(
        throttled["headers"]["Retry-After"]["schema"]["type"],
        "integer"
    );
}

#[test]
fn authenticated_operations_get_the_error_responses_and_keep_their_own() {
    let doc = document();
    let me = &doc["paths"]["/api/me"];
    let get = &me["get"]["responses"];
    for (status, name) in [
        ("401", "AuthUnauthorized"),
        ("403", "AuthForbidden"),
        ("429", "AuthThrottled"),
        ("503", "AuthUnavailable"),
    ] {
        assert_eq!(
            get[status]["$ref"],
            format!("#/components/responses/{name}"),
            "GET /api/me {status}: {get:#}"
        );
    }
    assert_eq!(get["200"]["description"], "The caller");
    let delete = &me["delete"]["responses"];
    assert_eq!(delete["403"]["description"], "Only the account itself");
    assert_eq!(
        delete["401"]["$ref"],
        "#/components/responses/AuthUnauthorized"
    );
    let health = &doc["paths"]["/api/health"]["get"]["responses"];
    assert_eq!(
        health.as_object().map(|responses| responses.len()),
        Some(1),
        "an open route gets no error responses: {health:#}"
    );
}

#[test]
fn an_application_error_body_is_documented_instead() {
    #[derive(OpenApi)]
    #[openapi(paths(me))]
    struct Plain;
    let schema = utoipa::openapi::ObjectBuilder::new()
        .property(
            "error",
            utoipa::openapi::ObjectBuilder::new().property(
                "code",
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String),
            ),
        )
        .required("error");
    let mut doc = Plain::openapi();
    utoipa::Modify::modify(&TokenSecurity::new().error_schema(schema), &mut doc);
    let doc = serde_json::to_value(doc).expect("a JSON document");
    let error = &doc["components"]["schemas"]["AuthError"];
    assert_eq!(error["required"], json!(["error"]), "{error:#}");
    assert!(error["properties"]["error"]["properties"]["code"].is_object());
}
