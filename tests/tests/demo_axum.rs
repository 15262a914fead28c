//! The demo-API cases against the axum example, on SQLite and on PostgreSQL
//! (`AUTHTOKEN_TEST_POSTGRES_URL`), started in-process on an ephemeral
//! port and driven over real TCP.

use authtoken_behaviour::demo_api::{LaunchError, Launcher, RunningServer};
use authtoken_demo::Demo;

/// Serves `authtoken_example_axum::app` on its own runtime thread.
struct AxumLauncher;

impl Launcher for AxumLauncher {
    const NAME: &'static str = "axum example";

    fn launch(database_url: &str) -> Result<RunningServer, LaunchError> {
        RunningServer::on_tokio_thread(database_url, |database_url, ready, shutdown| async move {
            let demo = Demo::connect(&database_url).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            ready.listening(listener.local_addr()?);
            // `serve` closes the database once the server has stopped.
            authtoken_example_axum::serve(listener, demo, shutdown).await?;
            Ok(())
        })
    }
}

authtoken_behaviour::demo_api_cases!(axum_example, AxumLauncher);
authtoken_behaviour::demo_api_cases!(axum_example_postgres, AxumLauncher, postgres);
