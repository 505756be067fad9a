//! What the benches share: one tokio runtime per party (so a server that blocks cannot freeze
//! the load generator's timers) and a bounded shutdown of those parties.

use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// How long a server may take to stop before the bench moves on without it.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

pub fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Waits (from `client_rt`) for each already-signalled server task to end, abandoning any that
/// has not stopped within [`SHUTDOWN_WAIT`].
pub fn stop_servers(client_rt: &Runtime, servers: Vec<(&str, Runtime, JoinHandle<()>)>) {
    for (name, rt, task) in servers {
        match client_rt.block_on(async { tokio::time::timeout(SHUTDOWN_WAIT, task).await }) {
            Ok(served) => {
                served.expect("server task");
                drop(rt);
            }
            Err(_) => {
                println!(
                    "note: the {name} server had not stopped {:.0} s after shutdown was asked; abandoned",
                    SHUTDOWN_WAIT.as_secs_f64()
                );
                rt.shutdown_background();
            }
        }
    }
}
