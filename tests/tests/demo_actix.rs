//! The demo-API cases against the actix-web example, on SQLite, on PostgreSQL
//! (`AUTHTOKEN_TEST_POSTGRES_URL`) and on MySQL or MariaDB (`AUTHTOKEN_TEST_MYSQL_URL`),
//! started in-process on an ephemeral port and driven over real TCP.

mod launchers;

use launchers::ActixLauncher;

authtoken_behaviour::demo_api_cases!(actix_example, ActixLauncher);
authtoken_behaviour::demo_api_cases!(actix_example_postgres, ActixLauncher, postgres);
authtoken_behaviour::demo_api_cases!(actix_example_mysql, ActixLauncher, mysql);
