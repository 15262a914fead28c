//! OpenAPI documents with [utoipa](https://docs.rs/utoipa) (feature `utoipa`): the
//! security schemes a client authenticates with, and the error responses of every
//! route that requires them, so that Swagger UI shows an authenticated route right.
//!
//! [`TokenSecurity`] is a [`utoipa::Modify`]: name it in the document's modifiers,
//! and mark each authenticated operation with `security(("token" = []), ("bearer" =
//! []))`. It registers:
//!
//! - the security schemes [`TOKEN_SCHEME`] (`Authorization: Token <key>`, an API key
//!   in the `Authorization` header, as DRF documents it) and [`BEARER_SCHEME`]
//!   (`Authorization: Bearer <key>`, HTTP bearer);
//! - the error body's schema [`ERROR_SCHEMA`] (`{"detail": "..."}`, or the
//!   application's own with [`TokenSecurity::error_schema`]);
//! - the responses 401 (with `WWW-Authenticate`), 403, 429 (with `Retry-After`) and
//!   503, each with that body, added to every operation that requires one of the two
//!   schemes (an operation's own response for a status is kept).
//!
//! ```
//! use authtoken::openapi::TokenSecurity;
//! use utoipa::OpenApi;
//!
//! const SECURITY: TokenSecurity = TokenSecurity::new();
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(me), modifiers(&SECURITY))]
//! struct ApiDoc;
//!
//! /// The caller.
//! #[utoipa::path(get, path = "/api/me", security(("token" = []), ("bearer" = [])),
//!     responses((status = 200, description = "The caller")))]
//! async fn me() {}
//!
//! let doc = ApiDoc::openapi();
//! let me = doc.paths.paths["/api/me"].get.as_ref().unwrap();
//! assert!(me.responses.responses.contains_key("401"));
//! ```

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Components, ContentBuilder, OpenApi, Ref, RefOr, Schema};

/// The name of the `Authorization: Token <key>` scheme.
pub const TOKEN_SCHEME: &str = "token";
/// The name of the `Authorization: Bearer <key>` scheme.
pub const BEARER_SCHEME: &str = "bearer";
/// The name of the error body's schema among the document's components.
pub const ERROR_SCHEMA: &str = "AuthError";

/// The error responses, by status: the component's name and its description.
const RESPONSES: [(&str, &str, &str); 4] = [
    (
        "401",
        "AuthUnauthorized",
        "No token, or a token that is malformed, unknown, revoked or expired, or whose user is inactive.",
    ),
    (
        "403",
        "AuthForbidden",
        "The token lacks a scope this operation requires.",
    ),
    (
        "429",
        "AuthThrottled",
        "Too many invalid tokens from this client: retry after `Retry-After` seconds.",
    ),
    (
        "503",
        "AuthUnavailable",
        "The token store could not answer; the request was not let through.",
    ),
];

/// Registers authtoken's security schemes, error schema and error responses in an
/// OpenAPI document (see the [module docs](self)).
#[derive(Clone, Default)]
pub struct TokenSecurity {
    error_schema: Option<RefOr<Schema>>,
}

impl std::fmt::Debug for TokenSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSecurity")
            .field("error_schema", &self.error_schema.is_some())
            .finish()
    }
}

impl TokenSecurity {
    /// The schemes and responses, with DRF's error body `{"detail": "..."}`.
    pub const fn new() -> Self {
        Self { error_schema: None }
    }

    /// Documents the application's own error body
    /// ([`AuthenticatorBuilder::error_body`](crate::AuthenticatorBuilder::error_body))
    /// instead of DRF's.
    #[must_use]
    pub fn error_schema(mut self, schema: impl Into<RefOr<Schema>>) -> Self {
        self.error_schema = Some(schema.into());
        self
    }

    fn drf_error_schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "detail",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("Why the request was refused, in DRF's words.")),
            )
            .required("detail")
            .into()
    }

    fn add_components(&self, components: &mut Components) {
        components.add_security_scheme(
            TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <key>`: the keyword, one space, the token.",
            ))),
        );
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let schema = self
            .error_schema
            .clone()
            .unwrap_or_else(Self::drf_error_schema);
        components.schemas.insert(ERROR_SCHEMA.to_owned(), schema);
        for (status, name, description) in RESPONSES {
            let mut response = ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ERROR_SCHEMA)))
                    .build(),
            );
            let string = || ObjectBuilder::new().schema_type(Type::String);
            match status {
                "401" => {
                    response = response.header(
                        "WWW-Authenticate",
                        HeaderBuilder::new()
                            .schema(Some(string()))
                            .description(Some("The challenge (RFC 6750, or DRF's `Token`)."))
                            .build(),
                    );
                }
                "429" => {
                    response = response.header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                            .description(Some("Seconds until the client may try again."))
                            .build(),
                    );
                }
                _ => {}
            }
            components
                .responses
                .insert(name.to_owned(), response.build().into());
        }
    }
}

/// Whether `requirements` name one of authtoken's schemes.
fn requires_a_token(requirements: &[SecurityRequirement]) -> bool {
    requirements.iter().any(|requirement| {
        serde_json::to_value(requirement).is_ok_and(|value| {
            value.as_object().is_some_and(|names| {
                names.contains_key(TOKEN_SCHEME) || names.contains_key(BEARER_SCHEME)
            })
        })
    })
}

fn add_error_responses(operation: &mut Operation) {
    for (status, name, _) in RESPONSES {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

impl utoipa::Modify for TokenSecurity {
    fn modify(&self, openapi: &mut OpenApi) {
        self.add_components(openapi.components.get_or_insert_with(Components::new));
        let global = openapi.security.as_deref().is_some_and(requires_a_token);
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let required = match operation.security.as_deref() {
                    Some(own) => requires_a_token(own),
                    None => global,
                };
                if required {
                    add_error_responses(operation);
                }
            }
        }
    }
}
