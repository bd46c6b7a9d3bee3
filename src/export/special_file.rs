//! Writing to a device, FIFO or socket without ever waiting in the kernel: the file is
//! opened and written in non-blocking mode. An `open` with no reader yet, and a `write`
//! that a reader who stopped reading leaves with a full pipe, both wait in short steps
//! (50 ms sleeps on the runtime, 100 ms `poll` calls) between which the command checks
//! whether it was asked to stop ([`request_stop`], called on SIGINT and SIGTERM): a
//! stalled reader never keeps `skyql query` from ending.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

/// Set when the command is asked to stop; writers waiting for a reader then give up.
static STOP: AtomicBool = AtomicBool::new(false);

/// Asks every write waiting on a special file to give up (a signal handler's task calls
/// it: the write may hold the thread that would otherwise see the signal).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// A special file opened for writing, in non-blocking mode.
pub struct SpecialFile {
    file: File,
    path: PathBuf,
}

impl SpecialFile {
    /// Opens `path` for writing without blocking the task: a FIFO without a reader is
    /// tried again every 50 ms (an `open` that waits in the kernel would keep the command
    /// from answering SIGINT and SIGTERM meanwhile).
    pub async fn open(path: &Path) -> Result<SpecialFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut said = false;
        loop {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path);
            match opened {
                Ok(file) => {
                    return Ok(SpecialFile {
                        file,
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    if !said {
                        eprintln!("waiting for a reader of {}", path.display());
                        said = true;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot open {}", path.display()));
                }
            }
        }
    }

    /// Waits up to 100 ms for room to write.
    fn wait_writable(&self) {
        let mut fd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: poll on one descriptor this value owns.
        unsafe {
            libc::poll(&mut fd, 1, 100);
        }
    }
}

impl Write for SpecialFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match self.file.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if STOP.load(Ordering::SeqCst) {
                        return Err(std::io::Error::other(format!(
                            "stopped while {} was not being read",
                            self.path.display()
                        )));
                    }
                    self.wait_writable();
                }
                done => return done,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reader_that_stops_reading_holds_the_writer_only_until_a_stop() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path string this test owns.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A reader that opens the FIFO and never reads.
        let _reader = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
                .unwrap()
        };
        let mut out = SpecialFile::open(&fifo).await.unwrap();
        let stopper = std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(300));
            request_stop();
        });
        let chunk = vec![b'x'; 1 << 16];
        let started = std::time::Instant::now();
        let err = loop {
            if let Err(e) = out.write_all(&chunk) {
                break e;
            }
        };
        stopper.join().unwrap();
        assert!(err.to_string().contains("was not being read"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
        STOP.store(false, Ordering::SeqCst);
    }
}
