//! The examples as their binaries run them (`Demo::from_config`, invalid-token limit
//! on): a client that keeps sending invalid tokens is answered 429 with
//! `Retry-After`, over real TCP, and its valid token still passes.

use std::time::Duration;

use authtoken::InvalidTokenLimit;
use authtoken_behaviour::demo_api::{
    Backend, Client, LaunchError, RunningServer, TestDatabase, token_header,
};
use authtoken_demo::{BenchSwitches, Config, Demo};

const LIMIT: u32 = 3;

fn config(database_url: &str) -> Result<Config, LaunchError> {
    let mut config = Config::from_vars(None, Some(database_url))?;
    config.invalid_token_limit = Some(InvalidTokenLimit::new(LIMIT, Duration::from_secs(60)));
    Ok(config)
}

fn launch_axum(database_url: &str) -> Result<RunningServer, LaunchError> {
    RunningServer::on_tokio_thread(database_url, |database_url, ready, shutdown| async move {
        let demo = Demo::from_config(&config(&database_url)?, BenchSwitches::default()).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        ready.listening(listener.local_addr()?);
        authtoken_example_axum::serve(listener, demo, shutdown).await?;
        Ok(())
    })
}

fn launch_actix(database_url: &str) -> Result<RunningServer, LaunchError> {
    RunningServer::on_tokio_thread(database_url, |database_url, ready, shutdown| async move {
        let demo = Demo::from_config(&config(&database_url)?, BenchSwitches::default()).await?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let running = authtoken_example_actix::start(listener, demo)?;
        ready.listening(running.address());
        shutdown.await;
        running.stop().await?;
        Ok(())
    })
}

fn launch_rocket(database_url: &str) -> Result<RunningServer, LaunchError> {
    RunningServer::on_tokio_thread(database_url, |database_url, ready, shutdown| async move {
        let demo = Demo::from_config(&config(&database_url)?, BenchSwitches::default()).await?;
        let mut config = authtoken_example_rocket::config("127.0.0.1:0".parse()?);
        config.shutdown.grace = 0;
        config.shutdown.mercy = 0;
        let server = authtoken_example_rocket::start(demo, config).await?;
        ready.listening(server.address());
        let stop = server.shutdown_handle();
        tokio::spawn(async move {
            shutdown.await;
            stop.notify();
        });
        server.wait().await?;
        Ok(())
    })
}

async fn invalid_tokens_are_throttled(
    name: &str,
    launch: fn(&str) -> Result<RunningServer, LaunchError>,
) {
    let database = TestDatabase::create(&Backend::sqlite().expect("SQLite")).await;
    let url = database.url().to_owned();
    let server = tokio::task::spawn_blocking(move || launch(&url))
        .await
        .expect("the launcher panicked")
        .unwrap_or_else(|error| panic!("{name} did not start: {error}"));
    let client = Client::new(server.address());
    let token = client
        .register_ok("ada", "correct horse battery staple")
        .await;

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let me = format!("http://{}/api/me", server.address());
    let bad = token_header("atk_not-a-token");
    for i in 0..LIMIT {
        let response = http
            .get(&me)
            .header("authorization", &bad)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 401, "{name}: bad token {i}");
    }
    let response = http
        .get(&me)
        .header("authorization", &bad)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 429, "{name}: past the limit");
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("60"),
        "{name}: Retry-After"
    );
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert_eq!(
        body["detail"], "Request was throttled. Expected available in 60 seconds.",
        "{name}"
    );
    // The throttled client's valid token still passes.
    client.assert_user(&token, "ada").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_example() {
    invalid_tokens_are_throttled("axum example", launch_axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_example() {
    invalid_tokens_are_throttled("actix-web example", launch_actix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_example() {
    invalid_tokens_are_throttled("rocket example", launch_rocket).await;
}
