//! Cluster tests: three `tollgate serve` processes on one PostgreSQL database and one
//! Redis (a key prefix of their own), requests spread round-robin, as behind a load
//! balancer. Every limit and every credit must hold across them as it holds on one.
//! Needs PostgreSQL on 127.0.0.1:5432 (`TOLLGATE_TEST_POSTGRES_URL`), Redis on
//! 127.0.0.1:6379 (`TOLLGATE_TEST_REDIS_URL`) and `redis-server` / `redis-cli` on the PATH.
//! The tests run one at a time: they measure rates and latencies on shared cores.
//! `TOLLGATE_CLUSTER_BIN=path/to/tollgate` runs them against another build of the binary.

mod harness;
mod instance;
mod load;
mod mock;
mod services;

mod changes;
mod limits;
mod money;
mod redis_outage;
mod sign_in;
