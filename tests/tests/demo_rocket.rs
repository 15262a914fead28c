//! The demo-API cases against the rocket example, on SQLite and on PostgreSQL
//! (`AUTHTOKEN_TEST_POSTGRES_URL`), started in-process on an
//! ephemeral port and driven over real TCP.

use authtoken_behaviour::demo_api::{LaunchError, Launcher, RunningServer};
use authtoken_demo::Demo;

/// Launches `authtoken_example_rocket::start` on its own runtime thread.
struct RocketLauncher;

impl Launcher for RocketLauncher {
    const NAME: &'static str = "rocket example";
    // Rocket drops header values that are not UTF-8 before the guards see them.
    const NON_UTF8_HEADERS: bool = false;

    fn launch(database_url: &str) -> Result<RunningServer, LaunchError> {
        RunningServer::on_tokio_thread(database_url, |database_url, ready, shutdown| async move {
            let demo = Demo::connect(&database_url).await?;
            let mut config = authtoken_example_rocket::config("127.0.0.1:0".parse()?);
            // No request is in flight when a case stops the server: no grace period.
            config.shutdown.grace = 0;
            config.shutdown.mercy = 0;
            let server = authtoken_example_rocket::start(demo, config).await?;
            ready.listening(server.address());
            let stop = server.shutdown_handle();
            tokio::spawn(async move {
                shutdown.await;
                stop.notify();
            });
            // `wait` returns once Rocket has stopped and the database is closed.
            server.wait().await?;
            Ok(())
        })
    }
}

authtoken_behaviour::demo_api_cases!(rocket_example, RocketLauncher);
authtoken_behaviour::demo_api_cases!(rocket_example_postgres, RocketLauncher, postgres);
