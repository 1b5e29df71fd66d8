//! The control socket: a Unix stream socket (mode 0600) that takes one JSON request line per
//! connection and answers with one JSON line, and the client side `ikev2d ctl` uses.
//!
//! Requests (`cmd` names the command; the five connection commands take `conn`):
//!
//! ```text
//! {"cmd":"status"}                     -> {"ok":true,"backend":..,"uptime_ms":..,"ike_sas":[..],"stats":{..},"daemon":{..}}
//! {"cmd":"list"}                       -> {"ok":true,"connections":[{"name":..,"up":..,..}]}
//! {"cmd":"sas"}                        -> {"ok":true,"backend":..,"sas":[..],"policies":[..]}
//! {"cmd":"initiate","conn":"gw"}       -> {"ok":true} | {"ok":false,"error":".."}
//! {"cmd":"terminate"|"rekey-child"|"rekey-ike"|"dpd","conn":"gw"}
//! {"cmd":"stop"}                       -> {"ok":true}, then a graceful stop
//! ```
//!
//! Every answer has `ok`; a refused request has `"ok":false` and `error`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DaemonError;

/// One control request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Every IKE SA with its Child SAs, and the counters.
    Status,
    /// The connections and whether each is up.
    List,
    /// The kernel's ESP SAs and policies, as the backend dumps them.
    Sas,
    /// Bring a connection up.
    Initiate {
        /// The connection.
        conn: String,
    },
    /// Take a connection down.
    Terminate {
        /// The connection.
        conn: String,
    },
    /// Rekey a connection's Child SAs.
    RekeyChild {
        /// The connection.
        conn: String,
    },
    /// Rekey a connection's IKE SA.
    RekeyIke {
        /// The connection.
        conn: String,
    },
    /// Send a liveness check.
    Dpd {
        /// The connection.
        conn: String,
    },
    /// Terminate every connection and exit.
    Stop,
}

/// The longest request line the daemon reads.
const MAX_REQUEST: usize = 4096;
/// How long a client may take to send its request.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Clients served at once; more wait in the listen backlog.
const MAX_CLIENTS: usize = 16;

/// `{"ok":false,"error":...}`.
pub fn error_reply(error: impl std::fmt::Display) -> Value {
    serde_json::json!({ "ok": false, "error": error.to_string() })
}

struct Client {
    id: u64,
    stream: UnixStream,
    buf: Vec<u8>,
    since: Instant,
}

/// The daemon's side: the listening socket and the clients whose request is not complete yet.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    next_id: u64,
}

impl std::fmt::Debug for ControlServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlServer").field("path", &self.path).field("clients", &self.clients.len()).finish()
    }
}

/// A request read from a client, to answer with [`ControlServer::reply`].
#[derive(Debug)]
pub struct Pending {
    /// The client.
    pub client: u64,
    /// Its request, or why it is not one.
    pub request: Result<Request, String>,
}

