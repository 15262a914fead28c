//! `cargo run -p authtoken-example-rocket`: the authtoken demo API on 127.0.0.1:3000.

use std::process::ExitCode;

use authtoken_demo::{BenchSwitches, Config, Demo, quickstart};
use tracing_subscriber::EnvFilter;

/// Rocket's launch banner (configuration, routes, fairings) would push the
/// quickstart off the screen, and its per-request notes repeat the example's own
/// request log: both left out unless `RUST_LOG` asks for them.
const DEFAULT_FILTER: &str = "info,rocket=warn,rocket::launch=off";

/// Rocket's notes on each request, off whatever level `RUST_LOG` sets unless it names
/// a Rocket target itself: `rocket::server::_` ("Responding with registered catcher")
/// and this crate's `::_` (the routes' generated code: "Request guard failed", with
/// the guard's error). They come at warn level, once per request that a guard or the
/// router refuses (the routes answer a bad token and an unreadable body themselves,
/// but an unknown path or a wrong method still reach a catcher), so a client would
/// otherwise choose how much the server logs, and each line costs more than
/// answering the request does.
const REQUEST_NOTES: [&str; 2] = ["rocket::server::_=off", "authtoken_example_rocket::_=off"];

#[rocket::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter(filter()).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `RUST_LOG` (or [`DEFAULT_FILTER`]), with [`REQUEST_NOTES`] unless it names Rocket.
fn filter() -> EnvFilter {
    let names_rocket = std::env::var("RUST_LOG").is_ok_and(|spec| spec.contains("rocket"));
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    if !names_rocket {
        for directive in REQUEST_NOTES {
            filter = filter.add_directive(directive.parse().expect("a valid directive"));
        }
    }
    filter
}

async fn run() -> Result<(), String> {
    let config = Config::from_env().map_err(|error| error.to_string())?;
    let demo = Demo::from_config(&config, BenchSwitches::from_env())
        .await
        .map_err(|error| format!("{} ({})", error, config.redacted_database_url()))?;
    let address = config.bind_address();
    let server = authtoken_example_rocket::start(demo, authtoken_example_rocket::config(address))
        .await
        .map_err(|error| {
            format!("cannot listen on {address}: {error} (set PORT to use another port)")
        })?;
    println!("{}", quickstart(server.address(), &config.database_url));
    server
        .wait()
        .await
        .map_err(|error| format!("the server failed: {error}"))?;
    tracing::info!("stopped");
    Ok(())
}
