//! Reads of a local file answered only from the operating system's page cache, on the
//! calling thread. A query's small reads (a footer, a page index, the pages of a cone)
//! are almost always cached; handing each to a blocking thread and back, as the local
//! object store does, costs more than the read itself (two thread wake-ups per read, a
//! third of a one-arcminute cone's time). `preadv2` with `RWF_NOWAIT` reads without ever
//! waiting for the disk: when a byte is not cached (or the file system cannot tell), the
//! caller reads the usual way, on a blocking thread.

use std::fs::File;
use std::io;

/// Fills `buf` from `file` at offset `at` if every byte is in the page cache: `Ok(false)`
/// when some are not (nothing is waited for), an error for a failed read or a file that
/// ends before `at + buf.len()`.
#[cfg(target_os = "linux")]
pub fn read_exact_cached(file: &File, buf: &mut [u8], at: u64) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut done = 0usize;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let part = libc::iovec {
            iov_base: rest.as_mut_ptr().cast(),
            iov_len: rest.len(),
        };
        let offset = i64::try_from(at + done as u64)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))?;
        // SAFETY: `part` describes `rest`, a live, writable buffer of `rest.len()` bytes
        // that nothing else uses during the call; the descriptor is `file`'s, open.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &part, 1, offset, libc::RWF_NOWAIT) };
        if n < 0 {
            let error = io::Error::last_os_error();
            return match error.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Ok(false),
                Some(libc::EINTR) => continue,
                _ => Err(error),
            };
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file ends before byte {}", at + buf.len() as u64),
            ));
        }
        done += n as usize;
    }
    Ok(true)
}

/// Elsewhere nothing is known to be cached: every read takes the usual way.
#[cfg(not(target_os = "linux"))]
pub fn read_exact_cached(_file: &File, _buf: &mut [u8], _at: u64) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::read_exact_cached;
    use std::io::Write;

    #[test]
    fn a_cached_file_is_read_and_its_end_is_an_error() {
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
        if read_exact_cached(&file, &mut buf, 70_000).unwrap() {
            assert_eq!(buf, data[70_000..75_000]);
        }
        let past = read_exact_cached(&file, &mut buf, 99_000);
        assert!(matches!(past, Err(_) | Ok(false)), "{past:?}");
    }
}
