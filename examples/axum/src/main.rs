//! `cargo run -p authtoken-example-axum`: the authtoken demo API on 127.0.0.1:3000.

use std::process::ExitCode;

use authtoken_demo::{BenchSwitches, Config, Demo, quickstart, shutdown_signal};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

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
    let config = Config::from_env().map_err(|error| error.to_string())?;
    let demo = Demo::from_config(&config, BenchSwitches::from_env())
        .await
        .map_err(|error| format!("{} ({})", error, config.redacted_database_url()))?;
    let address = config.bind_address();
    let listener = TcpListener::bind(address).await.map_err(|error| {
        format!("cannot listen on {address}: {error} (set PORT to use another port)")
    })?;
    let bound = listener.local_addr().map_err(|error| error.to_string())?;
    println!("{}", quickstart(bound, &config.database_url));
    authtoken_example_axum::serve(listener, demo, shutdown_signal())
        .await
        .map_err(|error| format!("the server failed: {error}"))?;
    tracing::info!("stopped");
    Ok(())
}
