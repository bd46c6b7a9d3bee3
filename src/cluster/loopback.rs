//! A cluster of skyql processes on loopback (one scheduler, N executors on free ports):
//! what the benchmark and the tests start. Dropped, every process is killed and waited
//! for.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A loopback port that is free, with the next one free too (an executor's gRPC port).
pub fn free_port_pair() -> Result<u16> {
    for _ in 0..100 {
        let a = TcpListener::bind("127.0.0.1:0")?;
        let port = a.local_addr()?.port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no two consecutive free ports on loopback")
}

fn wait_for_port(port: u16, what: &str) -> Result<()> {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("{what} did not listen on 127.0.0.1:{port} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The processes of a loopback cluster.
#[derive(Debug)]
pub struct LoopbackCluster {
    /// The scheduler's URL, `df://127.0.0.1:PORT`.
    pub url: String,
    scheduler: Child,
    /// Executors: Flight port and process.
    pub executors: Vec<(u16, Child)>,
}

impl LoopbackCluster {
    /// Starts `binary cluster scheduler` and `executors` executors of `tasks` tasks
    /// each, logs and work directories in `dir`, image output under `output_root`.
    pub fn start(
        binary: &Path,
        dir: &Path,
        executors: usize,
        tasks: usize,
        output_root: &Path,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let log = |name: &str| -> Result<std::fs::File> {
            let path = dir.join(name);
            std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))
        };
        let port = free_port_pair()?;
        let scheduler = Command::new(binary)
            .args([
                "cluster",
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--executor-timeout", "4"])
            .stdout(Stdio::null())
            .stderr(log("scheduler.log")?)
            .spawn()
            .context("cannot start the scheduler")?;
        let mut cluster = LoopbackCluster {
            url: format!("df://127.0.0.1:{port}"),
            scheduler,
            executors: Vec::new(),
        };
        wait_for_port(port, "the scheduler")?;
        for k in 0..executors {
            let flight = free_port_pair()?;
            let child = Command::new(binary)
                .args([
                    "cluster",
                    "executor",
                    "--scheduler",
                    &format!("127.0.0.1:{port}"),
                ])
                .args(["--bind", &format!("127.0.0.1:{flight}")])
                .args(["--tasks", &tasks.to_string(), "--heartbeat", "1"])
                .arg("--work-dir")
                .arg(dir.join(format!("work{k}")))
                .arg("--output-root")
                .arg(output_root)
                .stdout(Stdio::null())
                .stderr(log(&format!("executor{k}.log"))?)
                .spawn()
                .context("cannot start an executor")?;
            cluster.executors.push((flight, child));
            wait_for_port(flight, "an executor")?;
        }
        // Executors register with their first heartbeat.
        std::thread::sleep(Duration::from_secs(2));
        Ok(cluster)
    }

    /// Kills executor `k` (a lost machine).
    pub fn kill_executor(&mut self, k: usize) -> Result<()> {
        let (_, child) = self.executors.get_mut(k).context("no such executor")?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }
}

impl Drop for LoopbackCluster {
    fn drop(&mut self) {
        for (_, c) in &mut self.executors {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}
