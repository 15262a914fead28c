//! `DATABASE_URL=<your Django database> cargo run -p authtoken-example-django-bridge`:
//! the bridge on 127.0.0.1:3000 (`PORT` overrides).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Where the service keeps its own tokens unless `AUTHTOKEN_DATABASE_URL` says.
const DEFAULT_TOKENS_URL: &str = "sqlite://authtoken-bridge.db?mode=rwc";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let django_url = std::env::var("DATABASE_URL").map_err(|_| {
        "set DATABASE_URL to the Django site's database, such as \
         sqlite:///srv/site/db.sqlite3 or postgres://user@localhost/site"
            .to_owned()
    })?;
    let tokens_url =
        std::env::var("AUTHTOKEN_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TOKENS_URL.to_owned());
    let port = match std::env::var("PORT") {
        Ok(port) => port
            .parse::<u16>()
            .map_err(|_| format!("PORT must be a port number, not {port:?}"))?,
        Err(_) => 3000,
    };
    let auth = authtoken_example_django_bridge::authenticator(&django_url, &tokens_url)
        .await
        .map_err(|error| error.to_string())?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = TcpListener::bind(address).await.map_err(|error| {
        format!("cannot listen on {address}: {error} (set PORT to use another port)")
    })?;
    println!(
        "Listening on http://{address}: try\n  curl -H 'Authorization: Token <a key from Django>' \
         http://{address}/api/me"
    );
    axum::serve(listener, authtoken_example_django_bridge::app(auth))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|error| format!("the server failed: {error}"))
}
