//! The `WWW-Authenticate` header of a refusal is always the core's challenge for it,
//! whichever challenges the same thread answered with before (the adapter remembers
//! the last one per thread).

use actix_web::ResponseError;
use actix_web::http::header::WWW_AUTHENTICATE;
use authtoken::{AuthError, Challenge, Rejection};
use authtoken_actix::AuthRejection;

#[test]
fn each_refusal_carries_its_own_challenge() {
    let refusals = [
        (AuthError::InvalidToken, Challenge::keyword("Token")),
        (AuthError::InvalidToken, Challenge::bearer("api")),
        (AuthError::TokenExpired, Challenge::bearer("api")),
        (AuthError::NotProvided, Challenge::bearer("other")),
    ];
    for _ in 0..3 {
        for (error, challenge) in &refusals {
            let expected = error.www_authenticate(challenge).expect("a challenge");
            // Twice in a row (the remembered value), then the next one.
            for _ in 0..2 {
                let rejection =
                    AuthRejection::from(Rejection::new(error.clone(), challenge.clone()));
                let response = rejection.error_response();
                let header = response.headers().get(WWW_AUTHENTICATE);
                assert_eq!(
                    header.and_then(|value| value.to_str().ok()),
                    Some(expected.as_str()),
                    "{error:?}"
                );
            }
        }
    }
}
