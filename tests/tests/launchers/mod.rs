//! The examples' launchers, shared by the demo-API cases and the soak: each starts
//! the example's own server in this process on `127.0.0.1:0`.
//!
//! `launch_*` also hands the [`Demo`] it built to `on_demo`, for a test that reads
//! the server's state (its authenticator's cache, say); the [`Launcher`] impls pass
//! a no-op.

#![allow(dead_code)]

use authtoken_behaviour::demo_api::{LaunchError, Launcher, RunningServer};
use authtoken_demo::Demo;

/// Called with the server's demo once it is connected.
pub type OnDemo = Box<dyn FnOnce(&Demo) + Send + 'static>;

/// Serves `authtoken_example_axum::app` on its own runtime thread.
pub struct AxumLauncher;

impl Launcher for AxumLauncher {
    const NAME: &'static str = "axum example";

    fn launch(database_url: &str) -> Result<RunningServer, LaunchError> {
        launch_axum(database_url, Box::new(|_| {}))
    }
}

/// [`AxumLauncher`], handing its demo to `on_demo`.
pub fn launch_axum(database_url: &str, on_demo: OnDemo) -> Result<RunningServer, LaunchError> {
    RunningServer::on_tokio_thread(database_url, |database_url, ready, shutdown| async move {
        let demo = Demo::connect(&database_url).await?;
        on_demo(&demo);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        ready.listening(listener.local_addr()?);
        // `serve` closes the database once the server has stopped.
        authtoken_example_axum::serve(listener, demo, shutdown).await?;
        Ok(())
    })
}

/// Serves `authtoken_example_actix::app` with actix-web's workers, from a runtime
/// thread of its own.
pub struct ActixLauncher;

impl Launcher for ActixLauncher {
    const NAME: &'static str = "actix-web example";

    fn launch(database_url: &str) -> Result<RunningServer, LaunchError> {
        launch_actix(database_url, Box::new(|_| {}))
    }
}

/// [`ActixLauncher`], handing its demo to `on_demo`.
pub fn launch_actix(database_url: &str, on_demo: OnDemo) -> Result<RunningServer, LaunchError> {
    RunningServer::on_tokio_thread(database_url, |database_url, ready, shutdown| async move {
        let demo = Demo::connect(&database_url).await?;
        on_demo(&demo);
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let running = authtoken_example_actix::start(listener, demo)?;
        ready.listening(running.address());
        shutdown.await;
        // `stop` lets requests in flight finish, then closes the database.
        running.stop().await?;
        Ok(())
    })
}

/// Launches `authtoken_example_rocket::start` on its own runtime thread.
pub struct RocketLauncher;

impl Launcher for RocketLauncher {
    const NAME: &'static str = "rocket example";
    // Rocket drops header values that are not UTF-8 before the guards see them.
    const NON_UTF8_HEADERS: bool = false;

    fn launch(database_url: &str) -> Result<RunningServer, LaunchError> {
        launch_rocket(database_url, Box::new(|_| {}))
    }
}

/// [`RocketLauncher`], handing its demo to `on_demo`.
pub fn launch_rocket(database_url: &str, on_demo: OnDemo) -> Result<RunningServer, LaunchError> {
    RunningServer::on_tokio_thread(database_url, |database_url, ready, shutdown| async move {
        let demo = Demo::connect(&database_url).await?;
        on_demo(&demo);
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
