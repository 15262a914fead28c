//! The demo-API cases against the actix-web example, on SQLite and on PostgreSQL
//! (`AUTHTOKEN_TEST_POSTGRES_URL`), started in-process on an
//! ephemeral port and driven over real TCP.

use authtoken_behaviour::demo_api::{LaunchError, Launcher, RunningServer};
use authtoken_demo::Demo;

/// Serves `authtoken_example_actix::app` with actix-web's workers, from a runtime
/// thread of its own.
struct ActixLauncher;

impl Launcher for ActixLauncher {
    const NAME: &'static str = "actix-web example";

    fn launch(database_url: &str) -> Result<RunningServer, LaunchError> {
        RunningServer::on_tokio_thread(database_url, |database_url, ready, shutdown| async move {
            let demo = Demo::connect(&database_url).await?;
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let running = authtoken_example_actix::start(listener, demo)?;
            ready.listening(running.address());
            shutdown.await;
            // `stop` lets requests in flight finish, then closes the database.
            running.stop().await?;
            Ok(())
        })
    }
}

authtoken_behaviour::demo_api_cases!(actix_example, ActixLauncher);
authtoken_behaviour::demo_api_cases!(actix_example_postgres, ActixLauncher, postgres);
