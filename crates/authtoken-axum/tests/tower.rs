//! The layer around a plain tower service, served by hyper over TCP: no axum needed.

mod common;

use std::convert::Infallible;

use authtoken_axum::{AuthLayer, Authentication};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn plain_hyper_and_tower_without_axum() {
    let common::Setup { auth, header, .. } = common::setup().await;
    let service = tower::service_fn(|request: Request<hyper::body::Incoming>| async move {
        let authentication = request
            .extensions()
            .get::<Authentication<String>>()
            .expect("the layer ran");
        let text = match authentication.require() {
            Ok(identity) => format!("user {}", identity.user()),
            Err(error) => format!("refused {}", error.status()),
        };
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(text))))
    });
    let service = tower::ServiceBuilder::new()
        .layer(AuthLayer::new(auth))
        .service(service);
    // The layer never answers by itself: the response type is the inner service's.
    responds_with::<Full<Bytes>, _>(&service);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (stream, _) = listener.accept().await.expect("accept");
            hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(service.clone()),
                )
                .await
                .expect("served");
        }
    });

    for (authorization, expected) in [
        (header.as_str(), "user alice"),
        ("Token atk_typo", "refused 401"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let request = format!(
            "GET / HTTP/1.1\r\nhost: localhost\r\nauthorization: {authorization}\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with(expected), "{response}");
    }
    server.await.expect("server task");
}

/// Compiles only when `service` answers `http::Response<B>`.
fn responds_with<B, S>(_service: &S)
where
    S: tower::Service<Request<hyper::body::Incoming>, Response = http::Response<B>>,
{
}

#[tokio::test]
async fn the_required_layer_answers_refusals_itself_in_the_inner_body_type() {
    use tower::{Layer, ServiceExt};

    let common::Setup {
        auth,
        header: valid,
        lookups,
    } = common::setup().await;
    let inner = tower::service_fn(|_request: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"inner"))))
    });
    let service = AuthLayer::new(auth).require_authentication().layer(inner);

    // A valid token is looked up in the store (the cache is off), the others are
    // refused from memory; either way the inner body type stays.
    for (authorization, status, body) in [
        (Some(valid.as_str()), 200, "inner"),
        (Some(valid.as_str()), 200, "inner"),
        (
            None,
            401,
            r#"{"detail":"Authentication credentials were not provided."}"#,
        ),
        (
            Some("Token atk_typo"),
            401,
            r#"{"detail":"Invalid token."}"#,
        ),
    ] {
        let mut request = Request::builder().uri("/");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let request = request.body(Full::new(Bytes::new())).expect("a request");
        let response: http::Response<Full<Bytes>> =
            service.clone().oneshot(request).await.expect("infallible");
        let (got_status, got_body) = common::read(response).await;
        assert_eq!((got_status.as_u16(), got_body.as_str()), (status, body));
    }
    assert_eq!(lookups.load(std::sync::atomic::Ordering::SeqCst), 2);
}
