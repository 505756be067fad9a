//! What the benches share: one tokio runtime per party (so a server that blocks cannot freeze
//! the load generator's timers) and a bounded shutdown of those parties.

use signbridge::config::Config;
use signbridge::{App, Settings};
use std::net::SocketAddr;
use std::path::Path;
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

/// Starts signbridge in-process on `rt` (loopback, any port) with `config` and its data in
/// `data_dir`; returns its address, the sender that stops it, and its task.
pub fn start_signbridge(
    rt: &Runtime,
    config: Config,
    data_dir: &Path,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, JoinHandle<()>) {
    let mut config = config;
    // The API alone: no sync daemon picking up the repository's demo mappings.
    config.sync.enabled = false;
    let settings = Settings {
        config,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.to_path_buf(),
        public_url: None,
    };
    let app = rt.block_on(App::start(settings)).expect("start signbridge");
    let address = app.local_addr;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(async move {
        app.serve(async {
            let _ = stopped.await;
        })
        .await
        .expect("signbridge stopped cleanly");
    });
    (address, stop, task)
}
