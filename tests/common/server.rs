//! A `skyql serve` process on loopback for the service's tests, and the HTTP/1.1 they
//! speak to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running server and its address; stopped (SIGTERM) when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// Its request log, line by line.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Holds the configuration file; removed with the server.
    _config_dir: tempfile::TempDir,
}

impl Server {
    /// The request log once `done` says it is complete (it is read by a thread of its
    /// own, a little after each answer), or as it is after 10 s.
    pub fn log_when(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let log = self.log.lock().unwrap().clone();
            if done(&log) || std::time::Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn start(catalog: &Path, config: Option<&str>) -> Server {
        Self::start_with(catalog, config, &[])
    }

    /// A server with more arguments (`--table NAME=PATH`).
    pub fn start_with(catalog: &Path, config: Option<&str>, more: &[&str]) -> Server {
        Self::start_with_env(catalog, config, more, &[])
    }

    /// A server with more arguments and environment variables (`SKYQL_NOW`).
    pub fn start_with_env(
        catalog: &Path,
        config: Option<&str>,
        more: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_skyql"));
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--catalog"])
            .arg(catalog)
            .args(more)
            .envs(env.iter().copied());
        if let Some(c) = config {
            let path = dir.path().join("service.toml");
            std::fs::write(&path, c).unwrap();
            cmd.arg("--config").arg(path);
        }
        // The server ends with the test's thread, however the test ends: a failed
        // assertion while other threads still hold the server never leaves it running.
        // SAFETY: prctl in the child before exec, no allocation.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "skyql serve: CATALOGUE at http://ADDR/tap ..." (the catalogue may be a URL too).
        let start = line.find(" at http://").expect("the base URL") + " at http://".len();
        let addr = line[start..].split('/').next().unwrap().to_string();
        // Keep reading the log so the server never blocks on a full pipe.
        let out = child.stdout.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Server {
            child,
            addr,
            log,
            _config_dir: dir,
        }
    }

    /// (status, headers, body) of a request.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String, String) {
        let (status, head, bytes) = self.request_bytes(method, path, body);
        (status, head, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// (status, headers, body bytes) of a request, the body unchunked.
    pub fn request_bytes(&self, method: &str, path: &str, body: &str) -> (u16, String, Vec<u8>) {
        self.request_with_headers(method, path, body, &[])
    }

    /// (status, headers, body bytes) of a request with more headers (`Authorization`).
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String, Vec<u8>) {
        request_at(&self.addr, method, path, body, headers)
    }

    /// (status, headers, body) of a multipart/form-data POST: `fields` as text parts,
    /// `files` as parts with a file name.
    pub fn multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> (u16, String, String) {
        self.multipart_with_headers(path, fields, files, &[])
    }

    /// [`Server::multipart`] with more headers (`Authorization`).
    pub fn multipart_with_headers(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        multipart_at(&self.addr, path, fields, files, headers)
    }

    pub fn get(&self, path: &str) -> (u16, String, String) {
        self.request("GET", path, "")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// (status, headers, body bytes) of a request to the HTTP server at `addr`, with more
/// headers (`Authorization`); a form for a POST.
pub fn request_at(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, &req)
}

/// Sends a whole request; (status, headers, body bytes) of its answer, unchunked.
fn exchange(addr: &str, req: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    // A service that does not answer fails the test instead of hanging it.
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let rest = &raw[split + 4..];
    let status = head[9..12].parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk_bytes(rest)
    } else {
        rest.to_vec()
    };
    (status, head, body)
}

/// The value of the header `name` (any case) in an answer's head.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

pub fn unchunk(body: &str) -> String {
    String::from_utf8_lossy(&unchunk_bytes(body.as_bytes())).into_owned()
}

/// A chunked body's bytes.
pub fn unchunk_bytes(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..line_end]);
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let after = &rest[line_end + 2..];
        out.extend_from_slice(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

/// Percent-encodes a query parameter's value.
pub fn q(adql: &str) -> String {
    adql.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A small generated catalogue (one field, one CCD, six epochs) to serve: (the temporary
/// directory holding it, the catalogue).
pub fn served_catalog() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    super::generate_small(&raw, "lm035", 1, 6, &[]);
    let cat = tmp.path().join("cat");
    super::Skyql::new(["ingest"])
        .args([&raw])
        .catalog(&cat)
        .ok();
    (tmp, cat)
}

/// (status, headers, body) of a multipart/form-data POST to the service at `addr`:
/// `fields` as text parts, `files` as parts with a file name, and more `headers`.
pub fn multipart_at(
    addr: &str,
    path: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let boundary = "skyqlTestBoundary7MA4YWxkTrZu0gW";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    for (name, content) in files {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.dat\"\r\nContent-Type: application/octet-stream\r\n\r\n{content}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        addr,
        body.len()
    );
    let (status, head, bytes) = exchange(addr, &req);
    (status, head, String::from_utf8_lossy(&bytes).into_owned())
}