impl ControlServer {
    /// Binds the control socket at `path` (mode 0600). A stale socket file is removed; a live
    /// one (another daemon answers) or a file that is not a socket is an error.
    pub fn bind(path: &Path) -> Result<ControlServer, DaemonError> {
        let err = |source| DaemonError::Control { path: path.to_path_buf(), source };
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                if UnixStream::connect(path).is_ok() {
                    return Err(DaemonError::AlreadyRunning(path.to_path_buf()));
                }
                tracing::info!(path = %path.display(), "removing a stale control socket");
                std::fs::remove_file(path).map_err(err)?;
            }
            Ok(_) => {
                return Err(err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a socket")));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        // The socket is created with the umask's mode: keep it private from the start.
        // SAFETY: umask(2) cannot fail; the daemon has no other thread yet.
        let old = unsafe { libc::umask(0o177) };
        let bound = UnixListener::bind(path);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let listener = bound.map_err(err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        listener.set_nonblocking(true).map_err(err)?;
        Ok(ControlServer { listener, path: path.to_path_buf(), clients: Vec::new(), next_id: 1 })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listening socket, for `poll`.
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    /// The clients' sockets, for `poll`.
    pub fn client_streams(&self) -> impl Iterator<Item = &UnixStream> {
        self.clients.iter().map(|c| &c.stream)
    }

    /// Accepts waiting connections.
    pub fn accept(&mut self) {
        while self.clients.len() < MAX_CLIENTS {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nonblocking(true) {
                        tracing::warn!(error = %e, "control client");
                        continue;
                    }
                    let id = self.next_id;
                    self.next_id += 1;
                    self.clients.push(Client { id, stream, buf: Vec::new(), since: Instant::now() });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a control client");
                    return;
                }
            }
        }
    }

    /// Reads from the clients; returns the complete requests. Clients that closed, sent too
    /// much, or took too long are dropped.
    pub fn read(&mut self) -> Vec<Pending> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for c in &mut self.clients {
            let mut chunk = [0u8; 1024];
            loop {
                match c.stream.read(&mut chunk) {
                    Ok(0) => {
                        // EOF: a request without its newline is still a request.
                        if c.buf.is_empty() {
                            gone.push(c.id);
                        } else {
                            out.push(Pending { client: c.id, request: parse(&c.buf) });
                        }
                        break;
                    }
                    Ok(n) => {
                        c.buf.extend_from_slice(&chunk[..n]);
                        if let Some(nl) = c.buf.iter().position(|b| *b == b'\n') {
                            out.push(Pending { client: c.id, request: parse(&c.buf[..nl]) });
                            break;
                        }
                        if c.buf.len() > MAX_REQUEST {
                            out.push(Pending { client: c.id, request: Err("request too long".into()) });
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if c.since.elapsed() > CLIENT_TIMEOUT {
                            tracing::debug!(client = c.id, "control client timed out");
                            gone.push(c.id);
                        }
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::debug!(client = c.id, error = %e, "control client");
                        gone.push(c.id);
                        break;
                    }
                }
            }
        }
        self.clients.retain(|c| !gone.contains(&c.id));
        out
    }

    /// Drops clients that took too long to send their request.
    pub fn expire(&mut self) {
        self.clients.retain(|c| c.since.elapsed() <= CLIENT_TIMEOUT);
    }

    /// Sends `reply` (one line) to `client` and closes the connection.
    pub fn reply(&mut self, client: u64, reply: &Value) {
        let Some(i) = self.clients.iter().position(|c| c.id == client) else { return };
        let c = self.clients.swap_remove(i);
        let mut line = reply.to_string();
        line.push('\n');
        let sent = c
            .stream
            .set_nonblocking(false)
            .and_then(|()| c.stream.set_write_timeout(Some(Duration::from_secs(1))))
            .and_then(|()| (&c.stream).write_all(line.as_bytes()));
        if let Err(e) = sent {
            tracing::debug!(client, error = %e, "control reply not delivered");
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn parse(line: &[u8]) -> Result<Request, String> {
    serde_json::from_slice(line).map_err(|e| format!("bad request: {e}"))
}

/// Sends `req` to the daemon at `path` and returns its answer; an answer with `"ok":false` is
/// [`DaemonError::Refused`].
pub fn request(path: &Path, req: &Request, timeout: Duration) -> Result<Value, DaemonError> {
    let unreachable = |source| DaemonError::NotReachable { path: path.to_path_buf(), source };
    let mut stream = UnixStream::connect(path).map_err(unreachable)?;
    stream.set_read_timeout(Some(timeout)).map_err(unreachable)?;
    stream.set_write_timeout(Some(timeout)).map_err(unreachable)?;
    let mut line = serde_json::to_string(req).map_err(|e| DaemonError::Protocol(e.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(unreachable)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(|e| {
        if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            DaemonError::Protocol(format!("no answer within {timeout:?}"))
        } else {
            unreachable(e)
        }
    })?;
    if answer.trim().is_empty() {
        return Err(DaemonError::Protocol("the daemon closed the connection without an answer".into()));
    }
    let v: Value = serde_json::from_str(&answer).map_err(|e| DaemonError::Protocol(format!("{e}: {answer:?}")))?;
    match v.get("ok").and_then(Value::as_bool) {
        Some(true) => Ok(v),
        Some(false) => {
            Err(DaemonError::Refused(v.get("error").and_then(Value::as_str).unwrap_or("(no reason given)").to_string()))
        }
        None => Err(DaemonError::Protocol(format!("an answer without \"ok\": {answer:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_shape() {
        let s = |r: &Request| serde_json::to_string(r).unwrap();
        assert_eq!(s(&Request::Status), r#"{"cmd":"status"}"#);
        assert_eq!(s(&Request::RekeyChild { conn: "gw".into() }), r#"{"cmd":"rekey-child","conn":"gw"}"#);
        assert_eq!(parse(br#"{"cmd":"rekey-ike","conn":"x"}"#), Ok(Request::RekeyIke { conn: "x".into() }));
        assert!(parse(br#"{"cmd":"initiate"}"#).unwrap_err().contains("conn"));
        assert!(parse(br#"{"cmd":"reboot"}"#).is_err());
        assert!(parse(b"status").is_err());
    }

    #[test]
    fn a_request_round_trips_through_the_socket() {
        let dir = std::env::temp_dir().join(format!("ikev2d-ctl-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let mut server = ControlServer::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(ControlServer::bind(&path), Err(DaemonError::AlreadyRunning(_))));
        let p = path.clone();
        let client = std::thread::spawn(move || request(&p, &Request::List, Duration::from_secs(5)));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            server.accept();
            let got = server.read();
            if let Some(r) = got.into_iter().next() {
                assert_eq!(r.request, Ok(Request::List));
                server.reply(r.client, &error_reply("no such thing"));
                break;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        let answer = client.join().unwrap();
        assert!(matches!(answer, Err(DaemonError::Refused(ref e)) if e == "no such thing"), "{answer:?}");
        drop(server);
        assert!(!path.exists(), "the socket is removed on drop");
        assert!(matches!(
            request(&path, &Request::Status, Duration::from_secs(1)),
            Err(DaemonError::NotReachable { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
