//! The demo-API cases against the axum example, on SQLite and on PostgreSQL
//! (`AUTHTOKEN_TEST_POSTGRES_URL`), started in-process on an ephemeral
//! port and driven over real TCP.

mod launchers;

use launchers::AxumLauncher;

authtoken_behaviour::demo_api_cases!(axum_example, AxumLauncher);
authtoken_behaviour::demo_api_cases!(axum_example_postgres, AxumLauncher, postgres);
