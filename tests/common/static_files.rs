//! A static web server on loopback for the tests of tables read over HTTP: GET and HEAD
//! of the files under a directory, with single byte ranges (`Range: bytes=a-b`, `a-`,
//! `-n`) answered 206 as a web server answers them; one request per connection. Stopped
//! when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// The server: its base URL and how many requests it answered.
pub struct StaticFiles {
    pub base: String,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StaticFiles {
    /// Serves the files under `root` at `http://127.0.0.1:PORT/`.
    pub fn serve(root: &Path) -> StaticFiles {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let (requests, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (count, stopping, root) = (requests.clone(), stop.clone(), root.to_path_buf());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let root = root.clone();
                        count.fetch_add(1, Ordering::Relaxed);
                        std::thread::spawn(move || answer(stream, &root));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        StaticFiles {
            base,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for StaticFiles {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(stream: TcpStream, root: &Path) {
    stream.set_nonblocking(false).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let file = file_of(root, target);
    let mut out = stream;
    let Some(bytes) = file.and_then(|f| std::fs::read(f).ok()) else {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let len = bytes.len() as u64;
    let (status, start, end) = match range.as_deref().and_then(|r| byte_range(r, len)) {
        Some((a, b)) => ("206 Partial Content", a, b),
        None => ("200 OK", 0, len),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nLast-Modified: Mon, 07 Dec 2026 00:00:00 GMT\r\nConnection: close\r\n",
        end - start
    );
    if status.starts_with("206") {
        head.push_str(&format!(
            "Content-Range: bytes {start}-{}/{len}\r\n",
            end - 1
        ));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = out.write_all(&bytes[start as usize..end as usize]);
    }
    let _ = out.flush();
}

/// The file a request's path names under `root` (no `..`).
fn file_of(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split('?').next()?;
    let mut file = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let part = part.replace("%3D", "=").replace("%3d", "=");
        if part == ".." {
            return None;
        }
        file.push(part);
    }
    file.is_file().then_some(file)
}

/// `[start, end)` of `bytes=a-b`, `bytes=a-` or `bytes=-n`.
fn byte_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let (a, b) = header.strip_prefix("bytes=")?.split_once('-')?;
    let (start, end) = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(a), Some(b)) => (a, (b + 1).min(len)),
        (Some(a), None) => (a, len),
        (None, Some(n)) => (len.saturating_sub(n), len),
        (None, None) => return None,
    };
    (start < end).then_some((start, end))
}
