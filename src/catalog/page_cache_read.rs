//! Reads of a local file answered only from the operating system's page cache, on the
//! calling thread. A query's small reads (a footer, a page index, the pages of a cone)
//! are almost always cached; handing each to a blocking thread and back, as the local
//! object store does, costs more than the read itself (two thread wake-ups per read, a
//! third of a one-arcminute cone's time). `preadv2` with `RWF_NOWAIT` reads without ever
//! waiting for the disk: when a byte is not cached (or the file system cannot tell), the
//! caller reads the usual way, on a blocking thread.

use std::fs::File;
#[cfg(target_os = "linux")]
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether reads without waiting work here: false once the file system has said it
/// cannot make them (`EOPNOTSUPP`: network and FUSE file systems), so that callers stop
/// trying (and opening files on their own thread for nothing).
pub fn available() -> bool {
    !UNSUPPORTED.load(Ordering::Relaxed)
}

static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// Fills `buf` from `file` at offset `at` if every byte is in the page cache: `false`
/// when some are not, or when the read cannot be made this way for any reason (nothing is
/// waited for; the usual read then makes it, or says why it cannot).
#[cfg(target_os = "linux")]
pub fn read_exact_cached(file: &File, buf: &mut [u8], at: u64) -> bool {
    use std::os::fd::AsRawFd;
    let mut done = 0usize;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let part = libc::iovec {
            iov_base: rest.as_mut_ptr().cast(),
            iov_len: rest.len(),
        };
        let Ok(offset) = libc::off_t::try_from(at + done as u64) else {
            return false;
        };
        // SAFETY: `part` describes `rest`, a live, writable buffer of `rest.len()` bytes
        // that nothing else uses during the call; the descriptor is `file`'s, open.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &part, 1, offset, libc::RWF_NOWAIT) };
        if n < 0 {
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EOPNOTSUPP) => UNSUPPORTED.store(true, Ordering::Relaxed),
                _ => {}
            }
            return false;
        }
        // 0 is the end of the file, or (Linux 5.9 and 5.10) bytes not cached.
        if n == 0 {
            return false;
        }
        done += n as usize;
    }
    true
}

/// Elsewhere nothing is known to be cached: every read takes the usual way.
#[cfg(not(target_os = "linux"))]
pub fn read_exact_cached(_file: &File, _buf: &mut [u8], _at: u64) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::read_exact_cached;
    use std::io::Write;

    #[test]
    fn a_cached_file_is_read_and_nothing_past_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut buf = vec![0u8; 5000];
        // Just written, so cached (a file system without RWF_NOWAIT says `false`).
        if read_exact_cached(&file, &mut buf, 70_000) {
            assert_eq!(buf, data[70_000..75_000]);
        }
        assert!(!read_exact_cached(&file, &mut buf, 99_000));
    }
}
