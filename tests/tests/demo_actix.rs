//! The demo-API cases against the actix-web example, on SQLite and on PostgreSQL
//! (`AUTHTOKEN_TEST_POSTGRES_URL`), started in-process on an
//! ephemeral port and driven over real TCP.

mod launchers;

use launchers::ActixLauncher;

authtoken_behaviour::demo_api_cases!(actix_example, ActixLauncher);
authtoken_behaviour::demo_api_cases!(actix_example_postgres, ActixLauncher, postgres);
