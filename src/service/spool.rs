//! Where a synchronous result waits between the query and the client: in memory up to
//! [`MEMORY_LIMIT`], beyond that in a file of the jobs directory that is unlinked as soon
//! as it is created (nothing is left behind by a crash, nothing is fsynced: the result
//! lives only as long as its response).
//!
//! The query writes its whole result here, then gives its query slot back; the client
//! reads the spool at its own pace. A slow client therefore never holds a query slot, and
//! a cone search of a few thousand rows never touches the disk. An error before the end
//! of the query is still an HTTP error status, since nothing has been sent yet.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use bytes::Bytes;

/// Bytes of a result kept in memory before it goes to an unlinked file.
pub const MEMORY_LIMIT: usize = 1 << 20;

/// Blocks read from a spilled result for the response.
const BLOCK: usize = 64 * 1024;

/// A result being written: a [`Write`] handle for the export writers, and the spool to
/// read it back from once they are done.
#[derive(Clone)]
pub struct Spool(Arc<Mutex<Inner>>);

struct Inner {
    memory: Vec<u8>,
    file: Option<File>,
    dir: PathBuf,
}

/// A finished result, ready to be sent.
pub enum Spooled {
    /// The whole result, in memory.
    Memory(Bytes),
    /// The result in an unlinked file, read from its start.
    File(File),
}

impl Spool {
    /// An empty spool whose overflow goes to a file in `dir`.
    pub fn new(dir: &Path) -> Spool {
        Spool(Arc::new(Mutex::new(Inner {
            memory: Vec::new(),
            file: None,
            dir: dir.to_path_buf(),
        })))
    }

    /// The result written so far (the writers have finished).
    pub fn finish(self) -> std::io::Result<Spooled> {
        let mut inner = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("a writer of the result panicked"))?;
        match inner.file.take() {
            Some(mut f) => {
                f.seek(SeekFrom::Start(0))?;
                Ok(Spooled::File(f))
            }
            None => Ok(Spooled::Memory(Bytes::from(std::mem::take(
                &mut inner.memory,
            )))),
        }
    }
}

impl Inner {
    /// Moves the bytes held in memory to a new unlinked file.
    fn spill(&mut self) -> std::io::Result<&mut File> {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self
            .dir
            .join(format!("{}{}-{n}", SPOOL_PREFIX, std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        // The name goes at once: the open file stays readable until the response drops it.
        std::fs::remove_file(&path)?;
        file.write_all(&self.memory)?;
        self.memory = Vec::new();
        Ok(self.file.insert(file))
    }
}

/// The name of spilled results before they are unlinked (a crash between the two leaves
/// such a name, removed when the jobs directory is opened again).
pub const SPOOL_PREFIX: &str = ".spool-";

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut inner = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("a writer of the result panicked"))?;
        if let Some(f) = inner.file.as_mut() {
            return f.write(buf);
        }
        if inner.memory.len() + buf.len() <= MEMORY_LIMIT {
            inner.memory.extend_from_slice(buf);
            return Ok(buf.len());
        }
        inner.spill()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Spooled {
    /// The response body: the bytes, or the file read in blocks on the blocking pool.
    pub fn into_body(self) -> Body {
        match self {
            Spooled::Memory(bytes) => Body::from(bytes),
            Spooled::File(file) => {
                let stream = futures::stream::try_unfold(file, |mut file| async move {
                    let (file, block) = tokio::task::spawn_blocking(move || {
                        let mut block = vec![0u8; BLOCK];
                        let n = file.read(&mut block)?;
                        block.truncate(n);
                        Ok::<_, std::io::Error>((file, block))
                    })
                    .await
                    .map_err(std::io::Error::other)??;
                    Ok::<_, std::io::Error>((!block.is_empty()).then(|| (Bytes::from(block), file)))
                });
                Body::from_stream(stream)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(spooled: Spooled) -> Vec<u8> {
        match spooled {
            Spooled::Memory(b) => b.to_vec(),
            Spooled::File(mut f) => {
                let mut v = Vec::new();
                f.read_to_end(&mut v).unwrap();
                v
            }
        }
    }

    #[test]
    fn a_small_result_stays_in_memory_and_a_large_one_leaves_no_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut small = Spool::new(dir.path());
        small.write_all(b"<VOTABLE/>").unwrap();
        let spooled = small.finish().unwrap();
        assert!(matches!(spooled, Spooled::Memory(_)));
        assert_eq!(read_all(spooled), b"<VOTABLE/>");

        let mut large = Spool::new(dir.path());
        let expected: Vec<u8> = (0..3 * MEMORY_LIMIT).map(|i| (i % 251) as u8).collect();
        for chunk in expected.chunks(10_000) {
            large.write_all(chunk).unwrap();
        }
        let spooled = large.finish().unwrap();
        assert!(matches!(spooled, Spooled::File(_)));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the spilled result has no name"
        );
        assert_eq!(read_all(spooled), expected);
    }
}
