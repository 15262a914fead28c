//! The demo-API cases against the axum example, on SQLite, on PostgreSQL
//! (`AUTHTOKEN_TEST_POSTGRES_URL`) and on MySQL or MariaDB (`AUTHTOKEN_TEST_MYSQL_URL`),
//! started in-process on an ephemeral port and driven over real TCP.

mod launchers;

use launchers::AxumLauncher;

authtoken_behaviour::demo_api_cases!(axum_example, AxumLauncher);
authtoken_behaviour::demo_api_cases!(axum_example_postgres, AxumLauncher, postgres);
authtoken_behaviour::demo_api_cases!(axum_example_mysql, AxumLauncher, mysql);
